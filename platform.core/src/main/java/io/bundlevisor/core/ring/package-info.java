/**
 * The ring: asynchronous IO through Linux io_uring.
 *
 * <p>A {@link io.bundlevisor.core.ring.RingService} creates {@link io.bundlevisor.core.ring.Ring}s. An IO is
 * described by a caller-owned, reusable {@link io.bundlevisor.core.ring.Sqe}, pushed together with the
 * {@link io.bundlevisor.core.ring.IoMemory} it references, and identified by a {@code long} IO id. The ring owns
 * that memory until the kernel has completed the IO, whatever the issuer does meanwhile.
 */
@Export
@Version("1.2.0")
package io.bundlevisor.core.ring;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
