//! What the `wasabi` command prints and how it exits, for inputs that try
//! to confuse it: names that would forge output lines or drive the
//! terminal, values that are host addresses, and every shape of `_start`,
//! which `wasabi run` and AOT executables must treat alike.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wasabi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasabi"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasabi-output-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn names_from_the_module_are_escaped_when_printed() {
    let dir = scratch("names");
    let m = write(
        &dir,
        "evil.wat",
        r#"(module (func $"x\nwasabi: forged line \1b[31mred" (export "f") unreachable))"#,
    );
    let o = wasabi()
        .args(["run", "--invoke", "f"])
        .arg(&m)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(134), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one line, no forged second line: {err:?}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "no raw escape reaches the terminal: {err:?}"
    );
    assert!(
        err.contains(r"x\nwasabi: forged line \u{1b}[31mred"),
        "{err:?}"
    );
}

#[test]
fn a_function_reference_result_prints_no_host_address() {
    let dir = scratch("funcref");
    let m = write(
        &dir,
        "refs.wat",
        r#"(module (func $f (export "f") (result funcref) ref.func $f)
                   (func (export "null") (result funcref) ref.null func))"#,
    );
    let o = wasabi()
        .args(["run", "--invoke", "f"])
        .arg(&m)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.trim(), "function:funcref");
    let o = wasabi()
        .args(["run", "--invoke", "null"])
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(text(&o).0.trim(), "null:funcref");
}

/// `wasabi run` and the AOT executable of the same module: same status,
/// and the same message.
/// `wasabi aot -O0 m -o exe`, which must succeed.
fn aot_o0(m: &Path, exe: &Path) {
    let built = wasabi()
        .args(["aot", "-O0"])
        .arg(m)
        .arg("-o")
        .arg(exe)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built).1);
}

fn run_both(dir: &Path, name: &str, wat: &str) -> [(Option<i32>, String); 2] {
    let m = write(dir, &format!("{name}.wat"), wat);
    let run = wasabi().arg("run").arg(&m).output().unwrap();
    let exe = dir.join(name);
    aot_o0(&m, &exe);
    let aot = Command::new(&exe).output().unwrap();
    [
        (run.status.code(), text(&run).1),
        (aot.status.code(), text(&aot).1),
    ]
}

#[test]
fn aot_executables_exit_as_wasabi_run_for_every_start_shape() {
    let dir = scratch("start");
    let cases = [
        ("returns", r#"(module (func (export "_start")))"#, 0, ""),
        (
            "exits",
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
                           (func (export "_start") (call $e (i32.const 3))))"#,
            3,
            "",
        ),
        (
            "traps",
            r#"(module (func (export "_start") unreachable))"#,
            134,
            "unreachable",
        ),
        (
            "typed",
            r#"(module (func (export "_start") (param i32)))"#,
            1,
            "must take and return nothing",
        ),
        (
            "global",
            r#"(module (global (export "_start") i32 (i32.const 0)))"#,
            1,
            "is a global, not a function",
        ),
        ("none", r#"(module (func (export "main")))"#, 0, ""),
    ];
    for (name, wat, status, message) in cases {
        let [run, aot] = run_both(&dir, name, wat);
        assert_eq!(run.0, Some(status), "{name}: wasabi run: {}", run.1);
        assert_eq!(aot.0, Some(status), "{name}: aot: {}", aot.1);
        assert!(run.1.contains(message), "{name}: {}", run.1);
        assert!(aot.1.contains(message), "{name}: {}", aot.1);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression: the module description inside an AOT image listed the
/// name section's names in hash order, so two builds of one module
/// differed (and so did their build ids).
#[test]
fn aot_builds_of_one_module_are_byte_identical() {
    let dir = scratch("reproducible");
    let funcs: String = (0..48)
        .map(|i| format!("(func $f{i} (export \"f{i}\") (result i32) i32.const {i})\n"))
        .collect();
    let m = write(
        &dir,
        "named.wat",
        &format!("(module {funcs} (func (export \"_start\")))"),
    );
    let build = |out: &str| {
        let exe = dir.join(out);
        aot_o0(&m, &exe);
        std::fs::read(exe).unwrap()
    };
    let (a, b) = (build("a"), build("b"));
    assert_eq!(a.len(), b.len());
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first, None, "the two builds differ from byte {first:?}");
}

#[test]
fn native_libraries_run_only_when_asked_and_only_if_they_are_ours() {
    let dir = scratch("precompiled");
    // A real AOT library, under a name that hides what it is.
    let m = write(
        &dir,
        "fib.wat",
        r#"(module (func (export "seven") (result i32) i32.const 7))"#,
    );
    let so = dir.join("looks-like.wasm");
    let built = wasabi()
        .args(["aot", "--shared", "-O0"])
        .arg(&m)
        .arg("-o")
        .arg(&so)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built).1);
    let o = wasabi()
        .args(["run", "--invoke", "seven"])
        .arg(&so)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--allow-precompiled"), "{err}");
    let o = wasabi()
        .args(["run", "--allow-precompiled", "--invoke", "seven"])
        .arg(&so)
        .output()
        .unwrap();
    assert_eq!(text(&o).0.trim(), "7", "{}", text(&o).1);

    // A foreign shared library whose constructor would leave a mark: it is
    // refused before any of its code runs, even with the flag.
    let mark = dir.join("constructor-ran");
    let c = write(
        &dir,
        "evil.c",
        &format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void f(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\n",
            mark.display()
        ),
    );
    let evil = dir.join("evil.wasm");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&evil)
        .arg(&c)
        .status()
        .unwrap();
    assert!(cc.success());
    let o = wasabi()
        .args(["run", "--allow-precompiled"])
        .arg(&evil)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a wasabi AOT library"), "{err}");
    assert!(!mark.exists(), "the library's constructor ran");
    std::fs::remove_dir_all(&dir).ok();
}

