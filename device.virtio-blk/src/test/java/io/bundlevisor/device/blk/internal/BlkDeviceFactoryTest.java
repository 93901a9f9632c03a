package io.bundlevisor.device.blk.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.bundlevisor.core.virtio.DeviceException;
import io.bundlevisor.core.virtio.VirtioDevice;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Creating devices: options, opening and locking disks, the registry behind blk:list, saved state. */
class BlkDeviceFactoryTest {

    @TempDir
    Path dir;

    private final BlkDeviceFactory factory = new BlkDeviceFactory();

    private Path image(String name, int bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, new byte[bytes]);
        return p;
    }

    private String refusal(String options) {
        DeviceException e = assertThrows(DeviceException.class, () -> factory.create(TestContexts.device(options)));
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void aDeviceDescribesItself() throws Exception {
        Path p = image("a.img", 1 << 20);
        VirtioDevice d = factory.create(new TestContexts.Device("vm", 0, 3, p.toString()));
        try {
            assertEquals(2, d.deviceId());
            assertEquals(3, d.queueCount(), "one queue per VP");
            assertEquals(256, d.maxQueueSize());
            assertEquals(60, d.configSize());
            assertEquals(2048, d.readConfig(0, 4), "capacity in sectors");
            assertEquals(3, d.readConfig(34, 2));
            assertEquals(0, d.features() & BlkSpec.F_RO);
            d.writeConfig(0, 4, 7);
            assertEquals(2048, d.readConfig(0, 4), "config writes are ignored");
        } finally {
            d.close();
        }
        VirtioDevice q = factory.create(TestContexts.device(p + ",queues=5,readonly"));
        try {
            assertEquals(5, q.queueCount());
            assertEquals(BlkSpec.F_RO, q.features() & BlkSpec.F_RO);
        } finally {
            q.close();
        }
    }

    /**
     * PATCH /drives: another image under the running device. The capacity follows the new image, the new image is
     * locked and the old one's lock released; what the driver negotiated (read-only, serial, queues) cannot change,
     * and a refusal leaves the old image in place.
     */
    @Test
    void anUpdateSwapsTheImageAndItsLockButNothingTheDriverNegotiated() throws Exception {
        Path first = image("first.img", 4096);
        Path second = image("second.img", 1 << 20);
        VirtioDevice d = factory.create(TestContexts.device(first + ",serial=disk0"));
        try {
            assertEquals(8, d.readConfig(0, 4));
            String refused = assertThrows(DeviceException.class,
                    () -> d.update("path=" + second + ",serial=disk0,ro")).getMessage();
            assertEquals("a disk cannot become read-only under a running guest (the driver negotiated it)", refused);
            assertTrue(assertThrows(DeviceException.class, () -> d.update("path=" + second + ",serial=other"))
                    .getMessage().startsWith("the serial cannot change"));
            assertTrue(assertThrows(DeviceException.class, () -> d.update("path=" + second + ",serial=disk0,queues=4"))
                    .getMessage().startsWith("the queue count cannot change"));
            assertEquals("disk " + dir.resolve("gone.img") + " does not exist", assertThrows(DeviceException.class,
                    () -> d.update("path=" + dir.resolve("gone.img") + ",serial=disk0")).getMessage());
            assertEquals(8, d.readConfig(0, 4), "refusals change nothing");
            assertTrue(assertThrows(DeviceException.class, () -> factory.create(TestContexts.device(first.toString())))
                    .getMessage().contains("locked"), "the first image is still held");

            d.update("path=" + second + ",serial=disk0");
            assertEquals(2048, d.readConfig(0, 4), "the new capacity");
            VirtioDevice again = factory.create(TestContexts.device(first.toString()));
            again.close(); // the old image's lock was released
            assertTrue(assertThrows(DeviceException.class, () -> factory.create(TestContexts.device(second.toString())))
                    .getMessage().contains("locked"), "the new image is held");
            assertEquals(List.of(second.toAbsolutePath().normalize()),
                    factory.devices().stream().map(b -> b.disk().path()).toList());
        } finally {
            d.close();
        }
    }

    @Test
    void badOptionsAndMissingDisksAreOneLineRefusals() throws Exception {
        assertEquals("unknown virtio-blk option 'fast': " + BlkOptions.USAGE, refusal(image("o.img", 512) + ",fast"));
        Path none = dir.resolve("none.img");
        assertEquals("disk " + none + " does not exist", refusal(none.toString()));
        assertEquals("disk " + dir + " is not a regular file or a block device", refusal(dir + ",readonly"));
        assertEquals("disk " + dir + " is a directory", refusal(dir.toString()));
        assertEquals("disk /dev/null is not a regular file or a block device", refusal("/dev/null"));
    }

    @Test
    void aSecondWriterIsRefusedReadersShare() throws Exception {
        Path p = image("l.img", 4096);
        VirtioDevice first = factory.create(TestContexts.device(p.toString()));
        try {
            assertEquals("disk " + p + " is locked by another process or VM", refusal(p.toString()));
            assertEquals("disk " + p + " is locked by another process or VM", refusal(p + ",readonly"));
        } finally {
            first.close();
        }
        VirtioDevice again = factory.create(TestContexts.device(p.toString()));
        again.close(); // closing released the lock
        VirtioDevice r1 = factory.create(TestContexts.device(p + ",readonly"));
        VirtioDevice r2 = factory.create(TestContexts.device(p + ",readonly"));
        try {
            assertTrue(refusal(p.toString()).endsWith("is locked by another process or VM"));
        } finally {
            r1.close();
            r2.close();
        }
    }

    /** lock=shared: the two back-ends of a live migration write one image; any other writer is still refused. */
    @Test
    void sharedLockWritersShareAndExcludeOrdinaryWriters() throws Exception {
        Path p = image("m.img", 4096);
        VirtioDevice source = factory.create(TestContexts.device(p + ",lock=shared"));
        VirtioDevice destination = factory.create(TestContexts.device(p + ",lock=shared"));
        try {
            assertTrue(refusal(p.toString()).endsWith("is locked by another process or VM"));
        } finally {
            source.close();
            destination.close();
        }
        VirtioDevice writer = factory.create(TestContexts.device(p.toString()));
        try {
            assertTrue(refusal(p + ",lock=shared").endsWith("is locked by another process or VM"));
        } finally {
            writer.close();
        }
    }

    @Test
    void theTailPastTheLastSectorIsNotVisible() throws Exception {
        VirtioDevice d = factory.create(TestContexts.device(image("t.img", 3 * 512 + 100).toString()));
        try {
            assertEquals(3, d.readConfig(0, 4));
        } finally {
            d.close();
        }
    }

    @Test
    void listShowsOpenDevicesAndForgetsClosedOnes() throws Exception {
        Path p = image("list.img", 4 << 20);
        BlkCommands commands = new BlkCommands(factory);
        VirtioDevice d = factory.create(new TestContexts.Device("web", 1, 1, p + ",readonly"));
        String[] lines = commands.list().split(System.lineSeparator());
        assertEquals(2, lines.length, commands.list());
        assertTrue(lines[0].startsWith("DEVICE"), lines[0]);
        assertTrue(lines[1].startsWith("web/virtio-blk1 "), lines[1]);
        assertTrue(lines[1].contains(p.toString()) && lines[1].contains(" 4096K ") && lines[1].contains(" ro "),
                lines[1]);
        d.close();
        d.close(); // idempotent
        assertEquals(List.of(), factory.devices());
        assertEquals(1, commands.list().split(System.lineSeparator()).length);
    }

    @Test
    void byteUnits() {
        assertEquals("512", BlkCommands.bytes(512));
        assertEquals("10239", BlkCommands.bytes(10239));
        assertEquals("10K", BlkCommands.bytes(10240));
        assertEquals("4096K", BlkCommands.bytes(4 << 20));
        assertEquals("10M", BlkCommands.bytes(10L << 20));
        assertEquals("20G", BlkCommands.bytes(20L << 30));
    }

    @Test
    void savedStateRestoresOnlyOntoTheSameDisk() throws Exception {
        Path a = image("s1.img", 8192);
        Path b = image("s2.img", 8192);
        VirtioDevice da = factory.create(TestContexts.device(a.toString()));
        VirtioDevice db = factory.create(TestContexts.device(b.toString()));
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            da.saveState(new DataOutputStream(bytes));
            da.restoreState(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            IOException e = assertThrows(IOException.class,
                    () -> db.restoreState(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()))));
            assertEquals("the saved virtio-blk state is for " + a + " (16 sectors, read-write, 2 queues), not " + b
                    + " (16 sectors, read-write, 2 queues)", e.getMessage());
            IOException garbage = assertThrows(IOException.class,
                    () -> da.restoreState(new DataInputStream(new ByteArrayInputStream(new byte[16]))));
            assertEquals("not a virtio-blk saved state (magic 0x0)", garbage.getMessage());
        } finally {
            da.close();
            db.close();
        }
    }

    @Test
    void aDiskThatGrewIsNotTheSavedOne() throws Exception {
        Path a = image("g.img", 8192);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        VirtioDevice before = factory.create(TestContexts.device(a.toString()));
        before.saveState(new DataOutputStream(bytes));
        before.close();
        Files.write(a, new byte[16384]);
        VirtioDevice after = factory.create(TestContexts.device(a.toString()));
        try {
            IOException e = assertThrows(IOException.class,
                    () -> after.restoreState(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()))));
            assertTrue(e.getMessage().contains("16 sectors") && e.getMessage().contains("32 sectors"), e.getMessage());
        } finally {
            after.close();
        }
    }
}
