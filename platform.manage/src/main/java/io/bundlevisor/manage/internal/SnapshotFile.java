package io.bundlevisor.manage.internal;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.cli.ArgumentList;

/**
 * A snapshot's state file: {@code BVSNAP} and a version, the machine's definition as {@code bundlevisor run}'s
 * arguments (so a new process can make the same machine before restoring it), then the partition's state stream (its
 * own versioned format: VM, VPs, console, devices). The memory is in a file of its own.
 */
final class SnapshotFile {

    static final long MAGIC = 0x4256_534E_4150_0001L; // "BVSNAP" + 1
    static final int VERSION = 1;
    /** No definition is near this. */
    static final int MAX_DEFINITION = 64 * 1024;

    /** The header: the machine's run arguments. */
    record Header(List<String> arguments) {
    }

    /** A state stream positioned after the header, with the header read. */
    record Opened(Header header, InputStream state) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            state.close();
        }
    }

    private SnapshotFile() {
    }

    /** Opens {@code file} for writing, its header written; the partition writes its state after it. */
    static OutputStream create(Path file, List<String> arguments) throws IOException {
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file)));
        out.writeLong(MAGIC);
        out.writeInt(VERSION);
        byte[] definition = ArgumentList.join(arguments).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        out.writeInt(definition.length);
        out.write(definition);
        return out;
    }

    /**
     * Opens {@code file} and reads its header.
     *
     * @throws PartitionException if it is not a state file of ours (one line)
     */
    static Opened open(Path file) throws IOException, PartitionException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)));
        try {
            if (in.readLong() != MAGIC) {
                throw new PartitionException(file + " is not a Bundlevisor snapshot's state file");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new PartitionException(file + ": snapshot version " + version + ", this reads " + VERSION);
            }
            int n = in.readInt();
            if (n < 0 || n > MAX_DEFINITION) {
                throw new PartitionException(file + ": a machine definition of " + n + " bytes");
            }
            byte[] definition = new byte[n];
            in.readFully(definition);
            return new Opened(new Header(ArgumentList.split(new String(definition,
                    java.nio.charset.StandardCharsets.UTF_8))), in);
        } catch (EOFException e) {
            in.close();
            throw new PartitionException(file + ": the snapshot's state file is truncated");
        } catch (PartitionException | IOException | RuntimeException e) {
            in.close();
            throw e;
        }
    }
}
