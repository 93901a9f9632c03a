import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The crash-consistency check of the blk guest's journal (blk.mode=journal, platform.kvm/src/guest/blk_journal.c):
 * reads the image after the platform was killed and says whether it holds every write the guest saw flushed.
 * bench/crash-bench.sh and distro's CrashConsistencyIT both run it, source-launched:
 *
 * <pre>
 *   java bench/java/JournalCheck.java IMAGE CONSOLE_LOG...
 * </pre>
 *
 * <p>The logs are the guest's consoles of every run on this image, oldest first. The highest record that a complete
 * line {@code BLK-FLUSHED k} (or {@code BLK-JOURNAL-START max=k}) names is the flushed point {@code k}: the guest
 * printed it only after the device completed the FLUSH that covers it. A line the guest could not finish before the
 * kill does not count, and a line printed but not yet read when the host chose to kill counts: either way every line
 * names a flush that did complete, so relying on the lines alone is sound, whatever the console's lag.
 *
 * <p>What a crash may leave (virtio 1.2, 5.2.6.2): a write is volatile when submitted, and the sectors it covers are
 * undefined in the backing storage until it becomes stable, which it does once it completed and a FLUSH sent after
 * that completed. The guest keeps at most one batch (1..{@value #BATCH_MAX} records) unflushed, so the image must
 * match, for some F &ge; k (the last flush that completed, perhaps after the last line read):
 * <ul>
 * <li>every slot whose record would be in (F, F + {@value #BATCH_MAX}] (the one batch that may have been in flight)
 * may hold anything: its previous record, the new one, or torn data;</li>
 * <li>every other slot holds, intact, the highest record &le; F that belongs to it (blank if there is none yet).</li>
 * </ul>
 * In particular every record of (k - {@value #SLOTS}, k] is present and intact, or was overwritten by a later one,
 * and a torn slot belongs to a write after k. A record lost, torn, stale or misplaced anywhere else, or a flushed
 * point past the highest intact record, is refused. Exit status 0: consistent; 1: not (or the guest failed); 2: usage.
 */
public final class JournalCheck {

    // The layout of blk_journal.c.
    static final long FIRST_SECTOR = 8;
    static final int SLOTS = 256;
    static final int RECORD = 4096;
    static final int WORDS = RECORD / 8;
    static final int BATCH_MAX = 8;
    static final long MAGIC = 0x4C4E52554F4A5642L;
    private static final long FNV_OFFSET = 0xCBF29CE484222325L, FNV_PRIME = 0x100000001B3L;
    private static final Pattern FLUSHED = Pattern.compile("BLK-FLUSHED (\\d+)");
    private static final Pattern START = Pattern.compile("BLK-JOURNAL-START max=(\\d+)\\b.*");
    private static final int SHOWN = 10;

    /** What one slot holds: an intact record ({@code record > 0}), nothing (all zero), or something else. */
    record Slot(int index, long record, boolean blank, String describe) {
    }

    /** The answer: consistent or not, with the lines that say why. */
    record Verdict(boolean consistent, List<String> lines) {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: java JournalCheck.java IMAGE CONSOLE_LOG...");
            System.exit(2);
        }
        Path image = Path.of(args[0]);
        long flushed = 0;
        for (int i = 1; i < args.length; i++) {
            String console = Files.readString(Path.of(args[i]), StandardCharsets.ISO_8859_1);
            for (String line : completeLines(console)) {
                if (line.startsWith("BLK-FAIL")) {
                    System.out.println("journal-check: " + image + ": the guest failed (" + args[i] + "): " + line);
                    System.exit(1);
                }
            }
            flushed = Math.max(flushed, flushedPoint(console));
        }
        Verdict v = check(read(image), flushed);
        System.out.println("journal-check: " + image + ": " + String.join("\n  ", v.lines()));
        System.exit(v.consistent() ? 0 : 1);
    }

    /** The lines of a console that ended with a newline (the last one may have been cut by the kill). */
    static List<String> completeLines(String console) {
        int end = console.lastIndexOf('\n');
        if (end < 0) {
            return List.of();
        }
        return console.substring(0, end).lines().map(l -> l.endsWith("\r") ? l.substring(0, l.length() - 1) : l)
                .toList();
    }

    /** The highest record a complete line says was flushed, 0 if none. */
    static long flushedPoint(String console) {
        long k = 0;
        for (String line : completeLines(console)) {
            Matcher f = FLUSHED.matcher(line);
            Matcher s = START.matcher(line);
            if (f.matches()) {
                k = Math.max(k, Long.parseLong(f.group(1)));
            } else if (s.matches()) {
                k = Math.max(k, Long.parseLong(s.group(1)));
            }
        }
        return k;
    }

    /** Every slot of the journal in the image. */
    static List<Slot> read(Path image) throws IOException {
        List<Slot> slots = new ArrayList<>(SLOTS);
        ByteBuffer b = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(image)) {
            long need = (FIRST_SECTOR + (long) SLOTS * (RECORD / 512)) * 512;
            if (ch.size() < need) {
                throw new IOException(image + " has " + ch.size() + " bytes, the journal needs " + need);
            }
            for (int s = 0; s < SLOTS; s++) {
                b.clear();
                long at = offset(s);
                while (b.hasRemaining()) {
                    if (ch.read(b, at + b.position()) < 0) {
                        throw new IOException(image + " ended inside slot " + s);
                    }
                }
                long[] w = new long[WORDS];
                b.flip().asLongBuffer().get(w);
                slots.add(classify(s, w));
            }
        }
        return slots;
    }

    static long offset(int slot) {
        return (FIRST_SECTOR + (long) slot * (RECORD / 512)) * 512;
    }

    static long word(long k, int i) {
        return k * 0x9E3779B97F4A7C15L ^ i * 0xBF58476D1CE4E5B9L;
    }

    /** FNV-1a over whole words, every word but the checksum's own (word 2). */
    static long checksum(long[] w) {
        long h = FNV_OFFSET;
        for (int i = 0; i < WORDS; i++) {
            if (i != 2) {
                h = (h ^ w[i]) * FNV_PRIME;
            }
        }
        return h;
    }

    static Slot classify(int s, long[] w) {
        boolean blank = true;
        for (long x : w) {
            blank &= x == 0;
        }
        if (blank) {
            return new Slot(s, 0, true, "nothing (zeros)");
        }
        long k = w[1];
        if (w[0] != MAGIC) {
            return new Slot(s, 0, false, "no record (magic 0x" + Long.toHexString(w[0]) + ")");
        }
        boolean sums = w[2] == checksum(w), numbered = w[3] == ~k && k > 0;
        int badWords = 0, firstBad = -1;
        for (int i = 4; i < WORDS; i++) {
            if (w[i] != word(k, i)) {
                badWords++;
                firstBad = firstBad < 0 ? i : firstBad;
            }
        }
        if (!sums || !numbered || badWords > 0) {
            return new Slot(s, 0, false, "a torn record numbered " + Long.toUnsignedString(k) + " (checksum "
                    + (sums ? "ok" : "wrong") + (numbered ? "" : ", number and complement disagree") + ", "
                    + badWords + " payload words wrong" + (firstBad < 0 ? "" : ", the first at byte " + firstBad * 8)
                    + ")");
        }
        if (Long.remainderUnsigned(k, SLOTS) != s) {
            return new Slot(s, 0, false, "record " + k + ", which belongs in slot " + Long.remainderUnsigned(k, SLOTS));
        }
        return new Slot(s, k, false, "record " + k);
    }

    /** Whether the image can be the journal after a crash at some F &ge; flushed (see the class comment). */
    static Verdict check(List<Slot> slots, long flushed) {
        long highest = slots.stream().mapToLong(Slot::record).max().orElse(0);
        String head = "flushed k=" + flushed + " (console), highest intact record M=" + highest;
        // F's own slot must hold F, so F <= M; and anything past F + BATCH_MAX was never submitted, so F >= M - 8.
        List<String> fewest = null;
        long fewestAt = flushed;
        for (long f = highest; f >= Math.max(flushed, highest - BATCH_MAX); f--) {
            List<String> wrong = violations(slots, f);
            if (wrong.isEmpty()) {
                return new Verdict(true, List.of("consistent: " + head + "; whole up to record F=" + f + " (F >= k)"
                        + unflushed(slots, f)));
            }
            if (fewest == null || wrong.size() < fewest.size()) {
                fewest = wrong;
                fewestAt = f;
            }
        }
        if (fewest == null) {
            fewest = violations(slots, flushed);
        }
        List<String> lines = new ArrayList<>();
        lines.add("INCONSISTENT: " + head + (highest < flushed ? ": the flushed record " + flushed + " is not intact"
                : "") + "; " + fewest.size() + " slot(s) wrong for F=" + fewestAt
                + (highest > flushed + BATCH_MAX ? " (the best of F=" + Math.max(flushed, highest - BATCH_MAX) + ".."
                        + highest + ")" : ""));
        lines.addAll(fewest.subList(0, Math.min(SHOWN, fewest.size())));
        if (fewest.size() > SHOWN) {
            lines.add("... and " + (fewest.size() - SHOWN) + " more");
        }
        return new Verdict(false, lines);
    }

    /** What is wrong with the slots if F was the last completed flush. */
    static List<String> violations(List<Slot> slots, long f) {
        List<String> wrong = new ArrayList<>();
        for (Slot slot : slots) {
            if (inFlight(slot.index(), f)) {
                continue; // undefined until flushed: anything goes
            }
            long stable = stable(slot.index(), f);
            boolean ok = stable == 0 ? slot.blank() : slot.record() == stable;
            if (!ok) {
                wrong.add("slot " + slot.index() + " (byte " + offset(slot.index()) + "): " + slot.describe()
                        + ", not " + (stable == 0 ? "nothing (no record of it was written up to " + f + ")"
                                : "record " + stable + " (flushed: <= " + f + ")"));
            }
        }
        return wrong;
    }

    /** The highest record &le; f that belongs in slot s, 0 if none (records start at 1). */
    static long stable(int s, long f) {
        long j = f - Math.floorMod(f - s, SLOTS);
        return j >= 1 ? j : 0;
    }

    /** Whether slot s gets a record of (f, f + BATCH_MAX], the one batch that may have been in flight. */
    static boolean inFlight(int s, long f) {
        long next = f + 1 + Math.floorMod(s - (f + 1), SLOTS);
        return next <= f + BATCH_MAX;
    }

    /** What the slots of the unflushed batch hold: the new record, the old one, or torn data. */
    private static String unflushed(List<Slot> slots, long f) {
        int landed = 0, old = 0, torn = 0;
        for (Slot slot : slots) {
            if (!inFlight(slot.index(), f)) {
                continue;
            }
            long next = f + 1 + Math.floorMod(slot.index() - (f + 1), SLOTS);
            long stable = stable(slot.index(), f);
            if (slot.record() == next) {
                landed++;
            } else if (stable == 0 ? slot.blank() : slot.record() == stable) {
                old++;
            } else {
                torn++;
            }
        }
        return "; slots of the unflushed batch after F: " + landed + " new, " + old + " old, " + torn + " other";
    }
}
