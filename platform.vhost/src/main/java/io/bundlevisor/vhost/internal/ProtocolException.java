package io.bundlevisor.vhost.internal;

/** The front-end broke the vhost-user protocol: the connection is closed with this one-line reason. */
final class ProtocolException extends Exception {

    private static final long serialVersionUID = 1L;

    ProtocolException(String message) {
        super(message);
    }

    ProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
