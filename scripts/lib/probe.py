#!/usr/bin/env python3
"""Probes and config edits for scripts/test-systemd (host side, stdlib only).

Probes run in the container's network namespace (the caller wraps them in nsenter -n):
  probe.py tcp HOST:PORT TEXT [TIMEOUT]             connect, send TEXT, print what comes back
  probe.py udp HOST:PORT TEXT [TIMEOUT]             send one datagram, print the reply
  probe.py broadcast BIND:PORT TO:PORT TEXT [TIMEOUT]  listen on BIND:PORT, send TEXT to TO, print what arrives
  probe.py listen GROUP:PORT IFADDR [TIMEOUT]       join GROUP on the interface with IFADDR, print one datagram
  probe.py hold HOST:PORT GOFILE [TIMEOUT]          keep one TCP connection open: echo "before", wait for
                                                    GOFILE to exist, echo "after" on the same connection
  probe.py udpspread HOST:PORT PREFIX N STOPFILE OUT  from N sockets on 127.0.0.1..N (N source addresses, so
                                                    the steering program uses every socket of the group), one
                                                    datagram each per 10 ms until STOPFILE exists; writes
                                                    {"sent", "answered", "missing"} as JSON to OUT
Config helpers:
  probe.py describe CONFIG                          shell assignments describing the listeners
  probe.py edit CONFIG OUT key=value...             write an edited copy (see edit())
Every probe exits 0 when it got an answer, 1 on timeout or refusal.
"""
import json
import os
import shlex
import socket
import struct
import sys
import time


def hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def tcp(addr, text, timeout=3.0):
    with socket.create_connection(hostport(addr), timeout=timeout) as s:
        s.sendall(text.encode())
        deadline = time.monotonic() + timeout
        got = b""
        while text.encode() not in got and time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
        return got.decode(errors="replace")


