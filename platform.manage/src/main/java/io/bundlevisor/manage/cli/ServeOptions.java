package io.bundlevisor.manage.cli;

import java.nio.file.Files;
import java.nio.file.Path;

import io.bundlevisor.core.partition.DeviceOptions;
import io.bundlevisor.core.partition.DeviceSpec;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The options of {@code bundlevisor serve}: {@code --socket PATH} and one device, as {@code --disk OPTIONS} (a
 * virtio-blk device; {@code --device virtio-blk --disk OPTIONS} says the same), {@code --net OPTIONS} (virtio-net on
 * a tap) or {@code --device TYPE[,OPTIONS]}. Refusals are one line each.
 */
@Command(name = "serve", sortOptions = false, mixinStandardHelpOptions = true, versionProvider = Versions.class,
        usageHelpAutoWidth = true,
        description = {"Serves a device bundle's device to another VMM (QEMU) over vhost-user on a Unix socket, until "
                + "killed. The device's image or tap is held (and an image locked) from start to exit, between "
                + "front-ends too."},
        footerHeading = "%nExample:%n",
        footer = {
            "  bundlevisor serve --socket /tmp/blk.sock --disk disk.img,queues=2",
            "  qemu-system-x86_64 ... \\",
            "      -object memory-backend-memfd,id=mem,size=1G,share=on \\",
            "      -machine q35,memory-backend=mem \\",
            "      -chardev socket,id=vu,path=/tmp/blk.sock,reconnect=1 \\",
            "      -device vhost-user-blk-pci,chardev=vu,num-queues=2",
            "",
            "Exit status: 64 a usage error or a device that cannot be served (one line",
            "on stderr); otherwise it serves until it is killed."})
public final class ServeOptions {

    @Option(names = "--socket", paramLabel = "PATH", order = 1,
            description = "the Unix socket to listen on (a stale one is replaced)")
    Path socket;

    @Option(names = "--disk", paramLabel = "PATH[,OPTIONS]", order = 2,
            description = "a virtio-blk device: [path=]PATH, ro or readonly[=on|off], serial=ID, queues=N, "
                    + "direct=on|off, lock=shared (for a live migration between two back-ends on one host)")
    String disk;

    @Option(names = "--net", paramLabel = "tap=NAME[,OPTIONS]", order = 3,
            description = "a virtio-net device on a tap: tap=NAME, mac=MAC, queues=N, mtu=N")
    String net;

    @Option(names = "--device", paramLabel = "TYPE[,OPTIONS]", order = 4,
            description = "any device type an installed bundle provides")
    String device;

    /**
     * The back-end these options describe.
     *
     * @throws IllegalArgumentException with one line for a person
     */
    public ServeArguments toArguments() {
        if (socket == null) {
            throw new IllegalArgumentException("--socket PATH is required");
        }
        DeviceSpec typed = null;
        if (device != null) {
            typed = DeviceSpec.parse(device);
        }
        DeviceSpec spec;
        if (disk != null) {
            if (net != null) {
                throw new IllegalArgumentException("one device per back-end: --disk does not combine with --net");
            }
            if (typed != null && (!typed.type().equals(RunOptions.DISK_TYPE) || !typed.options().isEmpty())) {
                throw new IllegalArgumentException("--disk is a " + RunOptions.DISK_TYPE + " device; it does not "
                        + "combine with --device " + device);
            }
            spec = checked(RunOptions.DISK_TYPE, disk, "--disk");
        } else if (net != null) {
            if (typed != null) {
                throw new IllegalArgumentException("one device per back-end: --net does not combine with --device");
            }
            spec = checked(RunOptions.NET_TYPE, net, "--net");
        } else if (typed != null) {
            spec = typed;
        } else {
            throw new IllegalArgumentException("no device: give --disk IMAGE, --net tap=NAME or --device TYPE,OPTIONS");
        }
        Path parent = socket.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("--socket " + socket + ": " + parent + " is not a directory");
        }
        return new ServeArguments(socket, spec);
    }

    private static DeviceSpec checked(String type, String text, String flag) {
        if (text.isBlank()) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        DeviceOptions.parse(flag, text, "OPTIONS");
        return new DeviceSpec(type, text);
    }
}
