//! The compiled-code cache and precompiled modules, through the `wasabi`
//! command: a second run hits (in lazy and tiered modes, function by
//! function); a damaged, truncated or foreign entry is
//! refused, recompiled and replaced (never run); settings that change the
//! code get their own entries; concurrent processes on an empty cache all
//! succeed; `--no-cache` writes nothing; `wasabi cache` reports and clears;
//! `wasabi compile -o` artifacts run only with `--allow-precompiled` and
//! only when made for this build, CPU and settings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE: &str = r#"(module
  (func $fib (export "fib") (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
      (then (local.get 0))
      (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib (i64.sub (local.get 0) (i64.const 2))))))))"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasabi-cli-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `wasabi` with its cache in `dir/cache`.
fn wasabi(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasabi"));
    c.env("WASABI_CACHE_DIR", dir.join("cache"));
    c
}

fn module(dir: &Path) -> PathBuf {
    let p = dir.join("fib.wat");
    std::fs::write(&p, MODULE).unwrap();
    p
}

fn run_fib(dir: &Path, extra: &[&str]) -> (String, String) {
    run_fib_with(dir, extra, &[])
}

/// [`run_fib`] with `vars` in the environment.
fn run_fib_with(dir: &Path, extra: &[&str], vars: &[(&str, &str)]) -> (String, String) {
    // fib(20) makes 21,891 calls: in tiered mode `fib` would turn hot, and
    // whether its optimised code reached the cache before exit would
    // depend on the background thread's timing (under load it did: one
    // entry more). Far above that count, the runs are deterministic.
    // Regular mode (one entry for the whole module) unless a test names
    // another: `run` defaults to tiered.
    let mode: &[&str] = match extra.iter().any(|a| a.starts_with("--mode")) {
        true => &[],
        false => &["--mode", "regular"],
    };
    let o: Output = wasabi(dir)
        .env("WASABI_TIER_UP_AFTER", "1000000000")
        .envs(vars.iter().copied())
        .args(["run", "--stats", "--invoke", "fib"])
        .args(mode)
        .args(extra)
        .arg(module(dir))
        .arg("20")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(out.trim(), "6765", "{err}");
    let cache = err
        .lines()
        .find_map(|l| l.strip_prefix("stats: cache: "))
        .unwrap_or("")
        .to_string();
    (cache, err)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir.join("cache")) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wcache"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn second_run_hits_and_settings_get_their_own_entries() {
    let dir = scratch("hit");
    assert!(run_fib(&dir, &[]).0.starts_with("miss"));
    assert!(run_fib(&dir, &[]).0.starts_with("hit"));
    assert_eq!(entries(&dir).len(), 1);
    // Code-changing settings: another entry each, then hits.
    for flags in [
        &["-O0"][..],
        &["--target-cpu", "generic"],
        &["--fuel", "1000000000"],
    ] {
        assert!(run_fib(&dir, flags).0.starts_with("miss"), "{flags:?}");
        assert!(run_fib(&dir, flags).0.starts_with("hit"), "{flags:?}");
    }
    assert_eq!(entries(&dir).len(), 4);
    // So do the developer knobs that change the code. (Regression: LLVM
    // options were left out, and a run with them loaded code compiled
    // without them.)
    for var in [
        ("WASABI_LLVM_ARGS", "-align-all-nofallthru-blocks=4"),
        ("WASABI_LLVM_PASSES", "function(instcombine)"),
        ("WASABI_LLVM_CODEGEN", "1"),
    ] {
        assert!(
            run_fib_with(&dir, &[], &[var]).0.starts_with("miss"),
            "{var:?}"
        );
        assert!(
            run_fib_with(&dir, &[], &[var]).0.starts_with("hit"),
            "{var:?}"
        );
    }
    assert_eq!(entries(&dir).len(), 7);
}

/// Lazy and tiered code is cached per function as it is compiled (and the
/// trampolines with it): the second run compiles nothing; a damaged entry
/// is deleted and the function compiled again, never run.
#[test]
fn lazy_and_tiered_code_is_cached_per_function() {
    let dir = scratch("lazy");
    // Lazy mode writes the function, the trampolines and the module's
    // description (read instead of validating again); tiered mode its
    // baseline function only: the trampolines are the optimising
    // compiler's, and the description is the module's, the same in both
    // modes, and shared.
    for (mode, new_entries) in [("lazy", 3), ("tiered", 1)] {
        let before = entries(&dir).len();
        let flags = ["--mode", mode];
        assert_eq!(
            run_fib(&dir, &flags).0,
            "0 of 1 functions loaded from the cache",
            "{mode}"
        );
        assert_eq!(entries(&dir).len(), before + new_entries, "{mode}");
        let (cache, _) = run_fib(&dir, &flags);
        assert_eq!(cache, "1 of 1 functions loaded from the cache", "{mode}");
    }
    // Damage every entry: each is refused and recompiled, the result right.
    for e in entries(&dir) {
        let mut bytes = std::fs::read(&e).unwrap();
        let n = bytes.len();
        for b in &mut bytes[n - 32..] {
            *b ^= 0x5a;
        }
        std::fs::write(&e, bytes).unwrap();
    }
    for mode in ["lazy", "tiered"] {
        let flags = ["--mode", mode];
        assert_eq!(
            run_fib(&dir, &flags).0,
            "0 of 1 functions loaded from the cache",
            "{mode}"
        );
        assert_eq!(
            run_fib(&dir, &flags).0,
            "1 of 1 functions loaded from the cache",
            "{mode}"
        );
    }
    // --no-cache: nothing read, nothing written.
    let fresh = scratch("lazy-nocache");
    assert_eq!(
        run_fib(&fresh, &["--mode", "lazy", "--no-cache"]).0,
        "0 of 1 functions loaded from the cache"
    );
    assert!(entries(&fresh).is_empty());
}

