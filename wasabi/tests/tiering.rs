//! Tiered compilation: functions start as counting baseline code, hot ones
//! are recompiled optimised and swapped in (on the background thread while
//! the program runs, or deterministically on the calling thread), and the
//! results never change.

mod common;

use std::time::{Duration, Instant};
use wasabi::{CompileMode, Config, Engine, Instance, Linker, Module, Store};

const GUEST: &str = r#"(module
  (import "host" "swapped" (func $swapped (result i32)))
  (func $hot (export "hot") (param $x i32) (result i32)
    (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 1)))
  ;; Calls $hot until the host has seen it recompiled, then returns the
  ;; sum of its results and the number of calls.
  (func (export "run") (result i64 i32) (local $sum i64) (local $n i32)
    (loop $again
      (local.set $sum (i64.add (local.get $sum)
        (i64.extend_i32_u (call $hot (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.eqz (call $swapped))))
    (local.get $sum) (local.get $n))
  (func (export "cold") (result i32) (i32.const 7))
)"#;

/// An engine in tiered mode, without the cache, that recompiles a function
/// after `after` executions, on a background thread or (for deterministic
/// tests) on the calling thread.
fn tiered_engine(after: u32, background: bool) -> Engine {
    Engine::new(
        Config::new()
            .mode(CompileMode::Tiered)
            .tier_up_after(after)
            .tier_up_in_background(background)
            .cache(false),
    )
}

/// Compiles `wat` with `engine` and instantiates it (no imports) in a new
/// store.
fn instantiate(engine: &Engine, wat: impl AsRef<[u8]>) -> (Module, Store<()>, Instance) {
    let module = Module::new(engine, wat).unwrap();
    let mut store = Store::new(engine, ());
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    (module, store, inst)
}

fn expected_sum(n: i32) -> i64 {
    (0..n).map(|x| (x as i64) * 3 + 1).sum()
}

#[test]
fn a_hot_function_is_swapped_while_the_program_runs() {
    let engine = tiered_engine(100, true);
    let module = Module::new(&engine, GUEST).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let watched = module.clone();
    let started = Instant::now();
    linker
        .func_wrap("host", "swapped", move || -> i32 {
            // The guest keeps calling while the background thread works.
            let s = watched.lazy_stats().unwrap();
            let done = s.optimized >= 1 && s.osr_entries >= 1;
            (done || started.elapsed() > Duration::from_secs(30)) as i32
        })
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst
        .get_typed_func::<(), (i64, i32)>(&mut store, "run")
        .unwrap();
    let (sum, n) = run.call(&mut store, ()).unwrap();
    let s = module.lazy_stats().unwrap();
    assert!(s.tiered);
    assert_eq!(
        (s.optimized, s.osr_entries),
        (1, 1),
        "`hot` recompiled and `run`'s loop entered on the stack within 30 s"
    );
    assert!(n > 100, "swapped only after the threshold ({n} calls)");
    assert_eq!(sum, expected_sum(n), "same results before and after");
    // The call that continues sees the optimised code, same results.
    let hot = inst.get_typed_func::<i32, i32>(&mut store, "hot").unwrap();
    assert_eq!(hot.call(&mut store, 41).unwrap(), 124);
    let cold = inst.get_typed_func::<(), i32>(&mut store, "cold").unwrap();
    assert_eq!(cold.call(&mut store, ()).unwrap(), 7);
    assert_eq!(
        module.lazy_stats().unwrap().optimized,
        1,
        "a function called once stays baseline"
    );
}

#[test]
fn tier_up_on_the_calling_thread_is_deterministic() {
    let engine = tiered_engine(5, false);
    let module = Module::new(&engine, GUEST).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "swapped", || -> i32 { 1 })
        .unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let hot = inst.get_typed_func::<i32, i32>(&mut store, "hot").unwrap();
    for x in 0..4 {
        assert_eq!(hot.call(&mut store, x).unwrap(), 3 * x + 1);
    }
    assert_eq!(module.lazy_stats().unwrap().optimized, 0);
    // The fifth execution reaches the threshold and recompiles first.
    assert_eq!(hot.call(&mut store, 4).unwrap(), 13);
    assert_eq!(module.lazy_stats().unwrap().optimized, 1);
    for x in 5..50 {
        assert_eq!(hot.call(&mut store, x).unwrap(), 3 * x + 1);
    }
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.compiled, s.optimized), (1, 1), "{s:?}");
    // A second instance starts with the optimised code.
    let inst2 = linker.instantiate(&mut store, &module).unwrap();
    let hot2 = inst2.get_typed_func::<i32, i32>(&mut store, "hot").unwrap();
    assert_eq!(hot2.call(&mut store, 10).unwrap(), 31);
    assert_eq!(module.lazy_stats().unwrap().optimized, 1);
}

