"""headless_chromium.py - headless Chromium driven over the DevTools protocol, for tests.

--remote-debugging-pipe: the protocol's JSON messages, NUL-separated, on the browser's fds 3
(commands) and 4 (replies and events). No port to pick, no websocket library to install.
"""
import fcntl
import json
import os
import subprocess
import threading
import time


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe: NUL-separated JSON on fds 3 and 4."""

    def __init__(self, chromium, profile):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def child_fds():
            # Out of the way first (either end may already be fd 3 or 4), then into place.
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [chromium, "--headless", "--disable-gpu", "--remote-debugging-pipe", "--user-data-dir=" + profile,
                "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
                "--window-size=1280,800", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")   # Chromium refuses to run as root with its sandbox
        self.proc = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "w"))
        os.close(cmd_r)
        os.close(res_w)
        self.next_id, self.replies, self.events = 0, {}, []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.res_r, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self.cond:
                    if "id" in msg:
                        self.replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self.cond.notify_all()

    def send(self, method, params=None, session=True, timeout=30):
        with self.cond:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.replies, timeout):
                raise RuntimeError("Chromium did not answer %s within %d s" % (method, timeout))
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise RuntimeError("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    def open_page(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def wait_for(self, expression, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.2)
        return False

    def problems(self):
        """Script exceptions and console errors (a policy violation is one)."""
        out = []
        with self.cond:
            for e in self.events:
                if e.get("method") == "Runtime.exceptionThrown":
                    out.append(e["params"]["exceptionDetails"].get("text", "exception"))
                elif e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                    out.append(e["params"]["entry"]["text"])
                elif e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                    out.append(str(e["params"]["args"]))
        return out

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
