#!/usr/bin/env python3
"""status_page_check.py - the status page (GET / on the HTTP endpoint) in a real browser.

Starts netrelayd with one listener of each kind on free loopback ports (a rebroadcaster target
on a missing interface with a hostile name: "<b>x&'\""), sends traffic to them from a bounded
loop, and drives headless Chromium over the DevTools protocol (--remote-debugging-pipe: no
port, no websocket library) to check what a person sees:

  1. with JavaScript: every listener is a row with its kind and address; the page's script
     refreshed from /status.json; a counter moved past the server-rendered value and its rate
     over the last minute is above 0; the hostile interface name is shown as text (no element
     made of it); no script error or policy violation in the console;
  2. a screenshot (PNG) of that page, to --screenshot;
  3. with JavaScript disabled: the server-rendered table has every listener and its counters;
  4. the same page with a made-up /status.json (a kind this build does not have, its own
     counters, lists and a group of extras, hostile text everywhere), served by a stand-in
     server: the script renders it generically and makes no element of any of its text;
  5. SIGTERM: the daemon exits 0.

  status_page_check.py --netrelayd PATH [--chromium PATH] [--screenshot FILE]
Prints one line per check ("ok ..." / "NOT OK ..."); exit 0 when all pass.
"""
import argparse
import base64
import http.server
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
from headless_chromium import Browser  # noqa: E402 (after the line above)

HOSTILE_INTERFACE = "<b>x&'\""
failures = []


def check(ok, what):
    print(("ok      " if ok else "NOT OK  ") + what, flush=True)
    if not ok:
        failures.append(what)


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode()


class Traffic(threading.Thread):
    """TCP echoes, UDP requests and datagrams to the rebroadcaster, about 30 a second each,
    until stopped, for at most 90 s and 3000 rounds."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports, self.stop, self.rounds = ports, threading.Event(), 0

    def run(self):
        deadline = time.monotonic() + 90
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.settimeout(0.5)
        while not self.stop.is_set() and time.monotonic() < deadline and self.rounds < 3000:
            try:
                with socket.create_connection(("127.0.0.1", self.ports["echo"]), timeout=2) as c:
                    c.sendall(b"hi")
                    c.recv(64)
                udp.sendto(b"ping", ("127.0.0.1", self.ports["responder"]))
                udp.recv(256)
                udp.sendto(b"bcast", ("127.0.0.1", self.ports["rebroadcast"]))
            except OSError:
                pass
            self.rounds += 1
            self.stop.wait(0.03)
        udp.close()


# What the page shows, read from the DOM: the same for the script-drawn and the server-drawn table.
SUMMARY_JS = """(() => ({
  updates: Number(document.body.dataset.updates || 0),
  ready: (document.getElementById("ready") || {}).textContent,
  uptime: (document.getElementById("uptime") || {}).textContent,
  injected: document.querySelectorAll("#listeners b, #listeners img, #listeners svg, #listeners script").length,
  rows: [...document.querySelectorAll("#listeners > tbody > tr")].map(tr => ({
    name: tr.dataset.listener,
    cells: [...tr.children].slice(0, 4).map(td => td.textContent),
    counters: Object.fromEntries([...tr.querySelectorAll("tr[data-counter]")].map(c =>
      [c.dataset.counter, {total: Number(c.querySelector(".total").textContent), rate: c.querySelector(".rate").textContent}])),
    extras: Object.fromEntries([...tr.querySelectorAll("table.extra")].map(t => [t.dataset.extra, t.textContent])),
  })),
}))()"""


# What a later kind might export, with text an attacker could put into a config.
FUTURE_STATUS = {
    "version": "9.9.9", "ready": False, "notReadyReason": "listener \"x\" is down: <img src=x onerror=alert(1)>", "healthy": True,
    "startTime": time.time() - 100, "status": "Serving 1 listener | <svg onload=alert(1)>",
    "listeners": [{"name": "relay", "kind": "some-future-kind", "address": "0.0.0.0:5353", "state": "up",
                   "counters": {"packetsRelayed": 7, "packetsLooped": 0},
                   "interfaces": [{"name": "eth0", "relayed": 3}, {"name": "<b>x</b>", "relayed": 0, "reason": "<i>gone</i>"}],
                   "notes": ["a note <i>for people</i>"],
                   "extras": {"pendingInterfaces": 1, "groups": [{"group": "224.0.0.251", "joined": True}], "histogram": {"le": [1]}}}],
    "lastReload": {"successful": False, "timestamp": time.time() - 10, "summary": "reload 1 FAILED: <b>bad</b>", "succeeded": 0, "failed": 1},
}


def stand_in(page, csp):
    """An HTTP server on a free port: the daemon's page (with its policy) at /, FUTURE_STATUS at /status.json."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, kind = (json.dumps(FUTURE_STATUS).encode(), "application/json") if self.path.startswith("/status.json") else (page, "text/html; charset=utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if kind.startswith("text/html"):
                self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rate_value(text):
    m = re.fullmatch(r"([0-9.]+)/s", text or "")
    return float(m.group(1)) if m else None


