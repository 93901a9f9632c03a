package io.bundlevisor.kvm.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Turns what KVM supports (KVM_GET_SUPPORTED_CPUID) into one vCPU's CPUID table: its APIC id and the topology
 * (one thread per core, {@code vcpuCount} cores in one package), the hypervisor bit and KVM's signature leaves,
 * then the bits this policy masks off. Immutable; {@link #mask} returns a new policy.
 *
 * <p>Leaf layouts: Intel SDM vol. 2A, CPUID (leaves 1, 4, 0xB, 0x1F); AMD APM vol. 3, appendix E (0x80000008,
 * 0x8000001D, 0x8000001E); the KVM leaves are Documentation/virt/kvm/x86/cpuid.rst. Each leaf is changed only
 * where {@code supported} has it, so an Intel host's table gets the Intel leaves and an AMD host's the AMD ones.
 */
public final class CpuidPolicy {

    public static final int LEAF_FEATURES = 0x1;
    public static final int LEAF_CACHE = 0x4;
    public static final int LEAF_EXTENDED_FEATURES = 0x7;
    public static final int LEAF_AMD_FEATURES = 0x8000_0001;
    public static final int LEAF_TOPOLOGY = 0xB;
    public static final int LEAF_TOPOLOGY_V2 = 0x1F;
    public static final int LEAF_AMD_SIZES = 0x8000_0008;
    public static final int LEAF_AMD_CACHE = 0x8000_001D;
    public static final int LEAF_AMD_TOPOLOGY = 0x8000_001E;
    public static final int LEAF_KVM_SIGNATURE = 0x4000_0000;
    public static final int LEAF_KVM_FEATURES = 0x4000_0001;
    /** "KVMKVMKVM\0\0\0" as EBX, ECX, EDX (little-endian). */
    static final int KVM_SIGNATURE_EBX = 0x4B4D_564B;
    static final int KVM_SIGNATURE_ECX = 0x564B_4D56;
    static final int KVM_SIGNATURE_EDX = 0x0000_004D;
    /** Leaf 1 ECX bit 31: running under a hypervisor. */
    static final int ECX_HYPERVISOR = 1 << 31;
    /** Leaf 1 EDX bit 28: EBX[23:16] (the logical processor count) is valid. */
    static final int EDX_HTT = 1 << 28;
    // Level types of leaves 0xB and 0x1F, ECX[15:8].
    private static final int LEVEL_SMT = 1;
    private static final int LEVEL_CORE = 2;

    /** Clear {@code bits} of {@code register} in CPUID({@code function}, {@code index}). */
    record Mask(int function, int index, char register, int bits) {
    }

    private static final CpuidPolicy DEFAULTS = new CpuidPolicy(List.of());

    /**
     * A feature hidden from guests on a software KVM, with why.
     *
     * @param name Linux's name for it (/proc/cpuinfo)
     */
    public record Hidden(String name, int function, int index, char register, int bit, String why) {

        /**
         * Linux's number for the feature, as {@code clearcpuid=} takes it: word * 32 + bit, with the words of
         * arch/x86/include/asm/cpufeatures.h (0: leaf 1 EDX, 1: 0x80000001 EDX, 4: leaf 1 ECX, 9: leaf 7 EBX,
         * 16: leaf 7 ECX, 18: leaf 7 EDX); -1 for a feature outside those words.
         */
        public int linuxNumber() {
            int word;
            if (function == LEAF_FEATURES && register == 'd') {
                word = 0;
            } else if (function == LEAF_AMD_FEATURES && register == 'd') {
                word = 1;
            } else if (function == LEAF_FEATURES && register == 'c') {
                word = 4;
            } else if (function == LEAF_EXTENDED_FEATURES && index == 0 && "bcd".indexOf(register) >= 0) {
                word = register == 'b' ? 9 : register == 'c' ? 16 : 18;
            } else {
                return -1; // e.g. KVM's own leaves: Linux's clearcpuid= cannot clear those
            }
            return word * 32 + bit;
        }

        /** Whether {@code table} offers the feature. */
        public boolean offeredBy(CpuidEntries table) {
            return table.find(function, index).map(e -> (e.register(register) & (1 << bit)) != 0).orElse(false);
        }
    }

    /**
     * The Linux command-line words that hide {@code features} from a Linux guest: {@code noxsave} for XSAVE,
     * {@code clearcpuid=N,...} for the rest; empty for none.
     */
    public static String linuxArguments(List<Hidden> features) {
        List<String> words = new ArrayList<>();
        if (features.stream().anyMatch(h -> h.name().equals("xsave"))) {
            words.add("noxsave");
        }
        String numbers = features.stream().filter(h -> !h.name().equals("xsave") && h.linuxNumber() >= 0)
                .map(h -> Integer.toString(h.linuxNumber())).collect(java.util.stream.Collectors.joining(","));
        if (!numbers.isEmpty()) {
            words.add("clearcpuid=" + numbers);
        }
        return String.join(" ", words);
    }

    /**
     * What a software KVM (kvm_pvm) offers in KVM_GET_SUPPORTED_CPUID but cannot run in guest kernel mode, where
     * KVM's instruction emulator executes the guest: the instruction fails to emulate (Linux then oopses or loops),
     * or the CR4 mode the feature turns on is not supported, or a hypercall never completes. Found by booting Linux
     * 6.1 on such a host. Hiding them lets an unmodified kernel fall back (FXSAVE, generic popcount, no SMAP/SMEP,
     * 4-level paging, IPIs through the LAPIC, ...). kvm_pvm sets several of the CPU's own bits again after
     * KVM_SET_CPUID2 (Machine logs which, and what Linux then needs on its command line); KVM's own leaf it keeps.
     */
    public static final List<Hidden> SOFTWARE_KVM_HIDDEN = List.of(
            new Hidden("cx16", LEAF_FEATURES, 0, 'c', 13, "lock cmpxchg16b is not emulated (SLUB uses it)"),
            new Hidden("pcid", LEAF_FEATURES, 0, 'c', 17, "process-context ids in CR3 and INVPCID"),
            new Hidden("popcnt", LEAF_FEATURES, 0, 'c', 23, "popcnt is not emulated"),
            new Hidden("xsave", LEAF_FEATURES, 0, 'c', 26, "xsave/xrstor are not emulated (the FPU switch)"),
            new Hidden("rdrand", LEAF_FEATURES, 0, 'c', 30, "rdrand is not emulated"),
            new Hidden("fsgsbase", LEAF_EXTENDED_FEATURES, 0, 'b', 0, "rd/wr{fs,gs}base are not emulated"),
            new Hidden("smep", LEAF_EXTENDED_FEATURES, 0, 'b', 7, "supervisor-mode execution prevention in CR4"),
            new Hidden("invpcid", LEAF_EXTENDED_FEATURES, 0, 'b', 10, "invpcid is not emulated"),
            new Hidden("rdseed", LEAF_EXTENDED_FEATURES, 0, 'b', 18, "rdseed is not emulated"),
            new Hidden("smap", LEAF_EXTENDED_FEATURES, 0, 'b', 20, "clac/stac are not emulated"),
            new Hidden("pku", LEAF_EXTENDED_FEATURES, 0, 'c', 3, "protection keys (CR4.PKE, rd/wrpkru)"),
            new Hidden("waitpkg", LEAF_EXTENDED_FEATURES, 0, 'c', 5, "umwait/tpause are not emulated"),
            new Hidden("la57", LEAF_EXTENDED_FEATURES, 0, 'c', 16, "5-level paging (CR4.LA57)"),
            new Hidden("rdpid", LEAF_EXTENDED_FEATURES, 0, 'c', 22, "rdpid is not emulated"),
            new Hidden("serialize", LEAF_EXTENDED_FEATURES, 0, 'd', 14, "serialize is not emulated"),
            new Hidden("rdtscp", LEAF_AMD_FEATURES, 0, 'd', 27, "rdtscp is not emulated"),
            // KVM's paravirtual features that work through hypercalls (Documentation/virt/kvm/x86/cpuid.rst and
            // hypercalls.rst): on kvm_pvm a VMCALL in guest kernel mode never completes. Linux's first IPI to
            // another vCPU (KVM_HC_SEND_IPI) spins there forever, holding a lock its boot CPU waits for: this is what
            // stopped SMP bring-up at "x86: Booting SMP configuration".
            new Hidden("kvm-pv-unhalt", LEAF_KVM_FEATURES, 0, 'a', 7, "KVM_HC_KICK_CPU hypercall"),
            new Hidden("kvm-pv-send-ipi", LEAF_KVM_FEATURES, 0, 'a', 11, "KVM_HC_SEND_IPI hypercall"),
            new Hidden("kvm-pv-sched-yield", LEAF_KVM_FEATURES, 0, 'a', 13, "KVM_HC_SCHED_YIELD hypercall"),
            new Hidden("kvm-hc-map-gpa-range", LEAF_KVM_FEATURES, 0, 'a', 16, "KVM_HC_MAP_GPA_RANGE hypercall"));

    private static final CpuidPolicy SOFTWARE_KVM = hiding(SOFTWARE_KVM_HIDDEN);

    private final List<Mask> masks;

    private CpuidPolicy(List<Mask> masks) {
        this.masks = List.copyOf(masks);
    }

    /** What KVM supports, with the topology and hypervisor leaves filled in; nothing masked. */
    public static CpuidPolicy defaults() {
        return DEFAULTS;
    }

    /** The defaults with {@link #SOFTWARE_KVM_HIDDEN} masked: for a host where {@link KvmHost#software()}. */
    public static CpuidPolicy softwareKvm() {
        return SOFTWARE_KVM;
    }

    /** The policy for this kind of host. */
    public static CpuidPolicy forHost(KvmHost host) {
        return host.software() ? SOFTWARE_KVM : DEFAULTS;
    }

    private static CpuidPolicy hiding(List<Hidden> features) {
        CpuidPolicy p = DEFAULTS;
        for (Hidden h : features) {
            p = p.mask(h.function(), h.index(), h.register(), 1 << h.bit());
        }
        return p;
    }

    /**
     * This policy, and also clear {@code bits} of {@code register} ({@code 'a'}, {@code 'b'}, {@code 'c'},
     * {@code 'd'}) in CPUID({@code function}, {@code index}). Masks apply last, after the topology.
     */
    public CpuidPolicy mask(int function, int index, char register, int bits) {
        if ("abcd".indexOf(register) < 0) {
            throw new IllegalArgumentException("CPUID register '" + register + "' is not a, b, c or d");
        }
        List<Mask> more = new ArrayList<>(masks);
        more.add(new Mask(function, index, register, bits));
        return new CpuidPolicy(more);
    }

    /**
     * The CPUID table for the vCPU with (x2)APIC id {@code apicId} of {@code vcpuCount}; {@code supported} is
     * not changed.
     */
    public CpuidEntries forVcpu(CpuidEntries supported, int apicId, int vcpuCount) {
        if (apicId < 0 || vcpuCount < 1) {
            throw new IllegalArgumentException("APIC id " + apicId + " or vCPU count " + vcpuCount + " is invalid");
        }
        CpuidEntries t = supported.copy();
        features(t, apicId, vcpuCount);
        cache(t, LEAF_CACHE, vcpuCount);
        cache(t, LEAF_AMD_CACHE, vcpuCount);
        amd(t, apicId, vcpuCount);
        topology(t, LEAF_TOPOLOGY, apicId, vcpuCount);
        topology(t, LEAF_TOPOLOGY_V2, apicId, vcpuCount);
        // KVM's signature, and the paravirtual features it offers (kvm-clock, PV EOI, ...) as it reports them.
        t.set(LEAF_KVM_SIGNATURE, 0, LEAF_KVM_FEATURES, KVM_SIGNATURE_EBX, KVM_SIGNATURE_ECX, KVM_SIGNATURE_EDX);
        Optional<CpuidEntries.Entry> kvm = supported.find(LEAF_KVM_FEATURES, 0);
        t.set(LEAF_KVM_FEATURES, 0, kvm.map(CpuidEntries.Entry::eax).orElse(0),
                kvm.map(CpuidEntries.Entry::ebx).orElse(0), kvm.map(CpuidEntries.Entry::ecx).orElse(0),
                kvm.map(CpuidEntries.Entry::edx).orElse(0));
        for (Mask m : masks) {
            t.find(m.function(), m.index()).ifPresent(e -> {
                int keep = ~m.bits();
                t.set(m.function(), m.index(),
                        m.register() == 'a' ? e.eax() & keep : e.eax(), m.register() == 'b' ? e.ebx() & keep : e.ebx(),
                        m.register() == 'c' ? e.ecx() & keep : e.ecx(), m.register() == 'd' ? e.edx() & keep : e.edx());
            });
        }
        return t;
    }

    /** Leaf 1: EBX[31:24] initial APIC id, EBX[23:16] logical processors (HTT says it is valid); hypervisor. */
    private static void features(CpuidEntries t, int apicId, int vcpuCount) {
        t.find(LEAF_FEATURES, 0).ifPresent(e -> {
            int ebx = (e.ebx() & 0x0000_FFFF) | ((apicId & 0xFF) << 24) | (Math.min(vcpuCount, 255) << 16);
            int edx = vcpuCount > 1 ? e.edx() | EDX_HTT : e.edx() & ~EDX_HTT;
            t.set(LEAF_FEATURES, 0, e.eax(), ebx, e.ecx() | ECX_HYPERVISOR, edx);
        });
    }

    /**
     * Leaf 4 (Intel) or 0x8000001D (AMD, the same EAX[25:0]), per cache: EAX[25:14] the threads sharing the
     * cache minus 1: none for the per-core L1 and L2, all cores for L3; leaf 4 also has EAX[31:26], the core ids
     * in the package minus 1 (reserved on AMD).
     */
    private static void cache(CpuidEntries t, int leaf, int vcpuCount) {
        for (CpuidEntries.Entry e : List.copyOf(t.entries())) {
            if (e.function() != leaf || (e.eax() & 0x1F) == 0) {
                continue; // type 0: no more caches
            }
            int level = (e.eax() >>> 5) & 0x7;
            int sharing = level >= 3 ? Math.min(vcpuCount - 1, 0xFFF) : 0;
            int cores = leaf == LEAF_CACHE ? Math.min(vcpuCount - 1, 63) << 26 : 0;
            int eax = (e.eax() & 0x3FFF) | (sharing << 14) | cores;
            t.set(e.function(), e.index(), eax, e.ebx(), e.ecx(), e.edx());
        }
    }

    /**
     * The AMD topology leaves: 0x80000008 ECX, the cores in the package minus 1 (NC, bits 7:0) and the APIC id
     * bits they take (bits 15:12); 0x8000001E, the extended APIC id (EAX), the core id with one thread per core
     * (EBX), node 0 of one (ECX).
     */
    private static void amd(CpuidEntries t, int apicId, int vcpuCount) {
        int coreBits = 32 - Integer.numberOfLeadingZeros(vcpuCount - 1);
        t.find(LEAF_AMD_SIZES, 0).ifPresent(e -> {
            int ecx = (e.ecx() & ~0xF0FF) | (coreBits << 12) | Math.min(vcpuCount - 1, 0xFF);
            t.set(LEAF_AMD_SIZES, 0, e.eax(), e.ebx(), ecx, e.edx());
        });
        t.find(LEAF_AMD_TOPOLOGY, 0).ifPresent(e -> t.set(LEAF_AMD_TOPOLOGY, 0, apicId, apicId & 0xFF, 0, 0));
    }

    /**
     * Leaves 0xB and 0x1F, where KVM reports them: sub-leaf 0 is the SMT level (one thread, shift 0), sub-leaf 1
     * the core level ({@code vcpuCount} cores; the shift is the APIC id bits they need), later sub-leaves are
     * invalid (type 0). EDX is the x2APIC id in each.
     */
    private static void topology(CpuidEntries t, int leaf, int apicId, int vcpuCount) {
        if (t.find(leaf, 0).isEmpty()) {
            return;
        }
        int coreBits = 32 - Integer.numberOfLeadingZeros(vcpuCount - 1); // ceil(log2(vcpuCount))
        int last = 2;
        for (CpuidEntries.Entry e : t.entries()) {
            if (e.function() == leaf) {
                last = Math.max(last, e.index());
            }
        }
        // Rebuilt as indexed sub-leaves whatever KVM's flags were, 0 to the last one it reported (at least 2).
        t.remove(leaf);
        int f = KvmLayout.CPUID_FLAG_SIGNIFICANT_INDEX;
        t.add(new CpuidEntries.Entry(leaf, 0, f, 0, 1, LEVEL_SMT << 8, apicId));
        t.add(new CpuidEntries.Entry(leaf, 1, f, coreBits, vcpuCount & 0xFFFF, (LEVEL_CORE << 8) | 1, apicId));
        for (int i = 2; i <= last && i <= 0xFF; i++) {
            t.add(new CpuidEntries.Entry(leaf, i, f, 0, 0, i, apicId));
        }
    }
}
