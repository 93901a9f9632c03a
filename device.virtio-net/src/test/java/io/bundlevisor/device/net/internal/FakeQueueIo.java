package io.bundlevisor.device.net.internal;

import java.util.ArrayList;
import java.util.List;

import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.virtio.DescChain;
import io.bundlevisor.core.virtio.QueueIo;

/** The worker's side of a device's own IO, recorded: what was submitted, cancelled, completed and released. */
final class FakeQueueIo implements QueueIo {

    final Sqe sqe = new Sqe();
    int submitted;
    int lastTag = -1;
    int cancelled;
    int released;
    boolean refuse;
    /** Whether completions are kept in the lists (which allocate), or only counted. */
    boolean record = true;
    long completions;
    final List<DescChain> completed = new ArrayList<>();
    final List<Integer> lengths = new ArrayList<>();

    @Override
    public Sqe sqe() {
        return sqe;
    }

    @Override
    public boolean submit(int queue, int tag) {
        if (refuse) {
            return false;
        }
        submitted++;
        lastTag = tag;
        return true;
    }

    @Override
    public void cancel(int queue, int tag) {
        cancelled++;
    }

    @Override
    public void complete(int queue, DescChain chain, int written) {
        completions++;
        if (record) {
            completed.add(chain);
            lengths.add(written);
        }
    }

    @Override
    public void releaseHeld(int queue) {
        released++;
    }

    void clear() {
        completed.clear();
        lengths.clear();
    }
}
