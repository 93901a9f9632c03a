package io.bundlevisor.kvm.internal.partition;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A one-segment x86_64 ELF executable around raw machine code, for guests too small to deserve a C file: the
 * segment (headers and code) loads at 2 MiB and the entry is the first code byte. The machine enters it in 64-bit
 * mode with the first 4 GiB identity-mapped, so the code may touch the device windows directly.
 */
final class TinyElf {

    static final long LOAD = 0x20_0000;
    private static final int EHDR = 64;
    private static final int PHDR = 56;
    /** Where the code starts and the ELF enters: after the headers, which the one segment loads too. */
    static final long ENTRY = LOAD + EHDR + PHDR;

    private TinyElf() {
    }

    static Path write(Path file, byte[] code) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(EHDR + PHDR + code.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7F, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */});
        b.position(16);
        b.putShort((short) 2);          // e_type: ET_EXEC
        b.putShort((short) 62);         // e_machine: EM_X86_64
        b.putInt(1);                    // e_version
        b.putLong(ENTRY);               // e_entry
        b.putLong(EHDR);                // e_phoff
        b.putLong(0);                   // e_shoff
        b.putInt(0);                    // e_flags
        b.putShort((short) EHDR);       // e_ehsize
        b.putShort((short) PHDR);       // e_phentsize
        b.putShort((short) 1);          // e_phnum
        b.putShort((short) 0).putShort((short) 0).putShort((short) 0);
        b.putInt(1);                    // p_type: PT_LOAD
        b.putInt(5);                    // p_flags: R + X
        b.putLong(0);                   // p_offset
        b.putLong(LOAD).putLong(LOAD);  // p_vaddr, p_paddr
        b.putLong(b.capacity()).putLong(b.capacity()); // p_filesz, p_memsz
        b.putLong(0x1000);              // p_align
        b.put(code);
        return Files.write(file, b.array());
    }
}
