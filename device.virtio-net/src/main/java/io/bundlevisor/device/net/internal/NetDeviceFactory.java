package io.bundlevisor.device.net.internal;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.virtio.DeviceContext;
import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.VirtioDevice;
import io.bundlevisor.core.virtio.VirtioDeviceFactory;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.Tap;

/**
 * Creates virtio-net devices: the whiteboard service machines find under {@code device.type=virtio-net}. Also the
 * registry of the devices it created and that are not closed yet, for {@code net:list}.
 *
 * <p>Outside OSGi (tests, an embedding VMM), {@code new NetDeviceFactory()} is all it takes: it has no references.
 */
@Component(service = {VirtioDeviceFactory.class, NetDeviceFactory.class},
        property = VirtioDeviceFactory.DEVICE_TYPE + "=" + NetDeviceFactory.TYPE)
public final class NetDeviceFactory implements VirtioDeviceFactory {

    /** The device type machines declare. */
    public static final String TYPE = "virtio-net";

    private static final Logger LOG = LoggerFactory.getLogger(NetDeviceFactory.class);

    private final Set<NetDevice> devices = ConcurrentHashMap.newKeySet();

    public NetDeviceFactory() {
    }

    /**
     * Parses {@code tap=NAME[,mac=MAC][,queues=N][,mtu=N]}, then opens the tap (one descriptor a queue pair) and sets
     * its MTU if one was asked for that it does not have.
     *
     * @throws DeviceException with a one-line reason: a bad option, no tap or no permission for it, an MTU the tap
     *                         refused
     */
    @Override
    public VirtioDevice create(DeviceContext context) throws DeviceException {
        NetOptions options;
        try {
            options = NetOptions.parse(context.options());
        } catch (IllegalArgumentException e) {
            throw new DeviceException(e.getMessage());
        }
        // A device taking over from one of an updated bundle gets its tap, queues attached, and never reopens it.
        Tap tap = context.resources().take(NetDevice.TAP_KEY, Tap.class);
        if (tap != null && (!tap.name().equals(options.tap()) || tap.queues() != options.queues())) {
            tap.close();
            throw new DeviceException("virtio-net: the tap handed over is " + tap.name() + " with " + tap.queues()
                    + " queues, not " + options.tap() + " with " + options.queues());
        }
        try {
            if (tap == null) {
                tap = Tap.open(options.tap(), options.queues());
            }
        } catch (SyscallException | IllegalArgumentException e) {
            throw new DeviceException("virtio-net: " + e.getMessage());
        }
        try {
            int mtu = tap.mtu();
            if (options.mtu() != 0 && options.mtu() != mtu) {
                tap.setMtu(options.mtu());
                mtu = options.mtu();
            }
            long mac = options.macOr(context.name());
            NetDevice device = new NetDevice(context.name(), tap, mac, mtu, !context.backend(), devices::remove);
            devices.add(device);
            LOG.info("{}: tap {} ({}{} queue pair{}), MAC {}, MTU {}", context.name(), tap.name(),
                    tap.created() ? "created, " : "", tap.queues(), tap.queues() == 1 ? "" : "s",
                    NetOptions.format(mac), mtu);
            return device;
        } catch (SyscallException e) {
            tap.close();
            throw new DeviceException("virtio-net: tap " + options.tap() + ": " + e.getMessage());
        }
    }

    /** The open devices, by name. */
    List<NetDevice> devices() {
        List<NetDevice> list = new ArrayList<>(devices);
        list.sort(Comparator.comparing(NetDevice::name));
        return list;
    }
}
