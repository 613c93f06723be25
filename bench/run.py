#!/usr/bin/env python3
"""Wasabi benchmark runner.

Runs every benchmark program under every engine, interleaving the engines
(each repetition runs each program once under every engine, in an order that
rotates from one repetition to the next), verifies every run, and writes
bench/results/{results.json,results.md,chart.svg}.

Engines (see README.md for the exact command lines):
  native        clang-19 -O2 / cargo --release host binary: the ceiling
  wasmtime      wasmtime (PyPI bindings, Cranelift); compile/instantiate/run timed apart
  node          Node/V8 TurboFan only (--no-liftoff --no-wasm-lazy-compilation)
  node-tierup   Node/V8 defaults (Liftoff + dynamic tier-up); not run by default
  wasabi        `wasabi run --mode regular app.wasm -- args`: every function
                compiled at -O1 before running
  wasabi-lazy   `wasabi run --mode lazy app.wasm -- args`
  wasabi-o3     `wasabi run --mode regular -O3 app.wasm -- args`: the -O3 JIT
                level (LLVM's default<O3> pipeline; the default is -O1; not
                run by default)
  wasabi-tiered `wasabi run --mode tiered app.wasm -- args`, what a plain
                `wasabi run` does: baseline code, hot functions recompiled
                in the background (not run by default)
  wasabi-tiered-steady  tiered mode's steady state: the same, with every
                function and loop made hot at once (WASABI_TIER_UP_AFTER=2)
                and recompiled on the calling thread (WASABI_TIER_SYNC=1);
                its execution time leaves out the time spent compiling (from
                --stats), so it is the speed of the optimised tier's code
                (OSR entries included) once it runs (not run by default)
  wasabi-aot    `wasabi aot app.wasm -o app.exe`, then `./app.exe args`
  wasabi-epoch  `wasabi run --mode regular --timeout 24h app.wasm -- args`: epoch checks
                compiled in (what a timeout costs; not run by default)
  wasabi-metered `wasabi run --mode regular --fuel MAX --timeout 24h app.wasm -- args`: fuel
                metering and epoch checks compiled in (their cost; not run
                by default)

A wasabi mode whose command fails on a trivial probe program is shown as n/a.

Nothing here needs third-party Python packages: the runner uses only the
standard library (the wasmtime engine runs in bench/.venv's interpreter).
"""
import argparse
import datetime
import fnmatch
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(BENCH, "build")
WASM_DIR = os.path.join(BUILD, "wasm")
NATIVE_DIR = os.path.join(BUILD, "native")
AOT_DIR = os.path.join(BUILD, "aot")
HARNESS = os.path.join(BENCH, "harness")
VENV_PY = os.path.join(BENCH, ".venv", "bin", "python")
DEFAULT_WASABI = os.path.join(os.path.dirname(BENCH), "target", "release", "wasabi")

PROGRAM_ORDER = ["matmul", "stencil", "nbody", "fannkuch", "sha256", "lzss", "sort", "interp",
                 "manyfuncs", "regex_bench", "json_bench"]
ALL_ENGINES = ["native", "wasmtime", "node", "node-tierup", "wasabi", "wasabi-lazy", "wasabi-o3",
               "wasabi-aot", "wasabi-tiered", "wasabi-tiered-steady", "wasabi-epoch", "wasabi-metered"]
DEFAULT_ENGINES = ["native", "wasmtime", "node", "wasabi", "wasabi-lazy", "wasabi-aot"]
ENGINE_LABEL = {
    "native": "native (clang -O2)",
    "wasmtime": "wasmtime (Cranelift)",
    "node": "V8 TurboFan (node)",
    "node-tierup": "V8 Liftoff+tier-up (node)",
    "wasabi": "wasabi run --mode regular",
    "wasabi-lazy": "wasabi run --mode lazy",
    "wasabi-o3": "wasabi run --mode regular -O3",
    "wasabi-tiered": "wasabi run (tiered, the default)",
    "wasabi-tiered-steady": "tiered, steady state",
    "wasabi-aot": "wasabi aot",
    "wasabi-epoch": "wasabi run --timeout",
    "wasabi-metered": "wasabi run --fuel --timeout",
}
COLORS = {
    "native": "#7f7f7f", "wasmtime": "#1f77b4", "node": "#2ca02c", "node-tierup": "#98df8a",
    "wasabi": "#d62728", "wasabi-lazy": "#ff9896", "wasabi-o3": "#8c564b", "wasabi-aot": "#9467bd",
    "wasabi-epoch": "#f7b6d2", "wasabi-metered": "#e377c2", "wasabi-tiered": "#ffbb78",
    "wasabi-tiered-steady": "#c49c94",
}
NODE_OPT_FLAGS = ["--no-liftoff", "--no-wasm-lazy-compilation"]
TIMINGS_RE = re.compile(r"^BENCH_TIMINGS (\{.*\})\s*$", re.M)
WASABI_TIMINGS_RE = re.compile(r"^\s*timings:\s*(.*)$", re.M)
# `wasabi run --stats` in tiered mode: compile time on demand (baseline) and
# in the optimising tier (on the calling thread with WASABI_TIER_SYNC=1).
STATS_ON_DEMAND_RE = re.compile(r"on demand ([0-9.]+) ms")
STATS_OPTIMISE_RE = re.compile(r"([0-9.]+) ms on the background thread")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- processes

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_busy_s():
    """Busy CPU-seconds of the whole machine so far (all cores; /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / CLK_TCK


def wait_idle(max_wait, threshold=0.15, window=0.3):
    """Wait (up to max_wait s) until other processes use < threshold of the machine."""
    t_end = time.time() + max_wait
    ncpu = os.cpu_count() or 1
    while True:
        b0 = cpu_busy_s()
        time.sleep(window)
        b1 = cpu_busy_s()
        if b0 is None or b1 is None or (b1 - b0) / (window * ncpu) < threshold or time.time() >= t_end:
            return


def run_process(cmd, timeout, cwd=None):
    """Run cmd; return dict with wall_s, rc, signal, timed_out, maxrss_kb, stdout, stderr.

    Output goes to temporary files (no pipe back-pressure).  Peak RSS (KiB)
    comes from `/usr/bin/time -f %M` wrapped around the command: a child
    forked from this Python process would otherwise inherit the runner's own
    high-water mark across exec.  Without GNU time, the child's ru_maxrss from
    os.wait4 is used (an over-estimate for small programs).  The child runs in
    its own session so a timeout kills its whole process group and nothing else.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bench-rss-", delete=False) as rssf:
        rss_path = rssf.name
        full = ([GNU_TIME, "-f", "%M", "-o", rss_path] if GNU_TIME else []) + list(cmd)
        busy0 = cpu_busy_s()
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
                                 start_new_session=True)
        except OSError as e:
            os.unlink(rss_path)
            return {"wall_s": None, "rc": None, "signal": None, "timed_out": False, "maxrss_kb": None,
                    "stdout": "", "stderr": f"cannot start: {e}"}
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        busy1 = cpu_busy_s()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    rc = p.returncode if p.returncode >= 0 else None
    sig = -p.returncode if p.returncode < 0 else None
    maxrss = ru.ru_maxrss
    if GNU_TIME:
        try:
            with open(rss_path) as f:
                lines = [l.strip() for l in f if l.strip()]
        except OSError:
            lines = []
        maxrss = None
        for l in lines:
            m = re.match(r"Command terminated by signal (\d+)", l)
            if m:
                sig, rc = int(m.group(1)), None
        if lines and lines[-1].isdigit():
            maxrss = int(lines[-1])
        if rc == 127 and "/usr/bin/time: cannot run" in stderr:
            rc = None
    os.unlink(rss_path)
    # CPU used by *other* processes while this one ran, as a fraction of the
    # machine (all cores): the child's own user+sys time is subtracted.
    foreign = None
    if busy0 is not None and busy1 is not None and wall > 0:
        own = ru.ru_utime + ru.ru_stime
        foreign = max(0.0, (busy1 - busy0 - own) / (wall * (os.cpu_count() or 1)))
    return {"wall_s": wall, "rc": rc, "signal": sig, "timed_out": timed_out.is_set(), "maxrss_kb": maxrss,
            "stdout": stdout, "stderr": stderr, "foreign_load": foreign}


