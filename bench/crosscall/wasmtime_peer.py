"""The cross-module call loops of bench/crosscall under wasmtime, linked with
its Linker: prints `wasmtime VERSION KIND SECONDS` for one call of export
KIND (`cross` or `intra`) of app.wat with lib.wat linked as `lib`.
Run by bench/crosscall/run.py with the benchmarks' Python (bench/.venv).
"""
import importlib.metadata
import pathlib
import sys
import time

import wasmtime

here = pathlib.Path(__file__).parent
kind, n = sys.argv[1], int(sys.argv[2])
eng = wasmtime.Engine()
lib = wasmtime.Module(eng, (here / "lib.wat").read_text())
app = wasmtime.Module(eng, (here / "app.wat").read_text())
store = wasmtime.Store(eng)
linker = wasmtime.Linker(eng)
linker.define_instance(store, "lib", linker.instantiate(store, lib))
inst = linker.instantiate(store, app)
f = inst.exports(store)[kind]
f(store, 1000)  # warm up
t = time.perf_counter()
assert f(store, n) == n
print("wasmtime", importlib.metadata.version("wasmtime"), kind, time.perf_counter() - t)
