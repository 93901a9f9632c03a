package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/** A KVM VM file descriptor: memory slots, the TSS and identity-map pages, vCPU creation. */
public final class KvmVm implements AutoCloseable {

    /** Three pages below 4 GiB for Intel's real-mode TSS, and the identity-map page after them (as QEMU). */
    public static final long TSS_ADDRESS = 0xFFFB_D000L;
    public static final long IDENTITY_MAP_ADDRESS = 0xFFFB_C000L;

    private final int fd;
    private final int vcpuMmapSize;

    KvmVm(int fd, int vcpuMmapSize) {
        this.fd = fd;
        this.vcpuMmapSize = vcpuMmapSize;
    }

    /** Sets the x86 TSS and identity-map addresses; both must lie outside guest RAM. */
    public void setSystemPages() throws SyscallException {
        Native.check("KVM_SET_TSS_ADDR", Native.ioctl(fd, KVM_SET_TSS_ADDR, TSS_ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = arena.allocateFrom(JAVA_LONG, IDENTITY_MAP_ADDRESS);
            Native.check("KVM_SET_IDENTITY_MAP_ADDR",
                    Native.ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, address.address()));
        }
    }

    /** Maps all of {@code memory} at guest-physical {@code guestAddress} as memory slot {@code slot}. */
    public void mapMemory(int slot, long guestAddress, GuestMemory memory) throws SyscallException {
        mapMemory(slot, guestAddress, memory, 0, memory.size());
    }

    /** Maps every RAM range of {@code map} (slots 0, 1, ...) from {@code memory}, which must be that big. */
    public void mapRam(MemoryMap map, GuestMemory memory) throws SyscallException {
        if (memory.size() != map.ramBytes()) {
            throw new IllegalArgumentException("guest memory is " + memory.size() + " bytes, the map wants "
                    + map.ramBytes());
        }
        int slot = 0;
        for (MemoryMap.Ram r : map.ram()) {
            mapMemory(slot++, r.guestAddress(), memory, r.memfdOffset(), r.size());
        }
    }

    /** Maps {@code [offset, offset + size)} of {@code memory} at {@code guestAddress} as slot {@code slot}. */
    public void mapMemory(int slot, long guestAddress, GuestMemory memory, long offset, long size)
            throws SyscallException {
        if (guestAddress < 0 || guestAddress % 4096 != 0 || offset % 4096 != 0 || size % 4096 != 0) {
            throw new IllegalArgumentException("guest address, offset and size must be page aligned: "
                    + guestAddress + ", " + offset + ", " + size);
        }
        if (offset < 0 || size <= 0 || offset + size > memory.size()) {
            throw new IllegalArgumentException("range " + offset + "+" + size + " is outside guest memory of "
                    + memory.size() + " bytes");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment region = arena.allocate(MEMORY_REGION);
            region.set(JAVA_INT, REGION_SLOT, slot);
            region.set(JAVA_INT, REGION_FLAGS, 0);
            region.set(JAVA_LONG, REGION_GPA, guestAddress);
            region.set(JAVA_LONG, REGION_SIZE, size);
            region.set(JAVA_LONG, REGION_HVA, memory.segment().address() + offset);
            Native.check("KVM_SET_USER_MEMORY_REGION slot " + slot,
                    Native.ioctl(fd, KVM_SET_USER_MEMORY_REGION, region.address()));
        }
    }

    /** Creates vCPU {@code id} and maps its kvm_run. */
    public KvmVcpu createVcpu(int id) throws SyscallException {
        int vcpuFd = (int) Native.check("KVM_CREATE_VCPU " + id, Native.ioctl(fd, KVM_CREATE_VCPU, id));
        try {
            return new KvmVcpu(id, vcpuFd, vcpuMmapSize);
        } catch (SyscallException | RuntimeException e) {
            Native.close(vcpuFd);
            throw e;
        }
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
