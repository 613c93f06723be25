//! Interruption and limits through the library: fuel, epoch deadlines,
//! interrupting from another thread, memory and table limits. Every mode
//! and optimisation level must stop the same runaway guests, and the store
//! must stay usable after an interruption.

use std::time::{Duration, Instant};
use wasabi::{
    Caller, CompileMode, Config, Engine, Error, Instance, Linker, Module, OptLevel, Store,
    StoreLimits, TrapCode,
};

/// Every configuration the checks must hold in.
fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for opt in [OptLevel::O0, OptLevel::O1, OptLevel::O3] {
        v.push(Config::new().opt_level(opt));
    }
    v.push(Config::new().mode(CompileMode::Lazy));
    v
}

const GUEST: &str = r#"(module
  (memory (export "mem") 1)
  (table (export "tab") 1 funcref)
  (func (export "spin") (loop (br 0)))
  (func $recurse (export "recurse") (call $recurse))
  (func (export "three") (result i32) (i32.add (i32.const 1) (i32.const 2)))
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br 0)))
    (local.get $s))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  ;; Years of calls and no loop: only function entries can stop it.
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "grow_table") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0)))
)"#;

fn trap_code(e: &Error) -> Option<TrapCode> {
    match e {
        Error::Trap(t) => Some(t.code),
        _ => None,
    }
}

#[test]
fn fuel_stops_loops_and_recursion_in_every_mode() {
    for config in configs() {
        let what = format!("{config:?}");
        let engine = Engine::new(config.consume_fuel(true));
        let module = Module::new(&engine, GUEST).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        for name in ["spin", "recurse"] {
            // Below the ~38,000 frames the stack holds: fuel runs out first.
            store.set_fuel(10_000).unwrap();
            let f = inst.get_typed_func::<(), ()>(&mut store, name).unwrap();
            let e = f.call(&mut store, ()).unwrap_err();
            assert_eq!(
                trap_code(&e),
                Some(TrapCode::OutOfFuel),
                "{what} {name}: {e}"
            );
            assert!(e.to_string().contains("interrupted: out of fuel"), "{e}");
            assert_eq!(store.get_fuel().unwrap(), 0, "{what} {name}");
        }
        // The store still runs wasm once refuelled.
        store.set_fuel(1_000).unwrap();
        let three = inst.get_typed_func::<(), i32>(&mut store, "three").unwrap();
        assert_eq!(three.call(&mut store, ()).unwrap(), 3, "{what}");
    }
}

#[test]
fn fuel_counts_operators_the_same_in_every_mode() {
    let mut seen = Vec::new();
    for config in configs() {
        let engine = Engine::new(config.consume_fuel(true));
        let module = Module::new(&engine, GUEST).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let three = inst.get_typed_func::<(), i32>(&mut store, "three").unwrap();
        let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
        store.set_fuel(1_000_000).unwrap();
        three.call(&mut store, ()).unwrap();
        let after_three = store.get_fuel().unwrap();
        // i32.const, i32.const, i32.add: three operators (`end` is free).
        assert_eq!(1_000_000 - after_three, 3);
        assert_eq!(sum.call(&mut store, 100).unwrap(), 5050);
        let used = after_three - store.get_fuel().unwrap();
        // The loop runs 100 times and more: the cost grows with the work.
        assert!(used > 100 * 10, "sum(100) used {used}");
        seen.push(used);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "fuel used differs between modes: {seen:?}"
    );
}

#[test]
fn host_functions_see_and_set_fuel() {
    let engine = Engine::new(Config::new().consume_fuel(true));
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "drain" (func $drain (result i64)))
          (func (export "run") (result i64) (local $seen i64)
            (local.set $seen (call $drain))
            (loop (br 0))
            (local.get $seen)))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "drain", |mut caller: Caller<'_, ()>| -> i64 {
            let left = caller.get_fuel().unwrap() as i64;
            caller.set_fuel(0).unwrap();
            left
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(500).unwrap();
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let run = inst.get_typed_func::<(), i64>(&mut store, "run").unwrap();
    // The host drains the fuel: the loop after the call stops at once.
    let e = run.call(&mut store, ()).unwrap_err();
    assert_eq!(trap_code(&e), Some(TrapCode::OutOfFuel), "{e}");
}

#[test]
fn fuel_needs_an_engine_that_meters_it() {
    let mut store = Store::new(&Engine::default(), ());
    assert!(matches!(store.set_fuel(1), Err(Error::Config(_))));
    assert!(matches!(store.get_fuel(), Err(Error::Config(_))));
}

