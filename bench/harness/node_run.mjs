// Run a WASI command module under Node's V8 (node:wasi, preview1).
//
// usage: node --no-warnings [V8 flags] node_run.mjs app.wasm [args...]
// The runner passes --no-liftoff --no-wasm-lazy-compilation for the
// optimising tier (TurboFan compiles everything inside WebAssembly.compile).
// Compile, instantiate and run are timed apart and reported on stderr as
//   BENCH_TIMINGS {"compile_ms": .., "inst_ms": .., "run_ms": ..}
// and the process exits with the program's exit code.
// Known issue: this Node build (V8 11.3) can segfault in or right after
// wasi.start() once the program has printed its result (seen on json_bench);
// the runner records that as a failed "crash" sample.
import { readFileSync, writeSync } from 'node:fs';
import { WASI } from 'node:wasi';
import { performance } from 'node:perf_hooks';
import { basename } from 'node:path';

const [file, ...args] = process.argv.slice(2);
const bytes = readFileSync(file);
const t0 = performance.now();
const module = await WebAssembly.compile(bytes);
const t1 = performance.now();
const wasi = new WASI({ version: 'preview1', args: [basename(file), ...args], env: {}, returnOnExit: true });
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const t2 = performance.now();
let code = 0;
try {
  code = wasi.start(instance) ?? 0;
} catch (e) {
  writeSync(2, `wasm error: ${e}\n`);
  code = 134;
}
const t3 = performance.now();
writeSync(2, `BENCH_TIMINGS ${JSON.stringify({ compile_ms: t1 - t0, inst_ms: t2 - t1, run_ms: t3 - t2 })}\n`);
process.exitCode = code;
