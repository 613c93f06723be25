//! The bounds-versioning pass against the unoptimised compiler, on random
//! loops built to sit on its edges.
//!
//! `-O0` does not run the pass (every access stays volatile, the reference
//! semantics); `-O1` and `-O3` do. Each case is a loop walking an address
//! `a, a + step, a + 2*step, ...` for `n` iterations with a mix of loads and
//! stores of every width, started near the ends of memory and of the 32-bit
//! address space, with steps that wrap, go down, or stride by 2^30, and
//! either a top-tested counter or one running up to zero at the bottom. The
//! result, the trap (if any) and every byte of memory afterwards must be the
//! same at every level: a wrong check would run the plain copy on a trip
//! that traps, and lose the trap's exactness.
//!
//! `WASABI_LOOP_CASES=N` (default 150) and `WASABI_LOOP_SEED` run more or
//! other cases, for a longer hunt than CI's.

use wasabi::{Config, Engine, Error, Instance, Module, OptLevel, Store, Val};

/// xorshift64*: deterministic cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

struct Case {
    wat: String,
    args: [i32; 3],
}

/// A random loop; with `nest`, its body also runs an inner loop (see
/// `inner_loop`).
fn case(rng: &mut Rng, nest: bool) -> Case {
    let pages: u32 = rng.pick(&[1, 2]);
    let end = pages * 65536;
    let start: u32 = match rng.next() % 5 {
        0 => (rng.next() % 64) as u32,
        1 => end - (rng.next() % 96) as u32,
        2 => 0u32.wrapping_sub((rng.next() % 64) as u32),
        3 => (rng.next() % end as u64) as u32,
        _ => end / 2,
    };
    let step: i32 = rng.pick(&[1, 2, 4, 8, 16, -1, -4, -8, 0, 0x4000_0000, i32::MIN, 3, 100]);
    let n = (rng.next() % 200) as i32;
    // The step is a parameter (an invariant stride) or a constant.
    let step_expr = if rng.next().is_multiple_of(2) {
        "(local.get $step)".to_string()
    } else {
        format!("(i32.const {step})")
    };
    let mut body = String::new();
    for _ in 0..1 + rng.next() % 3 {
        let off = rng.pick(&[0u32, 1, 3, 8, 100, 65535]);
        let addr = if rng.next().is_multiple_of(3) {
            format!("(i32.add (local.get $a) (i32.const {}))", rng.next() % 40)
        } else {
            "(local.get $a)".to_string()
        };
        body += &match rng.next() % 9 {
            0 => format!("(i32.store offset={off} {addr} (local.get $k))"),
            1 => format!("(i64.store offset={off} {addr} (i64.extend_i32_u (local.get $k)))"),
            2 => format!("(i32.store8 offset={off} {addr} (local.get $k))"),
            3 => format!("(i32.store16 offset={off} {addr} (local.get $k))"),
            4 => format!("(v128.store offset={off} {addr} (i32x4.splat (local.get $k)))"),
            5 => format!(
                "(local.set $s (i32.add (local.get $s) (i32.load offset={off} {addr})))"
            ),
            6 => format!(
                "(local.set $s (i32.add (local.get $s) (i32.wrap_i64 (i64.load offset={off} {addr}))))"
            ),
            7 => format!("(drop (i32.load8_u offset={off} {addr}))"),
            _ => format!(
                "(local.set $s (i32.add (local.get $s) (i32x4.extract_lane 1 (v128.load offset={off} {addr}))))"
            ),
        };
    }
    if nest {
        body += &inner_loop(rng);
    }
    // Two loop shapes: a counter tested at the top against `n`, or (clang's
    // usual output) a bottom-tested counter running from -n up to zero
    // through the i32 wrap, whose exit test the pass rewrites in the
    // in-bounds copy.
    let (n, looped) = if rng.next().is_multiple_of(3) {
        (
            n.max(1),
            format!(
                r#"(local.set $k (i32.sub (i32.const 0) (local.get $n)))
    (loop $l
      {body}
      (local.set $a (i32.add (local.get $a) {step_expr}))
      (br_if $l (local.tee $k (i32.add (local.get $k) (i32.const 1)))))"#
            ),
        )
    } else {
        (
            n,
            format!(
                r#"(block $done (loop $l
      (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
      {body}
      (local.set $a (i32.add (local.get $a) {step_expr}))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l)))"#
            ),
        )
    };
    let wat = format!(
        r#"(module
  (memory (export "mem") {pages})
  (func (export "run") (param $a i32) (param $step i32) (param $n i32) (result i32)
    (local $k i32) (local $s i32) (local $j i32)
    {looped}
    (local.get $s)))"#
    );
    Case {
        wat,
        args: [start as i32, step, n],
    }
}

