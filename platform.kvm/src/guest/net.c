/*
 * The virtio-net test guest (virtio 1.2 section 5.1), on the kit's virtio-mmio driver. With the host's stack on the
 * other side of the tap it checks, printing NET-OK <what> for each:
 *   arp    an ARP request for net.host is answered with the host's MAC
 *   icmp   an ICMP echo to the host comes back with our payload; IPv4 and ICMP checksums verified
 *   udp    a UDP datagram with its checksum goes to net.host:net.port and the host's echo comes back with the same
 *          payload and a valid checksum (the host's kernel drops a datagram with a bad one, so the echo proves ours)
 *   pairs  (net.pairs=2, two vCPUs) VQ_PAIRS_SET 9 refused and 2 taken on the control queue, then a UDP exchange on
 *          each pair at once, pair 1 driven by vCPU 1 and pair 0 by vCPU 0: the tap steers the host's reply to the
 *          queue its flow came from, so each reply must arrive on its own pair's receive queue
 *   tso    (net.tso=A.B.C.D) one TCP frame of TSO_PAYLOAD bytes with HOST_TSO4 (gso_size 1448, the checksum left to
 *          the device: NEEDS_CSUM) to that address through the host, which forwards it out of an interface without
 *          segmentation offload: the host's stack cuts it into MSS-sized segments there (the test counts them)
 *   bench  (net.bench=N) N more UDP exchanges one after the other between BENCH-BEGIN udp_rr and BENCH-END udp_rr n=N,
 *          after net.warmup= (1000) unmeasured ones, at CPL 3 with net.cpl=3 (bench/compare.sh)
 * Then it powers off. Command line: net.ip=A.B.C.D net.host=A.B.C.D [net.port=7000] [net.pairs=1|2]
 * [net.tso=A.B.C.D] [net.bench=N [net.warmup=N] [net.cpl=0|3]] [net.numbuf0=1].
 * Failures print NET-FAIL <reason> and power off.
 */
#include "kit.h"
#include "virtio.h"

#define VIRTIO_ID_NET 1
#define F_CSUM (1ull << 0)
#define F_HOST_TSO4 (1ull << 11)
#define F_MAC (1ull << 5)
#define F_STATUS (1ull << 16)
#define F_CTRL_VQ (1ull << 17)
#define F_MQ (1ull << 22)
#define HDR 12
#define BUF 2048
#define RX_BUFFERS 16
#define TIMEOUT_US 5000000ull
#define PAIRS_MAX 2

static struct virtio_dev dev;
static struct virtq rxq[PAIRS_MAX], txq[PAIRS_MAX], ctrlq;
static uint8_t rx_buf[PAIRS_MAX][RX_BUFFERS][BUF] __attribute__((aligned(4096)));
static uint8_t tx_buf[PAIRS_MAX][BUF] __attribute__((aligned(4096)));
#define TSO_PAYLOAD 60000
#define TSO_MSS 1448
static uint8_t tso_buf[HDR + 14 + 20 + 20 + TSO_PAYLOAD] __attribute__((aligned(4096)));
static uint8_t ctrl_buf[64] __attribute__((aligned(64)));
static uint8_t mac[6], host_mac[6];
static uint32_t my_ip, host_ip;

__attribute__((noreturn)) static void finish(void) {
    poweroff();
    kprintf("NET-FAIL poweroff did not stop the machine\n");
    halt_forever();
}

/* A failure at CPL 3 (net.cpl=3) cannot reach the serial port: kept, and reported back at CPL 0 (run_bench). */
static const char *user_why;

__attribute__((noreturn)) static void fail(const char *why) {
    if (user_mode()) {
        user_why = why;
        user_exit(USER_FAILED);
    }
    kprintf("NET-FAIL %s\n", why);
    finish();
}

