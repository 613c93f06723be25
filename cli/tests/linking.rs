//! `wasabi run` on programs made of several modules
//! (`tests/programs/link/`, rebuilt by its `build.sh`): linked by name
//! (`--preload`), by relative path, in a cycle, split by binaryen's
//! wasm-split (by function list and profile-guided), split with the
//! Dioxus naming, and a side module loaded by dlopen; each compared with its
//! expected output in regular and lazy mode, plus the error paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/link")
}

const MODES: &[&str] = &["regular", "lazy"];

/// Runs `wasabi run --mode MODE --no-cache ARGS` in the corpus directory.
fn run(mode: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasabi"))
        .current_dir(corpus())
        .args(["run", "--no-cache", "--mode", mode])
        .args(args)
        .output()
        .expect("wasabi runs")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(corpus().join("expected").join(name)).expect("expected output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_runs(mode: &str, args: &[&str], want: &str) -> Output {
    let o = run(mode, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{mode} {args:?}: stderr: {}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), expected(want), "{mode} {args:?}");
    o
}

#[test]
fn two_modules_linked_by_name() {
    for mode in MODES {
        assert_runs(
            mode,
            &["--preload", "math=byname/math.wasm", "byname/app.wasm"],
            "byname.out",
        );
    }
}

#[test]
fn an_import_by_relative_path_loads_that_file() {
    for mode in MODES {
        let o = run(mode, &["--stats", "byname/app_path.wasm"]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("lib/counter.wasm (path import): loaded"),
            "{err}"
        );
    }
}

#[test]
fn a_cyclic_pair_links_and_calls_both_ways() {
    for mode in MODES {
        assert_runs(
            mode,
            &["--preload", "runtime=cycle/runtime.wasm", "cycle/doc.wasm"],
            "cycle.out",
        );
    }
}

#[test]
fn a_binaryen_split_program_loads_its_secondary_on_first_call_only() {
    for mode in MODES {
        let o = assert_runs(mode, &["--stats", "split/app.wasm"], "split_noargs.out");
        let err = stderr(&o);
        assert!(
            err.contains("app.deferred.wasm (secondary): never loaded"),
            "{mode}: {err}"
        );
        let o = assert_runs(
            mode,
            &["--stats", "split/app.wasm", "alpha", "beta"],
            "split_args.out",
        );
        let err = stderr(&o);
        assert!(
            err.contains("app.deferred.wasm (secondary): loaded"),
            "{mode}: {err}"
        );
    }
}

#[test]
fn a_profile_guided_split_defers_what_the_profiled_run_did_not_call() {
    for mode in MODES {
        let o = assert_runs(mode, &["--stats", "pgo/app.wasm"], "split_noargs.out");
        let err = stderr(&o);
        assert!(
            err.contains("pgo/app.deferred.wasm (secondary): never loaded"),
            "{mode}: {err}"
        );
        let o = assert_runs(
            mode,
            &["--stats", "pgo/app.wasm", "alpha", "beta"],
            "split_args.out",
        );
        let err = stderr(&o);
        let line = err
            .lines()
            .find(|l| l.contains("pgo/app.deferred.wasm (secondary): loaded"))
            .unwrap_or_else(|| panic!("{mode}: {err}"));
        // `--stats` counts: lazily, only what this run called is compiled.
        let counts = line.rsplit(": ").next().unwrap();
        let (compiled, total) = counts.split_once(" / ").unwrap();
        let (compiled, total): (u32, u32) = (compiled.parse().unwrap(), total.parse().unwrap());
        assert!(total > 2, "{line}");
        if *mode == "lazy" {
            assert!(compiled < total, "{line}");
        } else {
            assert_eq!(compiled, total, "{line}");
        }
    }
}

