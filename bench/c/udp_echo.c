/*
 * The host's side of bench/compare.sh's virtio-net round trips: a UDP echo on PORT that sends every datagram back
 * to where it came from, in a loop, until killed. The same C echo serves both VMMs, so its own cost is the same on
 * both sides.
 *
 *   udp_echo PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp_echo PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (s < 0 || bind(s, (struct sockaddr *)&at, sizeof at) < 0) {
        fprintf(stderr, "udp_echo: port %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "udp_echo: recvfrom: %s\n", strerror(errno));
            return 1;
        }
        if (sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, len) < 0 && errno != EINTR) {
            fprintf(stderr, "udp_echo: sendto: %s\n", strerror(errno));
        }
    }
}
