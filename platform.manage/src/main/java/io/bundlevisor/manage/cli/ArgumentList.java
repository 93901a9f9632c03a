package io.bundlevisor.manage.cli;

import java.util.Arrays;
import java.util.List;

/**
 * Arguments in one framework property, joined by U+001F (the ASCII unit separator, which the launcher refuses in an
 * argument): how {@code run} and {@code serve} hand their command line to the platform.
 */
public final class ArgumentList {

    /** The separator. */
    public static final char SEPARATOR = '\u001F';

    private ArgumentList() {
    }

    /**
     * Joins {@code args}.
     *
     * @throws IllegalArgumentException if an argument holds the separator
     */
    public static String join(List<String> args) {
        for (String a : args) {
            if (a.indexOf(SEPARATOR) >= 0) {
                throw new IllegalArgumentException("arguments may not contain the U+001F character");
            }
        }
        return String.join(String.valueOf(SEPARATOR), args);
    }

    /** The arguments {@link #join} joined. */
    public static List<String> split(String joined) {
        return joined.isEmpty() ? List.of() : Arrays.asList(joined.split(String.valueOf(SEPARATOR), -1));
    }
}
