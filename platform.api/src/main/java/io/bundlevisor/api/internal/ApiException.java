package io.bundlevisor.api.internal;

/** A request refused: answered 400 with Firecracker's error body and this one-line reason. */
final class ApiException extends Exception {

    ApiException(String message) {
        super(message, null, false, false);
    }
}
