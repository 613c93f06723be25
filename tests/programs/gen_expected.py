#!/usr/bin/env python3
"""Regenerate expectations from the NATIVE builds (native/NAME).

For every case with expect_source = "native": run native/<program> with the
case's args (with {dir} -> a fresh host temp dir), exactly the case's env
(nothing inherited), and its stdin (empty if none); write the stdout byte for
byte to the case's `stdout` file and fix `expect_exit` in cases.toml if the
native exit code differs. Trap cases (expect_trap = true) must end abnormally
natively (killed by a signal or non-zero exit); their stdout is recorded too.

Cases with expect_source = "wasi-spec" are skipped: their expectation is what
a correct WASI runtime does; refresh it with
`check_wasmtime.py --update-wasi-spec`.

Usage: gen_expected.py [CASE_NAME ...]
"""
import subprocess
import sys

import corpus


def main() -> int:
    only = set(sys.argv[1:])
    cases = corpus.load_cases()
    errors = 0
    for c in cases:
        if only and c.name not in only:
            continue
        if c.expect_source != "native":
            print(f"skip  {c.name} (expect_source = {c.expect_source})")
            continue
        exe = c.native_path()
        if not exe.exists():
            print(f"ERROR {c.name}: {exe} missing (run build.sh)")
            errors += 1
            continue
        d = corpus.make_scratch_dir(c)
        try:
            stdin = c.stdin_path()
            with (open(stdin, "rb") if stdin else open("/dev/null", "rb")) as fin:
                p = subprocess.run([str(exe)] + c.argv(d or ""), stdin=fin,
                                   capture_output=True, env=dict(c.env_pairs()),
                                   cwd=corpus.ROOT, timeout=300)
        finally:
            corpus.remove_scratch_dir(d)
        out = c.stdout_path()
        out.parent.mkdir(parents=True, exist_ok=True)
        old = out.read_bytes() if out.exists() else None
        if old != p.stdout:
            out.write_bytes(p.stdout)
        note = "" if old == p.stdout else " (stdout updated)"
        if c.expect_trap:
            if p.returncode == 0:
                print(f"ERROR {c.name}: expect_trap but native exited 0")
                errors += 1
                continue
            how = f"signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
            print(f"ok    {c.name}: abnormal end natively ({how}){note}")
        else:
            if p.returncode < 0:
                print(f"ERROR {c.name}: native run killed by signal {-p.returncode}")
                print(p.stderr.decode(errors="replace")[-2000:])
                errors += 1
                continue
            if corpus.set_expect_exit(c.name, p.returncode):
                note += f" (expect_exit updated to {p.returncode})"
            print(f"ok    {c.name}: exit {p.returncode}, {len(p.stdout)} bytes{note}")
        if c.stderr_contains and c.stderr_contains.encode() not in p.stderr:
            print(f"ERROR {c.name}: native stderr lacks {c.stderr_contains!r}")
            errors += 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
