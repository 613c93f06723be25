;; Issue 10, item 1 (fixed): (x * 0) where x is an out-of-bounds load must
;; trap. LLVM used to fold it to 0 at -O1 and up, so the trap vanished.
(module
  (memory 1)
  (func (export "f") (result i32)
    (i32.mul (i32.load (i32.const 70000)) (i32.const 0))))
