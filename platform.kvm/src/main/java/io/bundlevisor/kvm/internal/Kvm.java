package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;


import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.sys.Native;

/**
 * The KVM system file descriptor ({@code /dev/kvm}): API version and capability checks, VM creation. The checks
 * fail with one line naming exactly what is missing.
 */
public final class Kvm implements AutoCloseable {

    public static final Path DEVICE = Path.of("/dev/kvm");

    private final int fd;
    private final int vcpuMmapSize;
    private final KvmHost host;

    private Kvm(int fd, int vcpuMmapSize, KvmHost host) {
        this.fd = fd;
        this.vcpuMmapSize = vcpuMmapSize;
        this.host = host;
    }

    /** Opens {@code /dev/kvm} and checks the API version and the capabilities the platform relies on. */
    public static Kvm open() throws SyscallException {
        if (!Files.exists(DEVICE)) {
            throw new SyscallException("open " + DEVICE, 2 /* ENOENT */, "no KVM on this host");
        }
        int fd = Native.open(DEVICE.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (fd < 0) {
            throw new SyscallException("open " + DEVICE, -fd, "is this user in the kvm group?");
        }
        try {
            int version = (int) Native.check("KVM_GET_API_VERSION", Native.ioctl(fd, KVM_GET_API_VERSION, 0));
            if (version != KVM_API_VERSION) {
                throw new IllegalStateException("KVM API version " + version + ", expected " + KVM_API_VERSION);
            }
            requireCapability(fd, CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");
            requireCapability(fd, CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR");
            requireCapability(fd, CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID");
            requireCapability(fd, CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT");
            requireCapability(fd, CAP_IRQCHIP, "KVM_CAP_IRQCHIP");
            requireCapability(fd, CAP_IRQFD, "KVM_CAP_IRQFD");
            requireCapability(fd, CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD");
            requireCapability(fd, CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING");
            requireCapability(fd, CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI");
            requireCapability(fd, CAP_PIT2, "KVM_CAP_PIT2");
            requireCapability(fd, CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS");
            requireCapability(fd, CAP_XSAVE, "KVM_CAP_XSAVE");
            requireCapability(fd, CAP_XCRS, "KVM_CAP_XCRS");
            requireCapability(fd, CAP_MP_STATE, "KVM_CAP_MP_STATE");
            requireCapability(fd, CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK");
            int mmapSize = (int) Native.check("KVM_GET_VCPU_MMAP_SIZE",
                    Native.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0));
            if (mmapSize < RUN_SIZE) {
                throw new IllegalStateException("KVM_GET_VCPU_MMAP_SIZE " + mmapSize + " is below sizeof(kvm_run)");
            }
            return new Kvm(fd, mmapSize, KvmHost.detect());
        } catch (SyscallException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    private static void requireCapability(int fd, int cap, String name) throws SyscallException {
        int r = (int) Native.check("KVM_CHECK_EXTENSION " + name, Native.ioctl(fd, KVM_CHECK_EXTENSION, cap));
        if (r <= 0) {
            throw new IllegalStateException("this KVM lacks " + name + ", which Bundlevisor needs");
        }
    }

    /** What kind of KVM this is (read once, at open). */
    public KvmHost host() {
        return host;
    }

    /** KVM_CHECK_EXTENSION on /dev/kvm: 0 where {@code cap} (a KVM_CAP_* number) is missing, else its value. */
    public int checkExtension(int cap) throws SyscallException {
        return (int) Native.check("KVM_CHECK_EXTENSION " + cap, Native.ioctl(fd, KVM_CHECK_EXTENSION, cap));
    }

    /**
     * KVM_GET_SUPPORTED_CPUID: every CPUID leaf KVM can offer a guest, with the bits it can virtualize. The
     * starting point of a vCPU's table ({@link CpuidPolicy}).
     */
    public CpuidEntries supportedCpuid() throws SyscallException {
        // E2BIG: nent was too small (the kernel does not say how big; double it).
        for (int nent = CpuidEntries.MAX_ENTRIES; ; nent *= 2) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = arena.allocate(CPUID2_ENTRIES + nent * CPUID_ENTRY_SIZE, 8);
                s.set(JAVA_INT, 0, nent);
                int r = Native.ioctl(fd, KVM_GET_SUPPORTED_CPUID, s.address());
                if (r == -E2BIG && nent < 16 * CpuidEntries.MAX_ENTRIES) {
                    continue;
                }
                Native.check("KVM_GET_SUPPORTED_CPUID", r);
                return CpuidEntries.fromNative(s);
            }
        }
    }

    /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore (KVM_GET/SET_MSRS) for a guest. */
    public int[] msrIndexList() throws SyscallException {
        int n = 0;
        for (int attempt = 0; ; attempt++) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment s = arena.allocate(MSR_LIST_INDICES + 4L * n, 4);
                s.set(JAVA_INT, 0, n);
                int r = Native.ioctl(fd, KVM_GET_MSR_INDEX_LIST, s.address());
                // E2BIG: the kernel wrote the count it needs into nmsrs.
                if (r == -E2BIG && attempt < 3) {
                    n = s.get(JAVA_INT, 0);
                    continue;
                }
                Native.check("KVM_GET_MSR_INDEX_LIST", r);
                int got = s.get(JAVA_INT, 0);
                if (got < 0 || got > n) {
                    throw new IllegalStateException("KVM_GET_MSR_INDEX_LIST returned " + got + " MSRs for " + n);
                }
                return s.asSlice(MSR_LIST_INDICES, 4L * got).toArray(JAVA_INT);
            }
        }
    }

    private static final int EINTR = 4;

    /** Creates a VM (type 0: the default x86 VM). */
    public KvmVm createVm() throws SyscallException {
        int r = Native.ioctl(fd, KVM_CREATE_VM, 0);
        // A signal pending on this thread (the VP kick, one of the JVM's) can interrupt the creation: try again, as
        // for any interrupted system call; a bounded number of times, so a real failure still surfaces.
        for (int tries = 0; r == -EINTR && tries < 100; tries++) {
            r = Native.ioctl(fd, KVM_CREATE_VM, 0);
        }
        int vmFd = (int) Native.check("KVM_CREATE_VM", r);
        return new KvmVm(vmFd, vcpuMmapSize);
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
