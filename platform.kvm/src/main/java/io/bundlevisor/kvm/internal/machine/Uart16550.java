package io.bundlevisor.kvm.internal.machine;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;

import io.bundlevisor.core.partition.IoHandler;

/**
 * An 8250/16550A UART (the register set of the National Semiconductor PC16550D datasheet) as the machine's
 * console on COM1: transmit is instantaneous, so the transmitter is always empty and THRE interrupts follow every
 * write; received bytes wait in a host-side buffer and show through a 16-byte FIFO. Enough of the modem
 * registers and the loopback mode for Linux's 8250 driver to identify a 16550A (it checks the scratch register,
 * the FIFO bits of IIR, and MSR in loopback). The interrupt is a level computed from IIR, as on a PC with OUT2
 * wired to the PIC; the in-kernel IOAPIC sees the edges it expects for an ISA IRQ.
 */
public final class Uart16550 implements IoHandler {

    public static final int COM1_PORT = 0x3F8;
    public static final int COM1_IRQ = 4;
    public static final int PORTS = 8;

    // Register offsets.
    private static final int RBR_THR = 0;
    private static final int IER = 1;
    private static final int IIR_FCR = 2;
    private static final int LCR = 3;
    private static final int MCR = 4;
    private static final int LSR = 5;
    private static final int MSR = 6;
    private static final int SCR = 7;

    private static final int IER_RDI = 0x01;
    private static final int IER_THRI = 0x02;
    private static final int IER_RLSI = 0x04;
    private static final int IER_MSI = 0x08;
    private static final int IIR_NO_INT = 0x01;
    private static final int IIR_MSI = 0x00;
    private static final int IIR_THRI = 0x02;
    private static final int IIR_RDI = 0x04;
    private static final int IIR_RLSI = 0x06;
    private static final int IIR_FIFO_ENABLED = 0xC0;
    private static final int FCR_ENABLE = 0x01;
    private static final int FCR_CLEAR_RX = 0x02;
    private static final int LCR_DLAB = 0x80;
    private static final int MCR_DTR = 0x01;
    private static final int MCR_RTS = 0x02;
    private static final int MCR_OUT1 = 0x04;
    private static final int MCR_OUT2 = 0x08;
    private static final int MCR_LOOP = 0x10;
    private static final int LSR_DR = 0x01;
    private static final int LSR_OE = 0x02;
    private static final int LSR_THRE = 0x20;
    private static final int LSR_TEMT = 0x40;
    private static final int MSR_CTS = 0x10;
    private static final int MSR_DSR = 0x20;
    private static final int MSR_RI = 0x40;
    private static final int MSR_DCD = 0x80;
    private static final int MSR_DELTAS = 0x0F;

    private static final int HOST_BUFFER = 4096;
    private static final int SAVE_VERSION = 1;

    /** Where transmitted bytes go. */
    public interface Sink {
        void write(int b) throws IOException;

        void flush() throws IOException;
    }

    private final IrqLine irq;
    private final Sink sink;
    private final ByteBuffer rx = ByteBuffer.allocate(HOST_BUFFER); // kept in read mode between calls
    private int ier;
    private int lcr;
    private int mcr = MCR_OUT2;
    private int lsrErrors;
    private int msrDeltas;
    private int scr;
    private int fcr;
    private int dll = 0x0C; // 9600 baud, as firmware leaves it
    private int dlm;
    private boolean thrInterruptPending;
    private boolean irqLevel;
    private boolean sinkBroken;

