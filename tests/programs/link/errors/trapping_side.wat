;; A side module whose constructor traps (build.sh appends its dylink.0
;; section): dlopen must pass the trap on, not return NULL.
(module
  (import "env" "memory" (memory 0))
  (func (export "__wasm_call_ctors") unreachable))
