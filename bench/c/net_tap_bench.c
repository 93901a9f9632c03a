/*
 * The reference for bench/net-path-bench.sh: what a VMM's transmit path does at the least, in C: the same tap
 * (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a 12-byte header), the same frames as bench/java/NetPathBench.java in as many
 * buffers (256, each on its own pages, as a guest's transmit buffers are), one write(2) a frame in turn, for SECONDS
 * after half a second of warm-up. Prints "frames N seconds S".
 *
 *   net_tap_bench TAP FRAME_BYTES SECONDS
 *   net_tap_bench -p IFACE FRAME_BYTES SECONDS   the packet source of the receive path: the same frames (no
 *                                               virtio-net header) sent out of IFACE through an AF_PACKET socket
 */
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void be16(uint8_t *p, unsigned v) { p[0] = v >> 8; p[1] = v; }
static void le16(uint8_t *p, unsigned v) { p[0] = v; p[1] = v >> 8; }

int main(int argc, char **argv)
{
    int packet = argc == 5 && strcmp(argv[1], "-p") == 0;
    if (packet) {
        argv++;
        argc--;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: net_tap_bench [-p] TAP FRAME_BYTES SECONDS\n");
        return 2;
    }
    int frame_bytes = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int tso = frame_bytes > 1514;
    int fd;
    if (packet) {
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0) { perror("socket AF_PACKET"); return 1; }
        struct sockaddr_ll sll;
        memset(&sll, 0, sizeof sll);
        sll.sll_family = AF_PACKET;
        sll.sll_ifindex = (int) if_nametoindex(argv[1]);
        if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *) &sll, sizeof sll) < 0) { perror("bind"); return 1; }
    } else {
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) { perror("open /dev/net/tun"); return 1; }
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
        int hdr = 12;
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) { perror("TUNSETVNETHDRSZ"); return 1; }
    }

    size_t len = 12 + frame_bytes;
    uint8_t *f = calloc(1, len);
    if (tso) { /* NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1448, csum at 34 + 16 */
        f[0] = 1; f[1] = 1; le16(f + 2, 54); le16(f + 4, 1448); le16(f + 6, 34); le16(f + 8, 16);
    }
    uint8_t *e = f + 12;
    const uint8_t macs[12] = {2, 0, 0, 0, 0, 0x99, 2, 0, 0, 0, 0, 1};
    memcpy(e, macs, 12);
    be16(e + 12, 0x0800);
    uint8_t *ip = e + 14;
    ip[0] = 0x45;
    be16(ip + 2, frame_bytes - 14 > 65535 ? 65535 : frame_bytes - 14);
    ip[8] = 64; ip[9] = tso ? 6 : 17;
    ip[12] = 10; ip[13] = 0x4f; ip[14] = 0; ip[15] = 2;
    ip[16] = 10; ip[17] = 0x4f; ip[18] = 0; ip[19] = 1;
    uint8_t *l4 = ip + 20;
    be16(l4, 5001); be16(l4 + 2, 5002);
    if (tso) { l4[12] = 0x50; l4[13] = 0x10; } else { be16(l4 + 4, frame_bytes - 34); }

    enum { BUFFERS = 256 };
    size_t stride = (len + 4095) & ~(size_t) 4095;
    uint8_t *all = aligned_alloc(4096, stride * BUFFERS);
    for (int i = 0; i < BUFFERS; i++)
        memcpy(all + stride * i, f, len);
    double warm = now() + 0.5, start = 0, end = 1e300;
    long frames = 0;
    for (unsigned i = 0;; i++) {
        if (packet) { /* the frame without the virtio-net header; a full queue drops it, which is the point */
            send(fd, all + stride * (i % BUFFERS) + 12, len - 12, 0);
        } else if (write(fd, all + stride * (i % BUFFERS), len) != (ssize_t) len) { perror("write"); return 1; }
        double t = now();
        if (start == 0 && t >= warm) { start = t; end = t + seconds; frames = 0; }
        else frames++;
        if (t >= end) { printf("frames %ld seconds %.3f\n", frames, t - start); return 0; }
    }
}
