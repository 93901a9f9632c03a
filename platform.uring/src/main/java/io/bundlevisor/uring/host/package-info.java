/**
 * Host file descriptors for IO through the ring: files and block devices (O_DIRECT, statx, OFD locks included),
 * eventfds and pipes, opened through FFM with errno turned into {@link io.bundlevisor.uring.host.SyscallException}.
 * Device bundles use these instead of calling native code themselves.
 */
@Export
@Version("1.1.0")
package io.bundlevisor.uring.host;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
