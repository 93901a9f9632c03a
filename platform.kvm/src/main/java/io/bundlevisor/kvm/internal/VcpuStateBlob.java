package io.bundlevisor.kvm.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The framing of a saved-state blob (a vCPU's, a VM's): magic, version, then little-endian fields and
 * length-prefixed sections. The reader treats the blob as hostile: every failure is one
 * IllegalArgumentException line naming the blob and the field.
 */
final class VcpuStateBlob {

    private VcpuStateBlob() {
    }

    static final class Writer {
        private ByteBuffer buffer;

        Writer(int magic, int version) {
            buffer = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
            putInt(magic);
            putInt(version);
        }

        private void room(int n) {
            if (buffer.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buffer.capacity() * 2, buffer.position() + n))
                        .order(ByteOrder.LITTLE_ENDIAN);
                bigger.put(buffer.flip());
                buffer = bigger;
            }
        }

        Writer putInt(int v) {
            room(4);
            buffer.putInt(v);
            return this;
        }

        Writer putLong(long v) {
            room(8);
            buffer.putLong(v);
            return this;
        }

        /** A section: its length, then its bytes. */
        Writer putSection(byte[] bytes) {
            room(4 + bytes.length);
            buffer.putInt(bytes.length);
            buffer.put(bytes);
            return this;
        }

        Writer putSection(MemorySegment bytes) {
            return putSection(bytes.toArray(ValueLayout.JAVA_BYTE));
        }

        byte[] toByteArray() {
            return Arrays.copyOf(buffer.array(), buffer.position());
        }
    }

    static final class Reader {
        private final ByteBuffer buffer;
        private final String what;

        /** Checks the magic and version; {@code what} names the blob in errors ("vCPU state"). */
        Reader(byte[] blob, String what, int magic, int version) {
            this.what = what;
            if (blob == null || blob.length < 8) {
                throw new IllegalArgumentException(what + " blob is truncated: "
                        + (blob == null ? "null" : blob.length + " bytes"));
            }
            buffer = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
            int m = buffer.getInt();
            if (m != magic) {
                throw new IllegalArgumentException(what + " blob has magic 0x" + Integer.toHexString(m)
                        + ", expected 0x" + Integer.toHexString(magic));
            }
            int v = buffer.getInt();
            if (v != version) {
                throw new IllegalArgumentException(what + " blob is version " + v + ", this build reads version "
                        + version);
            }
        }

        int getInt(String field) {
            try {
                return buffer.getInt();
            } catch (BufferUnderflowException e) {
                throw truncated(field);
            }
        }

        long getLong(String field) {
            try {
                return buffer.getLong();
            } catch (BufferUnderflowException e) {
                throw truncated(field);
            }
        }

        /** A section of exactly {@code length} bytes. */
        byte[] section(String field, long length) {
            return section(field, length, length);
        }

        /** A section of {@code min} to {@code max} bytes. */
        byte[] section(String field, long min, long max) {
            int n = getInt(field + " length");
            if (n < min || n > max) {
                throw new IllegalArgumentException(what + " blob: " + field + " is " + n + " bytes, expected "
                        + (min == max ? min : min + " to " + max));
            }
            if (buffer.remaining() < n) {
                throw truncated(field);
            }
            byte[] b = new byte[n];
            buffer.get(b);
            return b;
        }

        /** Checks that nothing follows the last field. */
        void end() {
            if (buffer.hasRemaining()) {
                throw new IllegalArgumentException(what + " blob has " + buffer.remaining()
                        + " bytes after its last field");
            }
        }

        private IllegalArgumentException truncated(String field) {
            return new IllegalArgumentException(what + " blob is truncated at " + field);
        }
    }
}
