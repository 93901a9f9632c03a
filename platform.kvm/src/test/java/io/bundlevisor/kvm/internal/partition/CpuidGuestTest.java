package io.bundlevisor.kvm.internal.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.bundlevisor.kvm.internal.CpuidEntries;
import io.bundlevisor.kvm.internal.CpuidPolicy;
import io.bundlevisor.kvm.internal.Kvm;

import org.junit.jupiter.api.Test;

/**
 * Does the CPUID table we set (KVM_SET_CPUID2) reach the guest? The cpuid guest executes CPUID in kernel mode, where
 * Linux detects its features, and prints what it sees; each line must equal the vCPU's table as KVM keeps it
 * (KVM_GET_CPUID2), bit for bit, except the OSXSAVE bit that follows CR4. Then KVM's table is compared with the one
 * we set: equal on hardware virtualization; on kvm_pvm KVM rewrites some features (measured: XSAVE, POPCNT, SMAP,
 * ... come back however we mask them), which the test prints and {@code Machine} logs once.
 */
class CpuidGuestTest {

    private static final Pattern LINE = Pattern.compile("cpuid ([0-9a-f]+)\\.([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) "
            + "([0-9a-f]+) ([0-9a-f]+)");
    /** Leaf 1 ECX bit 27: OSXSAVE, CR4.OSXSAVE as the guest set it; the CPU supplies it, not the table. */
    private static final int OSXSAVE = 1 << 27;

    @Test
    void theGuestSeesTheTableWeSet() throws Exception {
        try (GuestRun run = GuestRun.start("cpuid", 1)) {
            run.awaitOutput("cpuid: done");
            run.partition.stop(); // vCPU ioctls wait for KVM_RUN to return
            CpuidEntries table = run.partition.machine().vcpus().get(0).getCpuid();
            List<String> differences = new ArrayList<>();
            Matcher m = LINE.matcher(run.output());
            int lines = 0;
            while (m.find()) {
                lines++;
                int leaf = Integer.parseUnsignedInt(m.group(1), 16);
                int sub = Integer.parseUnsignedInt(m.group(2), 16);
                int[] seen = new int[4];
                for (int r = 0; r < 4; r++) {
                    seen[r] = Integer.parseUnsignedInt(m.group(3 + r), 16);
                }
                int[] want = table.find(leaf, sub).map(e -> new int[] {e.eax(), e.ebx(), e.ecx(), e.edx()})
                        .orElse(new int[4]);
                if (leaf == 1) {
                    want[2] = (want[2] & ~OSXSAVE) | (seen[2] & OSXSAVE);
                }
                for (int r = 0; r < 4; r++) {
                    if (seen[r] != want[r]) {
                        differences.add(String.format("leaf %x.%x e%cx: guest %08x, table %08x (differ %08x)", leaf,
                                sub, "abcd".charAt(r), seen[r], want[r], seen[r] ^ want[r]));
                    }
                }
            }
            assertEquals(9, lines, run.output());
            assertTrue(differences.isEmpty(), "the guest's CPUID is not KVM's table: " + differences);

            // And is KVM's table the one we set?
            Kvm kvm = GuestRun.kvm();
            CpuidEntries set = CpuidPolicy.forHost(kvm.host()).forVcpu(kvm.supportedCpuid(), 0, 1);
            List<String> changed = set.differences(table);
            if (kvm.host().software()) {
                // kvm_pvm rewrites the table: say what it did, so a change in the host shows in the test's output.
                System.err.println("CpuidGuestTest: " + kvm.host().describe() + "; KVM changed the table we set: "
                        + (changed.isEmpty() ? "nothing" : String.join("; ", changed)));
            } else {
                assertTrue(changed.isEmpty(), "KVM changed the CPUID table we set: " + changed);
            }
        }
    }
}
