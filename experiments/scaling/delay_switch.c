/* The "bridge" of the simulated cluster (netns_cluster.sh): an Ethernet switch in user space with
 * one tap port per node, which delivers every frame DELAY after it has been serialised onto the
 * output port at RATE. It exists because this machine's kernel has no netem qdisc
 * (CONFIG_NET_SCH_NETEM is not set), so tc alone cannot add latency; tc htb still limits the rate
 * at which each node sends (netns_cluster.sh), and this switch limits the rate into each node.
 *
 *   delay_switch --ports N --name PREFIX --delay-us D --rate-mbit R --mtu M --ready FILE
 * Makes taps PREFIX0..PREFIX{N-1} in the current network namespace (the caller moves them into the
 * node namespaces), writes FILE when they exist, and forwards until SIGTERM/SIGINT. The taps are
 * not persistent: they disappear when this process ends. Frames go to the port that has sent from
 * their destination address (learnt), else to every other port. A port's queue holds at most 8 MiB;
 * frames beyond that are dropped (as a full switch buffer drops them; TCP resends).
 * Build: cc -O2 -o delay_switch delay_switch.c (netns_cluster.sh builds it in its state folder). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PORTS = 8, MAX_FRAME = 65536 + 64, MAC_TABLE = 64 };
static const size_t QUEUE_LIMIT = 8u << 20;

typedef struct frame {
    struct frame *next;
    int64_t depart_ns; /* when it leaves the switch into the output port */
    size_t len;
    unsigned char data[];
} frame;

typedef struct {
    int fd;
    frame *head, *tail;
    size_t queued;        /* bytes waiting */
    int64_t busy_until;   /* end of serialisation of the last frame queued on this port */
    uint64_t sent, dropped;
} port;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int open_tap(const char *name, int mtu) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { perror("delay_switch: /dev/net/tun"); return -1; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "delay_switch: making tap %s: %s\n", name, strerror(errno));
        close(fd);
        return -1;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifr.ifr_mtu = mtu;
    if (s < 0 || ioctl(s, SIOCSIFMTU, &ifr) < 0) {
        fprintf(stderr, "delay_switch: MTU %d on %s: %s\n", mtu, name, strerror(errno));
        if (s >= 0) close(s);
        close(fd);
        return -1;
    }
    close(s);
    return fd;
}

typedef struct { unsigned char mac[6]; int port; } mac_entry;
static mac_entry macs[MAC_TABLE];
static int n_macs;

static void learn(const unsigned char *mac, int p) {
    if (mac[0] & 1) return; /* group addresses are never sources */
    for (int i = 0; i < n_macs; i++)
        if (!memcmp(macs[i].mac, mac, 6)) { macs[i].port = p; return; }
    if (n_macs < MAC_TABLE) { memcpy(macs[n_macs].mac, mac, 6); macs[n_macs++].port = p; }
}

static int lookup(const unsigned char *mac) {
    if (mac[0] & 1) return -1;
    for (int i = 0; i < n_macs; i++)
        if (!memcmp(macs[i].mac, mac, 6)) return macs[i].port;
    return -1;
}

/* Serialise at rate onto the output port, then deliver delay later. */
static void enqueue(port *o, const unsigned char *buf, size_t len, int64_t now, int64_t delay_ns,
                    double ns_per_byte) {
    if (o->queued + len > QUEUE_LIMIT) { o->dropped++; return; }
    frame *f = malloc(sizeof *f + len);
    if (!f) { o->dropped++; return; }
    memcpy(f->data, buf, len);
    f->len = len;
    f->next = NULL;
    int64_t start = o->busy_until > now ? o->busy_until : now;
    o->busy_until = start + (int64_t)(ns_per_byte * (double)len);
    f->depart_ns = o->busy_until + delay_ns;
    if (o->tail) o->tail->next = f; else o->head = f;
    o->tail = f;
    o->queued += len;
}

static void usage(FILE *to) {
    fprintf(to, "usage: delay_switch --ports N --name PREFIX --delay-us D --rate-mbit R --mtu M --ready FILE\n"
                "  a user-space Ethernet switch with one tap per port (PREFIX0..): every frame is\n"
                "  serialised at R Mbit/s onto its output port (0: no limit) and delivered D us later;\n"
                "  FILE is written once the taps exist. Stops on SIGTERM/SIGINT. See netns_cluster.sh.\n");
}

