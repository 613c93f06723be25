;; A shared chunk nothing needs: never loaded.
(module
  (func (export "unused_helper") (result i32) (i32.const 0)))
