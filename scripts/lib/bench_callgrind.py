"""User-space instructions per operation (valgrind --tool=callgrind), for scripts/bench --callgrind.

Wall-clock figures on a shared VM move by tens of percent; instruction counts do not. For each throughput
workload and each C or netrelayd server of the run, the server is started under callgrind twice, driven by
the load generator for a fixed number of operations (N, then 3 N; no warm-up, no time limit but a generous
cap), and stopped. (I(3N) - I(N)) / 2N is the cost of one operation in the steady state: start-up, the
readiness probe, connection set-up of the ping-pong workloads and shutdown cancel out. Timers that tick
while the run lasts (netrelayd's heartbeat, twice a second) do not, and add a few instructions per
operation. Kernel work is not counted (callgrind sees user space only): compare it with the CPU/op column.

valgrind 3.19 cannot read the DWARF 5 that Swift 6 writes, so netrelayd runs from a copy with the debug
sections stripped (its symbol table kept, so callgrind_annotate still names functions). The callgrind files
stay in bench/out/callgrind-<time>/ with the top functions of each run (callgrind_annotate) next to them.

Used by scripts/bench only; see docs/performance.md.
"""

import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# operations of the shorter run per workload (the longer one does 3x): a few seconds each under valgrind
DEFAULT_OPS = {"tcp-pingpong": 20000, "tcp-stream": 400, "tcp-connrate": 2000, "udp-pingpong": 10000,
               "udp-flood": 20000}


