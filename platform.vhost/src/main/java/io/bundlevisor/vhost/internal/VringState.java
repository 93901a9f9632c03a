package io.bundlevisor.vhost.internal;


/**
 * What the front-end set for one vring ("Starting and stopping rings"): size, ring addresses (guest-physical, turned
 * from its virtual addresses when they arrived), the avail index to start from, and its kick, call and error
 * eventfds. A ring is started by its kick descriptor and stopped by GET_VRING_BASE; it is processed while started
 * and enabled.
 */
final class VringState {

    int size;
    long desc = -1;
    long avail = -1;
    long used = -1;
    int base;
    boolean started;
    boolean enabled;
    /** Handed to the backend, which then owns the kick's notifier. */
    boolean running;
    KickNotifier kick;
    /** Whether {@link #kick} is the backend's now (it closes it), or still ours. */
    boolean kickHanded;
    /** log_guest_addr of SET_VRING_ADDR with VHOST_VRING_F_LOG, or -1: where the worker logs used-ring writes. */
    volatile long usedLog = -1;
    final CallSignal call = new CallSignal();
    final CallSignal err = new CallSignal();

    boolean addressed() {
        return desc >= 0 && avail >= 0 && used >= 0;
    }

    /** Replaces the kick; closes the old one unless the backend owns it. */
    void setKick(KickNotifier next) {
        if (kick != null && !kickHanded) {
            kick.close();
        }
        kick = next;
        kickHanded = false;
    }

    /** Forgets everything (RESET_DEVICE, or the front-end went): closes what is still ours. */
    void clear() {
        setKick(null);
        call.replace(null);
        err.replace(null);
        size = 0;
        desc = -1;
        avail = -1;
        used = -1;
        usedLog = -1;
        base = 0;
        started = false;
        enabled = false;
        running = false;
    }

}
