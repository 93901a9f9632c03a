package io.bundlevisor.kvm.internal.machine;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

import io.bundlevisor.core.partition.IoHandler;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One address space of guest accesses (ports or MMIO): non-overlapping claimed ranges looked up by binary search
 * in an immutable array that is swapped on change, so VP threads read it without a lock. An access that no range
 * claims reads all ones and its write is dropped, with a rate-limited debug line (a guest probing for hardware is
 * normal, and must not flood the log).
 */
public final class IoBus {

    private static final Logger LOG = LoggerFactory.getLogger(IoBus.class);
    private static final long LOG_INTERVAL_NANOS = 1_000_000_000L;

    private record Range(long base, long length, IoHandler handler) {
        long end() {
            return base + length;
        }
    }

    private final String name;
    private final long limit;
    private volatile Range[] ranges = new Range[0];
    private final AtomicLong unclaimed = new AtomicLong();
    private volatile long lastLog;

    /** A bus named for logs whose addresses lie in {@code [0, limit)}. */
    public IoBus(String name, long limit) {
        this.name = name;
        this.limit = limit;
    }

    /**
     * Claims {@code [base, base + length)} for {@code handler}; closing the result releases it.
     *
     * @throws IllegalArgumentException if the range is empty, outside the bus, or overlaps a claimed range
     */
    public synchronized AutoCloseable claim(long base, long length, IoHandler handler) {
        if (length <= 0 || base < 0 || base > limit - length) {
            throw new IllegalArgumentException(name + " range 0x" + Long.toHexString(base) + "+" + length
                    + " is outside 0.." + "0x" + Long.toHexString(limit));
        }
        Range[] old = ranges;
        for (Range r : old) {
            if (base < r.end() && r.base < base + length) {
                throw new IllegalArgumentException(name + " range 0x" + Long.toHexString(base) + "+" + length
                        + " overlaps the claimed 0x" + Long.toHexString(r.base) + "+" + r.length);
            }
        }
        Range added = new Range(base, length, handler);
        Range[] next = Arrays.copyOf(old, old.length + 1);
        next[old.length] = added;
        Arrays.sort(next, (a, b) -> Long.compare(a.base, b.base));
        ranges = next;
        return () -> release(added);
    }

    private synchronized void release(Range range) {
        ranges = Arrays.stream(ranges).filter(r -> r != range).toArray(Range[]::new);
    }

    /** A guest read of {@code size} bytes at {@code address}: the claiming handler's answer, else all ones. */
    public long read(long address, int size) {
        Range r = find(address, size);
        if (r == null) {
            unclaimed(address, size, "read", 0);
            return -1L;
        }
        return r.handler.read(address - r.base, size);
    }

    /** A guest write; dropped when unclaimed. */
    public void write(long address, int size, long value) {
        Range r = find(address, size);
        if (r == null) {
            unclaimed(address, size, "write", value);
            return;
        }
        r.handler.write(address - r.base, size, value);
    }

    /** How many accesses no range claimed. */
    public long unclaimedAccesses() {
        return unclaimed.get();
    }

    /** The range holding all of {@code [address, address + size)}, or null (an access straddling two is unclaimed). */
    private Range find(long address, int size) {
        Range[] rs = ranges;
        int lo = 0;
        int hi = rs.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            Range r = rs[mid];
            if (address < r.base) {
                hi = mid - 1;
            } else if (address >= r.end()) {
                lo = mid + 1;
            } else {
                return address + size <= r.end() ? r : null;
            }
        }
        return null;
    }

    private void unclaimed(long address, int size, String what, long value) {
        unclaimed.incrementAndGet();
        long now = System.nanoTime();
        if (LOG.isDebugEnabled() && now - lastLog > LOG_INTERVAL_NANOS) {
            lastLog = now;
            LOG.debug("{}: unclaimed {}-byte {} at 0x{} (value 0x{}); {} so far", name, size, what,
                    Long.toHexString(address), Long.toHexString(value), unclaimed.get());
        }
    }
}
