package io.bundlevisor.core.virtio;

import java.time.Duration;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Event sources a device registers with its worker (since 1.7): a descriptor of its own to watch, or a timer, with a
 * handler the worker calls on its thread, one call at a time with the device's other calls, so the device needs no
 * lock and no thread of its own (Alioth's worker hands its ring to a device's {@code activate}; the seed's
 * {@code handle_event}). Both are armed on the worker's ring (a multishot {@code IORING_OP_POLL_ADD}, an
 * {@code IORING_OP_TIMEOUT}).
 *
 * <p>Worker thread only: in {@link VirtioDevice#activate} or any later call of the worker. What a device registers
 * lasts until the device's next reset, its deactivation or its handover to another bundle, whichever comes first, or
 * until it closes it. While the worker does not pull chains (paused for a save, between two bundles, waiting for the
 * driver's reset) a source that fires is remembered and its handler called once pulling resumes, once however many
 * times it fired. A handler that throws puts the device in DEVICE_NEEDS_RESET.
 */
@ProviderType
public interface DeviceEvents {

    /** How many sources a device may have open at once. */
    int MAX_SOURCES = 32;

    /**
     * Calls {@code handler} each time {@code fd} is ready for {@code events} ({@code POLLIN} ...), with the ready
     * events, or once with {@code -errno} if the poll fails (the watch then ends). The device keeps {@code fd} open
     * while it is watched.
     *
     * @throws IllegalStateException off the worker thread, or with {@link #MAX_SOURCES} open already
     * @throws IllegalArgumentException for a negative descriptor
     */
    Source watch(int fd, int events, Handler handler);

    /**
     * Calls {@code handler} with 0 once {@code delay} has passed, and then every {@code period} unless it is zero.
     *
     * @throws IllegalStateException off the worker thread, or with {@link #MAX_SOURCES} open already
     * @throws IllegalArgumentException for a negative delay or period
     */
    Source timer(Duration delay, Duration period, Handler handler);

    /** A registered source. */
    @ProviderType
    interface Source extends AutoCloseable {

        /** Whether it may still fire. */
        boolean isOpen();

        /** Stops it; its handler is not called again. Worker thread only; idempotent. */
        @Override
        void close();
    }

    /** What a source calls. */
    @FunctionalInterface
    @org.osgi.annotation.versioning.ConsumerType
    interface Handler {

        /**
         * On the worker thread: {@code result} is the poll's ready events or the timer's 0, or {@code -errno};
         * {@code io} lets the device complete held chains or start IO, as in {@link VirtioDevice#queueServiced}.
         * Allocates nothing.
         */
        void fired(int result, QueueIo io);
    }
}