/// An inner loop for the body of a random loop, of 0 to 3 iterations (a
/// constant, or data the loop computed): touching no memory, or loading or
/// storing at addresses affine in its own counter from the outer loop's
/// address (which run off the end of memory where the outer loop's own
/// accesses may not), or at addresses hashed from the data, or dividing by
/// a value that reaches zero. The outer loop is versioned on its own
/// accesses, and a trap in here, with its in-bounds copy running, must come
/// exactly where it does without the pass.
fn inner_loop(rng: &mut Rng) -> String {
    let trips = match rng.next() % 3 {
        0 => format!("(i32.const {})", rng.next() % 4),
        1 => "(i32.and (local.get $k) (i32.const 3))".to_string(),
        _ => "(i32.and (local.get $s) (i32.const 3))".to_string(),
    };
    let off = rng.pick(&[0u32, 7, 64, 4096, 65535]);
    let stride = rng.pick(&[1, 4, 16, 1000, 30000]);
    let at = format!("(i32.add (local.get $a) (i32.mul (local.get $j) (i32.const {stride})))");
    let inner = match rng.next() % 6 {
        0 => "(local.set $s (i32.add (i32.mul (local.get $s) (i32.const 3)) (local.get $j)))"
            .to_string(),
        1 => format!("(local.set $s (i32.add (local.get $s) (i32.load8_u offset={off} {at})))"),
        2 => format!("(i32.store16 offset={off} {at} (local.get $s))"),
        3 => concat!(
            "(local.set $s (i32.add (local.get $s) (i32.load (i32.and ",
            "(i32.mul (i32.add (local.get $s) (local.get $j)) (i32.const -1640531535)) ",
            "(i32.const 0x1fffc)))))"
        )
        .to_string(),
        4 => format!(
            "(i32.store8 (i32.add (local.get $a) (i32.and (local.get $s) (i32.const {}))) (local.get $j))",
            rng.pick(&[0xff, 0xffff, 0x1ffff])
        ),
        _ => format!(
            "(local.set $s (i32.add (local.get $s) (i32.div_u (i32.const 1000) (i32.sub (i32.const {}) (i32.add (local.get $k) (local.get $j))))))",
            rng.next() % 100
        ),
    };
    format!(
        r#"
      (local.set $j (i32.const 0))
      (block $jdone (loop $jl
        (br_if $jdone (i32.ge_u (local.get $j) {trips}))
        {inner}
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))"#
    )
}

/// The call's outcome and a hash of memory afterwards.
fn outcome(level: OptLevel, c: &Case) -> (String, u64) {
    // No code cache: every case must really be compiled (and counted).
    let engine = Engine::new(Config::new().opt_level(level).cache(false));
    let module = Module::new(&engine, &c.wat).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let run = inst.get_func(&mut store, "run").unwrap();
    let args: Vec<Val> = c.args.iter().map(|&v| Val::I32(v)).collect();
    let result = match run.call_vec(&mut store, &args) {
        Ok(v) => format!("{v:?}"),
        Err(Error::Trap(t)) => format!("trap {:?}", t.code),
        Err(e) => panic!("{e}"),
    };
    let mem = inst.get_memory(&mut store, "mem").unwrap();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in mem.data(&store) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    (result, h)
}

/// `WASABI_LOOP_CASES` random cases (default 150) from seed
/// `WASABI_LOOP_SEED` (else `seed`), loops alone or nests: each must give
/// the same result and memory at -O1 and -O3 as unoptimised code. Returns
/// how many cases there were and how many trapped.
fn check_random_cases(seed: u64, nests: bool) -> (usize, usize) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cases = env("WASABI_LOOP_CASES", 150) as usize;
    let mut rng = Rng(env("WASABI_LOOP_SEED", seed) | 1);
    let what = if nests { "nest case" } else { "case" };
    let mut traps = 0;
    for i in 0..cases {
        let c = case(&mut rng, nests);
        let reference = outcome(OptLevel::O0, &c);
        traps += usize::from(reference.0.starts_with("trap"));
        for level in [OptLevel::O1, OptLevel::O3] {
            assert_eq!(
                outcome(level, &c),
                reference,
                "{what} {i} at {level:?}, args {:?}:\n{}",
                c.args,
                c.wat
            );
        }
    }
    // The cases are meant to straddle the edges: both outcomes are common.
    assert!(
        (cases * 2 / 15..cases * 13 / 15).contains(&traps),
        "{traps} of {cases} {what}s trapped"
    );
    (cases, traps)
}

