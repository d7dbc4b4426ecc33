/*
 * bench/src/echo_server.c — the C reference server for scripts/bench.
 *
 * A minimal single-threaded epoll echo server, TCP and UDP, written the way a
 * careful small server would be:
 *   - level-triggered epoll, one read per readiness event, non-blocking sockets;
 *   - TCP: each chunk read is written straight back (optionally after a prefix,
 *     like Node's classic `socket.write('Confirm data: ' + data)`); whatever the
 *     kernel does not take is kept in a per-connection backlog, and the server
 *     stops reading a connection while that backlog is over --backlog-limit
 *     bytes (it resumes below half of it), so a client that never reads cannot
 *     make it grow without bound;
 *   - UDP: each datagram is answered to its sender (optionally prefixed), read
 *     and written in batches with recvmmsg/sendmmsg (--no-mmsg: one
 *     recvfrom/sendto per datagram); replies the kernel refuses are dropped.
 *
 * Usage: echo_server [--tcp HOST:PORT] [--udp HOST:PORT] [--tcp-prefix STR]
 *                    [--udp-prefix STR] [--backlog-limit BYTES] [--no-mmsg]
 * HOST is an IPv4 address or a bracketed IPv6 address ([::1]:7000).
 * Runs in the foreground until SIGTERM or SIGINT, then exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCRATCH_SIZE (64 * 1024)
#define UDP_BATCH 32
#define UDP_SLOT 4096
#define MAX_EVENTS 256
#define ACCEPTS_PER_WAKEUP 64
#define UDP_BATCHES_PER_WAKEUP 8

struct conn {
    char *buf;          /* backlog: bytes read but not yet written back, NULL when empty */
    uint32_t off, len;  /* unsent bytes are buf[off..len) */
    uint32_t events;    /* what the fd is registered for in epoll */
    uint8_t open;
    uint8_t eof;        /* the peer sent FIN: flush the backlog, then close */
};

static volatile sig_atomic_t stop_requested;
static int epfd;
static int tcp_fd = -1, udp_fd = -1;
static struct conn *conns;
static size_t conns_cap;
static size_t backlog_limit = 64 * 1024;
static size_t backlog_cap;
static char scratch[SCRATCH_SIZE];
static const char *tcp_prefix = "";
static size_t tcp_plen;
static const char *udp_prefix = "";
static size_t udp_plen;
static int use_mmsg = 1;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int parse_endpoint(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
    char host[128];
    const char *colon;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host)) return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host)) return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
    }
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535) return -1;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

static int open_listener(const char *spec, int type) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_endpoint(spec, &ss, &sl) != 0) {
        fprintf(stderr, "echo_server: bad endpoint '%s'\n", spec);
        exit(2);
    }
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) die("bind");
    if (type == SOCK_STREAM && listen(fd, 4096) != 0) die("listen");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    return fd;
}

static void set_events(int fd, struct conn *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    c->events = events;
}

static void close_conn(int fd) {
    struct conn *c = &conns[fd];
    free(c->buf);
    memset(c, 0, sizeof(*c));
    close(fd); /* also removes it from the epoll set */
}

/* Append to the backlog; the caller guarantees pending + n <= backlog_cap. */
static void backlog_append(struct conn *c, const char *p, size_t n) {
    if (!c->buf) {
        c->buf = malloc(backlog_cap);
        if (!c->buf) die("malloc");
        c->off = c->len = 0;
    }
    if (c->len + n > backlog_cap) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += (uint32_t)n;
}

static void update_interest(int fd, struct conn *c) {
    size_t pending = c->len - c->off;
    uint32_t ev = 0;
    if (pending > 0) ev |= EPOLLOUT;
    /* Hysteresis: stop reading at the limit, resume below half of it. */
    int reading = (c->events & EPOLLIN) != 0;
    if (!c->eof && (pending < backlog_limit / 2 || (reading && pending < backlog_limit))) ev |= EPOLLIN;
    set_events(fd, c, ev);
}

static void on_tcp_readable(int fd) {
    struct conn *c = &conns[fd];
    size_t pending = c->len - c->off;
    if (pending >= backlog_limit) {
        update_interest(fd, c);
        return;
    }
    ssize_t n = read(fd, scratch + tcp_plen, SCRATCH_SIZE - tcp_plen);
    if (n == 0) {
        if (pending == 0) {
            close_conn(fd);
        } else {
            c->eof = 1;
            update_interest(fd, c);
        }
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) close_conn(fd);
        return;
    }
    /* The prefix sits permanently at scratch[0..tcp_plen). */
    size_t total = tcp_plen + (size_t)n;
    if (pending == 0) {
        ssize_t w = write(fd, scratch, total);
        if (w < 0) {
            if (errno != EAGAIN) {
                close_conn(fd);
                return;
            }
            w = 0;
        }
        if ((size_t)w == total) return; /* fast path: nothing queued, interest unchanged */
        backlog_append(c, scratch + w, total - (size_t)w);
    } else {
        backlog_append(c, scratch, total);
    }
    update_interest(fd, c);
}

static void on_tcp_writable(int fd) {
    struct conn *c = &conns[fd];
    size_t pending = c->len - c->off;
    if (pending > 0) {
        ssize_t w = write(fd, c->buf + c->off, pending);
        if (w < 0) {
            if (errno != EAGAIN) close_conn(fd);
            return;
        }
        c->off += (uint32_t)w;
    }
    if (c->off == c->len) {
        free(c->buf);
        c->buf = NULL;
        c->off = c->len = 0;
        if (c->eof) {
            close_conn(fd);
            return;
        }
    }
    update_interest(fd, c);
}

