;; Loops the bounds-versioning pass (compiler/llvm/bounds_versioning.cpp)
;; rewrites: before the loop, one check that every address it could touch is
;; in bounds picks a copy with plain, optimisable accesses; otherwise the
;; exact copy runs and traps where the spec says. Each case below is built
;; so that a check that is wrong (wrapping, sign, stride, growth) would take
;; the plain copy and lose a trap or an earlier store.

(module
  (memory 1 3)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "size") (result i32) (memory.size))

  ;; for k in 0..n: store32 [addr] = k; addr += step (addr wraps in 32 bits)
  (func (export "strided") (param $addr i32) (param $step i32) (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (i32.store (local.get $addr) (local.get $k))
        (local.set $addr (i32.add (local.get $addr) (local.get $step)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))

  ;; The same with a constant step of 2^30: the first and the fifth address
  ;; are the same in 32 bits, the ones between are far out of bounds.
  (func (export "wrap") (param $addr i32) (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (i32.store (local.get $addr) (i32.add (local.get $k) (i32.const 100)))
        (local.set $addr (i32.add (local.get $addr) (i32.const 0x40000000)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))

  ;; Counting down through zero: 8, 4, 0, then 0xfffffffc.
  (func (export "down") (param $addr i32) (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (i32.store (local.get $addr) (i32.add (local.get $k) (i32.const 200)))
        (local.set $addr (i32.sub (local.get $addr) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))

  ;; Loads whose values are dead, then a store: the loads must still trap.
  (func (export "dead-loads") (param $addr i32) (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (drop (i64.load (local.get $addr)))
        (i32.store (i32.const 0) (local.get $k))
        (local.set $addr (i32.add (local.get $addr) (i32.const 8)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))

  ;; A sum over [addr, addr + 4n) with an offset: the plain copy must read
  ;; the same values the exact one does.
  (func (export "sum") (param $addr i32) (param $n i32) (result i64) (local $k i32) (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $s (i64.add (local.get $s)
          (i64.load32_u offset=4 (i32.add (local.get $addr) (i32.shl (local.get $k) (i32.const 2))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $s))

  ;; Grows the memory inside the loop, then writes into the new page: out of
  ;; bounds at loop entry, in bounds when it happens.
  (func (export "grow-in-loop") (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (if (i32.eqz (local.get $k)) (then (drop (memory.grow (i32.const 1)))))
        (i32.store (i32.add (i32.const 65536) (i32.shl (local.get $k) (i32.const 2))) (local.get $k))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))

  ;; Nested loops, a copy whose destination row runs off the end in the
  ;; last row: rows before it are copied, the failing row up to the edge.
  (func (export "rows") (param $dst i32) (param $rows i32) (param $cols i32) (local $r i32) (local $c i32)
    (block $rdone
      (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (block $cdone
          (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols)))
            (i32.store8
              (i32.add (local.get $dst) (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)))
              (i32.add (local.get $r) (i32.const 1)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $cl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; v128 stores in a loop, 16 bytes at a time.
  (func (export "splat-fill") (param $addr i32) (param $n i32) (local $k i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (v128.store (i32.add (local.get $addr) (i32.shl (local.get $k) (i32.const 4)))
          (i32x4.splat (i32.add (local.get $k) (i32.const 300))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l))))
)

;; In bounds: the plain copy runs and computes the same thing.
(invoke "strided" (i32.const 1024) (i32.const 4) (i32.const 100))
(assert_return (invoke "load" (i32.const 1024)) (i32.const 0))
(assert_return (invoke "load" (i32.const 1420)) (i32.const 99))
(assert_return (invoke "sum" (i32.const 1020) (i32.const 100)) (i64.const 4950))
(assert_return (invoke "sum" (i32.const 65528) (i32.const 1)) (i64.const 0))
(assert_trap (invoke "sum" (i32.const 65528) (i32.const 2)) "out of bounds memory access")

;; Stride from a parameter, upwards, crossing the end: every store before the
;; faulting one is visible.
(assert_trap (invoke "strided" (i32.const 65000) (i32.const 100) (i32.const 10)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65000)) (i32.const 0))
(assert_return (invoke "load" (i32.const 65500)) (i32.const 5))

;; A negative stride from a parameter, crossing zero.
(assert_trap (invoke "strided" (i32.const 16) (i32.const -8) (i32.const 5)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 16)) (i32.const 0))
(assert_return (invoke "load" (i32.const 8)) (i32.const 1))
(assert_return (invoke "load" (i32.const 0)) (i32.const 2))

;; A stride of 2^31 with 3 stores: the first and the last address are the
;; same and in bounds; the middle one is not. (1028 held 1 before.)
(assert_trap (invoke "strided" (i32.const 1028) (i32.const 0x80000000) (i32.const 3)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 1028)) (i32.const 0))

;; Wrapping in 32 bits with a constant step.
(assert_trap (invoke "wrap" (i32.const 40) (i32.const 5)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 40)) (i32.const 100))

;; Counting down through zero.
(assert_trap (invoke "down" (i32.const 108) (i32.const 30)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 108)) (i32.const 200))
(assert_return (invoke "load" (i32.const 0)) (i32.const 227))
(invoke "down" (i32.const 2000) (i32.const 10))
(assert_return (invoke "load" (i32.const 1964)) (i32.const 209))

;; Dead loads past the end still trap, after the stores before them.
(assert_trap (invoke "dead-loads" (i32.const 65520) (i32.const 5)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 0)) (i32.const 1))

;; Growing inside the loop.
(assert_return (invoke "size") (i32.const 1))
(invoke "grow-in-loop" (i32.const 100))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "load" (i32.const 65932)) (i32.const 99))

;; Nested loops: 131072 bytes of memory now; rows of 1000 bytes from 128000:
;; rows 0..2 fit, row 3 stops at the edge.
(assert_trap (invoke "rows" (i32.const 128000) (i32.const 5) (i32.const 1000)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 128000)) (i32.const 0x01010101))
(assert_return (invoke "load" (i32.const 130996)) (i32.const 0x03030303))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0x04040404))

;; v128 stores: the last whole vector before the edge is written, the
;; straddling one is not.
(assert_trap (invoke "splat-fill" (i32.const 130008) (i32.const 100)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 131048)) (i32.const 365))
(assert_return (invoke "load" (i32.const 131060)) (i32.const 365))
(assert_return (invoke "load" (i32.const 131064)) (i32.const 0x04040404))

;; Found by the random loops of wasabi/tests/bounds_versioning.rs: counting
;; down below zero with a large constant offset. Both ends plus the offset
;; are in bounds (65546 and 64766); the 32-bit address in between wraps to
;; 0xffffffff + 65535 at the fourth iteration and must trap.
(module
  (memory 2)
  (func (export "down-offset") (param $a i32) (param $step i32) (param $n i32) (local $k i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
      (drop (i32.load8_u offset=65535 (i32.add (local.get $a) (i32.const 11))))
      (local.set $a (i32.add (local.get $a) (local.get $step)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l))))
)
(assert_trap (invoke "down-offset" (i32.const 0) (i32.const -4) (i32.const 196)) "out of bounds memory access")
(invoke "down-offset" (i32.const 0) (i32.const -4) (i32.const 3))

;; Loops with inner loops. The outer loop is versioned on its own accesses;
;; those of its inner loops stay volatile and are checked where they happen,
;; so a trap inside an inner loop, with the outer loop's in-bounds copy
;; running, must still come after every earlier store and before every
;; later one. (`wasabi-bounds-versioning` makes an outer loop's accesses
;; plain only when they are all loads, or when its inner loops touch no
;; memory.)
(module
  (memory 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))

  ;; simd_search's shape: 16 bytes at a time from $p, a mask of the bytes
  ;; equal to $c, and an inner loop over its set bits storing i + b + 1 at
  ;; $out, $out + 4, ... Returns how many it stored.
  (func (export "scan") (param $p i32) (param $n i32) (param $c i32) (param $out i32) (result i32)
    (local $i i32) (local $m i32) (local $w i32)
    (block $done
      (loop $l
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
        (local.set $m (i8x16.bitmask
          (i8x16.eq (v128.load (i32.add (local.get $p) (local.get $i)))
                    (i8x16.splat (local.get $c)))))
        (block $bits_done
          (loop $bits
            (br_if $bits_done (i32.eqz (local.get $m)))
            (i32.store (i32.add (local.get $out) (i32.shl (local.get $w) (i32.const 2)))
              (i32.add (i32.add (local.get $i) (i32.ctz (local.get $m))) (i32.const 1)))
            (local.set $w (i32.add (local.get $w) (i32.const 1)))
            (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
            (br $bits)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l)))
    (local.get $w))

  ;; dst[i] = sum over j < i of 100 / (i - d): a loop whose plain stores
  ;; (its inner loop touches no memory) must all be done when the division
  ;; traps at i = d.
  (func (export "divs") (param $dst i32) (param $n i32) (param $d i32)
    (local $i i32) (local $j i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.const 0))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $jl
            (br_if $jdone (i32.ge_u (local.get $j) (local.get $i)))
            (local.set $s (i32.add (local.get $s)
              (i32.div_s (i32.const 100) (i32.sub (local.get $i) (local.get $d)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jl)))
        (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i32.add (local.get $s) (i32.const 1000)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
)

;; Every byte of [0, 64) is zero: 16 hits per block, 64 in all, in bounds.
(assert_return (invoke "scan" (i32.const 0) (i32.const 64) (i32.const 0) (i32.const 1024)) (i32.const 64))
(assert_return (invoke "load" (i32.const 1024)) (i32.const 1))
(assert_return (invoke "load" (i32.const 1276)) (i32.const 64))
;; A trap in the outer loop after 3 blocks of inner iterations: the outer
;; load of block 3 runs off the end, after the 48 stores of blocks 0-2.
(assert_trap (invoke "scan" (i32.const 65488) (i32.const 64) (i32.const 0) (i32.const 2048)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 2048)) (i32.const 1))
(assert_return (invoke "load" (i32.const 2236)) (i32.const 48))
(assert_return (invoke "load" (i32.const 2240)) (i32.const 0))
;; A trap inside the inner loop while the outer loop's in-bounds copy runs:
;; room for 20 results before the end of memory, the 21st store (block 1,
;; bit 4) traps, and the 20 before it are there.
(assert_trap (invoke "scan" (i32.const 0) (i32.const 64) (i32.const 0) (i32.const 65456)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65456)) (i32.const 1))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 20))