def udp(addr, text, timeout=3.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(text.encode(), hostport(addr))
        data, _ = s.recvfrom(65536)
        return data.decode(errors="replace")


def broadcast(bind, to, text, timeout=3.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        r.bind(hostport(bind))
        r.settimeout(timeout)
        s.sendto(text.encode(), hostport(to))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r.settimeout(max(0.05, deadline - time.monotonic()))
            data, _ = r.recvfrom(65536)
            if text.encode() in data:
                return data.decode(errors="replace")
        raise socket.timeout()


def listen(group, ifaddr, timeout=5.0):
    g, port = hostport(group)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r:
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.bind(("", port))
        mreq = struct.pack("4s4s", socket.inet_aton(g), socket.inet_aton(ifaddr))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        r.settimeout(timeout)
        data, _ = r.recvfrom(65536)
        return data.decode(errors="replace")


def hold(addr, gofile, timeout=60.0):
    with socket.create_connection(hostport(addr), timeout=5) as s:
        s.sendall(b"before\n")
        print("first:", s.recv(65536).decode(errors="replace").strip(), flush=True)
        deadline = time.monotonic() + timeout
        while not os.path.exists(gofile):
            if time.monotonic() > deadline:
                print("no go signal", flush=True)
                return 1
            time.sleep(0.1)
        s.sendall(b"after\n")
        s.settimeout(5)
        print("second:", s.recv(65536).decode(errors="replace").strip(), flush=True)
        return 0


def udpspread(addr, prefix, n, stopfile, out):
    target = hostport(addr)
    socks = []
    for i in range(1, n + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.%d" % i, 0))
        s.setblocking(False)
        socks.append(s)
    sent, answered = set(), set()
    def collect():
        for s in socks:
            while True:
                try:
                    data = s.recv(65536).decode(errors="replace")
                except BlockingIOError:
                    break
                if data.startswith(prefix):
                    answered.add(data[len(prefix):])
    seq = 0
    while not os.path.exists(stopfile):
        for i, s in enumerate(socks):
            text = "s%d-%d" % (i, seq)
            try:
                s.sendto(text.encode(), target)
                sent.add(text)
            except OSError:
                pass
        seq += 1
        collect()
        time.sleep(0.01)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(answered & sent) < len(sent):
        collect()
        time.sleep(0.05)
    missing = sorted(sent - answered)
    json.dump({"sent": len(sent), "answered": len(answered & sent), "missing": len(missing), "first_missing": missing[:5]}, open(out, "w"))
    return 0 if not missing else 1


def describe(path):
    """KIND_NAME/KIND_ADDR/... for the first listener of each kind, plus NAMES (all names)."""
    cfg = json.load(open(path))
    out = {"NAMES": " ".join(l["name"] for l in cfg["listeners"])}
    keys = {"tcp-echo": "TCP", "udp-responder": "UDP", "broadcast-rebroadcaster": "BCAST", "multicast-announcer": "MCAST"}
    for i, l in enumerate(cfg["listeners"]):
        k = keys.get(l.get("kind"))
        if k == "TCP" and "TCP_NAME" in out and "TCP2_NAME" not in out:
            k = "TCP2"          # a second tcp-echo, for configs without a udp-responder
        if not k or k + "_NAME" in out:
            continue
        out[k + "_NAME"] = l["name"]
        out[k + "_INDEX"] = str(i)
        out[k + "_ADDR"] = l.get("listen", "")
        out[k + "_PREFIX"] = l.get("replyPrefix", l.get("prefix", ""))
        if k == "BCAST":
            out[k + "_TARGET"] = l.get("target", "")
            if not out[k + "_TARGET"]:
                out[k + "_TARGET"] = "127.255.255.255:%d" % l.get("targetPort", 0)
        if k == "MCAST":
            out[k + "_GROUP"] = "%s:%d" % (l["group"], l["port"])
            out[k + "_INTERFACE"] = l.get("interface", "lo")
    for k, v in out.items():
        print("%s=%s" % (k, shlex.quote(str(v))))


def edit(path, outpath, ops):
    """Ops: add-tcp=NAME@HOST:PORT (a new tcp-echo listener), prefix=INDEX:TEXT (set the
    replyPrefix, or prefix for a broadcast-rebroadcaster, of listener INDEX),
    set=INDEX:KEY:JSONVALUE (set any key), top=KEY:JSONVALUE (a top-level key)."""
    cfg = json.load(open(path))
    for op in ops:
        key, _, val = op.partition("=")
        if key == "add-tcp":
            name, _, addr = val.partition("@")
            cfg["listeners"].append({"name": name, "kind": "tcp-echo", "listen": addr})
        elif key == "prefix":
            idx, _, text = val.partition(":")
            l = cfg["listeners"][int(idx)]
            l["prefix" if l["kind"] == "broadcast-rebroadcaster" else "replyPrefix"] = text
        elif key == "top":
            k, v = val.split(":", 1)
            cfg[k] = json.loads(v)
        elif key == "set":
            idx, k, v = val.split(":", 2)
            cfg["listeners"][int(idx)][k] = json.loads(v)
        else:
            raise SystemExit("unknown edit " + op)
    with open(outpath, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def main(argv):
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "tcp":
            print(tcp(args[0], args[1], float(args[2]) if len(args) > 2 else 3.0))
        elif cmd == "udp":
            print(udp(args[0], args[1], float(args[2]) if len(args) > 2 else 3.0))
        elif cmd == "broadcast":
            print(broadcast(args[0], args[1], args[2], float(args[3]) if len(args) > 3 else 3.0))
        elif cmd == "listen":
            print(listen(args[0], args[1], float(args[2]) if len(args) > 2 else 5.0))
        elif cmd == "udpspread":
            return udpspread(args[0], args[1], int(args[2]), args[3], args[4])
        elif cmd == "hold":
            return hold(args[0], args[1], float(args[2]) if len(args) > 2 else 60.0)
        elif cmd == "describe":
            describe(args[0])
        elif cmd == "edit":
            edit(args[0], args[1], args[2:])
        else:
            raise SystemExit("unknown command " + cmd)
    except (OSError, socket.timeout) as e:
        print("probe %s: %s" % (cmd, e or type(e).__name__), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
