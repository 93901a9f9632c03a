package io.bundlevisor.vhost.internal;

import static io.bundlevisor.vhost.internal.VhostUserLayout.*;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.virtio.VirtioBackend;
import io.bundlevisor.uring.host.MappedRegion;
import io.bundlevisor.uring.host.SyscallException;
import io.bundlevisor.uring.host.UnixSocket;

/**
 * The front-end's memory messages (vhost-user.rst, "Memory access"): SET_MEM_TABLE replaces the whole table,
 * ADD_MEM_REG and REM_MEM_REG (protocol feature CONFIGURE_MEM_SLOTS) change one region at a time. Each region is
 * checked before it is mapped (a range, inside its descriptor's file, overlapping no other region in guest or
 * front-end addresses, within {@link VhostUserLayout#MAX_MEM_SLOTS}), and a region a running ring lies in cannot be
 * removed. A region added again with the same guest address, size and user address is counted, not mapped twice,
 * and goes with its last removal: QEMU's vhost-user-net, one vhost device a queue pair on one socket, adds and
 * removes each region once for every pair. The swap follows one rule: the new table goes in place first, then, while rings run, the worker finishes
 * its IO and looks its rings up again ({@link VirtioBackend#memoryChanged()}), and only then are the mappings that
 * left the table unmapped, so the worker and the kernel's IO never touch an unmapped page.
 */
final class MemoryTable {

    private static final Logger LOG = LoggerFactory.getLogger(MemoryTable.class);

    private final String name;
    private final VhostMemory memory;
    private final VirtioBackend backend;
    private final VringState[] rings;
    /** How many times each region of the table was added (SET_MEM_TABLE: once). Connection thread only. */
    private final java.util.Map<VhostMemory.Region, Integer> adds = new java.util.IdentityHashMap<>();

    MemoryTable(String name, VhostMemory memory, VirtioBackend backend, VringState[] rings) {
        this.name = name;
        this.memory = memory;
        this.backend = backend;
        this.rings = rings;
    }

    /** One region as the front-end described it. */
    private record Spec(long gpa, long size, long user, long offset) {
    }

    /** SET_MEM_TABLE: the whole table, one descriptor per region. */
    void set(VhostMessage message) throws ProtocolException {
        int n = message.u32(MEM_NREGIONS);
        if (n < 1 || n > MAX_REGIONS) {
            throw new ProtocolException("SET_MEM_TABLE with " + Integer.toUnsignedString(n) + " regions (1.."
                    + MAX_REGIONS + ")");
        }
        message.expectSize(MEM_HEADER_SIZE + n * REGION_SIZE);
        message.expectFds(n);
        VhostMemory.Region[] table = new VhostMemory.Region[n];
        int[] fds = message.takeFds();
        try {
            for (int i = 0; i < n; i++) {
                Spec s = spec(message, MEM_HEADER_SIZE + i * REGION_SIZE, "SET_MEM_TABLE region " + i);
                int other = overlapping(table, i, s);
                if (other >= 0) {
                    throw new ProtocolException("SET_MEM_TABLE regions " + other + " and " + i + " overlap");
                }
                table[i] = map(fds[i], s, "SET_MEM_TABLE region " + i);
            }
        } catch (ProtocolException e) {
            for (VhostMemory.Region r : table) {
                if (r != null) {
                    r.mapping().close();
                }
            }
            throw e;
        } finally {
            for (int fd : fds) {
                UnixSocket.closeFd(fd); // the mappings keep the memory
            }
        }
        swap(table);
        adds.clear();
        for (VhostMemory.Region r : table) {
            adds.put(r, 1);
        }
        LOG.debug("{}: memory table of {} regions", name, n);
    }

    /** ADD_MEM_REG: one more region, with exactly one descriptor. */
    void add(VhostMessage message) throws ProtocolException {
        message.expectSize(MEM_REG_SIZE);
        message.expectFds(1);
        int fd = message.takeFds()[0];
        try {
            Spec s = spec(message, MEM_REG_REGION, "ADD_MEM_REG");
            VhostMemory.Region[] now = memory.table();
            VhostMemory.Region same = find(now, s.gpa, s.size, s.user);
            if (same != null) {
                adds.merge(same, 1, Integer::sum); // another queue pair's vhost device: the same memory
                return;
            }
            if (now.length >= MAX_MEM_SLOTS) {
                throw new ProtocolException("ADD_MEM_REG: all " + MAX_MEM_SLOTS + " memory slots are in use");
            }
            int other = overlapping(now, now.length, s);
            if (other >= 0) {
                throw new ProtocolException(String.format("ADD_MEM_REG [0x%x +0x%x] at user 0x%x overlaps the "
                        + "region [0x%x +0x%x] at user 0x%x", s.gpa, s.size, s.user, now[other].guestAddress(),
                        now[other].size(), now[other].userAddress()));
            }
            VhostMemory.Region[] next = java.util.Arrays.copyOf(now, now.length + 1);
            next[now.length] = map(fd, s, "ADD_MEM_REG");
            // Nothing is unmapped: the worker may go on with the regions it uses, the new one is seen at once.
            memory.replace(next);
            adds.put(next[now.length], 1);
            LOG.debug("{}: region [0x{} +0x{}] added, {} in all", name, Long.toHexString(s.gpa),
                    Long.toHexString(s.size), next.length);
        } finally {
            UnixSocket.closeFd(fd); // the mapping keeps the memory
        }
    }

