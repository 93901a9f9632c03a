package io.bundlevisor.kvm.internal.gdb;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import io.bundlevisor.kvm.internal.KvmVcpu;

/**
 * A debug target without KVM: {@code vps} VPs with register arrays, 64 KiB of RAM identity-mapped at linear
 * 0x1000_0000 (so linear and guest-physical differ), nothing else mapped.
 */
final class FakeTarget implements DebugTarget {

    static final long BASE = 0x1000_0000L;
    static final int RAM = 64 << 10;

    final MemorySegment ram = Arena.ofAuto().allocate(RAM);
    final long[][] general;
    final long[][] special;
    final int[] control;
    final long[][] debugRegisters;
    final List<Integer> resumed = new ArrayList<>();
    int stops;
    boolean killed;
    boolean watchpoints = true;

    FakeTarget(int vps) {
        general = new long[vps][KvmVcpu.GENERAL_REGISTERS];
        special = new long[vps][KvmVcpu.SPECIAL_REGISTERS];
        control = new int[vps];
        debugRegisters = new long[vps][];
        for (int i = 0; i < vps; i++) {
            general[i][16] = 0x20_0000 + i;
            special[i][KvmVcpu.SPECIAL_CS] = 0x10;
            special[i][KvmVcpu.SPECIAL_CR3] = 0x9000;
        }
    }

    @Override
    public int vpCount() {
        return general.length;
    }

    @Override
    public synchronized void stopAll() {
        stops++;
    }

    @Override
    public synchronized void resume(int onlyVp) {
        resumed.add(onlyVp);
    }

    @Override
    public void setGuestDebug(int vp, int c, long[] dr) {
        control[vp] = c;
        debugRegisters[vp] = dr.clone();
    }

    @Override
    public long[] generalRegisters(int vp) {
        return general[vp].clone();
    }

    @Override
    public void setGeneralRegisters(int vp, long[] values) {
        general[vp] = values.clone();
    }

    @Override
    public long[] specialRegisters(int vp) {
        return special[vp].clone();
    }

    @Override
    public void setSegmentBases(int vp, long fsBase, long gsBase) {
        special[vp][KvmVcpu.SPECIAL_FS_BASE] = fsBase;
        special[vp][KvmVcpu.SPECIAL_GS_BASE] = gsBase;
    }

    @Override
    public long translate(int vp, long address) {
        return address >= BASE && address < BASE + RAM ? address - BASE : address == 0x4000_0000L ? 0xFEE0_0000L : -1;
    }

    @Override
    public MemorySegment ram(long gpa, int length) {
        return gpa >= 0 && length >= 0 && gpa + length <= RAM ? ram.asSlice(gpa, length) : null;
    }

    @Override
    public boolean dataWatchpoints() {
        return watchpoints;
    }

    @Override
    public void kill() {
        killed = true;
    }
}
