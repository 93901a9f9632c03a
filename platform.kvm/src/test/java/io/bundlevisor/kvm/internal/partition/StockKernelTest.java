package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.kvm.internal.boot.GuestKit;

import org.junit.jupiter.api.Test;

/**
 * The stock Debian kernel of scripts/guest-kit.sh on our KVM, only as far as it takes to prove the boot protocol
 * and the ACPI tables. Under kvm_pvm (software nested virtualisation) a full boot takes many minutes, and the
 * bzImage's own decompressor alone about 100 s (it maps memory on demand through page faults, each a costly exit
 * here), so: the bzImage is run until its decompressor has read our boot_params and command line; the same
 * kernel as an ELF vmlinux, entered the same way, is run until Linux has printed the e820 map we gave and listed
 * our ACPI tables with no ACPI error (about 25 s). Full boots are for hosts with VMX/SVM.
 */
class StockKernelTest {

    private static final long MEMORY = 256L << 20;
    private static final Duration BUDGET = Duration.ofSeconds(90);
    private static final String CMDLINE = "console=ttyS0 earlyprintk=ttyS0 panic=-1 nokaslr";
    private static final List<String> TABLES = List.of("ACPI: RSDP", "ACPI: XSDT", "ACPI: FACP", "ACPI: DSDT",
            "ACPI: APIC");

    @Test
    void theBzImageDecompressorReadsOurBootParams() throws Exception {
        try (GuestRun run = boot("vmlinuz")) {
            // arch/x86/boot/compressed/kaslr.c prints this after finding "nokaslr" through boot_params.hdr.cmd_line_ptr.
            run.awaitOutput("KASLR disabled: 'nokaslr' on cmdline.", BUDGET);
            run.partition.stop();
            assertTrue(run.partition.halt().isEmpty(), run.output());
        }
    }

    @Test
    void linuxAcceptsOurBootParamsAndAcpiTables() throws Exception {
        try (GuestRun run = boot("vmlinux")) {
            long t0 = System.nanoTime();
            run.awaitOutput("Linux version", BUDGET);
            long firstLine = System.nanoTime() - t0;
            // Printed once the MADT's processors, IOAPIC and overrides are parsed (arch/x86/kernel/acpi/boot.c).
            run.awaitOutput("ACPI: Using ACPI (MADT) for SMP configuration information", BUDGET);
            run.partition.stop();
            System.err.printf("stock kernel (vmlinux): first line after %.1f s, ACPI tables listed after %.1f s%n",
                    firstLine / 1e9, (System.nanoTime() - t0) / 1e9);
            String out = run.output();
            for (String table : TABLES) {
                assertTrue(out.contains(table + " 0x"), table + " missing: " + out);
            }
            assertTrue(out.contains("BNDVSR"), "our OEM id is not in the table list: " + out);
            assertFalse(out.contains("ACPI BIOS Error"), out);
            assertFalse(out.contains("ACPI Error"), out);
            for (MemoryMap.E820 e : MemoryMap.of(MEMORY).e820()) {
                String line = String.format("BIOS-e820: [mem 0x%016x-0x%016x] %s", e.address(),
                        e.address() + e.size() - 1, e.type() == MemoryMap.E820.RAM ? "usable" : "reserved");
                assertTrue(out.contains(line), line + " missing: " + out);
            }
            assertTrue(out.contains("Command line: " + CMDLINE), out);
            assertTrue(out.contains("ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)"), out);
            assertTrue(out.contains("IOAPIC[0]: apic_id 0, version 17, address 0xfec00000, GSI 0-23"), out);
        }
    }

    private static GuestRun boot(String image) throws Exception {
        GuestRun.kvm();
        Path kernel = GuestKit.file(image);
        if (kernel == null) {
            throw new IllegalStateException("no guest kit: run scripts/guest-kit.sh (./bundlevisor test does)");
        }
        GuestRun run = GuestRun.create(new MachineConfig("stock-" + image, 2, MEMORY, kernel, Optional.empty(),
                CMDLINE, Console.none()));
        run.partition.start();
        return run;
    }
}
