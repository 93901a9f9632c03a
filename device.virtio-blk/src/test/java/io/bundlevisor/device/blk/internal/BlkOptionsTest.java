package io.bundlevisor.device.blk.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class BlkOptionsTest {

    @Test
    void aPathAloneTakesTheDefaults() {
        BlkOptions o = BlkOptions.parse("/var/lib/disk.img");
        assertEquals(Path.of("/var/lib/disk.img"), o.path());
        assertFalse(o.readOnly());
        assertEquals("", o.serial());
        assertEquals(0, o.queues());
        assertTrue(o.direct());
        assertEquals(4, o.queuesFor(4), "one queue per VP");
        assertEquals(BlkOptions.MAX_QUEUES, o.queuesFor(200), "capped");
    }

    @Test
    void everyOption() {
        BlkOptions o = BlkOptions.parse("disk with space.img,readonly,serial=BV-0001,queues=3,direct=off");
        assertEquals(Path.of("disk with space.img"), o.path());
        assertTrue(o.readOnly());
        assertEquals("BV-0001", o.serial());
        assertEquals(3, o.queuesFor(8));
        assertFalse(o.direct());
        assertTrue(BlkOptions.parse("a,direct=on").direct());
        assertTrue(BlkOptions.parse("a,lock=shared").sharedLock());
        assertFalse(BlkOptions.parse("a,lock=exclusive").sharedLock());
        assertFalse(BlkOptions.parse("a").sharedLock());
        assertEquals("virtio-blk option 'lock' must be exclusive or shared, not 'none'", refusal("a,lock=none"));
        // The shared syntax: path=, ro, readonly=on|off, and ",," for a comma in the path.
        assertEquals(new BlkOptions(Path.of("x.img"), true, "", 0, true), BlkOptions.parse("path=x.img,ro"));
        assertEquals(new BlkOptions(Path.of("x.img"), false, "", 0, true), BlkOptions.parse("x.img,readonly=off"));
        assertTrue(BlkOptions.parse("serial=s,path=x.img,readonly=on").readOnly(), "any order");
        assertEquals(Path.of("/img/a,b.raw"), BlkOptions.parse("/img/a,,b.raw,ro").path());
        assertEquals(Path.of("/img/a,b.raw"), BlkOptions.parse("path=/img/a,,b.raw").path());
        assertEquals("12345678901234567890", BlkOptions.parse("a,serial=12345678901234567890").serial());
    }

    private static String refusal(String options) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BlkOptions.parse(options));
        assertFalse(e.getMessage().contains("\n"), "one line");
        return e.getMessage();
    }

    @Test
    void mistakesAreOneLine() {
        assertEquals("virtio-blk needs a disk image: " + BlkOptions.USAGE, refusal(""));
        assertEquals("virtio-blk options have an empty item in ',readonly': " + BlkOptions.USAGE, refusal(",readonly"));
        assertEquals("virtio-blk needs a disk image: " + BlkOptions.USAGE, refusal("readonly,serial=x"));
        assertEquals("unknown virtio-blk option 'rw': " + BlkOptions.USAGE, refusal("a,rw"));
        assertEquals("virtio-blk options have an empty item in 'a,': " + BlkOptions.USAGE, refusal("a,"));
        assertEquals("virtio-blk option 'readonly' is given twice", refusal("a,readonly,readonly"));
        assertEquals("virtio-blk option 'readonly' is given twice", refusal("a,readonly,ro"));
        assertEquals("virtio-blk option 'queues' is given twice", refusal("a,queues=1,queues=2"));
        assertEquals("virtio-blk option 'readonly' must be on or off, not 'maybe'", refusal("a,readonly=maybe"));
        assertEquals("virtio-blk has both 'a' and path=b: " + BlkOptions.USAGE, refusal("a,path=b"));
        assertEquals("virtio-blk queues must be 1..16, not '0'", refusal("a,queues=0"));
        assertEquals("virtio-blk queues must be 1..16, not '17'", refusal("a,queues=17"));
        assertEquals("virtio-blk queues must be 1..16, not 'two'", refusal("a,queues=two"));
        assertEquals("virtio-blk option 'queues' needs a value: " + BlkOptions.USAGE, refusal("a,queues"));
        assertEquals("virtio-blk serial must be 1-20 characters", refusal("a,serial=123456789012345678901"));
        assertEquals("virtio-blk serial must be 1-20 characters", refusal("a,serial="));
        assertEquals("virtio-blk serial must be printable ASCII", refusal("a,serial=d\u00e9j\u00e0"));
        assertEquals("virtio-blk option 'direct' must be on or off, not 'yes'", refusal("a,direct=yes"));
        assertEquals("virtio-blk option 'direct' needs a value: " + BlkOptions.USAGE, refusal("a,direct"));
        assertTrue(refusal("a\0b").startsWith("virtio-blk path "), "a NUL in a path");
    }
}
