package io.bundlevisor.device.blk.guest;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.virtio.VirtioBinding;
import io.bundlevisor.device.blk.internal.BlkCommands;
import io.bundlevisor.uring.sys.SyscallFilter;

/**
 * Host IO errors under virtio-blk, through our VMM and the blk test guest (blk_faults.c): the guest gets
 * VIRTIO_BLK_S_IOERR for exactly the requests the host failed and OK for the others, nothing acknowledged is lost,
 * the device and the machine keep running to a clean power-off, and {@code blk:list}'s ERRORS counts each failed
 * request once. The host fails requests two ways: faultfs (a FUSE file system of ours, src/test/c/faultfs.c) answers
 * EIO for chosen sector ranges, and a small, nearly full ext4 file system on a loop device answers ENOSPC.
 */
class BlkHostFaultTest {

    private static final int REQUEST_SECTORS = 8; // blk_faults.c: 4 KiB requests
    private static final int SECTOR = 512;
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    /**
     * faultfs fails three ranges (two whole requests, two sectors inside one, two sectors across a request
     * boundary): 5 of the 512 requests over the 2 MiB span, each written and read, so 10 IOERR. Run with the disk's
     * O_DIRECT descriptor (FUSE accepts O_DIRECT; faultfs sets direct_io on every open) and without it.
     */
    @ParameterizedTest(name = "direct={0}")
    @ValueSource(strings = {"on", "off"})
    void eioRangesFailExactlyTheirRequestsAndTheOthersReachTheImage(String direct) throws Exception {
        GuestHarness.platform();
        String bad = "64:16,1001:2,2047:2";
        long span = 4096; // sectors
        long requests = span / REQUEST_SECTORS;
        long badRequests = 0;
        for (long r = 0; r < requests; r++) {
            badRequests += overlaps(bad, r) ? 1 : 0;
        }
        assertEquals(5, badRequests);

        Path backing = sparse(dir.resolve("backing.img"), 4 * MIB);
        Path mountpoint = Files.createDirectories(dir.resolve("fuse"));
        try (FaultFs fs = FaultFs.mount(backing, mountpoint, bad)) {
            Run run = run("blk.mode=faults blk.span=" + span + " blk.bad=" + bad, fs.image() + ",direct=" + direct,
                    fs.image());
            assertTrue(run.out.contains("BLK-FAULTS-OK"), run.out);
            assertEquals(2 * (requests - badRequests), number(run.out, "BLK-FAULTS ok=(\\d+)"), run.out);
            assertEquals(2 * badRequests, number(run.out, "BLK-FAULTS ok=\\d+ ioerr=(\\d+)"), run.out);
            assertEquals(2 * badRequests, run.errors(), "blk:list's ERRORS counts each IOERR request: " + run.row);
            if (direct.equals("off")) {
                assertEquals("cached", run.row.get("IO"), run.row.toString());
            }
            System.out.println("BlkHostFaultTest: faultfs disk with direct=" + direct + ": blk:list IO column "
                    + run.row.get("IO"));

            fs.close();
            assertTrue(fs.log().contains("failed " + badRequests + " reads and " + badRequests + " writes with EIO"),
                    "exactly the guest's failing requests reached faultfs: " + fs.log());
        }
        // Through FUSE, the good requests reached the backing image; the failed ones did not.
        byte[] image = Files.readAllBytes(backing);
        for (long r = 0; r < requests; r++) {
            if (overlaps(bad, r)) {
                assertZero(image, r);
            } else {
                assertPattern(image, r);
            }
        }
    }

