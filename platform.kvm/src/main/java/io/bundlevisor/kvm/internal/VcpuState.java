package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;

/**
 * The saved state of one vCPU, as the KVM_GET_* ioctls return it (the structs' bytes, kept opaque), and its blob
 * form. Blob version 1, little-endian: magic "BVCP", version, vCPU id, then the sections regs, sregs, XSAVE
 * (its length is the vCPU's KVM_CAP_XSAVE2 size), XCRs, LAPIC, the MSRs (count, then index and value pairs),
 * vCPU events, MP state.
 */
record VcpuState(int vcpuId, byte[] regs, byte[] sregs, byte[] xsave, byte[] xcrs, byte[] lapic,
        int[] msrIndices, long[] msrValues, byte[] events, int mpState) {

    static final int MAGIC = 0x5043_5642; // "BVCP" in memory order
    static final int VERSION = 1;
    /** The largest XSAVE area taken (KVM_CAP_XSAVE2 is 4 KiB, more with AMX: 11 KiB). */
    static final int XSAVE_MAX = 64 << 10;
    static final int MSRS_MAX = KvmVcpu.MSRS_MAX;

    VcpuState {
        if (msrIndices.length != msrValues.length) {
            throw new IllegalArgumentException(msrIndices.length + " MSR indices but " + msrValues.length + " values");
        }
    }

    byte[] encode() {
        VcpuStateBlob.Writer w = new VcpuStateBlob.Writer(MAGIC, VERSION).putInt(vcpuId)
                .putSection(regs).putSection(sregs).putSection(xsave).putSection(xcrs).putSection(lapic)
                .putInt(msrIndices.length);
        for (int i = 0; i < msrIndices.length; i++) {
            w.putInt(msrIndices[i]).putLong(msrValues[i]);
        }
        return w.putSection(events).putInt(mpState).toByteArray();
    }

    /** Reads a blob saved from vCPU {@code expectedId}; one-line IllegalArgumentException for anything else. */
    static VcpuState decode(byte[] blob, int expectedId) {
        VcpuStateBlob.Reader r = new VcpuStateBlob.Reader(blob, "vCPU state", MAGIC, VERSION);
        int id = r.getInt("vCPU id");
        if (id != expectedId) {
            throw new IllegalArgumentException("vCPU state blob is for vCPU " + id + ", not vCPU " + expectedId);
        }
        byte[] regs = r.section("regs", REGS_SIZE);
        byte[] sregs = r.section("sregs", SREGS_SIZE);
        byte[] xsave = r.section("xsave", XSAVE_LEGACY_SIZE, XSAVE_MAX);
        byte[] xcrs = r.section("xcrs", XCRS_SIZE);
        byte[] lapic = r.section("lapic", LAPIC_SIZE);
        int n = r.getInt("MSR count");
        if (n < 0 || n > MSRS_MAX) {
            throw new IllegalArgumentException("vCPU state blob has " + n + " MSRs, at most " + MSRS_MAX + " taken");
        }
        int[] indices = new int[n];
        long[] values = new long[n];
        for (int i = 0; i < n; i++) {
            indices[i] = r.getInt("MSR " + i);
            values[i] = r.getLong("MSR " + i);
        }
        byte[] events = r.section("vCPU events", VCPU_EVENTS_SIZE);
        int mp = r.getInt("MP state");
        if (mp < KvmVcpu.MP_STATE_RUNNABLE || mp > KvmVcpu.MP_STATE_SIPI_RECEIVED) {
            throw new IllegalArgumentException("vCPU state blob has MP state " + mp + ", not 0-4");
        }
        r.end();
        return new VcpuState(id, regs, sregs, xsave, xcrs, lapic, indices, values, events, mp);
    }
}