def ensure_valgrind():
    """Installs valgrind like the other scripts install their Debian packages (scripts/lib/common.sh)."""
    if shutil.which("valgrind") and shutil.which("callgrind_annotate"):
        return None
    common = os.path.join(ROOT, "scripts", "lib", "common.sh")
    r = subprocess.run(["bash", "-c", 'source "$1" && apt_install valgrind', "bash", common],
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0 or not shutil.which("valgrind"):
        return "valgrind is not installed and could not be installed (Debian package valgrind)"
    return None


def stripped_copy(binary, out_dir):
    dst = os.path.join(out_dir, "%s-%d-nodebug" % (os.path.basename(binary), len(os.listdir(out_dir))))
    r = subprocess.run(["strip", "--strip-debug", "-o", dst, binary], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.copy(binary, dst)
    return dst


def total_instructions(path):
    with open(path) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    return None


def annotate(path):
    """{function: self instructions} from callgrind_annotate (all functions)."""
    r = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True)
    costs, started = {}, False
    for line in r.stdout.splitlines() if r.returncode == 0 else []:
        if "file:function" in line:
            started = True
            continue
        m = re.match(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$", line) if started else None
        if m:
            name = re.sub(r"^\S*?:(?=\S)", "", m.group(2).split(" [")[0], count=1)
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def demangle(names):
    tool = shutil.which("swift-demangle") or shutil.which("swift-demangle", path="/opt/swift/usr/bin")
    if not tool or not names:
        return names
    r = subprocess.run([tool, "--simplified"], input="\n".join(names), capture_output=True, text=True)
    out = r.stdout.splitlines()
    return out if r.returncode == 0 and len(out) == len(names) else names


def top_per_op(short, long, d_ops, count=15):
    """The functions' self cost per operation in the steady state: (long run - short run) / extra operations."""
    a, b = annotate(short), annotate(long)
    diff = sorted(((b.get(k, 0) - a.get(k, 0)) / d_ops, k) for k in set(a) | set(b))
    diff.reverse()
    total = sum(v for v, _ in diff)
    top = diff[:count]
    names = demangle([k for _, k in top])
    return ["%8.0f %5.1f%%  %s" % (v, 100 * v / total if total else 0, n[:150]) for (v, _), n in zip(top, names)]


class Runner:
    """Drives one server under callgrind; `bench` is scripts/bench's module namespace (start_server etc.)."""

    def __init__(self, bench, ctx, out_dir):
        self.bench, self.ctx, self.out_dir = bench, ctx, out_dir

    def run(self, wl, server, ops):
        b, ctx = self.bench, self.ctx
        cg = os.path.join(self.out_dir, "%s-%s-%d.callgrind" % (wl.name, server.name, ops))
        ctx.wrap = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg]
        try:
            proc, port, err = b.start_server(ctx, server, wl.protos)
        finally:
            ctx.wrap = []
        if err:
            return None, err
        args = list(wl.loadgen_args) + ["--warmup", "0", "--duration", "600", "--max-ops", str(ops)]
        if wl.name == "udp-pingpong":
            args[args.index("--timeout-ms") + 1] = "2000"  # valgrind is ~50x slower: no spurious resends
        argv = [ctx.loadgen, wl.name, "--host", ctx.host, "--port", str(port)] + args
        try:
            rc, out, errout = b.run_tracked(argv, ctx.gen_cpu, 900)
        finally:
            b.stop(proc, timeout=120)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if rc != 0 or not lines:
            return None, "loadgen failed (exit %s): %s" % (rc, errout.strip()[-300:])
        res = b.json.loads(lines[-1])
        n = res["bytes_in"] / wl.op_bytes if wl.op_bytes else res["ops"]
        total = total_instructions(cg)
        if total is None:
            return None, "no instruction total in %s" % cg
        return {"ops": n, "instructions": total, "file": cg}, None

    def measure(self, wl, server, ops):
        """Returns {ops, instructions, per_op, files} or {error}."""
        a, err = self.run(wl, server, ops)
        if err:
            return {"error": err}
        b, err = self.run(wl, server, 3 * ops)
        if err:
            return {"error": err}
        d_ops = b["ops"] - a["ops"]
        if d_ops <= 0:
            return {"error": "the longer run did no more operations"}
        return {"ops": [a["ops"], b["ops"]], "instructions": [a["instructions"], b["instructions"]],
                "per_op": (b["instructions"] - a["instructions"]) / d_ops, "files": [a["file"], b["file"]]}


def run_all(bench, ctx, plan, stamp, ops_scale=1.0):
    """plan: [(workload, [servers])]. Returns (markdown lines, results)."""
    why = ensure_valgrind()
    if why:
        return ["## callgrind", "", "- note: " + why, ""], {}
    out_dir = os.path.join(ctx.out_dir, "callgrind-" + stamp)
    os.makedirs(out_dir, exist_ok=True)
    saved = {k: getattr(ctx, k) for k in ("netrelayd", "baseline") if getattr(ctx, k, None)}
    for k, path in saved.items():
        setattr(ctx, k, stripped_copy(path, out_dir))
    ctx.ready_timeout = 180.0
    runner, results, rows, tops = Runner(bench, ctx, out_dir), {}, [], []
    try:
        for wl, servers in plan:
            if wl.kind != "throughput" or wl.name not in DEFAULT_OPS:
                continue
            ops = max(1, int(DEFAULT_OPS[wl.name] * ops_scale))
            res = {}
            for s in servers:
                if s.kind not in ("c", "netrelayd") or s.scrape:
                    continue
                bench.note("  callgrind %-13s %-18s %d and %d operations" % (wl.name, s.name, ops, 3 * ops))
                res[s.name] = r = runner.measure(wl, s, ops)
                bench.note("    " + (r["error"] if "error" in r else "%.0f instructions/%s" % (r["per_op"], wl.op_unit)))
                if "files" in r and s.kind == "netrelayd":
                    top = top_per_op(r["files"][0], r["files"][1], r["ops"][1] - r["ops"][0], 40)
                    with open(os.path.join(out_dir, "%s-%s-top.txt" % (wl.name, s.name)), "w") as f:
                        f.write("\n".join(top) + "\n")
                    tops += ["", "%s, %s: top functions, self instructions per %s (steady state):" % (
                        wl.name, s.name, wl.op_unit), "", "```"] + top[:15] + ["```"]
            results[wl.name] = res
            for name, r in res.items():
                ref = res.get(bench.REFERENCE[bench.SERVER_BY_NAME[name].mode], {})
                ratio = "%.2f" % (r["per_op"] / ref["per_op"]) if "per_op" in r and "per_op" in ref else "-"
                rows.append([wl.name, name, "failed: " + r["error"][:80] if "error" in r else
                             "{:,.0f}".format(r["per_op"]), ratio, wl.op_unit])
    finally:
        for k, path in saved.items():
            setattr(ctx, k, path)
    md = ["## callgrind: user-space instructions per operation", "",
          "(I(3N) - I(N)) / 2N under valgrind --tool=callgrind; files in %s." % os.path.relpath(out_dir, ROOT), "",
          bench.table(["workload", "server", "instructions/op", "× C ref", "op"], rows)] + tops + [""]
    return md, results


def _cpu_per_op(wl, r):
    n = r["bytes_in"] / wl.op_bytes if wl.op_bytes else r["ops"]
    return r["server_cpu_s"] / n * 1e6 if n and r.get("server_cpu_s", -1) >= 0 else None


def summary(bench, plan, results, cg):
    """One line per (workload, non-reference server): the three ratios to the C server of the same run."""
    rows = []
    for wl, servers in plan:
        res, cgw = results.get(wl.name, {}), cg.get(wl.name, {})
        for s in servers:
            ref = bench.REFERENCE[s.mode]
            if s.name == ref or s.kind == "node" or (s.name not in res and s.name not in cgw):
                continue
            if wl.kind == "idle":
                rss = bench.med([r.get("rss_kb") for r in res.get(s.name, []) if "error" not in r])
                rows.append([wl.name, s.name, "-", "-", "-", "-", "-", bench.fmt_mib(rss)])
                continue
            if wl.kind != "throughput":
                continue
            ok = lambda name: [r for r in res.get(name, []) if "error" not in r]
            thr = lambda name: bench.med([r.get(wl.metric) for r in ok(name)])
            cpu = lambda name: bench.med([_cpu_per_op(wl, r) for r in ok(name)])
            ratio = lambda x, y: "%.2f" % (x / y) if x and y else "-"
            ins, ins_ref = cgw.get(s.name, {}).get("per_op"), cgw.get(ref, {}).get("per_op")
            rows.append([wl.name, s.name, ratio(thr(s.name), thr(ref)), bench.fmt_num(cpu(s.name)),
                         ratio(cpu(s.name), cpu(ref)), "{:,.0f}".format(ins) if ins else "-", ratio(ins, ins_ref), ""])
    if not rows:
        return []
    headers = ["workload", "server", "throughput × C", "CPU µs/op", "CPU/op × C", "instructions/op",
               "instructions × C", "idle RSS"]
    return ["## summary against the C server of this run", "",
            "Targets (issue 16): throughput ≥ 0.90 × C, CPU/op ≤ 1.20 × C; idle RSS ≤ 8 MiB.", "",
            bench.table(headers, rows), ""]