def parse_harness_timings(stderr):
    m = None
    for m in TIMINGS_RE.finditer(stderr):
        pass
    if not m:
        return {}
    try:
        d = json.loads(m.group(1))
    except ValueError:
        return {}
    return {k[:-3] + "_s": v / 1e3 for k, v in d.items() if k.endswith("_ms")}


def parse_wasabi_timings(stderr):
    """`timings: compile_ms=X run_ms=Y` (any key=value pairs; *_ms become *_s)."""
    m = None
    for m in WASABI_TIMINGS_RE.finditer(stderr):
        pass
    if not m:
        return {}
    res = {}
    for k, v in re.findall(r"(\w+)=([0-9.eE+-]+)", m.group(1)):
        try:
            val = float(v)
        except ValueError:
            continue
        if k.endswith("_ms"):
            res[k[:-3] + "_s"] = val / 1e3
        elif k.endswith("_s"):
            res[k] = val
    return res


# --------------------------------------------------------------------- engines

class Engines:
    def __init__(self, wasabi, timeout):
        self.wasabi = wasabi
        self.timeout = timeout
        self.available = {}      # engine -> True / reason string
        self.wasabi_timings = {}  # engine -> bool (use --timings)

    def wasabi_run_cmd(self, engine, wasm, args, timings):
        # Cold compiles, as before the code cache existed: every sample
        # measures compilation (a warm cache would make it a file read).
        # The mode is always named: `wasabi run` defaults to tiered, and
        # the other engines measure regular mode as they always have.
        mode = {"wasabi-lazy": "lazy", "wasabi-tiered": "tiered",
                "wasabi-tiered-steady": "tiered"}.get(engine, "regular")
        cmd = [self.wasabi, "run", "--no-cache", "--mode", mode]
        if engine == "wasabi-tiered-steady":
            cmd = ["env", "WASABI_TIER_SYNC=1", "WASABI_TIER_UP_AFTER=2"] + cmd
            cmd += ["--stats"]
        if engine == "wasabi-o3":
            cmd += ["-O", "3"]
        if engine == "wasabi-metered":
            # Fuel that never runs out and a deadline never reached: only
            # the cost of the checks is measured.
            cmd += ["--fuel", str(2**63 - 1), "--timeout", "24h"]
        if engine == "wasabi-epoch":
            cmd += ["--timeout", "24h"]
        if timings:
            cmd.append("--timings")
        return cmd + [wasm, "--"] + list(args)

    def probe(self, engines):
        probe_wasm = os.path.join(WASM_DIR, "_probe.wasm")
        probe_native = os.path.join(NATIVE_DIR, "_probe")
        ok_out = lambda r: r["rc"] == 0 and "OK" in r["stdout"]
        for e in engines:
            if e == "native":
                r = run_process([probe_native, "x"], 30)
                self.available[e] = True if ok_out(r) else "native build missing"
            elif e == "wasmtime":
                if not os.path.exists(VENV_PY):
                    self.available[e] = "bench/.venv missing (run build.sh)"
                    continue
                r = run_process([VENV_PY, os.path.join(HARNESS, "wasmtime_run.py"), probe_wasm, "x"], 60)
                self.available[e] = True if ok_out(r) else "wasmtime probe failed: " + r["stderr"][-300:]
            elif e in ("node", "node-tierup"):
                if not shutil.which("node"):
                    self.available[e] = "node not installed"
                    continue
                r = run_process(self.node_cmd(e, probe_wasm, ["x"]), 60)
                self.available[e] = True if ok_out(r) else "node probe failed: " + r["stderr"][-300:]
            elif e.startswith("wasabi"):
                if not (os.path.isfile(self.wasabi) and os.access(self.wasabi, os.X_OK)):
                    self.available[e] = f"wasabi binary not found at {self.wasabi}"
                    continue
                if e == "wasabi-aot":
                    os.makedirs(AOT_DIR, exist_ok=True)
                    exe = os.path.join(AOT_DIR, "_probe.exe")
                    if os.path.exists(exe):
                        os.unlink(exe)
                    r = run_process([self.wasabi, "aot", probe_wasm, "-o", exe], 120)
                    if r["rc"] != 0 or not os.path.exists(exe):
                        self.available[e] = "`wasabi aot` failed: " + (r["stderr"] or r["stdout"])[-300:].strip()
                        continue
                    r = run_process([exe, "x"], 30)
                    self.available[e] = True if ok_out(r) else "aot executable failed: " + r["stderr"][-300:]
                else:
                    r = run_process(self.wasabi_run_cmd(e, probe_wasm, ["x"], True), 60)
                    if ok_out(r):
                        self.available[e] = True
                        self.wasabi_timings[e] = True
                        continue
                    r = run_process(self.wasabi_run_cmd(e, probe_wasm, ["x"], False), 60)
                    if ok_out(r):
                        self.available[e] = True
                        self.wasabi_timings[e] = False
                    else:
                        self.available[e] = f"`{' '.join(self.wasabi_run_cmd(e, 'app.wasm', [], False))}` failed: " \
                            + (r["stderr"] or r["stdout"])[-300:].strip()
            else:
                self.available[e] = "unknown engine"
        return self.available

    def node_cmd(self, engine, wasm, args):
        flags = NODE_OPT_FLAGS if engine == "node" else []
        return ["node", "--no-warnings"] + flags + [os.path.join(HARNESS, "node_run.mjs"), wasm] + list(args)

    def run(self, engine, prog, args=()):
        """One sample.  Returns a dict (status decided later by verify())."""
        wasm = os.path.join(WASM_DIR, prog + ".wasm")
        s = {"engine": engine, "program": prog}
        if engine == "native":
            r = run_process([os.path.join(NATIVE_DIR, prog)] + list(args), self.timeout)
            s["exec_s"] = r["wall_s"]
        elif engine == "wasmtime":
            r = run_process([VENV_PY, os.path.join(HARNESS, "wasmtime_run.py"), wasm] + list(args), self.timeout)
            s.update(parse_harness_timings(r["stderr"]))
        elif engine in ("node", "node-tierup"):
            r = run_process(self.node_cmd(engine, wasm, args), self.timeout)
            s.update(parse_harness_timings(r["stderr"]))
        elif engine in ("wasabi", "wasabi-lazy", "wasabi-o3", "wasabi-tiered", "wasabi-tiered-steady",
                        "wasabi-epoch", "wasabi-metered"):
            r = run_process(self.wasabi_run_cmd(engine, wasm, args, self.wasabi_timings.get(engine)), self.timeout)
            t = parse_wasabi_timings(r["stderr"])
            s.update(t)
            if engine == "wasabi-tiered-steady" and "run_s" in t:
                # Time in code: the run minus what it spent compiling.
                compiled = [float(m.group(1)) for rx in (STATS_ON_DEMAND_RE, STATS_OPTIMISE_RE)
                            for m in [rx.search(r["stderr"])] if m]
                if len(compiled) == 2:
                    s["exec_s"] = max(0.0, t["run_s"] - sum(compiled) / 1e3)
        elif engine == "wasabi-aot":
            exe = os.path.join(AOT_DIR, prog + ".exe")
            if os.path.exists(exe):
                os.unlink(exe)
            c = run_process([self.wasabi, "aot", wasm, "-o", exe], self.timeout)
            s["compile_s"] = c["wall_s"]
            s["compile_maxrss_kb"] = c["maxrss_kb"]
            if c["rc"] != 0 or not os.path.exists(exe):
                r = c
                r["compile_failed"] = True
            else:
                r = run_process([exe] + list(args), self.timeout)
                s["exec_s"] = r["wall_s"]
        else:
            raise ValueError(engine)
        for k in ("wall_s", "rc", "signal", "timed_out", "maxrss_kb", "foreign_load"):
            s[k] = r.get(k)
        if r.get("compile_failed"):
            s["compile_failed"] = True
        if "run_s" in s and "exec_s" not in s:
            s["exec_s"] = s["run_s"]
        s["stdout"] = r["stdout"][-2000:]
        s["stderr"] = TIMINGS_RE.sub("", r["stderr"]).strip()[-1000:]
        return s