#[test]
fn traps_in_optimised_code_keep_their_backtrace() {
    let engine = tiered_engine(1, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func $div (export "div") (param i32) (result i32)
            (i32.div_u (i32.const 10) (local.get 0)))
          (func (export "outer") (param i32) (result i32) (call $div (local.get 0))))"#,
    );
    let outer = inst
        .get_typed_func::<i32, i32>(&mut store, "outer")
        .unwrap();
    assert_eq!(outer.call(&mut store, 2).unwrap(), 5);
    assert_eq!(module.lazy_stats().unwrap().optimized, 2);
    let e = outer.call(&mut store, 0).unwrap_err().to_string();
    assert!(e.contains("integer divide by zero"), "{e}");
    let div = e.find("div").expect("the trapping function is named");
    let outer_at = e.rfind("outer").expect("its caller is named");
    assert!(div < outer_at, "innermost first: {e}");
}

#[test]
fn a_hot_loop_in_a_running_function_moves_to_optimised_code() {
    // `sum` is called once; its loop must leave baseline code anyway (on-
    // stack replacement), carrying every local of every type, and return
    // both results.
    for background in [false, true] {
        let engine = tiered_engine(50, background);
        let (module, mut store, inst) = instantiate(
            &engine,
            r#"(module
              (memory 1)
              (func (export "sum") (param $n i32) (param $scale f64) (result i64 f64)
                (local $i i32) (local $acc i64) (local $f f64) (local $g f32)
                (local.set $g (f32.const 0.5))
                (block $done
                  (loop $next
                    (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
                    (local.set $f (f64.add (local.get $f)
                      (f64.mul (local.get $scale) (f64.promote_f32 (local.get $g)))))
                    (i32.store (i32.const 0) (local.get $i))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $next)))
                (local.get $acc) (local.get $f))
              (func (export "last") (result i32) (i32.load (i32.const 0)))
              (func (export "boom") (param $n i32) (result i32) (local $i i32)
                (loop $next
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
                (i32.div_u (i32.const 1) (i32.sub (local.get $i) (local.get $n)))))"#,
        );
        let sum = inst
            .get_typed_func::<(i32, f64), (i64, f64)>(&mut store, "sum")
            .unwrap();
        let n = 3_000_000;
        let (acc, f) = sum.call(&mut store, (n, 2.0)).unwrap();
        assert_eq!(
            acc,
            (n as i64 - 1) * n as i64 / 2,
            "background: {background}"
        );
        assert_eq!(f, n as f64, "background: {background}");
        let last = inst.get_typed_func::<(), i32>(&mut store, "last").unwrap();
        assert_eq!(last.call(&mut store, ()).unwrap(), n - 1);
        let s = module.lazy_stats().unwrap();
        if !background {
            // Deterministic: the 800th iteration (`osr_after(50)`) switches.
            assert_eq!(s.osr_entries, 1, "{s:?}");
        }
        // A trap in code entered on the stack still names its function.
        let boom = inst.get_typed_func::<i32, i32>(&mut store, "boom").unwrap();
        let e = boom.call(&mut store, 100_000).unwrap_err().to_string();
        assert!(
            e.contains("integer divide by zero") && e.contains("boom"),
            "{e}"
        );
    }
}

