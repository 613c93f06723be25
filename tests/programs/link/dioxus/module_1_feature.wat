;; Split module `feature` (Dioxus naming): shares the main module's memory
;; (`env.memory`), calls main's `print` export, reads and bumps main's
;; `greeted` global, and uses `scale` from the shared chunk chunk_0.wasm.
(module
  (import "env" "memory" (memory 1))
  (import "__wasm_split" "print" (func $print (param i32 i32)))
  (import "__wasm_split" "greeted" (global $greeted (mut i32)))
  (import "__wasm_split" "scale" (func $scale (param i32) (result i32)))
  (data (i32.const 300) "feature: hello from a split module\0a")
  (func (export "__wasm_split_00feature00_export_5d41402abc4b2a76b9719d911017c592_greet") (param $n i32) (result i32)
    (global.set $greeted (i32.add (global.get $greeted) (i32.const 1)))
    (call $print (i32.const 300) (i32.const 35))
    ;; scale(n) = n * 3 - greeted
    (i32.sub (call $scale (local.get $n)) (global.get $greeted))))
