package io.bundlevisor.api.internal;

import io.bundlevisor.core.partition.MachineConfig;

/**
 * A request refused: answered 400 with Firecracker's error body and this one-line reason. Reasons echo what the
 * client sent (paths, ids, tokens): one that holds a control or non-ASCII character is escaped whole, so neither an
 * answer nor a log line carries a client's terminal sequences or line breaks.
 */
final class ApiException extends Exception {

    ApiException(String message) {
        super(printable(message), null, false, false);
    }

    private static String printable(String message) {
        return message.chars().allMatch(c -> c >= 0x20 && c < 0x7F) ? message : MachineConfig.printable(message);
    }
}
