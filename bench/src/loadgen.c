/*
 * bench/src/loadgen.c — the load generator for scripts/bench.
 *
 * Single-threaded, epoll (or busy sendmmsg/recvmmsg for the UDP flood), meant to
 * cost less per operation than any server it drives. Every mode is bounded in
 * time (warm-up + measurement, plus a hard deadline for setup) and in count
 * (--max-ops). Traffic goes to --host, which must be a loopback address.
 *
 * Modes:
 *   tcp-pingpong  --conns connections, each sends --size bytes and waits for the
 *                 whole reply (prefix + message) before sending again.       ops/s
 *   tcp-stream    --conns (1) connection(s) writing --size (64 KiB) chunks while
 *                 reading the echo; at most --window bytes unechoed.      bytes/s
 *   tcp-connrate  --conns (32) in flight: connect, send --size bytes, read the
 *                 reply, close, repeat.                                 conns/s
 *   udp-pingpong  --conns (16) connected UDP sockets, one datagram outstanding
 *                 per socket, resent (new sequence number) after --timeout-ms.
 *   udp-flood     --conns (4) sockets sending batches of --batch datagrams with
 *                 sendmmsg as fast as they can (or --rate per second), counting
 *                 replies with recvmmsg.                       replies/s, loss %
 *   tcp-nonreader one connection writes up to --bytes without ever reading, until
 *                 the kernel stops taking data for --stall seconds; reports how much
 *                 was written and the server's RSS before/after.
 *   tcp-idle      opens --conns connections, one ping-pong on each, then holds them
 *                 idle and reports the server's RSS before and after.
 *
 * With --server-pid, the server's utime+stime (/proc/PID/stat) is sampled at the
 * start and end of the measurement window, and its VmRSS/VmHWM (/proc/PID/status).
 * The result is one JSON object on stdout; diagnostics go to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define RBUF_SIZE (256 * 1024)

/* ---- options ---- */
static const char *mode;
static const char *host = "127.0.0.1";
static int port;
static int conns = -1;
static size_t msg_size = 0;
static const char *prefix = "";
static size_t plen;
static double warmup_s = 1.0, duration_s = 5.0;
static int server_pid = 0;
static double timeout_ms = 100.0;
static uint64_t max_ops = 1000000000000ULL;
static int verify = 0;
static size_t window = 8u << 20;
static uint64_t nonreader_bytes = 256ULL << 20;
static double stall_s = 2.0;
static double settle_s = 1.0;
static double setup_timeout_s = 60.0;
static int batch = 32;
static double rate = 0;
static int connect_inflight = 256;

/* ---- time and process sampling ---- */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long clk_tck;

/* utime+stime of a process (all its threads) in seconds, -1 if unknown. */
static double proc_cpu_s(int pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* after ") " come fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt
       majflt cmajflt utime(14) stime(15) */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)clk_tck;
}

/* A "VmRSS:"-style field of /proc/PID/status in KiB, -1 if unknown. */
static long proc_status_kb(int pid, const char *field) {
    char path[64], buf[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strstr(buf, field);
    if (!p) return -1;
    return strtol(p + strlen(field), NULL, 10);
}

/* Busy CPU time of the whole machine (all CPUs, from /proc/stat) in seconds. */
static double system_busy_s(void) {
    char buf[512];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    unsigned long long v[8] = {0};
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]) != 8)
        return -1;
    /* user nice system idle iowait irq softirq steal: everything but idle and iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)clk_tck;
}

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- measurement window ---- */
enum { PH_WARMUP, PH_MEASURE, PH_DONE };
static int phase = PH_WARMUP;
static double t_start, t_measure, t_end;
static uint64_t ops, bytes_in, bytes_out, sent_count, errors, timeouts, stale;
static struct {
    double t, server_cpu, self_cpu, system_busy;
    uint64_t ops, bytes_in, bytes_out, sent, timeouts, stale, errors;
} snap[2];

static void take_snapshot(int i) {
    snap[i].t = now_s();
    snap[i].server_cpu = server_pid ? proc_cpu_s(server_pid) : -1;
    snap[i].self_cpu = self_cpu_s();
    snap[i].system_busy = system_busy_s();
    snap[i].ops = ops;
    snap[i].bytes_in = bytes_in;
    snap[i].bytes_out = bytes_out;
    snap[i].sent = sent_count;
    snap[i].timeouts = timeouts;
    snap[i].stale = stale;
    snap[i].errors = errors;
}