/// `wasabi run` offers Wasabi's own ABI beside WASI: the corpus program
/// that loads a plugin at run time prints what its native build prints.
#[test]
fn run_offers_wasabi_abi_to_a_program_loading_a_plugin() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs");
    let dir = scratch("abi");
    std::fs::copy(
        corpus.join("wasm/abi_plugin.wasm"),
        dir.join("abi_plugin.wasm"),
    )
    .unwrap();
    let o = wasabi()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::/plugins", dir.display()))
        .arg(corpus.join("wasm/abi_host.wasm"))
        .arg("/plugins")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stderr: {err}");
    let want = std::fs::read_to_string(corpus.join("expected/abi_host.stdout")).unwrap();
    assert_eq!(out, want);
}

/// `wasabi aot --bundle` precompiles a plugin into the executable, which
/// has no compiler: with it the program loads the plugin; without it the
/// load fails (an error code the program reports), and nothing crashes.
#[test]
fn aot_executables_load_only_bundled_plugins() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs");
    let dir = scratch("aot-bundle");
    let plugin = corpus.join("wasm/abi_plugin.wasm");
    std::fs::copy(&plugin, dir.join("abi_plugin.wasm")).unwrap();
    let want = std::fs::read_to_string(corpus.join("expected/abi_host.stdout")).unwrap();
    for bundled in [true, false] {
        let exe = dir.join(if bundled { "with" } else { "without" });
        let mut aot = wasabi();
        aot.arg("aot")
            .arg(corpus.join("wasm/abi_host.wasm"))
            .arg("-o")
            .arg(&exe)
            .args(["-O", "1"]);
        if bundled {
            aot.arg("--bundle").arg(&plugin);
        }
        let o = aot.output().unwrap();
        assert!(o.status.success(), "aot: {}", text(&o).1);
        let o = Command::new(&exe)
            .arg("--dir")
            .arg(format!("{}::/plugins", dir.display()))
            .arg("--")
            .arg("/plugins")
            .output()
            .unwrap();
        let (out, err) = text(&o);
        if bundled {
            assert_eq!(o.status.code(), Some(0), "stderr: {err}");
            assert_eq!(out, want);
        } else {
            assert_eq!(o.status.code(), Some(1), "stderr: {err}");
            assert_eq!(out, "load: failed\n");
        }
    }
}
