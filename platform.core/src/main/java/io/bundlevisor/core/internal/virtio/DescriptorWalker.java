package io.bundlevisor.core.internal.virtio;

import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_ADDR;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_FLAGS;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_F_INDIRECT;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_F_NEXT;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_F_WRITE;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_LEN;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_NEXT;
import static io.bundlevisor.core.internal.virtio.VringLayout.DESC_SIZE;
import static io.bundlevisor.core.internal.virtio.VringLayout.LE16;
import static io.bundlevisor.core.internal.virtio.VringLayout.LE32;
import static io.bundlevisor.core.internal.virtio.VringLayout.LE64;

import java.lang.foreign.MemorySegment;

import io.bundlevisor.core.partition.GuestRam;

/**
 * Walks one descriptor chain of a split queue into a {@link Chain}, checking everything a hostile driver could get
 * wrong (virtio 1.x sections 2.7.4, 2.7.5 and 2.7.5.3). The driver may rewrite descriptors while we walk, so each
 * descriptor's fields are read once into locals, and only those locals are checked and used.
 *
 * <p>What is refused: a next index outside its table; more descriptors than the device's largest queue size, which also catches
 * loops (section 2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the Queue Size", counting the
 * descriptors of an indirect table too); INDIRECT without VIRTIO_F_INDIRECT_DESC, with NEXT, or inside an indirect
 * table; an indirect table that is empty, not whole descriptors, longer than that or not in RAM; a buffer
 * not wholly in guest RAM; a device-readable buffer after a device-writable one (section 2.7.4.2); and a readable or
 * writable total beyond {@code Integer.MAX_VALUE}. Zero-length descriptors are allowed and skipped.
 *
 * <p>Allocates nothing unless it refuses.
 */
final class DescriptorWalker {

    private final GuestRam ram;
    private final MemorySegment memory;
    private final int queue;

    DescriptorWalker(GuestRam ram, int queue) {
        this.ram = ram;
        this.memory = ram.memory();
        this.queue = queue;
    }

    /**
     * Fills {@code chain} (cleared first) from the chain at its head. {@code descTable} is the descriptor table's
     * host offset, checked to hold {@code size} descriptors. {@code limit} (at least {@code size}) bounds the
     * descriptors of a chain and of an indirect table: the device's largest queue size. Section 2.7.5.3.1 bounds a
     * chain by the queue size, but a driver sizes requests by what the device advertises (virtio-blk's seg_max),
     * which a device derives from its largest queue before the front-end has chosen a smaller one (QEMU's
     * vhost-user-blk defaults to 128); Linux then builds indirect tables longer than the queue. Like QEMU, we take
     * chains up to the device's own maximum; loops are still caught by the bound.
     */
    void walk(Chain chain, long descTable, int size, int limit, boolean indirectAllowed) throws QueueException {
        chain.clear();
        long table = descTable;
        int tableSize = size;
        boolean inIndirect = false;
        int index = chain.head();
        int descriptors = 0;
        long readable = 0;
        long writable = 0;
        while (true) {
            long at = table + DESC_SIZE * index;
            long addr = memory.get(LE64, at + DESC_ADDR);
            long len = Integer.toUnsignedLong(memory.get(LE32, at + DESC_LEN));
            int flags = Short.toUnsignedInt(memory.get(LE16, at + DESC_FLAGS));
            int next = Short.toUnsignedInt(memory.get(LE16, at + DESC_NEXT));

            if ((flags & DESC_F_INDIRECT) != 0) {
                // Section 2.7.5.3.1; the WRITE flag of this descriptor is ignored (2.7.5.3.2).
                if (!indirectAllowed) {
                    throw refuse("descriptor %d is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated", index);
                }
                if (inIndirect) {
                    throw refuse("indirect descriptor %d is itself INDIRECT (nested indirect table)", index);
                }
                if ((flags & DESC_F_NEXT) != 0) {
                    throw refuse("descriptor %d has both INDIRECT and NEXT", index);
                }
                if (len == 0 || len % DESC_SIZE != 0) {
                    throw refuse("indirect table of descriptor %d has length %d, not a non-zero multiple of 16",
                            index, len);
                }
                if (len / DESC_SIZE > limit) {
                    throw refuse("indirect table of descriptor %d has %d entries, more than the device's largest "
                            + "queue size %d", index, len / DESC_SIZE, limit);
                }
                long hostTable = ram.hostOffset(addr, len);
                if (hostTable < 0) {
                    throw refuse("indirect table [0x%x, +0x%x) of descriptor %d is not guest RAM", addr, len, index);
                }
                table = hostTable;
                tableSize = (int) (len / DESC_SIZE);
                inIndirect = true;
                index = 0;
                continue;
            }

            if (++descriptors > limit) {
                throw refuse("chain at head %d has more than %d descriptors (the device's largest queue size): "
                        + "a loop?", chain.head(), limit);
            }
            if (len != 0) {
                long host = ram.hostOffset(addr, len);
                if (host < 0) {
                    throw refuse("buffer [0x%x, +0x%x) of %sdescriptor %d is not guest RAM", addr, len,
                            inIndirect ? "indirect " : "", index);
                }
                if ((flags & DESC_F_WRITE) != 0) {
                    writable += len;
                    if (writable > Integer.MAX_VALUE) {
                        throw refuse("chain at head %d has more than %d device-writable bytes", chain.head(),
                                Integer.MAX_VALUE);
                    }
                    chain.add(host, (int) len, true);
                } else {
                    if (writable != 0) {
                        throw refuse("device-readable %sdescriptor %d follows a device-writable one",
                                inIndirect ? "indirect " : "", index);
                    }
                    readable += len;
                    if (readable > Integer.MAX_VALUE) {
                        throw refuse("chain at head %d has more than %d device-readable bytes", chain.head(),
                                Integer.MAX_VALUE);
                    }
                    chain.add(host, (int) len, false);
                }
            }
            if ((flags & DESC_F_NEXT) == 0) {
                return;
            }
            if (next >= tableSize) {
                throw refuse("%sdescriptor %d has next %d, outside its table of %d", inIndirect ? "indirect " : "",
                        index, next, tableSize);
            }
            index = next;
        }
    }

    private QueueException refuse(String format, Object... args) {
        return new QueueException(queue, String.format(format, args));
    }
}