#[test]
fn functions_recompiled_together_keep_their_names() {
    // Eight functions turn hot within microseconds of each other: the
    // background thread recompiles them in batches (one object holding
    // several functions), and a trap in any of them names the right one.
    let mut wat = String::from("(module (memory 1)\n");
    for i in 0..8 {
        // A fault (not an explicit trap) when `x` is out of bounds: its
        // frame is named from the faulting pc, through the batch object.
        wat += &format!(
            "(func $f{i} (export \"f{i}\") (param $x i32) (result i32)
               (i32.add (i32.const {}) (i32.load (local.get $x))))\n",
            100 + i
        );
    }
    wat += "(func (export \"all\") (param $n i32) (result i32) (local $s i32)
      (loop $l
        (local.set $s (i32.add (local.get $s) (i32.add (i32.add (i32.add
          (call $f0 (i32.const 0)) (call $f1 (i32.const 0)))
          (i32.add (call $f2 (i32.const 0)) (call $f3 (i32.const 0))))
          (i32.add (i32.add (call $f4 (i32.const 0)) (call $f5 (i32.const 0)))
          (i32.add (call $f6 (i32.const 0)) (call $f7 (i32.const 0)))))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (local.get $n)))
      (local.get $s)))";
    let engine = tiered_engine(20, true);
    let (module, mut store, inst) = instantiate(&engine, &wat);
    let all = inst.get_typed_func::<i32, i32>(&mut store, "all").unwrap();
    let expected: i32 = 50 * (0..8).map(|i| 100 + i).sum::<i32>();
    assert_eq!(all.call(&mut store, 50).unwrap(), expected);
    // `all` is hot too, by its loop: it asks at its next call.
    assert_eq!(all.call(&mut store, 50).unwrap(), expected);
    // Kept busy meanwhile: a function that goes idle while queued is not
    // recompiled (it asks again once hot again).
    let deadline = Instant::now() + Duration::from_secs(60);
    while module.lazy_stats().unwrap().optimized < 9 && Instant::now() < deadline {
        assert_eq!(all.call(&mut store, 50).unwrap(), expected);
    }
    assert_eq!(
        module.lazy_stats().unwrap().optimized,
        9,
        "all hot, all swapped"
    );
    assert_eq!(all.call(&mut store, 50).unwrap(), expected);
    for i in 0..8 {
        let f = inst
            .get_typed_func::<i32, i32>(&mut store, &format!("f{i}"))
            .unwrap();
        let e = f.call(&mut store, 0x7fff_0000).unwrap_err().to_string();
        assert!(e.contains("out of bounds"), "{e}");
        assert!(e.contains(&format!("f{i}")), "f{i}: {e}");
    }
}

