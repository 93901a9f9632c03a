/**
 * The virtio block device (virtio 1.x section 5.2), private to its bundle. One job a file:
 *
 * <ul>
 * <li>{@code BlkDeviceFactory}: the {@code device.type=virtio-blk} whiteboard service; creates devices, lists them
 * <li>{@code BlkOptions}: {@code PATH[,readonly][,serial=ID][,queues=N][,direct=on|off]}
 * <li>{@code BlkDisk}: the host image or block device: opened, locked, measured; buffered and O_DIRECT descriptors
 * <li>{@code BlkConfig}: limits, feature bits and the config space (5.2.4)
 * <li>{@code BlkSpec}: the section's numbers: request types, statuses, layouts
 * <li>{@code BlkDevice}: the {@code VirtioDevice}: chains in, SQEs out, statuses back
 * <li>{@code BlkRequest}, {@code BlkRefusal}: reading and checking a request chain (5.2.6), and why one is refused
 * <li>{@code BlkBackend}: the io_uring data path (readv, writev, fdatasync, fallocate)
 * <li>{@code BlkInFlight}: what each submitted chain's completion must remember
 * <li>{@code BlkCounters}, {@code BlkWarnings}: counters, and logging each guest mistake or host errno once
 * <li>{@code BlkState}: the saved state, the disk's identity
 * <li>{@code BlkCommands}: the {@code blk:list} shell command
 * </ul>
 */
package io.bundlevisor.device.blk.internal;
