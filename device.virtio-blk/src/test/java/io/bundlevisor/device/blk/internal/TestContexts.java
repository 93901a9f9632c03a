package io.bundlevisor.device.blk.internal;

import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.VirtioContext;

/** What the platform would hand a factory and a device. */
final class TestContexts {

    private TestContexts() {
    }

    record Device(String machineName, int index, int vpCount, String options) implements DeviceContext {
        @Override
        public String name() {
            return machineName + "/virtio-blk" + index;
        }
    }

    static DeviceContext device(String options) {
        return new Device("test", 0, 2, options);
    }

    /** Every queue enabled at {@code size}. */
    static VirtioContext queues(int size) {
        return new VirtioContext() {
            @Override
            public long features() {
                return 0;
            }

            @Override
            public int queueSize(int queue) {
                return size;
            }

            @Override
            public void configChanged() {
            }
        };
    }
}