#[test]
fn v128_locals_cross_into_osr_code() {
    // Regression: the buffer that carries locals into an OSR entry had the
    // alignment of its i128 array (8) while v128 locals are stored in it
    // with aligned vector moves (16): a v128 local crashed the switch as an
    // "out of bounds memory access", depending on the frame's layout (found
    // by bench/programs/c/simd_sgemm.c in tiered mode). Each function here
    // has a different frame; f6's put the buffer at 8 mod 16.
    let mut funcs = String::from(
        "(func $three (result i32 i32 i32) (i32.const 1) (i32.const 2) (i32.const 3))",
    );
    for k in 0..8 {
        // Scalars live across a call in the loop: the frame's layout (and
        // the registers saved in it) differs from one function to the next.
        let locals = "(local i64)".repeat(k);
        let uses: String = (0..k)
            .map(|j| {
                format!(
                    "(local.set {j} (i64.add (local.get {j}) (i64.const {j})))",
                    j = j + 1
                )
            })
            .collect();
        funcs += &format!(
            r#"(func (export "f{k}") (param $n i32) (result i32) {locals} (local $i i32) (local $v v128)
                (local.set $v (i32x4.splat (i32.const 1)))
                (block $done (loop $next
                  (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                  {uses}
                  (drop (drop (drop (call $three))))
                  (local.set $v (i32x4.add (local.get $v) (i32x4.splat (local.get $i))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $next)))
                (i32x4.extract_lane 3 (local.get $v)))"#
        );
    }
    let engine = tiered_engine(50, false);
    let (module, mut store, inst) = instantiate(&engine, format!("(module {funcs})"));
    for k in 0..8 {
        let f = inst
            .get_typed_func::<i32, i32>(&mut store, &format!("f{k}"))
            .unwrap();
        let n = 10_000;
        assert_eq!(f.call(&mut store, n).unwrap(), 1 + (n - 1) * n / 2, "f{k}");
    }
    assert_eq!(module.lazy_stats().unwrap().osr_entries, 8);
}

#[test]
fn a_function_made_hot_by_its_loops_between_calls_is_recompiled() {
    // Every counting point (entry and loop headers) asks for the tier-up
    // when the count reaches the threshold: a function called few times
    // whose loop (here one with a parameter, so not an OSR loop) makes it
    // hot is recompiled, and its later calls run optimised code.
    let engine = tiered_engine(100, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func (export "sum") (param $n i32) (result i32)
            (i32.const 0)
            (loop $next (param i32) (result i32)
              (i32.add (local.get $n))
              (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
              (br_if $next))))"#,
    );
    let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    // The first call alone counts 1 + 1,000 executions.
    assert_eq!(sum.call(&mut store, 1000).unwrap(), 500_500);
    for n in [10, 20, 30] {
        assert_eq!(sum.call(&mut store, n).unwrap(), n * (n + 1) / 2);
    }
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.optimized, s.osr_entries), (1, 0), "{s:?}");
}

#[test]
fn a_function_called_often_gets_no_osr_entry() {
    // Regression: any OSR loop asked for an OSR entry (a whole optimised
    // compilation for one loop) as soon as the function's count, calls
    // included, passed the threshold; a function called often with short
    // loops asked for one entry per loop, each queued on the background
    // thread before the tier-ups (regex_bench: 131 of them). Only an
    // activation that runs long asks now; the others get the optimised
    // code at their next call.
    let engine = tiered_engine(100, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func (export "sum") (param $n i32) (result i32) (local $s i32)
            (block $done
              (loop $a
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $s (i32.add (local.get $s) (local.get $n)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $a)))
            (local.get $s)))"#,
    );
    let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    for _ in 0..200 {
        assert_eq!(sum.call(&mut store, 50).unwrap(), 1275);
    }
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.optimized, s.osr_entries), (1, 0), "{s:?}");
}

/// A nest whose inner loop runs long: rows of `cols` additions, a float
/// sum kept alongside, the row number stored each row, and the sum of
/// every `i * cols + j` (plus the float sum) returned.
const ROW_NEST: &str = r#"(module
  (memory 1)
  (func (export "nest") (param $rows i32) (param $cols i32) (result i64 f64)
    (local $i i32) (local $j i32) (local $acc i64) (local $f f64)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $acc (i64.add (local.get $acc)
          (i64.extend_i32_u (i32.add
            (i32.mul (local.get $i) (local.get $cols)) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $cols))))
      (local.set $f (f64.add (local.get $f) (f64.const 0.5)))
      (i32.store (i32.const 0) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $rows))))
    (local.get $acc) (local.get $f))
  (func (export "last") (result i32) (i32.load (i32.const 0))))"#;