#[test]
fn random_loops_behave_the_same_with_and_without_the_pass() {
    let versioned_before = wasabi::internals::compiler::versioned_loops();
    let (cases, _) = check_random_cases(0x9e37_79b9_7f4a_7c15, false);
    // And the pass really ran on them (two optimised compilations per case;
    // the counter is process-wide, and the other tests here only add to it).
    let versioned = wasabi::internals::compiler::versioned_loops() - versioned_before;
    assert!(
        versioned as usize >= cases * 5 / 3,
        "only {versioned} loops versioned in {cases} cases"
    );
}

/// Random loops with an inner loop (`inner_loop`): the pass versions the
/// outer loop on its own accesses when the inner loop touches no memory,
/// or when the outer loop only loads, and leaves the inner loop's accesses
/// checked where they happen. Traps inside the inner loop, and in the outer
/// loop after some inner iterations, must leave the same result and memory
/// as unoptimised code.
#[test]
fn random_nests_behave_the_same_with_and_without_the_pass() {
    check_random_cases(0x2545_f491_4f6c_dd1d, true);
}

/// A loop whose trip count ScalarEvolution knows only under a predicate
/// (a 32-bit counter stepping by 16 to an `==` exit does not wrap first),
/// which the pass checks at run time: started off the grid, the counter
/// runs past the exit value up to the end of memory and must trap there
/// with every earlier store done, exactly as without the pass.
#[test]
fn predicated_trip_counts_are_checked() {
    let wat = r#"(module
  (memory (export "mem") 1)
  (func (export "run") (param $j i32) (param $step i32) (param $n i32) (result i32)
    (loop $l
      (i64.store (local.get $j) (i64.extend_i32_u (local.get $j)))
      (i64.store offset=8 (local.get $j) (i64.const 7))
      (br_if $l (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 16)))
                        (i32.const 4096))))
    (local.get $j)))"#;
    for start in [0, 8, 4080, 4088, 4096 - 32, 60000] {
        let c = Case {
            wat: wat.to_string(),
            args: [start, 0, 0],
        };
        let reference = outcome(OptLevel::O0, &c);
        assert_eq!(
            reference.0.starts_with("trap"),
            start % 16 != 0 || start > 4096,
            "start {start}: {reference:?}"
        );
        for level in [OptLevel::O1, OptLevel::O3] {
            assert_eq!(outcome(level, &c), reference, "start {start} at {level:?}");
        }
    }
}

/// Loops over two rows whose distance only the run-time test knows (like
/// rows i and k in LU), unrolled by two as a wasm compiler leaves them: the
/// in-bounds copy that marks the rows as not aliasing must only run when
/// they really are apart. Overlapping rows, in either direction and at
/// every small distance, must give what unoptimised code gives.
#[test]
fn rows_at_unknown_distances_keep_their_order() {
    let wat = r#"(module
  (memory (export "mem") 1)
  (func $init
    (local $i i32)
    (loop $l
      (i32.store (local.get $i) (i32.mul (local.get $i) (i32.const 2654435761)))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 4)))
                        (i32.const 65536)))))
  (start $init)
  ;; dst[j] -= 3 * src[j], j = 0..n, two elements per iteration
  (func (export "run") (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (local $j i32)
    (loop $l
      (i32.store (i32.add (local.get $dst) (local.get $j))
        (i32.sub (i32.load (i32.add (local.get $dst) (local.get $j)))
                 (i32.mul (i32.load (i32.add (local.get $src) (local.get $j))) (i32.const 3))))
      (i32.store offset=4 (i32.add (local.get $dst) (local.get $j))
        (i32.sub (i32.load offset=4 (i32.add (local.get $dst) (local.get $j)))
                 (i32.mul (i32.load offset=4 (i32.add (local.get $src) (local.get $j))) (i32.const 3))))
      (br_if $l (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 8)))
                        (local.get $n))))
    (local.get $j)))"#;
    for dist in [-64, -12, -8, -4, 0, 4, 8, 12, 64, 4096] {
        let src = 8192;
        let c = Case {
            wat: wat.to_string(),
            args: [src + dist, src, 800],
        };
        let reference = outcome(OptLevel::O0, &c);
        for level in [OptLevel::O1, OptLevel::O3] {
            assert_eq!(
                outcome(level, &c),
                reference,
                "distance {dist} at {level:?}"
            );
        }
    }
}
