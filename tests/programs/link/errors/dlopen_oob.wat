;; Passes dlopen a path pointer past the end of its memory: a trap, with
;; the reason, not a crash.
(module
  (import "env" "dlopen" (func $dlopen (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 1 funcref)
  (func (export "_start") (drop (call $dlopen (i32.const 70000) (i32.const 0)))))
