// Small C shims for what Swift's Glibc module does not expose.
#ifndef CNETRELAYSHIMS_H
#define CNETRELAYSHIMS_H

#include <sys/socket.h>

// struct mmsghdr and sendmmsg(2) are GNU extensions, which Glibc's Swift module leaves out (and
// defining _GNU_SOURCE here would clash with it). As NIO's CNIOLinux does, reproduce the
// structure, which is part of glibc's stable ABI; shims.c checks that the sizes agree.
typedef struct {
    struct msghdr msg_hdr;
    unsigned int msg_len;
} CNetRelay_mmsghdr;

int CNetRelay_sendmmsg(int fd, CNetRelay_mmsghdr *msgs, unsigned int count, int flags);

// Marks what the socket sends with a DSCP value (IP_TOS, and IPV6_TCLASS on an IPv6 socket)
// and attaches a classic BPF filter that drops, in the kernel, every datagram that arrives
// with that DSCP value (IPv4 or IPv6 header, read through SKF_NET_OFF). dscp 1-63.
// Returns 0, or the failed step (1 IP_TOS, 2 IPV6_TCLASS, 3 SO_ATTACH_FILTER, 4 SO_DOMAIN)
// with errno set.
int CNetRelay_setRelayMark(int fd, int dscp);

// The socket's drop counter (SO_MEMINFO's SK_MEMINFO_DROPS): datagrams the socket filter
// refused plus those lost to a full receive queue. -1 with errno set on failure.
long long CNetRelay_socketDrops(int fd);

// malloc_trim(0) where the C library has it (glibc): returns free heap pages to the system.
// Returns 1 if memory was released, 0 if not (or where there is no malloc_trim).
int CNetRelay_malloc_trim(void);

// Bytes the C library holds in free heap chunks (mallinfo2's fordblks), which RSS still counts
// until they are trimmed; 0 where unknown.
unsigned long CNetRelay_heap_free_bytes(void);

// Unmaps (MADV_DONTNEED) the read-only, file-backed pages of the executable and its shared
// libraries: machine code, symbol and relocation tables, unwind tables. Start-up touches most of
// a static Swift binary's 14 MB of them (the dynamic loader reads every relocation and symbol, the
// runtime scans its metadata, the kernel maps 64 KiB around every fault), and RSS counts them
// for as long as they stay mapped. They are clean page cache: nothing is lost, what runs later
// maps its pages again on first use (a minor fault, no I/O). Writable and RELRO segments are
// left alone. Returns the bytes advised (mapped or not); 0 where dl_iterate_phdr is missing.
unsigned long CNetRelay_dropCleanTextPages(void);

// inet_ntop.c defines inet_ntop(3) (glibc's output, without printf), ahead of the C library's
// in every binary that links this module; this returns its address, for a test that the
// binary's calls reach it.
const void *CNetRelay_inetNtopAddress(void);

// IP_PKTINFO on send: a control message whose ipi_ifindex makes the kernel send the datagram
// out of that interface (a limited broadcast 255.255.255.255 too), whatever the routing table
// says. `buffer` holds CNetRelay_packetInfoSpace() bytes, suitably aligned (8).
unsigned long CNetRelay_packetInfoSpace(void);
void CNetRelay_setPacketInfo(struct msghdr *h, void *buffer, int ifindex);

// A classic BPF instruction and program, as struct sock_filter and struct sock_fprog of
// <linux/filter.h> (shims.c checks that the sizes agree).
typedef struct {
    unsigned short code;
    unsigned char jt;
    unsigned char jf;
    unsigned int k;
} CNetRelay_sockFilter;
typedef struct {
    unsigned short len;
    CNetRelay_sockFilter *filter;
} CNetRelay_sockFprog;

#define CNETRELAY_STEERING_MAX 16

// SO_ATTACH_REUSEPORT_CBPF (for setsockopt at SOL_SOCKET).
int CNetRelay_reuseportCBPFOption(void);

// Writes a SO_REUSEPORT steering program into `out` (room for `capacity` instructions;
// CNETRELAY_STEERING_MAX is enough) and returns its length (0: no room). It picks the socket
// of the group by the datagram's source address only (IPv4: the address; IPv6: its /64), modulo
// `count`, so one address lands on one socket whatever its source port.
unsigned int CNetRelay_sourceSteering(unsigned int count, CNetRelay_sockFilter *out, unsigned int capacity);

// Attaches that program to the SO_REUSEPORT group of `fd` (it applies to the whole group).
// 0, or -1 with errno set.
int CNetRelay_attachSourceSteering(int fd, unsigned int count);

#endif
