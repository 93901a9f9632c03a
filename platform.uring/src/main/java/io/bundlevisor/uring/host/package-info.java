/**
 * Host file descriptors for IO through the ring: files and block devices (O_DIRECT, statx, OFD locks included),
 * eventfds and pipes, opened through FFM with errno turned into {@link io.bundlevisor.uring.host.SyscallException}.
 * Device bundles use these instead of calling native code themselves.
 *
 * <p>Since 1.2.0, what a vhost-user backend needs: {@link io.bundlevisor.uring.host.UnixSocket} (AF_UNIX stream
 * sockets passing descriptors with SCM_RIGHTS), {@link io.bundlevisor.uring.host.MappedRegion} (shared mappings of
 * received memory descriptors, checked against the file size before mapping),
 * {@link io.bundlevisor.uring.host.MemFd} (memfd_create for in-process frontends and tests) and
 * {@link io.bundlevisor.uring.host.EventFd#adopt} (taking over a received eventfd after checking what it is).
 *
 * <p>Since 1.3.0, {@link io.bundlevisor.uring.host.Tap}: a tap interface with a virtio-net header, one descriptor a
 * queue pair, for network devices.
 */
@Export
@Version("2.0.0")
package io.bundlevisor.uring.host;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
