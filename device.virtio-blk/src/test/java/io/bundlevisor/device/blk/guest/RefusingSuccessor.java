package io.bundlevisor.device.blk.guest;

import java.io.DataInput;
import java.io.IOException;

import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.device.blk.internal.BlkDeviceFactory;

/**
 * A "newer bundle" of virtio-blk that cannot take a device over: its devices are the real ones, but either read no
 * saved state of the version the running device wrote ({@link Refusal#STATE}), or offer none of virtio-blk's own
 * features ({@link Refusal#FEATURES}). The platform must then fall back to DEVICE_NEEDS_RESET.
 */
final class RefusingSuccessor implements VirtioDeviceFactory {

    enum Refusal { STATE, FEATURES }

    private final BlkDeviceFactory real = new BlkDeviceFactory();
    private final Refusal refusal;

    RefusingSuccessor(Refusal refusal) {
        this.refusal = refusal;
    }

    @Override
    public VirtioDevice create(DeviceContext context) throws DeviceException {
        return new ForwardingDevice(real.create(context)) {
            @Override
            public long features() {
                return refusal == Refusal.FEATURES ? 0 : d.features();
            }

            @Override
            public void restoreState(DataInput in) throws IOException {
                if (refusal == Refusal.STATE) {
                    throw new IOException("virtio-blk saved state version 1 is not supported (only 9)");
                }
                d.restoreState(in);
            }
        };
    }
}
