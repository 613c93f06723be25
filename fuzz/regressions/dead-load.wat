;; Issue 10, item 1 (fixed): a load whose result is never used must still
;; trap (memory out of bounds). wasabi used to return normally at every -O.
(module
  (memory 0)
  (func (export "f") (local i32)
    (local.set 0 (i32.load (i32.const 0)))))