static void on_accept(void) {
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return; /* EAGAIN, or EMFILE: try again on the next wakeup */
        }
        if ((size_t)fd >= conns_cap) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = &conns[fd];
        memset(c, 0, sizeof(*c));
        c->open = 1;
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) close_conn(fd);
    }
}

/* UDP, batched: every reply is [prefix, datagram] as two iovecs, no copy. */
static char udp_bufs[UDP_BATCH][UDP_SLOT];
static struct sockaddr_storage udp_addrs[UDP_BATCH];
static struct iovec udp_rx_iov[UDP_BATCH];
static struct iovec udp_tx_iov[UDP_BATCH][2];
static struct mmsghdr udp_rx[UDP_BATCH], udp_tx[UDP_BATCH];

static void on_udp_readable_mmsg(void) {
    for (int round = 0; round < UDP_BATCHES_PER_WAKEUP; round++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            udp_rx_iov[i].iov_base = udp_bufs[i];
            udp_rx_iov[i].iov_len = UDP_SLOT;
            memset(&udp_rx[i].msg_hdr, 0, sizeof(udp_rx[i].msg_hdr));
            udp_rx[i].msg_hdr.msg_iov = &udp_rx_iov[i];
            udp_rx[i].msg_hdr.msg_iovlen = 1;
            udp_rx[i].msg_hdr.msg_name = &udp_addrs[i];
            udp_rx[i].msg_hdr.msg_namelen = sizeof(udp_addrs[i]);
        }
        int n = recvmmsg(udp_fd, udp_rx, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (udp_rx[i].msg_hdr.msg_flags & MSG_TRUNC) continue; /* oversized: drop */
            struct msghdr *h = &udp_tx[k].msg_hdr;
            memset(h, 0, sizeof(*h));
            int iovs = 0;
            if (udp_plen) {
                udp_tx_iov[k][iovs].iov_base = (void *)udp_prefix;
                udp_tx_iov[k][iovs++].iov_len = udp_plen;
            }
            udp_tx_iov[k][iovs].iov_base = udp_bufs[i];
            udp_tx_iov[k][iovs++].iov_len = udp_rx[i].msg_len;
            h->msg_iov = udp_tx_iov[k];
            h->msg_iovlen = (size_t)iovs;
            h->msg_name = &udp_addrs[i];
            h->msg_namelen = udp_rx[i].msg_hdr.msg_namelen;
            k++;
        }
        int sent = 0;
        while (sent < k) {
            int m = sendmmsg(udp_fd, udp_tx + sent, (unsigned)(k - sent), MSG_DONTWAIT);
            if (m <= 0) {
                if (m < 0 && errno == EINTR) continue;
                sent++; /* this reply failed (buffer full, unreachable...): drop it */
                continue;
            }
            sent += m;
        }
        if (n < UDP_BATCH) return;
    }
}

static void on_udp_readable_plain(void) {
    for (int i = 0; i < UDP_BATCH * UDP_BATCHES_PER_WAKEUP; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        char *buf = udp_bufs[0];
        memcpy(buf, udp_prefix, udp_plen);
        ssize_t n = recvfrom(udp_fd, buf + udp_plen, UDP_SLOT - udp_plen, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fl);
        if (n < 0) return;
        if ((size_t)n > UDP_SLOT - udp_plen) continue;
        sendto(udp_fd, buf, udp_plen + (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: echo_server [--tcp HOST:PORT] [--udp HOST:PORT] [--tcp-prefix STR]\n"
            "                   [--udp-prefix STR] [--backlog-limit BYTES] [--no-mmsg]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *tcp_spec = NULL, *udp_spec = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tcp") && v) tcp_spec = v, i++;
        else if (!strcmp(a, "--udp") && v) udp_spec = v, i++;
        else if (!strcmp(a, "--tcp-prefix") && v) tcp_prefix = v, i++;
        else if (!strcmp(a, "--udp-prefix") && v) udp_prefix = v, i++;
        else if (!strcmp(a, "--backlog-limit") && v) backlog_limit = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--no-mmsg")) use_mmsg = 0;
        else usage();
    }
    if (!tcp_spec && !udp_spec) usage();
    tcp_plen = strlen(tcp_prefix);
    udp_plen = strlen(udp_prefix);
    if (tcp_plen > 1024 || udp_plen > 1024 || backlog_limit < 1024 || backlog_limit > (1u << 30)) usage();
    memcpy(scratch, tcp_prefix, tcp_plen);
    backlog_cap = backlog_limit + SCRATCH_SIZE;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    conns_cap = rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur;
    conns = calloc(conns_cap, sizeof(*conns));
    if (!conns) die("calloc");

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    if (tcp_spec) tcp_fd = open_listener(tcp_spec, SOCK_STREAM);
    if (udp_spec) {
        udp_fd = open_listener(udp_spec, SOCK_DGRAM);
    }
    fprintf(stderr, "echo_server: ready (tcp %s, udp %s, backlog limit %zu)\n", tcp_spec ? tcp_spec : "-",
            udp_spec ? udp_spec : "-", backlog_limit);

    struct epoll_event evs[MAX_EVENTS];
    while (!stop_requested) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == tcp_fd) {
                on_accept();
            } else if (fd == udp_fd) {
                if (use_mmsg) on_udp_readable_mmsg();
                else on_udp_readable_plain();
            } else {
                if (!conns[fd].open) continue;
                if (e & EPOLLOUT) on_tcp_writable(fd);
                if (!conns[fd].open) continue;
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    if (conns[fd].events & EPOLLIN) on_tcp_readable(fd);
                    else if (e & (EPOLLHUP | EPOLLERR)) close_conn(fd);
                }
            }
        }
    }
    fprintf(stderr, "echo_server: stopping\n");
    return 0;
}
