"""Run a WASI command module under wasmtime (Python bindings, Cranelift).

usage: python wasmtime_run.py [--cache CONFIG.toml] app.wasm [args...]

The program's stdout/stderr are inherited.  Compile (Module.from_file),
instantiate (Linker.define_wasi + instantiate) and run (_start) are timed
apart and reported on stderr as one line:
  BENCH_TIMINGS {"compile_ms": .., "inst_ms": .., "run_ms": ..}
Just before _start is called, one more line says when (CLOCK_MONOTONIC, to
compare with the time the process was spawned) and how long compiling and
instantiating took:
  BENCH_START <monotonic ns> <ms>
--cache turns on wasmtime's compiled-code cache with that configuration
file (default: no cache).
The process exits with the program's exit code (proc_exit via ExitTrap).
"""
import json
import os
import sys
import time

import wasmtime


def main():
    argv = sys.argv[1:]
    config = wasmtime.Config()  # default: Cranelift, optimise for speed, no cache
    if argv[:1] == ["--cache"]:
        config.cache = argv[1]
        argv = argv[2:]
    path, args = argv[0], argv[1:]
    engine = wasmtime.Engine(config)
    t0 = time.perf_counter()
    module = wasmtime.Module.from_file(engine, path)
    t1 = time.perf_counter()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [os.path.basename(path)] + args
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    t2 = time.perf_counter()
    print(f"BENCH_START {time.monotonic_ns()} {(t2 - t0) * 1e3:.3f}", file=sys.stderr, flush=True)
    code = 0
    try:
        start(store)
    except wasmtime.ExitTrap as e:
        code = e.code
    except wasmtime.Trap as e:
        print(f"wasm trap: {e}", file=sys.stderr)
        code = 134
    t3 = time.perf_counter()
    sys.stdout.flush()
    print("BENCH_TIMINGS " + json.dumps({"compile_ms": (t1 - t0) * 1e3, "inst_ms": (t2 - t1) * 1e3,
                                          "run_ms": (t3 - t2) * 1e3}), file=sys.stderr, flush=True)
    os._exit(code)


if __name__ == "__main__":
    main()
