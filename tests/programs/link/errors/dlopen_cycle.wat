;; dlopens errors/cycle_a.wasm, which needs cycle_b.wasm, which needs
;; cycle_a.wasm (WASM_DYLINK_NEEDED): dlopen must fail (return 0), not
;; recurse. `--invoke open` prints what dlopen returned.
(module
  (import "env" "dlopen" (func $dlopen (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 1 funcref)
  (data (i32.const 16) "cycle_a.wasm\00")
  (func (export "open") (result i32) (call $dlopen (i32.const 16) (i32.const 0))))
