;; Linked by name with math.wasm: `wasabi run --preload math=math.wasm app.wasm`.
;; Imports math's functions, its memory (shared: no copy), a global and a
;; table, and prints through WASI from the shared memory.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "math" "add" (func $add (param i32 i32) (result i32)))
  (import "math" "mul" (func $mul (param i32 i32) (result i32)))
  (import "math" "describe" (func $describe (param i32) (result i32)))
  (import "math" "memory" (memory 1))
  ;; WASI reads the iovecs from the caller's exported memory: the shared one.
  (export "memory" (memory 0))
  (import "math" "calls" (global $calls (mut i32)))
  (import "math" "ops" (table 2 funcref))
  (type $unary (func (param i32) (result i32)))
  ;; Prints the decimal of a non-negative number < 10000, then a newline,
  ;; using bytes 0..32 of the shared memory.
  (func $print_num (param $n i32)
    (local $p i32)
    (local.set $p (i32.const 24))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (local.get $n)))
    (call $write (local.get $p) (i32.sub (i32.const 25) (local.get $p))))
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $ptr))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))
  (func (export "_start")
    (local $i i32) (local $sum i32)
    ;; 2 + 3, then 6 * 7 through imported functions.
    (call $print_num (call $add (i32.const 2) (i32.const 3)))
    (call $print_num (call $mul (i32.const 6) (i32.const 7)))
    ;; A loop of cross-module calls.
    (loop $l
      (local.set $sum (call $add (local.get $sum) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
    (call $print_num (local.get $sum))
    ;; math counted every call in its own global, which we read directly.
    (call $print_num (global.get $calls))
    ;; math's table entries called from here: square(9), negate(-5).
    (call $print_num (call_indirect (type $unary) (i32.const 9) (i32.const 0)))
    (call $print_num (call_indirect (type $unary) (i32.const -5) (i32.const 1)))
    ;; math wrote into its memory; we print those bytes from ours (the same).
    (call $write (i32.const 100) (call $describe (i32.const 7)))))
