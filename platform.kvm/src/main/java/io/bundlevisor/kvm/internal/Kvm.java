package io.bundlevisor.kvm.internal;

import static io.bundlevisor.kvm.internal.KvmLayout.*;

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

    private Kvm(int fd, int vcpuMmapSize) {
        this.fd = fd;
        this.vcpuMmapSize = vcpuMmapSize;
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
            int mmapSize = (int) Native.check("KVM_GET_VCPU_MMAP_SIZE",
                    Native.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0));
            if (mmapSize < RUN_SIZE) {
                throw new IllegalStateException("KVM_GET_VCPU_MMAP_SIZE " + mmapSize + " is below sizeof(kvm_run)");
            }
            return new Kvm(fd, mmapSize);
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

    /** Creates a VM (type 0: the default x86 VM). */
    public KvmVm createVm() throws SyscallException {
        int vmFd = (int) Native.check("KVM_CREATE_VM", Native.ioctl(fd, KVM_CREATE_VM, 0));
        return new KvmVm(vmFd, vcpuMmapSize);
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
