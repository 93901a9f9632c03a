/* Entry from the VMM in 64-bit mode: set up a stack, run main, then halt for good. */
    .section .text.start, "ax"
    .global _start
_start:
    lea     stack_top(%rip), %rsp
    xor     %ebp, %ebp
    call    main
1:  cli
    hlt
    jmp     1b

    .section .bss
    .balign 16
    .space  16384
stack_top:
    .section .note.GNU-stack, "", @progbits
