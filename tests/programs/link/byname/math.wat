;; A library linked by name (`--preload math=math.wasm`): arithmetic, a
;; memory the app imports and writes a message into, a counter global, and
;; a table whose entry 0 the app calls through `call_indirect`.
(module
  (memory (export "memory") 1)
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (table (export "ops") 2 funcref)
  (elem (i32.const 0) $square $negate)
  (func $bump (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
  (func (export "add") (param i32 i32) (result i32)
    call $bump
    (i32.add (local.get 0) (local.get 1)))
  (func (export "mul") (param i32 i32) (result i32)
    call $bump
    (i32.mul (local.get 0) (local.get 1)))
  (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func $negate (param i32) (result i32) (i32.sub (i32.const 0) (local.get 0)))
  ;; Writes "math saw N\n" at address 100 of its own memory; returns the length.
  (data (i32.const 100) "math saw ")
  (func (export "describe") (param i32) (result i32)
    (i32.store8 (i32.const 109) (i32.add (i32.const 48) (local.get 0)))
    (i32.store8 (i32.const 110) (i32.const 10))
    (i32.const 11)))
