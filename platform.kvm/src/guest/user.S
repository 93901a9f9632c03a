/*
 * user_enter(fn, arg, kernel_rsp, user_stack_top), for user_call (user.c passes this CPU's slot for the kernel stack
 * pointer and its user stack): runs fn(arg) at CPL 3 and returns its result. On a software KVM (kvm_pvm) guest
 * kernel-mode code is emulated instruction by instruction while user-mode code runs natively, so a benchmark's hot
 * loop runs here to measure the VMM rather than the host's emulator.
 *
 * In: IRETQ to the user code and stack selectors with IOPL 3 in RFLAGS (port IO allowed at CPL 3, Intel SDM vol. 1,
 * 18.5.1 "I/O Privilege Level"; kvm_pvm does not honour it and raises #GP), IF as the caller had it. Out: the user
 * side executes UD2 at user_return_point; the #UD handler (user.c) knows that address and points the interrupt frame
 * back at user_resume on the stack saved here (in *kernel_rsp), so the CPU's own IRETQ returns to CPL 0 (SDM vol.
 * 3A, 6.14 "Exception and Interrupt Handling in 64-bit Mode"). Not INT n through a DPL 3 gate, the usual way:
 * kvm_pvm answers INT n at CPL 3 with #UD, so the fault is the one way back that works on every KVM.
 */
#define USER_DS (0x20 | 3)
#define USER_CS (0x28 | 3)
#define RFLAGS_IOPL3 0x3000

    .section .text
    .code64
    .global user_enter
user_enter:                             /* rdi = fn, rsi = arg, rdx = &kernel_rsp, rcx = the user stack's top */
    push    %rbx
    push    %rbp
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    pushfq
    mov     %rsp, (%rdx)
    pushq   $USER_DS                    /* SS */
    push    %rcx                        /* RSP */
    pushfq
    orq     $RFLAGS_IOPL3, (%rsp)       /* RFLAGS */
    pushq   $USER_CS                    /* CS */
    lea     user_entry(%rip), %rax
    push    %rax                        /* RIP */
    iretq

user_entry:                             /* CPL 3 */
    mov     %rdi, %rax
    mov     %rsi, %rdi
    call    *%rax
    .global user_return_point
user_return_point:
    ud2                                 /* RAX = the result */

    .global user_exit
user_exit:                              /* rdi = the result; the user stack is abandoned */
    mov     %rdi, %rax
    jmp     user_return_point

    .global user_resume
user_resume:                            /* CPL 0 again, on the stack saved above, RAX = the result */
    popfq
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbp
    pop     %rbx
    ret

    .section .note.GNU-stack, "", @progbits
