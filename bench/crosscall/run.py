#!/usr/bin/env python3
"""Cost of a call into another module (issue 16): an i64 increment called N
times in a loop through an import from another instance ("cross") and
through a function of the caller's own module ("intra"), under every way
wasabi runs a linked program and under wasmtime with its Linker, all in
one run, engines interleaved, best of R repetitions.

    bench/.venv/bin/python3 bench/crosscall/run.py [--n N] [--reps R]
        [--wasabi PATH] [--out FILE.md]

Timing: for `wasabi run` modes, the `run_ms` of `--timings` (the call
alone, compilation excluded); for the AOT executable (`wasabi aot
--preload lib=lib.wat app.wat`), the process's wall time (its start-up is
a few milliseconds against ~0.3 s of calls); for wasmtime, the call
alone (wasmtime_peer.py). The target is cross / intra <= 1.1.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def wasabi_run(wasabi, mode, kind, n):
    out = subprocess.run(
        [wasabi, "run", "--no-cache", "--mode", mode, "--timings",
         "--preload", f"lib={HERE / 'lib.wat'}", "--invoke", kind,
         str(HERE / "app.wat"), str(n)],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(n), out.stdout
    return float(re.search(r"run_ms=([0-9.]+)", out.stderr).group(1)) / 1e3


def aot_run(exe, kind, n):
    t = time.perf_counter()
    out = subprocess.run([exe, "--invoke", kind, str(n)],
                         capture_output=True, text=True, check=True)
    d = time.perf_counter() - t
    assert out.stdout.strip() == str(n), out.stdout
    return d


def wasmtime_run(python, kind, n):
    out = subprocess.run([python, str(HERE / "wasmtime_peer.py"), kind, str(n)],
                         capture_output=True, text=True, check=True)
    _, version, _, secs = out.stdout.split()
    return float(secs), version


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000_000, help="calls per loop")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (best is kept)")
    ap.add_argument("--wasabi", default=str(ROOT / "target/release/wasabi"))
    ap.add_argument("--python", default=str(ROOT / "bench/.venv/bin/python3"),
                    help="a Python with the wasmtime package")
    ap.add_argument("--out", help="also write the table to this Markdown file")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        exe = pathlib.Path(tmp) / "crosscall"
        subprocess.run([a.wasabi, "aot", "--preload", f"lib={HERE / 'lib.wat'}",
                        str(HERE / "app.wat"), "-o", str(exe)],
                       check=True, capture_output=True)
        engines = {
            "wasabi run --mode regular": lambda k: wasabi_run(a.wasabi, "regular", k, a.n),
            "wasabi run --mode lazy": lambda k: wasabi_run(a.wasabi, "lazy", k, a.n),
            "wasabi run --mode tiered": lambda k: wasabi_run(a.wasabi, "tiered", k, a.n),
            "wasabi aot": lambda k: aot_run(exe, k, a.n),
        }
        have_wasmtime = pathlib.Path(a.python).exists()
        version = None
        best = {}
        for _ in range(a.reps):
            for name, f in engines.items():
                for kind in ("intra", "cross"):
                    d = f(kind)
                    best[name, kind] = min(best.get((name, kind), 9e9), d)
            if have_wasmtime:
                for kind in ("intra", "cross"):
                    d, version = wasmtime_run(a.python, kind, a.n)
                    best["wasmtime", kind] = min(best.get(("wasmtime", kind), 9e9), d)
    names = list(engines) + (["wasmtime"] if have_wasmtime else [])
    lines = [
        f"# Cross-module calls (bench/crosscall, N = {a.n:,}, best of {a.reps})",
        "",
        f"wasmtime: {version or 'not available'}. "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        "",
        "| engine | intra-module (ns/call) | cross-module (ns/call) | cross / intra | cross vs wasmtime's cross |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        i, c = best[name, "intra"] * 1e9 / a.n, best[name, "cross"] * 1e9 / a.n
        vs = (f"{best[name, 'cross'] / best['wasmtime', 'cross']:.2f}"
              if have_wasmtime else "n/a")
        lines.append(f"| {name} | {i:.2f} | {c:.2f} | {c / i:.2f} | {vs} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        pathlib.Path(a.out).write_text(text)


if __name__ == "__main__":
    sys.exit(main())
