package io.bundlevisor.core.ring;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Called on the ring's completing thread, outside the ring's lock, once for each completion queue entry of an
 * IO. A multishot IO (multishot poll) is called back once per event, with {@link #F_MORE} set while more will
 * follow. Arguments are primitives so that completion allocates nothing.
 */
@ConsumerType
@FunctionalInterface
public interface CompletionHandler {

    /** {@code IORING_CQE_F_MORE}: the IO stays armed and more completions follow. */
    int F_MORE = 1 << 1;

    /**
     * @param io     the IO id {@link Ring#submit} returned
     * @param result the CQE result: non-negative on success, {@code -errno} on failure
     *               ({@link RingIoException#check} turns it into an exception)
     * @param flags  the CQE flags ({@link #F_MORE})
     */
    void completed(long io, int result, int flags);
}
