package io.bundlevisor.uring.sys;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * The tun/tap driver's ioctls and {@code struct ifreq} (x86_64 and aarch64 share every value here): requests and
 * flags from {@code include/uapi/linux/if_tun.h}, interface ioctls from {@code include/uapi/linux/sockios.h}, the
 * layout from {@code include/uapi/linux/if.h}. Offsets are checked at class load.
 */
public final class TunLayout {

    // _IOW('T', n, int) = 0x40000000 | 4 << 16 | 'T' << 8 | n; _IOR = 0x80000000 | ...
    public static final long TUNSETIFF = 0x400454caL;
    public static final long TUNSETOFFLOAD = 0x400454d0L;
    public static final long TUNGETIFF = 0x800454d2L;
    public static final long TUNSETVNETHDRSZ = 0x400454d8L;
    public static final long TUNSETQUEUE = 0x400454d9L;

    public static final short IFF_TAP = 0x0002;
    public static final short IFF_MULTI_QUEUE = 0x0100;
    public static final short IFF_ATTACH_QUEUE = 0x0200;
    public static final short IFF_DETACH_QUEUE = 0x0400;
    public static final short IFF_NO_PI = 0x1000;
    public static final short IFF_VNET_HDR = 0x4000;
    /** {@code IFF_PERSIST}: the device outlives its last descriptor (made with {@code ip tuntap add}). */
    public static final short IFF_PERSIST = 0x0800;

    /** TUNSETOFFLOAD bits ({@code TUN_F_*}): what the host stack may hand the tap unfinished. */
    public static final int TUN_F_CSUM = 0x01;
    public static final int TUN_F_TSO4 = 0x02;
    public static final int TUN_F_TSO6 = 0x04;
    public static final int TUN_F_TSO_ECN = 0x08;

    // <linux/sockios.h>
    public static final long SIOCGIFFLAGS = 0x8913;
    public static final long SIOCSIFFLAGS = 0x8914;
    public static final long SIOCGIFMTU = 0x8921;
    public static final long SIOCSIFMTU = 0x8922;
    /** {@code IFF_UP} in {@code ifr_flags} ({@code include/uapi/linux/if.h}, {@code net_device_flags}). */
    public static final short IFF_UP = 0x1;
    /** {@code IFF_RUNNING}: the carrier is up (for a tap: a queue is attached). */
    public static final short IFF_RUNNING = 0x40;

    /** {@code IFNAMSIZ}: 16 bytes, the name's NUL included. */
    public static final int IFNAMSIZ = 16;

    /** {@code struct ifreq}: the name, then a union of which we use {@code ifr_flags} (short) and {@code ifr_mtu}. */
    public static final StructLayout IFREQ = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(IFNAMSIZ, JAVA_BYTE).withName("ifr_name"),
            MemoryLayout.unionLayout(JAVA_SHORT.withName("ifr_flags"), JAVA_INT.withName("ifr_mtu"),
                    MemoryLayout.sequenceLayout(24, JAVA_BYTE).withName("ifr_ifru")).withName("u"));
    public static final long IFR_NAME = 0;
    public static final long IFR_FLAGS = 16;
    public static final long IFR_MTU = 16;

    static {
        check(IFREQ.byteSize() == 40, "sizeof(struct ifreq) is 40");
        check(IFREQ.byteOffset(MemoryLayout.PathElement.groupElement("u")) == IFR_FLAGS, "ifr_ifru at 16");
    }

    private TunLayout() {
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new ExceptionInInitializerError("if.h layout: " + what);
        }
    }
}
