package io.bundlevisor.core.partition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;

import org.junit.jupiter.api.Test;

class DeviceOptionsTest {

    private static final String USAGE = "PATH[,ro][,serial=ID]";

    private static DeviceOptions parse(String text) {
        return DeviceOptions.parse("dev", text, USAGE);
    }

    @Test
    void positionalKeyedFlagsAndTheCommaEscape() {
        DeviceOptions o = parse("a,,b.img,ro,serial=x=y");
        assertEquals("a,b.img", o.positionalOr("path", Set.of("ro")));
        assertTrue(o.flag("readonly", "ro"));
        assertEquals("x=y", o.value("serial"), "only the first '=' splits");
        assertNull(o.value("queues"));
        o.done();

        o = parse("ro,path=c.img");
        assertEquals("c.img", o.positionalOr("path", Set.of("ro")), "a flag first is not the positional value");
        assertTrue(o.flag("readonly", "ro"));
        o.done();

        for (String off : new String[] {"off", "no", "false"}) {
            DeviceOptions f = parse("readonly=" + off);
            assertFalse(f.flag("readonly", "ro"), off);
        }
        assertFalse(parse("").flag("readonly"));
        assertEquals("", parse("serial=").value("serial"), "an empty value is the device's to judge");
        assertEquals("p,", parse("path=p,,").value("path"), "an escaped comma at the end");
    }

    private static String refusal(Runnable r) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void mistakesAreOneLineNamingTheDeviceType() {
        assertEquals("dev options have an empty item in 'a,': " + USAGE, refusal(() -> parse("a,")));
        assertEquals("dev options have an empty item in ',a': " + USAGE, refusal(() -> parse(",a")));
        assertEquals("dev option 'serial' is given twice", refusal(() -> parse("serial=a,serial=b").value("serial")));
        assertEquals("dev option 'readonly' is given twice", refusal(() -> parse("ro,readonly").flag("readonly", "ro")));
        assertEquals("dev option 'serial' needs a value: " + USAGE, refusal(() -> parse("serial").value("serial")));
        assertEquals("dev option 'ro' must be on or off, not 'maybe'",
                refusal(() -> parse("ro=maybe").flag("readonly", "ro")));
        assertEquals("dev has both 'a' and path=b: " + USAGE,
                refusal(() -> parse("a,path=b").positionalOr("path", Set.of())));
        DeviceOptions left = parse("a,speed=10");
        left.positionalOr("path", Set.of());
        assertEquals("unknown dev option 'speed=10': " + USAGE, refusal(left::done));
    }
}
