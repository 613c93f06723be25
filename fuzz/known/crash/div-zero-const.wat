;; Issue 10, item 2: compiling this valid module crashes the process
;; (SIGSEGV), though the function is never called: the constant trapping
;; division is folded to poison and then read as a float constant.
;; Not run in-process by the tests (it would kill them); tests/smoke.rs
;; only checks that the `const-trap-fold` rule recognises it.
(module
  (func (result f32)
    (f32.mul (f32.convert_i32_u (i32.div_u (i32.const 1) (i32.const 0)))
             (f32.const 1))))
