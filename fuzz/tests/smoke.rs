//! A bounded fuzzing run as part of the tests: differential cases in
//! regular-O1 and lazy-O1 and a small mutation run must end with no
//! mismatch, crash or hang. Plus the fuzzer's own machinery: its comparison
//! can fail, its trap mapping and NaN rule hold, a crashing or hanging case
//! is recorded with its input; every stored regression input
//! (`fuzz/regressions/`) compares `same` in every default mode; the oracle
//! accepts what wasabi validates (SIMD and relaxed SIMD included), mutants
//! with v128 values or SIMD instructions are run and compared, and the
//! generator emits SIMD.

use std::path::{Path, PathBuf};
use std::process::Command;
use wasabi_fuzz::case::{judge_mutant, Engines, Options, Status};
use wasabi_fuzz::exec::{
    oracle_engine, oracle_validate, run_oracle, run_wasabi, same_value, Mode, Verdict, Wasabi, V,
};

fn fuzz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasabi-fuzz"))
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Runs the fuzzer; returns (exit code, the final summary line, stderr).
fn run(args: &[&str], out: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let o = fuzz()
        .args(args)
        .arg("--out")
        .arg(out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let line = stdout.lines().last().unwrap_or("").to_string();
    (o.status.code().unwrap_or(-1), line, stderr)
}

/// The number before `what` in the summary line (`1234 cases, ...`).
fn count(line: &str, what: &str) -> u64 {
    let i = line
        .find(what)
        .unwrap_or_else(|| panic!("no `{what}` in {line}"));
    line[..i]
        .trim_end()
        .rsplit([' ', '('])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no count before `{what}` in {line}"))
}

#[test]
fn bounded_differential_run_has_no_mismatch() {
    let out = out_dir("smoke-diff");
    let (code, line, stderr) = run(
        &[
            "--cases",
            "2000",
            "--duration",
            "45s",
            "--seed",
            "20261123",
            "--modes",
            "regular-O1,lazy-O1",
            "--shrink-budget",
            "10s",
        ],
        &out,
        &[],
    );
    eprintln!("{stderr}\n{line}");
    let cases = count(&line, " cases");
    assert!(cases >= 100, "too few cases ran to mean anything: {line}");
    assert_eq!(
        count(&line, " mismatches"),
        0,
        "{line}; see {}",
        out.display()
    );
    assert_eq!(count(&line, " crashes"), 0, "{line}; see {}", out.display());
    assert_eq!(count(&line, " hangs"), 0, "{line}; see {}", out.display());
    // Most cases must really be compared, not skipped.
    assert!(count(&line, " skipped") * 4 < cases, "{line}");
    assert_eq!(code, 0, "{line}");
}

#[test]
fn bounded_mutation_run_rejects_cleanly_or_runs_correctly() {
    let out = out_dir("smoke-mutate");
    let (code, line, stderr) = run(
        &[
            "mutate",
            "--cases",
            "1500",
            "--duration",
            "30s",
            "--seed",
            "77",
        ],
        &out,
        &[],
    );
    eprintln!("{stderr}\n{line}");
    assert!(count(&line, " cases") >= 100, "{line}");
    assert!(count(&line, " rejected cleanly") > 0, "{line}");
    assert_eq!(
        count(&line, " mismatches"),
        0,
        "{line}; see {}",
        out.display()
    );
    assert_eq!(count(&line, " crashes"), 0, "{line}; see {}", out.display());
    assert_eq!(count(&line, " hangs"), 0, "{line}; see {}", out.display());
    assert_eq!(code, 0, "{line}");
}

#[test]
fn a_crashing_or_hanging_case_is_recorded_and_the_run_goes_on() {
    let out = out_dir("smoke-crash");
    let (code, line, _) = run(
        &["--cases", "4", "--seed", "500", "--modes", "regular-O0"],
        &out,
        &[("WASABI_FUZZ_ABORT_AT", "501")],
    );
    assert_eq!(code, 1, "{line}");
    assert_eq!(
        count(&line, " cases"),
        4,
        "every seed is accounted for: {line}"
    );
    assert_eq!(count(&line, " crashes"), 1, "{line}");
    assert!(out.join("crash-501.wasm").exists());
    let txt = std::fs::read_to_string(out.join("crash-501.txt")).unwrap();
    assert!(txt.contains("SIGABRT"), "{txt}");

    let out = out_dir("smoke-hang");
    let (code, line, _) = run(
        &[
            "--cases",
            "3",
            "--seed",
            "600",
            "--modes",
            "regular-O0",
            "--case-timeout",
            "2s",
        ],
        &out,
        &[("WASABI_FUZZ_HANG_AT", "600")],
    );
    assert_eq!(code, 1, "{line}");
    assert_eq!(count(&line, " cases"), 3, "{line}");
    assert_eq!(count(&line, " hangs"), 1, "{line}");
    assert!(out.join("hang-600.txt").exists());
}

fn wat(s: &str) -> Vec<u8> {
    wat::parse_str(s).unwrap()
}

#[test]
fn the_comparison_finds_a_difference_and_maps_trap_kinds() {
    let oracle = oracle_engine();
    let w = Wasabi::new(Mode::Regular(wasabi::OptLevel::O0));
    let one = wat(r#"(module (func (export "f") (result i32) i32.const 1))"#);
    let two = wat(r#"(module (func (export "f") (result i32) i32.const 2))"#);
    let expected = run_oracle(&oracle, &one, 1, 100_000).unwrap();
    assert!(matches!(
        run_wasabi(&w, &one, &expected, &mut |_| {}),
        Verdict::Same
    ));
    match run_wasabi(&w, &two, &expected, &mut |_| {}) {
        Verdict::Differ(m) => assert_eq!(m.signature, "call:values->values"),
        v => panic!("{v:?}"),
    }

    // call_indirect past the table: wasmi's TableOutOfBounds is wasabi's
    // UndefinedElement; a null entry is UninitializedElement.
    let indirect = wat(r#"(module (type (func)) (table 2 funcref)
          (func (export "past") (call_indirect (type 0) (i32.const 5)))
          (func (export "null") (call_indirect (type 0) (i32.const 1))))"#);
    let o = run_oracle(&oracle, &indirect, 1, 100_000).unwrap();
    assert!(matches!(
        run_wasabi(&w, &indirect, &o, &mut |_| {}),
        Verdict::Same
    ));

    // An element segment out of bounds traps at instantiation in both;
    // wasmi says so with an instantiation error, not a trap code.
    let elem = wat(r#"(module (table 1 funcref) (func) (elem (i32.const 5) 0))"#);
    let o = run_oracle(&oracle, &elem, 1, 100_000).unwrap();
    assert!(
        matches!(run_wasabi(&w, &elem, &o, &mut |_| {}), Verdict::Same),
        "{:?}",
        o.instantiate
    );
    let data = wat(r#"(module (memory 1) (data (i32.const 65535) "ab"))"#);
    let o = run_oracle(&oracle, &data, 1, 100_000).unwrap();
    assert!(
        matches!(run_wasabi(&w, &data, &o, &mut |_| {}), Verdict::Same),
        "{:?}",
        o.instantiate
    );

    // Memory state is compared after the calls.
    let store = |v: i32| {
        wat(&format!(
            r#"(module (memory (export "m") 1)
              (func (export "f") (i32.store (i32.const 8) (i32.const {v}))))"#
        ))
    };
    let o = run_oracle(&oracle, &store(7), 1, 100_000).unwrap();
    match run_wasabi(&w, &store(8), &o, &mut |_| {}) {
        Verdict::Differ(m) => assert_eq!(m.signature, "state:memory"),
        v => panic!("{v:?}"),
    }

    // A loop the oracle cannot finish is never run by wasabi.
    let spin = wat(r#"(module (func (export "f") (loop (br 0))))"#);
    let o = run_oracle(&oracle, &spin, 1, 10_000).unwrap();
    assert!(matches!(
        run_wasabi(&w, &spin, &o, &mut |_| {}),
        Verdict::Skip("timeout")
    ));
}

#[test]
fn nans_are_equal_only_by_bits_or_when_both_canonical() {
    assert!(same_value(&V::F32(0x7fc0_0000), &V::F32(0xffc0_0000)));
    assert!(!same_value(&V::F32(0x7fc0_0000), &V::F32(0x7fc0_0001)));
    assert!(same_value(&V::F32(0x7fc0_0001), &V::F32(0x7fc0_0001)));
    assert!(!same_value(&V::F64(0), &V::F64(0x8000_0000_0000_0000)));
    assert!(same_value(
        &V::F64(0x7ff8_0000_0000_0000),
        &V::F64(0xfff8_0000_0000_0000)
    ));
}

/// The default modes of a differential run (`exec::DEFAULT_MODES`).
const DEFAULT_MODES: [&str; 4] = ["regular-O0", "regular-O1", "regular-O3", "lazy-O1"];

#[test]
fn regression_inputs_compare_same_in_every_default_mode() {
    assert_eq!(wasabi_fuzz::exec::DEFAULT_MODES, DEFAULT_MODES.join(","));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm" || e == "wat"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "regression inputs missing from {}",
        dir.display()
    );
    let o = fuzz().arg("check").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    for file in &files {
        for mode in DEFAULT_MODES {
            let line = format!("{} [{mode}]: same", file.display());
            assert!(
                stdout.lines().any(|l| l == line),
                "no `{line}` in:\n{stdout}"
            );
        }
    }
    assert_eq!(
        stdout.lines().count(),
        files.len() * DEFAULT_MODES.len(),
        "{stdout}"
    );
    assert!(o.status.success(), "{stdout}");
}

#[test]
fn an_oracle_panic_is_the_oracle_s_problem() {
    // wasmi 2.0 panics (control stack assertion) on this mutant.
    let wasm = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs/wasmi-panics-917.wasm"),
    )
    .unwrap();
    let oracle = oracle_engine();
    assert!(matches!(
        run_oracle(&oracle, &wasm, 917, 1000),
        Err(wasabi_fuzz::exec::OracleRefused::Panic)
    ));
    assert_eq!(wasabi_fuzz::exec::oracle_validate(&oracle, &wasm), None);
}

/// Whether wasabi's validator accepts `wasm` (`Unsupported` comes after it).
fn wasabi_validates(wasm: &[u8]) -> bool {
    let w = Wasabi::new(Mode::Regular(wasabi::OptLevel::O0));
    !matches!(
        w.compile(wasm),
        Err(wasabi::Error::Module(_) | wasabi::Error::Text(_))
    )
}

#[test]
fn the_oracle_accepts_exactly_what_wasabi_validates() {
    let oracle = oracle_engine();
    // (what, module, accepted by both)
    let probes = [
        (
            "v128 values",
            r#"(module (func (param v128) (result v128) (local v128) local.get 0))"#,
            true,
        ),
        (
            "a SIMD instruction",
            r#"(module (func (result i32) (i32x4.extract_lane 1 (v128.const i32x4 1 2 3 4))))"#,
            true,
        ),
        (
            "an extended constant",
            r#"(module (global i32 (i32.add (i32.const 1) (i32.const 2))))"#,
            true,
        ),
        (
            "relaxed SIMD",
            r#"(module (func (param v128) (result v128) (i32x4.relaxed_trunc_f32x4_s (local.get 0))))"#,
            true,
        ),
        (
            "a tail call",
            r#"(module (func $f (return_call $f)))"#,
            false,
        ),
        ("two memories", r#"(module (memory 1) (memory 1))"#, false),
    ];
    for (what, text, both) in probes {
        let wasm = wat(text);
        let by_wasmi = oracle_validate(&oracle, &wasm) == Some(Ok(()));
        assert_eq!(by_wasmi, both, "wasmi on {what}");
        assert_eq!(wasabi_validates(&wasm), both, "wasabi on {what}");
    }
}

#[test]
fn simd_mutants_are_run_and_compared_in_regular_and_lazy_mode() {
    let out = out_dir("smoke-simd");
    std::fs::create_dir_all(&out).unwrap();
    let opts = Options {
        fuel: 100_000,
        out: out.clone(),
        shrink: false,
        shrink_budget: std::time::Duration::from_secs(1),
    };
    let values = wat(r#"(module
          (global (export "g") (mut v128) (v128.const i64x2 0x0123456789abcdef -1))
          (func (export "id") (param v128) (result v128) (local v128)
            (local.set 1 (local.get 0))
            (block (result v128) (local.get 1)))
          (func (export "swap") (param v128 i32) (result i32 v128)
            (local.get 1) (global.get 0))
          (func (export "set") (param v128) (global.set 0 (local.get 0))))"#);
    let simd = wat(r#"(module
          (func (export "ok") (result i32) (i32.const 7))
          (func (export "lane") (result i32)
            (i32x4.extract_lane 2 (v128.const i32x4 1 2 3 4))))"#);
    for mode in [
        Mode::Regular(wasabi::OptLevel::O1),
        Mode::Lazy(wasabi::OptLevel::O1),
    ] {
        let eng = Engines {
            oracle: oracle_engine(),
            modes: vec![Wasabi::new(mode)],
        };
        // v128 values without SIMD instructions: accepted by both, run
        // and compared.
        let r = judge_mutant(1, &values, &eng, &opts, &mut |_, _| {});
        assert_eq!(r.status, Status::Ok, "{mode:?}");
        // SIMD instructions: compiled, run and compared.
        let r = judge_mutant(1, &simd, &eng, &opts, &mut |_, _| {});
        assert_eq!(r.status, Status::Ok, "{mode:?}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no findings");

    // v128 results and globals are compared by bits.
    let oracle = oracle_engine();
    let w = Wasabi::new(Mode::Regular(wasabi::OptLevel::O0));
    let global = |v: &str| {
        wat(&format!(
            r#"(module (global (export "g") v128 (v128.const i64x2 {v} 0)))"#
        ))
    };
    let o = run_oracle(&oracle, &global("1"), 1, 100_000).unwrap();
    assert!(matches!(
        run_wasabi(&w, &global("1"), &o, &mut |_| {}),
        Verdict::Same
    ));
    match run_wasabi(&w, &global("2"), &o, &mut |_| {}) {
        Verdict::Differ(m) => assert_eq!(m.signature, "state:global", "{m}"),
        v => panic!("{v:?}"),
    }
}

/// The generator emits SIMD and relaxed-SIMD instructions (so the
/// differential runs exercise wasabi's SIMD translation against wasmi).
#[test]
fn generated_modules_contain_simd_and_relaxed_simd() {
    use wasmparser::{Operator, Parser, Payload};
    let (mut simd, mut relaxed) = (0, 0);
    for seed in 0..300u64 {
        let limits = wasabi_fuzz::gen::Limits::for_seed(seed);
        let Some(wasm) = wasabi_fuzz::gen::generate(seed, &limits) else {
            continue;
        };
        for payload in Parser::new(0).parse_all(&wasm) {
            let Ok(Payload::CodeSectionEntry(body)) = payload else {
                continue;
            };
            let mut ops = body.get_operators_reader().unwrap();
            while !ops.eof() {
                let op = ops.read().unwrap();
                let name = format!("{op:?}");
                if name.contains("Relaxed") {
                    relaxed += 1;
                } else if matches!(op, Operator::V128Const { .. })
                    || ["I8x16", "I16x8", "I32x4", "I64x2", "F32x4", "F64x2", "V128"]
                        .iter()
                        .any(|p| name.starts_with(p))
                {
                    simd += 1;
                }
            }
        }
    }
    assert!(simd > 100, "{simd} SIMD instructions in 300 modules");
    assert!(
        relaxed > 0,
        "{relaxed} relaxed-SIMD instructions in 300 modules"
    );
}

/// Seed 67796 makes wasmi 2.0 abort (a panic inside its executor, on a
/// SIMD lane store): the worker dies in the oracle's stage, which is the
/// oracle's problem, not a wasabi crash, and the run goes on.
#[test]
fn an_oracle_abort_is_skipped_not_a_crash() {
    let out = out_dir("smoke-oracle-crash");
    let (code, line, err) = run(
        &["--seed", "67796", "--cases", "2", "--jobs", "1"],
        &out,
        &[],
    );
    assert_eq!(code, 0, "{line}\n{err}");
    assert_eq!(count(&line, "crashes"), 0, "{line}");
    assert!(line.contains("oracle-crash: 1"), "{line}");
    assert_eq!(count(&line, "cases"), 2, "{line}");
}
