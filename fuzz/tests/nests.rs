//! Random two-loop nests of the shape the bounds-versioning pass versions
//! as a whole and unroll-and-jam then runs four outer iterations at a time
//! (`compiler/llvm/bounds_versioning.cpp`), run by wasabi and by the wasmi
//! interpreter and compared: results, traps and the final memory.
//!
//! wasm-smith almost never writes such a nest (affine addresses in both
//! loops, a constant inner trip, a load shared across outer iterations),
//! so the differential fuzzer cannot be counted on to reach that code.
//! Here strides, trip counts and addresses are drawn so that many nests
//! run off either end of memory, wrap through 2^32, or store where a later
//! inner loop reads: a check that let such a nest into its in-bounds copy,
//! or a jam that reordered a store and a load that meet, gives a different
//! trap, result or memory.

use wasabi_fuzz::exec::{oracle_engine, run_oracle, run_wasabi, Mode, Verdict, Wasabi};

/// A small deterministic generator (SplitMix64), so a failing case is
/// reproduced by its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// An address: mostly near one end of the 64 KiB memory or the other,
    /// sometimes anywhere in it, sometimes just below 2^32.
    fn address(&mut self) -> u32 {
        match self.below(8) {
            0..=2 => self.below(1024) as u32,
            3..=5 => 65536 - self.below(2048) as u32,
            6 => self.below(65536) as u32,
            _ => 0u32.wrapping_sub(self.below(512) as u32 + 1),
        }
    }
}

/// Both shapes' memory, and `$fill`, which fills it with a pattern.
const FILL: &str = r#"  (memory (export "mem") 1 1)
  (func $fill (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 16384)))
      (i32.store (i32.shl (local.get $i) (i32.const 2))
        (i32.add (i32.mul (local.get $i) (i32.const -1640531535)) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
"#;

/// The inner trip in the nest's text: the parameter `$m`, or the constant.
fn trip(param: bool, m: u64) -> String {
    if param {
        "(local.get $m)".to_string()
    } else {
        format!("(i32.const {m})")
    }
}

/// The text of case `seed`: a memory filled with a pattern, then one nest
/// `for j < n { s = 0; for k < m { s += p[k] * q[k] }; out[j] = s }` where
/// p moves with j and q may not (the shared load), and m is a constant or
/// a parameter.
fn nest_module(seed: u64) -> String {
    let mut r = Rng(seed);
    let inner = |r: &mut Rng| r.pick(&[4i32, 8, 16, 64, 400, -4, -64, 6400]);
    let dk = inner(&mut r);
    let dq = inner(&mut r);
    let dj = r.pick(&[4i32, 8, -4, -8, 64, 0]);
    let dq_j = r.pick(&[0i32, 0, 0, 4]);
    let d_out = r.pick(&[4i32, 8, -4, 64]);
    let m = 1 + r.below(40);
    // The inner trip: a constant, or a parameter (zero included), which
    // puts a guard around the inner loop that the check must also pass.
    let m_param = r.below(2) == 0;
    let m_arg = if m_param { r.below(41) } else { m };
    let n = r.below(30);
    let (a, b, out) = (r.address(), r.address(), r.address());
    let (off_p, off_q) = (r.pick(&[0u32, 0, 4, 60]), r.pick(&[0u32, 0, 8]));
    let second_store = r.below(3) == 0;
    let out2 = r.address();
    format!(
        r#"(module
{FILL}  (func $nest (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $m i32)
    (local $j i32) (local $k i32) (local $s i32) (local $p i32) (local $q i32)
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $s (i32.const 0))
      (local.set $k (i32.const 0))
      (local.set $p (i32.add (local.get $a) (i32.mul (local.get $j) (i32.const {dj}))))
      (local.set $q (i32.add (local.get $b) (i32.mul (local.get $j) (i32.const {dq_j}))))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $k) {m_bound}))
        (local.set $s (i32.add (local.get $s)
          (i32.mul (i32.load offset={off_p} (local.get $p))
                   (i32.load offset={off_q} (local.get $q)))))
        (local.set $p (i32.add (local.get $p) (i32.const {dk})))
        (local.set $q (i32.add (local.get $q) (i32.const {dq})))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (i32.store (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const {d_out})))
        (local.get $s))
      {second}
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))
  (func (export "run")
    (call $fill)
    (call $nest (i32.const {a}) (i32.const {b}) (i32.const {out}) (i32.const {n})
      (i32.const {m_arg}))))
"#,
        m_bound = trip(m_param, m),
        a = a as i32,
        b = b as i32,
        out = out as i32,
        second = if second_store {
            format!(
                "(i32.store (i32.add (i32.const {}) (i32.shl (local.get $j) (i32.const 6))) (i32.xor (local.get $s) (local.get $j)))",
                out2 as i32
            )
        } else {
            String::new()
        },
    )
}

