package io.bundlevisor.manage.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;

/**
 * The keys of a raw terminal console on their way to the guest, with QEMU's escapes taken out: Ctrl-A x quits (the VM
 * is closed and the terminal restored), Ctrl-A h lists the escapes, Ctrl-A Ctrl-A sends one Ctrl-A; any other key
 * after Ctrl-A is dropped, as QEMU does. Every other byte, Ctrl-C included, goes to the guest.
 */
final class ConsoleEscapes extends InputStream {

    static final int CTRL_A = 0x01;
    /** Shown by Ctrl-A h; raw mode does no output processing, so lines end in CR LF. */
    static final String HELP = "\r\nC-a h    print this help\r\nC-a x    exit: close the VM and restore the terminal"
            + " (exit status 3)\r\nC-a C-a  send C-a to the guest\r\n";

    private final InputStream in;
    private final PrintStream help;
    private final Runnable quit;
    private final byte[] chunk = new byte[512];
    private boolean escape;
    private boolean quitting;

    ConsoleEscapes(InputStream in, PrintStream help, Runnable quit) {
        this.in = in;
        this.help = help;
        this.quit = quit;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        while (!quitting) {
            int n = in.read(chunk, 0, Math.min(len, chunk.length));
            if (n < 0) {
                return -1;
            }
            int out = 0;
            for (int i = 0; i < n && !quitting; i++) {
                int c = chunk[i] & 0xff;
                if (escape) {
                    escape = false;
                    switch (c) {
                        case 'x', 'X' -> {
                            quitting = true;
                            quit.run();
                        }
                        case 'h', 'H', '?' -> {
                            help.print(HELP);
                            help.flush();
                        }
                        case CTRL_A -> b[off + out++] = (byte) CTRL_A;
                        default -> {
                            // Not an escape we know: dropped, as QEMU does.
                        }
                    }
                } else if (c == CTRL_A) {
                    escape = true;
                } else {
                    b[off + out++] = (byte) c;
                }
            }
            if (out > 0) {
                return out;
            }
        }
        return -1;
    }
}
