#define _GNU_SOURCE
#include <sys/socket.h>
#include "CNetRelayShims.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

_Static_assert(sizeof(CNetRelay_mmsghdr) == sizeof(struct mmsghdr), "CNetRelay_mmsghdr must match struct mmsghdr");

int CNetRelay_sendmmsg(int fd, CNetRelay_mmsghdr *msgs, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, count, flags);
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