static void window_begin(void) {
    t_start = now_s();
    t_measure = t_start + warmup_s;
    t_end = t_measure + duration_s;
    phase = PH_WARMUP;
    if (warmup_s <= 0) {
        take_snapshot(0);
        phase = PH_MEASURE;
    }
}

/* Advances the phase; returns 1 when the run is over. */
static int window_tick(double t) {
    if (phase == PH_WARMUP && t >= t_measure) {
        take_snapshot(0);
        phase = PH_MEASURE;
    }
    if (phase == PH_MEASURE && (t >= t_end || ops >= max_ops)) {
        take_snapshot(1);
        phase = PH_DONE;
    }
    return phase == PH_DONE;
}

/* epoll_wait timeout until the next phase boundary, in ms (1..50). */
static int window_wait_ms(double t) {
    double next = phase == PH_WARMUP ? t_measure : t_end;
    double ms = (next - t) * 1000.0;
    if (ms < 1) return 1;
    if (ms > 50) return 50;
    return (int)ms;
}

static void print_window_json(const char *extra) {
    double secs = snap[1].t - snap[0].t;
    uint64_t d_ops = snap[1].ops - snap[0].ops;
    double scpu = (snap[0].server_cpu >= 0 && snap[1].server_cpu >= 0) ? snap[1].server_cpu - snap[0].server_cpu : -1;
    printf("{\"mode\":\"%s\",\"seconds\":%.6f,\"ops\":%llu,\"rate\":%.3f,"
           "\"bytes_in\":%llu,\"bytes_out\":%llu,\"sent\":%llu,\"timeouts\":%llu,\"stale\":%llu,"
           "\"errors\":%llu,\"errors_total\":%llu,\"server_cpu_s\":%.3f,\"gen_cpu_s\":%.3f,"
           "\"system_busy_s\":%.3f,"
           "\"server_rss_kb\":%ld,\"server_hwm_kb\":%ld%s%s}\n",
           mode, secs, (unsigned long long)d_ops, secs > 0 ? (double)d_ops / secs : 0.0,
           (unsigned long long)(snap[1].bytes_in - snap[0].bytes_in),
           (unsigned long long)(snap[1].bytes_out - snap[0].bytes_out),
           (unsigned long long)(snap[1].sent - snap[0].sent),
           (unsigned long long)(snap[1].timeouts - snap[0].timeouts),
           (unsigned long long)(snap[1].stale - snap[0].stale),
           (unsigned long long)(snap[1].errors - snap[0].errors), (unsigned long long)errors, scpu,
           snap[1].self_cpu - snap[0].self_cpu, snap[1].system_busy - snap[0].system_busy, server_pid ? proc_status_kb(server_pid, "VmRSS:") : -1,
           server_pid ? proc_status_kb(server_pid, "VmHWM:") : -1, extra ? "," : "", extra ? extra : "");
    fflush(stdout);
}

static void fatal(const char *msg) {
    fprintf(stderr, "loadgen %s: %s\n", mode ? mode : "", msg);
    exit(1);
}

static void fatal_errno(const char *what) {
    fprintf(stderr, "loadgen %s: %s: %s\n", mode ? mode : "", what, strerror(errno));
    exit(1);
}

/* ---- sockets ---- */
static struct sockaddr_storage server_addr;
static socklen_t server_addr_len;

static void resolve_server(void) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&server_addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&server_addr;
    memset(&server_addr, 0, sizeof(server_addr));
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127) fatal("--host must be a loopback address");
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        server_addr_len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) fatal("--host must be a loopback address");
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        server_addr_len = sizeof(*a6);
    } else {
        fatal("--host must be a numeric loopback address");
    }
}

static int epfd;

static void ep_set(int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    if (epoll_ctl(epfd, op, fd, &ev) != 0) fatal_errno("epoll_ctl");
}

/* Starts a non-blocking TCP connect. *done is 1 if it completed at once. */
static int tcp_connect_start_opt(int *done, int nodelay) {
    int fd = socket(server_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    if (nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&server_addr, server_addr_len) == 0) {
        *done = 1;
        return fd;
    }
    if (errno == EINPROGRESS) {
        *done = 0;
        return fd;
    }
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static int tcp_connect_start(int *done) { return tcp_connect_start_opt(done, 1); }

static int so_error(int fd) {
    int err = 0;
    socklen_t l = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) return errno;
    return err;
}

