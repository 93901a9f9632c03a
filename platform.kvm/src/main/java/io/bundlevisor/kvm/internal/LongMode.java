package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.SyscallException;

/**
 * Puts a vCPU straight into 64-bit mode, as the Linux 64-bit boot protocol and our test guests expect: identity
 * page tables (2 MiB pages) built in guest RAM, flat 64-bit code and data segments, paging and long mode on
 * (Intel SDM vol. 3, 9.8.5 "Initializing IA-32e Mode").
 */
public final class LongMode {

    /** Where the page tables go: PML4, PDPT, then one page directory per GiB mapped. */
    public static final long PML4 = 0x9000;
    private static final long PDPT = 0xA000;
    private static final long PD = 0xB000;

    private static final long PTE_PRESENT = 1;
    private static final long PTE_WRITE = 1 << 1;
    private static final long PDE_PAGE_SIZE = 1 << 7;

    private static final long CR0_PE = 1;
    private static final long CR0_MP = 1 << 1;
    private static final long CR0_ET = 1 << 4;
    private static final long CR0_NE = 1 << 5;
    private static final long CR0_WP = 1 << 16;
    private static final long CR0_PG = 1L << 31;
    private static final long CR4_PAE = 1 << 5;
    private static final long EFER_LME = 1 << 8;
    private static final long EFER_LMA = 1 << 10;

    /**
     * The boot GDT: null, null, then the flat 64-bit code and data descriptors at the selectors the Linux 64-bit
     * boot protocol requires (__BOOT_CS 0x10, __BOOT_DS 0x18; Documentation/arch/x86/boot.rst, "64-bit Boot
     * Protocol"). Below the page tables, in RAM the guest does not otherwise use before it loads its own GDT.
     */
    public static final long GDT = 0x500;
    private static final long[] GDT_ENTRIES = {
        0, 0,
        0x00AF_9B00_0000_FFFFL, // code: present, DPL 0, execute/read, accessed, L=1, G=1
        0x00CF_9300_0000_FFFFL, // data: present, DPL 0, read/write, accessed, D/B=1, G=1
    };
    /** struct kvm_dtable: u64 base, u16 limit (the layout is checked in KvmLayout.DTABLE). */
    private static final long DTABLE_BASE = 0;
    private static final long DTABLE_LIMIT = 8;
    private static final short CODE_SELECTOR = 0x10;
    private static final short DATA_SELECTOR = 0x18;

    private LongMode() {
    }

    /** Identity-maps the first {@code gib} GiB (1..4) of guest-physical memory with 2 MiB pages. */
    public static void buildPageTables(MemorySegment ram, int gib) {
        if (gib < 1 || gib > 4) {
            throw new IllegalArgumentException("identity map 1..4 GiB, got " + gib);
        }
        ram.set(JAVA_LONG, PML4, PDPT | PTE_PRESENT | PTE_WRITE);
        for (int g = 0; g < gib; g++) {
            long pd = PD + 4096L * g;
            ram.set(JAVA_LONG, PDPT + 8L * g, pd | PTE_PRESENT | PTE_WRITE);
            for (int i = 0; i < 512; i++) {
                long physical = ((long) g << 30) + ((long) i << 21);
                ram.set(JAVA_LONG, pd + 8L * i, physical | PTE_PRESENT | PTE_WRITE | PDE_PAGE_SIZE);
            }
        }
    }

    /** Writes the boot GDT at {@link #GDT}. */
    public static void writeGdt(MemorySegment ram) {
        for (int i = 0; i < GDT_ENTRIES.length; i++) {
            ram.set(JAVA_LONG, GDT + 8L * i, GDT_ENTRIES[i]);
        }
    }

    /**
     * Sets the vCPU's system registers for 64-bit mode over the page tables at {@link #PML4}, and its general
     * registers to start at {@code entry} (all others zero, RFLAGS with only its reserved bit 1).
     */
    public static void enter(KvmVcpu vcpu, long entry) throws SyscallException {
        MemorySegment s = vcpu.getSregs();
        segment(s, SREGS_CS, CODE_SELECTOR, 11 /* execute/read, accessed */, true);
        for (long seg : new long[] {SREGS_DS, SREGS_ES, SREGS_FS, SREGS_GS, SREGS_SS}) {
            segment(s, seg, DATA_SELECTOR, 3 /* read/write, accessed */, false);
        }
        s.set(JAVA_LONG, SREGS_GDT + DTABLE_BASE, GDT);
        s.set(JAVA_SHORT, SREGS_GDT + DTABLE_LIMIT, (short) (GDT_ENTRIES.length * 8 - 1));
        s.set(JAVA_LONG, SREGS_CR3, PML4);
        s.set(JAVA_LONG, SREGS_CR4, CR4_PAE);
        s.set(JAVA_LONG, SREGS_CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
        s.set(JAVA_LONG, SREGS_EFER, EFER_LME | EFER_LMA);
        vcpu.setSregs();
        MemorySegment regs = vcpu.getRegs();
        regs.fill((byte) 0);
        regs.set(JAVA_LONG, REGS_RIP, entry);
        regs.set(JAVA_LONG, REGS_RFLAGS, 0x2);
        vcpu.setRegs();
    }

    private static void segment(MemorySegment s, long at, short selector, int type, boolean code) {
        s.set(JAVA_LONG, at + SEG_BASE, 0);
        s.set(JAVA_INT, at + SEG_LIMIT, 0xFFFF_FFFF);
        s.set(JAVA_SHORT, at + SEG_SELECTOR, selector);
        s.set(JAVA_BYTE, at + SEG_TYPE, (byte) type);
        s.set(JAVA_BYTE, at + SEG_PRESENT, (byte) 1);
        s.set(JAVA_BYTE, at + SEG_DPL, (byte) 0);
        s.set(JAVA_BYTE, at + SEG_DB, (byte) (code ? 0 : 1)); // a 64-bit code segment has D=0, L=1
        s.set(JAVA_BYTE, at + SEG_S, (byte) 1);
        s.set(JAVA_BYTE, at + SEG_L, (byte) (code ? 1 : 0));
        s.set(JAVA_BYTE, at + SEG_G, (byte) 1);
    }
}