# --------------------------------------------------------------------- verification

def result_lines(stdout):
    return [l.strip() for l in stdout.strip().splitlines() if l.strip()]


def verify(samples):
    """Decide each sample's status.  ok = exit code 0, last line "OK", and the
    result line identical to the native build's (when native ran)."""
    ref = {}
    for s in samples:
        if s["engine"] == "native" and s.get("rc") == 0:
            lines = result_lines(s["stdout"])
            if lines and lines[-1] == "OK":
                ref.setdefault(s["program"], lines[:-1])
    for s in samples:
        lines = result_lines(s.get("stdout", ""))
        if s.get("compile_failed"):
            st = "compile-failed"
        elif s.get("timed_out"):
            st = "timeout"
        elif s.get("signal"):
            st = f"crash (signal {s['signal']})"
            if lines and lines[-1] == "OK":
                st += " after correct output"
        elif s.get("rc") is None:
            st = "could not start"
        elif s["rc"] != 0:
            st = f"exit {s['rc']}" + (" (self-check FAIL)" if any(l.startswith("FAIL") for l in lines) else "")
        elif not lines or lines[-1] != "OK":
            st = "no OK line"
        elif s["program"] in ref and lines[:-1] != ref[s["program"]]:
            st = "output differs from native"
        else:
            st = "ok"
        s["status"] = st
        s["ok"] = st == "ok"


