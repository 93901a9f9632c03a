package io.bundlevisor.kvm.internal.machine;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.bundlevisor.core.partition.Console;

/** The console socket's host side: a stale socket is replaced, a served one or a file is refused in one line. */
class ConsoleIoTest {

    @TempDir
    Path dir;

    @Test
    void aStaleSocketIsReplacedAndTheSocketGoesWithTheConsole() throws Exception {
        Path path = dir.resolve("stale.sock");
        // A VMM that ended without removing its socket: the file stays, nobody accepts.
        ServerSocketChannel gone = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        gone.bind(UnixDomainSocketAddress.of(path));
        gone.close();
        assertTrue(Files.exists(path));
        ConsoleIo io = ConsoleIo.open("vm", Console.socket(path));
        try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            assertTrue(client.isConnected(), "the new console listens there");
        }
        io.close();
        assertFalse(Files.exists(path), "closing the console removes its socket");
    }

    @Test
    void aServedSocketOrAFileIsRefusedInOneLine() throws Exception {
        Path served = dir.resolve("served.sock");
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(served));
            IOException e = assertThrows(IOException.class, () -> ConsoleIo.open("vm", Console.socket(served)));
            assertTrue(e.getMessage().equals("console socket " + served + ": another process is serving it"),
                    e.getMessage());
            assertTrue(Files.exists(served), "the other process's socket is left alone");
        }
        Path file = dir.resolve("file");
        Files.writeString(file, "x");
        IOException e = assertThrows(IOException.class, () -> ConsoleIo.open("vm", Console.socket(file)));
        assertTrue(e.getMessage().equals("console socket " + file + ": exists and is not a socket"), e.getMessage());
        assertTrue(Files.exists(file));
    }
}
