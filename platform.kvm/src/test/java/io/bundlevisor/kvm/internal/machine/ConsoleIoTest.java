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
    @org.junit.jupiter.api.Timeout(30)
    void socketWaitHoldsTheMachineUntilAClientConnectsAndThatClientGetsTheFirstByte() throws Exception {
        Path path = dir.resolve("wait.sock");
        java.util.concurrent.CompletableFuture<ConsoleIo> opened = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return ConsoleIo.open("vm", Console.socket(path, true));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        for (int i = 0; i < 500 && !Files.exists(path); i++) {
            Thread.sleep(10);
        }
        Thread.sleep(200);
        assertFalse(opened.isDone(), "no client yet: the console is not open, so the machine is not created");
        try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            ConsoleIo io = opened.get(10, java.util.concurrent.TimeUnit.SECONDS);
            Uart16550.Sink sink = io.sink(); // what the UART gets, once
            sink.write('h');
            sink.write('i');
            sink.flush();
            java.nio.ByteBuffer got = java.nio.ByteBuffer.allocate(2);
            while (got.hasRemaining() && client.read(got) >= 0) {
                // the two bytes the guest's UART sent
            }
            assertTrue(new String(got.array(), java.nio.charset.StandardCharsets.US_ASCII).equals("hi"));
            io.close();
        }
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

    /** A console file's descriptor goes with the console (not with a later garbage collection). */
    @Test
    void aConsoleFileIsClosedWithTheConsole() throws Exception {
        Path file = dir.resolve("vm.console.log");
        ConsoleIo io = ConsoleIo.open("vm", Console.file(file));
        assertTrue(openFds().contains(file.toString()));
        io.close();
        assertFalse(openFds().contains(file.toString()), "the console file is closed");
    }

    /** A FIFO nobody reads is refused at once instead of blocking the machine's creation. */
    @Test
    @org.junit.jupiter.api.Timeout(10)
    void aFifoNobodyReadsIsRefused() throws Exception {
        Path fifo = dir.resolve("console.fifo");
        assertTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0);
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> ConsoleIo.open("vm", Console.file(fifo)));
        assertTrue(e.getMessage().contains("is a FIFO no process reads"), e.getMessage());
    }

    private static String openFds() throws IOException {
        StringBuilder links = new StringBuilder();
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    links.append(Files.readSymbolicLink(fd)).append('\n');
                } catch (IOException gone) {
                    // the directory's own descriptor
                }
            }
        }
        return links.toString();
    }
}
