;; A preload that cannot link: it imports something nobody defines.
(module
  (import "nowhere" "thing" (func (param i32)))
  (func (export "f") (result i32) (i32.const 1)))
