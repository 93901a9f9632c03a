package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.OptionalLong;

import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * A KVM VM file descriptor: memory slots, the TSS and identity-map pages, the in-kernel irqchip and PIT,
 * interrupts (lines, MSIs, irqfds, the GSI routing table), ioeventfds, vCPU creation, and the VM-wide saved state.
 * The interrupt methods may be called from any thread.
 */
public final class KvmVm implements AutoCloseable {

    /** Magic ("BVVM") and version of the {@link #saveState()} blob. */
    static final int STATE_MAGIC = 0x4D56_5642;
    static final int STATE_VERSION = 1;
    /** KVM_IRQCHIP_PIC_MASTER, PIC_SLAVE, IOAPIC: the chips of KVM_GET_IRQCHIP, in blob order. */
    private static final int CHIPS = 3;

    /** Three pages below 4 GiB for Intel's real-mode TSS, and the identity-map page after them (as QEMU). */
    public static final long TSS_ADDRESS = 0xFFFB_D000L;
    public static final long IDENTITY_MAP_ADDRESS = 0xFFFB_C000L;

    private final int fd;
    private final int vcpuMmapSize;
    private final Arena arena = Arena.ofShared();
    /** kvm_irq_level for {@link #irqLine}, guarded by itself. */
    private final MemorySegment irqLevel = arena.allocate(IRQ_LEVEL);
    /** kvm_msi for {@link #signalMsi}, guarded by itself. */
    private final MemorySegment msi = arena.allocate(MSI);
    private volatile boolean vcpusCreated;

    KvmVm(int fd, int vcpuMmapSize) {
        this.fd = fd;
        this.vcpuMmapSize = vcpuMmapSize;
    }

    /** KVM_CHECK_EXTENSION on this VM (some answers, like KVM_CAP_XSAVE2's size, are per VM). */
    public int checkExtension(int cap) throws SyscallException {
        return (int) Native.check("KVM_CHECK_EXTENSION " + cap + " on the VM",
                Native.ioctl(fd, KVM_CHECK_EXTENSION, cap));
    }

    // ---- in-kernel irqchip and PIT ----

    /**
     * KVM_CREATE_IRQCHIP: the in-kernel PIC pair, IOAPIC and a LAPIC per vCPU, with the kernel's default GSI
     * routing. Before any vCPU is created.
     */
    public void createIrqchip() throws SyscallException {
        requireNoVcpus("KVM_CREATE_IRQCHIP");
        Native.check("KVM_CREATE_IRQCHIP", Native.ioctl(fd, KVM_CREATE_IRQCHIP, 0));
    }