/*
 * Opens n TCP connections, at most connect_inflight connecting at once, within
 * the setup deadline. Fills fds[]; returns how many connected.
 */
static int connect_many(int *fds, int n, double deadline) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int next = 0, inflight = 0, ok = 0, failed = 0;
    struct epoll_event evs[MAX_EVENTS];
    for (int i = 0; i < n; i++) fds[i] = -1;
    while (ok + failed < n) {
        while (next < n && inflight < connect_inflight) {
            int done = 0;
            int fd = tcp_connect_start(&done);
            if (fd < 0) {
                fprintf(stderr, "loadgen: connect #%d: %s\n", next, strerror(errno));
                failed++;
                next++;
                if (errno == EMFILE || errno == ENFILE) failed += n - next, next = n;
                continue;
            }
            if (done) {
                fds[next++] = fd;
                ok++;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            fds[next++] = fd;
            inflight++;
        }
        if (ok + failed >= n) break;
        if (now_s() > deadline) {
            fprintf(stderr, "loadgen: setup deadline passed with %d of %d connections\n", ok, n);
            break;
        }
        int k = epoll_wait(ep, evs, MAX_EVENTS, 100);
        for (int i = 0; i < k; i++) {
            int idx = (int)evs[i].data.u64;
            int fd = fds[idx];
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            inflight--;
            int err = so_error(fd);
            if (err) {
                fprintf(stderr, "loadgen: connect #%d: %s\n", idx, strerror(err));
                close(fd);
                fds[idx] = -1;
                failed++;
            } else {
                ok++;
            }
        }
    }
    /* Anything still connecting at the deadline is abandoned. */
    for (int i = 0; i < next; i++) {
        if (fds[i] >= 0 && so_error(fds[i]) != 0) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    close(ep);
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0) fds[count++] = fds[i];
    }
    return count;
}

/* ---- message and expected reply ---- */
static char *msg;       /* msg_size bytes, ASCII */
static char *expected;  /* prefix + msg */
static size_t reply_len;

static void build_message(void) {
    msg = malloc(msg_size + 1);
    expected = malloc(plen + msg_size + 1);
    for (size_t i = 0; i < msg_size; i++) msg[i] = (char)('a' + (i % 26));
    memcpy(expected, prefix, plen);
    memcpy(expected + plen, msg, msg_size);
    reply_len = plen + msg_size;
}

static char rbuf[RBUF_SIZE];

/* ---- tcp-pingpong ---- */
struct pp_conn {
    int fd;
    size_t got;
    int dead;
};

static int tcp_send_msg(int fd) {
    ssize_t w = write(fd, msg, msg_size);
    if (w == (ssize_t)msg_size) {
        bytes_out += (uint64_t)w;
        return 0;
    }
    return -1;
}

static void run_tcp_pingpong(void) {
    if (conns < 0) conns = 64;
    if (msg_size == 0) msg_size = 64;
    build_message();
    int *fds = calloc((size_t)conns, sizeof(int));
    int n = connect_many(fds, conns, now_s() + setup_timeout_s);
    if (n < conns) fatal("could not open all connections");
    struct pp_conn *cs = calloc((size_t)n, sizeof(*cs));
    for (int i = 0; i < n; i++) {
        cs[i].fd = fds[i];
        ep_set(EPOLL_CTL_ADD, fds[i], EPOLLIN, (uint64_t)i);
    }
    window_begin();
    for (int i = 0; i < n; i++) {
        if (tcp_send_msg(cs[i].fd) != 0) fatal_errno("write");
    }
    int alive = n;
    struct epoll_event evs[MAX_EVENTS];
    double t = now_s();
    while (!window_tick(t) && alive > 0) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, window_wait_ms(t));
        for (int e = 0; e < k; e++) {
            struct pp_conn *c = &cs[evs[e].data.u64];
            if (c->dead) continue;
            ssize_t r = read(c->fd, rbuf, sizeof(rbuf));
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                fprintf(stderr, "loadgen: connection closed by server (%s)\n", r == 0 ? "EOF" : strerror(errno));
                errors++;
                c->dead = 1;
                alive--;
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            bytes_in += (uint64_t)r;
            size_t got = c->got + (size_t)r;
            if (got > reply_len || memcmp(rbuf, expected + c->got, (size_t)r) != 0) {
                /* Wrong or over-long reply: count it, resynchronise on the next message. */
                errors++;
                got = reply_len;
            }
            c->got = got;
            if (got == reply_len) {
                c->got = 0;
                ops++;
                if (tcp_send_msg(c->fd) != 0) {
                    errors++;
                    c->dead = 1;
                    alive--;
                    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                }
            }
        }
        t = now_s();
    }
    if (phase != PH_DONE) {
        take_snapshot(phase == PH_WARMUP ? 0 : 1);
        if (phase == PH_WARMUP) take_snapshot(1);
    }
    print_window_json(NULL);
}

