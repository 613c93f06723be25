;; Imports a module by a path that leaves the allowed directories: refused.
(module
  (import "../escape/outside.wasm" "f" (func (result i32))))
