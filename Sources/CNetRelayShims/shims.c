#define _GNU_SOURCE
#include <sys/socket.h>
#include "CNetRelayShims.h"

_Static_assert(sizeof(CNetRelay_mmsghdr) == sizeof(struct mmsghdr), "CNetRelay_mmsghdr must match struct mmsghdr");

int CNetRelay_sendmmsg(int fd, CNetRelay_mmsghdr *msgs, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)msgs, count, flags);
}
