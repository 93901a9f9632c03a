package io.bundlevisor.kvm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Telling a software KVM from hardware virtualization, from /sys/module and /proc/cpuinfo as a host shows them. */
class KvmHostTest {

    @TempDir
    Path dir;

    private KvmHost host(String module, String flags) throws IOException {
        Path modules = Files.createDirectories(dir.resolve("module"));
        if (module != null) {
            Files.createDirectories(modules.resolve(module));
        }
        Path cpuinfo = Files.writeString(dir.resolve("cpuinfo"),
                "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu vme " + flags + " lm\n\n");
        return KvmHost.detect(modules, cpuinfo);
    }

    @Test
    void vmxOrSvmWithTheirModuleIsHardware() throws IOException {
        KvmHost intel = host("kvm_intel", "vmx ept");
        assertFalse(intel.software());
        assertEquals("kvm_intel", intel.module());
        assertTrue(intel.describe().contains("hardware virtualization (kvm_intel)"));
    }

    @Test
    void kvmPvmOrNoVirtualizationFlagIsSoftware() throws IOException {
        KvmHost pvm = host("kvm_pvm", "sse2 x2apic");
        assertTrue(pvm.software());
        assertTrue(pvm.describe().contains("kvm_pvm, no VMX/SVM"), pvm.describe());
        assertTrue(host(null, "sse2").software());
    }

    @Test
    void theFlagMustBeAWholeWord() throws IOException {
        assertTrue(host("kvm_amd", "svmx vmxnet").software());
        assertFalse(host("kvm_amd", "svm npt").software());
    }

    @Test
    void theCurrentHostIsOneOrTheOther() {
        KvmHost here = KvmHost.detect();
        assertEquals(here.software(), !here.cpuVirtualization() || here.module().equals("kvm_pvm"));
    }
}
