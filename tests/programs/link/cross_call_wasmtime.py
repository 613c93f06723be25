"""The cross-module call benchmark of wasabi/tests/linking.rs
(`cross_module_call_cost`), the same loops under wasmtime with its Linker:
an i64 increment called 200 million times, through an import of another
instance ("cross") and a function of the same module ("intra"), best of 5.
Run with the benchmarks' Python (bench/.venv, made by bench/build.sh):
    bench/.venv/bin/python3 tests/programs/link/cross_call_wasmtime.py
"""
import importlib.metadata
import time

import wasmtime
eng = wasmtime.Engine()
lib = wasmtime.Module(eng, '(module (func (export "inc") (param i64) (result i64) (i64.add (local.get 0) (i64.const 1))))')
app = wasmtime.Module(eng, '''(module (import "lib" "inc" (func $ext (param i64) (result i64)))
 (func $own (param i64) (result i64) (i64.add (local.get 0) (i64.const 1)))
 (func (export "cross") (param $n i64) (result i64) (local $x i64)
   (loop $l (local.set $x (call $ext (local.get $x)))
     (br_if $l (i64.lt_u (local.get $x) (local.get $n))))
   (local.get $x))
 (func (export "intra") (param $n i64) (result i64) (local $x i64)
   (loop $l (local.set $x (call $own (local.get $x)))
     (br_if $l (i64.lt_u (local.get $x) (local.get $n))))
   (local.get $x)))''')
store = wasmtime.Store(eng)
linker = wasmtime.Linker(eng)
li = linker.instantiate(store, lib)
linker.define_instance(store, "lib", li)
inst = linker.instantiate(store, app)
n = 200_000_000
best = {}
for _ in range(5):
    for k in ["intra", "cross"]:
        f = inst.exports(store)[k]
        t = time.perf_counter(); assert f(store, n) == n; d = time.perf_counter() - t
        best[k] = min(best.get(k, 9e9), d)
print("wasmtime %s: intra %.3f ns/call, cross %.3f ns/call, ratio %.3f" % (importlib.metadata.version("wasmtime"), best["intra"] * 1e9 / n, best["cross"] * 1e9 / n, best["cross"] / best["intra"]))
