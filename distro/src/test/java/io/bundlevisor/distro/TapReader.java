package io.bundlevisor.distro;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import io.bundlevisor.uring.host.Tap;
import io.bundlevisor.uring.sys.Native;

/**
 * Reads what the host's stack sends out of a tap, for the network tests, run inside their namespace ({@code ip netns
 * exec NS java --enable-native-access=ALL-UNNAMED -cp ... io.bundlevisor.distro.TapReader TAP SECONDS}). The tap has
 * no offloads (TUNSETOFFLOAD 0), so the stack must cut a large TCP frame into segments before it gets here. Prints
 * {@code tap-reader ready}, then a line for each IPv4 TCP frame: {@code tap-reader tcp frame=N payload=N seq=N}.
 * Exits after SECONDS.
 */
public final class TapReader {

    private TapReader() {
    }

    public static void main(String[] args) throws Exception {
        Tap tap = Tap.open(args[0], 1);
        tap.setOffload(0);
        long seconds = Long.parseLong(args[1]);
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(seconds * 1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.out.flush();
            Runtime.getRuntime().halt(0);
        });
        System.out.println("tap-reader ready");
        System.out.flush();
        ValueLayout.OfShort be16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
        ValueLayout.OfInt be32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(70_000);
            while (true) {
                long n = Native.read(tap.fd(0), buffer, buffer.byteSize());
                if (n < 0) {
                    System.out.println("tap-reader read failed: " + n);
                    return;
                }
                long frame = n - Tap.VNET_HDR_SIZE;
                MemorySegment f = buffer.asSlice(Tap.VNET_HDR_SIZE, frame);
                if (frame < 54 || Short.toUnsignedInt(f.get(be16, 12)) != 0x0800 || f.get(ValueLayout.JAVA_BYTE, 23) != 6) {
                    continue;
                }
                int ihl = (f.get(ValueLayout.JAVA_BYTE, 14) & 15) * 4;
                int total = Short.toUnsignedInt(f.get(be16, 16));
                int tcp = 14 + ihl;
                int doff = ((f.get(ValueLayout.JAVA_BYTE, tcp + 12) & 0xff) >> 4) * 4;
                System.out.println("tap-reader tcp frame=" + frame + " payload=" + (total - ihl - doff) + " seq="
                        + Integer.toUnsignedString(f.get(be32, tcp + 4)));
                System.out.flush();
            }
        }
    }
}