int main(int argc, char **argv) {
    int nports = 0, mtu = 9000;
    double delay_us = 0, rate_mbit = 0;
    const char *name = NULL, *ready = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "delay_switch: %s needs a value\n", a); usage(stderr); return 2; }
        if (!strcmp(a, "--ports")) nports = atoi(v);
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--delay-us")) delay_us = atof(v);
        else if (!strcmp(a, "--rate-mbit")) rate_mbit = atof(v);
        else if (!strcmp(a, "--mtu")) mtu = atoi(v);
        else if (!strcmp(a, "--ready")) ready = v;
        else { fprintf(stderr, "delay_switch: unknown option %s\n", a); usage(stderr); return 2; }
        i++;
    }
    if (nports < 2 || nports > MAX_PORTS || !name || strlen(name) > 10 || !ready || delay_us < 0 ||
        rate_mbit < 0 || mtu < 576 || mtu > 65000) {
        fprintf(stderr, "delay_switch: need --ports 2..%d, --name (<= 10 chars), --ready, delay >= 0, "
                        "rate >= 0, mtu 576..65000\n", MAX_PORTS);
        return 2;
    }
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake-ups to the microsecond, not the default 50 us */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    port ports[MAX_PORTS];
    memset(ports, 0, sizeof ports);
    struct pollfd pfd[MAX_PORTS];
    for (int p = 0; p < nports; p++) {
        char n[IFNAMSIZ];
        snprintf(n, sizeof n, "%s%d", name, p);
        ports[p].fd = open_tap(n, mtu);
        if (ports[p].fd < 0) return 5;
        pfd[p].fd = ports[p].fd;
        pfd[p].events = POLLIN;
    }
    FILE *r = fopen(ready, "w");
    if (!r || fprintf(r, "%d\n", (int)getpid()) < 0 || fclose(r) != 0) {
        fprintf(stderr, "delay_switch: cannot write %s: %s\n", ready, strerror(errno));
        return 5;
    }
    const int64_t delay_ns = (int64_t)(delay_us * 1000.0);
    const double ns_per_byte = rate_mbit > 0 ? 8000.0 / rate_mbit : 0.0;
    static unsigned char buf[MAX_FRAME];
    while (!stop) {
        int64_t now = now_ns(), next = -1;
        for (int p = 0; p < nports; p++) {
            port *o = &ports[p];
            while (o->head && o->head->depart_ns <= now) {
                frame *f = o->head;
                if (write(o->fd, f->data, f->len) == (ssize_t)f->len) o->sent++; else o->dropped++;
                o->head = f->next;
                if (!o->head) o->tail = NULL;
                o->queued -= f->len;
                free(f);
            }
            if (o->head && (next < 0 || o->head->depart_ns < next)) next = o->head->depart_ns;
        }
        struct timespec ts, *tsp = NULL;
        if (next >= 0) {
            int64_t wait = next - now_ns();
            if (wait < 0) wait = 0;
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        int n = ppoll(pfd, (nfds_t)nports, tsp, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("delay_switch: ppoll");
            return 5;
        }
        if (n == 0) continue;
        now = now_ns();
        for (int p = 0; p < nports; p++) {
            if (!(pfd[p].revents & POLLIN)) continue;
            for (int k = 0; k < 64; k++) { /* a burst per port, then the others get their turn */
                ssize_t len = read(ports[p].fd, buf, sizeof buf);
                if (len < 0) {
                    if (errno != EAGAIN && errno != EINTR) { perror("delay_switch: read"); return 5; }
                    break;
                }
                if (len < 14) continue;
                learn(buf + 6, p);
                int out = lookup(buf);
                for (int q = 0; q < nports; q++)
                    if (q != p && (out < 0 || q == out)) enqueue(&ports[q], buf, (size_t)len, now, delay_ns, ns_per_byte);
            }
        }
    }
    uint64_t sent = 0, dropped = 0;
    for (int p = 0; p < nports; p++) { sent += ports[p].sent; dropped += ports[p].dropped; close(ports[p].fd); }
    fprintf(stderr, "delay_switch: %llu frames delivered, %llu dropped\n", (unsigned long long)sent,
            (unsigned long long)dropped);
    return 0;
}
