/**
 * The partition: a virtual machine and its virtual processors, with OpenVMM's partition-unit lifecycle.
 *
 * <p>A {@link io.bundlevisor.core.partition.PartitionService} creates {@link io.bundlevisor.core.partition.Partition}s
 * from a {@link io.bundlevisor.core.partition.MachineConfig}. A partition's virtual processors run while it is
 * started; a guest-caused halt ({@link io.bundlevisor.core.partition.HaltReason}) parks them and is reported once
 * until {@link io.bundlevisor.core.partition.Partition#clearHalt()}. Reset, save and restore need a stopped
 * partition. Devices claim guest port and MMIO ranges with an {@link io.bundlevisor.core.partition.IoHandler}.
 */
@Export
@Version("1.6.0")
package io.bundlevisor.core.partition;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
