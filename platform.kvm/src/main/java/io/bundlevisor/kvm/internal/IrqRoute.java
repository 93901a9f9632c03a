package io.bundlevisor.kvm.internal;

import java.util.ArrayList;
import java.util.List;

/**
 * One entry of the VM's GSI routing table ({@code struct kvm_irq_routing_entry}, KVM_SET_GSI_ROUTING): a GSI
 * drives an in-kernel irqchip pin, or is an MSI. A GSI may have several entries (a legacy IRQ goes to the PIC and
 * the IOAPIC). The table is replaced as a whole, so callers start from {@link #defaultRouting()} and add.
 */
public sealed interface IrqRoute {

    // KVM_IRQCHIP_*
    int PIC_MASTER = 0;
    int PIC_SLAVE = 1;
    int IOAPIC = 2;
    /** The IOAPIC's pins, 0-23. */
    int IOAPIC_PINS = 24;

    int gsi();

    /** GSI {@code gsi} drives pin {@code pin} of {@code chip}: PIC_MASTER, PIC_SLAVE or IOAPIC. */
    record Irqchip(int gsi, int chip, int pin) implements IrqRoute {
        public Irqchip {
            check(gsi);
            int pins = chip == IOAPIC ? IOAPIC_PINS : 8;
            if (chip < PIC_MASTER || chip > IOAPIC || pin < 0 || pin >= pins) {
                throw new IllegalArgumentException("irqchip " + chip + " has no pin " + pin);
            }
        }
    }

    /** GSI {@code gsi} is an MSI: a write of {@code data} to {@code address}. */
    record Msi(int gsi, long address, int data) implements IrqRoute {
        public Msi {
            check(gsi);
        }
    }

    private static void check(int gsi) {
        if (gsi < 0 || gsi >= KvmLayout.MAX_IRQ_ROUTES) {
            throw new IllegalArgumentException("GSI " + gsi + " is outside 0-" + (KvmLayout.MAX_IRQ_ROUTES - 1));
        }
    }

    /**
     * The legacy routes for the in-kernel PIC and IOAPIC, as QEMU sets them (hw/i386/kvm/irqchip.c,
     * kvm_pc_setup_irq_routing): GSI 0-15 on the PICs (master pins 0-7 but the cascade pin 2, slave pins 0-7),
     * GSI 1-23 on the IOAPIC pin of the same number, and GSI 0, the PIT, on IOAPIC pin 2, which matches the
     * MADT interrupt source override IRQ 0 -> GSI 2. (The kernel's own default routes GSI 0 to IOAPIC pin 0 and
     * GSI 2 to the cascade.)
     */
    static List<IrqRoute> defaultRouting() {
        List<IrqRoute> routes = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            if (i != 2) {
                routes.add(new Irqchip(i, i < 8 ? PIC_MASTER : PIC_SLAVE, i % 8));
            }
        }
        for (int i = 0; i < IOAPIC_PINS; i++) {
            if (i == 0) {
                routes.add(new Irqchip(0, IOAPIC, 2));
            } else if (i != 2) {
                routes.add(new Irqchip(i, IOAPIC, i));
            }
        }
        return routes;
    }
}
