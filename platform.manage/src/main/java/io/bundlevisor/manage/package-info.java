/**
 * Managing the platform's VMs: a {@link io.bundlevisor.manage.VmManager} creates, lists and drives them and answers
 * with data records ({@link io.bundlevisor.manage.VmSummary}, the partition API's
 * {@link io.bundlevisor.core.partition.DeviceInfo}) that the shell prints and an API or a test reuses.
 */
@Export
@Version("1.1.0")
package io.bundlevisor.manage;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
