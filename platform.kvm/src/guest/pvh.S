/*
 * The PVH entry, so that other VMMs (QEMU's microvm, Cloud Hypervisor, Firecracker) boot the very same ELF that our
 * VMM enters in 64-bit mode at _start. Xen's "HVM direct boot ABI" (xen/include/public/arch-x86/hvm/start_info.h,
 * and docs/misc/pvh.pandoc): a loader that finds the XEN_ELFNOTE_PHYS32_ENTRY note (Xen's elfnote.h, type 18)
 * enters at that physical address in 32-bit protected mode, paging off, flat CS/DS/ES/SS, interrupts off, no stack,
 * with EBX holding the physical address of struct hvm_start_info. This stub identity-maps the first 4 GiB with
 * 2 MiB pages (as our VMM does, AMD64 APM vol. 2, 5.3 "Long-Mode Page Translation"), enters long mode (APM vol. 2,
 * 14.6 "Enabling and Activating Long Mode": PAE, CR3, EFER.LME, then CR0.PG), lets pvh.c turn the start info into
 * a boot_params zero page, and joins _start with RSI pointing at it, as our own loader would have.
 */
#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xC0000080
#define EFER_LME 0x00000100
#define PTE_PRESENT_WRITE 0x003
#define PDE_LARGE 0x080
#define XEN_ELFNOTE_PHYS32_ENTRY 18

    /* The note, 4-byte aligned as ELF notes are; its descriptor is a quad, as Linux writes it for x86_64. */
    .section .note.Xen, "a", @note
    .balign 4
    .long   2f - 1f                     /* namesz */
    .long   4f - 3f                     /* descsz */
    .long   XEN_ELFNOTE_PHYS32_ENTRY
1:  .asciz  "Xen"
2:  .balign 4
3:  .quad   pvh_start
4:  .balign 4

    .section .text.pvh, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov     %ebx, %esi                  /* struct hvm_start_info *, kept across the switch */

    /* Four page directories of 512 2 MiB pages each: PD entry i maps i << 21. */
    mov     $pvh_pd, %edi
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_PRESENT_WRITE | PDE_LARGE), %eax
    mov     %eax, (%edi, %ecx, 8)
    movl    $0, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $2048, %ecx
    jb      1b
    /* The PDPT's first four entries point at them, the PML4's first at the PDPT. */
    mov     $pvh_pdpt, %edi
    mov     $pvh_pd, %eax
    or      $PTE_PRESENT_WRITE, %eax
    xor     %ecx, %ecx
2:  mov     %eax, (%edi, %ecx, 8)
    movl    $0, 4(%edi, %ecx, 8)
    add     $4096, %eax
    inc     %ecx
    cmp     $4, %ecx
    jb      2b
    mov     $pvh_pdpt, %eax
    or      $PTE_PRESENT_WRITE, %eax
    mov     %eax, pvh_pml4
    movl    $0, pvh_pml4 + 4

    mov     %cr4, %eax
    or      $CR4_PAE, %eax
    mov     %eax, %cr4
    mov     $pvh_pml4, %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      $EFER_LME, %eax
    wrmsr
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_PE), %eax
    mov     %eax, %cr0
    lgdt    pvh_gdt_pointer
    ljmp    $0x10, $pvh_long

    .code64
pvh_long:
    mov     $0x18, %eax
    mov     %eax, %ds
    mov     %eax, %es
    mov     %eax, %ss
    mov     %eax, %fs
    mov     %eax, %gs
    mov     %esi, %edi                  /* zero-extends: the upper halves are undefined after the switch */
    lea     stack_top(%rip), %rsp
    call    pvh_boot_params             /* rax = the zero page built from the start info */
    mov     %rax, %rsi
    jmp     _start

    /* The same selectors as our VMM's boot GDT (the Linux 64-bit boot protocol's __BOOT_CS 0x10, __BOOT_DS 0x18). */
    .section .rodata
    .balign 8
pvh_gdt:
    .quad   0
    .quad   0
    .quad   0x00AF9B000000FFFF          /* 0x10: 64-bit code, DPL 0 */
    .quad   0x00CF93000000FFFF          /* 0x18: data, DPL 0 */
pvh_gdt_end:
pvh_gdt_pointer:
    .word   pvh_gdt_end - pvh_gdt - 1
    .long   pvh_gdt

    .section .bss
    .balign 4096
pvh_pml4:
    .space  4096
pvh_pdpt:
    .space  4096
pvh_pd:
    .space  4 * 4096
    .section .note.GNU-stack, "", @progbits
