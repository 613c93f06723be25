;; Trap-exact memory semantics (issue 10, problem 1). Wasabi has no bounds
;; checks: an out-of-bounds access faults on a guard page. That only works
;; if every access the program makes is executed, in program order, unmerged,
;; whatever LLVM's optimiser would like to do with it.

;; A load into a local that is never read, with no memory pages at all.
(module
  (memory 0)
  (func (export "dead-local") (local i32)
    (local.set 0 (i32.load (i32.const 0))))
  (func (export "dead-local-i64") (local i64)
    (local.set 0 (i64.load (i32.const 0))))
  (func (export "dead-local-f64") (local f64)
    (local.set 0 (f64.load offset=8 (i32.const 0))))
  (func (export "dead-narrow") (local i32)
    (local.set 0 (i32.load8_u (i32.const 0))))
)
(assert_trap (invoke "dead-local") "out of bounds memory access")
(assert_trap (invoke "dead-local-i64") "out of bounds memory access")
(assert_trap (invoke "dead-local-f64") "out of bounds memory access")
(assert_trap (invoke "dead-narrow") "out of bounds memory access")

;; Loads whose value LLVM can compute without them.
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "mul0") (result i32)
    (i32.mul (i32.load (i32.const 70000)) (i32.const 0)))
  (func (export "and0") (result i32)
    (i32.and (i32.load (i32.const 70000)) (i32.const 0)))
  (func (export "i64-and0") (result i64)
    (i64.and (i64.load (i32.const 70000)) (i64.const 0)))
  (func (export "select-const") (result i32)
    (select (i32.const 1) (i32.load (i32.const 70000)) (i32.const 1)))
  (func (export "eq-self") (result i32) (local i32)
    (i32.eq (local.tee 0 (i32.load (i32.const 70000))) (local.get 0)))
  (func (export "sub-self") (result i32) (local i32)
    (i32.sub (local.tee 0 (i32.load (i32.const 70000))) (local.get 0)))
  (func (export "drop") (drop (i32.load (i32.const 70000))))
  (func (export "drop-f32") (drop (f32.load (i32.const 65535))))
  (func (export "br-if-dead") (result i32)
    (block (result i32)
      (br_if 0 (i32.const 5) (i32.const 0))
      (drop (i32.load (i32.const 70000)))))
  (func (export "if-both-same") (result i32)
    (if (result i32) (i32.load (i32.const 70000))
      (then (i32.const 3)) (else (i32.const 3))))
  (func (export "dead-global") (global.set $g (i32.mul (i32.load (i32.const 70000)) (i32.const 0))))
  ;; In bounds: the same shapes still compute the right thing.
  (func (export "mul0-ok") (result i32)
    (i32.mul (i32.load (i32.const 65532)) (i32.const 0)))
  (func (export "eq-self-ok") (result i32) (local i32)
    (i32.eq (local.tee 0 (i32.load (i32.const 65532))) (local.get 0)))
  ;; The last valid byte, and one past it with a wider access.
  (func (export "last-byte") (result i32) (i32.load8_u (i32.const 65535)))
  (func (export "straddle") (result i32) (i32.load (i32.const 65533)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
)
(assert_trap (invoke "mul0") "out of bounds memory access")
(assert_trap (invoke "and0") "out of bounds memory access")
(assert_trap (invoke "i64-and0") "out of bounds memory access")
(assert_trap (invoke "select-const") "out of bounds memory access")
(assert_trap (invoke "eq-self") "out of bounds memory access")
(assert_trap (invoke "sub-self") "out of bounds memory access")
(assert_trap (invoke "drop") "out of bounds memory access")
(assert_trap (invoke "drop-f32") "out of bounds memory access")
(assert_trap (invoke "br-if-dead") "out of bounds memory access")
(assert_trap (invoke "if-both-same") "out of bounds memory access")
(assert_trap (invoke "dead-global") "out of bounds memory access")
(assert_return (invoke "mul0-ok") (i32.const 0))
(assert_return (invoke "eq-self-ok") (i32.const 1))
(assert_return (invoke "last-byte") (i32.const 0))
(assert_trap (invoke "straddle") "out of bounds memory access")
(assert_trap (invoke "load" (i32.const -1)) "out of bounds memory access")

;; Stores before a trapping access are visible afterwards; stores after it
;; are not; a trapping store writes nothing.
(module
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "g") (result i32) (global.get $g))
  ;; store at 65532, then at 65536: the spec keeps the first.
  (func (export "adjacent-stores")
    (i32.store (i32.const 65532) (i32.const 0x11223344))
    (i32.store (i32.const 65536) (i32.const 0x55667788)))
  (func (export "adjacent-bytes")
    (i32.store8 (i32.const 65534) (i32.const 0xaa))
    (i32.store8 (i32.const 65535) (i32.const 0xbb))
    (i32.store8 (i32.const 65536) (i32.const 0xcc)))
  ;; The same, descending: the trapping store comes first, so nothing changes.
  (func (export "descending")
    (i32.store8 (i32.const 65536) (i32.const 0xcc))
    (i32.store8 (i32.const 65535) (i32.const 0x77))
    (i32.store8 (i32.const 65534) (i32.const 0x77)))
  ;; A store, then a trapping load whose value is not needed.
  (func (export "store-then-dead-load") (local i32)
    (i32.store (i32.const 16) (i32.const 7))
    (local.set 0 (i32.load (i32.const 70000))))
  ;; A trapping load, then a store: the store must not happen.
  (func (export "dead-load-then-store") (local i32)
    (local.set 0 (i32.load (i32.const 70000)))
    (i32.store (i32.const 20) (i32.const 9)))
  ;; Two stores to one place around a trapping load: the first one stays.
  (func (export "overwritten-around-trap") (local i32)
    (i32.store (i32.const 24) (i32.const 1))
    (local.set 0 (i32.load (i32.const 70000)))
    (i32.store (i32.const 24) (i32.const 2)))
  ;; A trapping store, then an in-bounds one: only the trap.
  (func (export "trap-then-store")
    (i32.store (i32.const 70000) (i32.const 1))
    (i32.store (i32.const 28) (i32.const 5)))
  ;; A global set before a trap is visible; one after is not.
  (func (export "global-around-trap") (local i32)
    (global.set $g (i32.const 1))
    (local.set 0 (i32.load (i32.const 70000)))
    (global.set $g (i32.const 2)))
  ;; A store partly out of bounds writes nothing.
  (func (export "partial-store")
    (i64.store (i32.const 65530) (i64.const -1)))
  ;; A loop that writes i at 4*i+8 for i in 0..n: it traps at the first
  ;; element past the end, with everything before it written.
  (func (export "fill") (param $n i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store offset=8 (i32.shl (local.get $i) (i32.const 2)) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
)
(assert_trap (invoke "adjacent-stores") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0x11223344))
(assert_trap (invoke "adjacent-bytes") "out of bounds memory access")
(assert_return (invoke "load8" (i32.const 65534)) (i32.const 0xaa))
(assert_return (invoke "load8" (i32.const 65535)) (i32.const 0xbb))
(assert_trap (invoke "descending") "out of bounds memory access")
(assert_return (invoke "load8" (i32.const 65534)) (i32.const 0xaa))
(assert_return (invoke "load8" (i32.const 65535)) (i32.const 0xbb))
(assert_trap (invoke "store-then-dead-load") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 16)) (i32.const 7))
(assert_trap (invoke "dead-load-then-store") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 20)) (i32.const 0))
(assert_trap (invoke "overwritten-around-trap") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 24)) (i32.const 1))
(assert_trap (invoke "trap-then-store") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 28)) (i32.const 0))
(assert_trap (invoke "global-around-trap") "out of bounds memory access")
(assert_return (invoke "g") (i32.const 1))
(assert_trap (invoke "partial-store") "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65528)) (i32.const 0))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0xbbaa3344))
(assert_trap (invoke "fill" (i32.const 20000)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 8)) (i32.const 0))
(assert_return (invoke "load" (i32.const 12)) (i32.const 1))
(assert_return (invoke "load" (i32.const 65528)) (i32.const 16380))

;; A copy loop, dst[i] = src[i] + 1, whose source runs off the end: every
;; element before the faulting one is copied, none after.
(module
  (memory 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "copy") (param $dst i32) (param $src i32) (param $n i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store
          (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i32.add (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2))))
                   (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
)
(assert_trap (invoke "copy" (i32.const 0) (i32.const 65000) (i32.const 1000)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 0)) (i32.const 1))
(assert_return (invoke "load" (i32.const 532)) (i32.const 1))
(assert_return (invoke "load" (i32.const 536)) (i32.const 0))