#[test]
fn a_hot_loop_nest_is_entered_once_with_every_local() {
    // The inner loop runs long; one OSR entry is compiled for the nest
    // (its variant holds a copy of the body per enclosing loop, so that
    // entering the inner loop leaves every cycle reducible) and taken
    // carrying every local; the results are those of baseline code.
    for background in [false, true] {
        let engine = tiered_engine(50, background);
        let (module, mut store, inst) = instantiate(&engine, ROW_NEST);
        let nest = inst
            .get_typed_func::<(i32, i32), (i64, f64)>(&mut store, "nest")
            .unwrap();
        let (rows, cols) = (3_000, 2_000);
        let (acc, f) = nest.call(&mut store, (rows, cols)).unwrap();
        let n = rows as i64 * cols as i64;
        assert_eq!(acc, (n - 1) * n / 2, "background: {background}");
        assert_eq!(f, rows as f64 * 0.5, "background: {background}");
        let last = inst.get_typed_func::<(), i32>(&mut store, "last").unwrap();
        assert_eq!(last.call(&mut store, ()).unwrap(), rows - 1);
        if !background {
            // Deterministic: one entry, compiled when the nest first ran
            // long and taken at once.
            let s = module.lazy_stats().unwrap();
            assert_eq!(s.osr_entries, 1, "{s:?}");
        }
    }
}

#[test]
fn fuel_is_counted_alike_across_the_copies_of_an_osr_entry() {
    // The copies of an OSR variant share one fuel counter: a nest entered
    // in its inner loop consumes exactly the fuel it does in regular mode.
    let used = |mode: CompileMode| {
        let engine = Engine::new(
            Config::new()
                .mode(mode)
                .tier_up_after(50)
                .tier_up_in_background(false)
                .consume_fuel(true)
                .cache(false),
        );
        let (module, mut store, inst) = instantiate(&engine, ROW_NEST);
        store.set_fuel(u64::MAX / 2).unwrap();
        let nest = inst
            .get_typed_func::<(i32, i32), (i64, f64)>(&mut store, "nest")
            .unwrap();
        nest.call(&mut store, (300, 2_000)).unwrap();
        let entries = module.lazy_stats().map_or(0, |s| s.osr_entries);
        (u64::MAX / 2 - store.get_fuel().unwrap(), entries)
    };
    let (regular, _) = used(CompileMode::Regular);
    let (tiered, entries) = used(CompileMode::Tiered);
    assert_eq!(entries, 1, "the nest was not entered by OSR");
    assert_eq!(tiered, regular);
}

#[test]
fn a_nest_whose_outer_loop_never_comes_back_is_entered_further_in() {
    // The outermost loop runs once around everything: its header never
    // comes again, so the activation asks for the next loop in (the middle
    // one, whose header comes every row) and enters there, with one
    // compilation (an entry asked at the outermost loop would never be
    // taken, and a second one would follow).
    let engine = tiered_engine(50, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func (export "nest") (param $rows i32) (param $cols i32) (result i64)
            (local $i i32) (local $j i32) (local $acc i64)
            (loop $root
              (loop $mid
                (local.set $j (i32.const 0))
                (loop $inner
                  (local.set $acc (i64.add (local.get $acc)
                    (i64.extend_i32_u (i32.add
                      (i32.mul (local.get $i) (local.get $cols)) (local.get $j)))))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br_if $inner (i32.lt_u (local.get $j) (local.get $cols))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $mid (i32.lt_u (local.get $i) (local.get $rows)))))
            (local.get $acc)))"#,
    );
    let nest = inst
        .get_typed_func::<(i32, i32), i64>(&mut store, "nest")
        .unwrap();
    // Long enough that an entry asked at the outermost loop would be
    // given up for the next loop in (two compilations).
    let (rows, cols) = (50_000, 20_000);
    let n = rows as i64 * cols as i64;
    assert_eq!(
        nest.call(&mut store, (rows, cols)).unwrap(),
        (n - 1) * n / 2
    );
    let s = module.lazy_stats().unwrap();
    assert_eq!(s.osr_entries, 1, "{s:?}");
}

