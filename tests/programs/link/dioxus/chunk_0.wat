;; A shared chunk: loaded when a split module being loaded imports `scale`.
(module
  (func (export "scale") (param i32) (result i32)
    (i32.mul (local.get 0) (i32.const 3))))
