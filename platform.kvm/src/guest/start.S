/*
 * Entry from the VMM in 64-bit mode (RSI = guest-physical address of the boot_params zero page, as in the Linux
 * 64-bit boot protocol): remember boot_params, set up a stack, run main, then halt for good.
 */
    .section .text.start, "ax"
    .global _start
_start:
    mov     %rsi, boot_params_addr(%rip)
    lea     stack_top(%rip), %rsp
    xor     %ebp, %ebp
    call    main
1:  cli
    hlt
    jmp     1b

    .section .bss
    .global boot_params_addr
    .balign 8
boot_params_addr:
    .quad   0
    .balign 16
    .space  16384
    .global stack_top
stack_top:
    .section .note.GNU-stack, "", @progbits
