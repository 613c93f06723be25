;; Imports from the preload `bad` (errors/bad_preload.wasm).
(module
  (import "bad" "f" (func (result i32)))
  (func (export "_start")))
