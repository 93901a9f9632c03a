package io.bundlevisor.vhost.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.bundlevisor.core.partition.DeviceSpec;

/**
 * {@code bundlevisor serve} arguments: {@code --socket PATH} and the device, as {@code --device TYPE[,OPTIONS]},
 * {@code --disk OPTIONS} (a virtio-blk device; {@code --device virtio-blk --disk OPTIONS} says the same) or
 * {@code --net OPTIONS} (a virtio-net device on a tap: {@code --device virtio-net,OPTIONS}). Refusals are one line
 * each.
 */
record ServeArguments(Path socket, DeviceSpec device) {

    static final String DISK_TYPE = "virtio-blk";
    static final String NET_TYPE = "virtio-net";

    static ServeArguments parse(List<String> args) {
        Path socket = null;
        String type = null;
        String typeOptions = null;
        String disk = null;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "--socket", "--device", "--disk", "--net" -> {
                    if (i + 1 >= args.size() || args.get(i + 1).isEmpty()) {
                        throw new IllegalArgumentException(a + " needs a value");
                    }
                    String v = args.get(++i);
                    switch (a) {
                        case "--socket" -> {
                            if (socket != null) {
                                throw new IllegalArgumentException("--socket is given twice");
                            }
                            socket = Path.of(v);
                        }
                        case "--device" -> {
                            if (type != null) {
                                throw new IllegalArgumentException("one --device per back-end (start another "
                                        + "serve for another device)");
                            }
                            DeviceSpec d = DeviceSpec.parse(v);
                            type = d.type();
                            typeOptions = d.options();
                        }
                        case "--net" -> {
                            if (type != null) {
                                throw new IllegalArgumentException("one device per back-end: --net does not combine "
                                        + "with --device or another --net");
                            }
                            type = NET_TYPE;
                            typeOptions = v;
                        }
                        default -> {
                            if (disk != null) {
                                throw new IllegalArgumentException("one --disk per back-end");
                            }
                            disk = v;
                        }
                    }
                }
                case "-h", "--help" -> throw new IllegalArgumentException(usage());
                default -> throw new IllegalArgumentException("unknown argument '" + a + "' (" + usage() + ")");
            }
        }
        if (socket == null) {
            throw new IllegalArgumentException("--socket PATH is required (" + usage() + ")");
        }
        DeviceSpec device;
        if (disk != null) {
            if (type != null && (!type.equals(DISK_TYPE) || !typeOptions.isEmpty())) {
                throw new IllegalArgumentException("--disk is a " + DISK_TYPE + " device; it does not combine with "
                        + "--device " + type + (typeOptions.isEmpty() ? "" : "," + typeOptions));
            }
            device = new DeviceSpec(DISK_TYPE, disk);
        } else if (type != null) {
            device = new DeviceSpec(type, typeOptions);
        } else {
            throw new IllegalArgumentException("no device: give --disk IMAGE or --device TYPE,OPTIONS");
        }
        Path parent = socket.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("--socket " + socket + ": " + parent + " is not a directory");
        }
        return new ServeArguments(socket, device);
    }

    static String usage() {
        return "usage: serve --socket PATH (--disk IMAGE[,readonly][,serial=ID][,queues=N] "
                + "| --net tap=NAME[,mac=MAC][,queues=N][,mtu=N] | --device TYPE[,OPTIONS])";
    }
}
