package io.bundlevisor.uring.sys;

/**
 * {@code struct termios} as glibc defines it for Linux ({@code sysdeps/unix/sysv/linux/bits/termios-struct.h}: four
 * {@code tcflag_t}, {@code c_line}, {@code c_cc[NCCS = 32]}, then {@code c_ispeed} and {@code c_ospeed}: 60 bytes on
 * x86_64 and aarch64). Only copied whole and handed to libc ({@code cfmakeraw}), never read field by field here, so
 * the size (rounded up) is all this needs.
 */
public final class TermiosLayout {

    /** Bytes to allocate for one struct termios (60 in glibc, rounded up to 64). */
    public static final long SIZE = 64;
    /** {@code tcsetattr} now ({@code <bits/termios.h>}: TCSANOW 0). */
    public static final int TCSANOW = 0;
    /** {@code tcsetattr} once queued output is written ({@code TCSADRAIN} 1). */
    public static final int TCSADRAIN = 1;
    /** {@code O_NOCTTY} ({@code <asm-generic/fcntl.h>}): opening a terminal does not make it ours. */
    public static final int O_NOCTTY = 0x100;

    private TermiosLayout() {
    }
}