def check_rows(summary, listeners, how):
    rows = {r["name"]: r for r in summary["rows"]}
    for l in listeners:
        r = rows.get(l["name"])
        check(r is not None and r["cells"][1] == l["kind"] and r["cells"][3].startswith("up"),
              "%s: listener %s (%s) is a row, up: %s" % (how, l["name"], l["kind"], r and r["cells"]))
    check(len(summary["rows"]) == len(listeners), "%s: %d rows for %d listeners" % (how, len(summary["rows"]), len(listeners)))
    bcast = rows.get("rebroadcast", {}).get("extras", {}).get("targets", "")
    check(HOSTILE_INTERFACE in bcast and summary["injected"] == 0,
          "%s: the target on interface %s is shown as text, no element made of it (%r)" % (how, HOSTILE_INTERFACE, bcast[:120]))
    return rows


def config_for(ports):
    """One listener of each kind on the given loopback ports; the announcer on a group no other test uses."""
    group = "239.255.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
    listeners = [
        {"name": "echo", "kind": "tcp-echo", "listen": "127.0.0.1:%d" % ports["echo"], "replyPrefix": "> "},
        {"name": "responder", "kind": "udp-responder", "listen": "127.0.0.1:%d" % ports["responder"], "rateLimit": 1000, "rateLimitBurst": 1000},
        {"name": "rebroadcast", "kind": "broadcast-rebroadcaster", "listen": "127.0.0.1:%d" % ports["rebroadcast"],
         "targets": ["127.255.255.255:%d" % ports["target"], {"interface": HOSTILE_INTERFACE, "port": ports["target"]}]},
        {"name": "time", "kind": "multicast-announcer", "group": group, "port": ports["multicast"], "interval": 0.5, "interface": "lo"},
    ]
    return {"eventLoopThreads": 1, "shutdownTimeout": 5, "logLevel": "info", "http": {"listen": "127.0.0.1:%d" % ports["http"]},
            "listeners": listeners}