;; divs: i = 0, 1, 2 store 1000, 950, 800; i = 3 divides by zero.
(assert_trap (invoke "divs" (i32.const 4096) (i32.const 10) (i32.const 3)) "integer divide by zero")
(assert_return (invoke "load" (i32.const 4096)) (i32.const 1000))
(assert_return (invoke "load" (i32.const 4100)) (i32.const 950))
(assert_return (invoke "load" (i32.const 4104)) (i32.const 800))
(assert_return (invoke "load" (i32.const 4108)) (i32.const 0))
(invoke "divs" (i32.const 4096) (i32.const 3) (i32.const 5))
(assert_return (invoke "load" (i32.const 4100)) (i32.const 975))
(assert_return (invoke "load" (i32.const 4104)) (i32.const 934))
;; The same with the last row past the end: the exact copy runs.
(assert_trap (invoke "divs" (i32.const 65528) (i32.const 3) (i32.const 7)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65528)) (i32.const 1000))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 984))

;; Whole nests (a loop whose only inner loop is innermost): one check bounds
;; every access of both loops over all their iterations, and the in-bounds
;; copy may then run the inner loops of 4 outer iterations at once
;; (unroll-and-jam) before the stores after them. Each case would come out
;; different if a check let a nest through that it should not: a trap lost
;; or late, a store missing, or a store not seen by a later inner loop.
(module
  (memory 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; word i of the page = i + 1
  (func (export "fill") (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16384)))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.add (local.get $i) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  ;; Rows of 16 words at $a: for j < n, out[j] = sum over k < 10 of
  ;; row k word j times row k word 0 (correlation's shape).
  (func (export "nest") (param $a i32) (param $out i32) (param $n i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $q (local.get $a))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (i32.const 10)))
        (local.set $s (i32.add (local.get $s)
          (i32.mul (i32.load (local.get $p)) (i32.load (local.get $q)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
  ;; `nest` with the inner trip a parameter: the inner loop now has a
  ;; guard (m = 0 skips it), which the check must also pass.
  (func (export "nest-m") (param $a i32) (param $out i32) (param $n i32) (param $m i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $q (local.get $a))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (local.get $m)))
        (local.set $s (i32.add (local.get $s)
          (i32.mul (i32.load (local.get $p)) (i32.load (local.get $q)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
  ;; The inner loop reads a global the outer loop then writes: each j's
  ;; sums must see the value the j before it left.
  (global $g (mut i32) (i32.const 0))
  (func (export "nest-global") (param $out i32) (param $n i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (global.set $g (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.shl (local.get $j) (i32.const 2)))
      (local.set $q (i32.const 0))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (i32.const 10)))
        (local.set $s (i32.add (local.get $s)
          (i32.add (i32.mul (i32.load (local.get $p)) (i32.load (local.get $q)))
                   (global.get $g))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (global.set $g (i32.and (local.get $s) (i32.const 255)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
  ;; The same walking the columns down: word -j of each row.
  (func (export "nest-down") (param $a i32) (param $out i32) (param $n i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.sub (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $q (local.get $a))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (i32.const 10)))
        (local.set $s (i32.add (local.get $s)
          (i32.mul (i32.load (local.get $p)) (i32.load (local.get $q)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl)))))

;; In bounds: out[j] = sum over k < 10 of (16k + j + 1) * (16k + 1).
(invoke "fill")
(invoke "nest" (i32.const 0) (i32.const 4096) (i32.const 8))
(assert_return (invoke "load" (i32.const 4096)) (i32.const 74410))
(assert_return (invoke "load" (i32.const 4100)) (i32.const 75140))
(assert_return (invoke "load" (i32.const 4124)) (i32.const 79520))
;; The last row ends at the page's end for j = 15: j = 16's inner loop
;; traps at k = 9, after the 16 stores before it, and stores nothing.
(invoke "fill")
(assert_trap (invoke "nest" (i32.const 64896) (i32.const 4096) (i32.const 20)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 4156)) (i32.const -1636579536))
(assert_return (invoke "load" (i32.const 4160)) (i32.const 1041))
;; The stores write row 0 from word 1 on, which the next j's inner loop
;; reads: each result must see the one before it.
(invoke "fill")
(invoke "nest" (i32.const 0) (i32.const 4) (i32.const 8))
(assert_return (invoke "load" (i32.const 8)) (i32.const 149548))
(assert_return (invoke "load" (i32.const 16)) (i32.const 302011))
(assert_return (invoke "load" (i32.const 32)) (i32.const 615685))
;; Columns 8, 4, 0, then 0xfffffffc: j = 3 traps at its first load, after
;; three stores.
(invoke "fill")
(assert_trap (invoke "nest-down" (i32.const 8) (i32.const 4096) (i32.const 6)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 4096)) (i32.const 77370))
(assert_return (invoke "load" (i32.const 4104)) (i32.const 75870))
(assert_return (invoke "load" (i32.const 4108)) (i32.const 1028))
;; out[j] = sum over k < 10 of (16k + j + 1) * (16k + 1) + g,
;; g = out[j - 1] & 255.
(invoke "fill")
(invoke "nest-global" (i32.const 4096) (i32.const 6))
(assert_return (invoke "load" (i32.const 4096)) (i32.const 74410))
(assert_return (invoke "load" (i32.const 4100)) (i32.const 76840))
(assert_return (invoke "load" (i32.const 4104)) (i32.const 76270))
(assert_return (invoke "load" (i32.const 4116)) (i32.const 78640))
;; nest-m: as nest for m = 10; for m = 0 every inner loop is skipped and
;; every out[j] is 0; the trap as nest's at j = 16, k = 9.
(invoke "fill")
(invoke "nest-m" (i32.const 0) (i32.const 4096) (i32.const 8) (i32.const 10))
(assert_return (invoke "load" (i32.const 4096)) (i32.const 74410))
(assert_return (invoke "load" (i32.const 4124)) (i32.const 79520))
(invoke "nest-m" (i32.const 0) (i32.const 4096) (i32.const 8) (i32.const 0))
(assert_return (invoke "load" (i32.const 4096)) (i32.const 0))
(assert_return (invoke "load" (i32.const 4124)) (i32.const 0))
(assert_return (invoke "load" (i32.const 4128)) (i32.const 1033))
(invoke "fill")
(assert_trap (invoke "nest-m" (i32.const 64896) (i32.const 4096) (i32.const 20) (i32.const 10)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 4156)) (i32.const -1636579536))
(assert_return (invoke "load" (i32.const 4160)) (i32.const 1041))

;; Accumulators in memory (syrk's `C[i][j] += a[k] * A[j][k]`, k outer, in
;; the form clang gives it: the inner loop unrolled by 2 behind a guard,
;; then one remainder iteration at the j it reached). The nest is checked
;; as a whole, and unroll-and-jam then runs four k's inner loops together,
;; one load and store of c[j] for four updates, before the four remainder
;; iterations: a trap must still come at the first access out of bounds
;; with exactly the stores before it, and stores that later k's read (c
;; over a and b) must be seen.
(module
  (memory 1)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  ;; word i of the page = i + 1
  (func (export "fill") (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16384)))
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.add (local.get $i) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  ;; for k < n: x = a[k]; for j < m: c[j] += x * b[j][k], rows of 16 words
  (func (export "acc") (param $a i32) (param $b i32) (param $c i32) (param $n i32) (param $m i32)
    (local $k i32) (local $j i32) (local $x i32) (local $m2 i32) (local $p i32) (local $q i32)
    (local.set $m2 (i32.and (local.get $m) (i32.const -2)))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_u (local.get $k) (local.get $n)))
      (local.set $x (i32.load (i32.add (local.get $a) (i32.shl (local.get $k) (i32.const 2)))))
      (local.set $j (i32.const 0))
      (block $skip
        (br_if $skip (i32.eqz (local.get $m2)))
        (loop $jl
          (local.set $p (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $q (i32.add (local.get $b)
            (i32.add (i32.shl (local.get $j) (i32.const 6)) (i32.shl (local.get $k) (i32.const 2)))))
          (i32.store (local.get $p)
            (i32.add (i32.load (local.get $p)) (i32.mul (local.get $x) (i32.load (local.get $q)))))
          (i32.store offset=4 (local.get $p)
            (i32.add (i32.load offset=4 (local.get $p))
                     (i32.mul (local.get $x) (i32.load offset=64 (local.get $q)))))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br_if $jl (i32.ne (local.get $j) (local.get $m2)))))
      (if (i32.and (local.get $m) (i32.const 1))
        (then
          (local.set $p (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
          (i32.store (local.get $p)
            (i32.add (i32.load (local.get $p))
                     (i32.mul (local.get $x)
                              (i32.load (i32.add (local.get $b)
                                (i32.add (i32.shl (local.get $j) (i32.const 6))
                                         (i32.shl (local.get $k) (i32.const 2))))))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl)))))

;; In bounds, m odd (the remainder runs): c[j] = 2049 + j + sum over k < 12
;; of (k + 1) * (16j + k + 1); c[9] untouched.
(invoke "fill")
(invoke "acc" (i32.const 0) (i32.const 0) (i32.const 8192) (i32.const 12) (i32.const 9))
(assert_return (invoke "load" (i32.const 8192)) (i32.const 2699))
(assert_return (invoke "load" (i32.const 8196)) (i32.const 3948))
(assert_return (invoke "load" (i32.const 8220)) (i32.const 11442))
(assert_return (invoke "load" (i32.const 8224)) (i32.const 12691))
(assert_return (invoke "load" (i32.const 8228)) (i32.const 2058))
;; m = 0: nothing stored.
(invoke "acc" (i32.const 0) (i32.const 0) (i32.const 8192) (i32.const 12) (i32.const 0))
(assert_return (invoke "load" (i32.const 8192)) (i32.const 2699))
;; The remainder's c[8] is the first word past the page: k = 0's remainder
;; traps after k = 0's inner loop, so c[0..7] hold one update each.
(invoke "fill")
(assert_trap (invoke "acc" (i32.const 0) (i32.const 0) (i32.const 65504) (i32.const 6) (i32.const 9)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 65504)) (i32.const 16378))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 16497))
;; Row 5 of b starts at the page's end: k = 0's inner loop traps at j = 5,
;; after c[0..4] got one update each.
(invoke "fill")
(assert_trap (invoke "acc" (i32.const 0) (i32.const 65216) (i32.const 8192) (i32.const 6) (i32.const 8)) "out of bounds memory access")
(assert_return (invoke "load" (i32.const 8192)) (i32.const 18354))
(assert_return (invoke "load" (i32.const 8208)) (i32.const 18422))
(assert_return (invoke "load" (i32.const 8212)) (i32.const 2054))
;; c over a and b: each k's x and row values are what earlier k's stored.
(invoke "fill")
(invoke "acc" (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 12) (i32.const 9))
(assert_return (invoke "load" (i32.const 4)) (i32.const -1062667627))
(assert_return (invoke "load" (i32.const 8)) (i32.const -2115025063))
(assert_return (invoke "load" (i32.const 36)) (i32.const -1115087472))
(assert_return (invoke "load" (i32.const 40)) (i32.const 11))