static uint32_t parse_ip(const char *key) {
    char text[20];
    if (!cmdline_value(key, text, sizeof text)) {
        kprintf("NET-FAIL no %s= on the command line\n", key);
        finish();
    }
    uint32_t ip = 0, part = 0;
    unsigned dots = 0;
    for (const char *p = text;; p++) {
        if (*p >= '0' && *p <= '9') {
            part = part * 10 + (uint32_t)(*p - '0');
        } else if (*p == '.' || *p == 0) {
            ip = ip << 8 | (part & 0xff);
            part = 0;
            if (*p == 0) {
                break;
            }
            dots++;
        } else {
            fail("an address is not A.B.C.D");
        }
    }
    if (dots != 3) {
        fail("an address is not A.B.C.D");
    }
    return ip;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* RFC 1071: the ones' complement sum, folded; a buffer whose checksum field is right sums to 0xffff. */
static uint32_t sum(const uint8_t *p, size_t n, uint32_t acc) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        acc += get16(p + i);
    }
    if (n & 1) {
        acc += (uint32_t)p[n - 1] << 8;
    }
    return acc;
}
static uint16_t fold(uint32_t acc) {
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return (uint16_t)acc;
}
/* The pseudo-header of a UDP or TCP checksum (RFC 768). */
static uint32_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len) {
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static void post_rx(unsigned pair, unsigned i) {
    struct virtq_desc d = {(uint64_t)(uintptr_t)rx_buf[pair][i], BUF, VIRTQ_DESC_F_WRITE, 0};
    if (virtq_add(&rxq[pair], &d, 1, (void *)(uintptr_t)(i + 1)) < 0) {
        fail("no room to post a receive buffer");
    }
}

/*
 * Sends the Ethernet frame in the pair's tx_buf + HDR (its header all zeros: no offload) and waits for it to be used.
 * Each pair has its own buffers and state, so two vCPUs can each drive one.
 */
static void send(unsigned pair, size_t frame) {
    memset(tx_buf[pair], 0, HDR);
    struct virtq_desc d = {(uint64_t)(uintptr_t)tx_buf[pair], (uint32_t)(HDR + frame), 0, 0};
    if (virtq_add(&txq[pair], &d, 1, tx_buf[pair]) < 0) {
        fail("no room on the transmit queue");
    }
    virtq_kick(&txq[pair]);
    if (!virtq_wait(&txq[pair], TIMEOUT_US)) {
        fail("a transmitted frame was not used in time");
    }
    void *cookie;
    uint32_t len;
    virtq_get_used(&txq[pair], &cookie, &len);
}

/*
 * Waits for a frame on a pair that accept() takes (others are skipped and their buffers posted again); returns its
 * frame (past the header) and length, the buffer posted again only at the next call. NULL on time-out.
 */
/* net.numbuf0=1 lets a device leave num_buffers 0, as QEMU's virtio-net did before 2025 (the spec, virtio 1.2
 * 5.1.6.4, says the device MUST set it to 1 without MRG_RXBUF): bench/compare.sh sets it for QEMU 7.2 only. */
static bool num_buffers_0_ok;
static uint8_t *pending_frame[PAIRS_MAX];
static unsigned pending_index[PAIRS_MAX];
static uint8_t *receive(unsigned pair, bool (*accept)(unsigned, const uint8_t *, uint32_t), uint32_t *frame_len) {
    if (pending_frame[pair]) {
        post_rx(pair, pending_index[pair]);
        virtq_kick(&rxq[pair]);
        pending_frame[pair] = NULL;
    }
    uint64_t deadline = tsc_us() + TIMEOUT_US;
    while (tsc_us() < deadline) {
        if (!virtq_wait(&rxq[pair], deadline - tsc_us())) {
            break;
        }
        void *cookie;
        uint32_t len;
        virtq_get_used(&rxq[pair], &cookie, &len);
        unsigned i = (unsigned)(uintptr_t)cookie - 1;
        uint8_t *b = rx_buf[pair][i];
        if (len < HDR + 14 || len > BUF) {
            fail("a received frame has an impossible length");
        }
        uint16_t num_buffers = (uint16_t)(b[10] | b[11] << 8);
        if (num_buffers != 1 && !(num_buffers == 0 && num_buffers_0_ok)) {
            fail("num_buffers is not 1 without MRG_RXBUF");
        }
        if (accept(pair, b + HDR, len - HDR)) {
            pending_frame[pair] = b + HDR;
            pending_index[pair] = i;
            *frame_len = len - HDR;
            return b + HDR;
        }
        post_rx(pair, i);
        virtq_kick(&rxq[pair]);
    }
    return NULL;
}

static uint8_t *eth(unsigned pair, const uint8_t *dst, uint16_t type) {
    uint8_t *f = tx_buf[pair] + HDR;
    memcpy(f, dst, 6);
    memcpy(f + 6, mac, 6);
    put16(f + 12, type);
    return f + 14;
}

/* ---- ARP (RFC 826) ---- */

static bool is_arp_reply(unsigned pair, const uint8_t *f, uint32_t len) {
    (void)pair;
    return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 && get32(f + 28) == host_ip;
}

static void check_arp(void) {
    static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *a = eth(0, broadcast, 0x0806);
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, mac, 6);
    put32(a + 14, my_ip);
    memset(a + 18, 0, 6);
    put32(a + 24, host_ip);
    send(0, 14 + 28);
    uint32_t len;
    uint8_t *r = receive(0, is_arp_reply, &len);
    if (!r) {
        fail("no ARP reply from the host");
    }
    memcpy(host_mac, r + 22, 6);
    kprintf("NET-OK arp host-mac=%x:%x:%x:%x:%x:%x\n", host_mac[0], host_mac[1], host_mac[2], host_mac[3],
            host_mac[4], host_mac[5]);
}

