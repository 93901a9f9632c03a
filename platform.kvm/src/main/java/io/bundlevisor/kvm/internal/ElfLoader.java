package io.bundlevisor.kvm.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Loads an ELF64 x86_64 executable (a test guest, or a vmlinux) into guest RAM at its physical addresses
 * (System V ABI, "ELF-64 Object File Format" 1.5: file header and program headers). The image is untrusted:
 * every size, offset and address is checked, and a bad image gets a one-line {@link ImageException}.
 */
public final class ElfLoader {

    // ELF64 file header (Elf64_Ehdr) offsets.
    private static final long EI_CLASS = 4;
    private static final long EI_DATA = 5;
    private static final long E_TYPE = 16;
    private static final long E_MACHINE = 18;
    private static final long E_ENTRY = 24;
    private static final long E_PHOFF = 32;
    private static final long E_PHENTSIZE = 54;
    private static final long E_PHNUM = 56;
    private static final long EHDR_SIZE = 64;
    // Program header (Elf64_Phdr).
    private static final long P_TYPE = 0;
    private static final long P_FLAGS = 4;
    private static final long P_OFFSET = 8;
    private static final long P_VADDR = 16;
    private static final long P_PADDR = 24;
    private static final long P_FILESZ = 32;
    private static final long P_MEMSZ = 40;
    private static final long PHDR_SIZE = 56;

    private static final int ELFCLASS64 = 2;
    private static final int ELFDATA2LSB = 1;
    private static final int ET_EXEC = 2;
    private static final int EM_X86_64 = 62;
    private static final int PT_LOAD = 1;
    private static final int PF_X = 1;
    private static final int MAX_PHNUM = 64;
    private static final long MAX_IMAGE = 512L << 20;

    private ElfLoader() {
    }

    /** What was loaded: the physical entry point and the physical range the segments cover. */
    public record Loaded(long entry, long lowest, long highest) {
    }

    /** A kernel or guest image that cannot be loaded; the message is one line naming the file and the fault. */
    public static final class ImageException extends IOException {
        private static final long serialVersionUID = 1L;

        ImageException(Path file, String reason) {
            super("cannot load " + file + ": " + reason);
        }
    }

    public static Loaded load(Path file, MemoryMap map, MemorySegment ram) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = channel.size();
            if (size > MAX_IMAGE) {
                throw new ImageException(file, "larger than " + (MAX_IMAGE >> 20) + " MiB");
            }
            MemorySegment image = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return load(file, image, map, ram);
        }
    }

    static Loaded load(Path file, MemorySegment image, MemoryMap map, MemorySegment ram) throws ImageException {
        if (image.byteSize() < EHDR_SIZE || image.get(JAVA_INT_UNALIGNED, 0) != 0x464C457F) {
            throw new ImageException(file, "not an ELF file");
        }
        if (image.get(JAVA_BYTE, EI_CLASS) != ELFCLASS64 || image.get(JAVA_BYTE, EI_DATA) != ELFDATA2LSB) {
            throw new ImageException(file, "not a 64-bit little-endian ELF");
        }
        if (image.get(JAVA_SHORT_UNALIGNED, E_TYPE) != ET_EXEC
                || image.get(JAVA_SHORT_UNALIGNED, E_MACHINE) != EM_X86_64) {
            throw new ImageException(file, "not an x86_64 executable");
        }
        long phoff = image.get(JAVA_LONG_UNALIGNED, E_PHOFF);
        int phentsize = Short.toUnsignedInt(image.get(JAVA_SHORT_UNALIGNED, E_PHENTSIZE));
        int phnum = Short.toUnsignedInt(image.get(JAVA_SHORT_UNALIGNED, E_PHNUM));
        if (phentsize != PHDR_SIZE || phnum == 0 || phnum > MAX_PHNUM) {
            throw new ImageException(file, "bad program header table (" + phnum + " entries of " + phentsize + ")");
        }
        if (!within(phoff, PHDR_SIZE * phnum, image.byteSize())) {
            throw new ImageException(file, "program headers lie outside the file (truncated?)");
        }
        long entry = image.get(JAVA_LONG_UNALIGNED, E_ENTRY);
        long physicalEntry = -1;
        long lowest = Long.MAX_VALUE;
        long highest = 0;
        for (int i = 0; i < phnum; i++) {
            long ph = phoff + PHDR_SIZE * i;
            if (image.get(JAVA_INT_UNALIGNED, ph + P_TYPE) != PT_LOAD) {
                continue;
            }
            long offset = image.get(JAVA_LONG_UNALIGNED, ph + P_OFFSET);
            long vaddr = image.get(JAVA_LONG_UNALIGNED, ph + P_VADDR);
            long paddr = image.get(JAVA_LONG_UNALIGNED, ph + P_PADDR);
            long filesz = image.get(JAVA_LONG_UNALIGNED, ph + P_FILESZ);
            long memsz = image.get(JAVA_LONG_UNALIGNED, ph + P_MEMSZ);
            if (filesz < 0 || memsz < filesz) {
                throw new ImageException(file, "segment " + i + " has memsz below filesz");
            }
            if (!within(offset, filesz, image.byteSize())) {
                throw new ImageException(file, "segment " + i + " lies outside the file (truncated?)");
            }
            if (memsz == 0) {
                continue;
            }
            long host = map.toHostOffset(paddr, memsz);
            if (host < 0) {
                throw new ImageException(file, String.format("segment %d at 0x%x (+0x%x) is outside guest RAM", i,
                        paddr, memsz));
            }
            MemorySegment.copy(image, offset, ram, host, filesz);
            ram.asSlice(host + filesz, memsz - filesz).fill((byte) 0);
            lowest = Math.min(lowest, paddr);
            highest = Math.max(highest, paddr + memsz);
            boolean executable = (image.get(JAVA_INT_UNALIGNED, ph + P_FLAGS) & PF_X) != 0;
            if (executable && Long.compareUnsigned(entry - paddr, memsz) < 0) {
                physicalEntry = entry; // physical already: x86 vmlinux links ENTRY(phys_startup_64)
            } else if (executable && Long.compareUnsigned(entry - vaddr, memsz) < 0) {
                physicalEntry = paddr + (entry - vaddr); // a virtual entry: run its physical twin
            }
        }
        if (highest == 0) {
            throw new ImageException(file, "no loadable segment");
        }
        if (physicalEntry < 0) {
            throw new ImageException(file, String.format("entry point 0x%x is in no executable segment", entry));
        }
        return new Loaded(physicalEntry, lowest, highest);
    }

    /** Whether {@code [offset, offset + length)} lies within {@code [0, limit)}, without overflow. */
    private static boolean within(long offset, long length, long limit) {
        return offset >= 0 && length >= 0 && offset <= limit && length <= limit - offset;
    }
}
