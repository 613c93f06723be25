;; Imports a module file that does not exist.
(module
  (import "./not_there.wasm" "f" (func (result i32)))
  (func (export "_start")))