/* ---- IPv4 (RFC 791) ---- */

static uint8_t *ipv4(unsigned pair, uint8_t proto, uint16_t payload) {
    uint8_t *ip = eth(pair, host_mac, 0x0800);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + payload));
    put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, my_ip);
    put32(ip + 16, host_ip);
    put16(ip + 10, (uint16_t)~fold(sum(ip, 20, 0)));
    return ip + 20;
}

/* An IPv4 packet from the host to us of protocol proto, its header checksum right; returns its payload length. */
static int ipv4_from_host(const uint8_t *f, uint32_t len, uint8_t proto) {
    if (len < 34 || get16(f + 12) != 0x0800) {
        return -1;
    }
    const uint8_t *ip = f + 14;
    unsigned ihl = (ip[0] & 15u) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != proto || get32(ip + 12) != host_ip || get32(ip + 16) != my_ip) {
        return -1;
    }
    if (fold(sum(ip, ihl, 0)) != 0xffff) {
        fail("an IPv4 header checksum from the host is wrong");
    }
    uint16_t total = get16(ip + 2);
    if (total < ihl || 14u + total > len) {
        fail("an IPv4 length from the host is wrong");
    }
    return (int)(total - ihl);
}

static uint8_t pattern(unsigned i, unsigned seed) { return (uint8_t)(i * 31 + seed * 7 + (i >> 3)); }

/* ---- ICMP echo (RFC 792) ---- */

#define ICMP_PAYLOAD 56
static bool is_echo_reply(unsigned pair, const uint8_t *f, uint32_t len) {
    (void)pair;
    int n = ipv4_from_host(f, len, 1);
    return n >= 8 && f[34] == 0 && get16(f + 38) == 0x4256;
}

static void check_icmp(void) {
    uint8_t *icmp = ipv4(0, 1, 8 + ICMP_PAYLOAD);
    icmp[0] = 8;
    icmp[1] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 4, 0x4256);
    put16(icmp + 6, 1);
    for (unsigned i = 0; i < ICMP_PAYLOAD; i++) {
        icmp[8 + i] = pattern(i, 1);
    }
    put16(icmp + 2, (uint16_t)~fold(sum(icmp, 8 + ICMP_PAYLOAD, 0)));
    send(0, 14 + 20 + 8 + ICMP_PAYLOAD);
    uint32_t len;
    uint8_t *r = receive(0, is_echo_reply, &len);
    if (!r) {
        fail("no ICMP echo reply from the host");
    }
    int n = ipv4_from_host(r, len, 1);
    const uint8_t *reply = r + 34;
    if (n != 8 + ICMP_PAYLOAD || fold(sum(reply, (size_t)n, 0)) != 0xffff) {
        fail("the ICMP echo reply's length or checksum is wrong");
    }
    for (unsigned i = 0; i < ICMP_PAYLOAD; i++) {
        if (reply[8 + i] != pattern(i, 1)) {
            fail("the ICMP echo reply does not carry our payload");
        }
    }
    kprintf("NET-OK icmp bytes=%d\n", n);
}

/* ---- UDP (RFC 768) ---- */