#[test]
fn the_profile_is_gathered_by_a_driver_that_imports_the_program_by_path() {
    // The driver imports pgo/instrumented.wasm by relative path, runs it
    // and writes its wasm-split profile into the preopened directory.
    let dir = std::env::temp_dir().join(format!("wasabi-pgo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["instrumented.wasm", "profile_driver.wasm"] {
        std::fs::copy(corpus().join("pgo").join(f), dir.join(f)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_wasabi"))
        .current_dir(&dir)
        .args(["run", "--no-cache", "--dir", ".", "profile_driver.wasm"])
        .output()
        .unwrap();
    let profile = std::fs::read(dir.join("app.prof"));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), expected("split_noargs.out"));
    assert_eq!(
        profile.expect("the driver wrote app.prof"),
        std::fs::read(corpus().join("pgo/app.prof")).unwrap()
    );
}

#[test]
fn a_dioxus_split_program_loads_only_the_parts_it_calls() {
    for mode in MODES {
        let o = assert_runs(mode, &["--stats", "dioxus/main.wasm"], "dioxus.out");
        let err = stderr(&o);
        for (part, state) in [
            ("module_1_feature.wasm (split module)", "loaded"),
            ("chunk_0.wasm (split chunk)", "loaded"),
            ("module_settings.wasm (split module)", "never loaded"),
            ("chunk_1.wasm (split chunk)", "never loaded"),
        ] {
            assert!(
                err.contains(&format!("{part}: {state}")),
                "{mode}: {part} should be {state}: {err}"
            );
        }
        if *mode == "lazy" {
            // The feature module has one function, called; compiled lazily.
            assert!(
                err.contains(
                    "module_1_feature.wasm (split module): loaded, functions compiled: 1 / 1"
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn a_side_module_is_dlopened_into_the_main_modules_memory_and_table() {
    for mode in MODES {
        let o = assert_runs(
            mode,
            &["--stats", "--invoke", "run", "dylink/main.wasm"],
            "dylink.out",
        );
        let err = stderr(&o);
        assert!(
            err.contains("dylink/side.wasm (side module): loaded"),
            "{mode}: {err}"
        );
    }
}

#[test]
fn a_guest_pointer_out_of_bounds_in_dlopen_is_a_trap() {
    let o = run("regular", &["errors/dlopen_oob.wasm"]);
    assert_eq!(o.status.code(), Some(134));
    assert!(
        stderr(&o).contains("a string at address 70000 runs past the end of memory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_side_module_cannot_be_preloaded() {
    let o = run(
        "regular",
        &["--preload", "s=dylink/side.wasm", "byname/app.wasm"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a side module"), "{}", stderr(&o));
}

#[test]
fn a_path_leaving_the_allowed_directories_is_refused() {
    let o = run("regular", &["byname/escape.wasm"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("outside the directories"), "{err}");
    assert!(err.contains("../escape/outside.wasm"), "{err}");
    // Preloading the file's directory allows it.
    let o = run(
        "regular",
        &[
            "--preload",
            "x=escape/outside.wasm",
            "--invoke",
            "f",
            "byname/escape.wasm",
        ],
    );
    assert!(
        !stderr(&o).contains("outside the directories"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_module_file_is_a_clear_error() {
    let o = run("regular", &["errors/missing_file.wasm"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("./not_there.wasm"), "{err}");
    assert!(err.contains("cannot be read"), "{err}");

    let o = run(
        "regular",
        &["--preload", "m=errors/nope.wasm", "byname/app.wasm"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("--preload m=errors/nope.wasm"), "{err}");

    let o = run(
        "regular",
        &["--preload", "no-equals-sign", "byname/app.wasm"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected NAME=PATH"), "{}", stderr(&o));
}

#[test]
fn a_preload_that_fails_to_link_names_its_import() {
    let o = run(
        "regular",
        &[
            "--preload",
            "bad=errors/bad_preload.wasm",
            "errors/uses_bad.wasm",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("nowhere::thing"), "{err}");
}

#[test]
fn a_split_program_without_its_secondary_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("wasabi-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(corpus().join("split/app.wasm"), dir.join("app.wasm")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasabi"))
        .args(["run", "--no-cache"])
        .arg(dir.join("app.wasm"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("secondary module is missing"), "{err}");
    assert!(err.contains("app.deferred.wasm"), "{err}");
}
