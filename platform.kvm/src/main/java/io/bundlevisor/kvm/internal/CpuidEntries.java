package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * A CPUID table on the Java side: the entries of a {@code struct kvm_cpuid2} (KVM_GET_SUPPORTED_CPUID,
 * KVM_SET_CPUID2). Mutable and not thread-safe; {@link #copy()} before changing a shared one.
 */
public final class CpuidEntries {

    /** KVM_MAX_CPUID_ENTRIES (arch/x86/include/asm/kvm_host.h): KVM_SET_CPUID2 takes no more. */
    public static final int MAX_ENTRIES = 256;

    /**
     * One {@code struct kvm_cpuid_entry2}. {@code flags} bit 0 (KVM_CPUID_FLAG_SIGNIFCANT_INDEX) says that the
     * entry applies only to its {@code index} (ECX on input); without it the index is ignored.
     */
    public record Entry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {

        public boolean indexSignificant() {
            return (flags & CPUID_FLAG_SIGNIFICANT_INDEX) != 0;
        }

        /** Whether CPUID with EAX={@code fn}, ECX={@code idx} reads this entry, as KVM matches it. */
        public boolean matches(int fn, int idx) {
            return function == fn && (!indexSignificant() || index == idx);
        }

        /** The register named {@code 'a'}, {@code 'b'}, {@code 'c'} or {@code 'd'}. */
        public int register(char register) {
            return switch (register) {
                case 'a' -> eax;
                case 'b' -> ebx;
                case 'c' -> ecx;
                case 'd' -> edx;
                default -> throw new IllegalArgumentException("CPUID register '" + register + "' is not a, b, c or d");
            };
        }

        Entry withRegisters(int a, int b, int c, int d) {
            return new Entry(function, index, flags, a, b, c, d);
        }
    }

    private final List<Entry> entries;

    public CpuidEntries() {
        this.entries = new ArrayList<>();
    }

    private CpuidEntries(List<Entry> entries) {
        this.entries = new ArrayList<>(entries);
    }

    public static CpuidEntries of(List<Entry> entries) {
        return new CpuidEntries(entries);
    }

    public int size() {
        return entries.size();
    }

    public Entry get(int i) {
        return entries.get(i);
    }

    /** The entries, in table order (a read-only view). */
    public List<Entry> entries() {
        return Collections.unmodifiableList(entries);
    }

    /** The entry CPUID({@code function}, {@code index}) reads, as KVM looks it up. */
    public Optional<Entry> find(int function, int index) {
        for (Entry e : entries) {
            if (e.matches(function, index)) {
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    /**
     * Where {@code other} reads differently from this table, for each entry of this table: one line per register
     * that differs, e.g. {@code leaf 1.0 ecx: 0xf7f81203 here, 0xf7f83203 there (set there: 13)}. Empty when
     * they agree.
     */
    public List<String> differences(CpuidEntries other) {
        List<String> out = new ArrayList<>();
        for (Entry e : entries) {
            Entry o = other.find(e.function(), e.index()).orElse(null);
            for (char r : new char[] {'a', 'b', 'c', 'd'}) {
                int mine = e.register(r);
                int theirs = o == null ? 0 : o.register(r);
                if (mine != theirs) {
                    List<String> why = new ArrayList<>();
                    if ((theirs & ~mine) != 0) {
                        why.add("set there: " + bits(theirs & ~mine));
                    }
                    if ((mine & ~theirs) != 0) {
                        why.add("cleared there: " + bits(mine & ~theirs));
                    }
                    out.add(String.format("leaf %x.%x e%cx: 0x%08x here, 0x%08x there (%s)", e.function(),
                            e.index(), r, mine, theirs, String.join("; ", why)));
                }
            }
        }
        return out;
    }

    /** The set bits of {@code mask}, "13 17 26". */
    private static String bits(int mask) {
        List<String> b = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            if ((mask & (1 << i)) != 0) {
                b.add(Integer.toString(i));
            }
        }
        return String.join(" ", b);
    }

    public CpuidEntries copy() {
        return new CpuidEntries(entries);
    }

    /**
     * Replaces the registers of the entry CPUID({@code function}, {@code index}) reads, or adds an entry. A new
     * entry takes the flags of another entry of the same function (so a new sub-leaf of an indexed leaf is
     * indexed too); failing that it is indexed when {@code index} is not 0.
     */
    public void set(int function, int index, int eax, int ebx, int ecx, int edx) {
        int flags = index == 0 ? 0 : CPUID_FLAG_SIGNIFICANT_INDEX;
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (e.matches(function, index)) {
                entries.set(i, e.withRegisters(eax, ebx, ecx, edx));
                return;
            }
            if (e.function() == function) {
                flags = e.flags();
            }
        }
        add(new Entry(function, index, flags, eax, ebx, ecx, edx));
    }

    /** Appends {@code entry}; {@link #find} returns the first match, so remove an overlapping one first. */
    public void add(Entry entry) {
        if (entries.size() >= MAX_ENTRIES) {
            throw new IllegalStateException("CPUID table is full (" + MAX_ENTRIES + " entries)");
        }
        entries.add(entry);
    }

    /** Removes every entry of {@code function}. */
    public void remove(int function) {
        entries.removeIf(e -> e.function() == function);
    }

    /** A {@code struct kvm_cpuid2} holding these entries, allocated in {@code arena}. */
    MemorySegment toNative(Arena arena) {
        if (entries.size() > MAX_ENTRIES) {
            throw new IllegalStateException("CPUID table has " + entries.size() + " entries, KVM takes at most "
                    + MAX_ENTRIES);
        }
        MemorySegment s = arena.allocate(CPUID2_ENTRIES + entries.size() * CPUID_ENTRY_SIZE, 8);
        s.set(JAVA_INT, 0, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            long at = CPUID2_ENTRIES + i * CPUID_ENTRY_SIZE;
            s.set(JAVA_INT, at + CPUID_FUNCTION, e.function());
            s.set(JAVA_INT, at + CPUID_INDEX, e.index());
            s.set(JAVA_INT, at + CPUID_FLAGS, e.flags());
            s.set(JAVA_INT, at + CPUID_EAX, e.eax());
            s.set(JAVA_INT, at + CPUID_EBX, e.ebx());
            s.set(JAVA_INT, at + CPUID_ECX, e.ecx());
            s.set(JAVA_INT, at + CPUID_EDX, e.edx());
        }
        return s;
    }

    /** The entries of the {@code struct kvm_cpuid2} at {@code s}, whose nent the kernel has set. */
    static CpuidEntries fromNative(MemorySegment s) {
        int n = s.get(JAVA_INT, 0);
        // The kernel wrote nent; bound it by the buffer all the same.
        if (n < 0 || CPUID2_ENTRIES + n * CPUID_ENTRY_SIZE > s.byteSize()) {
            throw new IllegalStateException("kvm_cpuid2.nent " + n + " exceeds its " + s.byteSize() + "-byte buffer");
        }
        List<Entry> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long at = CPUID2_ENTRIES + i * CPUID_ENTRY_SIZE;
            list.add(new Entry(s.get(JAVA_INT, at + CPUID_FUNCTION), s.get(JAVA_INT, at + CPUID_INDEX),
                    s.get(JAVA_INT, at + CPUID_FLAGS), s.get(JAVA_INT, at + CPUID_EAX),
                    s.get(JAVA_INT, at + CPUID_EBX), s.get(JAVA_INT, at + CPUID_ECX),
                    s.get(JAVA_INT, at + CPUID_EDX)));
        }
        return new CpuidEntries(list);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        for (Entry e : entries) {
            b.append(String.format("%08x.%d%s: %08x %08x %08x %08x%n", e.function(), e.index(),
                    e.indexSignificant() ? "*" : " ", e.eax(), e.ebx(), e.ecx(), e.edx()));
        }
        return b.toString();
    }
}