def start_daemon(netrelayd, config, work):
    """netrelayd on `config`, once /-/ready answers 200; its log in `work`."""
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    log = open(os.path.join(work, "netrelayd.log"), "w")
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    daemon = subprocess.Popen([netrelayd, "--config", os.path.join(work, "config.json")], stdin=subprocess.DEVNULL,
                              stdout=log, stderr=log, env=env)
    port = int(config["http"]["listen"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 20
    while True:
        try:
            get(port, "/-/ready")
            return daemon
        except OSError:
            if time.monotonic() > deadline or daemon.poll() is not None:
                daemon.kill()
                raise SystemExit("netrelayd did not become ready; log:\n" + open(log.name).read())
            time.sleep(0.1)


def stop_daemon(daemon):
    daemon.send_signal(signal.SIGTERM)
    try:
        rc = daemon.wait(15)
    except subprocess.TimeoutExpired:
        daemon.kill()
        rc = daemon.wait()
    check(rc == 0, "SIGTERM: netrelayd exited %s" % rc)


def check_live(browser, url, listeners, before):
    """The page with its script, against the daemon while traffic flows."""
    t0 = time.monotonic()
    browser.send("Page.navigate", {"url": url})
    check(browser.wait_for("Number(document.body && document.body.dataset.updates || 0) >= 4", 30),
          "the page's script read /status.json 4 times (%.1f s)" % (time.monotonic() - t0))
    summary = browser.evaluate(SUMMARY_JS)
    rows = check_rows(summary, listeners, "with JavaScript")
    counter = lambda name, key: rows.get(name, {}).get("counters", {}).get(key, {})
    dgram, accepted, announced = counter("responder", "datagramsIn"), counter("echo", "connectionsAccepted"), counter("time", "announcements")
    check(dgram.get("total", 0) > before["responder"].get("datagramsIn", 0) and (rate_value(dgram.get("rate")) or 0) > 0,
          "responder: datagrams in moved from %s (server-rendered) to %s, rate %s" % (before["responder"].get("datagramsIn"), dgram.get("total"), dgram.get("rate")))
    check((rate_value(accepted.get("rate")) or 0) > 0, "echo: connections accepted %s, rate %s" % (accepted.get("total"), accepted.get("rate")))
    check(announced.get("total", 0) > 0, "time: %s announcements" % announced.get("total"))
    check(summary["ready"] == "ready" and summary["uptime"].endswith(" s"), "daemon: %s, up for %s" % (summary["ready"], summary["uptime"]))
    problems = browser.problems()
    check(not problems, "no script error or console error (policy violations included): %s" % problems[:3])


def screenshot(browser, path):
    height = int(browser.send("Page.getLayoutMetrics")["cssContentSize"]["height"])
    shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                   "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print("screenshot: %s (1280x%d, %d bytes)" % (path, height, os.path.getsize(path)))


def check_without_script(browser, url, listeners):
    """The server-rendered page, JavaScript disabled."""
    browser.send("Emulation.setScriptExecutionDisabled", {"value": True})
    browser.send("Page.navigate", {"url": url})
    check(browser.wait_for("document.readyState === 'complete' && document.querySelectorAll('#listeners > tbody > tr').length > 0", 15),
          "without JavaScript: the page loaded")
    plain = browser.evaluate(SUMMARY_JS)
    check(plain["updates"] == 0, "without JavaScript: the script did not run (data-updates %s)" % plain["updates"])
    rows = check_rows(plain, listeners, "without JavaScript")
    check(rows.get("responder", {}).get("counters", {}).get("datagramsIn", {}).get("total", 0) > 0,
          "without JavaScript: the server-rendered responder row has its datagram count")
    browser.send("Emulation.setScriptExecutionDisabled", {"value": False})


def check_future(browser, url):
    """The daemon's page (and its policy) against FUTURE_STATUS from a stand-in server."""
    with urllib.request.urlopen(url, timeout=5) as r:
        page, csp = r.read(), r.headers["Content-Security-Policy"]
    server = stand_in(page, csp)
    try:
        browser.send("Page.navigate", {"url": "http://127.0.0.1:%d/" % server.server_address[1]})
        check(browser.wait_for("Number(document.body && document.body.dataset.updates || 0) >= 2", 20),
              "a made-up /status.json from a stand-in server: the script rendered it")
        future = browser.evaluate(SUMMARY_JS)
        text = browser.evaluate("document.body.innerText")
    finally:
        server.shutdown()
    row = (future["rows"] or [{}])[0]
    check([r["name"] for r in future["rows"]] == ["relay"] and row["cells"][1] == "some-future-kind",
          "a kind this build does not have is a row: %s" % row.get("cells"))
    check(row.get("counters", {}).get("packetsRelayed", {}).get("total") == 7 and "0: packets looped" in text,
          "its own counters: packets relayed 7, packets looped on the line of zeros")
    check(set(row.get("extras", {})) == {"interfaces", "groups", "notes"} and "pending interfaces" in text and "histogram" not in text
          and "a note <i>for people</i>" in text,
          "its lists (interfaces, notes, and groups from a group of extras) are tables, a scalar extra a row: %s" % sorted(row.get("extras", {})))
    injected = browser.evaluate("document.querySelectorAll('body img, body svg, body b, body i').length")
    check(injected == 0 and "<img src=x onerror=alert(1)>" in text and "<b>x</b>" in text,
          "hostile text in every field is shown as text, no element made of it (%d elements)" % injected)
    problems = browser.problems()
    check(not problems, "still no script error or console error: %s" % problems[:3])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--netrelayd", required=True)
    p.add_argument("--chromium", default="chromium")
    p.add_argument("--screenshot", help="write the page's screenshot (PNG) here")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="netrelayd-page-")
    tcp, udp = socket.SOCK_STREAM, socket.SOCK_DGRAM
    ports = {"http": free_port(tcp), "echo": free_port(tcp), "responder": free_port(udp), "rebroadcast": free_port(udp),
             "target": free_port(udp), "multicast": free_port(udp)}
    config = config_for(ports)
    url = "http://127.0.0.1:%d/" % ports["http"]
    daemon = start_daemon(a.netrelayd, config, work)
    traffic, browser = Traffic(ports), None
    try:
        before = {l["name"]: l.get("counters", {}) for l in json.loads(get(ports["http"], "/status.json"))["listeners"]}
        traffic.start()
        browser = Browser(a.chromium, work)
        browser.open_page()
        check_live(browser, url, config["listeners"], before)
        if a.screenshot:
            screenshot(browser, a.screenshot)
        check_without_script(browser, url, config["listeners"])
        check_future(browser, url)
    finally:
        traffic.stop.set()
        if browser:
            browser.close()
        stop_daemon(daemon)
    print("traffic: %d rounds; logs in %s" % (traffic.rounds, work))
    print("status page: %d check(s) failed" % len(failures) if failures else "status page: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
