package io.bundlevisor.kvm.internal.machine;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

import io.bundlevisor.core.partition.GuestRam;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.kvm.internal.CpuidEntries;
import io.bundlevisor.kvm.internal.CpuidPolicy;
import io.bundlevisor.kvm.internal.GuestMemory;
import io.bundlevisor.kvm.internal.IrqRoute;
import io.bundlevisor.kvm.internal.Kvm;
import io.bundlevisor.kvm.internal.KvmVcpu;
import io.bundlevisor.kvm.internal.KvmVm;
import io.bundlevisor.kvm.internal.MemoryMap;
import io.bundlevisor.kvm.internal.acpi.AcpiTables;
import io.bundlevisor.uring.host.SyscallException;

/**
 * The hardware of one VM: RAM with its map, the in-kernel irqchip and PIT, one vCPU per VP with its CPUID, the
 * port and MMIO buses with the console UART, the ACPI power registers and the i8042, a slot (MMIO window and
 * interrupt line) for each declared device, and the ACPI tables. It knows how to put itself in the power-on state
 * with the boot image loaded; the partition decides when.
 */
public final class Machine implements AutoCloseable {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Machine.class);
    private static final java.util.concurrent.atomic.AtomicBoolean CPUID_CHANGED_LOGGED =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** Where the ACPI tables go: the BIOS area, so a guest that scans for the RSDP finds it too. */
    public static final long ACPI_BASE = 0xE_0000L;
    /** The MP tables (for a guest booted with acpi=off) in the last 64 KiB of the BIOS area, where Linux scans. */
    static final long MP_TABLE_BASE = 0xF_0000L;
    private static final long ACPI_LIMIT = MP_TABLE_BASE;

    /** Replaced only when a device changes ({@link #deviceChanged}); read by any thread. */
    private volatile MachineConfig config;
    private final KvmVm vm;
    private final MemoryMap map;
    private final GuestMemory ram;
    private final List<KvmVcpu> vcpus;
    private final IoBus ports = new IoBus("ports", 0x1_0000);
    private final IoBus mmio = new IoBus("mmio", 1L << 52);
    private final ConsoleIo console;
    private final Uart16550 uart;
    private final int[] savedMsrs;
    private final byte[] pristineVm;
    private final byte[][] pristineVps;
    private final byte[] pristineUart;
    private final List<AutoCloseable> claims = new ArrayList<>();
    private final GuestRam guestRam;
    private final List<VirtioMmioSlot> slots = new ArrayList<>();

    private Machine(MachineConfig config, KvmVm vm, MemoryMap map, GuestMemory ram, List<KvmVcpu> vcpus,
            ConsoleIo console, Consumer<HaltReason> halt, int[] savedMsrs) throws SyscallException {
        this.config = config;
        this.vm = vm;
        this.map = map;
        this.ram = ram;
        this.vcpus = vcpus;
        this.console = console;
        this.savedMsrs = savedMsrs;
        this.uart = new Uart16550(level -> irqLine(Uart16550.COM1_IRQ, level), console.sink());
        claims.add(ports.claim(Uart16550.COM1_PORT, Uart16550.PORTS, uart));
        claims.add(ports.claim(AcpiTables.SLEEP_CONTROL_PORT, PowerDevice.PORTS, new PowerDevice(halt)));
        claims.add(ports.claim(I8042.COMMAND_PORT, 1, new I8042(halt)));
        this.pristineVm = vm.saveState();
        this.pristineVps = new byte[vcpus.size()][];
        for (int i = 0; i < vcpus.size(); i++) {
            pristineVps[i] = vcpus.get(i).saveState(savedMsrs);
        }
        this.pristineUart = uart.save();
        this.guestRam = new KvmGuestRam(ram, map);
        console.start(uart);
    }

    /**
     * Builds the machine {@code config} describes on {@code kvm}, stopped and not yet loaded.
     *
     * @param halt where devices report power off and reset
     * @throws PartitionException with a one-line reason
     */
    public static Machine create(Kvm kvm, MachineConfig config, Consumer<HaltReason> halt)
            throws PartitionException {
        List<AutoCloseable> undo = new ArrayList<>();
        try {
            KvmVm vm = kvm.createVm();
            undo.add(vm);
            vm.setSystemPages();
            vm.createIrqchip();
            vm.createPit();
            // KVM's default routing sends GSI 0 to IOAPIC pin 0; our MADT promises the PIT on pin 2 (ISA override).
            // It also sends GSI 16-23 to IOAPIC pins 16-23, the device slots' lines (DeviceWindows).
            vm.setGsiRouting(IrqRoute.defaultRouting());
            if (!config.devices().isEmpty() && !vm.hasIrqfdResample()) {
                throw new IllegalStateException("this KVM lacks KVM_CAP_IRQFD_RESAMPLE, which devices need for "
                        + "their level-triggered interrupts");
            }
            MemoryMap map = MemoryMap.of(config.memoryBytes());
            GuestMemory ram = GuestMemory.allocate(map.ramBytes());
            undo.add(ram);
            vm.mapRam(map, ram);
            CpuidEntries supported = kvm.supportedCpuid();
            CpuidPolicy policy = CpuidPolicy.forHost(kvm.host());
            List<KvmVcpu> vcpus = new ArrayList<>();
            for (int i = 0; i < config.cpus(); i++) {
                KvmVcpu vcpu = vm.createVcpu(i);
                undo.add(vcpu);
                CpuidEntries table = policy.forVcpu(supported, i, config.cpus());
                vcpu.setCpuid(table);
                if (i == 0) {
                    checkCpuid(config.name(), table, vcpu.getCpuid());
                }
                vcpus.add(vcpu);
            }
            int[] hostMsrs = kvm.msrIndexList();
            int[] saved = Arrays.stream(KvmVcpu.DEFAULT_SAVED_MSRS)
                    .filter(m -> Arrays.stream(hostMsrs).anyMatch(h -> h == m)).toArray();
            ConsoleIo console = ConsoleIo.open(config.name(), config.console());
            undo.add(console);
            Machine machine = new Machine(config, vm, map, ram, List.copyOf(vcpus), console, halt, saved);
            undo.clear();
            undo.add(machine); // closes all of the above, and the slots made so far
            for (int i = 0; i < config.devices().size(); i++) {
                machine.slots.add(VirtioMmioSlot.create(config.name(), config.cpus(), i, config.devices().get(i),
                        machine.guestRam, vm, machine.mmio, config.vpAffinity()));
            }
            return machine;
        } catch (IOException | RuntimeException e) {
            for (int i = undo.size() - 1; i >= 0; i--) {
                try {
                    undo.get(i).close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw new PartitionException(config.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * The power-on state: every vCPU, the irqchip, PIT and UART as created, RAM zeroed, the ACPI tables, page
     * tables and boot image loaded, and VP 0 at the image's 64-bit entry with RSI pointing at boot_params. The
     * other VPs wait for INIT/SIPI. Call only while no VP runs.
     *
     * @throws PartitionException when the boot image cannot be loaded, with a one-line reason
     */
    public void powerOn(boolean scrub) throws PartitionException {
        try {
            if (scrub) {
                ram.discard();
                vm.restoreState(pristineVm);
                for (int i = 0; i < vcpus.size(); i++) {
                    vcpus.get(i).restoreState(pristineVps[i]);
                }
                uart.restore(pristineUart);
            }
            AcpiTables.Image acpi = AcpiTables.build(ACPI_BASE, config.cpus(),
                    List.of(new AcpiTables.IsaDevice("COM1", "PNP0501", Uart16550.COM1_PORT, Uart16550.PORTS,
                            Uart16550.COM1_IRQ)), acpiDevices(config.devices().size()));
            if (ACPI_BASE + acpi.bytes().length > ACPI_LIMIT) {
                throw new IllegalStateException("the ACPI tables outgrew the BIOS area");
            }
            ram.segment().asSlice(ACPI_BASE, acpi.bytes().length)
                    .copyFrom(java.lang.foreign.MemorySegment.ofArray(acpi.bytes()));
            byte[] mp = io.bundlevisor.kvm.internal.acpi.MpTable.build(MP_TABLE_BASE, config.cpus());
            ram.segment().asSlice(MP_TABLE_BASE, mp.length).copyFrom(java.lang.foreign.MemorySegment.ofArray(mp));
            BootLoader.Entry entry = BootLoader.load(config,
                    DeviceWindows.commandLine(config.cmdline(), config.devices().size()), map, ram.segment(),
                    acpi.rsdp());
            BootLoader.enter(vcpus.getFirst(), ram.segment(), entry);
        } catch (SyscallException e) {
            throw new PartitionException(config.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Puts every vCPU back to its power-on state (registers, LAPIC, pending events, MSRs), leaving RAM, the
     * irqchip and the devices alone: VP 0 is no longer at the boot entry, the others wait for INIT/SIPI. Call only
     * while no VP runs.
     */
    public void scrubVps() throws PartitionException {
        try {
            for (int i = 0; i < vcpus.size(); i++) {
                vcpus.get(i).restoreState(pristineVps[i]);
            }
        } catch (SyscallException e) {
            throw new PartitionException(config.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Puts vCPU {@code vp} at {@code registers} in the 64-bit boot state: the boot GDT and identity page tables
     * written again (as the loader writes them), long mode, the given general registers over zeros, and a VP other
     * than 0 runnable rather than waiting for INIT/SIPI. Call only while no VP runs.
     */
    public void enter(int vp, io.bundlevisor.core.partition.InitialRegisters registers) throws PartitionException {
        KvmVcpu vcpu = vcpus.get(vp);
        try {
            BootLoader.enter(vcpu, ram.segment(), registers);
            if (vp != 0) {
                vcpu.setMpState(KvmVcpu.MP_STATE_RUNNABLE);
            }
        } catch (SyscallException e) {
            throw new PartitionException(config.name() + ": VP " + vp + ": " + e.getMessage(), e);
        }
    }

    /** The DSDT entries of the device slots, in declaration order: VRT0..VRTn-1. */
    static List<AcpiTables.MmioDevice> acpiDevices(int count) {
        List<AcpiTables.MmioDevice> devices = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            devices.add(new AcpiTables.MmioDevice(DeviceWindows.acpiName(i), DeviceWindows.HID, i,
                    DeviceWindows.base(i), DeviceWindows.SIZE, DeviceWindows.gsi(i)));
        }
        return devices;
    }

    /** Drives a GSI from a device; runs on VP threads, so a failure is logged, never thrown at the guest. */
    private void irqLine(int gsi, boolean level) {
        try {
            vm.irqLine(gsi, level);
        } catch (SyscallException e) {
            LOG.error("{}: KVM_IRQ_LINE {} failed: {}", config.name(), gsi, e.getMessage());
        }
    }

    public MachineConfig config() {
        return config;
    }

    /** Device {@code index} is now {@code device}: the definition says so from now (a snapshot's). */
    public void deviceChanged(int index, io.bundlevisor.core.partition.DeviceSpec device) {
        config = config.withDevice(index, device);
    }

    public KvmVm vm() {
        return vm;
    }

    /**
     * Logs once per process where KVM changed the CPUID table we set: the guest reads KVM's table
     * (KVM_GET_CPUID2), which kvm_pvm, for one, rewrites with host features, among them some it cannot run in
     * guest kernel mode (XSAVE, SMAP, POPCNT, ...). A guest kernel then has to be told on its command line; the
     * log says what Linux needs.
     */
    private static void checkCpuid(String vm, CpuidEntries set, CpuidEntries kept) {
        List<String> changed = set.differences(kept);
        if (changed.isEmpty() || !CPUID_CHANGED_LOGGED.compareAndSet(false, true)) {
            return;
        }
        List<CpuidPolicy.Hidden> back = CpuidPolicy.SOFTWARE_KVM_HIDDEN.stream()
                .filter(h -> !h.offeredBy(set) && h.offeredBy(kept)).toList();
        // Not warnings: this host does it on every run, and a test guest does not care; README and the demo pass the
        // Linux arguments (scripts/linux-kit/software-kvm.cmdline). -v shows the hint, -vv the table.
        LOG.debug("{}: KVM changed the CPUID table we set, and guests read KVM's: {}", vm, String.join("; ", changed));
        if (!back.isEmpty()) {
            LOG.info("{}: KVM offers again what it cannot run in guest kernel mode ({}): boot Linux with '{}'", vm,
                    back.stream().map(CpuidPolicy.Hidden::name).collect(java.util.stream.Collectors.joining(" ")),
                    CpuidPolicy.linuxArguments(back));
        }
    }

    public List<KvmVcpu> vcpus() {
        return vcpus;
    }

    public MemoryMap map() {
        return map;
    }

    public GuestMemory ram() {
        return ram;
    }

    public IoBus ports() {
        return ports;
    }

    public IoBus mmio() {
        return mmio;
    }

    public Uart16550 uart() {
        return uart;
    }

    /** RAM as devices see it. */
    public GuestRam guestRam() {
        return guestRam;
    }

    /** A slot for each declared device, in declaration order. */
    public List<VirtioMmioSlot> slots() {
        return List.copyOf(slots);
    }

    /** The MSRs saved with each VP: our default list, less what this host's KVM does not know. */
    public int[] savedMsrs() {
        return savedMsrs.clone();
    }

    /** The pseudo terminal the console is on, for a pty console. */
    public java.util.Optional<java.nio.file.Path> consolePty() {
        return console.ptyPath();
    }

    /** Flushes the console (at halts, so the last line is out before anyone reads it). */
    public void flushConsole() {
        uart.flush();
    }

    /** Frees the machine; its devices' transports must be closed first (they use the slots and RAM). */
    @Override
    public void close() {
        for (VirtioMmioSlot slot : slots) {
            slot.close();
        }
        for (AutoCloseable c : claims) {
            try {
                c.close();
            } catch (Exception ignored) {
                // Releasing a bus range cannot fail.
            }
        }
        console.close();
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        vm.close();
        ram.close();
    }
}
