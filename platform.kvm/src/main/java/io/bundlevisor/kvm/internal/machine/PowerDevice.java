package io.bundlevisor.kvm.internal.machine;

import java.util.function.Consumer;

import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.IoHandler;
import io.bundlevisor.kvm.internal.acpi.AcpiTables;

/**
 * The hardware-reduced ACPI power registers the FADT names (ACPI 6.5, 4.8.3.7 Sleep Control and Status Registers
 * and 4.8.3.6 Reset Register): writing SLP_EN with the \_S5 sleep type powers the machine off; writing the reset
 * value to the reset register resets it. Three consecutive ports from {@link AcpiTables#SLEEP_CONTROL_PORT}.
 */
public final class PowerDevice implements IoHandler {

    public static final int PORTS = 3;
    private static final int SLEEP_CONTROL = AcpiTables.SLEEP_CONTROL_PORT - AcpiTables.SLEEP_CONTROL_PORT;
    private static final int SLEEP_STATUS = AcpiTables.SLEEP_STATUS_PORT - AcpiTables.SLEEP_CONTROL_PORT;
    private static final int RESET = AcpiTables.RESET_PORT - AcpiTables.SLEEP_CONTROL_PORT;
    /** SLP_EN is bit 5 of the sleep control register, SLP_TYPx bits 2-4 (ACPI 6.5 table 4.19). */
    private static final int SLP_EN = 1 << 5;
    private static final int SLP_TYP_SHIFT = 2;
    private static final int SLP_TYP_MASK = 0x7;

    private final Consumer<HaltReason> halt;

    public PowerDevice(Consumer<HaltReason> halt) {
        this.halt = halt;
    }

    @Override
    public long read(long offset, int size) {
        // Sleep status: WAK_STS clear, nothing pending. The others read as zero too (write-only registers).
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        int v = (int) value & 0xFF;
        if (offset == SLEEP_CONTROL && (v & SLP_EN) != 0
                && ((v >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == AcpiTables.S5_SLEEP_TYPE) {
            halt.accept(new HaltReason.PowerOff());
        } else if (offset == RESET && v == AcpiTables.RESET_VALUE) {
            halt.accept(new HaltReason.Reset());
        }
        // SLEEP_STATUS writes clear WAK_STS, which we never set; other sleep types are not supported.
    }
}
