package io.bundlevisor.kvm.internal.machine;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.kvm.internal.IrqRoute;
import io.bundlevisor.kvm.internal.KvmVm;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.kvm.internal.acpi.AcpiTables;

/**
 * Where a machine's declared devices live: device {@code i} (declaration order) gets the 4 KiB MMIO window at
 * {@code 0xD000_0000 + i * 0x1000} in the 32-bit hole and GSI {@code 16 + i}, an IOAPIC pin of the range PCI
 * INTx uses (16-23), level-triggered and active high. The DSDT announces each as {@code VRTi}, a virtio-mmio
 * device ({@value #HID}). The layout is checked once, at class load, against the rest of the machine's map.
 */
public final class DeviceWindows {

    /** Guest-physical base of window 0. */
    public static final long BASE = 0xD000_0000L;
    /** Bytes of one window: the virtio-mmio register block and config space fit in a page (virtio 1.x 4.2.2). */
    public static final long SIZE = 0x1000;
    /** GSI (and IOAPIC pin) of window 0. */
    public static final int FIRST_GSI = 16;
    /** The ACPI _HID Linux's virtio_mmio driver matches (drivers/virtio/virtio_mmio.c, virtio_mmio_acpi_match). */
    public static final String HID = "LNRO0005";
    /** The end of the last window any machine can have. */
    static final long END = BASE + MachineConfig.MAX_DEVICES * SIZE;

    static {
        // The windows must sit in the hole, clear of RAM, and below every fixed window above them: the KVM TSS
        // and identity-map pages, the IOAPIC and the LAPIC (MemoryMap, KvmVm, AcpiTables).
        long lowestFixed = Math.min(Math.min(KvmVm.IDENTITY_MAP_ADDRESS, KvmVm.TSS_ADDRESS),
                Math.min(AcpiTables.IO_APIC_ADDRESS, AcpiTables.LOCAL_APIC_ADDRESS));
        if (BASE < MemoryMap.HOLE_START || END > lowestFixed || END > MemoryMap.HIGH_START) {
            throw new ExceptionInInitializerError("device windows 0x" + Long.toHexString(BASE) + "-0x"
                    + Long.toHexString(END) + " leave the hole or overlap a fixed window below 0x"
                    + Long.toHexString(lowestFixed));
        }
        // IrqRoute.defaultRouting() sends GSI n to IOAPIC pin n for every pin above 2.
        if (FIRST_GSI + MachineConfig.MAX_DEVICES > IrqRoute.IOAPIC_PINS) {
            throw new ExceptionInInitializerError("device GSIs pass the IOAPIC's " + IrqRoute.IOAPIC_PINS + " pins");
        }
    }

    private DeviceWindows() {
    }

    /** Guest-physical base of window {@code index}. */
    public static long base(int index) {
        return BASE + checked(index) * SIZE;
    }

    /** GSI of window {@code index}. */
    public static int gsi(int index) {
        return FIRST_GSI + checked(index);
    }

    /** The DSDT name of window {@code index}: VRT0..VRT7. */
    public static String acpiName(int index) {
        return "VRT" + checked(index);
    }

    /**
     * The guest's command line, with one {@code virtio_mmio.device=4K@0xADDR:GSI} word per window appended when it
     * says {@code acpi=off}: such a guest does not read the DSDT, so it learns of the devices as Firecracker tells
     * its guests (drivers/virtio/virtio_mmio.c, VIRTIO_MMIO_CMDLINE_DEVICES), in declaration order, so the first
     * disk is still vda. With ACPI the DSDT alone announces them (both would probe every window twice).
     */
    public static String commandLine(String cmdline, int count) {
        if (!java.util.Arrays.asList(cmdline.trim().split("\\s+")).contains("acpi=off")) {
            return cmdline;
        }
        StringBuilder line = new StringBuilder(cmdline.strip());
        for (int i = 0; i < count; i++) {
            line.append(" virtio_mmio.device=").append(SIZE >> 10).append("K@0x").append(Long.toHexString(base(i)))
                    .append(':').append(gsi(i));
        }
        return line.toString();
    }

    private static int checked(int index) {
        if (index < 0 || index >= MachineConfig.MAX_DEVICES) {
            throw new IllegalArgumentException("device index " + index + " is outside 0-"
                    + (MachineConfig.MAX_DEVICES - 1));
        }
        return index;
    }
}
