;; Issue 10, item 2 (fixed): compiling this valid module used to crash the
;; process (SIGSEGV): the constant trapping division was folded to poison
;; and then read as a float constant. It must compile, and calling it must
;; trap with an integer division by zero.
(module
  (func (export "f") (result f32)
    (f32.mul (f32.convert_i32_u (i32.div_u (i32.const 1) (i32.const 0)))
             (f32.const 1))))
