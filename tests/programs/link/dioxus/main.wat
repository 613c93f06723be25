;; The main module of a program split with the Dioxus naming scheme (made
;; by hand: no Dioxus toolchain here). Each `__wasm_split_00<module>00_
;; import_<hash>_<fn>` import is a split point: its first call loads
;; module_<module>.wasm (or module_<N>_<module>.wasm) from this directory,
;; which exports the matching `..._export_<hash>_<fn>`. `settings` is
;; never called, so module_settings.wasm is never read.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "__wasm_split" "__wasm_split_00feature00_import_5d41402abc4b2a76b9719d911017c592_greet"
    (func $greet (param i32) (result i32)))
  (import "__wasm_split" "__wasm_split_00settings00_import_5d41402abc4b2a76b9719d911017c592_open_settings"
    (func $open_settings))
  (memory (export "memory") 1)
  (global $greeted (export "greeted") (mut i32) (i32.const 0))
  (func $print (export "print") (param $ptr i32) (param $len i32)
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
  (data (i32.const 64) "main: start\0a")
  (data (i32.const 80) "main: greet returned N\0a")
  (data (i32.const 112) "main: done\0a")
  (func $show (param $v i32)
    (i32.store8 (i32.const 101) (i32.add (i32.const 48) (local.get $v)))
    (call $print (i32.const 80) (i32.const 23)))
  (func (export "_start")
    (call $print (i32.const 64) (i32.const 12))
    ;; First call: loads the feature module (and the chunk it needs).
    (call $show (call $greet (i32.const 2)))
    ;; Second call: straight to the loaded code.
    (call $show (call $greet (i32.const 3)))
    (call $print (i32.const 112) (i32.const 11))))
