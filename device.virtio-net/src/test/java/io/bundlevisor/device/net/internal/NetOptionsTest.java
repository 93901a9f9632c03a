package io.bundlevisor.device.net.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

class NetOptionsTest {

    @Test
    void parsesEveryOption() {
        NetOptions o = NetOptions.parse("tap=tap0,mac=02:42:AC:11:00:02,queues=4,mtu=9000");
        assertEquals(new NetOptions("tap0", 0x0242AC110002L, 4, 9000), o);
        assertEquals("02:42:ac:11:00:02", NetOptions.format(o.mac()));
        NetOptions d = NetOptions.parse("tap=t");
        assertEquals(1, d.queues());
        assertEquals(0, d.mtu());
        long mac = d.macOr("vm/virtio-net0");
        assertEquals(mac, d.macOr("vm/virtio-net0"), "stable for a name");
        assertEquals(0x02, mac >>> 40, "locally administered unicast");
    }

    @Test
    void refusalsAreOneLine() {
        for (String bad : List.of("", "mac=02:00:00:00:00:01", "tap=", "tap=sixteen-bytes-xy", "tap=a/b",
                "tap=t,tap=u", "tap=t,mac=01:00:5e:00:00:01", "tap=t,mac=00:00:00:00:00:00", "tap=t,mac=02:00:00:00:00",
                "tap=t,mac=zz:00:00:00:00:01", "tap=t,queues=0", "tap=t,queues=17", "tap=t,mtu=67", "tap=t,mtu=65536",
                "tap=t,speed=10", "tap=t,queues")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NetOptions.parse(bad), bad);
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertTrue(e.getMessage().contains("virtio-net"), e.getMessage());
        }
    }
}
