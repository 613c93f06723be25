;; The host-call benchmark's module: the same loop calling an imported
;; host function, a wasm function of another instance (imported), and a
;; wasm function of this module, `n` times each.
(module
  (import "host" "inc" (func $host_inc (param i32) (result i32)))
  (import "other" "inc" (func $other_inc (param i32) (result i32)))
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (table funcref (elem $inc))
  (func (export "host_loop") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (call $host_inc (local.get $acc)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc))
  (func (export "import_loop") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (call $other_inc (local.get $acc)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc))
  (func (export "local_loop") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (call_indirect (param i32) (result i32) (local.get $acc) (i32.const 0)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc))
  (func (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
