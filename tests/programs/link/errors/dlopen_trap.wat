;; dlopens errors/trapping_side.wasm, whose constructor traps.
(module
  (import "env" "dlopen" (func $dlopen (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 1 funcref)
  (data (i32.const 16) "trapping_side.wasm\00")
  (func (export "_start") (drop (call $dlopen (i32.const 16) (i32.const 0)))))
