package io.bundlevisor.kvm.internal.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A synthetic bzImage for the tests: a boot sector and setup sectors with a 2.15 setup header
 * (Documentation/arch/x86/boot.rst), then a protected-mode "kernel" of recognisable bytes, then a fake signature
 * (as on Debian's signed images) that syssize does not cover. Every field can be changed before {@link #build}.
 */
final class FakeBzImage {

    int setupSects = 3;
    int bootFlag = 0xAA55;
    int magic = 0x5372_6448;
    int version = 0x020F;
    int jump = 0x6A; // header ends at 0x26C, as in 6.x kernels
    int loadflags = 0x01;
    long initrdAddrMax = 0x7FFF_FFFFL;
    long kernelAlignment = 0x20_0000;
    int relocatable = 1;
    int xloadflags = 0x7F; // XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G, EFI handover bits...
    long cmdlineSize = 2047;
    long payloadOffset = 0x100;
    long payloadLength = -1; // the rest of the kernel
    long prefAddress = 0x100_0000;
    long initSize = 0x40_0000;
    int kernelBytes = 64 * 1024;
    long syssize = -1; // kernelBytes / 16
    int signatureBytes = 736;
    String version_string = "6.1.0-test (bundlevisor@test) #1 SMP";

    long kernelOffset() {
        return (long) ((setupSects == 0 ? 4 : setupSects) + 1) * 512;
    }

    /** The byte the kernel has at {@code i}: a pattern a shifted or partial copy would not reproduce. */
    static byte kernelByte(long i) {
        return (byte) (i * 31 + (i >> 8) * 7 + 1);
    }

    byte[] build() {
        int setupSize = (int) kernelOffset();
        byte[] image = new byte[setupSize + kernelBytes + signatureBytes];
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        // Fill the boot sector area before the header with noise: only the header may be copied.
        for (int i = 0; i < 0x1F1; i++) {
            image[i] = (byte) 0xEE;
        }
        b.put(0x1F1, (byte) setupSects);
        b.putInt(0x1F4, (int) (syssize >= 0 ? syssize : kernelBytes / 16));
        b.putShort(0x1FE, (short) bootFlag);
        b.put(0x200, (byte) 0xEB);
        b.put(0x201, (byte) jump);
        b.putInt(0x202, magic);
        b.putShort(0x206, (short) version);
        int versionAt = 0x400;
        b.putShort(0x20E, (short) (versionAt - 0x200));
        byte[] v = version_string.getBytes();
        System.arraycopy(v, 0, image, versionAt, v.length);
        b.putInt(0x214, 0x10_0000);  // code32_start
        b.put(0x211, (byte) loadflags);
        b.putInt(0x22C, (int) initrdAddrMax);
        b.putInt(0x230, (int) kernelAlignment);
        b.put(0x234, (byte) relocatable);
        b.put(0x235, (byte) 21);     // min_alignment
        b.putShort(0x236, (short) xloadflags);
        b.putInt(0x238, (int) cmdlineSize);
        b.putInt(0x248, (int) payloadOffset);
        b.putInt(0x24C, (int) (payloadLength >= 0 ? payloadLength : kernelBytes - payloadOffset));
        b.putLong(0x258, prefAddress);
        b.putInt(0x260, (int) initSize);
        b.putInt(0x264, 0x190);      // handover_offset
        b.putInt(0x268, 0x1234);     // kernel_info_offset
        // Fields past the header's end stay noise: they must not reach boot_params.
        for (int i = 0x26C; i < 0x290; i++) {
            image[i] = (byte) 0xEE;
        }
        for (int i = 0; i < kernelBytes; i++) {
            image[setupSize + i] = kernelByte(i);
        }
        for (int i = 0; i < signatureBytes; i++) {
            image[setupSize + kernelBytes + i] = (byte) 0xCC;
        }
        return image;
    }
}
