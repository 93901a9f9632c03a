package io.bundlevisor.uring.internal;

import java.util.Arrays;

/** A growable FIFO of ints (slot indices), allocation-free once grown. Not thread-safe. */
final class IntQueue {

    private int[] items;
    private int head;
    private int size;

    IntQueue(int capacity) {
        items = new int[Integer.highestOneBit(Math.max(capacity, 2) - 1) << 1];
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    void add(int value) {
        if (size == items.length) {
            int[] grown = new int[items.length * 2];
            for (int i = 0; i < size; i++) {
                grown[i] = items[(head + i) & (items.length - 1)];
            }
            items = grown;
            head = 0;
        }
        items[(head + size) & (items.length - 1)] = value;
        size++;
    }

    int peek() {
        if (size == 0) {
            throw new IllegalStateException("queue is empty");
        }
        return items[head];
    }

    int poll() {
        int value = peek();
        head = (head + 1) & (items.length - 1);
        size--;
        return value;
    }

    int[] toArray() {
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            out[i] = items[(head + i) & (items.length - 1)];
        }
        return out;
    }

    @Override
    public String toString() {
        return Arrays.toString(toArray());
    }
}
