#!/usr/bin/env python3
"""Start-up: time to `_start` and to first output, warm and cold, beside wasmtime.

One run measures, interleaved and repeated:

1. Warm cache, every benchmark program (bench/build/wasm/*.wasm, from
   bench/build.sh) and the 4 MB start-up module: the time from spawning
   `wasabi run --timings PROG` (tiered, the default mode) to the first
   instruction of `_start`, with the
   code cache already holding the module (a private WASABI_CACHE_DIR, filled
   by one run first). wasabi reports that moment on CLOCK_MONOTONIC
   (`entry_clock_ns` in its `timings:` line), the clock `time.monotonic_ns`
   reads, so the figure includes process start-up (dynamic loading) as well
   as everything wasabi does. With --baseline, the same for another wasabi
   binary (say, the one before a change), with its own cache.
2. wasmtime (wasmtime-py from bench/.venv, Cranelift) on the same modules,
   without a cache (cold) and with its cache on (warm, a private directory):
   time from spawn to `_start` (includes starting Python and importing
   wasmtime, ~0.1 s), and the in-process part (Module.from_file + instantiate).
3. The 4 MB start-up module (bench/programs/rust/startup_app: clap + regex +
   serde_json built unoptimised, ~13,500 functions; it prints "ready" first
   thing in main): time to first output and total, cold (--no-cache) and
   warm in tiered, regular and lazy mode, and under wasmtime cold and warm.

Writes bench/results/startup.{md,json}. Targets (issue 11): warm `_start`
within 5 ms for every program and 20 ms for the 4 MB module; tiered first
output on the 4 MB module at most 0.1x wasmtime's.

Usage: bench/startup.py [--reps N] [--wasabi PATH] [--baseline PATH]
                        [--programs PATTERN,...] [--no-programs] [--no-cold-regular]
"""
import argparse, fnmatch, glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUST = os.path.join(HERE, "programs", "rust")
# Kept apart from build/wasm, which run.py treats as the benchmark suite.
WASM = os.path.join(HERE, "build", "startup", "startup_app.wasm")
WASM_DIR = os.path.join(HERE, "build", "wasm")
VENV_PY = os.path.join(HERE, ".venv", "bin", "python")
BIG = "startup_app (4 MB)"

# Runs a module under wasmtime-py and says when it calls _start (the same
# driver as run.py's).
WASMTIME_RUN = os.path.join(HERE, "harness", "wasmtime_run.py")


def build():
    if os.path.exists(WASM):
        return
    subprocess.run(["cargo", "build", "--profile", "startup", "--target", "wasm32-wasip1", "-p", "startup_app"],
                   cwd=RUST, check=True)
    os.makedirs(os.path.dirname(WASM), exist_ok=True)
    src = os.path.join(RUST, "target", "wasm32-wasip1", "startup", "startup_app.wasm")
    with open(src, "rb") as f, open(WASM, "wb") as g:
        g.write(f.read())


def spawn(cmd, env=None):
    """Runs cmd; returns (spawn monotonic ns, seconds to first stdout line,
    total seconds, exit code, stdout, stderr)."""
    t0 = time.perf_counter()
    s0 = time.monotonic_ns()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = p.stdout.readline()
    t_first = time.perf_counter() - t0
    rest, err = p.communicate()
    total = time.perf_counter() - t0
    return s0, t_first, total, p.returncode, (first + rest).decode(errors="replace"), err.decode(errors="replace")


def wasabi_sample(wasabi, path, cache_dir, mode="tiered", cold=False):
    env = dict(os.environ, WASABI_CACHE_DIR=cache_dir)
    cmd = [wasabi, "run", "--timings", "--stats", "--mode", mode] + (["--no-cache"] if cold else []) + [path]
    s0, first, total, code, out, err = spawn(cmd, env)
    m = re.search(r"entry_clock_ns=(\d+)", err)
    sm = re.search(r"start_ms=([0-9.]+)", err)
    cm = re.search(r"stats: cache: (.*)", err)
    return {"ok": code == 0 and m is not None,
            "start_s": (int(m.group(1)) - s0) / 1e9 if m else None,
            "from_main_s": float(sm.group(1)) / 1e3 if sm else None,
            "first_output_s": first, "total_s": total, "cache": cm.group(1) if cm else None,
            "stdout_head": out[:40]}


def wasmtime_sample(path, cache_config=None):
    cmd = [VENV_PY, WASMTIME_RUN] + (["--cache", cache_config] if cache_config else []) + [path]
    s0, first, total, code, out, err = spawn(cmd)
    m = re.search(r"BENCH_START (\d+) ([0-9.]+)", err)
    return {"ok": code == 0 and m is not None,
            "start_s": (int(m.group(1)) - s0) / 1e9 if m else None,
            "in_process_s": float(m.group(2)) / 1e3 if m else None,
            "first_output_s": first, "total_s": total, "stdout_head": out[:40]}


