//! `wasabi run`'s limit flags: `--fuel` and `--timeout` stop runaway
//! guests with a clear message (and let well-behaved ones finish),
//! `--max-memory`, `--max-table-elements` and `--max-wasm-stack` bound
//! what a guest may take.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn wasabi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasabi"))
}

fn module(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasabi-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str], m: &Path) -> (Option<i32>, String, String) {
    let o: Output = wasabi().arg("run").args(args).arg(m).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const LOOP: &str = r#"(module (func (export "_start") (loop (br 0))))"#;

const SUM: &str = r#"(module
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br 0)))
    (local.get $s)))"#;

#[test]
fn fuel_stops_an_infinite_loop() {
    let m = module("loop.wat", LOOP);
    let (code, _, err) = run(&["--fuel", "1000000"], &m);
    assert_eq!(code, Some(134), "{err}");
    assert!(err.contains("interrupted: out of fuel"), "{err}");
    assert!(
        err.contains("_start"),
        "the trap names where it stopped: {err}"
    );
}

#[test]
fn enough_fuel_lets_a_program_finish() {
    let m = module("sum.wat", SUM);
    let o = wasabi()
        .args(["run", "--fuel", "1000000", "--invoke", "sum"])
        .arg(&m)
        .arg("1000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "500500");
    // Too little fuel for the same call.
    let o = wasabi()
        .args(["run", "--fuel", "1000", "--invoke", "sum"])
        .arg(&m)
        .arg("1000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&o.stderr).contains("out of fuel"));
}

#[test]
fn timeout_stops_an_infinite_loop() {
    for mode in ["regular", "lazy"] {
        let m = module("loop.wat", LOOP);
        let t0 = Instant::now();
        let (code, _, err) = run(&["--timeout", "300ms", "--mode", mode], &m);
        let took = t0.elapsed();
        assert_eq!(code, Some(134), "{mode}: {err}");
        assert!(
            err.contains("interrupted: deadline exceeded"),
            "{mode}: {err}"
        );
        assert!(took >= Duration::from_millis(300), "{mode}: {took:?}");
        assert!(took < Duration::from_secs(20), "{mode}: {took:?}");
    }
}

#[test]
fn max_memory_bounds_growth_and_instantiation() {
    let m = module(
        "grow.wat",
        r#"(module (memory 1)
          (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#,
    );
    let grow = |limit: &str, pages: &str| {
        let o = wasabi()
            .args(["run", "--max-memory", limit, "--invoke", "grow"])
            .arg(&m)
            .arg(pages)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(grow("2MiB", "31"), "1"); // 32 pages = 2 MiB: allowed
    assert_eq!(grow("2MiB", "32"), "-1"); // 33 pages: refused
    assert_eq!(grow("65536", "1"), "-1");

    let big = module("big.wat", "(module (memory 100))");
    let (code, _, err) = run(&["--max-memory", "1M"], &big);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exceeds the store's limit"), "{err}");
}

#[test]
fn max_table_elements_bounds_tables() {
    let m = module(
        "table.wat",
        r#"(module (table 1 funcref)
          (func (export "grow") (param i32) (result i32)
            (table.grow (ref.null func) (local.get 0))))"#,
    );
    let grow = |limit: &str, n: &str| {
        let o = wasabi()
            .args(["run", "--max-table-elements", limit, "--invoke", "grow"])
            .arg(&m)
            .arg(n)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(grow("10", "9"), "1");
    assert_eq!(grow("10", "10"), "-1");
    let big = module("bigtable.wat", "(module (table 1000 funcref))");
    let (code, _, err) = run(&["--max-table-elements", "100"], &big);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("limit of 100 elements"), "{err}");
}

#[test]
fn max_wasm_stack_bounds_recursion_depth() {
    let m = module(
        "deep.wat",
        r#"(module
          (func $down (export "down") (param i32) (result i32)
            (if (result i32) (i32.eqz (local.get 0))
              (then (i32.const 0))
              (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))"#,
    );
    let depth = |args: &[&str]| {
        wasabi()
            .arg("run")
            .args(args)
            .args(["--invoke", "down"])
            .arg(&m)
            .arg("20000")
            .output()
            .unwrap()
    };
    let ok = depth(&[]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "20000");
    let small = depth(&["--max-wasm-stack", "64KiB"]);
    assert_eq!(small.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&small.stderr).contains("call stack exhausted"));
}

/// Frames larger than the stack the host keeps below the limit for itself
/// (256 KiB: 40,000 `i64` locals, kept in memory at -O0 and in the
/// baseline tier) still end in a clean trap, with the limit at the
/// thread's real stack (`--max-wasm-stack` beyond it). The entry check
/// reads the frame pointer less the locals' bytes (`emit_stack_check`).
#[test]
fn recursion_with_huge_frames_traps_cleanly() {
    let locals = vec!["i64"; 40_000].join(" ");
    let m = module(
        "huge-frames.wat",
        &format!(
            r#"(module
              (func $down (export "down") (param i32) (result i32) (local {locals})
                (local.set 1 (i64.extend_i32_u (local.get 0)))
                (if (result i32) (i32.eqz (local.get 0))
                  (then (i32.const 0))
                  (else (i32.add (i32.wrap_i64 (local.get 1))
                                 (call $down (i32.sub (local.get 0) (i32.const 1))))))))"#
        ),
    );
    for mode in [
        ["--mode", "regular", "-O", "0"],
        ["--mode", "lazy", "-O", "0"],
        ["--mode", "tiered", "-O", "1"],
    ] {
        let mut args = mode.to_vec();
        args.extend(["--max-wasm-stack", "1GiB", "--invoke", "down"]);
        let o = wasabi()
            .arg("run")
            .args(&args)
            .arg(&m)
            .arg("100000")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(134), "{mode:?}: {err}");
        assert!(err.contains("call stack exhausted"), "{mode:?}: {err}");
        assert!(o.stdout.is_empty(), "{mode:?}");
    }
}

#[test]
fn bad_limit_values_are_clear_errors() {
    let m = module("loop2.wat", LOOP);
    for (flag, value, says) in [
        ("--timeout", "soon", "not a duration"),
        ("--max-memory", "lots", "not a size"),
        ("--fuel", "many", "invalid value 'many' for '--fuel <N>'"),
    ] {
        let (code, _, err) = run(&[flag, value], &m);
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}
