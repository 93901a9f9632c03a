package io.bundlevisor.distro;

import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Linux that runs on our own VMM in the tests, chosen by the host. Where the CPU has VMX or SVM: Debian's
 * stock cloud kernel and its initramfs ({@code scripts/guest-kit.sh}), its virtio modules loaded by /init. Where
 * {@code /dev/kvm} is a software KVM (kvm_pvm), which emulates guest kernel code: the minimal kernel of
 * {@code scripts/linux-kit.sh} (Debian's linux-source-6.1, tinyconfig and our fragment and patch) with an
 * uncompressed busybox initramfs, and the command-line words that hide the CPU features kvm_pvm offers but cannot
 * run (the VMM logs them: {@code boot Linux with '...'}). Both run the same /init and bv-blk-test.
 */
final class LinuxGuest {

    static final Path KIT = Path.of("..", ".guest-kit");
    /**
     * What kvm_pvm offers again after we hide it (CpuidPolicy.SOFTWARE_KVM_HIDDEN), as Linux hides it; the
     * launcher's demo reads the same file.
     */
    static final Path SOFTWARE_KVM_ARGUMENTS = Path.of("..", "scripts", "linux-kit", "software-kvm.cmdline");

    private LinuxGuest() {
    }

    /** Whether the CPU virtualizes guests itself (vmx or svm among /proc/cpuinfo's flags). */
    static boolean hardware() {
        Pattern flag = Pattern.compile("^flags\\s*:.*\\b(vmx|svm)\\b");
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.anyMatch(l -> flag.matcher(l).find());
        } catch (IOException e) {
            return false;
        }
    }

    /** Which kernel runs here, for the test's output. */
    static String describe() {
        return hardware() ? "Debian's stock cloud kernel (the CPU has VMX/SVM)"
                : "the minimal kernel of scripts/linux-kit.sh (a software KVM: guest kernel code is emulated)";
    }

    static Path kernel() {
        return file(hardware() ? KIT.resolve("vmlinuz") : KIT.resolve("linux-min").resolve("vmlinux"));
    }

    static Path initrd() {
        return file(hardware() ? KIT.resolve("initramfs.cpio.gz") : KIT.resolve("linux-min").resolve("initramfs.cpio"));
    }

    /** The command line before bv.test: the console, no reboot on panic, and what this host needs. */
    static String cmdline() {
        try {
            return "console=ttyS0 panic=-1 "
                    + (hardware() ? "quiet" : Files.readString(SOFTWARE_KVM_ARGUMENTS).strip());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Path file(Path p) {
        assertTrue(p.toAbsolutePath().normalize() + " is missing: run scripts/test-deps.sh (it builds the guest kits)",
                Files.isRegularFile(p));
        return p;
    }
}
