;; Outside the allowed directories of byname/escape.wasm.
(module (func (export "f") (result i32) (i32.const 1)))