    public Uart16550(IrqLine irq, Sink sink) {
        this.irq = irq;
        this.sink = sink;
        rx.flip();
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (size != 1) {
            return -1L;
        }
        long v = switch ((int) offset) {
            case RBR_THR -> (lcr & LCR_DLAB) != 0 ? dll : receive();
            case IER -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case IIR_FCR -> readIir();
            case LCR -> lcr;
            case MCR -> mcr;
            case LSR -> readLsr();
            case MSR -> readMsr();
            case SCR -> scr;
            default -> 0xFF;
        };
        updateIrq();
        return v;
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (size != 1) {
            return;
        }
        int v = (int) value & 0xFF;
        switch ((int) offset) {
            case RBR_THR -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = v;
                } else {
                    transmit(v);
                }
            }
            case IER -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = v;
                } else {
                    // Enabling the THRE interrupt while the transmitter is empty raises it at once (PC16550D 8.6.3).
                    if ((v & IER_THRI) != 0 && (ier & IER_THRI) == 0) {
                        thrInterruptPending = true;
                    }
                    ier = v & 0x0F;
                }
            }
            case IIR_FCR -> {
                if ((v & FCR_CLEAR_RX) != 0) {
                    rx.clear().flip();
                }
                fcr = v & (FCR_ENABLE | 0xC0);
            }
            case LCR -> lcr = v;
            case MCR -> {
                int old = modemStatusLines();
                mcr = v & 0x1F;
                msrDeltas |= deltas(old, modemStatusLines());
            }
            case SCR -> scr = v;
            default -> {
                // LSR and MSR are read-only.
            }
        }
        updateIrq();
    }

    /** Queues host input for the guest; returns how many bytes fitted (the rest should be offered again). */
    public synchronized int offer(byte[] data, int offset, int length) {
        rx.compact();
        int n = Math.min(length, rx.remaining());
        rx.put(data, offset, n);
        rx.flip();
        updateIrq();
        return n;
    }

    /** Whether the guest has room for more input now. */
    public synchronized boolean hasRoom() {
        return rx.remaining() < HOST_BUFFER;
    }

    /** Pushes buffered output to the sink (called periodically, and at power off). */
    public synchronized void flush() {
        if (!sinkBroken) {
            try {
                sink.flush();
            } catch (IOException e) {
                sinkBroken = true;
            }
        }
    }

    private void transmit(int b) {
        if ((mcr & MCR_LOOP) != 0) {
            offerLoopback(b);
        } else if (!sinkBroken) {
            try {
                sink.write(b);
                if (b == '\n') {
                    sink.flush();
                }
            } catch (IOException e) {
                sinkBroken = true; // a closed console must not stop the guest
            }
        }
        thrInterruptPending = true;
    }

    private void offerLoopback(int b) {
        rx.compact();
        if (rx.position() < fifoSize()) {
            rx.put((byte) b);
        } else {
            lsrErrors |= LSR_OE;
        }
        rx.flip();
    }

    private int receive() {
        if (!rx.hasRemaining()) {
            return 0;
        }
        return rx.get() & 0xFF;
    }

    private int fifoSize() {
        return (fcr & FCR_ENABLE) != 0 ? 16 : 1;
    }

    private int readLsr() {
        int v = LSR_THRE | LSR_TEMT | lsrErrors | (rx.hasRemaining() ? LSR_DR : 0);
        lsrErrors = 0;
        return v;
    }

    private int readMsr() {
        int v = modemStatusLines() | msrDeltas;
        msrDeltas = 0;
        return v;
    }

    /** CTS, DSR, RI, DCD: wired to RTS, DTR, OUT1, OUT2 in loopback; otherwise a connected terminal. */
    private int modemStatusLines() {
        if ((mcr & MCR_LOOP) != 0) {
            return ((mcr & MCR_RTS) != 0 ? MSR_CTS : 0) | ((mcr & MCR_DTR) != 0 ? MSR_DSR : 0)
                    | ((mcr & MCR_OUT1) != 0 ? MSR_RI : 0) | ((mcr & MCR_OUT2) != 0 ? MSR_DCD : 0);
        }
        return MSR_CTS | MSR_DSR | MSR_DCD;
    }

    private static int deltas(int old, int now) {
        int changed = old ^ now;
        return ((changed & MSR_CTS) != 0 ? 0x01 : 0) | ((changed & MSR_DSR) != 0 ? 0x02 : 0)
                | ((old & MSR_RI) != 0 && (now & MSR_RI) == 0 ? 0x04 : 0) | ((changed & MSR_DCD) != 0 ? 0x08 : 0);
    }

    /** The highest-priority pending interrupt (PC16550D table IV); reading it clears a THRE interrupt. */
    private int readIir() {
        int id = pendingInterrupt();
        if (id == IIR_THRI) {
            thrInterruptPending = false;
        }
        return id | ((fcr & FCR_ENABLE) != 0 ? IIR_FIFO_ENABLED : 0);
    }

    private int pendingInterrupt() {
        if ((ier & IER_RLSI) != 0 && (lsrErrors & LSR_OE) != 0) {
            return IIR_RLSI;
        }
        if ((ier & IER_RDI) != 0 && rx.hasRemaining()) {
            return IIR_RDI;
        }
        if ((ier & IER_THRI) != 0 && thrInterruptPending) {
            return IIR_THRI;
        }
        if ((ier & IER_MSI) != 0 && (msrDeltas & MSR_DELTAS) != 0) {
            return IIR_MSI;
        }
        return IIR_NO_INT;
    }

    private void updateIrq() {
        boolean level = pendingInterrupt() != IIR_NO_INT;
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }

    /** The registers and pending input, versioned. */
    public synchronized byte[] save() {
        ByteBuffer b = ByteBuffer.allocate(64 + rx.remaining());
        b.putInt(SAVE_VERSION).put((byte) ier).put((byte) lcr).put((byte) mcr).put((byte) lsrErrors)
                .put((byte) msrDeltas).put((byte) scr).put((byte) fcr).put((byte) dll).put((byte) dlm)
                .put((byte) (thrInterruptPending ? 1 : 0)).put((byte) (irqLevel ? 1 : 0));
        b.putInt(rx.remaining()).put(rx.duplicate());
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    /** Loads a {@link #save()}; a bad blob is a one-line {@link IllegalArgumentException}. */
    public synchronized void restore(byte[] blob) {
        ByteBuffer b = ByteBuffer.wrap(blob);
        try {
            if (b.getInt() != SAVE_VERSION) {
                throw new IllegalArgumentException("UART state has an unknown version");
            }
            ier = b.get() & 0x0F;
            lcr = b.get() & 0xFF;
            mcr = b.get() & 0x1F;
            lsrErrors = b.get() & LSR_OE;
            msrDeltas = b.get() & MSR_DELTAS;
            scr = b.get() & 0xFF;
            fcr = b.get() & (FCR_ENABLE | 0xC0);
            dll = b.get() & 0xFF;
            dlm = b.get() & 0xFF;
            thrInterruptPending = b.get() != 0;
            boolean level = b.get() != 0;
            int n = b.getInt();
            if (n < 0 || n > HOST_BUFFER || n != b.remaining()) {
                throw new IllegalArgumentException("UART state has a bad input length " + n);
            }
            rx.clear();
            rx.put(b);
            rx.flip();
            irqLevel = level;
            irq.set(level);
        } catch (java.nio.BufferUnderflowException e) {
            throw new IllegalArgumentException("UART state is truncated");
        }
    }

    /** An {@link OutputStream} as a sink. */
    public static Sink sinkOf(OutputStream out) {
        return new Sink() {
            @Override
            public void write(int b) throws IOException {
                out.write(b);
            }

            @Override
            public void flush() throws IOException {
                out.flush();
            }
        };
    }
}
