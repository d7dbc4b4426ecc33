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

// malloc_trim(0) where the C library has it (glibc): returns free heap pages to the system.
// Returns 1 if memory was released, 0 if not (or where there is no malloc_trim).
int CNetRelay_malloc_trim(void);

// Bytes the C library holds in free heap chunks (mallinfo2's fordblks), which RSS still counts
// until they are trimmed; 0 where unknown.
unsigned long CNetRelay_heap_free_bytes(void);

#endif