#[test]
fn a_function_made_hot_by_one_long_activation_waits_for_its_next_call() {
    // Regression: a loop header that brought the count to the threshold
    // asked for the whole function's optimised code, although only the
    // function's next call could use it; `main` of a kernel (never called
    // again) was recompiled on the background thread before its loop's
    // OSR entry, which is what moves the running activation (lzss: the
    // entry came 150 ms later). Loops count, but only a call asks.
    let engine = tiered_engine(50, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
            (block $done
              (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                (local.set $s (i32.add (local.get $s) (local.get $i)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
            (local.get $s)))"#,
    );
    let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, 10_000).unwrap(), 49_995_000);
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.optimized, s.osr_entries), (0, 1), "{s:?}");
    // Its next call asks (the count is past the threshold), and runs the
    // optimised code from the call after.
    assert_eq!(sum.call(&mut store, 100).unwrap(), 4_950);
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.optimized, s.osr_entries), (1, 1), "{s:?}");
    assert_eq!(sum.call(&mut store, 10_000).unwrap(), 49_995_000);
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.optimized, s.osr_entries), (1, 1), "{s:?}");
}

#[test]
fn a_large_function_needs_more_calls_to_turn_hot() {
    // The count that makes a function hot grows with its body: once the
    // threshold per 512 bytes (recompiling costs in proportion to size).
    // This body is about 1,100 bytes: twice the threshold.
    let nops = "nop ".repeat(1100);
    let engine = tiered_engine(5, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        format!(
            r#"(module
              (func (export "big") (param i32) (result i32)
                {nops}
                (i32.add (local.get 0) (i32.const 1))))"#
        ),
    );
    let big = inst.get_typed_func::<i32, i32>(&mut store, "big").unwrap();
    for x in 0..9 {
        assert_eq!(big.call(&mut store, x).unwrap(), x + 1);
    }
    assert_eq!(module.lazy_stats().unwrap().optimized, 0, "9 calls");
    assert_eq!(big.call(&mut store, 9).unwrap(), 10);
    assert_eq!(module.lazy_stats().unwrap().optimized, 1, "the 10th call");
}

/// With a background thread, tiered mode compiles baseline code ahead of
/// first calls while that thread is idle (callees first), so a first call
/// finds its code ready; what runs is unchanged.
#[test]
fn idle_background_thread_compiles_ahead_of_first_calls() {
    const WAT: &str = r#"(module
      (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 5)))
      (func $mid (param i32) (result i32) (call $leaf (i32.add (local.get 0) (i32.const 1))))
      (func (export "entry") (param i32) (result i32) (call $mid (local.get 0)))
      (func $unreached (result i32) (i32.const 9)))"#;
    let engine = tiered_engine(1_000_000, true);
    let (module, mut store, inst) = instantiate(&engine, WAT);
    // Nothing has been called; wait for the background thread to compile
    // all four functions ahead.
    let stats = common::wait_for_stats(&module, |s| s.ahead == 4);
    assert_eq!((stats.ahead, stats.compiled), (4, 4), "{stats:?}");
    assert_eq!(
        stats.ahead_objects, 1,
        "four small functions, one batch: {stats:?}"
    );
    assert_eq!(
        stats.compile_time,
        Duration::ZERO,
        "no caller compiled: {stats:?}"
    );
    let entry = inst
        .get_typed_func::<i32, i32>(&mut store, "entry")
        .unwrap();
    assert_eq!(entry.call(&mut store, 6).unwrap(), 35);
    let after = module.lazy_stats().unwrap();
    assert_eq!((after.ahead, after.compiled), (4, 4), "{after:?}");

    // Without a background thread (deterministic mode) nothing is compiled
    // before it is called.
    let engine = tiered_engine(1_000_000, false);
    let (module, mut store, inst) = instantiate(&engine, WAT);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(module.lazy_stats().unwrap().compiled, 0);
    let entry = inst
        .get_typed_func::<i32, i32>(&mut store, "entry")
        .unwrap();
    assert_eq!(entry.call(&mut store, 6).unwrap(), 35);
    let s = module.lazy_stats().unwrap();
    assert_eq!((s.ahead, s.compiled), (0, 3), "{s:?}");
}