    /**
     * REM_MEM_REG: the region with this guest address, size and user address (the offset is ignored). A descriptor
     * should not come; one is taken and closed unused (the spec allows it for front-ends that send one).
     */
    void remove(VhostMessage message) throws ProtocolException {
        message.expectSize(MEM_REG_SIZE);
        if (message.fds.length > 1) {
            message.expectFds(1);
        }
        long gpa = message.u64(MEM_REG_REGION + REGION_GUEST_ADDR);
        long size = message.u64(MEM_REG_REGION + REGION_MEMORY_SIZE);
        long user = message.u64(MEM_REG_REGION + REGION_USER_ADDR);
        VhostMemory.Region[] now = memory.table();
        VhostMemory.Region region = find(now, gpa, size, user);
        if (region == null) {
            throw new ProtocolException(String.format("REM_MEM_REG [0x%x +0x%x] at user 0x%x: no such region",
                    gpa, size, user));
        }
        int left = adds.getOrDefault(region, 1) - 1;
        if (left > 0) {
            adds.put(region, left); // still another queue pair's
            return;
        }
        for (int q = 0; q < rings.length; q++) {
            VringState r = rings[q];
            if (r.running && (overlaps(r.desc, 16L * r.size, gpa, size) || overlaps(r.avail, 6 + 2L * r.size, gpa,
                    size) || overlaps(r.used, 6 + 8L * r.size, gpa, size))) {
                throw new ProtocolException(String.format("REM_MEM_REG [0x%x +0x%x]: vring %d runs in it", gpa,
                        size, q));
            }
        }
        VhostMemory.Region[] next = new VhostMemory.Region[now.length - 1];
        int j = 0;
        for (VhostMemory.Region r : now) {
            if (r != region) {
                next[j++] = r;
            }
        }
        memory.replace(next);
        adds.remove(region);
        if (anyRunning()) {
            backend.memoryChanged(); // the IO in flight into the region has finished when this returns
        }
        region.mapping().close();
        LOG.debug("{}: region [0x{} +0x{}] removed, {} left", name, Long.toHexString(gpa), Long.toHexString(size),
                next.length);
    }

    private static VhostMemory.Region find(VhostMemory.Region[] table, long gpa, long size, long user) {
        for (VhostMemory.Region r : table) {
            if (r.guestAddress() == gpa && r.size() == size && r.userAddress() == user) {
                return r;
            }
        }
        return null;
    }

    /** Puts a whole new table in place and unmaps the old one once the worker has left it. */
    private void swap(VhostMemory.Region[] table) {
        VhostMemory.Region[] old = memory.replace(table);
        if (anyRunning()) {
            backend.memoryChanged(); // the worker has left the old mappings when this returns
        }
        VhostMemory.unmap(old);
    }

    private boolean anyRunning() {
        for (VringState r : rings) {
            if (r.running) {
                return true;
            }
        }
        return false;
    }

    private static Spec spec(VhostMessage message, int at, String what) throws ProtocolException {
        long gpa = message.u64(at + REGION_GUEST_ADDR);
        long size = message.u64(at + REGION_MEMORY_SIZE);
        long user = message.u64(at + REGION_USER_ADDR);
        long offset = message.u64(at + REGION_MMAP_OFFSET);
        // Unsigned: a range must not wrap past the top of the address space.
        if (size <= 0 || Long.compareUnsigned(gpa + size - 1, gpa) < 0 || Long.compareUnsigned(user + size - 1, user) < 0
                || offset < 0 || offset + size < offset) {
            throw new ProtocolException(String.format("%s [0x%x +0x%x] at user 0x%x, offset 0x%x is not a range",
                    what, gpa, size, user, offset));
        }
        return new Spec(gpa, size, user, offset);
    }

    /** The index of a region among the first {@code count} of {@code table} that {@code s} overlaps, or -1. */
    private static int overlapping(VhostMemory.Region[] table, int count, Spec s) {
        for (int j = 0; j < count; j++) {
            VhostMemory.Region o = table[j];
            if (overlaps(s.gpa, s.size, o.guestAddress(), o.size()) || overlaps(s.user, s.size, o.userAddress(),
                    o.size())) {
                return j;
            }
        }
        return -1;
    }

    private static VhostMemory.Region map(int fd, Spec s, String what) throws ProtocolException {
        try {
            return new VhostMemory.Region(s.gpa, s.size, s.user, MappedRegion.map(fd, s.offset, s.size));
        } catch (SyscallException e) {
            throw new ProtocolException(what + ": " + e.getMessage(), e);
        }
    }

    static boolean overlaps(long a, long aSize, long b, long bSize) {
        return Long.compareUnsigned(a, b + bSize - 1) <= 0 && Long.compareUnsigned(b, a + aSize - 1) <= 0;
    }
}