    /**
     * A 32 MiB sparse image on an 8 MiB ext4 file system with about 1 MiB left: the guest writes 4 MiB in order,
     * the writes that fit are acknowledged and read back, every write from the first ENOSPC on gets IOERR, the
     * flush still succeeds, and the acknowledged data is in the image.
     */
    @Test
    void aFullHostFileSystemFailsTheWritesThatDoNotFitAndKeepsTheAcknowledgedOnes() throws Exception {
        GuestHarness.platform();
        if (!Host.isRoot()) {
            System.err.println("*** SKIPPING BlkHostFaultTest ENOSPC: losetup and mount need root (.ci/run runs as"
                    + " root) ***");
        }
        Assumptions.assumeTrue(Host.isRoot(), "not root");
        long span = 8192; // 4 MiB, more than is free
        long requests = span / REQUEST_SECTORS;
        try (FullFs fs = FullFs.mount(dir, 8 * MIB)) {
            Path img = sparse(fs.root().resolve("disk.img"), 32 * MIB);
            long free = fs.fillLeaving("filler", MIB);
            assertTrue(free < span * SECTOR, "the span is larger than the free space: " + free);

            Run run = run("blk.mode=enospc blk.span=" + span, img.toString(), img);
            assertTrue(run.out.contains("BLK-ENOSPC-OK"), run.out);
            long ok = number(run.out, "BLK-ENOSPC ok=(\\d+)");
            long ioerr = number(run.out, "BLK-ENOSPC ok=\\d+ ioerr=(\\d+)");
            assertTrue(ok > 0 && ioerr > 0, run.out);
            assertEquals(requests, ok + ioerr, run.out);
            assertTrue(ok * REQUEST_SECTORS * SECTOR <= free, ok + " writes acknowledged, " + free + " bytes were free");
            assertEquals(ioerr, run.errors(), "blk:list's ERRORS counts each IOERR request: " + run.row);
            System.out.println("BlkHostFaultTest: ext4 on loop, " + free + " bytes free: ok=" + ok + " ioerr=" + ioerr
                    + ", blk:list IO column " + run.row.get("IO"));

            byte[] image = new byte[(int) (ok * REQUEST_SECTORS * SECTOR)];
            try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
                f.readFully(image);
            }
            for (long r = 0; r < ok; r++) {
                assertPattern(image, r);
            }
        }
    }

    /** The guest's console and its disk's {@code blk:list} row, read while the machine still existed. */
    private record Run(String out, Map<String, String> row) {
        long errors() {
            return Long.parseLong(row.get("ERRORS"));
        }
    }

    /**
     * Boots the blk guest on one disk, waits for its power-off (the device never needed a reset) and reads the
     * disk's row of {@code blk:list} before the machine, and with it the device, is closed.
     */
    private static Run run(String cmdline, String disk, Path image) throws Exception {
        try (GuestHarness h = GuestHarness.start(GuestHarness.config(cmdline, 1, disk))) {
            VirtioBinding binding = GuestHarness.virtio.bindings().getLast();
            HaltReason halt = h.awaitHalt();
            assertInstanceOf(HaltReason.PowerOff.class, halt, h.output());
            assertFalse(h.output().contains("BLK-FAIL"), h.output());
            assertEquals(0, binding.needsResetCount(), "the device never needed a reset: " + h.output());
            // The device's worker met the host's errors under its system-call filter (seccomp mode 2).
            Map<String, Integer> workers = new HashMap<>(SyscallFilter.threadModes());
            workers.keySet().removeIf(n -> !n.startsWith("virtio ") || n.equals("virtio handover"));
            assertFalse(workers.isEmpty(), "no worker thread: " + SyscallFilter.threadModes());
            assertEquals(Set.of(2), Set.copyOf(workers.values()), "workers confined: " + workers);
            return new Run(h.output(), blkList(image));
        }
    }

    /** The row of {@code blk:list} (the shell command's own text) for the disk at {@code image}, by column. */
    private static Map<String, String> blkList(Path image) {
        String list = new BlkCommands(GuestHarness.factory).list();
        String[] lines = list.split("\\R");
        String[] head = lines[0].strip().split("\\s+");
        String path = image.toAbsolutePath().normalize().toString();
        for (String line : lines) {
            String[] cells = line.strip().split("\\s+");
            if (cells.length == head.length && cells[1].equals(path)) {
                Map<String, String> row = new HashMap<>();
                for (int i = 0; i < head.length; i++) {
                    row.put(head[i], cells[i]);
                }
                return row;
            }
        }
        throw new AssertionError("no blk:list row for " + path + ":\n" + list);
    }

    private static Path sparse(Path file, long bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return file;
    }

    /** Whether request r overlaps one of the ranges {@code FIRST:COUNT,...}. */
    private static boolean overlaps(String ranges, long r) {
        long first = r * REQUEST_SECTORS, end = first + REQUEST_SECTORS;
        for (String range : ranges.split(",")) {
            String[] fc = range.split(":");
            long a = Long.parseLong(fc[0]), b = a + Long.parseLong(fc[1]);
            if (first < b && a < end) {
                return true;
            }
        }
        return false;
    }

    /** blk_faults.c's FAULT_WORD: word w of sector s is s << 20 | w << 8 | 0xB1, little-endian. */
    private static void assertPattern(byte[] image, long r) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (long s = r * REQUEST_SECTORS; s < (r + 1) * REQUEST_SECTORS; s++) {
            for (int w = 0; w < SECTOR / 8; w++) {
                long got = b.getLong((int) (s * SECTOR + w * 8L));
                long want = s << 20 | (long) w << 8 | 0xB1;
                if (got != want) {
                    fail("request " + r + ": sector " + s + " word " + w + " is 0x" + Long.toHexString(got)
                            + ", the guest wrote 0x" + Long.toHexString(want));
                }
            }
        }
    }

    private static void assertZero(byte[] image, long r) {
        int from = (int) (r * REQUEST_SECTORS * SECTOR);
        for (int i = from; i < from + REQUEST_SECTORS * SECTOR; i++) {
            if (image[i] != 0) {
                fail("request " + r + " failed, yet byte " + i + " of the backing image was written");
            }
        }
    }

    private static long number(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertTrue(m.find(), "no /" + regex + "/ in: " + out);
        return Long.parseLong(m.group(1));
    }
}
