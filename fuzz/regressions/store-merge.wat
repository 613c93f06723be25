;; Issue 10, item 1 (fixed): an in-bounds store followed by a trapping one.
;; The spec keeps the first store (memory[65532..65536] = 1); LLVM used to
;; merge the two into one 8-byte store that faults, so wasabi at -O1 and up
;; kept neither.
(module
  (memory (export "m") 1)
  (func (export "f")
    (i32.store (i32.const 65532) (i32.const 1))
    (i32.store (i32.const 65536) (i32.const 2))))
