package io.bundlevisor.kvm.internal.machine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.kvm.internal.IrqRoute;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.kvm.internal.acpi.AcpiTables;

import org.junit.jupiter.api.Test;

/** The device windows and lines against the rest of the machine's map. */
class DeviceWindowsTest {

    @Test
    void windowsSitInTheHoleClearOfEverything() {
        for (int i = 0; i < MachineConfig.MAX_DEVICES; i++) {
            long base = DeviceWindows.base(i);
            assertEquals(0xD000_0000L + i * 0x1000L, base);
            assertTrue(base >= MemoryMap.HOLE_START && base + DeviceWindows.SIZE <= AcpiTables.IO_APIC_ADDRESS);
            // Not RAM in any machine, the largest included.
            assertEquals(-1, MemoryMap.of(MemoryMap.MAX_RAM).toHostOffset(base, DeviceWindows.SIZE));
            assertEquals("VRT" + i, DeviceWindows.acpiName(i));
        }
        assertTrue(DeviceWindows.END <= AcpiTables.IO_APIC_ADDRESS
                && DeviceWindows.END < AcpiTables.LOCAL_APIC_ADDRESS);
        assertThrows(IllegalArgumentException.class, () -> DeviceWindows.base(MachineConfig.MAX_DEVICES));
        assertThrows(IllegalArgumentException.class, () -> DeviceWindows.gsi(-1));
    }

    @Test
    void eachLineIsRoutedToTheIoapicPinOfItsNumber() {
        List<IrqRoute> routes = IrqRoute.defaultRouting();
        for (int i = 0; i < MachineConfig.MAX_DEVICES; i++) {
            int gsi = DeviceWindows.gsi(i);
            assertEquals(16 + i, gsi);
            List<IrqRoute> mine = routes.stream().filter(r -> r.gsi() == gsi).toList();
            assertEquals(List.of(new IrqRoute.Irqchip(gsi, IrqRoute.IOAPIC, gsi)), mine,
                    "GSI " + gsi + " drives IOAPIC pin " + gsi + " and nothing else");
        }
    }

    @Test
    void theDsdtEntriesFollowTheWindows() {
        List<AcpiTables.MmioDevice> devices = Machine.acpiDevices(3);
        assertEquals(new AcpiTables.MmioDevice("VRT2", "LNRO0005", 2, 0xD000_2000L, 0x1000, 18), devices.get(2));
        assertEquals(3, devices.size());
    }

    @Test
    void aGuestWithoutAcpiIsToldOfTheWindowsOnItsCommandLine() {
        assertEquals("console=ttyS0 quiet", DeviceWindows.commandLine("console=ttyS0 quiet", 2));
        assertEquals("console=ttyS0 noacpi=off", DeviceWindows.commandLine("console=ttyS0 noacpi=off", 2));
        assertEquals("console=ttyS0 acpi=off virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17",
                DeviceWindows.commandLine("console=ttyS0 acpi=off ", 2));
        assertEquals("acpi=off", DeviceWindows.commandLine("acpi=off", 0));
    }
}
