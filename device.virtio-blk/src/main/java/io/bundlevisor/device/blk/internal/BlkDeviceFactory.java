package io.bundlevisor.device.blk.internal;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;

import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates virtio-blk devices: the whiteboard service machines find under {@code device.type=virtio-blk}. Also the
 * registry of the devices it created and that are not closed yet, for {@code blk:list}.
 *
 * <p>Outside OSGi (tests, an embedding VMM), {@code new BlkDeviceFactory()} is all it takes: it has no references.
 */
@Component(service = {VirtioDeviceFactory.class, BlkDeviceFactory.class},
        property = VirtioDeviceFactory.DEVICE_TYPE + "=" + BlkDeviceFactory.TYPE)
public final class BlkDeviceFactory implements VirtioDeviceFactory {

    /** The device type machines declare. */
    public static final String TYPE = "virtio-blk";

    private static final Logger LOG = LoggerFactory.getLogger(BlkDeviceFactory.class);

    private final Set<BlkDevice> devices = ConcurrentHashMap.newKeySet();

    public BlkDeviceFactory() {
    }

    /**
     * Parses {@code PATH[,readonly][,serial=ID][,queues=N][,direct=on|off]}, then opens and locks the disk.
     *
     * @throws DeviceException with a one-line reason: a bad option, a missing, unreadable or locked disk
     */
    @Override
    public VirtioDevice create(DeviceContext context) throws DeviceException {
        BlkOptions options;
        try {
            options = BlkOptions.parse(context.options());
        } catch (IllegalArgumentException e) {
            throw new DeviceException(e.getMessage());
        }
        BlkDisk disk = BlkDisk.open(options, context.resources());
        if (disk.hiddenTail() != 0) {
            LOG.info("{}: {} is {} bytes, not a whole number of 512-byte sectors: the last {} bytes are not visible "
                    + "to the guest", context.name(), disk.path(), disk.size(), disk.hiddenTail());
        }
        BlkDevice device = new BlkDevice(context.name(), disk, options.serial(),
                options.queuesFor(context.vpCount()), devices::remove);
        devices.add(device);
        return device;
    }

    /** The open devices, by name. */
    List<BlkDevice> devices() {
        List<BlkDevice> list = new ArrayList<>(devices);
        list.sort(Comparator.comparing(BlkDevice::name));
        return list;
    }
}
