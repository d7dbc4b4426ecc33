#!/usr/bin/env python3
"""Client load for the restart step of scripts/test-systemd (stdlib only, asyncio).

  restart_load.py TCP_ADDR TCP_PREFIX UDP_ADDR UDP_PREFIX CONNECT_SOURCE DIR [LIMIT_S]

Runs in the container's network namespace. Until DIR/stop exists (at most LIMIT_S, default 120):
  - 50 tcp-echo connections, each sending a numbered line every 10 ms and checking that every
    echo comes back, complete and in order (TCP_PREFIX stripped);
  - a UDP client sending 2,000 datagrams/s (20 every 10 ms) to UDP_ADDR, counting the replies
    by sequence number;
  - a connector opening a new connection from CONNECT_SOURCE every 10 ms: connect, one line,
    its echo, close.
Writes DIR/ready once all 50 connections echo. After DIR/stop: stops sending, waits 2 s for the
last echoes and replies, writes DIR/phase1.json, then waits (up to 30 s, the 50 connections
idle) for each connection to be closed by the other side and writes DIR/final.json with how
each ended ("eof", "reset", or "open" when the time ran out).
Bounded: LIMIT_S for phase 1, 30 s for phase 2, every connect and echo has a 10 s timeout.
"""
import asyncio
import json
import os
import socket
import sys
import time

N_CONN = 50
PERIOD = 0.010
UDP_PER_TICK = 20


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def udp_drops(*ports):
    """Drops counted by the kernel on UDP sockets bound to PORTS in this netns (/proc/net/udp):
    the responder's receive queue and the client's (for the replies)."""
    total = 0
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[1].split(":")[1], 16) in ports:
                    total += int(fields[-1])
    except OSError:
        pass
    return total


class Conn:
    def __init__(self, i):
        self.i = i
        self.sent = 0          # lines sent
        self.checked = 0       # echoes checked
        self.errors = []
        self.sent_at = {}      # seq -> monotonic send time
        self.max_delay = 0.0
        self.max_delay_seq = None
        self.ended = None      # how the other side closed it, in phase 2
        self.ended_early = None  # a close or error during phase 1
        self.buf = b""


async def run_conn(c, addr, prefix, state):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), 10)
    except Exception as e:  # noqa: BLE001
        c.errors.append(f"connect: {e!r}")
        c.ended_early = "connect failed"
        return
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def reader_task():
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return "reset"
            except Exception as e:  # noqa: BLE001
                return f"error {e!r}"
            if not chunk:
                return "eof"
            c.buf += chunk
            cut = c.buf.rfind(b"\n")
            if cut < 0:
                continue
            done, c.buf = c.buf[:cut + 1], c.buf[cut + 1:]
            now = time.monotonic()
            for line in done.replace(prefix, b"").split(b"\n")[:-1]:
                want = f"c{c.i} n{c.checked}".encode()
                if line != want:
                    c.errors.append(f"expected {want!r}, got {line[:60]!r}")
                    if len(c.errors) > 20:
                        return "too many errors"
                t = c.sent_at.pop(c.checked, None)
                if t is not None and now - t > c.max_delay:
                    c.max_delay, c.max_delay_seq = now - t, c.checked
                c.checked += 1

    rt = asyncio.ensure_future(reader_task())
    next_t = time.monotonic()
    while not state["stop"] and not rt.done():
        c.sent_at[c.sent] = time.monotonic()
        writer.write(f"c{c.i} n{c.sent}\n".encode())
        c.sent += 1
        next_t += PERIOD
        await asyncio.sleep(max(0, next_t - time.monotonic()))
    if rt.done():
        c.ended_early = rt.result()
        return
    await state["phase2"].wait()
    try:
        c.ended = await asyncio.wait_for(rt, 30)
    except asyncio.TimeoutError:
        c.ended = "open"
        rt.cancel()
    writer.close()


class UDPClient(asyncio.DatagramProtocol):
    def __init__(self, prefix):
        self.prefix = prefix
        self.sent = 0
        self.answered = set()
        self.bad = 0
        self.send_errors = 0

    def datagram_received(self, data, addr):
        body = data[len(self.prefix):] if data.startswith(self.prefix) else data
        try:
            self.answered.add(int(body.split(b" ", 1)[0][1:]))
        except ValueError:
            self.bad += 1

    def error_received(self, exc):
        self.send_errors += 1


