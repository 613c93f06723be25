;; A side module that needs cycle_a.wasm, which needs it back (build.sh
;; appends the dylink.0 sections that say so).
(module (import "env" "memory" (memory 0)))
