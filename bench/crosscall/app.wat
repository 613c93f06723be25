;; The caller: the same loop calling the increment imported from module
;; `lib` ("cross") and an identical function of its own ("intra").
(module
  (import "lib" "inc" (func $ext (param i64) (result i64)))
  (func $own (param i64) (result i64) (i64.add (local.get 0) (i64.const 1)))
  (func (export "cross") (param $n i64) (result i64) (local $x i64)
    (loop $l (local.set $x (call $ext (local.get $x)))
      (br_if $l (i64.lt_u (local.get $x) (local.get $n))))
    (local.get $x))
  (func (export "intra") (param $n i64) (result i64) (local $x i64)
    (loop $l (local.set $x (call $own (local.get $x)))
      (br_if $l (i64.lt_u (local.get $x) (local.get $n))))
    (local.get $x)))
