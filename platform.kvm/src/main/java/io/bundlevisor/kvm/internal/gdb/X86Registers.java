package io.bundlevisor.kvm.internal.gdb;

import static io.bundlevisor.kvm.internal.KvmVcpu.*;

/**
 * The x86-64 registers as this stub numbers them for gdb, and the target description that says so (GDB manual,
 * "Target Descriptions", "i386 Features"): feature {@code org.gnu.gdb.i386.core} (the 16 general registers in
 * gdb's amd64 order, rip, eflags, the six segment selectors, then the x87 registers, which gdb requires there),
 * {@code org.gnu.gdb.i386.sse} (xmm0-15, mxcsr), {@code org.gnu.gdb.i386.segments} (fs_base, gs_base) and our own
 * {@code io.bundlevisor.x86.system} (cr0, cr2, cr3, cr4, cr8, efer). The x87 and SSE registers are reported
 * unavailable ({@code xx}) and cannot be written: the test guests and the kernels' entry code do not use them.
 *
 * <p>Each register is a source ({@link #GENERAL}, {@link #SPECIAL} or none) and an index into the vCPU's
 * {@link io.bundlevisor.kvm.internal.KvmVcpu#generalRegisters()} or {@code specialRegisters()} array.
 */
final class X86Registers {

    static final int GENERAL = 0;
    static final int SPECIAL = 1;
    static final int UNAVAILABLE = 2;

    /** One register: its gdb name, size in bytes, source and index there. */
    record Register(String name, int bytes, int source, int index) {
    }

    // gdb's amd64 order: rbp before rsp (kvm_regs has rsp first).
    private static final int[] GPR_ORDER = {0, 1, 2, 3, 4, 5, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    private static final String[] GPR_NAMES = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9",
        "r10", "r11", "r12", "r13", "r14", "r15"};

    /** Every register, in gdb's numbering (the index is the number). */
    static final Register[] ALL = build();

    /** gdb's number of rip. */
    static final int RIP = 16;
    /** gdb's number of eflags. */
    static final int EFLAGS = 17;

    /** The total size of a {@code g} packet's data, in bytes. */
    static final int G_BYTES = java.util.Arrays.stream(ALL).mapToInt(Register::bytes).sum();

    private static Register[] build() {
        java.util.List<Register> r = new java.util.ArrayList<>();
        for (int i = 0; i < 16; i++) {
            r.add(new Register(GPR_NAMES[i], 8, GENERAL, GPR_ORDER[i]));
        }
        r.add(new Register("rip", 8, GENERAL, 16));
        r.add(new Register("eflags", 4, GENERAL, 17));
        String[] seg = {"cs", "ss", "ds", "es", "fs", "gs"};
        int[] segIndex = {SPECIAL_CS, SPECIAL_SS, SPECIAL_DS, SPECIAL_ES, SPECIAL_FS, SPECIAL_GS};
        for (int i = 0; i < seg.length; i++) {
            r.add(new Register(seg[i], 4, SPECIAL, segIndex[i]));
        }
        for (int i = 0; i < 8; i++) {
            r.add(new Register("st" + i, 10, UNAVAILABLE, -1));
        }
        for (String n : new String[] {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"}) {
            r.add(new Register(n, 4, UNAVAILABLE, -1));
        }
        for (int i = 0; i < 16; i++) {
            r.add(new Register("xmm" + i, 16, UNAVAILABLE, -1));
        }
        r.add(new Register("mxcsr", 4, UNAVAILABLE, -1));
        r.add(new Register("fs_base", 8, SPECIAL, SPECIAL_FS_BASE));
        r.add(new Register("gs_base", 8, SPECIAL, SPECIAL_GS_BASE));
        r.add(new Register("cr0", 8, SPECIAL, SPECIAL_CR0));
        r.add(new Register("cr2", 8, SPECIAL, SPECIAL_CR2));
        r.add(new Register("cr3", 8, SPECIAL, SPECIAL_CR3));
        r.add(new Register("cr4", 8, SPECIAL, SPECIAL_CR4));
        r.add(new Register("cr8", 8, SPECIAL, SPECIAL_CR8));
        r.add(new Register("efer", 8, SPECIAL, SPECIAL_EFER));
        return r.toArray(Register[]::new);
    }

    /** Register {@code n} as hex, from the vCPU's two register arrays. */
    static String hex(int n, long[] general, long[] special) {
        Register r = ALL[n];
        return switch (r.source()) {
            case GENERAL -> Hex.littleEndian(general[r.index()], r.bytes());
            case SPECIAL -> Hex.littleEndian(special[r.index()], r.bytes());
            default -> "xx".repeat(r.bytes());
        };
    }

    /** The target description gdb reads with {@code qXfer:features:read:target.xml}. */
    static final String TARGET_XML = targetXml();

    private static String targetXml() {
        StringBuilder x = new StringBuilder();
        x.append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n")
                .append("<architecture>i386:x86-64</architecture>\n");
        x.append("<feature name=\"org.gnu.gdb.i386.core\">\n")
                .append("<flags id=\"i386_eflags\" size=\"4\">")
                .append("<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>")
                .append("<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>")
                .append("<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>")
                .append("<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>")
                .append("<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>")
                .append("<field name=\"RF\" start=\"16\" end=\"16\"/><field name=\"VM\" start=\"17\" end=\"17\"/>")
                .append("<field name=\"AC\" start=\"18\" end=\"18\"/><field name=\"ID\" start=\"21\" end=\"21\"/>")
                .append("</flags>\n");
        int n = 0;
        for (; n < 24; n++) {
            Register r = ALL[n];
            String type = n == RIP ? "code_ptr" : n == 6 || n == 7 ? "data_ptr" : n == EFLAGS ? "i386_eflags"
                    : r.bytes() == 8 ? "int64" : "int32";
            reg(x, r, n, type, "general");
        }
        for (; n < 32; n++) {
            reg(x, ALL[n], n, "i387_ext", "float");
        }
        for (; n < 40; n++) {
            reg(x, ALL[n], n, "int", "float");
        }
        x.append("</feature>\n<feature name=\"org.gnu.gdb.i386.sse\">\n")
                .append("<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>")
                .append("<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>")
                .append("<union id=\"vec128\"><field name=\"v4_int32\" type=\"v4i32\"/>")
                .append("<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>\n");
        for (; n < 56; n++) {
            reg(x, ALL[n], n, "vec128", "sse");
        }
        reg(x, ALL[n], n++, "int", "vector");
        x.append("</feature>\n<feature name=\"org.gnu.gdb.i386.segments\">\n");
        reg(x, ALL[n], n++, "int", "system");
        reg(x, ALL[n], n++, "int", "system");
        x.append("</feature>\n<feature name=\"io.bundlevisor.x86.system\">\n");
        for (; n < ALL.length; n++) {
            reg(x, ALL[n], n, "int64", "system");
        }
        return x.append("</feature>\n</target>\n").toString();
    }

    private static void reg(StringBuilder x, Register r, int n, String type, String group) {
        x.append("<reg name=\"").append(r.name()).append("\" bitsize=\"").append(r.bytes() * 8)
                .append("\" type=\"").append(type).append("\" regnum=\"").append(n).append("\" group=\"")
                .append(group).append("\"/>\n");
    }

    private X86Registers() {
    }
}
