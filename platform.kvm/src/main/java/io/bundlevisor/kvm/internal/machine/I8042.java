package io.bundlevisor.kvm.internal.machine;

import java.util.function.Consumer;

import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.IoHandler;

/**
 * Just enough of the i8042 keyboard controller for the oldest reboot path: command 0xFE on port 0x64 pulses the
 * CPU reset line. The status register reads 0xFF, as on a machine without the controller, so a probing driver
 * gives up at once instead of waiting for data that never comes.
 */
public final class I8042 implements IoHandler {

    public static final int COMMAND_PORT = 0x64;
    private static final int PULSE_RESET = 0xFE;

    private final Consumer<HaltReason> halt;

    public I8042(Consumer<HaltReason> halt) {
        this.halt = halt;
    }

    @Override
    public long read(long offset, int size) {
        return -1L;
    }

    @Override
    public void write(long offset, int size, long value) {
        if ((value & 0xFF) == PULSE_RESET) {
            halt.accept(new HaltReason.Reset());
        }
    }
}
