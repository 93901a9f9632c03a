package io.bundlevisor.core.partition;

/** A partition could not be created, reset, saved or restored; the message is one line for a person. */
public class PartitionException extends Exception {

    private static final long serialVersionUID = 1L;

    public PartitionException(String message) {
        super(message);
    }

    public PartitionException(String message, Throwable cause) {
        super(message, cause);
    }
}
