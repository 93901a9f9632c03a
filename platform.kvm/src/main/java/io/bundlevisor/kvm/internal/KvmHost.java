package io.bundlevisor.kvm.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What kind of KVM this host has. {@code /dev/kvm} belongs to one vendor module: {@code kvm_intel} (VMX) or
 * {@code kvm_amd} (SVM) where the CPU virtualizes guests itself, {@code kvm_pvm} (a software KVM: guest kernel code
 * is emulated, guest user code runs natively) where it does not. The module is read from {@code /sys/module}; a
 * host whose CPU flags (/proc/cpuinfo) have neither {@code vmx} nor {@code svm} is software whatever the module.
 *
 * @param module the KVM vendor module found, or {@code "unknown"}
 * @param cpuVirtualization whether the CPU flags have {@code vmx} or {@code svm}
 */
public record KvmHost(String module, boolean cpuVirtualization) {

    private static final List<String> HARDWARE_MODULES = List.of("kvm_intel", "kvm_amd");
    private static final String SOFTWARE_MODULE = "kvm_pvm";
    private static final Pattern VIRT_FLAG = Pattern.compile("^flags\\s*:.*\\b(vmx|svm)\\b.*$");

    /** Reads {@code /sys/module} and {@code /proc/cpuinfo} (once per call; no KVM ioctl). */
    public static KvmHost detect() {
        return detect(Path.of("/sys/module"), Path.of("/proc/cpuinfo"));
    }

    static KvmHost detect(Path sysModule, Path cpuinfo) {
        String module = "unknown";
        for (String m : Stream.concat(HARDWARE_MODULES.stream(), Stream.of(SOFTWARE_MODULE)).toList()) {
            if (Files.isDirectory(sysModule.resolve(m))) {
                module = m;
                break;
            }
        }
        boolean virt = false;
        try (Stream<String> lines = Files.lines(cpuinfo)) {
            virt = lines.anyMatch(l -> VIRT_FLAG.matcher(l).matches());
        } catch (IOException | java.io.UncheckedIOException e) {
            // Unreadable: decided by the module alone.
            virt = HARDWARE_MODULES.contains(module);
        }
        return new KvmHost(module, virt);
    }

    /** True where guest kernel code is emulated: kvm_pvm, or a CPU without VMX/SVM. */
    public boolean software() {
        return !cpuVirtualization || SOFTWARE_MODULE.equals(module);
    }

    /** One line for the log. */
    public String describe() {
        return software()
                ? "a software KVM (" + module + (cpuVirtualization ? "" : ", no VMX/SVM on the CPU")
                        + "): guest kernel code is emulated"
                : "hardware virtualization (" + module + ")";
    }
}
