/*
 * The application-processor trampoline. mp.c copies trampoline_start..trampoline_end to TRAMPOLINE_BASE and
 * fills in the data slots at its end; a STARTUP IPI with vector TRAMPOLINE_BASE >> 12 starts the AP here in real
 * mode at CS:IP = 0x0800:0000. It goes to 32-bit protected mode (Intel SDM vol. 3A, chapter "Processor
 * Management and Initialization", 9.9.1 "Switching to Protected Mode"), then to IA-32e mode with the BSP's page
 * tables (9.8.5 "Initializing IA-32e Mode": CR4.PAE, CR3, EFER.LME, CR0.PG, then a far jump to a 64-bit code
 * segment), takes
 * a stack by atomically incrementing trampoline_next, and calls trampoline_entry(index).
 * The code is linked into the guest's read-only data at some other address, so every absolute address in it is
 * written as ABS(label): where the label lands once copied.
 */
#define TRAMPOLINE_BASE 0x8000
#define ABS(label) (TRAMPOLINE_BASE + (label) - trampoline_start)

#define CR0_PE 0x00000001
#define CR0_PROTECTED (CR0_PE | 0x10 /* ET */ | 0x20 /* NE */)
#define CR0_PAGED (CR0_PROTECTED | 0x00010000 /* WP */ | 0x80000000 /* PG */)
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100

/* CODE64 and DATA are the kit's kernel selectors everywhere (start.S's boot GDT from the VMM, pvh.S, user.c), so an
 * AP runs 64-bit C code with the same CS and SS as the BSP: the IDT's gates (selector 0x10) hold on it too. */
#define CODE32 0x08
#define CODE64 0x10
#define DATA 0x18

    .section .rodata.trampoline, "a"
    .global trampoline_start, trampoline_end
    .global trampoline_cr3, trampoline_stacks, trampoline_stack_size, trampoline_entry, trampoline_next
    .global trampoline_max

    .code16
trampoline_start:
    cli
    cld
    xorw    %ax, %ax
    movw    %ax, %ds
    lgdtl   ABS(tramp_gdt_pointer)
    movl    $CR0_PROTECTED, %eax    /* also clears CD and NW, which INIT leaves set */
    movl    %eax, %cr0
    ljmpl   $CODE32, $ABS(tramp_protected)

    .code32
tramp_protected:
    movw    $DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs
    movl    %cr4, %eax
    orl     $CR4_PAE, %eax
    movl    %eax, %cr4
    movl    ABS(trampoline_cr3), %eax
    movl    %eax, %cr3
    movl    $MSR_EFER, %ecx
    rdmsr
    orl     $EFER_LME, %eax
    wrmsr
    movl    $CR0_PAGED, %eax
    movl    %eax, %cr0              /* paging on with LME: IA-32e mode, still in a 32-bit code segment */
    ljmpl   $CODE64, $ABS(tramp_long)

    .code64
tramp_long:
    movl    $1, %eax
    lock xaddl %eax, ABS(trampoline_next)
    cmpl    ABS(trampoline_max), %eax
    jae     tramp_halt              /* more APs than stacks */
    movl    %eax, %edi              /* the argument: this AP's index */
    leal    1(%rax), %eax
    imulq   ABS(trampoline_stack_size), %rax
    addq    ABS(trampoline_stacks), %rax
    movq    %rax, %rsp              /* the top of stack number index */
    xorl    %ebp, %ebp
    movq    ABS(trampoline_entry), %rax
    call    *%rax
tramp_halt:
    cli
    hlt
    jmp     tramp_halt

    .balign 8
tramp_gdt:
    .quad   0
    .quad   0x00CF9A000000FFFF      /* 0x08: 32-bit code, base 0, limit 4 GiB */
    .quad   0x00AF9A000000FFFF      /* 0x10: 64-bit code (L = 1) */
    .quad   0x00CF92000000FFFF      /* 0x18: data, base 0, limit 4 GiB */
tramp_gdt_pointer:
    .word   tramp_gdt_pointer - tramp_gdt - 1
    .long   ABS(tramp_gdt)

    /* Filled in by mp.c in the copy. */
    .balign 8
trampoline_cr3:
    .quad   0
trampoline_stacks:
    .quad   0
trampoline_stack_size:
    .quad   0
trampoline_entry:
    .quad   0
trampoline_next:
    .long   0
trampoline_max:
    .long   0
trampoline_end:

    .section .note.GNU-stack, "", @progbits
