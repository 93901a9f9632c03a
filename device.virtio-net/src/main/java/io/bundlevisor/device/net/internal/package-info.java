/**
 * The virtio network device (virtio 1.2 section 5.1) on a tap interface, private to its bundle. One job a file:
 *
 * <ul>
 * <li>{@code NetDeviceFactory}: the {@code device.type=virtio-net} whiteboard service; creates devices, lists them
 * <li>{@code NetOptions}: {@code tap=NAME[,mac=MAC][,queues=N][,mtu=N]}
 * <li>{@code NetSpec}: the section's numbers: feature bits, the header, config offsets, control classes
 * <li>{@code NetConfig}: the features offered and the config space (5.1.4): MAC, link status, pairs, MTU
 * <li>{@code NetDevice}: the {@code VirtioDevice}: routes each queue to its receive, transmit or control side
 * <li>{@code NetTx}: a transmit queue: a frame checked, then one writev from guest memory to the tap (5.1.6.2)
 * <li>{@code NetTxCheck}: what a transmit header may say (5.1.6.2.1), and why a frame is dropped
 * <li>{@code NetRx}: a receive queue: buffers held until packets come, readvs posted over them (several at once under
 * load), mergeable (5.1.6.4)
 * <li>{@code NetCtrl}: the control queue (5.1.6.5): receive modes, MAC filter and address, queue pairs
 * <li>{@code NetCounters}, {@code NetWarnings}: per-queue counters, and logging each kind of guest mistake once
 * <li>{@code NetState}: the saved state, the device's identity and what the driver set through the control queue
 * <li>{@code NetCommands}: the {@code net:list} shell command
 * </ul>
 */
package io.bundlevisor.device.net.internal;
