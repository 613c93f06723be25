;; Gathers the profile for a profile-guided wasm-split (see ../build.sh):
;; runs the instrumented program (imported by path, so wasabi links it),
;; then calls its `__write_profile` and writes the profile to the file
;; `app.prof` in the preopened directory (fd 3):
;;   wasabi run --dir . profile_driver.wasm
;; It shares the program's memory (WASI reads buffers from the caller's
;; exported memory) and uses a page it grows after the program finished,
;; so it never touches the program's data.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "./instrumented.wasm" "memory" (memory 2))
  (import "./instrumented.wasm" "_start" (func $program))
  (import "./instrumented.wasm" "__write_profile"
    (func $write_profile (param i32 i32) (result i32)))
  (export "memory" (memory 0))
  (func (export "_start")
    (local $base i32) (local $len i32) (local $err i32)
    (call $program)
    (local.set $base (i32.mul (memory.grow (i32.const 1)) (i32.const 65536)))
    ;; "app.prof" at base; iovec at base+16; fd at base+32; profile at base+64.
    (i64.store (local.get $base) (i64.const 0x666f72702e707061))
    (local.set $len
      (call $write_profile (i32.add (local.get $base) (i32.const 64)) (i32.const 60000)))
    (local.set $err
      (call $path_open (i32.const 3) (i32.const 0) (local.get $base) (i32.const 8)
        (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0)
        (i32.add (local.get $base) (i32.const 32))))
    (if (local.get $err) (then (call $exit (i32.add (i32.const 100) (local.get $err)))))
    (i32.store (i32.add (local.get $base) (i32.const 16)) (i32.add (local.get $base) (i32.const 64)))
    (i32.store (i32.add (local.get $base) (i32.const 20)) (local.get $len))
    (drop (call $fd_write (i32.load (i32.add (local.get $base) (i32.const 32)))
      (i32.add (local.get $base) (i32.const 16)) (i32.const 1)
      (i32.add (local.get $base) (i32.const 24))))))