#[test]
fn damaged_and_foreign_entries_are_replaced_not_run() {
    let dir = scratch("damaged");
    run_fib(&dir, &[]);
    let [entry] = &entries(&dir)[..] else {
        panic!("one entry expected")
    };
    let good = std::fs::read(entry).unwrap();

    // Flipped bits in the code: refused, recompiled, replaced.
    let mut bad = good.clone();
    let n = bad.len();
    for b in &mut bad[n - 64..] {
        *b ^= 0xff;
    }
    std::fs::write(entry, &bad).unwrap();
    assert!(run_fib(&dir, &[]).0.starts_with("refused"));
    assert!(run_fib(&dir, &[]).0.starts_with("hit"));

    // Truncated.
    std::fs::write(entry, &good[..good.len() / 3]).unwrap();
    assert!(run_fib(&dir, &[]).0.starts_with("refused"));
    assert!(run_fib(&dir, &[]).0.starts_with("hit"));

    // An entry made for other settings (another CPU-feature set: generic)
    // placed under this module's name: foreign, refused.
    run_fib(&dir, &["--target-cpu", "generic"]);
    let other = entries(&dir)
        .into_iter()
        .find(|p| p != entry)
        .expect("the generic entry");
    std::fs::copy(&other, entry).unwrap();
    assert!(run_fib(&dir, &[]).0.starts_with("refused"));
    assert!(run_fib(&dir, &[]).0.starts_with("hit"));

    // Garbage.
    std::fs::write(entry, b"not a cache entry at all").unwrap();
    assert!(run_fib(&dir, &[]).0.starts_with("refused"));
}

#[test]
fn concurrent_processes_on_an_empty_cache_all_succeed() {
    let dir = scratch("concurrent");
    let m = module(&dir);
    let children: Vec<_> = (0..4)
        .map(|_| {
            wasabi(&dir)
                .args(["run", "--mode", "regular", "--invoke", "fib"])
                .arg(&m)
                .arg("20")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "6765");
    }
    assert_eq!(entries(&dir).len(), 1);
    assert!(run_fib(&dir, &[]).0.starts_with("hit"));
}

#[test]
fn no_cache_writes_nothing_and_cache_command_reports_and_clears() {
    let dir = scratch("nocache");
    assert_eq!(run_fib(&dir, &["--no-cache"]).0, "not used");
    assert!(entries(&dir).is_empty());
    run_fib(&dir, &[]);
    let out = |args: &[&str]| {
        let o = wasabi(&dir).arg("cache").args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(
        out(&["dir"]).trim(),
        dir.join("cache").display().to_string()
    );
    assert!(out(&["stats"]).contains("1 entries"), "{}", out(&["stats"]));
    assert!(out(&["clear"]).contains("removed 1 entries"));
    assert!(entries(&dir).is_empty());
    assert!(out(&["stats"]).contains("0 entries"));
}

#[test]
fn precompiled_modules_run_only_when_allowed_and_matching() {
    let dir = scratch("cwasm");
    let m = module(&dir);
    let cwasm = dir.join("fib.cwasm");
    let o = wasabi(&dir)
        .args(["compile", "--no-cache"])
        .arg(&m)
        .arg("-o")
        .arg(&cwasm)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = |file: &Path, extra: &[&str]| {
        let o = wasabi(&dir)
            .arg("run")
            .args(extra)
            .args(["--invoke", "fib"])
            .arg(file)
            .arg("20")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&cwasm, &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--allow-precompiled"), "{err}");
    let (code, out, err) = run(&cwasm, &["--allow-precompiled"]);
    assert_eq!((code, out.as_str()), (Some(0), "6765"), "{err}");
    // Other settings than it was made with: refused.
    let (code, _, err) = run(&cwasm, &["--allow-precompiled", "-O3"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("compiled for another"), "{err}");
    // Damaged: refused.
    let good = std::fs::read(&cwasm).unwrap();
    let cut = dir.join("cut.cwasm");
    std::fs::write(&cut, &good[..good.len() - 10]).unwrap();
    let (code, _, err) = run(&cut, &["--allow-precompiled"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("truncated"), "{err}");
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 100] ^= 0x10;
    let flipped = dir.join("flipped.cwasm");
    std::fs::write(&flipped, &bad).unwrap();
    let (code, _, err) = run(&flipped, &["--allow-precompiled"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("corrupt"), "{err}");
}
