package io.bundlevisor.vhost;

import java.nio.file.Path;
import java.util.List;

import org.osgi.annotation.versioning.ProviderType;

import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.PartitionException;

/**
 * The vhost-user back-ends of this platform, by socket path. A back-end serves one device to one front-end at a time
 * (vhost-user.rst); the device is made by the bundle providing its type, and the device's host resources (an image
 * and its lock, a tap) are held from {@link #serve} to {@link #stop}, between front-ends too.
 */
@ProviderType
public interface VhostService {

    /**
     * Opens the device and listens on {@code socket} (a stale socket file is replaced; one another process serves is
     * refused).
     *
     * @throws PartitionException with one line for a person: the socket is served already, the type is not
     *                            provided, the device's options or host resources are refused
     */
    VhostBackendInfo serve(Path socket, DeviceSpec device) throws PartitionException;

    /**
     * Changes the device served on {@code socket} to {@code options} (its type's option syntax: a virtio-blk's new
     * image) under the connected front-end (since 1.1). The device finishes its IO in flight and changes; a front-end
     * that negotiated the back-end channel is sent CONFIG_CHANGE_MSG and reads the new config (QEMU's
     * vhost-user-blk shows the guest the new capacity); later front-ends get a device made from these options.
     *
     * @throws PartitionException with one line: nothing is served there, or the device refused the change (which
     *                            then changed nothing)
     */
    void update(Path socket, String options) throws PartitionException;

    /** Stops the back-end on {@code socket} once its device has finished its IO; false if none is served there. */
    boolean stop(Path socket);

    /** The back-ends, as they are now. */
    List<VhostBackendInfo> backends();
}
