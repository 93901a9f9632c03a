package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The features hidden on a software KVM, their Linux numbers and the command line that hides them from Linux. */
class CpuidHiddenTest {

    private static CpuidPolicy.Hidden named(String name) {
        return CpuidPolicy.SOFTWARE_KVM_HIDDEN.stream().filter(h -> h.name().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void linuxNumbersMatchCpufeaturesH() {
        // arch/x86/include/asm/cpufeatures.h: X86_FEATURE_SMAP (9*32+20), POPCNT (4*32+23), RDTSCP (1*32+27),
        // LA57 (16*32+16), SERIALIZE (18*32+14), CX16 (4*32+13).
        assertEquals(308, named("smap").linuxNumber());
        assertEquals(151, named("popcnt").linuxNumber());
        assertEquals(59, named("rdtscp").linuxNumber());
        assertEquals(528, named("la57").linuxNumber());
        assertEquals(590, named("serialize").linuxNumber());
        assertEquals(141, named("cx16").linuxNumber());
    }

    @Test
    void xsaveIsNoxsaveAndTheRestClearcpuid() {
        assertEquals("noxsave clearcpuid=308,151", CpuidPolicy.linuxArguments(
                List.of(named("smap"), named("xsave"), named("popcnt"))));
        assertEquals("noxsave", CpuidPolicy.linuxArguments(List.of(named("xsave"))));
        assertEquals("", CpuidPolicy.linuxArguments(List.of()));
        assertEquals(-1, named("kvm-pv-send-ipi").linuxNumber());
        assertEquals("clearcpuid=308", CpuidPolicy.linuxArguments(List.of(named("kvm-pv-send-ipi"), named("smap"))));
    }

    @Test
    void theSoftwarePolicyClearsEveryHiddenBitAndOnlyThose() {
        CpuidEntries supported = CpuidEntries.of(List.of(
                new CpuidEntries.Entry(1, 0, 0, 0, 0, -1, -1),
                new CpuidEntries.Entry(7, 0, 1, 0, -1, -1, -1),
                new CpuidEntries.Entry(0x8000_0001, 0, 0, 0, 0, -1, -1),
                new CpuidEntries.Entry(0x4000_0001, 0, 0, -1, 0, 0, 0)));
        CpuidEntries soft = CpuidPolicy.softwareKvm().forVcpu(supported, 0, 1);
        CpuidEntries hard = CpuidPolicy.defaults().forVcpu(supported, 0, 1);
        for (CpuidPolicy.Hidden h : CpuidPolicy.SOFTWARE_KVM_HIDDEN) {
            assertFalse(h.offeredBy(soft), h.name());
            assertTrue(h.offeredBy(hard), h.name());
        }
        assertEquals(CpuidPolicy.SOFTWARE_KVM_HIDDEN.size(), hard.differences(soft).stream()
                .mapToInt(line -> line.substring(line.indexOf("cleared there: ")).split(" ").length - 2).sum());
    }
}
