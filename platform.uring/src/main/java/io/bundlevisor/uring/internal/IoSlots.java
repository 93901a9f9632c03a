package io.bundlevisor.uring.internal;

import java.util.Arrays;

import io.bundlevisor.core.ring.CompletionHandler;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Opcode;
import io.bundlevisor.core.ring.Sqe;

/**
 * The ring's IOs, one slot each, as parallel arrays so that submitting and completing allocate nothing. An IO
 * id packs a slot index (low 32 bits) with the slot's generation (high 32 bits, 1..2^31-1); the generation moves
 * on when a slot is freed, so an id that outlived its IO is recognised as stale. All access is under the ring's
 * lock.
 */
final class IoSlots {

    static final byte FREE = 0;
    /** In the overflow queue, not yet in the submission queue. */
    static final byte QUEUED = 1;
    /** In the submission queue or in the kernel. */
    static final byte WAITING = 2;
    /** Completed without a handler; the result waits to be taken. */
    static final byte DONE = 3;

    private static final int MAX_SLOTS = 1 << 20;

    byte[] state;
    boolean[] dropped;
    int[] generation;
    int[] result;
    Opcode[] opcode;
    CompletionHandler[] handler;
    IoMemory[] memory;
    /** Raw IOs waiting in overflow borrow a slot for their SQE copy; {@link #rawData} is their user data. */
    boolean[] raw;
    long[] rawData;
    // The SQE copy, kept until it is written to the submission queue.
    byte[] sqeFlags;
    int[] fd;
    long[] off;
    long[] addr;
    int[] len;
    int[] opFlags;

    private int[] free;
    private int freeCount;

    IoSlots(int initial) {
        allocate(initial);
        for (int i = initial - 1; i >= 0; i--) {
            free[freeCount++] = i;
        }
    }

    int capacity() {
        return state.length;
    }

    /** Takes a free slot, growing the table if needed; returns the new IO's id. */
    long allocate(Sqe sqe, IoMemory mem, CompletionHandler h) {
        if (freeCount == 0) {
            grow();
        }
        int slot = free[--freeCount];
        // Reference stores pay the GC's write barrier: skip them when nothing changes (the common case of one
        // handler and NONE memory for every IO of a queue).
        if (opcode[slot] != sqe.opcode()) {
            opcode[slot] = sqe.opcode();
        }
        sqeFlags[slot] = (byte) sqe.flags();
        fd[slot] = sqe.fd();
        off[slot] = sqe.off();
        addr[slot] = sqe.addr();
        len[slot] = sqe.len();
        opFlags[slot] = sqe.opFlags();
        if (memory[slot] != mem) {
            memory[slot] = mem;
        }
        if (handler[slot] != h) {
            handler[slot] = h;
        }
        dropped[slot] = false;
        raw[slot] = false;
        return id(slot);
    }

    /** Returns the slot to the free list and retires its id. */
    void release(int slot) {
        state[slot] = FREE;
        // The handler stays (usually shared, reused by the next IO); memory does not outlive its IO here.
        if (memory[slot] != null) {
            memory[slot] = null;
        }
        dropped[slot] = false;
        int next = generation[slot] + 1;
        generation[slot] = next <= 0 ? 1 : next;
        free[freeCount++] = slot;
    }

    long id(int slot) {
        return ((long) generation[slot] << 32) | slot;
    }

    /** The slot of a live IO id, or -1 if the id is stale, malformed or its slot is free. */
    int slotOf(long id) {
        long slot = id & 0xFFFF_FFFFL;
        if (slot >= state.length) {
            return -1;
        }
        int s = (int) slot;
        if (generation[s] != (int) (id >>> 32) || state[s] == FREE) {
            return -1;
        }
        return s;
    }

    private void allocate(int n) {
        state = new byte[n];
        dropped = new boolean[n];
        generation = new int[n];
        Arrays.fill(generation, 1);
        result = new int[n];
        raw = new boolean[n];
        rawData = new long[n];
        opcode = new Opcode[n];
        handler = new CompletionHandler[n];
        memory = new IoMemory[n];
        sqeFlags = new byte[n];
        fd = new int[n];
        off = new long[n];
        addr = new long[n];
        len = new int[n];
        opFlags = new int[n];
        free = new int[n];
    }

    private void grow() {
        int old = state.length;
        if (old >= MAX_SLOTS) {
            throw new IllegalStateException("ring has " + old + " IOs outstanding; refusing more");
        }
        int n = old * 2;
        state = Arrays.copyOf(state, n);
        dropped = Arrays.copyOf(dropped, n);
        generation = Arrays.copyOf(generation, n);
        Arrays.fill(generation, old, n, 1);
        result = Arrays.copyOf(result, n);
        raw = Arrays.copyOf(raw, n);
        rawData = Arrays.copyOf(rawData, n);
        opcode = Arrays.copyOf(opcode, n);
        handler = Arrays.copyOf(handler, n);
        memory = Arrays.copyOf(memory, n);
        sqeFlags = Arrays.copyOf(sqeFlags, n);
        fd = Arrays.copyOf(fd, n);
        off = Arrays.copyOf(off, n);
        addr = Arrays.copyOf(addr, n);
        len = Arrays.copyOf(len, n);
        opFlags = Arrays.copyOf(opFlags, n);
        free = Arrays.copyOf(free, n);
        for (int i = n - 1; i >= old; i--) {
            free[freeCount++] = i;
        }
    }
}
