// inet_ntop(3) for the daemon, without printf: this definition, in the executable, is the one the
// linker binds every inet_ntop call of the process to (NIO's too), ahead of the C library's.
//
// Why: NIO describes the source address of every datagram it reads, and both ends of every
// connection it accepts, as text (SocketAddress(sockaddr_in) calls inet_ntop), and glibc's
// inet_ntop formats each part with sprintf: about 3,000 instructions per received datagram,
// half of all the daemon's user-space work per reply (callgrind, docs/performance.md). This one
// is BIND's algorithm as glibc has it (resolv/inet_ntop.c), the same output byte for byte (the
// longest run of at least two zero groups becomes "::", the first of equal runs; "::a.b.c.d"
// and "::ffff:a.b.c.d" for IPv4-compatible and -mapped addresses; lower-case hex; ENOSPC when
// `size` is too small, EAFNOSUPPORT for other families), with the digits written directly.
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static char *put_decimal(char *p, unsigned v) {
    if (v >= 100) *p++ = (char)('0' + v / 100);
    if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static char *put_hex(char *p, unsigned v) {
    static const char digits[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && (v >> shift) == 0) shift -= 4;
    for (; shift >= 0; shift -= 4) *p++ = digits[(v >> shift) & 0xf];
    return p;
}

static char *put_v4(char *p, const unsigned char *src) {
    for (int i = 0; i < 4; i++) {
        if (i) *p++ = '.';
        p = put_decimal(p, src[i]);
    }
    return p;
}

static const char *finish(const char *tmp, const char *end, char *dst, socklen_t size) {
    size_t len = (size_t)(end - tmp);  // without the NUL
    if (len + 1 > (size_t)size) {
        errno = ENOSPC;
        return NULL;
    }
    memcpy(dst, tmp, len);
    dst[len] = '\0';
    return dst;
}

static const char *ntop6(const unsigned char *src, char *dst, socklen_t size) {
    char tmp[sizeof "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"], *tp = tmp;
    unsigned words[8];
    int best_base = -1, best_len = 0, cur_base = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) words[i] = (unsigned)src[2 * i] << 8 | src[2 * i + 1];
    for (int i = 0; i < 8; i++) {
        if (words[i] == 0) {
            if (cur_base == -1) cur_base = i, cur_len = 1;
            else cur_len++;
        } else if (cur_base != -1) {
            if (best_base == -1 || cur_len > best_len) best_base = cur_base, best_len = cur_len;
            cur_base = -1;
        }
    }
    if (cur_base != -1 && (best_base == -1 || cur_len > best_len)) best_base = cur_base, best_len = cur_len;
    if (best_base != -1 && best_len < 2) best_base = -1;
    for (int i = 0; i < 8; i++) {
        if (best_base != -1 && i >= best_base && i < best_base + best_len) {
            if (i == best_base) *tp++ = ':';
            continue;
        }
        if (i != 0) *tp++ = ':';
        if (i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            tp = put_v4(tp, src + 12);
            return finish(tmp, tp, dst, size);
        }
        tp = put_hex(tp, words[i]);
    }
    if (best_base != -1 && best_base + best_len == 8) *tp++ = ':';
    return finish(tmp, tp, dst, size);
}

const char *inet_ntop(int af, const void *restrict src, char *restrict dst, socklen_t size) {
    char tmp[sizeof "255.255.255.255"];
    switch (af) {
    case AF_INET:
        return finish(tmp, put_v4(tmp, src), dst, size);
    case AF_INET6:
        return ntop6(src, dst, size);
    default:
        errno = EAFNOSUPPORT;
        return NULL;
    }
}

const void *CNetRelay_inetNtopAddress(void) {
    return (const void *)&inet_ntop;
}