/// Small functions compiled ahead of their first calls go in batches of up
/// to eight, one object each (a small function's compilation is mostly
/// the fixed cost of an LLVM module and an object), and every function of
/// a batch runs its own code.
#[test]
fn small_functions_are_compiled_ahead_in_batches() {
    let wat = common::small_functions(20);
    let engine = tiered_engine(1_000_000, true);
    let (module, mut store, inst) = instantiate(&engine, &wat);
    let stats = common::wait_for_stats(&module, |s| s.ahead == 20);
    assert_eq!(
        (stats.ahead, stats.ahead_objects),
        (20, 3),
        "8 + 8 + 4: {stats:?}"
    );
    common::check_small_functions(&mut store, &inst, 20);
    let after = module.lazy_stats().unwrap();
    assert_eq!(
        (after.compiled, after.compile_time),
        (20, Duration::ZERO),
        "{after:?}"
    );
}

/// A function that runs in phases, one long loop after another at its top
/// level (a `main` that fills, computes, checks), gets one OSR compilation
/// for all of them: the variant compiled for one loop also enters at the
/// others. That matters when a phase ends before its entry is ready (on
/// the background thread, it often does): the next phase finds its entry
/// compiled instead of asking for another.
#[test]
fn one_osr_compilation_serves_every_top_level_loop() {
    const PHASES: &str = r#"(module
      (func (export "phases") (param $n i32) (result i64)
        (local $i i32) (local $j i32) (local $s i64) (local $t i64)
        ;; Phase 1: two laps of an outer loop; in the second, the inner
        ;; loop asks for the outer loop's entry (compiled at once here),
        ;; which is never taken: the outer header does not come back.
        (loop $o
          (local.set $i (i32.const 0))
          (loop $a
            (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $a (i32.lt_u (local.get $i) (local.get $n))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $o (i32.lt_u (local.get $j) (i32.const 2))))
        ;; Phase 2: asks for its own entry, and finds it ready.
        (local.set $i (i32.const 0))
        (loop $b
          (local.set $t (i64.add (i64.mul (local.get $t) (i64.const 31))
                                 (i64.xor (local.get $s) (i64.extend_i32_u (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $b (i32.lt_u (local.get $i) (i32.mul (local.get $n) (i32.const 4)))))
        ;; Phase 3: in the same code.
        (local.set $i (i32.const 0))
        (block $done
          (loop $c
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $t (i64.rotl (local.get $t) (i64.const 7)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $c)))
        (i64.add (local.get $t) (local.get $s))))"#;
    let expected = |n: u64| -> i64 {
        let s: u64 = 2 * (0..n).sum::<u64>();
        let mut t: u64 = 0;
        for i in 0..4 * n {
            t = t.wrapping_mul(31).wrapping_add(s ^ i);
        }
        for _ in 0..n {
            t = t.rotate_left(7);
        }
        t.wrapping_add(s) as i64
    };
    let engine = tiered_engine(50, false);
    let (module, mut store, inst) = instantiate(&engine, PHASES);
    let phases = inst
        .get_typed_func::<i32, i64>(&mut store, "phases")
        .unwrap();
    // Each loop runs far past the OSR threshold (16 x 50 iterations).
    assert_eq!(phases.call(&mut store, 5_000).unwrap(), expected(5_000));
    let s = module.lazy_stats().unwrap();
    assert_eq!(s.osr_entries, 1, "{s:?}");
}

/// The variant compiled for a loop nested in others also enters at its
/// siblings (loops enclosed by the same loops, or by fewer of them): lzss's
/// `main` repeats generate, compress and check in one loop, and each phase
/// asked for a compilation of its own.
#[test]
fn one_osr_compilation_serves_the_loops_beside_a_nested_one() {
    const NEST: &str = r#"(module
      (func (export "nest") (param $nb i32) (param $na i32) (result i64)
        (local $i i32) (local $r i32) (local $s i64)
        (loop $outer
          (local.set $i (i32.const 0))
          (block $bdone (loop $b
            (br_if $bdone (i32.ge_u (local.get $i) (local.get $nb)))
            (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $b)))
          (local.set $i (i32.const 0))
          (block $adone (loop $a
            (br_if $adone (i32.ge_u (local.get $i) (local.get $na)))
            (local.set $s (i64.xor (i64.mul (local.get $s) (i64.const 3))
                                   (i64.extend_i32_u (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $a)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $r) (i32.const 2))))
        (local.get $s)))"#;
    let expected = |nb: u64, na: u64| -> i64 {
        let mut s: u64 = 0;
        for _ in 0..2 {
            for i in 0..nb {
                s = s.wrapping_add(i);
            }
            for i in 0..na {
                s = s.wrapping_mul(3) ^ i;
            }
        }
        s as i64
    };
    let engine = tiered_engine(50, false);
    let module = Module::new(&engine, NEST).unwrap();
    // The outer loop's laps are too long (over 2M iterations) for its own
    // entry: the running inner loop asks for its own.
    let (nb, na) = (2_500_000, 2_500_000);
    let mut store = Store::new(&engine, ());
    let first = Instance::new(&mut store, &module, &[]).unwrap();
    let nest = first
        .get_typed_func::<(i32, i32), i64>(&mut store, "nest")
        .unwrap();
    assert_eq!(
        nest.call(&mut store, (nb, 0)).unwrap(),
        expected(nb as u64, 0)
    );
    assert_eq!(module.lazy_stats().unwrap().osr_entries, 1);
    // A fresh instance (its own counters) runs only the other inner loop,
    // which finds its entry compiled.
    let second = Instance::new(&mut store, &module, &[]).unwrap();
    let nest = second
        .get_typed_func::<(i32, i32), i64>(&mut store, "nest")
        .unwrap();
    assert_eq!(
        nest.call(&mut store, (0, na)).unwrap(),
        expected(0, na as u64)
    );
    let s = module.lazy_stats().unwrap();
    assert_eq!(s.osr_entries, 1, "{s:?}");
}

#[test]
fn a_loop_after_a_nest_left_unentered_still_moves_to_optimised_code() {
    // On the outer loop's last lap the inner loop asks for the outer
    // loop's entry, which is ready at once (compiled on this thread): the
    // activation is to take it at the outer loop's header, which never
    // comes again. The long loop after the nest must still ask at its own
    // polls, and take its entry (the same compilation serves it): the
    // trap after it is then raised in optimised code, whose frame sits
    // on the baseline one (the function's two frames in the backtrace).
    let engine = tiered_engine(50, false);
    let (module, mut store, inst) = instantiate(
        &engine,
        r#"(module
          (func (export "phases") (param $rows i32) (param $cols i32) (result i32)
            (local $i i32) (local $j i32) (local $k i32) (local $acc i32)
            (loop $outer
              (local.set $j (i32.const 0))
              (loop $inner
                (local.set $acc (i32.add (local.get $acc) (local.get $j)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br_if $inner (i32.lt_u (local.get $j) (local.get $cols))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $outer (i32.lt_u (local.get $i) (local.get $rows))))
            (loop $after
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $after (i32.lt_u (local.get $k) (i32.const 1000000))))
            (if (i32.eqz (local.get $acc)) (then (unreachable)))
            (unreachable)))"#,
    );
    let phases = inst
        .get_typed_func::<(i32, i32), i32>(&mut store, "phases")
        .unwrap();
    // The first poll (iteration 800) comes in the first lap, when the
    // outer loop's header has not come back yet: no ask; the second
    // (1,824) in the last lap asks for the outer loop's entry.
    let e = phases.call(&mut store, (2, 1000)).unwrap_err().to_string();
    assert!(e.contains("unreachable"), "{e}");
    let s = module.lazy_stats().unwrap();
    assert_eq!(s.osr_entries, 1, "{s:?}");
    assert!(
        e.contains("0: module::phases") && e.contains("1: module::phases"),
        "entered at `$after`, two frames: {e}"
    );
}
