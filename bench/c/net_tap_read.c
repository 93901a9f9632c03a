/*
 * The receive reference for bench/net-path-bench.sh: read(2) frames from a tap (IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, a 12-byte header) into 256 buffers of 2 KiB in turn, as fast as they come, for SECONDS after half a
 * second of warm-up. Prints "frames N seconds S".
 *
 *   net_tap_read TAP SECONDS
 */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: net_tap_read TAP SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) { perror("open /dev/net/tun"); return 1; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); return 1; }
    int hdr = 12;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) { perror("TUNSETVNETHDRSZ"); return 1; }
    enum { BUFFERS = 256, SIZE = 2048 };
    char *all = aligned_alloc(4096, (size_t) BUFFERS * SIZE);
    double warm = now() + 0.5, start = 0, end = 1e300;
    long frames = 0;
    for (unsigned i = 0;; i++) {
        double t = now();
        if (start == 0 && t >= warm) { start = t; end = t + seconds; frames = 0; }
        if (t >= end) { printf("frames %ld seconds %.3f\n", frames, t - start); return 0; }
        ssize_t n = read(fd, all + (size_t) SIZE * (i % BUFFERS), SIZE);
        if (n > 0) { frames++; continue; }
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 10);
    }
}
