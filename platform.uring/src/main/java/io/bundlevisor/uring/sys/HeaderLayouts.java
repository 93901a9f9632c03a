package io.bundlevisor.uring.sys;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

/**
 * Checks FFM layouts against the C header they mirror, at class load: a layout slip fails at once
 * (ExceptionInInitializerError) instead of corrupting memory later.
 */
public final class HeaderLayouts {

    private HeaderLayouts() {
    }

    /** The offset of {@code field} in {@code layout}, which must equal {@code headerValue} from {@code header}. */
    public static long offset(String header, StructLayout layout, long headerValue, String field) {
        long computed = layout.byteOffset(groupElement(field));
        if (computed != headerValue) {
            throw new ExceptionInInitializerError(layout + "." + field + " is at " + computed + ", " + header
                    + " says " + headerValue);
        }
        return computed;
    }

    /** The size of {@code layout}, which must equal {@code headerSize} from {@code header}. */
    public static long size(String header, MemoryLayout layout, long headerSize) {
        if (layout.byteSize() != headerSize) {
            throw new ExceptionInInitializerError(layout + " is " + layout.byteSize() + " bytes, " + header
                    + " says " + headerSize);
        }
        return headerSize;
    }
}
