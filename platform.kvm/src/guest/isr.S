/*
 * One entry stub per vector. In 64-bit mode the CPU aligns RSP to 16 bytes and pushes SS, RSP, RFLAGS, CS, RIP
 * and, for some exceptions, an error code (Intel SDM vol. 3A, 6.14.2 "64-Bit Mode Stack Frame"; the vectors with
 * an error code are listed in 6.15 "Exception and Interrupt Reference": 8, 10-14, 17, 21, 29, 30). Each stub
 * pushes a zero error code where the CPU did not, then its vector, and jumps to the common path, which saves the
 * general registers and calls isr_dispatch(frame). 15 registers + vector + error + 5 frame words = 176 bytes, so
 * RSP is 16-byte aligned at the call as the SysV ABI wants.
 */
    .section .text
    .code64

    .macro stub vector
    .balign 16
isr_stub_\vector:
    .if (\vector == 8) || (\vector >= 10 && \vector <= 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
    .else
    pushq   $0
    .endif
    pushq   $\vector
    jmp     isr_common
    .endm

    .altmacro
    .macro stub_entry vector
    .quad   isr_stub_\vector
    .endm

isr_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    push    %rsi
    push    %rdi
    push    %rbp
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rsp, %rdi
    cld
    call    isr_dispatch
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rbp
    pop     %rdi
    pop     %rsi
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp               /* the vector and the error code */
    iretq

    .set    i, 0
    .rept   256
    stub    %i
    .set    i, i + 1
    .endr

    /* The stubs' addresses, for idt_init. */
    .section .rodata
    .balign 8
    .global isr_stub_table
isr_stub_table:
    .set    i, 0
    .rept   256
    stub_entry %i
    .set    i, i + 1
    .endr

    .section .note.GNU-stack, "", @progbits