#[test]
fn epoch_deadline_and_interrupt_handle_stop_loops_in_every_mode() {
    for config in configs() {
        let what = format!("{config:?}");
        let engine = Engine::new(config.epoch_interruption(true));
        let module = Module::new(&engine, GUEST).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let spin = inst.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
        let recurse = inst
            .get_typed_func::<(), ()>(&mut store, "recurse")
            .unwrap();

        // A deadline one epoch away, reached by a timer thread.
        store.set_epoch_deadline(1);
        let timer = engine.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            timer.increment_epoch();
        });
        let e = spin.call(&mut store, ()).unwrap_err();
        t.join().unwrap();
        assert_eq!(
            trap_code(&e),
            Some(TrapCode::DeadlineExceeded),
            "{what}: {e}"
        );
        assert!(e.to_string().contains("interrupted: deadline exceeded"));

        // An interrupt from another thread, with no deadline.
        store.set_epoch_deadline(u64::MAX);
        let handle = store.interrupt_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            handle.interrupt();
        });
        let started = Instant::now();
        let e = spin.call(&mut store, ()).unwrap_err();
        t.join().unwrap();
        assert_eq!(trap_code(&e), Some(TrapCode::Interrupted), "{what}: {e}");
        assert!(started.elapsed() < Duration::from_secs(10));

        // The request was consumed: the store runs wasm again, and a
        // request made between calls stops the next one (even recursion,
        // which has no loop: function entries are checked).
        let three = inst.get_typed_func::<(), i32>(&mut store, "three").unwrap();
        assert_eq!(three.call(&mut store, ()).unwrap(), 3, "{what}");
        store.interrupt_handle().interrupt();
        let e = recurse.call(&mut store, ()).unwrap_err();
        assert_eq!(trap_code(&e), Some(TrapCode::Interrupted), "{what}: {e}");
        assert_eq!(three.call(&mut store, ()).unwrap(), 3, "{what}");
    }
}

#[test]
fn running_recursion_without_loops_is_stopped_at_function_entries() {
    // The entry check is the stack check with the limit raised: it must
    // stop a call tree already running, from another thread, by deadline
    // and by request, and leave the store usable.
    for config in configs() {
        let what = format!("{config:?}");
        let engine = Engine::new(config.epoch_interruption(true));
        let module = Module::new(&engine, GUEST).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let fib = inst.get_typed_func::<i64, i64>(&mut store, "fib").unwrap();
        assert_eq!(fib.call(&mut store, 20).unwrap(), 6765, "{what}");

        store.set_epoch_deadline(1);
        let timer = engine.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            timer.increment_epoch();
        });
        let e = fib.call(&mut store, 90).unwrap_err();
        t.join().unwrap();
        assert_eq!(
            trap_code(&e),
            Some(TrapCode::DeadlineExceeded),
            "{what}: {e}"
        );
        // Still stopped until the deadline moves.
        let e = fib.call(&mut store, 20).unwrap_err();
        assert_eq!(
            trap_code(&e),
            Some(TrapCode::DeadlineExceeded),
            "{what}: {e}"
        );
        store.set_epoch_deadline(u64::MAX);
        assert_eq!(fib.call(&mut store, 20).unwrap(), 6765, "{what}");

        let handle = store.interrupt_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            handle.interrupt();
        });
        let e = fib.call(&mut store, 90).unwrap_err();
        t.join().unwrap();
        assert_eq!(trap_code(&e), Some(TrapCode::Interrupted), "{what}: {e}");
        assert_eq!(fib.call(&mut store, 20).unwrap(), 6765, "{what}");
        // Deep recursion is still a stack overflow, not an interruption.
        let recurse = inst
            .get_typed_func::<(), ()>(&mut store, "recurse")
            .unwrap();
        let e = recurse.call(&mut store, ()).unwrap_err();
        assert_eq!(trap_code(&e), Some(TrapCode::StackOverflow), "{what}: {e}");
    }
}

#[test]
fn code_without_checks_ignores_deadlines() {
    // The default engine compiles no checks: a reached deadline changes
    // nothing (the documented contract, and proof the checks are opt-in).
    let engine = Engine::default();
    let module = Module::new(&engine, GUEST).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_epoch_deadline(0);
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    assert_eq!(sum.call(&mut store, 10).unwrap(), 55);
}

