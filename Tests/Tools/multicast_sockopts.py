#!/usr/bin/env python3
"""Reads the multicast options of another process's UDP sockets, for netrelayd's tests.

  multicast_sockopts.py PID

For each UDP socket of PID (found as socket:[inode] links in /proc/PID/fd and matched to
/proc/PID/net/udp and udp6), duplicates the descriptor into this process with
pidfd_getfd(2) (Linux >= 5.6; needs PTRACE_MODE_ATTACH_REALCREDS over PID, e.g. root), reads
the options with getsockopt(2), and prints one JSON object per socket:
  {"fd": 12, "family": "ipv4", "local": "0.0.0.0:40123",
   "ttl": 1, "loop": 1, "if": "127.0.0.1"}           (IPv4)
   "hops": 1, "loop": 1, "ifindex": 1                (IPv6)
The duplicate shares the open file description, so reading options never changes the socket.
"""
import ctypes, json, os, socket, struct, sys

SYS_pidfd_open = 434
SYS_pidfd_getfd = 438
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def syscall(*args):
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def udp_inodes(pid):
    found = {}
    for name, fam in (("udp", "ipv4"), ("udp6", "ipv6")):
        try:
            lines = open("/proc/%d/net/%s" % (pid, name)).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            local, inode = f[1], int(f[9])
            addr, port = local.split(":")
            found[inode] = (fam, addr, int(port, 16))
    return found


def local_text(fam, hexaddr, port):
    raw = bytes.fromhex(hexaddr)
    if fam == "ipv4":
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw[::-1]), port)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, words), port)


def main():
    pid = int(sys.argv[1])
    inodes = udp_inodes(pid)
    pidfd = syscall(SYS_pidfd_open, pid, 0)
    try:
        for fdname in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fdname))
            except OSError:
                continue
            if not link.startswith("socket:["):
                continue
            inode = int(link[8:-1])
            if inode not in inodes:
                continue
            fam, addr, port = inodes[inode]
            fd = syscall(SYS_pidfd_getfd, pidfd, int(fdname), 0)
            s = socket.socket(fileno=fd)
            try:
                rec = {"fd": int(fdname), "family": fam, "local": local_text(fam, addr, port)}
                if fam == "ipv4":
                    rec["ttl"] = s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
                    rec["loop"] = s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP)
                    rec["if"] = socket.inet_ntoa(s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4))
                else:
                    rec["hops"] = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
                    rec["loop"] = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP)
                    rec["ifindex"] = s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)
                print(json.dumps(rec))
            finally:
                s.close()
    finally:
        os.close(pidfd)


if __name__ == "__main__":
    main()
