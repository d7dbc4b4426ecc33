#!/usr/bin/env python3
"""A multicast receiver for netrelayd's tests and benchmarks: the classic client of the
Node.js example (bind the port, join the group in 'listening', print each message), with
kernel receive timestamps and machine-readable output.

Prints one JSON object per line on stdout:
  {"event": "ready", ...}                       once bound (and joined, unless --no-join)
  {"event": "message", "text": ..., "src": ..., "t": NS, "seq": N}
                                                 per datagram; t = kernel receive time
                                                 (SO_TIMESTAMPNS, CLOCK_REALTIME, ns);
                                                 seq only for the json format
  {"event": "end", "count": N, "reason": ...}   at the end (count reached, timeout, signal)

  mcast_receiver.py --group 239.255.0.1 --port 8088 --interface 127.0.0.1 --count 10 --timeout 5
  mcast_receiver.py --group ff02::1:3 --port 8088 --interface eth0 --duration 60

--interface is an IPv4 address for IPv4 groups (the join's imr_interface) and an interface
name (or index) for IPv6 groups. --no-join binds the port without joining; add
--multicast-all 0 to clear IP_MULTICAST_ALL, so that the socket only receives the groups it
joined itself (Linux's default, 1, also delivers groups that other sockets on the host joined).
"""
import argparse, json, signal, socket, struct, sys, time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interface", default=None)
    ap.add_argument("--no-join", action="store_true")
    ap.add_argument("--multicast-all", type=int, choices=[0, 1], default=None)
    ap.add_argument("--bind", default=None, help="address to bind (default: the group itself)")
    ap.add_argument("--count", type=int, default=0, help="stop after N messages (0: no limit)")
    ap.add_argument("--timeout", type=float, default=0, help="stop after S seconds without a message")
    ap.add_argument("--duration", type=float, default=0, help="stop S seconds after the first message")
    ap.add_argument("--deadline", type=float, default=0, help="stop S seconds after start, whatever happens")
    a = ap.parse_args()

    v6 = ":" in a.group
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    if a.multicast_all is not None:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, a.multicast_all)
        else:
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, a.multicast_all)
    # Binding the group address (not the wildcard) keeps datagrams for other groups on the
    # same port out, as a careful receiver does.
    bind_addr = a.bind if a.bind is not None else a.group
    ifindex = 0
    if v6 and a.interface:
        ifindex = int(a.interface) if a.interface.isdigit() else socket.if_nametoindex(a.interface)
    if v6:
        s.bind((bind_addr, a.port, 0, ifindex if bind_addr.lower().startswith(("fe80", "ff02", "ff01")) else 0))
    else:
        s.bind((bind_addr, a.port))
    if not a.no_join:
        if v6:
            mreq = socket.inet_pton(socket.AF_INET6, a.group) + struct.pack("@I", ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        else:
            iface = socket.inet_aton(a.interface or "0.0.0.0")
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(a.group) + iface)
    out({"event": "ready", "group": a.group, "port": a.port, "joined": not a.no_join})

    stop = {"reason": None}

    def on_signal(signum, frame):
        stop["reason"] = "signal"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A parent that spawns from a thread with signals blocked (Foundation's Process in a test
    # runner does) passes that mask on; unblock, or SIGTERM would never arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    count = 0
    started = time.monotonic()
    first = None
    last = started
    while stop["reason"] is None:
        now = time.monotonic()
        waits = [1.0]
        if a.timeout:
            waits.append(last + a.timeout - now)
        if a.duration and first is not None:
            waits.append(first + a.duration - now)
        if a.deadline:
            waits.append(started + a.deadline - now)
        wait = min(waits)
        if wait <= 0:
            if a.duration and first is not None and now >= first + a.duration:
                stop["reason"] = "duration"
            elif a.deadline and now >= started + a.deadline:
                stop["reason"] = "deadline"
            else:
                stop["reason"] = "timeout"
            break
        s.settimeout(wait)
        try:
            data, anc, flags, src = s.recvmsg(65536, socket.CMSG_SPACE(16))
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        t = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("@qq", payload[:16])
                t = sec * 1_000_000_000 + nsec
        if t is None:
            t = time.time_ns()
        last = time.monotonic()
        if first is None:
            first = last
        text = data.decode("utf-8", "replace")
        msg = {"event": "message", "text": text, "src": "%s:%d" % (src[0], src[1]), "t": t}
        try:
            obj = json.loads(text)
            if isinstance(obj, dict) and "seq" in obj:
                msg["seq"] = obj["seq"]
        except ValueError:
            pass
        out(msg)
        count += 1
        if a.count and count >= a.count:
            stop["reason"] = "count"
    out({"event": "end", "count": count, "reason": stop["reason"]})


if __name__ == "__main__":
    main()