# --------------------------------------------------------------------- statistics

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(samples, programs, engines):
    """cell[prog][engine] -> medians over ok samples + counts."""
    cells = {}
    for p in programs:
        cells[p] = {}
        for e in engines:
            ss = [s for s in samples if s["program"] == p and s["engine"] == e]
            good = [s for s in ss if s["ok"]]
            c = {"n": len(ss), "n_ok": len(good),
                 "failures": sorted({s["status"] for s in ss if not s["ok"]})}
            for k in ("wall_s", "exec_s", "compile_s", "inst_s", "run_s", "maxrss_kb", "compile_maxrss_kb"):
                c[k] = median([s.get(k) for s in good])
            # The spread of execution times (native: wall), for telling a
            # difference between engines from this run's noise.
            xs = [s.get("wall_s" if e == "native" else "exec_s") for s in good]
            xs = [x for x in xs if x is not None]
            c["exec_range"] = (min(xs), max(xs)) if xs else None
            cells[p][e] = c
    return cells


# --------------------------------------------------------------------- machine info

def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return None


def machine_info(wasabi):
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split(":", 1)[1].split()[0])
            mem = f"{kb / 2 ** 20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    wt = cmd_out([VENV_PY, "-c", "import importlib.metadata as m; print(m.version('wasmtime'))"]) \
        if os.path.exists(VENV_PY) else None
    wasabi_v = None
    if os.path.isfile(wasabi):
        wasabi_v = cmd_out([wasabi, "--version"]) or "present (no --version)"
    git_rev = cmd_out(["git", "-C", os.path.dirname(BENCH), "rev-parse", "--short", "HEAD"])
    return {
        "cpu_model": cpu, "cores": os.cpu_count(), "memory": mem,
        "kernel": platform.release(), "os": platform.platform(),
        "python": platform.python_version(),
        "node": cmd_out(["node", "--version"]) if shutil.which("node") else None,
        "v8": cmd_out(["node", "-p", "process.versions.v8"]) if shutil.which("node") else None,
        "wasmtime_py": wt,
        "clang": (cmd_out(["clang-19", "--version"]) or "").splitlines()[0] if shutil.which("clang-19") else None,
        "rustc": cmd_out(["rustc", "--version"]) if shutil.which("rustc") else None,
        "wasabi": wasabi_v, "wasabi_path": wasabi, "git_rev": git_rev,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --------------------------------------------------------------------- report: markdown

def fmt_ratio(x):
    if x is None:
        return "n/a"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_ms(x):
    if x is None:
        return "n/a"
    return f"{x * 1e3:.1f}" if x < 10 else f"{x * 1e3:.0f}"


def cell_value(cells, p, e, key):
    c = cells[p][e]
    return c[key] if c["n_ok"] else None


def cell_text(cells, avail, p, e, val, fmt=fmt_ratio):
    """Text of one table cell: value (+ † if some samples failed), FAIL, or n/a."""
    if avail.get(e) is not True:
        return "n/a"
    c = cells[p][e]
    if c["n"] == 0:
        return "n/a"
    if c["n_ok"] == 0:
        return "crash" if c["failures"] and all(f.startswith("crash") for f in c["failures"]) else "FAIL"
    if val is None:
        return "n/a"
    return fmt(val) + ("†" if c["n_ok"] < c["n"] else "")


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def ratios_vs(cells, programs, e, base, key="wall_s", base_key="wall_s"):
    return {p: ratio(cell_value(cells, p, e, key), cell_value(cells, p, base, base_key)) for p in programs}


def engine_table(L, programs, engines, text):
    """Appends to L a table of one row per program and one column per
    engine, each cell text(program, engine)."""
    L.append("| program | " + " | ".join(ENGINE_LABEL[e] for e in engines) + " |")
    L.append("|---|" + "---:|" * len(engines))
    for p in programs:
        L.append("| " + " | ".join([p] + [text(p, e) for e in engines]) + " |")


def make_markdown(res):
    m = res["machine"]
    cells = res["cells"]
    programs = res["programs"]
    engines = res["engines"]
    avail = res["available"]
    others = [e for e in engines if e != "native"]
    L = []
    L.append("# Wasabi benchmark results\n")
    L.append(f"- date: {m['date_utc']}, total run time {res['duration_s'] / 60:.1f} min "
             f"(of which {res.get('idle_wait_s', 0):.0f} s waiting for other processes to go idle), "
             f"{res['reps']} repetitions (medians; engines interleaved round-robin)")
    L.append(f"- machine: {m['cpu_model']}, {m['cores']} cores, {m['memory']}, Linux {m['kernel']}")
    L.append(f"- peers: node {m['node']} (V8 {m['v8']}), wasmtime-py {m['wasmtime_py']}, {m['clang']}, "
             f"{m['rustc']}; wasabi: {m['wasabi'] or 'not present'}")
    fl = [s.get("foreign_load") for s in res["samples"] if s.get("foreign_load") is not None]
    if fl:
        noisy = sum(1 for x in fl if x > 0.10)
        L.append(f"- other processes' CPU use during samples (share of all cores): median {median(fl) * 100:.0f}%, "
                 f"max {max(fl) * 100:.0f}%; {noisy}/{len(fl)} samples above 10%"
                 + (" — **the machine was not quiet: treat the numbers as noisy**" if noisy > len(fl) // 10 else ""))
    na = {e: a for e, a in avail.items() if a is not True}
    if na:
        L.append("- n/a engines: " + "; ".join(f"**{e}**: {a}" for e, a in na.items()))
    L.append("")

    # main table
    L.append("## Time / native (whole-process wall time, median; lower is better)\n")
    L.append("Each engine's median wall time divided by the native binary's median wall time. "
             "wasmtime/node/wasabi times include process start-up and compilation; wasabi-aot is the "
             "AOT executable's run only. † = some samples failed (median of the good ones); "
             "FAIL = no good sample; crash = every sample crashed (even if after printing the right result); "
             "n/a = engine not available.\n")
    hdr = "| program | native (s) | " + " | ".join(ENGINE_LABEL[e] for e in others) + " |"
    L.append(hdr)
    L.append("|---|---:|" + "---:|" * len(others))
    ratios = {e: ratios_vs(cells, programs, e, "native") if "native" in engines else {} for e in others}
    for p in programs:
        nat = cell_value(cells, p, "native", "wall_s") if "native" in engines else None
        row = [p, f"{nat:.3f}" if nat else cell_text(cells, avail, p, "native", None) if "native" in engines else "n/a"]
        for e in others:
            row.append(cell_text(cells, avail, p, e, ratios[e].get(p)))
        L.append("| " + " | ".join(row) + " |")
    gm = ["**geomean**", ""]
    for e in others:
        vals = [v for v in ratios[e].values() if v is not None]
        g = geomean(vals)
        gm.append("n/a" if g is None else f"**{g:.2f}**" + ("" if len(vals) == len(programs) else f" ({len(vals)}/{len(programs)})"))
    L.append("| " + " | ".join(gm) + " |")
    L.append("")

    # exec only
    L.append("## Execution only / native (compile and instantiation excluded, median)\n")
    L.append("Where the engine reports phases (wasmtime and node harnesses, `wasabi run --timings`), "
             "the time inside `_start` divided by native wall time.\n")
    L.append("| program | " + " | ".join(ENGINE_LABEL[e] for e in others) + " |")
    L.append("|---|" + "---:|" * len(others))
    xr = {e: ratios_vs(cells, programs, e, "native", key="exec_s") if "native" in engines else {} for e in others}
    for p in programs:
        L.append("| " + " | ".join([p] + [cell_text(cells, avail, p, e, xr[e].get(p)) for e in others]) + " |")
    gm = ["**geomean**"]
    for e in others:
        vals = [v for v in xr[e].values() if v is not None]
        g = geomean(vals)
        gm.append("n/a" if g is None else f"**{g:.2f}**" + ("" if len(vals) == len(programs) else f" ({len(vals)}/{len(programs)})"))
    L.append("| " + " | ".join(gm) + " |")
    L.append("")

    # spread, and opt levels against -O1 beyond it
    spread = [e for e in engines if avail.get(e) is True]
    L.append("## Execution time spread (ms: fastest-slowest repetition)\n")
    L.append("Execution only as above (native: wall time). A median differs from another "
             "beyond this run's noise only where their ranges do not overlap.\n")
    def spread_text(p, e):
        r = cells[p][e].get("exec_range")
        return "n/a" if r is None else f"{fmt_ms(r[0])}-{fmt_ms(r[1])}"
    engine_table(L, programs, spread, spread_text)
    L.append("")
    higher = [e for e in ("wasabi-o3", "wasabi-aot") if e in engines and avail.get(e) is True]
    if "wasabi" in engines and avail.get("wasabi") is True and higher:
        L.append("## Higher opt levels against -O1 (execution time)\n")
        L.append("Median execution time over `wasabi run --mode regular` (-O1)'s; *slower* or "
                 "*faster* only where the two ranges of the spread table do not overlap, else "
                 "*noise*. Every level should be a monotone trade-off: never *slower*.\n")
        L.append("| program | " + " | ".join(f"{ENGINE_LABEL[e]} / -O1" for e in higher) + " |")
        L.append("|---|" + "---:|" * len(higher))
        verdicts = {e: {"slower": 0, "faster": 0, "noise": 0} for e in higher}
        for p in programs:
            row = [p]
            base = cells[p]["wasabi"]
            for e in higher:
                c = cells[p][e]
                r = ratio(c["exec_s"], base["exec_s"]) if c["n_ok"] and base["n_ok"] else None
                a, b = c.get("exec_range"), base.get("exec_range")
                if r is None or a is None or b is None:
                    row.append("n/a")
                    continue
                v = "slower" if a[0] > b[1] else "faster" if a[1] < b[0] else "noise"
                verdicts[e][v] += 1
                row.append(f"{r:.2f} {v}")
            L.append("| " + " | ".join(row) + " |")
        L.append("| **count** | " + " | ".join(
            ", ".join(f"{n} {v}" for v, n in verdicts[e].items()) for e in higher) + " |")
        L.append("")

    # wasabi vs peers
    wmodes = [e for e in ("wasabi", "wasabi-lazy", "wasabi-o3", "wasabi-tiered", "wasabi-aot") if e in engines]
    peers = [e for e in ("wasmtime", "node") if e in engines]
    if wmodes and peers:
        L.append("## Wasabi vs peers (wall-time ratio; < 1 means wasabi is faster)\n")
        cols = [(w, pe) for w in wmodes for pe in peers]
        L.append("| program | " + " | ".join(f"{w} / {'V8' if pe == 'node' else pe}" for w, pe in cols) + " |")
        L.append("|---|" + "---:|" * len(cols))
        vs = {(w, pe): ratios_vs(cells, programs, w, pe) for w, pe in cols}
        for p in programs:
            row = [p]
            for w, pe in cols:
                t = cell_text(cells, avail, p, w, vs[(w, pe)][p])
                if t not in ("n/a", "FAIL") and vs[(w, pe)][p] is None:
                    t = "n/a"
                row.append(t)
            L.append("| " + " | ".join(row) + " |")
        gm = ["**geomean**"]
        for c in cols:
            vals = [v for v in vs[c].values() if v is not None]
            g = geomean(vals)
            gm.append("n/a" if g is None else f"**{g:.2f}**")
        L.append("| " + " | ".join(gm) + " |")
        L.append("")

    # cost of interruption
    checked = [e for e in ("wasabi-epoch", "wasabi-metered") if e in engines]
    if checked and "wasabi" in engines:
        L.append("## Cost of interruption checks (over plain `wasabi run`)\n")
        L.append("`wasabi-epoch` is `--timeout` (epoch checks), `wasabi-metered` is `--fuel` and "
                 "`--timeout` (both); 1.00 means free. exec: execution only; wall: the whole process, "
                 "compilation included.\n")
        L.append("| program | " + " | ".join(f"{e} exec | {e} wall" for e in checked) + " |")
        L.append("|---|" + "---:|---:|" * len(checked))
        ex = {e: ratios_vs(cells, programs, e, "wasabi", key="exec_s", base_key="exec_s") for e in checked}
        wa = {e: ratios_vs(cells, programs, e, "wasabi") for e in checked}
        f = lambda v: "n/a" if v is None else f"{v:.3f}"
        for p in programs:
            L.append(f"| {p} | " + " | ".join(f"{f(ex[e][p])} | {f(wa[e][p])}" for e in checked) + " |")
        gm = []
        for e in checked:
            gm.append(f"**{f(geomean([v for v in ex[e].values() if v is not None]))}**")
            gm.append(f"**{f(geomean([v for v in wa[e].values() if v is not None]))}**")
        L.append("| **geomean** | " + " | ".join(gm) + " |")
        L.append("")

    # phases
    L.append("## Phases (median ms): compile / instantiate / execute\n")
    phased = [e for e in others if any(cells[p][e].get("compile_s") is not None for p in programs)]
    if phased:
        L.append("| program | wasm KiB | " + " | ".join(ENGINE_LABEL[e] for e in phased) + " |")
        L.append("|---|---:|" + "---:|" * len(phased))
        for p in programs:
            row = [p, f"{res['wasm_sizes'].get(p, 0) / 1024:.0f}"]
            for e in phased:
                c = cells[p][e]
                if not c["n_ok"]:
                    row.append(cell_text(cells, avail, p, e, None))
                    continue
                row.append(" / ".join(fmt_ms(c.get(k)) for k in ("compile_s", "inst_s", "exec_s")))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        L.append("wasabi-aot's compile is the whole `wasabi aot` process; its instantiate column is n/a.\n")
    else:
        L.append("No engine reported phases.\n")

    # compile throughput
    L.append("## Compile throughput\n")
    big = res["largest_wasm"]
    if big:
        L.append(f"On the largest wasm in the suite, **{big}.wasm** ({res['wasm_sizes'][big] / 1e6:.2f} MB); "
                 "MB of wasm per second of compile time (median):\n")
        L.append("| engine | compile ms | MB/s | instantiate ms |")
        L.append("|---|---:|---:|---:|")
        for e in others:
            c = cells[big][e]
            if avail.get(e) is not True:
                L.append(f"| {ENGINE_LABEL[e]} | n/a | n/a | n/a |")
                continue
            cs = c.get("compile_s") if c["n_ok"] else None
            mbps = res["wasm_sizes"][big] / 1e6 / cs if cs else None
            L.append(f"| {ENGINE_LABEL[e]} | {fmt_ms(cs)} | {'n/a' if mbps is None else f'{mbps:.2f}'} | "
                     f"{fmt_ms(c.get('inst_s') if c['n_ok'] else None)} |")
        L.append("")
        L.append("Whole suite (sum of all wasm bytes / sum of median compile times):\n")
        L.append("| engine | MB/s |")
        L.append("|---|---:|")
        for e in others:
            tot_b = tot_t = 0.0
            for p in programs:
                cs = cells[p][e].get("compile_s") if cells[p][e]["n_ok"] else None
                if cs:
                    tot_b += res["wasm_sizes"].get(p, 0)
                    tot_t += cs
            L.append(f"| {ENGINE_LABEL[e]} | {'n/a' if not tot_t else f'{tot_b / 1e6 / tot_t:.2f}'} |")
        L.append("")

    # rss
    L.append("## Peak RSS (MiB, median; the engine's whole process)\n")
    def rss_text(p, e):
        v = cells[p][e].get("maxrss_kb")
        return cell_text(cells, avail, p, e, v / 1024 if v else None, fmt=lambda x: f"{x:.1f}")
    engine_table(L, programs, engines, rss_text)
    if "wasabi-aot" in engines and any(cells[p]["wasabi-aot"].get("compile_maxrss_kb") for p in programs):
        L.append("")
        L.append("wasabi aot compile process peak RSS (MiB): " + ", ".join(
            f"{p} {cells[p]['wasabi-aot']['compile_maxrss_kb'] / 1024:.0f}" for p in programs
            if cells[p]["wasabi-aot"].get("compile_maxrss_kb")))
    L.append("")

    # failures
    fails = [s for s in res["samples"] if not s["ok"] and avail.get(s["engine"]) is True]
    L.append("## Failed samples\n")
    if fails:
        L.append("| rep | program | engine | status | stderr (tail) |")
        L.append("|---:|---|---|---|---|")
        for s in fails:
            tail = (s.get("stderr") or "").replace("\n", " ").replace("|", "\\|")[-120:]
            L.append(f"| {s['rep']} | {s['program']} | {s['engine']} | {s['status']} | {tail} |")
    else:
        L.append("None.")
    L.append("")
    L.append("Chart: [chart.svg](chart.svg). Raw samples: [results.json](results.json).")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------- report: svg

def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def make_svg(res):
    cells, programs, engines, avail = res["cells"], res["programs"], res["engines"], res["available"]
    if "native" not in engines:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25">' \
               'native not run: no ratios</text></svg>\n'
    shown = [e for e in engines if e != "native" and avail.get(e) is True]
    groups = programs + ["geomean"]
    data = {}
    for e in shown:
        r = ratios_vs(cells, programs, e, "native")
        vals = [v for v in r.values() if v is not None]
        r["geomean"] = geomean(vals)
        data[e] = r
    allv = [v for e in shown for v in data[e].values() if v is not None] or [1.0]
    vmax = max(max(allv), 1.0)
    # nice axis top
    step = 0.5 if vmax <= 3 else 1 if vmax <= 6 else 2 if vmax <= 12 else 5 if vmax <= 30 else 10 ** math.ceil(math.log10(vmax / 5))
    top = math.ceil(vmax / step) * step
    W_left, W_right, H_top, H_plot, H_bottom = 60, 20, 60, 320, 110
    nb = max(len(shown), 1)
    bar_w = 12 if nb <= 4 else 9
    group_w = max(nb * bar_w + 16, (640 - 80) // len(groups))
    W = max(W_left + W_right + group_w * len(groups), 640)
    H = H_top + H_plot + H_bottom
    y = lambda v: H_top + H_plot - (v / top) * H_plot
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
         f'Time relative to native (wall time, median of {res["reps"]}; lower is better)</text>',
         f'<text x="{W / 2}" y="37" text-anchor="middle" fill="#555">{esc(res["machine"]["cpu_model"] or "")}, '
         f'{res["machine"]["cores"]} cores, {res["machine"]["date_utc"][:10]}</text>']
    t = 0.0
    while t <= top + 1e-9:
        yy = y(t)
        o.append(f'<line x1="{W_left}" x2="{W - W_right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{W_left - 6}" y="{yy + 4:.1f}" text-anchor="end">{t:g}×</text>')
        t += step
    # native = 1 line (explained in the legend)
    o.append(f'<line x1="{W_left}" x2="{W - W_right}" y1="{y(1):.1f}" y2="{y(1):.1f}" stroke="#333" '
             f'stroke-dasharray="5,3"/>')
    for gi, g in enumerate(groups):
        gx = W_left + gi * group_w + 8
        if g == "geomean":
            o.append(f'<rect x="{gx - 6}" y="{H_top}" width="{group_w - 4}" height="{H_plot}" fill="#f6f6f6"/>')
        for bi, e in enumerate(shown):
            v = data[e].get(g)
            x = gx + bi * bar_w
            if v is None:
                o.append(f'<text x="{x + bar_w / 2:.1f}" y="{y(0) - 3:.1f}" text-anchor="middle" font-size="9" '
                         f'fill="#c00">×</text>')
                continue
            o.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w - 1}" height="{y(0) - y(v):.1f}" '
                     f'fill="{COLORS[e]}"><title>{esc(e)} {esc(g)}: {v:.2f}×</title></rect>')
            if g == "geomean":
                tx, ty = x + bar_w / 2 + 3, y(v) - 4
                o.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="10" font-weight="bold" '
                         f'transform="rotate(-90 {tx:.1f} {ty:.1f})">{v:.2f}</text>')
        lx = gx + nb * bar_w / 2
        weight = ' font-weight="bold"' if g == "geomean" else ""
        o.append(f'<text x="{lx:.1f}" y="{H_top + H_plot + 14}" text-anchor="end" '
                 f'transform="rotate(-35 {lx:.1f} {H_top + H_plot + 14})"{weight}>{esc(g)}</text>')
    o.append(f'<line x1="{W_left}" x2="{W - W_right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#333"/>')
    # legend: rows of items, wrapped to the chart width
    items = [("swatch", COLORS[e], ENGINE_LABEL[e]) for e in shown]
    items.append(("dash", "#333", "native = 1×"))
    items.append(("cross", "#c00", "no valid result (failed/crashed)"))
    missing = [e for e in engines if e != "native" and avail.get(e) is not True]
    if missing:
        items.append(("text", "#888", "n/a (not available): " + ", ".join(missing)))
    lx, ly = W_left, H_top + H_plot + 62
    for kind, color, label in items:
        wdt = 24 + 6.2 * len(label)
        if lx + wdt > W - W_right and lx > W_left:
            lx, ly = W_left, ly + 16
        if kind == "swatch":
            o.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        elif kind == "dash":
            o.append(f'<line x1="{lx}" x2="{lx + 10}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" stroke-dasharray="3,2"/>')
        elif kind == "cross":
            o.append(f'<text x="{lx + 5}" y="{ly}" text-anchor="middle" fill="{color}">×</text>')
        tx = lx if kind == "text" else lx + 14
        o.append(f'<text x="{tx}" y="{ly}" fill="{"#888" if kind == "text" else "#000"}">{esc(label)}</text>')
        lx += wdt
    o.append("</svg>")
    return "\n".join(o) + "\n"


