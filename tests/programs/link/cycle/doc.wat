;; The "document" half of a cyclic pair (fastn style): it asks the runtime
;; to create a kernel, and the runtime calls back `doc.call_by_index` for
;; each of the document's functions, kept in the document's table.
;; Run: `wasabi run --preload runtime=runtime.wasm doc.wasm`
;; (the runtime imports this module by its file stem, `doc`).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "runtime" "create_kernel" (func $create_kernel (param i32) (result i32)))
  (import "runtime" "log_total" (func $log_total (param i32)))
  (memory (export "memory") 1)
  (type $handler (func (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $title $body $footer)
  (func $title (param i32) (result i32) (i32.add (local.get 0) (i32.const 100)))
  (func $body (param i32) (result i32) (i32.mul (local.get 0) (i32.const 20)))
  (func $footer (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
  (func (export "call_by_index") (param $i i32) (param $arg i32) (result i32)
    (call_indirect (type $handler) (local.get $arg) (local.get $i)))
  ;; Writes `len` bytes at `ptr` to stdout (used by the runtime too).
  (func (export "print") (param $ptr i32) (param $len i32)
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
  (data (i32.const 64) "doc: start\0a")
  (func (export "_start")
    (call $fd_write_str (i32.const 64) (i32.const 11))
    (call $log_total (call $create_kernel (i32.const 3))))
  (func $fd_write_str (param i32 i32)
    (i32.store (i32.const 8) (local.get 0))
    (i32.store (i32.const 12) (local.get 1))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
