#!/usr/bin/env python3
"""Lazy vs regular start-up: time to first output and total time.

Runs bench/programs/rust/startup_app (a ~4 MB, ~13,500-function WASI module:
clap + regex + serde_json, built unoptimised) under `wasabi run --stats` in
regular and lazy mode, interleaved and repeated. For each run it records the
time from process start to the first byte of stdout (the program prints
"ready" first thing in main), the total wall time, and the functions each
mode compiled (from --stats). Writes bench/results/startup.{md,json}.

Usage: bench/startup.py [--reps N] [--wasabi PATH]
"""
import argparse, json, os, re, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUST = os.path.join(HERE, "programs", "rust")
# Kept apart from build/wasm, which run.py treats as the benchmark suite.
WASM = os.path.join(HERE, "build", "startup", "startup_app.wasm")


def build():
    if os.path.exists(WASM):
        return
    subprocess.run(["cargo", "build", "--profile", "startup", "--target", "wasm32-wasip1", "-p", "startup_app"],
                   cwd=RUST, check=True)
    os.makedirs(os.path.dirname(WASM), exist_ok=True)
    src = os.path.join(RUST, "target", "wasm32-wasip1", "startup", "startup_app.wasm")
    with open(src, "rb") as f, open(WASM, "wb") as g:
        g.write(f.read())


def run(wasabi, mode):
    t0 = time.perf_counter()
    p = subprocess.Popen([wasabi, "run", "--no-cache", "--stats", "--mode", mode, WASM], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.readline()
    t_first = time.perf_counter() - t0
    rest, err = p.communicate()
    total = time.perf_counter() - t0
    out = (first + rest).decode()
    ok = p.returncode == 0 and out.startswith("ready") and "checksum" in out
    m = re.search(r"functions compiled: (\d+) / (\d+)", err.decode())
    compiled, funcs = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    return {"mode": mode, "ok": ok, "first_output_s": t_first, "total_s": total,
            "functions_compiled": compiled, "functions": funcs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--wasabi", default=os.environ.get("WASABI", os.path.join(ROOT, "target", "release", "wasabi")))
    a = ap.parse_args()
    build()
    samples = []
    for _ in range(a.reps):
        for mode in ("regular", "lazy"):
            s = run(a.wasabi, mode)
            print(f"{mode:8} first output {s['first_output_s']:.3f}s total {s['total_s']:.3f}s "
                  f"compiled {s['functions_compiled']}/{s['functions']} {'ok' if s['ok'] else 'FAILED'}", flush=True)
            samples.append(s)
    med = {}
    for mode in ("regular", "lazy"):
        ss = [s for s in samples if s["mode"] == mode and s["ok"]]
        if ss:
            med[mode] = {k: statistics.median(s[k] for s in ss) for k in ("first_output_s", "total_s")}
            med[mode]["functions_compiled"] = ss[0]["functions_compiled"]
            med[mode]["functions"] = ss[0]["functions"]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    size = os.path.getsize(WASM)
    with open(os.path.join(HERE, "results", "startup.json"), "w") as f:
        json.dump({"module_bytes": size, "samples": samples, "medians": med, "date": time.strftime("%Y-%m-%d %H:%M"),
                   "cores": os.cpu_count()}, f, indent=1)
    lines = [f"# Start-up: lazy vs regular ({size / 1e6:.1f} MB module, median of {a.reps})", "",
             "| mode | time to first output (s) | total (s) | functions compiled |", "|---|---:|---:|---:|"]
    for mode, m in med.items():
        lines.append(f"| {mode} | {m['first_output_s']:.3f} | {m['total_s']:.3f} | "
                     f"{m['functions_compiled']} / {m['functions']} |")
    if "regular" in med and "lazy" in med:
        r = med["lazy"]["first_output_s"] / med["regular"]["first_output_s"]
        lines += ["", f"Lazy reaches first output in {r:.3f} of regular mode's time (target: at most 0.1)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, "results", "startup.md"), "w") as f:
        f.write(text)
    print(text)
    return 0 if med else 1


if __name__ == "__main__":
    sys.exit(main())
