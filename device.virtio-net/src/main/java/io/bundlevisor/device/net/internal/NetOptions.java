package io.bundlevisor.device.net.internal;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import io.bundlevisor.core.partition.DeviceOptions;

/**
 * A network device's options, as a machine declares them in the platform's shared syntax ({@link DeviceOptions}):
 * {@code tap=NAME[,mac=MAC][,queues=N][,mtu=N]} (QEMU's and
 * Cloud Hypervisor's words: {@code queues} counts receive/transmit queue pairs).
 *
 * @param tap    the tap interface: 1 to 15 bytes of ASCII, no spaces, '/' or ':'
 * @param mac    the guest's MAC address, six bytes in a long (first byte highest); -1 when not given
 * @param queues queue pairs, 1..{@value #MAX_PAIRS} (default 1); several need a multi-queue tap
 * @param mtu    the MTU offered to the driver, 68..65535; 0 for the tap's own
 */
record NetOptions(String tap, long mac, int queues, int mtu) {

    static final int MAX_PAIRS = 16;
    static final String USAGE = "tap=NAME[,mac=MAC][,queues=N][,mtu=N]";

    /**
     * Parses the options string.
     *
     * @throws IllegalArgumentException with a one-line message
     */
    static NetOptions parse(String text) {
        DeviceOptions o = DeviceOptions.parse("virtio-net", text, USAGE);
        String tap = o.value("tap");
        String mac = o.value("mac");
        String queues = o.value("queues");
        String mtu = o.value("mtu");
        o.done();
        if (tap == null) {
            throw new IllegalArgumentException("virtio-net needs a tap interface: " + USAGE);
        }
        return new NetOptions(tapName(tap), mac == null ? -1 : mac(mac),
                queues == null ? 1 : number("queues", queues, 1, MAX_PAIRS),
                mtu == null ? 0 : number("mtu", mtu, NetSpec.MIN_MTU, NetSpec.MAX_MTU));
    }

    /**
     * The MAC to use: the one given, else a locally administered unicast address derived from {@code seed} (the
     * device's name), stable across runs of the same machine.
     */
    long macOr(String seed) {
        if (mac >= 0) {
            return mac;
        }
        int h = seed.hashCode() * 0x9E3779B1;
        // 02: locally administered, unicast (IEEE 802 bit 1 set, bit 0 clear); 42 is our 'B'.
        return 0x0242L << 32 | (h & 0xFFFFFFFFL);
    }

    static String format(long mac) {
        StringBuilder b = new StringBuilder(17);
        for (int i = 5; i >= 0; i--) {
            b.append(HexFormat.of().toHexDigits((byte) (mac >>> (8 * i))));
            if (i > 0) {
                b.append(':');
            }
        }
        return b.toString();
    }

    private static String tapName(String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > 15) {
            throw new IllegalArgumentException("virtio-net tap name must be 1-15 bytes, not " + bytes.length
                    + " ('" + value + "')");
        }
        for (byte b : bytes) {
            if (b <= ' ' || b == '/' || b == ':' || b >= 0x7f) {
                throw new IllegalArgumentException("virtio-net tap name '" + value
                        + "' has a space, '/', ':' or a non-ASCII character");
            }
        }
        return value;
    }

    private static long mac(String value) {
        String[] bytes = value.split(":", -1);
        long mac = 0;
        boolean ok = bytes.length == 6;
        for (int i = 0; ok && i < 6; i++) {
            ok = bytes[i].length() == 2 && HexFormat.isHexDigit(bytes[i].charAt(0))
                    && HexFormat.isHexDigit(bytes[i].charAt(1));
            if (ok) {
                mac = mac << 8 | HexFormat.fromHexDigits(bytes[i]);
            }
        }
        if (!ok) {
            throw new IllegalArgumentException("virtio-net mac '" + value + "' is not six hex bytes like "
                    + "02:42:ac:11:00:02");
        }
        if ((mac >>> 40 & 1) != 0 || mac == 0) {
            throw new IllegalArgumentException("virtio-net mac " + value + " is "
                    + (mac == 0 ? "all zeros" : "a multicast address") + "; a NIC needs a unicast one");
        }
        return mac;
    }

    private static int number(String key, String value, int min, int max) {
        int n;
        try {
            n = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            n = min - 1;
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException("virtio-net " + key + " must be " + min + ".." + max + ", not '" + value
                    + "'");
        }
        return n;
    }
}
