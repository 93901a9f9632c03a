package io.bundlevisor.kvm.internal.machine;

/** A device's interrupt line into the in-kernel irqchip (a GSI), driven as a level. */
@FunctionalInterface
public interface IrqLine {

    void set(boolean level);
}
