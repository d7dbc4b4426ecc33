#define _GNU_SOURCE
#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include "CNetRelayShims.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

_Static_assert(sizeof(CNetRelay_mmsghdr) == sizeof(struct mmsghdr), "CNetRelay_mmsghdr must match struct mmsghdr");

int CNetRelay_sendmmsg(int fd, CNetRelay_mmsghdr *msgs, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, count, flags);
}

int CNetRelay_setRelayMark(int fd, int dscp) {
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return 4;
    int tos = dscp << 2;
    // On an IPv6 socket IP_TOS marks what goes to IPv4-mapped peers; best effort there.
    if (setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) != 0 && domain == AF_INET) return 1;
    if (domain == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos)) != 0) return 2;
    // A = version nibble; IPv4: DSCP is the top six bits of byte 1; IPv6: bits 6-11 of the
    // first 16-bit word (version 4 bits, traffic class 8 bits, flow label).
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (unsigned int)SKF_NET_OFF),
        /* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 1, 0),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 3, 6),
        /* 4 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (unsigned int)SKF_NET_OFF + 1),
        /* 5 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xfc),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)dscp << 2, 4, 3),
        /* 7 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (unsigned int)SKF_NET_OFF),
        /* 8 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x0fc0),
        /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)dscp << 6, 1, 0),
        /* 10 accept */ BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
        /* 11 drop */ BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) return 3;
    return 0;
}

long long CNetRelay_socketDrops(int fd) {
    unsigned int info[SK_MEMINFO_VARS];
    socklen_t len = sizeof(info);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0) return -1;
    if (len < (SK_MEMINFO_DROPS + 1) * sizeof(unsigned int)) { errno = EINVAL; return -1; }
    return info[SK_MEMINFO_DROPS];
}

int CNetRelay_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

unsigned long CNetRelay_heap_free_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (unsigned long)mi.fordblks;
#else
    return 0;
#endif
}

unsigned long CNetRelay_packetInfoSpace(void) {
    return CMSG_SPACE(sizeof(struct in_pktinfo));
}

void CNetRelay_setPacketInfo(struct msghdr *h, void *buffer, int ifindex) {
    h->msg_control = buffer;
    h->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo info = { .ipi_ifindex = ifindex };
    memcpy(CMSG_DATA(c), &info, sizeof(info));
}

_Static_assert(sizeof(CNetRelay_sockFilter) == sizeof(struct sock_filter), "CNetRelay_sockFilter must match struct sock_filter");
_Static_assert(sizeof(CNetRelay_sockFprog) == sizeof(struct sock_fprog), "CNetRelay_sockFprog must match struct sock_fprog");

int CNetRelay_reuseportCBPFOption(void) {
    return SO_ATTACH_REUSEPORT_CBPF;
}

unsigned int CNetRelay_sourceSteering(unsigned int count, CNetRelay_sockFilter *out, unsigned int capacity) {
    // For a reuseport program the packet data starts at the UDP header: the IP header is read
    // through SKF_NET_OFF. IPv4: A = the source address. IPv6: A = the xor of the source's first
    // two words (its /64, as TokenBucketTable keys it). Then A %= count: the index of the socket
    // in the group, in bind order.
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (unsigned int)SKF_NET_OFF),
        /* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),
        /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned int)SKF_NET_OFF + 12),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JA, 4, 0, 0),
        /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned int)SKF_NET_OFF + 8),
        /* 6 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned int)SKF_NET_OFF + 12),
        /* 8 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        /* 9 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, count > 0 ? count : 1),
        /* 10 */ BPF_STMT(BPF_RET | BPF_A, 0),
    };
    unsigned int n = sizeof(code) / sizeof(code[0]);
    if (capacity < n) return 0;
    memcpy(out, code, sizeof(code));
    return n;
}

int CNetRelay_attachSourceSteering(int fd, unsigned int count) {
    struct sock_filter code[CNETRELAY_STEERING_MAX];
    unsigned int n = CNetRelay_sourceSteering(count, (CNetRelay_sockFilter *)code, CNETRELAY_STEERING_MAX);
    if (n == 0) { errno = EINVAL; return -1; }
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}