/* ---- tcp-stream ---- */
static char *pattern; /* 'a'..'z' repeating, long enough for any offset + chunk */

static void run_tcp_stream(void) {
    if (conns < 0) conns = 1;
    if (msg_size == 0) msg_size = 64 * 1024;
    if (plen) fatal("tcp-stream does not support --prefix");
    pattern = malloc(msg_size + 32);
    for (size_t i = 0; i < msg_size + 32; i++) pattern[i] = (char)('a' + (i % 26));
    int *fds = calloc((size_t)conns, sizeof(int));
    int n = connect_many(fds, conns, now_s() + setup_timeout_s);
    if (n < conns) fatal("could not open all connections");
    uint64_t *sent = calloc((size_t)n, sizeof(uint64_t)), *recvd = calloc((size_t)n, sizeof(uint64_t));
    uint32_t *evmask = calloc((size_t)n, sizeof(uint32_t));
    for (int i = 0; i < n; i++) {
        evmask[i] = EPOLLIN | EPOLLOUT;
        ep_set(EPOLL_CTL_ADD, fds[i], evmask[i], (uint64_t)i);
    }
    window_begin();
    struct epoll_event evs[MAX_EVENTS];
    double t = now_s();
    int alive = n;
    while (!window_tick(t) && alive > 0) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, window_wait_ms(t));
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u64;
            int fd = fds[i];
            if (fd < 0) continue;
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(fd, rbuf, sizeof(rbuf));
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    fprintf(stderr, "loadgen: stream connection closed by server\n");
                    errors++;
                    close(fd);
                    fds[i] = -1;
                    alive--;
                    continue;
                }
                if (r > 0) {
                    if (verify) {
                        size_t off = (size_t)(recvd[i] % 26);
                        for (ssize_t done = 0; done < r;) {
                            size_t chunk = (size_t)(r - done) < msg_size ? (size_t)(r - done) : msg_size;
                            if (memcmp(rbuf + done, pattern + (off + (size_t)done) % 26, chunk) != 0) errors++;
                            done += (ssize_t)chunk;
                        }
                    }
                    recvd[i] += (uint64_t)r;
                    bytes_in += (uint64_t)r;
                    ops++;
                }
            }
            if (evs[e].events & EPOLLOUT) {
                ssize_t w = write(fd, pattern + (sent[i] % 26), msg_size);
                if (w > 0) {
                    sent[i] += (uint64_t)w;
                    bytes_out += (uint64_t)w;
                }
            }
            uint32_t want = EPOLLIN | (sent[i] - recvd[i] < window ? EPOLLOUT : 0);
            if (want != evmask[i]) {
                evmask[i] = want;
                ep_set(EPOLL_CTL_MOD, fd, want, (uint64_t)i);
            }
        }
        t = now_s();
    }
    if (phase != PH_DONE) {
        if (phase == PH_WARMUP) take_snapshot(0);
        take_snapshot(1);
    }
    char extra[128];
    double secs = snap[1].t - snap[0].t;
    snprintf(extra, sizeof(extra), "\"mb_per_s\":%.3f",
             secs > 0 ? (double)(snap[1].bytes_in - snap[0].bytes_in) / secs / 1e6 : 0.0);
    print_window_json(extra);
}

/* ---- tcp-connrate ---- */
enum { CR_IDLE, CR_CONNECTING, CR_WAITING };
struct cr_slot {
    int fd;
    int state;
    size_t got;
};

/*
 * The generator's own cost matters here: on loopback the whole three-way handshake
 * runs in the connecting process's connect() call, so the client does more kernel
 * work per connection than the server. Hence the lean path: no TCP_NODELAY (one
 * write per connection), one edge-triggered registration for the connection's
 * whole life (no EPOLL_CTL_MOD), and a failed connect shows up as a failed write
 * or read instead of a getsockopt(SO_ERROR).
 */
