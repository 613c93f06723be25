//! The bounds-versioning pass fires where it should and nowhere else, and
//! unroll-and-jam on the two nests here that have one of its shapes.
//!
//! Its correctness (traps exactly where the spec says, in every copy) is
//! tested by `tests/hostile/trap-exact-loops.wast`; this checks that it is
//! not silently off, which no run-time result would show. One test in this
//! binary, so the process-wide counter sees only its compilations.

use wasabi_compiler::{jammed_nests, versioned_loops, CompilerConfig, LlvmCompiler, OptLevel};
use wasabi_runtime::module::ModuleInfo;

const MODULE: &str = r#"
(module
  (memory 2)
  (global $g (mut i32) (i32.const 0))
  ;; Versioned: a strided sum.
  (func (export "sum") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s))
  ;; Versioned: a fill with a stride from a parameter.
  (func (export "fill") (param $p i32) (param $step i32) (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (i64.store offset=16 (local.get $p) (i64.const 7))
      (local.set $p (i32.add (local.get $p) (local.get $step)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))
  ;; Versioned: clang's form of a stencil over static arrays, a counter
  ;; that runs up to zero through the i32 wrap with every address the
  ;; counter plus a constant. After `default<O3>`'s InstCombine its exit test
  ;; is a masked 64-bit compare with no computable trip count, so the
  ;; optimising levels must version it before that.
  (func (export "to-zero") (local $i i32) (local $x f64)
    (local.set $i (i32.const -32000))
    (loop $l
      (f64.store offset=8 (i32.add (local.get $i) (i32.const 40000))
        (f64.add (local.get $x)
          (local.tee $x (f64.load (i32.add (local.get $i) (i32.const 80000))))))
      (br_if $l (local.tee $i (i32.add (local.get $i) (i32.const 8))))))
  ;; Versioned with a run-time test of the trip count: stepping by 16 to an
  ;; `==` exit from a start that is only known to be a multiple of 8, the
  ;; loop ends only if 16 divides the distance (clang's 2x-unrolled inner
  ;; loops, k_lu's among them).
  (func (export "eq-exit") (param $j i32) (param $row i32)
    ;; the start: a remainder iteration done or not (a phi)
    (if (i32.and (local.get $j) (i32.const 1))
      (then (local.set $j (i32.add (local.get $j) (i32.const 1)))))
    (local.set $j (i32.shl (local.get $j) (i32.const 3)))
    (loop $l
      (f64.store (i32.add (local.get $j) (local.get $row))
        (f64.load (i32.add (local.get $j) (i32.const 1024))))
      (f64.store offset=8 (i32.add (local.get $j) (local.get $row))
        (f64.load offset=8 (i32.add (local.get $j) (i32.const 1024))))
      (br_if $l (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 16)))
                        (i32.const 11200)))))
  ;; Versioned: an outer loop that only loads (simd_search's shape), with
  ;; an inner loop over the set bits of a mask whose stores stay checked.
  (func (export "scan") (param $p i32) (param $n i32) (param $out i32) (result i32)
    (local $i i32) (local $m i32) (local $w i32)
    (block $done (loop $l
      (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $n)))
      (local.set $m (i8x16.bitmask (i8x16.eq
        (v128.load (i32.add (local.get $p) (local.get $i))) (v128.const i64x2 0 0))))
      (block $bdone (loop $bits
        (br_if $bdone (i32.eqz (local.get $m)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $w) (i32.const 2)))
          (i32.add (local.get $i) (i32.ctz (local.get $m))))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
        (br $bits)))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (local.get $w))
  ;; Versioned: an outer loop that stores, whose inner loop touches no
  ;; memory.
  (func (export "row-sums") (param $dst i32) (param $n i32) (local $i i32) (local $j i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $i)))
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $j) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  ;; Versioned as a whole nest, and jammed: each j sums row k's word j
  ;; times its word 0 over 1,000 rows (correlation's shape; the inner trip
  ;; is too long for -O3 to unroll the inner loop away first).
  (func (export "nest") (param $a i32) (param $out i32) (param $n i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $q (local.get $a))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) (i32.const 1000)))
        (local.set $s (i32.add (local.get $s)
          (i32.mul (i32.load (local.get $p)) (i32.load (local.get $q)))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (local.set $q (i32.add (local.get $q) (i32.const 64)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
  ;; Versioned as a whole nest, and jammed: accumulators in memory, c[j] +=
  ;; a[k] * b[j][k] with k outer (syrk's shape), the inner loop unrolled by
  ;; 2 behind a guard with a remainder iteration after it (clang's form).
  (func (export "acc") (param $c i32) (param $n i32) (param $m i32)
    (local $k i32) (local $j i32) (local $x i32) (local $m2 i32) (local $p i32)
    (local.set $m2 (i32.and (local.get $m) (i32.const -2)))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_u (local.get $k) (local.get $n)))
      (local.set $x (i32.load (i32.shl (local.get $k) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $skip
        (br_if $skip (i32.eqz (local.get $m2)))
        (loop $jl
          (local.set $p (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
          (i32.store (local.get $p) (i32.add (i32.load (local.get $p))
            (i32.mul (local.get $x) (i32.load offset=4096 (i32.add (i32.shl (local.get $j) (i32.const 12))
                                                                  (i32.shl (local.get $k) (i32.const 2)))))))
          (i32.store offset=4 (local.get $p) (i32.add (i32.load offset=4 (local.get $p))
            (i32.mul (local.get $x) (i32.load offset=8192 (i32.add (i32.shl (local.get $j) (i32.const 12))
                                                                  (i32.shl (local.get $k) (i32.const 2)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br_if $jl (i32.ne (local.get $j) (local.get $m2)))))
      (if (i32.and (local.get $m) (i32.const 1))
        (then
          (local.set $p (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
          (i32.store (local.get $p) (i32.add (i32.load (local.get $p))
            (i32.mul (local.get $x) (i32.load offset=4096 (i32.add (i32.shl (local.get $j) (i32.const 12))
                                                                  (i32.shl (local.get $k) (i32.const 2)))))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl))))
  ;; Not versioned (neither loop): the outer loop stores and its inner loop
  ;; reads memory at addresses loaded from memory; a trap there must not
  ;; lose an outer store LLVM moved.
  (func (export "store-around-gather") (param $dst i32) (param $n i32) (local $i i32) (local $j i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) (i32.const 4)))
        (local.set $s (i32.add (local.get $s) (i32.load (i32.load (local.get $s)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  ;; Not versioned: an address loaded from memory cannot be bounded.
  (func (export "gather") (param $p i32) (param $n i32) (result i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (i32.load (i32.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s))
  ;; Not versioned: a global is written in the loop (a volatile access the
  ;; pass does not own).
  (func (export "with-global") (param $p i32) (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (global.set $g (i32.load (local.get $p)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))
)
"#;

/// Loops versioned and nests jammed compiling `MODULE` at `level`.
fn versioned_at(level: OptLevel) -> (u64, u64) {
    let wasm = wat::parse_str(MODULE).unwrap();
    let info = ModuleInfo::parse_validated(&wasm).unwrap();
    let compiler = LlvmCompiler::new(CompilerConfig {
        opt_level: level,
        ..Default::default()
    });
    let before = (versioned_loops(), jammed_nests());
    compiler.compile_all(&info, &wasm).unwrap();
    (versioned_loops() - before.0, jammed_nests() - before.1)
}

#[test]
fn versions_exactly_the_loops_it_can_bound() {
    assert_eq!(
        versioned_at(OptLevel::O0),
        (0, 0),
        "the baseline tier has no optimiser"
    );
    assert_eq!(versioned_at(OptLevel::O1), (8, 2), "the JIT pipeline");
    assert_eq!(versioned_at(OptLevel::O2), (8, 2), "the -O2 pipeline");
    assert_eq!(
        versioned_at(OptLevel::O3),
        (8, 2),
        "the -O3 pipeline, as AOT uses it"
    );
}