def med(samples, key):
    v = [s[key] for s in samples if s["ok"] and s.get(key) is not None]
    return statistics.median(v) if v else None


def fmt_ms(x):
    return "n/a" if x is None else f"{x * 1e3:.1f}"


def fmt_s(x):
    return "n/a" if x is None else f"{x:.3f}"


def machine_busy(seconds=1.0):
    """Share of both CPUs busy over `seconds` (from /proc/stat)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    a, ai = read()
    time.sleep(seconds)
    b, bi = read()
    return 1 - (bi - ai) / max(1, b - a)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--wasabi", default=os.environ.get("WASABI", os.path.join(ROOT, "target", "release", "wasabi")))
    ap.add_argument("--baseline", help="another wasabi binary to measure warm beside --wasabi")
    ap.add_argument("--programs", default="*", help="comma-separated names or patterns (default: all)")
    ap.add_argument("--no-programs", action="store_true", help="only the 4 MB module")
    ap.add_argument("--no-cold-regular", action="store_true",
                    help="skip the 4 MB module's cold regular-mode runs (~15 s each)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    build()
    have_wasmtime = os.path.exists(VENV_PY) and subprocess.run(
        [VENV_PY, "-c", "import wasmtime"], capture_output=True).returncode == 0
    scratch = tempfile.mkdtemp(prefix="wasabi-startup-")
    caches = {"wasabi": os.path.join(scratch, "wasabi"), "baseline": os.path.join(scratch, "baseline")}
    wt_conf = os.path.join(scratch, "wasmtime-cache.toml")
    with open(wt_conf, "w") as f:
        f.write(f'[cache]\ndirectory = "{os.path.join(scratch, "wasmtime")}"\n')
    binaries = {"wasabi": a.wasabi}
    if a.baseline:
        binaries["baseline"] = a.baseline

    programs = []
    if not a.no_programs:
        pats = a.programs.split(",")
        for p in sorted(glob.glob(os.path.join(WASM_DIR, "*.wasm"))):
            name = os.path.basename(p)[:-5]
            if name != "_probe" and any(fnmatch.fnmatch(name, x) for x in pats):
                programs.append((name, p))
    programs.append((BIG, WASM))

    busy_before = machine_busy()
    t_begin = time.time()
    # Fill the caches: one run each (wasabi regular, lazy and tiered on the big
    # module; wasmtime's cache too).
    print("filling the caches ...", flush=True)
    for name, path in programs:
        for b, exe in binaries.items():
            wasabi_sample(exe, path, caches[b])
        if have_wasmtime:
            wasmtime_sample(path, wt_conf)
    for mode in ("lazy", "regular"):
        wasabi_sample(a.wasabi, WASM, caches["wasabi"], mode)

    samples = []  # dicts with program, engine, sample fields
    for rep in range(a.reps):
        for i, (name, path) in enumerate(programs):
            runs = [(f"{b} warm", lambda exe=exe, b=b: wasabi_sample(exe, path, caches[b])) for b, exe in binaries.items()]
            if have_wasmtime:
                runs += [("wasmtime cold", lambda: wasmtime_sample(path)),
                         ("wasmtime warm", lambda: wasmtime_sample(path, wt_conf))]
            if name == BIG:
                for mode in ("lazy", "regular"):
                    runs.append((f"wasabi {mode} warm", lambda mode=mode: wasabi_sample(a.wasabi, path, caches["wasabi"], mode)))
                for mode in ("lazy", "tiered"):
                    runs.append((f"wasabi {mode} cold", lambda mode=mode: wasabi_sample(a.wasabi, path, caches["wasabi"], mode, cold=True)))
                if not a.no_cold_regular:
                    runs.append(("wasabi regular cold", lambda: wasabi_sample(a.wasabi, path, caches["wasabi"], "regular", cold=True)))
            k = (rep + i) % len(runs)
            for engine, f in runs[k:] + runs[:k]:
                s = f()
                s.update(program=name, engine=engine, rep=rep)
                samples.append(s)
                print(f"{name:20} {engine:22} start {fmt_ms(s['start_s']):>8} ms  first output "
                      f"{fmt_s(s['first_output_s'])} s  {'ok' if s['ok'] else 'FAILED'}", flush=True)
    busy_after = machine_busy()
    shutil.rmtree(scratch, ignore_errors=True)

    def pick(prog, engine):
        return [s for s in samples if s["program"] == prog and s["engine"] == engine]

    engines_warm = [f"{b} warm" for b in binaries]
    lines = [f"# Start-up: time to `_start` and to first output (median of {a.reps})", "",
             f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; CPUs busy before/after the run: "
             f"{busy_before:.0%} / {busy_after:.0%} (other processes included). `bench/startup.py`; see "
             "bench/README.md.", "",
             "## Warm cache: milliseconds from spawning the process to the first instruction of `_start`", "",
             "wasabi: `wasabi run` (tiered, the default mode) with its code cache holding the module "
             "(`entry_clock_ns` of `--timings`); "
             "the \"from main\" column leaves out process start-up (loading the executable and its shared "
             "libraries; the current binary loads libLLVM only to compile, a warm run never does; a "
             "baseline from before that change loaded it at start-up). wasmtime: wasmtime-py, from spawn "
             "(Python and `import "
             "wasmtime` included) and in-process (`Module.from_file` + instantiate).", ""]
    head = ["program"]
    for e in engines_warm:
        head += [e.replace("warm", "").strip() or e, "from main"]
    if have_wasmtime:
        head += ["wasmtime cold", "in-process", "wasmtime warm", "in-process"]
    lines += ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    table = {}
    for name, _ in programs:
        row = [name]
        table[name] = {}
        for e in engines_warm:
            ss = pick(name, e)
            row += [fmt_ms(med(ss, "start_s")), fmt_ms(med(ss, "from_main_s"))]
            table[name][e] = {"start_s": med(ss, "start_s"), "from_main_s": med(ss, "from_main_s")}
        if have_wasmtime:
            for e in ("wasmtime cold", "wasmtime warm"):
                ss = pick(name, e)
                row += [fmt_ms(med(ss, "start_s")), fmt_ms(med(ss, "in_process_s"))]
                table[name][e] = {"start_s": med(ss, "start_s"), "in_process_s": med(ss, "in_process_s")}
        lines.append("| " + " | ".join(row) + " |")
    small = [table[n]["wasabi warm"]["start_s"] for n, _ in programs if n != BIG]
    small = [x for x in small if x is not None]
    if small:
        lines += ["", f"wasabi warm, benchmark programs: worst {max(small) * 1e3:.1f} ms, median "
                      f"{statistics.median(small) * 1e3:.1f} ms (target: every one within 5 ms); 4 MB module: "
                      f"{fmt_ms(table[BIG]['wasabi warm']['start_s'])} ms (target: 20 ms)."]

    lines += ["", f"## The 4 MB module ({os.path.getsize(WASM) / 1e6:.1f} MB, startup_app): seconds to first output",
              "", "| engine | cache | to `_start` (ms) | first output (s) | total (s) | cache outcome |",
              "|---|---|---:|---:|---:|---|"]
    big = {}
    rows = [("wasabi tiered (the default)", "warm", "wasabi warm"), ("wasabi tiered", "cold", "wasabi tiered cold"),
            ("wasabi regular", "warm", "wasabi regular warm"), ("wasabi regular", "cold", "wasabi regular cold"),
            ("wasabi lazy", "warm", "wasabi lazy warm"), ("wasabi lazy", "cold", "wasabi lazy cold")]
    if a.baseline:
        rows.insert(1, ("baseline tiered", "warm", "baseline warm"))
    if have_wasmtime:
        rows += [("wasmtime", "cold", "wasmtime cold"), ("wasmtime", "warm", "wasmtime warm")]
    for label, cache, e in rows:
        ss = pick(BIG, e)
        if not ss:
            continue
        big[e] = {k: med(ss, k) for k in ("start_s", "first_output_s", "total_s")}
        outcome = next((s["cache"] for s in ss if s.get("cache")), "")
        lines.append(f"| {label} | {cache} | {fmt_ms(big[e]['start_s'])} | {fmt_s(big[e]['first_output_s'])} | "
                     f"{fmt_s(big[e]['total_s'])} | {outcome} |")
    wt = big.get("wasmtime cold", {}).get("first_output_s")
    if wt:
        lines.append("")
        for e in ("wasabi tiered cold", "wasabi lazy cold", "wasabi regular cold"):
            if big.get(e, {}).get("first_output_s"):
                lines.append(f"- {e.replace(' cold', '')}, cold: first output in "
                             f"{big[e]['first_output_s'] / wt:.3f}x wasmtime's cold time (target for tiered: 0.1).")
    failed = [s for s in samples if not s["ok"]]
    if failed:
        lines += ["", f"{len(failed)} failed samples: " + ", ".join(sorted({s["program"] + " (" + s["engine"] + ")" for s in failed}))]
    text = "\n".join(lines) + "\n"
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "startup.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "reps": a.reps,
                   "wasabi": a.wasabi, "baseline": a.baseline, "module_bytes": os.path.getsize(WASM),
                   "busy_before": busy_before, "busy_after": busy_after, "seconds": time.time() - t_begin,
                   "warm": table, "big_module": big, "samples": samples}, f, indent=1)
    with open(os.path.join(a.out, "startup.md"), "w") as f:
        f.write(text)
    print(text)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