    /**
     * KVM_CREATE_PIT2 (flags 0: the kernel does not claim port 0x61, the speaker port, which userspace serves).
     * After {@link #createIrqchip()} (the PIT raises GSI 0 through it), before any vCPU is created.
     */
    public void createPit() throws SyscallException {
        requireNoVcpus("KVM_CREATE_PIT2");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment config = a.allocate(PIT_CONFIG); // zeroed: flags 0
            Native.check("KVM_CREATE_PIT2", Native.ioctl(fd, KVM_CREATE_PIT2, config.address()));
        }
    }

    private void requireNoVcpus(String what) {
        if (vcpusCreated) {
            throw new IllegalStateException(what + " must come before the first vCPU is created");
        }
    }

    // ---- interrupts ----

    /**
     * KVM_IRQ_LINE: drives GSI {@code gsi} high or low through the routing table. Callers serialize on a small
     * buffer here; a device that interrupts often should use an irqfd.
     */
    public void irqLine(int gsi, boolean level) throws SyscallException {
        synchronized (irqLevel) {
            irqLevel.set(JAVA_INT, IRQ_LEVEL_IRQ, gsi);
            irqLevel.set(JAVA_INT, IRQ_LEVEL_LEVEL, level ? 1 : 0);
            int r = Native.ioctl(fd, KVM_IRQ_LINE, irqLevel.address());
            if (r < 0) { // the name is built only on failure: this is a device's hot path
                throw new SyscallException("KVM_IRQ_LINE gsi " + gsi, -r);
            }
        }
    }

    /**
     * KVM_SIGNAL_MSI: injects the MSI "write {@code data} to {@code address}". True when a LAPIC took it; false
     * when the guest blocked it (0) or no LAPIC matched the destination: for that the kernel returns -1, which
     * reads as EPERM (arch/x86/kvm/lapic.c, kvm_irq_delivery_to_apic).
     */
    public boolean signalMsi(long address, int data) throws SyscallException {
        synchronized (msi) {
            msi.set(JAVA_INT, MSI_ADDRESS_LO, (int) address);
            msi.set(JAVA_INT, MSI_ADDRESS_HI, (int) (address >>> 32));
            msi.set(JAVA_INT, MSI_DATA, data);
            int r = Native.ioctl(fd, KVM_SIGNAL_MSI, msi.address());
            if (r == -1 /* -EPERM: no destination */) {
                return false;
            }
            return Native.check("KVM_SIGNAL_MSI", r) > 0;
        }
    }

    /** KVM_IRQFD: a signal on {@code eventFd} raises GSI {@code gsi} (edge: an MSI route, or a pulse). */
    public void registerIrqfd(int gsi, int eventFd) throws SyscallException {
        irqfd(gsi, eventFd, 0, 0);
    }

    /**
     * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE: a signal on {@code eventFd} raises GSI {@code gsi} as a level that
     * stays high until the guest ends the interrupt (EOI); then KVM lowers it and signals {@code resampleFd}, so
     * the device can raise it again while its interrupt status is still set (include/uapi/linux/kvm.h, struct
     * kvm_irqfd; Documentation/virt/kvm/api.rst, 4.75). Needs an irqchip route for the GSI (IOAPIC or PIC) and
     * {@link #hasIrqfdResample()}. Unregister with {@link #unregisterIrqfd}.
     */
    public void registerIrqfdResample(int gsi, int eventFd, int resampleFd) throws SyscallException {
        irqfd(gsi, eventFd, IRQFD_FLAG_RESAMPLE, resampleFd);
    }

    /** Whether this VM takes level-triggered irqfds: KVM_CAP_IRQFD_RESAMPLE (82). */
    public boolean hasIrqfdResample() throws SyscallException {
        return checkExtension(CAP_IRQFD_RESAMPLE) > 0;
    }

    /**
     * KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN. The kernel does not report a pair that was not registered (it
     * returns 0), only a bad file descriptor.
     */
    public void unregisterIrqfd(int gsi, int eventFd) throws SyscallException {
        irqfd(gsi, eventFd, IRQFD_FLAG_DEASSIGN, 0);
    }

    private void irqfd(int gsi, int eventFd, int flags, int resampleFd) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(IRQFD);
            s.set(JAVA_INT, IRQFD_FD, eventFd);
            s.set(JAVA_INT, IRQFD_GSI, gsi);
            s.set(JAVA_INT, IRQFD_FLAGS, flags);
            s.set(JAVA_INT, IRQFD_RESAMPLEFD, resampleFd);
            int r = Native.ioctl(fd, KVM_IRQFD, s.address());
            if (r < 0) {
                String op = (flags & IRQFD_FLAG_DEASSIGN) != 0 ? "KVM_IRQFD deassign gsi "
                        : (flags & IRQFD_FLAG_RESAMPLE) != 0 ? "KVM_IRQFD resample gsi " : "KVM_IRQFD gsi ";
                throw new SyscallException(op + gsi + " fd " + eventFd, -r);
            }
        }
    }

    /**
     * KVM_IOEVENTFD: a guest write of {@code length} bytes (1, 2, 4, 8; 0 for any length, MMIO only and without
     * a data match) to {@code address} (a port when {@code pio}), with value {@code dataMatch} if given, signals
     * {@code eventFd} in the kernel instead of exiting to userspace.
     */
    public void registerIoeventfd(long address, int length, boolean pio, OptionalLong dataMatch, int eventFd)
            throws SyscallException {
        ioeventfd(address, length, pio, dataMatch, eventFd, 0);
    }

    /** KVM_IOEVENTFD with KVM_IOEVENTFD_FLAG_DEASSIGN; the same arguments as the registration. ENOENT if none. */
    public void unregisterIoeventfd(long address, int length, boolean pio, OptionalLong dataMatch, int eventFd)
            throws SyscallException {
        ioeventfd(address, length, pio, dataMatch, eventFd, IOEVENTFD_FLAG_DEASSIGN);
    }

    private void ioeventfd(long address, int length, boolean pio, OptionalLong dataMatch, int eventFd, int flags)
            throws SyscallException {
        if (length != 0 && length != 1 && length != 2 && length != 4 && length != 8) {
            throw new IllegalArgumentException("ioeventfd length " + length + " is not 0, 1, 2, 4 or 8");
        }
        if (length == 0 && (pio || dataMatch.isPresent())) {
            throw new IllegalArgumentException("a length-0 ioeventfd is MMIO only and matches no data");
        }
        if (pio && (address < 0 || address + length > 0x10000)) {
            throw new IllegalArgumentException("port 0x" + Long.toHexString(address) + " is outside the port space");
        }
        if (dataMatch.isPresent()) {
            flags |= IOEVENTFD_FLAG_DATAMATCH;
        }
        if (pio) {
            flags |= IOEVENTFD_FLAG_PIO;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(IOEVENTFD);
            s.set(JAVA_LONG, IOEVENTFD_DATAMATCH, dataMatch.orElse(0));
            s.set(JAVA_LONG, IOEVENTFD_ADDR, address);
            s.set(JAVA_INT, IOEVENTFD_LEN, length);
            s.set(JAVA_INT, IOEVENTFD_FD, eventFd);
            s.set(JAVA_INT, IOEVENTFD_FLAGS, flags);
            String op = (flags & IOEVENTFD_FLAG_DEASSIGN) == 0 ? "KVM_IOEVENTFD " : "KVM_IOEVENTFD deassign ";
            Native.check(op + (pio ? "port 0x" : "mmio 0x") + Long.toHexString(address),
                    Native.ioctl(fd, KVM_IOEVENTFD, s.address()));
        }
    }

    /**
     * KVM_SET_GSI_ROUTING: replaces the whole routing table with {@code routes} (start from
     * {@link IrqRoute#defaultRouting()} to keep the legacy IRQs).
     */
    public void setGsiRouting(List<IrqRoute> routes) throws SyscallException {
        if (routes.size() > MAX_IRQ_ROUTES) {
            throw new IllegalArgumentException(routes.size() + " GSI routes, KVM takes at most " + MAX_IRQ_ROUTES);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment table = a.allocate(ROUTING_ENTRIES + routes.size() * ROUTING_ENTRY_SIZE, 8);
            table.set(JAVA_INT, 0, routes.size()); // nr; flags 0
            long at = ROUTING_ENTRIES;
            for (IrqRoute r : routes) {
                table.set(JAVA_INT, at + ROUTING_GSI, r.gsi());
                switch (r) {
                    case IrqRoute.Irqchip c -> {
                        table.set(JAVA_INT, at + ROUTING_TYPE, IRQ_ROUTING_IRQCHIP);
                        table.set(JAVA_INT, at + ROUTING_IRQCHIP, c.chip());
                        table.set(JAVA_INT, at + ROUTING_PIN, c.pin());
                    }
                    case IrqRoute.Msi m -> {
                        table.set(JAVA_INT, at + ROUTING_TYPE, IRQ_ROUTING_MSI);
                        table.set(JAVA_INT, at + ROUTING_MSI_ADDRESS_LO, (int) m.address());
                        table.set(JAVA_INT, at + ROUTING_MSI_ADDRESS_HI, (int) (m.address() >>> 32));
                        table.set(JAVA_INT, at + ROUTING_MSI_DATA, m.data());
                    }
                }
                at += ROUTING_ENTRY_SIZE;
            }
            Native.check("KVM_SET_GSI_ROUTING (" + routes.size() + " routes)",
                    Native.ioctl(fd, KVM_SET_GSI_ROUTING, table.address()));
        }
    }

    // ---- saved state ----

    /**
     * The VM-wide device state KVM keeps: the two PICs and the IOAPIC (KVM_GET_IRQCHIP), the PIT
     * (KVM_GET_PIT2) and the kvm-clock (KVM_GET_CLOCK). Needs {@link #createIrqchip()} and {@link #createPit()};
     * take it with the vCPUs stopped. Blob version 1: magic "BVVM", version, the three chips, PIT, clock.
     */
    public byte[] saveState() throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            VcpuStateBlob.Writer w = new VcpuStateBlob.Writer(STATE_MAGIC, STATE_VERSION);
            MemorySegment chip = a.allocate(IRQCHIP);
            for (int id = 0; id < CHIPS; id++) {
                chip.fill((byte) 0);
                chip.set(JAVA_INT, IRQCHIP_ID, id);
                Native.check("KVM_GET_IRQCHIP " + id, Native.ioctl(fd, KVM_GET_IRQCHIP, chip.address()));
                w.putSection(chip);
            }
            MemorySegment pit = a.allocate(PIT_STATE2);
            Native.check("KVM_GET_PIT2", Native.ioctl(fd, KVM_GET_PIT2, pit.address()));
            w.putSection(pit);
            MemorySegment clock = a.allocate(CLOCK_DATA);
            Native.check("KVM_GET_CLOCK", Native.ioctl(fd, KVM_GET_CLOCK, clock.address()));
            w.putSection(clock);
            return w.toByteArray();
        }
    }

    /**
     * Sets what {@link #saveState()} saved, into a VM with its irqchip and PIT created. The clock is set with
     * flags 0: to the saved value exactly, so the guest sees no time pass while it was saved. (KVM_SET_CLOCK
     * also takes KVM_CLOCK_REALTIME, which would advance it by the host's elapsed wall-clock time; the
     * TSC_STABLE and HOST_TSC flags GET returns are ignored on SET by 5.16+ and refused by older kernels.)
     */
    public void restoreState(byte[] blob) throws SyscallException {
        VcpuStateBlob.Reader r = new VcpuStateBlob.Reader(blob, "VM state", STATE_MAGIC, STATE_VERSION);
        byte[][] chips = new byte[CHIPS][];
        for (int id = 0; id < CHIPS; id++) {
            chips[id] = r.section("irqchip " + id, IRQCHIP_SIZE);
        }
        byte[] pitBytes = r.section("PIT", PIT_STATE2_SIZE);
        byte[] clockBytes = r.section("clock", CLOCK_DATA_SIZE);
        r.end();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment chip = a.allocate(IRQCHIP);
            for (int id = 0; id < CHIPS; id++) {
                MemorySegment.copy(MemorySegment.ofArray(chips[id]), 0, chip, 0, IRQCHIP_SIZE);
                chip.set(JAVA_INT, IRQCHIP_ID, id); // the blob's own id is not trusted
                Native.check("KVM_SET_IRQCHIP " + id, Native.ioctl(fd, KVM_SET_IRQCHIP, chip.address()));
            }
            MemorySegment pit = a.allocate(PIT_STATE2);
            MemorySegment.copy(MemorySegment.ofArray(pitBytes), 0, pit, 0, PIT_STATE2_SIZE);
            Native.check("KVM_SET_PIT2", Native.ioctl(fd, KVM_SET_PIT2, pit.address()));
            MemorySegment clock = a.allocate(CLOCK_DATA);
            clock.set(JAVA_LONG, CLOCK_CLOCK, MemorySegment.ofArray(clockBytes).get(JAVA_LONG_UNALIGNED, CLOCK_CLOCK));
            Native.check("KVM_SET_CLOCK", Native.ioctl(fd, KVM_SET_CLOCK, clock.address()));
        }
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
        vcpusCreated = true;
        // The XSAVE area this VM's vCPUs need (more than 4 KiB once AMX is permitted); 0: only KVM_GET_XSAVE.
        int xsaveSize = checkExtension(CAP_XSAVE2);
        int vcpuFd = (int) Native.check("KVM_CREATE_VCPU " + id, Native.ioctl(fd, KVM_CREATE_VCPU, id));
        try {
            return new KvmVcpu(id, vcpuFd, vcpuMmapSize, xsaveSize);
        } catch (SyscallException | RuntimeException e) {
            Native.close(vcpuFd);
            throw e;
        }
    }

    @Override
    public void close() {
        arena.close();
        Native.close(fd);
    }
}
