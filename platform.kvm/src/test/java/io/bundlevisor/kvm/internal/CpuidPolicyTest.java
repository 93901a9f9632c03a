package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.jupiter.api.Test;

import io.bundlevisor.kvm.internal.CpuidEntries.Entry;

/** The CPUID policy on a hand-made "supported" table: no KVM needed. */
class CpuidPolicyTest {

    private static final int INDEXED = 1;

    /** Leaves 0, 1, 4 (L1d, L1i, L2, L3, end), 0xB (two levels) and KVM's feature leaf, as KVM reports them. */
    private static CpuidEntries supported() {
        return CpuidEntries.of(List.of(
                new Entry(0, 0, 0, 0x1F, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
                new Entry(1, 0, 0, 0x000A_0655, 0x0010_0800, 0x7FFA_FBFF, 0xBFEB_FBFF),
                new Entry(4, 0, INDEXED, 0x1C00_4121, 0x01C0_003F, 0x3F, 0),
                new Entry(4, 1, INDEXED, 0x1C00_4122, 0x01C0_003F, 0x3F, 0),
                new Entry(4, 2, INDEXED, 0x1C00_4143, 0x00C0_003F, 0x3FF, 0),
                new Entry(4, 3, INDEXED, 0x1C03_C163, 0x03C0_003F, 0x3FFF, 6),
                new Entry(4, 4, INDEXED, 0, 0, 0, 0),
                new Entry(0xB, 0, INDEXED, 1, 2, 0x100, 7),
                new Entry(0xB, 1, INDEXED, 5, 16, 0x201, 7),
                new Entry(0x4000_0001, 0, 0, 0x0100_7AFB, 0, 0, 0)));
    }

    private static Entry leaf(CpuidEntries t, int function, int index) {
        return t.find(function, index).orElseThrow(() -> new AssertionError("no leaf " + Integer.toHexString(function)
                + "." + index));
    }

    @Test
    void leafOneCarriesTheApicIdTheCountAndTheHypervisorBit() {
        CpuidEntries t = CpuidPolicy.defaults().forVcpu(supported(), 3, 4);
        Entry e = leaf(t, 1, 0);
        assertEquals(3, e.ebx() >>> 24, "initial APIC id");
        assertEquals(4, (e.ebx() >>> 16) & 0xFF, "logical processors");
        assertEquals(0x0800, e.ebx() & 0xFFFF, "CLFLUSH size and brand kept");
        assertTrue((e.ecx() & (1 << 31)) != 0, "hypervisor bit");
        assertTrue((e.edx() & (1 << 28)) != 0, "HTT: the count is valid");
        assertEquals(0x000A_0655, e.eax(), "signature kept");

        Entry single = leaf(CpuidPolicy.defaults().forVcpu(supported(), 0, 1), 1, 0);
        assertEquals(0, single.edx() & (1 << 28), "one vCPU: no HTT");
    }

    @Test
    void theTopologyLeafIsOneThreadPerCore() {
        CpuidEntries t = CpuidPolicy.defaults().forVcpu(supported(), 5, 6);
        Entry smt = leaf(t, 0xB, 0);
        assertEquals(0, smt.eax() & 0x1F, "no SMT bits");
        assertEquals(1, smt.ebx() & 0xFFFF, "one thread");
        assertEquals(0x100, smt.ecx(), "level 0, type SMT");
        assertEquals(5, smt.edx(), "x2APIC id");
        Entry core = leaf(t, 0xB, 1);
        assertEquals(3, core.eax() & 0x1F, "6 cores need 3 APIC id bits");
        assertEquals(6, core.ebx() & 0xFFFF);
        assertEquals(0x201, core.ecx(), "level 1, type core");
        assertEquals(5, core.edx());
        Entry end = leaf(t, 0xB, 2);
        assertEquals(0, (end.ecx() >>> 8) & 0xFF, "level 2 is invalid: the end");
        assertEquals(0, end.ebx());
        assertTrue(t.find(0x1F, 0).isEmpty(), "0x1F is not invented where KVM lacks it");
        assertEquals(0, leaf(CpuidPolicy.defaults().forVcpu(supported(), 0, 1), 0xB, 1).eax() & 0x1F,
                "one core: no core bits");
    }

    @Test
    void cacheLeavesCountTheCores() {
        CpuidEntries t = CpuidPolicy.defaults().forVcpu(supported(), 0, 4);
        for (int i = 0; i < 4; i++) {
            Entry e = leaf(t, 4, i);
            assertEquals(3, e.eax() >>> 26, "cores - 1 in sub-leaf " + i);
            int sharing = (e.eax() >>> 14) & 0xFFF;
            assertEquals(i == 3 ? 3 : 0, sharing, "threads sharing the cache - 1, sub-leaf " + i);
            assertEquals(leaf(supported(), 4, i).eax() & 0x3FFF, e.eax() & 0x3FFF, "type, level kept");
        }
        assertEquals(0, leaf(t, 4, 4).eax(), "the terminating sub-leaf is left alone");
    }

    @Test
    void amdLeavesCountTheCoresToo() {
        CpuidEntries amd = CpuidEntries.of(List.of(
                new Entry(1, 0, 0, 0x00A1_0F11, 0x0102_0800, 0x8120_2000, 0x078B_FBFF),
                new Entry(0x8000_0008, 0, 0, 0x3030, 0x5002_0005, 0x7001, 0),
                new Entry(0x8000_001D, 0, INDEXED, 0x121, 0x01C0_003F, 0x3F, 0),
                new Entry(0x8000_001D, 3, INDEXED, 0x4163, 0x03C0_003F, 0x7FFF, 1),
                new Entry(0x8000_001E, 0, 0, 0, 0, 0, 0)));
        CpuidEntries t = CpuidPolicy.defaults().forVcpu(amd, 2, 3);
        assertEquals(0x2002, leaf(t, 0x8000_0008, 0).ecx(), "NC = 2, 2 APIC id bits for the cores");
        assertEquals(0x121, leaf(t, 0x8000_001D, 0).eax(), "L1: not shared");
        assertEquals(0x163 | (2 << 14), leaf(t, 0x8000_001D, 3).eax(), "L3: shared by the 3 cores");
        assertEquals(new Entry(0x8000_001E, 0, 0, 2, 2, 0, 0), leaf(t, 0x8000_001E, 0));
        assertTrue(t.find(4, 0).isEmpty() && t.find(0xB, 0).isEmpty(), "no Intel leaves are invented");
    }

    @Test
    void kvmSignatureAndFeaturesLeaves() {
        CpuidEntries t = CpuidPolicy.defaults().forVcpu(supported(), 0, 1);
        Entry sig = leaf(t, 0x4000_0000, 0);
        assertEquals(0x4000_0001, sig.eax(), "max hypervisor leaf");
        ByteBuffer b = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(sig.ebx()).putInt(sig.ecx()).putInt(sig.edx());
        assertEquals("KVMKVMKVM\0\0\0", new String(b.array(), StandardCharsets.US_ASCII));
        assertEquals(0x0100_7AFB, leaf(t, 0x4000_0001, 0).eax(), "KVM's features as supported reports them");
    }

    @Test
    void masksApplyLastAndLeaveTheInputAlone() {
        CpuidEntries in = supported();
        CpuidPolicy policy = CpuidPolicy.defaults().mask(1, 0, 'c', 1 << 31).mask(0x4000_0001, 0, 'a', 0xFF)
                .mask(0x7, 0, 'b', -1); // an absent leaf: nothing to mask
        CpuidEntries t = policy.forVcpu(in, 0, 2);
        assertEquals(0, leaf(t, 1, 0).ecx() & (1 << 31), "a mask wins over the hypervisor bit");
        assertEquals(0x0100_7A00, leaf(t, 0x4000_0001, 0).eax());
        assertTrue(t.find(7, 0).isEmpty());
        assertEquals(supported().entries(), in.entries(), "supported is not changed");
        assertTrue((leaf(CpuidPolicy.defaults().forVcpu(in, 0, 2), 1, 0).ecx() & (1 << 31)) != 0,
                "defaults() is not changed by mask()");
        assertThrows(IllegalArgumentException.class, () -> CpuidPolicy.defaults().mask(1, 0, 'x', 1));
        assertThrows(IllegalArgumentException.class, () -> CpuidPolicy.defaults().forVcpu(in, -1, 1));
        assertThrows(IllegalArgumentException.class, () -> CpuidPolicy.defaults().forVcpu(in, 0, 0));
    }

    @Test
    void entriesSetReplacesOrAddsAndFindIgnoresAnInsignificantIndex() {
        CpuidEntries t = supported();
        int n = t.size();
        t.set(1, 5, 1, 2, 3, 4); // leaf 1 is not indexed: index 5 reads (and replaces) it
        assertEquals(n, t.size());
        assertEquals(new Entry(1, 0, 0, 1, 2, 3, 4), leaf(t, 1, 7));
        t.set(0xB, 2, 0, 0, 2, 7); // a new sub-leaf of an indexed leaf is indexed
        assertEquals(n + 1, t.size());
        assertTrue(leaf(t, 0xB, 2).indexSignificant());
        assertTrue(t.find(0xB, 3).isEmpty());
        CpuidEntries c = t.copy();
        c.set(0, 0, 0, 0, 0, 0);
        assertEquals(0x1F, leaf(t, 0, 0).eax(), "a copy is independent");
        assertEquals(0x7FFA_FBFF, leaf(supported(), 1, 0).register('c'));
    }
}
