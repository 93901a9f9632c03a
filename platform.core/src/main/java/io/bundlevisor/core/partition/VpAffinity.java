package io.bundlevisor.core.partition;

import java.util.BitSet;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The host CPUs each VP's thread is pinned to (since 1.6); a VP not named runs wherever the host schedules it, as
 * every VP does with {@link #none()}. The VP thread pins itself as it starts, before it is confined, and the
 * partition reports the set to its {@link io.bundlevisor.core.task.VpGroup}, so that drivers built with
 * {@code runOnTarget} run next to it. Immutable: sets go in and out as copies.
 *
 * <p>Written {@code VP=CPUS[,VP=CPUS...]}, {@code CPUS} a Linux CPU list ({@code 0-3,6}, as {@code taskset -c}
 * and {@code Cpus_allowed_list} write it): an item with {@code =} starts a VP, an item without one adds CPUs to the
 * VP before it, so {@code 0=0-1,4,1=2} pins VP 0 to CPUs 0, 1 and 4 and VP 1 to CPU 2.
 */
public final class VpAffinity {

    /** The syntax, for messages. */
    public static final String USAGE = "VP=CPUS[,VP=CPUS...], e.g. 0=0-1,1=2";
    /** The highest CPU number a set may name: the largest {@code NR_CPUS} of x86_64 Linux (MAXSMP), less one. */
    public static final int MAX_CPU = 8191;

    private static final VpAffinity NONE = new VpAffinity(new TreeMap<>());

    private final SortedMap<Integer, BitSet> cpus;

    private VpAffinity(SortedMap<Integer, BitSet> cpus) {
        this.cpus = cpus;
    }

    /** No VP pinned. */
    public static VpAffinity none() {
        return NONE;
    }

    /**
     * The VPs of {@code cpus} pinned to their sets (copied).
     *
     * @throws IllegalArgumentException for a negative VP, an empty set or a CPU above {@link #MAX_CPU}
     */
    public static VpAffinity of(Map<Integer, BitSet> cpus) {
        SortedMap<Integer, BitSet> copy = new TreeMap<>();
        cpus.forEach((vp, set) -> {
            if (vp == null || vp < 0) {
                throw new IllegalArgumentException("VP index must be >= 0, not " + vp);
            }
            if (set == null || set.isEmpty()) {
                throw new IllegalArgumentException("VP " + vp + " needs at least one CPU");
            }
            if (set.length() - 1 > MAX_CPU) {
                throw new IllegalArgumentException("CPU " + (set.length() - 1) + " is above " + MAX_CPU);
            }
            copy.put(vp, (BitSet) set.clone());
        });
        return copy.isEmpty() ? NONE : new VpAffinity(copy);
    }

    /**
     * Parses {@code VP=CPUS[,VP=CPUS...]} (see the class comment), checking the syntax, that no VP is named twice
     * and no CPU twice for one VP. Whether the VPs and CPUs exist is {@link #check}'s work.
     *
     * @throws IllegalArgumentException with one line naming {@code --vp-affinity}
     */
    public static VpAffinity parse(String text) {
        String t = text.strip();
        if (!t.split(",", 2)[0].contains("=")) {
            throw new IllegalArgumentException("--vp-affinity needs " + USAGE + ", not '"
                    + MachineConfig.printable(text) + "'");
        }
        SortedMap<Integer, BitSet> sets = new TreeMap<>();
        int vp = -1;
        for (String item : t.split(",", -1)) {
            item = item.strip();
            int eq = item.indexOf('=');
            if (eq >= 0) {
                vp = number(item.substring(0, eq), "VP", text);
                if (sets.containsKey(vp)) {
                    throw new IllegalArgumentException("--vp-affinity names VP " + vp + " twice");
                }
                sets.put(vp, new BitSet());
                item = item.substring(eq + 1).strip();
            }
            addRange(sets.get(vp), vp, item, text);
        }
        return new VpAffinity(sets);
    }

    /** One CPU or a range {@code N-M} into {@code set}. */
    private static void addRange(BitSet set, int vp, String item, String text) {
        int dash = item.indexOf('-');
        int from = number(dash < 0 ? item : item.substring(0, dash), "CPU", text);
        int to = dash < 0 ? from : number(item.substring(dash + 1), "CPU", text);
        if (to < from) {
            throw new IllegalArgumentException("--vp-affinity: the CPU range " + from + "-" + to + " runs backwards");
        }
        if (to > MAX_CPU) {
            throw new IllegalArgumentException("--vp-affinity: CPU " + to + " is above " + MAX_CPU);
        }
        int twice = set.get(from, to + 1).nextSetBit(0);
        if (twice >= 0) {
            throw new IllegalArgumentException("--vp-affinity lists CPU " + (from + twice) + " twice for VP " + vp);
        }
        set.set(from, to + 1);
    }

    private static int number(String digits, String what, String text) {
        String d = digits.strip();
        if (d.isEmpty() || d.length() > 5 || !d.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("--vp-affinity: " + (d.isEmpty() ? "a " + what + " is missing"
                    : what + " '" + MachineConfig.printable(d) + "' is not a number") + " in '"
                    + MachineConfig.printable(text) + "' (" + USAGE + ")");
        }
        return Integer.parseInt(d);
    }

    /**
     * Refuses VPs the machine does not have and CPUs the host does not have.
     *
     * @param vpCount  the machine's VPs
     * @param hostCpus CPUs {@code 0..hostCpus-1} exist
     * @throws IllegalArgumentException with one line naming {@code --vp-affinity}
     */
    public void check(int vpCount, int hostCpus) {
        for (Map.Entry<Integer, BitSet> e : cpus.entrySet()) {
            if (e.getKey() >= vpCount) {
                throw new IllegalArgumentException("--vp-affinity names VP " + e.getKey() + ", but the machine has VPs 0.."
                        + (vpCount - 1));
            }
            int highest = e.getValue().length() - 1;
            if (highest >= hostCpus) {
                throw new IllegalArgumentException("--vp-affinity pins VP " + e.getKey() + " to CPU " + highest
                        + ", but this host has CPUs 0.." + (hostCpus - 1));
            }
        }
    }

    /** VP {@code vp}'s CPUs (a copy), or empty when it is not pinned. */
    public Optional<BitSet> cpus(int vp) {
        BitSet set = cpus.get(vp);
        return set == null ? Optional.empty() : Optional.of((BitSet) set.clone());
    }

    /** The pinned VPs, in order. */
    public java.util.Set<Integer> vps() {
        return Collections.unmodifiableSet(cpus.keySet());
    }

    /** Whether no VP is pinned. */
    public boolean isEmpty() {
        return cpus.isEmpty();
    }

    /** {@code VP=CPUS[,VP=CPUS...]}, which {@link #parse} reads back; empty for {@link #none()}. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        cpus.forEach((vp, set) -> {
            if (!b.isEmpty()) {
                b.append(',');
            }
            b.append(vp).append('=');
            int first = b.length();
            for (int start = set.nextSetBit(0); start >= 0; start = set.nextSetBit(start)) {
                int end = set.nextClearBit(start) - 1;
                b.append(b.length() > first ? "," : "").append(start).append(end > start ? "-" + end : "");
                start = end + 1;
            }
        });
        return b.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VpAffinity a && a.cpus.equals(cpus);
    }

    @Override
    public int hashCode() {
        return cpus.hashCode();
    }
}
