/**
 * Task drivers: executors for the platform's and the devices' asynchronous work, each optionally targeted at a
 * virtual processor (VP), each able to issue io_uring IO.
 *
 * <p>The semantics follow OpenVMM's {@code vm_task}: a {@link io.bundlevisor.core.task.TaskDriverSource} hands out
 * drivers by name; a driver that names a target VP may be placed near that VP by the backend in force; a driver
 * stays usable while its VP is not ready. A partition reports its VPs' states ({@link io.bundlevisor.core.task.VpState})
 * to its own {@link io.bundlevisor.core.task.VpGroup} (since 1.1), from which its drivers are built; drivers can
 * sleep and wait for a file descriptor through their ring, without threads of their own (since 1.1).
 */
@Export
@Version("1.1.0")
package io.bundlevisor.core.task;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