/// The text of case `seed` of the accumulator shape (syrk's, as clang
/// writes it): `for k < n { x = a[k]; for j < m { c[j] += x * b[j][k] } }`
/// with the inner loop unrolled by 2 behind a guard and a remainder
/// iteration after it, strides drawn for every array, and sometimes a read
/// of c at another offset in the inner loop (a dependence between inner
/// iterations that running four k's at once would break).
fn accumulator_module(seed: u64) -> String {
    let mut r = Rng(seed);
    let dc = r.pick(&[4i32, 4, 8, -4, 12]);
    let db = r.pick(&[64i32, 4, -64, 400]);
    let dbk = r.pick(&[4i32, 0, -4, 64]);
    let da = r.pick(&[4i32, 0, -4]);
    let cross = match r.below(4) {
        0 => format!(
            "(i32.load (i32.add (local.get $p) (i32.const {})))",
            r.pick(&[dc, -dc, 2 * dc, 4])
        ),
        _ => "(i32.const 0)".to_string(),
    };
    let m = r.below(20);
    let m_param = r.below(2) == 0;
    let m_arg = if m_param { r.below(21) } else { m };
    let n = r.below(30);
    let (a, b, c) = (r.address(), r.address(), r.address());
    format!(
        r#"(module
{FILL}  (func $nest (param $a i32) (param $b i32) (param $c i32) (param $n i32) (param $m i32)
    (local $k i32) (local $j i32) (local $x i32) (local $m2 i32) (local $p i32) (local $q i32)
    (local.set $m2 (i32.and {m_bound} (i32.const -2)))
    (block $kd (loop $kl
      (br_if $kd (i32.ge_u (local.get $k) (local.get $n)))
      (local.set $x (i32.load (i32.add (local.get $a) (i32.mul (local.get $k) (i32.const {da})))))
      (local.set $j (i32.const 0))
      (block $skip
        (br_if $skip (i32.eqz (local.get $m2)))
        (loop $jl
          (local.set $p (i32.add (local.get $c) (i32.mul (local.get $j) (i32.const {dc}))))
          (local.set $q (i32.add (local.get $b)
            (i32.add (i32.mul (local.get $j) (i32.const {db})) (i32.mul (local.get $k) (i32.const {dbk})))))
          (i32.store (local.get $p)
            (i32.add (i32.add (i32.load (local.get $p)) {cross})
                     (i32.mul (local.get $x) (i32.load (local.get $q)))))
          (local.set $p (i32.add (local.get $p) (i32.const {dc})))
          (local.set $q (i32.add (local.get $q) (i32.const {db})))
          (i32.store (local.get $p)
            (i32.add (i32.load (local.get $p)) (i32.mul (local.get $x) (i32.load (local.get $q)))))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br_if $jl (i32.ne (local.get $j) (local.get $m2)))))
      (if (i32.and {m_bound} (i32.const 1))
        (then
          (local.set $p (i32.add (local.get $c) (i32.mul (local.get $j) (i32.const {dc}))))
          (i32.store (local.get $p)
            (i32.add (i32.load (local.get $p))
                     (i32.mul (local.get $x)
                              (i32.load (i32.add (local.get $b)
                                (i32.add (i32.mul (local.get $j) (i32.const {db}))
                                         (i32.mul (local.get $k) (i32.const {dbk}))))))))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kl))))
  (func (export "run")
    (call $fill)
    (call $nest (i32.const {a}) (i32.const {b}) (i32.const {c}) (i32.const {n})
      (i32.const {m_arg}))))
"#,
        m_bound = trip(m_param, m),
        a = a as i32,
        b = b as i32,
        c = c as i32,
    )
}

#[test]
fn random_nests_compute_trap_and_store_as_the_interpreter_does() {
    in_a_big_thread(|| compare_random_nests(nest_module));
}

#[test]
fn random_accumulator_nests_compute_trap_and_store_as_the_interpreter_does() {
    in_a_big_thread(|| compare_random_nests(accumulator_module));
}

/// Runs `f` on a thread with room: a debug build of the compiler and of
/// the interpreter needs more native stack than a test thread's 2 MiB.
fn in_a_big_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn compare_random_nests(module: fn(u64) -> String) {
    let modes = ["regular-O1", "regular-O3", "lazy-O1"]
        .map(|m| Wasabi::new(Mode::parse(m).expect("a known mode")));
    let oracle = oracle_engine();
    let mut traps = 0;
    for case in 0..200u64 {
        let text = module(case);
        let wasm = wat::parse_str(&text).expect("the template is valid wat");
        let run = match run_oracle(&oracle, &wasm, case, 10_000_000) {
            Ok(run) => run,
            Err(e) => panic!("case {case}: the interpreter refused it ({e:?})\n{text}"),
        };
        assert!(
            run.stop.is_none(),
            "case {case}: the interpreter stopped early"
        );
        traps += run
            .calls
            .iter()
            .filter(|c| c.outcome.tag().starts_with("trap"))
            .count();
        for w in &modes {
            match run_wasabi(w, &wasm, &run, &mut |_| {}) {
                Verdict::Same => {}
                Verdict::Skip(why) => panic!("case {case}: skipped ({why})"),
                Verdict::Differ(m) => panic!("case {case}: {m}\n{text}"),
            }
        }
    }
    // The draw must reach both sides of the check.
    assert!(
        (20..180).contains(&traps),
        "{traps} of 200 cases trapped: the draw no longer tests both copies"
    );
}
