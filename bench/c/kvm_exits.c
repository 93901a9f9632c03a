/*
 * The limit for bench/compare.sh's exit round trips: the least a VMM can do per exit, in C over the same KVM ioctls
 * (Documentation/virt/kvm/api.rst). It loads the exits test guest's ELF segments (platform.kvm/src/guest/exits.c),
 * enters it in 64-bit mode as our VMM does (identity page tables for the first 4 GiB, a flat GDT, RSI = a boot_params
 * zero page holding the command line), and runs KVM_RUN in a loop: COM1's data port goes to stdout, its line status
 * reads "transmitter empty", every other port or MMIO access is dropped (reads as 0), exactly what the two VMMs do
 * with the unclaimed port and address the guest loops on. Like both VMMs it has the in-kernel irqchip and PIT. It
 * stops at the guest's EXITS-DONE line.
 *
 *   kvm_exits GUEST.elf 'exits.n=100000 exits.cpl=0'
 */
#include <elf.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_SIZE (64ul << 20)
#define GDT 0x500
#define ZERO_PAGE 0x7000
#define CMDLINE 0x20000
#define PML4 0x9000
#define PDPT 0xA000
#define PD 0xB000 /* four page directories, one per GiB */
#define COM1 0x3F8

static void die(const char *what) {
    fprintf(stderr, "kvm_exits: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int ioctl_or_die(int fd, unsigned long request, void *arg, const char *what) {
    int r = ioctl(fd, request, arg);
    if (r < 0) {
        die(what);
    }
    return r;
}

static uint64_t load_elf(const char *path, uint8_t *ram) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        die(path);
    }
    uint8_t *image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (image == MAP_FAILED) {
        die("mmap the guest");
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
        fprintf(stderr, "kvm_exits: %s is not an ELF64 file\n", path);
        exit(1);
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > (uint64_t)st.st_size ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size - eh->e_phoff) {
        fprintf(stderr, "kvm_exits: %s: bad program header table\n", path);
        exit(1);
    }
    for (int i = 0; i < eh->e_phnum; i++) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(image + eh->e_phoff + (size_t)i * eh->e_phentsize);
        if (ph->p_type != PT_LOAD) {
            continue;
        }
        if (ph->p_paddr > RAM_SIZE || ph->p_memsz > RAM_SIZE - ph->p_paddr || ph->p_filesz > ph->p_memsz ||
            ph->p_offset > (uint64_t)st.st_size || ph->p_filesz > (uint64_t)st.st_size - ph->p_offset) {
            fprintf(stderr, "kvm_exits: segment %d does not fit\n", i);
            exit(1);
        }
        memcpy(ram + ph->p_paddr, image + ph->p_offset, ph->p_filesz);
        memset(ram + ph->p_paddr + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
    }
    return eh->e_entry;
}

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int code) {
    *s = (struct kvm_segment){.base = 0, .limit = 0xFFFFFFFF, .selector = selector, .type = type, .present = 1,
                              .dpl = 0, .db = !code, .s = 1, .l = code, .g = 1};
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: kvm_exits GUEST.elf CMDLINE\n");
        return 2;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        die("/dev/kvm");
    }
    int vm = ioctl_or_die(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        die("mmap guest RAM");
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram};
    ioctl_or_die(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    (void)ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul); /* Intel's real-mode TSS; refused elsewhere, harmless */
    /* The in-kernel LAPIC, IOAPIC, PIC and PIT both VMMs create: KVM_RUN does more on each entry with them (pending
     * interrupts, timers), and the limit should pay what a real VMM pays. */
    ioctl_or_die(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    ioctl_or_die(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");

    uint64_t entry = load_elf(argv[1], ram);
    uint64_t *pml4 = (uint64_t *)(ram + PML4), *pdpt = (uint64_t *)(ram + PDPT), *pd = (uint64_t *)(ram + PD);
    pml4[0] = PDPT | 3;
    for (uint64_t g = 0; g < 4; g++) {
        pdpt[g] = (PD + 4096 * g) | 3;
    }
    for (uint64_t i = 0; i < 4 * 512; i++) {
        pd[i] = i << 21 | 0x83;
    }
    uint64_t *gdt = (uint64_t *)(ram + GDT);
    gdt[2] = 0x00AF9B000000FFFFull;
    gdt[3] = 0x00CF93000000FFFFull;
    strncpy((char *)ram + CMDLINE, argv[2], 4095);
    uint32_t cmdline = CMDLINE;
    memcpy(ram + ZERO_PAGE + 0x228, &cmdline, 4); /* boot_params.hdr.cmd_line_ptr */

    int vcpu = ioctl_or_die(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
    int run_size = ioctl_or_die(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) {
        die("mmap kvm_run");
    }
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + 256 * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = 256;
    ioctl_or_die(kvm, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
    ioctl_or_die(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");

    /* A VMM must be able to stop a vCPU inside KVM_RUN: both block a kick signal in the vCPU thread and have KVM
     * unblock it only while the guest runs (KVM_SET_SIGNAL_MASK), which costs two signal-mask switches in the
     * kernel per entry. The limit pays them too. */
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &kick, NULL) != 0) {
        die("pthread_sigmask");
    }
    sigset_t during_run;
    pthread_sigmask(SIG_BLOCK, NULL, &during_run);
    sigdelset(&during_run, SIGUSR1);
    struct kvm_signal_mask *mask = calloc(1, sizeof *mask + 8);
    mask->len = 8; /* the kernel's sigset_t */
    memcpy(mask->sigset, &during_run, 8);
    ioctl_or_die(vcpu, KVM_SET_SIGNAL_MASK, mask, "KVM_SET_SIGNAL_MASK");

    struct kvm_sregs sregs;
    ioctl_or_die(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    set_segment(&sregs.cs, 0x10, 11, 1);
    set_segment(&sregs.ds, 0x18, 3, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = GDT;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.cr3 = PML4;
    sregs.cr4 = 0x20;                                          /* PAE */
    sregs.cr0 = 0x80000001 | 0x2 | 0x10 | 0x20 | 0x10000;      /* PG PE MP ET NE WP */
    sregs.efer = 0x500;                                        /* LME LMA */
    ioctl_or_die(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = entry, .rsi = ZERO_PAGE, .rflags = 2};
    ioctl_or_die(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

    char line[256];
    size_t len = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == COM1) {
                char c = (char)data[0];
                if (len < sizeof line - 1) {
                    line[len++] = c;
                }
                if (c == '\n') {
                    fwrite(line, 1, len, stdout);
                    fflush(stdout);
                    line[len] = '\0';
                    if (strncmp(line, "EXITS-DONE", 10) == 0) {
                        return 0;
                    }
                    len = 0;
                }
            } else if (run->io.direction == KVM_EXIT_IO_IN) {
                memset(data, run->io.port == COM1 + 5 ? 0x60 : 0, (size_t)run->io.size * run->io.count);
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write) {
                memset(run->mmio.data, 0, sizeof run->mmio.data);
            }
            break;
        case KVM_EXIT_HLT:
            return 0;
        default:
            fprintf(stderr, "kvm_exits: exit reason %u\n", run->exit_reason);
            return 1;
        }
    }
}
