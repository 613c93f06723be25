#!/usr/bin/env python3
"""Run every case of cases.toml under wasmtime-py (the reference WASI
runtime) and compare stdout / exit status with the expectation.

Needs the `wasmtime` PyPI package, e.g.:
    python3 -m venv /tmp/wt && /tmp/wt/bin/pip install wasmtime
    /tmp/wt/bin/python tests/programs/check_wasmtime.py

Usage: check_wasmtime.py [--update-wasi-spec] [-v] [CASE_NAME ...]
  --update-wasi-spec  write wasmtime's stdout as the expectation of the
                      expect_source = "wasi-spec" cases (review the diff!)
  -v                  show stdout/stderr diffs of failing cases

Conventions (same as a wasabi harness should use):
  argv[0] = program name (wasm file stem); "{dir}" -> "/sandbox";
  env = exactly the case's env list; stdin = the case's file or empty;
  dir = true -> fresh host temp dir preopened as guest "/sandbox".
Prints one line per case and `N passed, N failed` last; exits 1 on failure.
"""
import difflib
import os
import sys
import tempfile
import time

import wasmtime

import corpus


def run_case(engine, modules, c):
    store = wasmtime.Store(engine)
    cfg = wasmtime.WasiConfig()
    cfg.argv = [c.program] + c.argv(corpus.GUEST_DIR)
    cfg.env = [[k, v] for k, v in c.env_pairs()]
    tmp = tempfile.mkdtemp(prefix="wt-io-")
    out_p, err_p, in_p = (os.path.join(tmp, n) for n in ("stdout", "stderr", "stdin"))
    if c.stdin:
        cfg.stdin_file = str(c.stdin_path())
    else:
        open(in_p, "wb").close()
        cfg.stdin_file = in_p
    cfg.stdout_file = out_p
    cfg.stderr_file = err_p
    d = corpus.make_scratch_dir(c)
    if d:
        cfg.preopen_dir(d, corpus.GUEST_DIR)
    store.set_wasi(cfg)
    key = str(c.wasm_path())
    if key not in modules:
        modules[key] = wasmtime.Module.from_file(engine, key)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    code, trapped, trap_msg = 0, False, ""
    try:
        inst = linker.instantiate(store, modules[key])
        inst.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        code = e.code
    except wasmtime.Trap as e:
        trapped = True
        tc = getattr(e, "trap_code", None)
        trap_msg = tc.name.lower() if tc is not None else (str(e).strip().splitlines() or ["trap"])[-1]
    except wasmtime.WasmtimeError as e:
        # e.g. proc_exit with a status outside [0, 126): wasmtime refuses it
        code = "error: " + (str(e).strip().splitlines() or ["?"])[-1].strip()
    finally:
        del store
        corpus.remove_scratch_dir(d)
    with open(out_p, "rb") as f:
        out = f.read()
    with open(err_p, "rb") as f:
        err = f.read()
    for p in (out_p, err_p, in_p):
        if os.path.exists(p):
            os.unlink(p)
    os.rmdir(tmp)
    return code, trapped, trap_msg, out, err


def main() -> int:
    argv = sys.argv[1:]
    update = "--update-wasi-spec" in argv
    verbose = "-v" in argv
    only = {a for a in argv if not a.startswith("-")}
    engine = wasmtime.Engine()
    modules = {}
    passed = failed = 0
    for c in corpus.load_cases():
        if only and c.name not in only:
            continue
        t0 = time.monotonic()
        code, trapped, trap_msg, out, err = run_case(engine, modules, c)
        dt = time.monotonic() - t0
        if update and c.expect_source == "wasi-spec":
            c.stdout_path().write_bytes(out)
            if not c.expect_trap and not trapped and isinstance(code, int):
                corpus.set_expect_exit(c.name, code)
                c.expect_exit = code
        status = f"trap ({trap_msg})" if trapped else f"exit {code}"
        problems = []
        if c.expect_trap:
            if not trapped:
                problems.append(f"expected a trap, got exit {code}")
        elif trapped:
            problems.append(f"unexpected trap: {trap_msg}")
        elif code != c.expect_exit:
            problems.append(f"exit {code}, expected {c.expect_exit}")
        expected = c.stdout_path().read_bytes() if c.stdout_path().exists() else None
        if expected is None:
            problems.append(f"missing {c.stdout}")
        elif out != expected:
            problems.append(f"stdout differs ({len(out)} bytes vs {len(expected)} expected)")
            if verbose:
                sys.stdout.writelines(difflib.unified_diff(
                    expected.decode(errors="replace").splitlines(True),
                    out.decode(errors="replace").splitlines(True), "expected", "wasmtime"))
        if c.stderr_contains and c.stderr_contains.encode() not in err:
            problems.append(f"stderr lacks {c.stderr_contains!r}")
            if verbose:
                print(err.decode(errors="replace")[-2000:])
        if problems:
            failed += 1
            print(f"FAIL {c.name}: {'; '.join(problems)} [{status}, {dt:.2f}s]")
        else:
            passed += 1
            print(f"PASS {c.name} [{status}, {len(out)} bytes stdout, {dt:.2f}s]")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
