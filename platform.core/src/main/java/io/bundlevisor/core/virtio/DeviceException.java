package io.bundlevisor.core.virtio;

/** A device that cannot be created or activated, with a one-line reason a person can act on. */
public class DeviceException extends Exception {

    private static final long serialVersionUID = 1L;

    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
