;; Imports a module by relative path: `wasabi run app_path.wasm` loads
;; lib/counter.wasm from this module's directory.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "./lib/counter.wasm" "next" (func $next (result i32)))
  (func (export "_start")
    (drop (call $next))
    (drop (call $next))
    ;; Exits with the third value: 3.
    (call $exit (call $next))))