#define UDP_PAYLOAD 512
static uint16_t udp_port, udp_src[PAIRS_MAX];
static bool is_udp_echo(unsigned pair, const uint8_t *f, uint32_t len) {
    int n = ipv4_from_host(f, len, 17);
    return n >= 8 && get16(f + 34) == udp_port && get16(f + 36) == udp_src[pair];
}

/* A UDP exchange on a pair; NULL when the echo came back intact on that pair, else why not. Prints nothing, so that
 * two vCPUs can run it at once; *checksum is the echo's. */
static const char *udp_exchange(unsigned pair, uint16_t src, unsigned seed, uint16_t *checksum) {
    udp_src[pair] = src;
    uint8_t *udp = ipv4(pair, 17, 8 + UDP_PAYLOAD);
    put16(udp, src);
    put16(udp + 2, udp_port);
    put16(udp + 4, 8 + UDP_PAYLOAD);
    put16(udp + 6, 0);
    for (unsigned i = 0; i < UDP_PAYLOAD; i++) {
        udp[8 + i] = pattern(i, seed);
    }
    uint16_t c = (uint16_t)~fold(sum(udp, 8 + UDP_PAYLOAD, pseudo(my_ip, host_ip, 17, 8 + UDP_PAYLOAD)));
    put16(udp + 6, c ? c : 0xffff);
    send(pair, 14 + 20 + 8 + UDP_PAYLOAD);
    uint32_t len;
    uint8_t *r = receive(pair, is_udp_echo, &len);
    if (!r) {
        return "no UDP echo on its pair";
    }
    int n = ipv4_from_host(r, len, 17);
    const uint8_t *reply = r + 34;
    if (n != 8 + UDP_PAYLOAD || get16(reply + 4) != n) {
        return "the UDP echo's length is wrong";
    }
    if (get16(reply + 6) != 0 && fold(sum(reply, (size_t)n, pseudo(host_ip, my_ip, 17, (uint16_t)n))) != 0xffff) {
        return "the UDP echo's checksum is wrong";
    }
    for (unsigned i = 0; i < UDP_PAYLOAD; i++) {
        if (reply[8 + i] != pattern(i, seed)) {
            return "the UDP echo does not carry our payload";
        }
    }
    *checksum = get16(reply + 6);
    return NULL;
}

static void check_udp(unsigned pair, uint16_t src, unsigned seed) {
    uint16_t checksum = 0;
    const char *why = udp_exchange(pair, src, seed, &checksum);
    if (why) {
        kprintf("NET-FAIL pair %u: %s\n", pair, why);
        finish();
    }
    kprintf("NET-OK udp pair=%u bytes=%d checksum=0x%x\n", pair, 8 + UDP_PAYLOAD, checksum);
}

/* ---- round trips for bench/compare.sh ---- */

static uint64_t exchanges(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint16_t checksum;
        const char *why = udp_exchange(0, 40001, (unsigned)i, &checksum);
        if (why) {
            fail(why);
        }
    }
    return n;
}

static void run_bench(uint64_t n) {
    bool user = cmdline_number("net.cpl", 0) == 3;
    uint64_t warm_up = cmdline_number("net.warmup", 1000);
    if (user) {
        user_init();
        (void)tsc_us(); /* calibrated here: port IO faults at CPL 3 on kvm_pvm */
    }
    uint64_t done = user ? user_call(exchanges, warm_up) : exchanges(warm_up);
    if (done == warm_up) {
        kprintf("BENCH-BEGIN udp_rr\n");
        done = user ? user_call(exchanges, n) : exchanges(n);
    }
    if (done == USER_FAILED) {
        fail(user_why);
    }
    kprintf("BENCH-END udp_rr n=%lu\n", done);
}

/* ---- two pairs on two vCPUs ---- */

static const char *volatile ap_why;
static volatile uint16_t ap_checksum;
static volatile bool ap_done;

static void ap_work(unsigned index) {
    if (index != 0) {
        return; /* the first AP drives pair 1 */
    }
    uint16_t c = 0;
    ap_why = udp_exchange(1, 40001, 4, &c);
    ap_checksum = c;
    __atomic_store_n(&ap_done, true, __ATOMIC_RELEASE);
}