# --------------------------------------------------------------------- main

def discover_programs():
    have = {f[:-5] for f in os.listdir(WASM_DIR) if f.endswith(".wasm") and not f.startswith("_")} \
        if os.path.isdir(WASM_DIR) else set()
    return [p for p in PROGRAM_ORDER if p in have] + sorted(have - set(PROGRAM_ORDER))


def write_results(res, outdir):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=False)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(make_markdown(res))
    with open(os.path.join(outdir, "chart.svg"), "w") as f:
        f.write(make_svg(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions per (program, engine) (default 3)")
    ap.add_argument("--programs", help="comma-separated subset of programs: names or patterns "
                                       "such as 'k_*' (the kernel suite) or 'simd_*'")
    ap.add_argument("--engines", help=f"comma-separated subset of: {','.join(ALL_ENGINES)} "
                                      f"(default {','.join(DEFAULT_ENGINES)})")
    ap.add_argument("--timeout", type=float, default=120, help="per-process timeout in seconds (default 120)")
    ap.add_argument("--wasabi", default=os.environ.get("WASABI", DEFAULT_WASABI),
                    help="wasabi binary (default $WASABI or target/release/wasabi)")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"), help="output directory")
    ap.add_argument("--wait-idle", type=float, default=10, metavar="S",
                    help="before each sample, wait up to S seconds for other processes to use < 15%% "
                         "of the CPUs (default 10; 0 = don't wait; the load is recorded either way)")
    ap.add_argument("--idle-budget", type=float, default=120, metavar="S",
                    help="total seconds the run may spend waiting for idle (default 120)")
    a = ap.parse_args()

    programs = discover_programs()
    if not programs:
        sys.exit("no programs in bench/build/wasm: run bench/build.sh first")
    if a.programs:
        want = a.programs.split(",")  # names or shell-style patterns (k_*, simd_*)
        bad = [w for w in want if not fnmatch.filter(programs, w)]
        if bad:
            sys.exit(f"unknown programs: {bad}; have {programs}")
        programs = [p for p in programs if any(fnmatch.fnmatchcase(p, w) for w in want)]
    engines = DEFAULT_ENGINES
    if a.engines:
        engines = a.engines.split(",")
        bad = [e for e in engines if e not in ALL_ENGINES]
        if bad:
            sys.exit(f"unknown engines: {bad}; have {ALL_ENGINES}")
        engines = [e for e in ALL_ENGINES if e in engines]

    t_start = time.time()
    eng = Engines(os.path.abspath(a.wasabi), a.timeout)
    avail = eng.probe(engines)
    for e in engines:
        if avail[e] is not True:
            avail[e] = " ".join(str(avail[e]).split())  # one line
        log(f"engine {e}: {'available' if avail[e] is True else 'n/a — ' + avail[e]}"
            + (" (with --timings)" if eng.wasabi_timings.get(e) else ""))
    runnable = [e for e in engines if avail[e] is True]

    res = {
        "machine": machine_info(eng.wasabi), "reps": a.reps, "programs": programs, "engines": engines,
        "available": avail, "wasabi_timings_flag": eng.wasabi_timings,
        "commands": {
            "native": "build/native/PROG",
            "wasmtime": ".venv/bin/python harness/wasmtime_run.py build/wasm/PROG.wasm",
            "node": "node --no-warnings " + " ".join(NODE_OPT_FLAGS) + " harness/node_run.mjs build/wasm/PROG.wasm",
            "node-tierup": "node --no-warnings harness/node_run.mjs build/wasm/PROG.wasm",
            "wasabi": "$WASABI run --no-cache --mode regular [--timings] build/wasm/PROG.wasm --",
            "wasabi-lazy": "$WASABI run --no-cache --mode lazy [--timings] build/wasm/PROG.wasm --",
            "wasabi-o3": "$WASABI run --no-cache --mode regular -O 3 [--timings] build/wasm/PROG.wasm --",
            "wasabi-tiered": "$WASABI run --no-cache --mode tiered [--timings] build/wasm/PROG.wasm --",
            "wasabi-tiered-steady": "WASABI_TIER_SYNC=1 WASABI_TIER_UP_AFTER=2 $WASABI run --no-cache --mode tiered "
                                    "--stats [--timings] build/wasm/PROG.wasm -- (execution: run minus compile)",
            "wasabi-epoch": "$WASABI run --no-cache --mode regular --timeout 24h [--timings] build/wasm/PROG.wasm --",
            "wasabi-metered": "$WASABI run --no-cache --mode regular --fuel 9223372036854775807 --timeout 24h [--timings] build/wasm/PROG.wasm --",
            "wasabi-aot": "$WASABI aot build/wasm/PROG.wasm -o build/aot/PROG.exe; build/aot/PROG.exe",
        },
        "wasm_sizes": {p: os.path.getsize(os.path.join(WASM_DIR, p + ".wasm")) for p in programs},
        "samples": [],
    }
    res["largest_wasm"] = max(programs, key=lambda p: res["wasm_sizes"][p])
    skip = set()  # (program, engine) that timed out: not retried in later reps
    waited = 0.0  # seconds spent waiting for other processes to calm down
    samples = res["samples"]
    for rep in range(a.reps):
        for pi, p in enumerate(programs):
            k = (rep + pi) % max(len(runnable), 1)
            order = runnable[k:] + runnable[:k]  # rotate engine order per rep and program
            for e in order:
                if (p, e) in skip:
                    continue
                if a.wait_idle > 0 and waited < a.idle_budget:
                    t_w = time.time()
                    wait_idle(min(a.wait_idle, a.idle_budget - waited))
                    waited += time.time() - t_w
                s = eng.run(e, p)
                s["rep"] = rep
                samples.append(s)
                if s["timed_out"]:
                    skip.add((p, e))
                extra = ""
                if s.get("compile_s") is not None:
                    extra = f" compile {s['compile_s'] * 1e3:.0f} ms"
                fl = s.get("foreign_load")
                log(f"rep {rep + 1}/{a.reps} {p:12s} {e:12s} wall {s['wall_s'] or 0:7.3f} s{extra}"
                    f" rc={s['rc']} sig={s['signal']}" + (f" other-load {fl * 100:.0f}%" if fl is not None else ""))
        # partial results after each repetition
        verify(samples)
        res["cells"] = summarize(samples, programs, engines)
        res["duration_s"] = time.time() - t_start
        res["idle_wait_s"] = waited
        write_results(res, a.out)
    verify(samples)
    res["cells"] = summarize(samples, programs, engines)
    res["duration_s"] = time.time() - t_start
    res["idle_wait_s"] = waited
    write_results(res, a.out)
    nf = sum(1 for s in samples if not s["ok"])
    log(f"done in {res['duration_s'] / 60:.1f} min: {len(samples)} samples, {nf} failed; "
        f"results in {os.path.relpath(a.out)}/results.md")


if __name__ == "__main__":
    main()
