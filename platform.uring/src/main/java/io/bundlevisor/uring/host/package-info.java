/**
 * Host file descriptors for IO through the ring: files (O_DIRECT included), eventfds and pipes, opened through
 * FFM with errno turned into {@link io.bundlevisor.uring.host.SyscallException}. Device bundles use these
 * instead of calling native code themselves.
 */
@Export
@Version("1.0.0")
package io.bundlevisor.uring.host;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