/* Pair 1 on vCPU 1 and pair 0 on vCPU 0 at the same time, each its own UDP exchange. */
static void check_pairs_on_two_cpus(void) {
    smp_set_ap_work(ap_work);
    if (smp_start_aps() < 2) {
        fail("two pairs need two vCPUs");
    }
    uint16_t mine = 0;
    const char *why = udp_exchange(0, 40002, 5, &mine);
    uint64_t start = tsc_us();
    while (!__atomic_load_n(&ap_done, __ATOMIC_ACQUIRE)) {
        if (tsc_us() - start > 2 * TIMEOUT_US) {
            fail("vCPU 1 did not finish its pair");
        }
        cpu_relax();
    }
    if (why || ap_why) {
        kprintf("NET-FAIL pair %u: %s\n", why ? 0u : 1u, why ? why : ap_why);
        finish();
    }
    kprintf("NET-OK udp pair=1 cpu=1 bytes=%d checksum=0x%x\n", 8 + UDP_PAYLOAD, ap_checksum);
    kprintf("NET-OK udp pair=0 cpu=0 bytes=%d checksum=0x%x\n", 8 + UDP_PAYLOAD, mine);
}

/* ---- TCP segmentation offload (5.1.6.2: VIRTIO_NET_HDR_GSO_TCPV4 with NEEDS_CSUM) ---- */

static void check_tso(uint32_t dst) {
    uint8_t *h = tso_buf;
    memset(h, 0, HDR);
    h[0] = 1;                            /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
    h[1] = 1;                            /* VIRTIO_NET_HDR_GSO_TCPV4 */
    h[2] = 54; h[3] = 0;                 /* hdr_len: Ethernet, IPv4, TCP headers */
    h[4] = TSO_MSS & 0xff; h[5] = TSO_MSS >> 8;
    h[6] = 34; h[7] = 0;                 /* csum_start: the TCP header */
    h[8] = 16; h[9] = 0;                 /* csum_offset: its checksum field */
    uint8_t *f = h + HDR;
    memcpy(f, host_mac, 6);
    memcpy(f + 6, mac, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    uint16_t total = 20 + 20 + TSO_PAYLOAD;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, total);
    put16(ip + 4, 0x5150);
    ip[6] = 0x40;                        /* DF, as TCP sets it */
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, my_ip);
    put32(ip + 16, dst);
    put16(ip + 10, (uint16_t)~fold(sum(ip, 20, 0)));
    uint8_t *tcp = ip + 20;
    memset(tcp, 0, 20);
    put16(tcp, 40100);
    put16(tcp + 2, 9);
    put32(tcp + 4, 0x10000000);          /* sequence */
    put32(tcp + 8, 0x20000000);          /* acknowledgement */
    tcp[12] = 0x50;
    tcp[13] = 0x18;                      /* ACK, PSH */
    put16(tcp + 14, 0xffff);
    for (unsigned i = 0; i < TSO_PAYLOAD; i++) {
        tcp[20 + i] = pattern(i, 9);
    }
    /* CHECKSUM_PARTIAL: the field holds the pseudo-header's sum, the device (here the host's stack) adds the rest. */
    put16(tcp + 16, fold(pseudo(my_ip, dst, 6, 20 + TSO_PAYLOAD)));
    struct virtq_desc d = {(uint64_t)(uintptr_t)tso_buf, (uint32_t)sizeof tso_buf, 0, 0};
    if (virtq_add(&txq[0], &d, 1, tso_buf) < 0) {
        fail("no room for the TSO frame");
    }
    virtq_kick(&txq[0]);
    if (!virtq_wait(&txq[0], TIMEOUT_US)) {
        fail("the TSO frame was not used in time");
    }
    void *cookie;
    uint32_t len;
    virtq_get_used(&txq[0], &cookie, &len);
    kprintf("NET-OK tso sent bytes=%u mss=%u\n", (unsigned)TSO_PAYLOAD, (unsigned)TSO_MSS);
}

/* ---- the control queue (5.1.6.5) ---- */

static uint8_t control(uint8_t cls, uint8_t cmd, const uint8_t *data, unsigned n) {
    ctrl_buf[0] = cls;
    ctrl_buf[1] = cmd;
    memcpy(ctrl_buf + 2, data, n);
    ctrl_buf[32] = 0xee;
    struct virtq_desc d[2] = {{(uint64_t)(uintptr_t)ctrl_buf, 2 + n, 0, 0},
                              {(uint64_t)(uintptr_t)(ctrl_buf + 32), 1, VIRTQ_DESC_F_WRITE, 0}};
    if (virtq_add(&ctrlq, d, 2, ctrl_buf) < 0) {
        fail("no room on the control queue");
    }
    virtq_kick(&ctrlq);
    if (!virtq_wait(&ctrlq, TIMEOUT_US)) {
        fail("a control command was not answered");
    }
    void *cookie;
    uint32_t len;
    virtq_get_used(&ctrlq, &cookie, &len);
    if (len != 1) {
        fail("a control answer is not one byte");
    }
    return ctrl_buf[32];
}

