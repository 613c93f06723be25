;; Recursive Fibonacci: `wasabi run --invoke fib examples/fib.wat 30`
(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func $inf (export "recurse") (result i32) (i32.add (call $inf) (i32.const 1)))
  (memory 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))