async def connector(addr, source, prefix, state, stats):
    async def one(n):
        t = time.monotonic()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(*addr, local_addr=(source, 0)), 10)
        except ConnectionRefusedError:
            stats["refused"] += 1
            return
        except Exception as e:  # noqa: BLE001
            stats["failed"] += 1
            stats["errors"].append(f"connect {n}: {e!r}")
            return
        stats["max_connect"] = max(stats["max_connect"], time.monotonic() - t)
        try:
            w.write(f"k{n}\n".encode())
            got = b""
            while b"\n" not in got:
                chunk = await asyncio.wait_for(r.read(4096), 10)
                if not chunk:
                    break
                got += chunk
            if got.replace(prefix, b"") == f"k{n}\n".encode():
                stats["echoed"] += 1
            else:
                stats["failed"] += 1
                stats["errors"].append(f"echo {n}: {got[:60]!r}")
        except Exception as e:  # noqa: BLE001
            stats["failed"] += 1
            stats["errors"].append(f"echo {n}: {e!r}")
        finally:
            w.close()
        stats["max_roundtrip"] = max(stats["max_roundtrip"], time.monotonic() - t)

    tasks = []
    n = 0
    next_t = time.monotonic()
    while not state["stop"]:
        tasks.append(asyncio.ensure_future(one(n)))
        n += 1
        next_t += PERIOD
        await asyncio.sleep(max(0, next_t - time.monotonic()))
    stats["attempts"] = n
    await asyncio.gather(*tasks)


async def main(argv):
    tcp_addr, tcp_prefix, udp_addr, udp_prefix, source, out = argv[:6]
    limit = float(argv[6]) if len(argv) > 6 else 120.0
    tcp_addr, udp_addr = hostport(tcp_addr), hostport(udp_addr)
    tcp_prefix, udp_prefix = tcp_prefix.encode(), udp_prefix.encode()
    state = {"stop": False, "phase2": asyncio.Event()}
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()

    conns = [Conn(i) for i in range(N_CONN)]
    conn_tasks = [asyncio.ensure_future(run_conn(c, tcp_addr, tcp_prefix, state)) for c in conns]
    transport, udp = await loop.create_datagram_endpoint(lambda: UDPClient(udp_prefix), remote_addr=udp_addr)
    sock = transport.get_extra_info("socket")
    for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):  # FORCE: root, above rmem_max
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            break
        except OSError:
            pass
    my_port = transport.get_extra_info("sockname")[1]
    drops_before = (udp_drops(udp_addr[1]), udp_drops(my_port))
    cstats = {"attempts": 0, "echoed": 0, "refused": 0, "failed": 0, "errors": [], "max_connect": 0.0, "max_roundtrip": 0.0}
    ctask = asyncio.ensure_future(connector(tcp_addr, source, tcp_prefix, state, cstats))

    while not all(c.checked > 0 or c.ended_early for c in conns):
        if time.monotonic() - t0 > 10:
            break
        await asyncio.sleep(0.05)
    open(os.path.join(out, "ready"), "w").close()

    next_t = time.monotonic()
    while not os.path.exists(os.path.join(out, "stop")) and time.monotonic() - t0 < limit:
        for _ in range(UDP_PER_TICK):
            transport.sendto(f"u{udp.sent} x".encode())
            udp.sent += 1
        next_t += PERIOD
        await asyncio.sleep(max(0, next_t - time.monotonic()))
    state["stop"] = True
    await ctask
    await asyncio.sleep(2)
    drops_after = (udp_drops(udp_addr[1]), udp_drops(my_port))
    transport.close()
    p1 = {
        "seconds": round(time.monotonic() - t0, 1),
        "tcp_connections": N_CONN,
        "tcp_closed_early": {c.i: c.ended_early for c in conns if c.ended_early},
        "tcp_lines_sent": sum(c.sent for c in conns),
        "tcp_echoes_checked": sum(c.checked for c in conns),
        "tcp_missing": sum(c.sent - c.checked for c in conns),
        "tcp_errors": [f"c{c.i}: {e}" for c in conns for e in c.errors][:20],
        "tcp_max_echo_delay_ms": round(max(c.max_delay for c in conns) * 1000, 1),
        "udp_sent": udp.sent,
        "udp_answered": len(udp.answered),
        "udp_unanswered": udp.sent - len(udp.answered),
        "udp_bad_replies": udp.bad,
        "udp_send_errors": udp.send_errors,
        "udp_kernel_drops": drops_after[0] - drops_before[0] + drops_after[1] - drops_before[1],
        "udp_kernel_drops_responder": drops_after[0] - drops_before[0],
        "udp_kernel_drops_client": drops_after[1] - drops_before[1],
        "connector": {k: (v[:10] if k == "errors" else (round(v * 1000, 1) if k.startswith("max") else v)) for k, v in cstats.items()},
    }
    with open(os.path.join(out, "phase1.json.tmp"), "w") as f:
        json.dump(p1, f, indent=1)
    os.rename(os.path.join(out, "phase1.json.tmp"), os.path.join(out, "phase1.json"))
    # Phase 2: the connections sit idle until the daemon's side closes them (systemctl stop).
    state["phase2"].set()
    await asyncio.gather(*conn_tasks)
    ended = {}
    for c in conns:
        ended[c.ended or c.ended_early or "?"] = ended.get(c.ended or c.ended_early or "?", 0) + 1
    with open(os.path.join(out, "final.json"), "w") as f:
        json.dump({"ended": ended}, f)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