#[test]
fn memory_and_table_limits() {
    let engine = Engine::default();
    let module = Module::new(&engine, GUEST).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_limits(StoreLimits {
        max_memory_bytes: Some(3 * 65536),
        max_table_elements: Some(10),
    });
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let grow = inst.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
    assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
    assert_eq!(grow.call(&mut store, 1).unwrap(), -1);
    let mem = inst.get_memory(&mut store, "mem").unwrap();
    assert!(matches!(mem.grow(&mut store, 1), Err(Error::Resource(_))));
    let grow_table = inst
        .get_typed_func::<i32, i32>(&mut store, "grow_table")
        .unwrap();
    assert_eq!(grow_table.call(&mut store, 9).unwrap(), 1);
    assert_eq!(grow_table.call(&mut store, 1).unwrap(), -1);

    // A module needing more than the limit from the start is refused.
    let big = Module::new(&engine, "(module (memory 4))").unwrap();
    let e = Instance::new(&mut store, &big, &[]).unwrap_err();
    assert!(matches!(e, Error::Resource(_)), "{e}");
    assert!(e.to_string().contains("limit"), "{e}");
    let big = Module::new(&engine, "(module (table 11 funcref))").unwrap();
    let e = Instance::new(&mut store, &big, &[]).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn a_withdrawn_interrupt_stops_nothing() {
    let engine = Engine::new(Config::new().epoch_interruption(true));
    let module = Module::new(&engine, GUEST).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let sum = inst.get_typed_func::<i32, i32>(&mut store, "sum").unwrap();
    let handle = store.interrupt_handle();
    handle.interrupt();
    handle.clear();
    // A request left pending would stop the loop at its first poll.
    assert_eq!(sum.call(&mut store, 5000).unwrap(), 12_502_500);
    // Without the clear, the request stops the next call at its first
    // check (here the first iteration of its loop).
    handle.interrupt();
    let spin = inst.get_typed_func::<(), ()>(&mut store, "spin").unwrap();
    let e = spin.call(&mut store, ()).unwrap_err();
    assert_eq!(trap_code(&e), Some(TrapCode::Interrupted), "{e}");
}

/// Loops the bounds-versioning pass gives an in-bounds copy (compiler's
/// `passes.rs`): a copy without polls for short trips, one whose polls are
/// memory barriers for long ones. Both must still be stopped, and memory
/// must be as the program order has it at a loop header.
const VERSIONED: &str = r#"(module
  (memory (export "mem") 1)
  ;; Long trips: 2^31 iterations of an in-bounds store, stopped mid-trip.
  ;; Each iteration writes the counter at 0, then the same at 4: at any
  ;; loop header both words are equal.
  (func (export "long") (local $k i32)
    (loop $l
      (i32.store (i32.const 0) (local.get $k))
      (i32.store (i32.const 4) (local.get $k))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 0x7fffffff)))))
  ;; Short trips (100 iterations) inside an endless outer loop.
  (func (export "short-trips") (local $k i32) (local $r i32)
    (loop $outer
      (local.set $k (i32.const 0))
      (loop $inner
        (i32.store (i32.add (i32.const 64) (i32.shl (local.get $k) (i32.const 2))) (local.get $r))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $k) (i32.const 100))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $outer)))
)"#;

#[test]
fn versioned_loops_are_stopped_and_leave_memory_in_program_order() {
    for opt in [OptLevel::O1, OptLevel::O3] {
        let engine = Engine::new(Config::new().opt_level(opt).epoch_interruption(true));
        let module = Module::new(&engine, VERSIONED).unwrap();
        for name in ["long", "short-trips"] {
            let what = format!("{opt:?} {name}");
            let mut store = Store::new(&engine, ());
            let inst = Instance::new(&mut store, &module, &[]).unwrap();
            let f = inst.get_typed_func::<(), ()>(&mut store, name).unwrap();
            let handle = store.interrupt_handle();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                handle.interrupt();
            });
            let started = Instant::now();
            let e = f.call(&mut store, ()).unwrap_err();
            t.join().unwrap();
            assert_eq!(trap_code(&e), Some(TrapCode::Interrupted), "{what}: {e}");
            assert!(started.elapsed() < Duration::from_secs(5), "{what}");
            let mem = inst.get_memory(&mut store, "mem").unwrap();
            let word = |store: &Store<()>, at: usize| {
                let b = &mem.data(store)[at..at + 4];
                u32::from_le_bytes(b.try_into().unwrap())
            };
            if name == "long" {
                assert_eq!(word(&store, 0), word(&store, 4), "{what}");
                assert!(word(&store, 0) > 0, "{what}: the loop ran");
            } else {
                // Interrupted at a header of either loop: the row holds at
                // most two values, r and r - 1, with r's a prefix.
                let row: Vec<u32> = (0..100).map(|k| word(&store, 64 + 4 * k)).collect();
                let first = row[0];
                let split = row.iter().position(|&v| v != first).unwrap_or(100);
                assert!(
                    row[split..].iter().all(|&v| v + 1 == first),
                    "{what}: {row:?}"
                );
            }
        }
    }
}
