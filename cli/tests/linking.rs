//! `wasabi run` on programs made of several modules
//! (`tests/programs/link/`, rebuilt by its `build.sh`): linked by name
//! (`--preload`), by relative path, in a cycle, split by binaryen's
//! wasm-split (by function list and profile-guided), split with the
//! Dioxus naming, and a side module loaded by dlopen; each compared with its
//! expected output in regular, lazy and tiered mode and as an AOT
//! executable (`wasabi aot`), plus the error paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/link")
}

const MODES: &[&str] = &["regular", "lazy", "tiered"];

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
        if *mode == "regular" {
            assert_eq!(compiled, total, "{line}");
        } else {
            assert!(compiled < total, "{line}");
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

/// The `--stats` lines of the Dioxus corpus program run without
/// arguments: the parts it calls are loaded, the others never.
fn assert_dioxus_parts(mode: &str, err: &str) {
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
}

#[test]
fn a_dioxus_split_program_loads_only_the_parts_it_calls() {
    for mode in MODES {
        let o = assert_runs(mode, &["--stats", "dioxus/main.wasm"], "dioxus.out");
        let err = stderr(&o);
        assert_dioxus_parts(mode, &err);
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
fn an_emscripten_side_module_is_dlopened_the_same_way() {
    for mode in MODES {
        let o = assert_runs(
            mode,
            &[
                "--env",
                "SIDE=side_emcc.wasm",
                "--stats",
                "--invoke",
                "run",
                "dylink/main.wasm",
            ],
            "dylink.out",
        );
        let err = stderr(&o);
        assert!(
            err.contains("dylink/side_emcc.wasm (side module): loaded"),
            "{mode}: {err}"
        );
    }
}

#[test]
fn a_side_module_that_needs_another_loads_it_first_and_once() {
    for mode in MODES {
        let o = assert_runs(
            mode,
            &[
                "--env",
                "SIDE2=side2.wasm",
                "--stats",
                "--invoke",
                "run",
                "dylink/main.wasm",
            ],
            "dylink_needed.out",
        );
        let err = stderr(&o);
        for part in ["dylink/side.wasm", "dylink/side2.wasm"] {
            assert_eq!(
                err.matches(&format!("{part} (side module): loaded"))
                    .count(),
                1,
                "{mode}: {err}"
            );
        }
    }
}

#[test]
fn side_modules_that_need_each_other_fail_to_open_instead_of_recursing() {
    let o = run("regular", &["--invoke", "open", "errors/dlopen_cycle.wasm"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0\n");
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
fn a_trap_in_a_side_modules_constructor_is_not_swallowed_by_dlopen() {
    let o = run("regular", &["errors/dlopen_trap.wasm"]);
    assert_eq!(o.status.code(), Some(134), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unreachable, in function trapping_side::__wasm_call_ctors"),
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

#[test]
fn a_secondary_module_that_is_a_symlink_out_of_the_directory_is_refused() {
    let base = std::env::temp_dir().join(format!("wasabi-link-sym-{}", std::process::id()));
    let (inside, outside) = (base.join("app"), base.join("elsewhere"));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(corpus().join("split/app.wasm"), inside.join("app.wasm")).unwrap();
    std::fs::copy(
        corpus().join("split/app.deferred.wasm"),
        outside.join("app.deferred.wasm"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.join("app.deferred.wasm"),
        inside.join("app.deferred.wasm"),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_wasabi"))
        .args(["run", "--no-cache"])
        .arg(inside.join("app.wasm"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&base).ok();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("leads outside"), "{}", stderr(&o));
}

// ---- AOT: `wasabi aot` of a program of several modules ----------------------

/// A scratch directory holding a copy of corpus directories, removed on
/// drop: AOT tests build from the copy, then delete its module files, so a
/// test passes only if the executable needs none of them.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str, dirs: &[&str]) -> Scratch {
        let base =
            std::env::temp_dir().join(format!("wasabi-link-aot-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        for d in dirs {
            copy_dir(&corpus().join(d), &base.join(d));
        }
        Scratch(base)
    }

    /// `wasabi aot ARGS -o NAME` in the scratch directory; the path of the
    /// executable.
    fn aot(&self, name: &str, args: &[&str]) -> PathBuf {
        let exe = self.0.join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_wasabi"))
            .current_dir(&self.0)
            .args(["aot", "-O1"])
            .args(args)
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("wasabi runs");
        assert_eq!(o.status.code(), Some(0), "aot {args:?}: {}", stderr(&o));
        exe
    }

    /// Removes every module file of the copy.
    fn remove_modules(&self) {
        fn walk(d: &Path) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p);
                } else if p.extension().is_some_and(|x| x == "wasm" || x == "wat") {
                    std::fs::remove_file(&p).unwrap();
                }
            }
        }
        walk(&self.0);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs an AOT executable with `args` (in a directory with no modules).
fn run_exe(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .current_dir(exe.parent().unwrap())
        .args(args)
        .output()
        .expect("the executable runs")
}

fn assert_exe_runs(exe: &Path, args: &[&str], want: &str) -> Output {
    let o = run_exe(exe, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    assert_eq!(stdout(&o), expected(want), "{args:?}");
    o
}

#[test]
fn aot_programs_linked_by_name_by_path_and_in_a_cycle_need_no_module_files() {
    let s = Scratch::new("byname", &["byname", "cycle"]);
    let byname = s.aot(
        "byname_exe",
        &["--preload", "math=byname/math.wasm", "byname/app.wasm"],
    );
    let path = s.aot("path_exe", &["byname/app_path.wasm"]);
    let cycle = s.aot(
        "cycle_exe",
        &["--preload", "runtime=cycle/runtime.wasm", "cycle/doc.wasm"],
    );
    s.remove_modules();
    let o = assert_exe_runs(&byname, &["--wasabi-stats"], "byname.out");
    assert!(
        stderr(&o).contains("/math.wasm (preload): loaded"),
        "{}",
        stderr(&o)
    );
    let o = run_exe(&path, &["--wasabi-stats"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lib/counter.wasm (path import): loaded"),
        "{}",
        stderr(&o)
    );
    assert_exe_runs(&cycle, &[], "cycle.out");
}

#[test]
fn aot_split_programs_set_up_a_part_on_the_first_call_of_its_split_point() {
    let s = Scratch::new("split", &["split", "pgo", "dioxus"]);
    let split = s.aot("split_exe", &["split/app.wasm"]);
    let pgo = s.aot("pgo_exe", &["pgo/app.wasm"]);
    let dioxus = s.aot("dioxus_exe", &["dioxus/main.wasm"]);
    s.remove_modules();
    for exe in [&split, &pgo] {
        let o = assert_exe_runs(exe, &["--wasabi-stats"], "split_noargs.out");
        assert!(
            stderr(&o).contains("app.deferred.wasm (secondary): never loaded"),
            "{}",
            stderr(&o)
        );
        let o = assert_exe_runs(exe, &["--wasabi-stats", "alpha", "beta"], "split_args.out");
        assert!(
            stderr(&o).contains("app.deferred.wasm (secondary): loaded"),
            "{}",
            stderr(&o)
        );
    }
    let o = assert_exe_runs(&dioxus, &["--wasabi-stats"], "dioxus.out");
    assert_dioxus_parts("aot", &stderr(&o));
}

#[test]
fn aot_side_modules_given_to_bundle_are_dlopened_from_the_executable() {
    let s = Scratch::new("dylink", &["dylink"]);
    let with = s.aot(
        "dylink_exe",
        &[
            "dylink/main.wasm",
            "--bundle",
            "dylink/side.wasm",
            "--bundle",
            "dylink/side_emcc.wasm",
        ],
    );
    let needs = s.aot(
        "dylink_needs",
        &["dylink/main.wasm", "--bundle", "dylink/side2.wasm"],
    );
    let without = s.aot("dylink_bare", &["dylink/main.wasm"]);
    s.remove_modules();
    let o = assert_exe_runs(&with, &["--wasabi-stats", "--invoke", "run"], "dylink.out");
    assert!(
        stderr(&o).contains("/side.wasm (side module): loaded"),
        "{}",
        stderr(&o)
    );
    assert_exe_runs(
        &with,
        &["--env", "SIDE=side_emcc.wasm", "--invoke", "run"],
        "dylink.out",
    );
    // side2.wasm needs side.wasm: bundling it bundles what it needs.
    let o = assert_exe_runs(
        &needs,
        &[
            "--env",
            "SIDE2=side2.wasm",
            "--wasabi-stats",
            "--invoke",
            "run",
        ],
        "dylink_needed.out",
    );
    assert!(
        stderr(&o).contains("/side.wasm (side module): loaded"),
        "{}",
        stderr(&o)
    );
    // Not bundled: dlopen fails (returns 0) instead of reading a file.
    let o = run_exe(&without, &["--invoke", "run"]);
    assert!(stdout(&o).contains("dlopen failed"), "{}", stdout(&o));
}

#[test]
fn aot_of_a_program_with_a_missing_part_fails_at_build_time() {
    let s = Scratch::new("missing", &["split", "errors", "byname", "escape"]);
    std::fs::remove_file(s.0.join("split/app.deferred.wasm")).unwrap();
    for (args, want) in [
        (&["split/app.wasm"][..], "secondary module is missing"),
        (&["errors/missing_file.wasm"][..], "cannot be read"),
        (&["byname/escape.wasm"][..], "outside the directories"),
        (
            &["--preload", "m=errors/nope.wasm", "byname/app.wasm"][..],
            "errors/nope.wasm",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_wasabi"))
            .current_dir(&s.0)
            .args(["aot", "-O1"])
            .args(args)
            .args(["-o", "never"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!s.0.join("never").exists());
    }
}