static void cr_start(struct cr_slot *s, int idx) {
    for (;;) {
        int done = 0;
        int fd = tcp_connect_start_opt(&done, 0);
        if (fd < 0) {
            errors++;
            if (errors > 100000) fatal("too many connect errors");
            if (errno == EADDRNOTAVAIL || errno == EMFILE) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            s->state = CR_IDLE;
            return;
        }
        s->fd = fd;
        s->got = 0;
        if (done) {
            if (tcp_send_msg(fd) != 0) {
                errors++;
                close(fd);
                continue;
            }
            s->state = CR_WAITING;
        } else {
            s->state = CR_CONNECTING;
        }
        ep_set(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLET, (uint64_t)idx);
        return;
    }
}

static void run_tcp_connrate(void) {
    if (conns < 0) conns = 32;
    if (msg_size == 0) msg_size = 64;
    build_message();
    struct cr_slot *slots = calloc((size_t)conns, sizeof(*slots));
    window_begin();
    for (int i = 0; i < conns; i++) cr_start(&slots[i], i);
    struct epoll_event evs[MAX_EVENTS];
    double t = now_s();
    while (!window_tick(t)) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, window_wait_ms(t));
        for (int e = 0; e < k; e++) {
            int idx = (int)evs[e].data.u64;
            struct cr_slot *s = &slots[idx];
            if (s->state == CR_CONNECTING) {
                if (!(evs[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
                if (tcp_send_msg(s->fd) != 0) { /* also how a failed connect shows */
                    errors++;
                    close(s->fd);
                    cr_start(s, idx);
                    continue;
                }
                s->state = CR_WAITING;
                /* The echo may already be there, reported in this same event. */
                if (!(evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            }
            if (s->state != CR_WAITING) continue;
            if (!(evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            /* Edge-triggered: one read takes everything there (the reply is tiny). */
            ssize_t r = read(s->fd, rbuf, sizeof(rbuf));
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) {
                errors++;
                close(s->fd);
                cr_start(s, idx);
                continue;
            }
            bytes_in += (uint64_t)r;
            if (s->got + (size_t)r > reply_len || memcmp(rbuf, expected + s->got, (size_t)r) != 0) {
                errors++;
                close(s->fd);
                cr_start(s, idx);
                continue;
            }
            s->got += (size_t)r;
            if (s->got == reply_len) {
                ops++;
                close(s->fd); /* also leaves the epoll set */
                cr_start(s, idx);
            }
        }
        for (int i = 0; i < conns; i++) {
            if (slots[i].state == CR_IDLE) cr_start(&slots[i], i);
        }
        t = now_s();
    }
    for (int i = 0; i < conns; i++) {
        if (slots[i].state != CR_IDLE) close(slots[i].fd);
    }
    print_window_json(NULL);
}

/* ---- UDP helpers ---- */
static int udp_socket_connected(void) {
    int fd = socket(server_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fatal_errno("socket");
    int sz = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    if (connect(fd, (struct sockaddr *)&server_addr, server_addr_len) != 0) fatal_errno("connect (udp)");
    return fd;
}

/* ---- udp-pingpong ---- */
struct up_sock {
    int fd;
    uint64_t seq;
    double sent_at;
    char msg[2048];
};

static void up_send(struct up_sock *s, int idx, double t) {
    s->seq++;
    char head[40];
    int hl = snprintf(head, sizeof(head), "%04x%016llx", idx & 0xffff, (unsigned long long)s->seq);
    memcpy(s->msg, msg, msg_size);
    memcpy(s->msg, head, (size_t)hl < msg_size ? (size_t)hl : msg_size);
    s->sent_at = t;
    ssize_t w = send(s->fd, s->msg, msg_size, 0);
    if (w == (ssize_t)msg_size) {
        bytes_out += (uint64_t)w;
        sent_count++;
    } else {
        errors++;
    }
}

static void run_udp_pingpong(void) {
    if (conns < 0) conns = 16;
    if (msg_size == 0) msg_size = 64;
    if (msg_size < 20 || msg_size > 1024) fatal("udp-pingpong needs 20 <= --size <= 1024");
    build_message();
    struct up_sock *ss = calloc((size_t)conns, sizeof(*ss));
    for (int i = 0; i < conns; i++) {
        ss[i].fd = udp_socket_connected();
        ep_set(EPOLL_CTL_ADD, ss[i].fd, EPOLLIN, (uint64_t)i);
    }
    window_begin();
    double t = now_s();
    for (int i = 0; i < conns; i++) up_send(&ss[i], i, t);
    double last_scan = t, tmo = timeout_ms / 1000.0;
    struct epoll_event evs[MAX_EVENTS];
    while (!window_tick(t)) {
        int wait = window_wait_ms(t);
        if (wait > 5) wait = 5;
        int k = epoll_wait(epfd, evs, MAX_EVENTS, wait);
        t = now_s();
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u64;
            struct up_sock *s = &ss[i];
            for (int tries = 0; tries < 8; tries++) {
                ssize_t r = recv(s->fd, rbuf, sizeof(rbuf), 0);
                if (r < 0) break;
                bytes_in += (uint64_t)r;
                if ((size_t)r == reply_len && memcmp(rbuf, prefix, plen) == 0 &&
                    memcmp(rbuf + plen, s->msg, msg_size) == 0) {
                    ops++;
                    up_send(s, i, t);
                } else if ((size_t)r == reply_len && memcmp(rbuf, prefix, plen) == 0 &&
                           memcmp(rbuf + plen, s->msg, 4) == 0) {
                    stale++; /* a late reply to a datagram already resent */
                } else {
                    errors++;
                }
            }
        }
        if (t - last_scan >= 0.002) {
            last_scan = t;
            for (int i = 0; i < conns; i++) {
                if (t - ss[i].sent_at >= tmo) {
                    timeouts++;
                    up_send(&ss[i], i, t);
                }
            }
        }
    }
    char extra[64];
    uint64_t sent = snap[1].sent - snap[0].sent;
    snprintf(extra, sizeof(extra), "\"loss_pct\":%.4f",
             sent ? 100.0 * (double)(snap[1].timeouts - snap[0].timeouts) / (double)sent : 0.0);
    print_window_json(extra);
}

/* ---- udp-flood ---- */
static void run_udp_flood(void) {
    if (conns < 0) conns = 4;
    if (msg_size == 0) msg_size = 64;
    if (msg_size > 1024) fatal("udp-flood needs --size <= 1024");
    if (batch < 1 || batch > 256) fatal("--batch must be 1..256");
    build_message();
    int *fds = calloc((size_t)conns, sizeof(int));
    for (int i = 0; i < conns; i++) fds[i] = udp_socket_connected();
    struct mmsghdr *tx = calloc((size_t)batch, sizeof(*tx)), *rx = calloc((size_t)batch, sizeof(*rx));
    struct iovec *txiov = calloc((size_t)batch, sizeof(*txiov)), *rxiov = calloc((size_t)batch, sizeof(*rxiov));
    char *rxbufs = malloc((size_t)batch * 2048);
    for (int i = 0; i < batch; i++) {
        txiov[i].iov_base = msg;
        txiov[i].iov_len = msg_size;
        tx[i].msg_hdr.msg_iov = &txiov[i];
        tx[i].msg_hdr.msg_iovlen = 1;
        rxiov[i].iov_base = rxbufs + (size_t)i * 2048;
        rxiov[i].iov_len = 2048;
        rx[i].msg_hdr.msg_iov = &rxiov[i];
        rx[i].msg_hdr.msg_iovlen = 1;
    }
    window_begin();
    double t = now_s(), credit_t = t, credit = 0;
    uint64_t loops = 0;
    while (!window_tick(t)) {
        for (int s = 0; s < conns; s++) {
            int want = batch;
            if (rate > 0) {
                credit += (t - credit_t) * rate;
                credit_t = t;
                if (credit > rate * 0.01 + batch) credit = rate * 0.01 + batch; /* at most a 10 ms burst */
                if (credit < 1) want = 0;
                else if (credit < want) want = (int)credit;
            }
            if (want > 0) {
                int m = sendmmsg(fds[s], tx, (unsigned)want, MSG_DONTWAIT);
                if (m > 0) {
                    sent_count += (uint64_t)m;
                    bytes_out += (uint64_t)m * msg_size;
                    if (rate > 0) credit -= m;
                }
            }
            for (int drain = 0; drain < 64; drain++) {
                for (int i = 0; i < batch; i++) rx[i].msg_hdr.msg_flags = 0;
                int r = recvmmsg(fds[s], rx, (unsigned)batch, MSG_DONTWAIT, NULL);
                if (r <= 0) break;
                for (int i = 0; i < r; i++) {
                    if (rx[i].msg_len == reply_len) ops++;
                    else errors++;
                    bytes_in += rx[i].msg_len;
                }
                if (r < batch) break;
            }
        }
        if (rate > 0 && (++loops & 15) == 0) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        t = now_s();
    }
    /* The window's edges cut a few in-flight datagrams either way (replies counted
       in the window to datagrams sent before it, and the reverse at its end): a few
       hundred out of millions, so a loss that rounds below zero is shown as 0. */
    char extra[64];
    uint64_t sent = snap[1].sent - snap[0].sent, got = snap[1].ops - snap[0].ops;
    double loss = sent ? 100.0 * (1.0 - (double)got / (double)sent) : 0.0;
    snprintf(extra, sizeof(extra), "\"loss_pct\":%.4f", loss < 0 ? 0.0 : loss);
    print_window_json(extra);
}

/* ---- tcp-nonreader ---- */
static void run_tcp_nonreader(void) {
    if (msg_size == 0) msg_size = 64 * 1024;
    pattern = malloc(msg_size + 32);
    for (size_t i = 0; i < msg_size + 32; i++) pattern[i] = (char)('a' + (i % 26));
    long rss_before = server_pid ? proc_status_kb(server_pid, "VmRSS:") : -1;
    int fd;
    if (connect_many(&fd, 1, now_s() + setup_timeout_s) != 1) fatal("connect failed");
    double t0 = now_s(), deadline = t0 + duration_s, last_progress = t0;
    double cpu0 = server_pid ? proc_cpu_s(server_pid) : -1;
    uint64_t written = 0;
    int blocked = 0, closed = 0;
    while (written < nonreader_bytes) {
        double t = now_s();
        if (t >= deadline) break;
        if (t - last_progress >= stall_s) {
            blocked = 1;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 50) <= 0) continue;
        if (p.revents & (POLLERR | POLLHUP)) {
            closed = 1;
            break;
        }
        size_t len = msg_size;
        if (nonreader_bytes - written < len) len = (size_t)(nonreader_bytes - written);
        ssize_t w = write(fd, pattern + (written % 26), len);
        if (w > 0) {
            written += (uint64_t)w;
            last_progress = now_s();
        } else if (w < 0 && errno != EAGAIN) {
            closed = 1;
            break;
        }
    }
    double t_stop = now_s();
    /* Let the server catch up with what is already in its socket buffers. */
    struct timespec ts = {(time_t)settle_s, (long)((settle_s - (double)(time_t)settle_s) * 1e9)};
    nanosleep(&ts, NULL);
    long rss_after = server_pid ? proc_status_kb(server_pid, "VmRSS:") : -1;
    long hwm = server_pid ? proc_status_kb(server_pid, "VmHWM:") : -1;
    double cpu1 = server_pid ? proc_cpu_s(server_pid) : -1;
    printf("{\"mode\":\"%s\",\"written\":%llu,\"blocked\":%s,\"closed_by_server\":%s,\"seconds\":%.3f,"
           "\"server_rss_before_kb\":%ld,\"server_rss_after_kb\":%ld,\"server_hwm_kb\":%ld,"
           "\"server_cpu_s\":%.3f}\n",
           mode, (unsigned long long)written, blocked ? "true" : "false", closed ? "true" : "false", t_stop - t0,
           rss_before, rss_after, hwm, (cpu0 >= 0 && cpu1 >= 0) ? cpu1 - cpu0 : -1.0);
    fflush(stdout);
    close(fd);
}

/* ---- tcp-idle ---- */
static void run_tcp_idle(void) {
    if (conns < 0) conns = 10000;
    if (msg_size == 0) msg_size = 64;
    build_message();
    struct timespec ts0 = {(time_t)settle_s, (long)((settle_s - (double)(time_t)settle_s) * 1e9)};
    long rss_before = server_pid ? proc_status_kb(server_pid, "VmRSS:") : -1;
    double t0 = now_s(), deadline = t0 + setup_timeout_s;
    int *fds = calloc((size_t)conns, sizeof(int));
    int n = connect_many(fds, conns, deadline);
    /* One ping-pong on every connection, so the server has surely accepted it and
       run its per-connection setup; then the connections stay idle. */
    size_t *got = calloc((size_t)n, sizeof(size_t));
    int pending = 0, echoed = 0;
    for (int i = 0; i < n; i++) {
        if (tcp_send_msg(fds[i]) == 0) {
            ep_set(EPOLL_CTL_ADD, fds[i], EPOLLIN, (uint64_t)i);
            pending++;
        } else {
            errors++;
        }
    }
    struct epoll_event evs[MAX_EVENTS];
    while (pending > 0 && now_s() < deadline) {
        int k = epoll_wait(epfd, evs, MAX_EVENTS, 100);
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u64;
            ssize_t r = read(fds[i], rbuf, sizeof(rbuf));
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) {
                errors++;
                pending--;
                epoll_ctl(epfd, EPOLL_CTL_DEL, fds[i], NULL);
                continue;
            }
            got[i] += (size_t)r;
            if (got[i] >= reply_len) {
                echoed++;
                pending--;
                epoll_ctl(epfd, EPOLL_CTL_DEL, fds[i], NULL);
            }
        }
    }
    double t_setup = now_s() - t0;
    nanosleep(&ts0, NULL);
    long rss_after = server_pid ? proc_status_kb(server_pid, "VmRSS:") : -1;
    long hwm = server_pid ? proc_status_kb(server_pid, "VmHWM:") : -1;
    /* Are they all still open? A server that dropped connections shows EOF now. */
    int still_open = 0;
    for (int i = 0; i < n; i++) {
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
        if (r < 0 && errno == EAGAIN) still_open++;
    }
    printf("{\"mode\":\"%s\",\"requested\":%d,\"connected\":%d,\"echoed\":%d,\"still_open\":%d,\"errors\":%llu,"
           "\"setup_seconds\":%.3f,\"server_rss_before_kb\":%ld,\"server_rss_after_kb\":%ld,\"server_hwm_kb\":%ld}\n",
           mode, conns, n, echoed, still_open, (unsigned long long)errors, t_setup, rss_before, rss_after, hwm);
    fflush(stdout);
    for (int i = 0; i < n; i++) close(fds[i]);
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen MODE --port N [--host 127.0.0.1] [--conns N] [--size BYTES] [--prefix STR]\n"
            "               [--warmup S] [--duration S] [--server-pid PID] [--timeout-ms MS] [--max-ops N]\n"
            "               [--verify] [--window BYTES] [--bytes N] [--stall S] [--settle S]\n"
            "               [--setup-timeout S] [--batch N] [--rate PPS] [--connect-inflight N]\n"
            "modes: tcp-pingpong tcp-stream tcp-connrate udp-pingpong udp-flood tcp-nonreader tcp-idle\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verify")) {
            verify = 1;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--conns")) conns = atoi(v);
        else if (!strcmp(a, "--size")) msg_size = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--prefix")) prefix = v;
        else if (!strcmp(a, "--warmup")) warmup_s = atof(v);
        else if (!strcmp(a, "--duration")) duration_s = atof(v);
        else if (!strcmp(a, "--server-pid")) server_pid = atoi(v);
        else if (!strcmp(a, "--timeout-ms")) timeout_ms = atof(v);
        else if (!strcmp(a, "--max-ops")) max_ops = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--window")) window = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--bytes")) nonreader_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--stall")) stall_s = atof(v);
        else if (!strcmp(a, "--settle")) settle_s = atof(v);
        else if (!strcmp(a, "--setup-timeout")) setup_timeout_s = atof(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--connect-inflight")) connect_inflight = atoi(v);
        else usage();
    }
    if (port <= 0 || port > 65535) usage();
    if (duration_s <= 0 || duration_s > 3600 || warmup_s < 0 || warmup_s > 600) fatal("bad --duration/--warmup");
    if (timeout_ms <= 0 || settle_s < 0 || stall_s <= 0 || setup_timeout_s <= 0) fatal("bad timing option");
    if (connect_inflight < 1) connect_inflight = 1;
    plen = strlen(prefix);
    clk_tck = sysconf(_SC_CLK_TCK);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    resolve_server();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) fatal_errno("epoll_create1");

    if (!strcmp(mode, "tcp-pingpong")) run_tcp_pingpong();
    else if (!strcmp(mode, "tcp-stream")) run_tcp_stream();
    else if (!strcmp(mode, "tcp-connrate")) run_tcp_connrate();
    else if (!strcmp(mode, "udp-pingpong")) run_udp_pingpong();
    else if (!strcmp(mode, "udp-flood")) run_udp_flood();
    else if (!strcmp(mode, "tcp-nonreader")) run_tcp_nonreader();
    else if (!strcmp(mode, "tcp-idle")) run_tcp_idle();
    else usage();
    return 0;
}
