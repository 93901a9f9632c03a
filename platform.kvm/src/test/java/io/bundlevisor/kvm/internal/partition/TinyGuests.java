package io.bundlevisor.kvm.internal.partition;

import java.util.HexFormat;

/**
 * Guests of a few instructions, as bytes for {@link TinyElf} (assembled with GNU as, Intel syntax, checked with
 * objdump). They run in the machine's 64-bit boot state: the first 4 GiB identity-mapped, so the device window,
 * the IOAPIC and the LAPIC are reachable by address, and power off through the FADT sleep control register (port
 * 0x600, SLP_EN | S5 << 2).
 */
final class TinyGuests {

    /**
     * Writes 0 to window 0's doorbell (offset 0x50: the ioeventfd matches, no exit), then 1 there (no match: an
     * MMIO exit to the claim), reads offset 0 through the claim, prints its low byte on COM1 and powers off.
     */
    static final byte[] DOORBELL = code(
            "48 bb 50 00 00 d0 00 00 00 00",    // mov rbx, 0xd0000050
            "c7 03 00 00 00 00",                // mov dword [rbx], 0
            "c7 03 01 00 00 00",                // mov dword [rbx], 1
            "8b 43 b0",                         // mov eax, [rbx - 0x50]
            "66 ba f8 03",                      // mov dx, 0x3f8
            "ee",                               // out dx, al
            "66 ba 00 06",                      // mov dx, 0x600
            "b0 34",                            // mov al, 0x34
            "ee",                               // out dx, al
            "f4",                               // hlt
            "eb fd");                           // jmp hlt

    /**
     * Takes window 0's interrupt as the DSDT describes it: masks the PICs and LINT0, puts an interrupt gate for
     * vector 0x40 in an IDT at 0x300000, enables the LAPIC, routes IOAPIC pin 16 to vector 0x40 (fixed, physical
     * destination 0, level-triggered, active high, unmasked), enables interrupts and prints 'r'. The handler
     * prints 'i', ends the interrupt at the LAPIC (whose EOI KVM passes to the IOAPIC, lowering a resampled line)
     * and powers off.
     */
    static final byte[] LEVEL_IRQ = code(
            // start:
            "48 c7 c4 00 00 38 00",             // mov rsp,0x380000
            "b0 ff",                            // mov al,0xff
            "e6 21",                            // out 0x21,al
            "e6 a1",                            // out 0xa1,al
            "48 8d 05 93 00 00 00",             // lea rax,[rip+0x93]
            "48 c7 c7 00 04 30 00",             // mov rdi,0x300400
            "66 89 07",                         // mov word [rdi],ax
            "8c c9",                            // mov ecx,cs
            "66 89 4f 02",                      // mov word [rdi+0x2],cx
            "66 c7 47 04 00 8e",                // mov word [rdi+0x4],0x8e00
            "48 c1 e8 10",                      // shr rax,0x10
            "66 89 47 06",                      // mov word [rdi+0x6],ax
            "48 c1 e8 10",                      // shr rax,0x10
            "89 47 08",                         // mov dword [rdi+0x8],eax
            "c7 47 0c 00 00 00 00",             // mov dword [rdi+0xc],0x0
            "48 c7 c7 00 f0 3f 00",             // mov rdi,0x3ff000
            "66 c7 07 ff 0f",                   // mov word [rdi],0xfff
            "48 c7 c0 00 00 30 00",             // mov rax,0x300000
            "48 89 47 02",                      // mov qword [rdi+0x2],rax
            "0f 01 1f",                         // lidt [rdi]
            "48 bb 00 00 e0 fe 00 00 00 00",    // mov rbx,0xfee00000
            "c7 83 50 03 00 00 00 00 01 00",    // mov dword [rbx+0x350],0x10000
            "c7 83 f0 00 00 00 ff 01 00 00",    // mov dword [rbx+0xf0],0x1ff
            "48 be 00 00 c0 fe 00 00 00 00",    // mov rsi,0xfec00000
            "c7 06 31 00 00 00",                // mov dword [rsi],0x31
            "c7 46 10 00 00 00 00",             // mov dword [rsi+0x10],0x0
            "c7 06 30 00 00 00",                // mov dword [rsi],0x30
            "c7 46 10 40 80 00 00",             // mov dword [rsi+0x10],0x8040
            "fb",                               // sti
            "66 ba f8 03",                      // mov dx,0x3f8
            "b0 72",                            // mov al,0x72
            "ee",                               // out dx,al
            // idle:
            "f4",                               // hlt
            "eb fd",                            // jmp idle
            // handler:
            "66 ba f8 03",                      // mov dx,0x3f8
            "b0 69",                            // mov al,0x69
            "ee",                               // out dx,al
            "c7 83 b0 00 00 00 00 00 00 00",    // mov dword [rbx+0xb0],0x0
            "66 ba 00 06",                      // mov dx,0x600
            "b0 34",                            // mov al,0x34
            "ee",                               // out dx,al
            "fa",                               // cli
            // dead:
            "f4",                               // hlt
            "eb fd");                           // jmp dead

    /**
     * Prints BL and CL on COM1 and powers off. From its ELF entry it first sets BL to 'x' and its LAPIC's task
     * priority (TPR, offset 0x80) to 'C', then reads the TPR into ECX (so it prints "xC"); from
     * {@link #REGISTERS_SECOND_ENTRY} it only reads the TPR, so what it prints shows the BL it was given and whether
     * the LAPIC kept state from an earlier run. (Not CR2: kvm_pvm keeps the guest's CR2 across KVM_SET_SREGS.)
     */
    static final byte[] REGISTERS = code(
            "b3 78",                            // mov bl,'x'
            "48 be 00 00 e0 fe 00 00 00 00",    // mov rsi,0xfee00000
            "c7 86 80 00 00 00 43 00 00 00",    // mov dword [rsi+0x80],'C'
            // second entry (offset 22):
            "48 be 00 00 e0 fe 00 00 00 00",    // mov rsi,0xfee00000
            "8b 8e 80 00 00 00",                // mov ecx,[rsi+0x80]
            "66 ba f8 03",                      // mov dx,0x3f8
            "88 d8",                            // mov al,bl
            "ee",                               // out dx,al
            "88 c8",                            // mov al,cl
            "ee",                               // out dx,al
            "66 ba 00 06",                      // mov dx,0x600
            "b0 34",                            // mov al,0x34
            "ee",                               // out dx,al
            "f4",                               // hlt
            "eb fd");                           // jmp hlt

    /** {@link #REGISTERS}' second entry point, as an offset from its first instruction ({@link TinyElf#ENTRY}). */
    static final int REGISTERS_SECOND_ENTRY = 22;

    /** Prints 'a', powers off, and if it runs on, prints 'b' and powers off again. */
    static final byte[] TWO_POWER_OFFS = code(
            "66 ba f8 03",                      // mov dx,0x3f8
            "b0 61",                            // mov al,'a'
            "ee",                               // out dx,al
            "66 ba 00 06",                      // mov dx,0x600
            "b0 34",                            // mov al,0x34
            "ee",                               // out dx,al
            "66 ba f8 03",                      // mov dx,0x3f8
            "b0 62",                            // mov al,'b'
            "ee",                               // out dx,al
            "66 ba 00 06",                      // mov dx,0x600
            "b0 34",                            // mov al,0x34
            "ee",                               // out dx,al
            "f4",                               // hlt
            "eb fd");                           // jmp hlt

    private TinyGuests() {
    }

    private static byte[] code(String... instructions) {
        return HexFormat.ofDelimiter(" ").parseHex(String.join(" ", instructions));
    }
}