int main(void) {
    my_ip = parse_ip("net.ip");
    host_ip = parse_ip("net.host");
    udp_port = (uint16_t)cmdline_number("net.port", 7000);
    num_buffers_0_ok = cmdline_number("net.numbuf0", 0) == 1;
    unsigned pairs = (unsigned)cmdline_number("net.pairs", 1);
    if (pairs < 1 || pairs > PAIRS_MAX) {
        fail("net.pairs must be 1 or 2");
    }
    idt_init();
    lapic_enable();
    time_init();
    struct virtio_mmio_slot slots[VIRTIO_MMIO_MAX_SLOTS];
    unsigned found = virtio_mmio_discover(slots, VIRTIO_MMIO_MAX_SLOTS);
    if (found == 0) {
        fail("no virtio-mmio device in the DSDT");
    }
    char tso_text[20];
    bool tso = cmdline_value("net.tso", tso_text, sizeof tso_text);
    uint64_t wanted = F_MAC | F_STATUS | (pairs > 1 ? F_CTRL_VQ | F_MQ : 0) | (tso ? F_CSUM | F_HOST_TSO4 : 0);
    const char *why = virtio_init(&dev, &slots[0], VIRTIO_ID_NET, wanted);
    if (why) {
        fail(why);
    }
    if ((dev.features & wanted) != wanted) {
        fail("the device does not offer MAC, STATUS (and CTRL_VQ, MQ for two pairs; CSUM, HOST_TSO4 for TSO)");
    }
    for (unsigned i = 0; i < 6; i++) {
        mac[i] = virtio_config8(&dev, i);
    }
    uint16_t max_pairs = pairs > 1 ? virtio_config16(&dev, 8) : 1;
    if (max_pairs < pairs) {
        fail("max_virtqueue_pairs is below net.pairs");
    }
    for (unsigned p = 0; p < pairs; p++) {
        if ((why = virtio_queue_setup(&dev, &rxq[p], 2 * p, 64)) ||
            (why = virtio_queue_setup(&dev, &txq[p], 2 * p + 1, 64))) {
            fail(why);
        }
    }
    if (pairs > 1 && (why = virtio_queue_setup(&dev, &ctrlq, 2 * max_pairs, 8))) {
        fail(why);
    }
    if ((why = virtio_driver_ok(&dev))) {
        fail(why);
    }
    uint16_t status = virtio_config16(&dev, 6);
    kprintf("NET-UP mac=%x:%x:%x:%x:%x:%x status=%u features=0x%lx\n", mac[0], mac[1], mac[2], mac[3], mac[4],
            mac[5], status, dev.features);
    if (!(status & 1)) {
        fail("the link is down");
    }
    for (unsigned p = 0; p < pairs; p++) {
        for (unsigned i = 0; i < RX_BUFFERS; i++) {
            post_rx(p, i);
        }
        virtq_kick(&rxq[p]);
    }
    check_arp();
    check_icmp();
    check_udp(0, 40000, 3);
    if (pairs > 1) {
        static const uint8_t two[2] = {2, 0};
        static const uint8_t nine[2] = {9, 0};
        if (control(4, 0, nine, 2) != 1) {
            fail("VQ_PAIRS_SET 9 was not refused");
        }
        if (control(4, 0, two, 2) != 0) {
            fail("VQ_PAIRS_SET 2 was refused");
        }
        check_pairs_on_two_cpus();
        kprintf("NET-OK pairs\n");
    }
    if (tso) {
        check_tso(parse_ip("net.tso"));
    }
    uint64_t bench = cmdline_number("net.bench", 0);
    if (bench) {
        run_bench(bench);
    }
    if (virtio_needs_reset(&dev)) {
        fail("the device set DEVICE_NEEDS_RESET");
    }
    finish();
    return 0;
}
