;; The "runtime" half of the cyclic pair: it imports the document's memory
;; and functions while the document imports its functions. Its start
;; function runs only after both are linked, and already calls back.
(module
  (import "doc" "call_by_index" (func $call_by_index (param i32 i32) (result i32)))
  (import "doc" "print" (func $print (param i32 i32)))
  (import "doc" "memory" (memory 1))
  (global $started (mut i32) (i32.const 0))
  (data (i32.const 200) "runtime: kernel of N handlers\0a")
  (data (i32.const 240) "runtime: total NNNN\0a")
  (func $start
    ;; Calling into the document from a start function: everything is
    ;; linked by then.
    (global.set $started (call $call_by_index (i32.const 2) (i32.const 1))))
  (start $start)
  (func (export "create_kernel") (param $n i32) (result i32)
    (local $i i32) (local $total i32)
    (i32.store8 (i32.const 219) (i32.add (i32.const 48) (local.get $n)))
    (call $print (i32.const 200) (i32.const 30))
    (loop $each
      (local.set $total
        (i32.add (local.get $total)
          (call $call_by_index (local.get $i) (i32.add (local.get $i) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $n))))
    ;; `started` is footer(1) = 0: the start function ran.
    (i32.add (local.get $total) (global.get $started)))
  (func (export "log_total") (param $t i32)
    (i32.store8 (i32.const 258) (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
    (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
    (i32.store8 (i32.const 257) (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
    (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
    (i32.store8 (i32.const 256) (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
    (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
    (i32.store8 (i32.const 255) (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
    (call $print (i32.const 240) (i32.const 20))))
