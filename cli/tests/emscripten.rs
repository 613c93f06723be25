//! Emscripten output (`emcc app.c -o app.js`, the `.wasm` alone) run by the
//! `wasabi` binary: the corpus of `tests/programs/emcc/` (see its
//! `cases.txt` and `build.sh`) in regular, lazy, tiered and AOT modes, each
//! compared byte for byte with what its native build printed; and small
//! hand-written modules for the error paths (JavaScript imports, a trap or
//! `exit` through `invoke_*`, bad guest pointers and paths outside the
//! sandbox in syscalls).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The time zone every run gets (a POSIX rule: no tzdata needed).
const TZ: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/programs/emcc")
}

fn wasabi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasabi"));
    c.env("TZ", TZ).env("WASABI_CACHE_DIR", scratch("cache"));
    c
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasabi-emcc-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Case {
    name: String,
    args: Vec<String>,
    env: Vec<String>,
    stdin: Option<String>,
    dir: bool,
    /// `None`: must trap (status 134).
    status: Option<i32>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus().join("cases.txt")).unwrap();
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 6, "bad line in cases.txt: {l}");
            Case {
                name: f[0].into(),
                args: words(f[1]),
                env: words(f[2]),
                stdin: (f[3] != "-").then(|| f[3].to_string()),
                dir: f[4] == "1",
                status: (f[5] != "trap").then(|| f[5].parse().unwrap()),
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Regular,
    Lazy,
    Tiered,
    Aot,
}

fn run_with_stdin(mut cmd: Command, stdin: Option<&Path>) -> Output {
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        None => Stdio::null(),
    });
    cmd.output().unwrap()
}

/// Runs one case in one mode; an error describes the difference.
fn run_case(case: &Case, mode: Mode, exes: &Path) -> Result<(), String> {
    let wasm = corpus().join("wasm").join(format!("{}.wasm", case.name));
    let dir = case.dir.then(|| {
        let d = scratch(&format!("{}-{mode:?}", case.name));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let mut opts: Vec<String> = Vec::new();
    if let Some(d) = &dir {
        opts.push(format!("--dir={}::/sandbox", d.display()));
    }
    for kv in &case.env {
        opts.push(format!("--env={kv}"));
    }
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{dir}", "/sandbox"))
        .collect();
    let cmd = match mode {
        Mode::Regular | Mode::Lazy | Mode::Tiered => {
            let mut c = wasabi();
            c.arg("run");
            match mode {
                Mode::Lazy => {
                    c.arg("--mode=lazy");
                }
                Mode::Tiered => {
                    c.arg("--mode=tiered");
                }
                _ => {}
            }
            // argv[0] is the file stem, as natively (the corpus prints none).
            c.args(&opts).arg(&wasm).arg("--").args(&args);
            c
        }
        Mode::Aot => {
            let exe = exes.join(&case.name);
            if !exe.exists() {
                let out = wasabi()
                    .args(["aot", "-O1"])
                    .arg(&wasm)
                    .arg("-o")
                    .arg(&exe)
                    .output()
                    .unwrap();
                if !out.status.success() {
                    return Err(format!(
                        "wasabi aot failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            let mut c = Command::new(&exe);
            c.env("TZ", TZ).args(&opts).arg("--").args(&args);
            c
        }
    };
    let stdin = case.stdin.as_ref().map(|s| corpus().join("inputs").join(s));
    let out = run_with_stdin(cmd, stdin.as_deref());
    if let Some(d) = &dir {
        std::fs::remove_dir_all(d).ok();
    }
    let want = std::fs::read(
        corpus()
            .join("expected")
            .join(format!("{}.stdout", case.name)),
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.stdout != want {
        return Err(format!(
            "stdout differs\n--- want\n{}\n--- got\n{}\n--- stderr\n{stderr}",
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let want_status = case.status.unwrap_or(134);
    if out.status.code() != Some(want_status) {
        return Err(format!(
            "exit status {:?}, want {want_status}\n--- stderr\n{stderr}",
            out.status
        ));
    }
    Ok(())
}

fn corpus_in(mode: Mode) {
    let exes = scratch(&format!("exes-{mode:?}"));
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(e) = run_case(&case, mode, &exes) {
            failures.push(format!("{} ({mode:?}): {e}", case.name));
        }
    }
    std::fs::remove_dir_all(&exes).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_regular() {
    corpus_in(Mode::Regular);
}

#[test]
fn corpus_lazy() {
    corpus_in(Mode::Lazy);
}

#[test]
fn corpus_tiered() {
    corpus_in(Mode::Tiered);
}

#[test]
fn corpus_aot_executables() {
    corpus_in(Mode::Aot);
}

/// Runs a `.wat` module with `wasabi run` and extra options (those after
/// a `--` are the program's arguments).
fn run_wat(tag: &str, wat: &str, opts: &[&str]) -> Output {
    let split = opts.iter().position(|o| *o == "--").unwrap_or(opts.len());
    let (opts, args) = opts.split_at(split);
    let dir = scratch(tag);
    let path = dir.join(format!("{tag}.wat"));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(wat.as_bytes())
        .unwrap();
    let out = wasabi()
        .arg("run")
        .args(opts)
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    out
}

/// What every emscripten-like test module has: memory, table, the
/// exports `invoke_*` needs, and a `setTempRet0` import (for detection).
const PRELUDE: &str = r#"
  (import "env" "setTempRet0" (func $setTempRet0 (param i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 8 funcref)
  (global $threw (mut i32) (i32.const 0))
  (global $sp (mut i32) (i32.const 4096))
  (func (export "setThrew") (param i32 i32)
    (if (i32.eqz (global.get $threw)) (then (global.set $threw (local.get 0)))))
  (func (export "stackSave") (result i32) (global.get $sp))
  (func (export "stackRestore") (param i32) (global.set $sp (local.get 0)))
  (func (export "stackAlloc") (param i32) (result i32)
    (global.set $sp (i32.sub (global.get $sp) (local.get 0))) (global.get $sp))
"#;

fn module(imports: &str, body: &str) -> String {
    format!("(module {imports} {PRELUDE} {body})")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn javascript_imports_are_named_or_trap_when_asked() {
    let wat = module(
        r#"(import "env" "emscripten_asm_const_int" (func $asm (param i32 i32 i32) (result i32)))
           (import "env" "my_js_function" (func $js (param i32)))"#,
        r#"(func (export "main") (param i32 i32) (result i32)
             (if (i32.eq (local.get 0) (i32.const 1)) (then (return (i32.const 3))))
             (call $js (i32.const 1)) (i32.const 0))"#,
    );
    let out = run_wat("jsimports", &wat, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("env::emscripten_asm_const_int"), "{err}");
    assert!(err.contains("EM_ASM"), "{err}");
    assert!(err.contains("env::my_js_function"), "{err}");
    assert!(err.contains("--trap-unknown-imports"), "{err}");
    assert!(err.contains("emscripten host ABI"), "{err}");
    // With the option it links; argc is 1, so main returns 3 without
    // calling them.
    let out = run_wat("jsimports-ok", &wat, &["--trap-unknown-imports"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // A call traps, naming the import.
    let out = run_wat(
        "jsimports-trap",
        &wat,
        &["--trap-unknown-imports", "--", "x"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(134), "{err}");
    assert!(err.contains("called `env::my_js_function`"), "{err}");
}

#[test]
fn traps_and_exit_pass_through_invoke_but_longjmp_is_caught() {
    let imports = r#"
        (import "env" "invoke_vi" (func $invoke_vi (param i32 i32)))
        (import "env" "_emscripten_throw_longjmp" (func $throw))
        (import "env" "exit" (func $exit (param i32)))
        (import "env" "invoke_iiii" (func $invoke_iiii (param i32 i32 i32 i32) (result i32)))
        (import "env" "emscripten_memcpy_big" (func $memcpy (param i32 i32 i32) (result i32)))"#;
    let body = r#"
        (elem (i32.const 1) $trapper $jumper $exiter $memcpy)
        (data (i32.const 200) "wasm")
        (func $trapper (param i32) unreachable)
        (func $jumper (param i32) (call $throw))
        (func $exiter (param i32) (call $exit (local.get 0)))
        (func (export "main") (param i32 i32) (result i32) (local $sp i32)
          (local.set $sp (global.get $sp))
          ;; a longjmp below invoke: caught, __THREW__ set to 1
          (call $invoke_vi (i32.const 2) (i32.const 0))
          (if (i32.ne (global.get $threw) (i32.const 1)) (then (return (i32.const 99))))
          ;; the stack pointer was restored
          (if (i32.ne (global.get $sp) (local.get $sp)) (then (return (i32.const 98))))
          (global.set $threw (i32.const 0))
          ;; an import called through the table (no calling instance) still
          ;; reaches the program's memory
          (if (i32.ne (call $invoke_iiii (i32.const 4) (i32.const 100) (i32.const 200) (i32.const 4))
                      (i32.const 100)) (then (return (i32.const 97))))
          (if (i32.ne (i32.load (i32.const 100)) (i32.load (i32.const 200))) (then (return (i32.const 96))))
          (if (i32.eq (local.get 0) (i32.const 2)) (then (call $invoke_vi (i32.const 3) (i32.const 9))))
          (if (i32.eq (local.get 0) (i32.const 3)) (then (call $invoke_vi (i32.const 1) (i32.const 0))))
          (if (i32.eq (local.get 0) (i32.const 4)) (then (call $invoke_vi (i32.const 9) (i32.const 0))))
          (i32.const 0))"#;
    let wat = module(imports, body);
    let out = run_wat("invoke-longjmp", &wat, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_wat("invoke-exit", &wat, &["--", "a"]);
    assert_eq!(
        out.status.code(),
        Some(9),
        "exit passes through: {}",
        stderr(&out)
    );
    let out = run_wat("invoke-trap", &wat, &["--", "a", "b"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(134), "{err}");
    assert!(
        err.contains("unreachable"),
        "a real trap passes through: {err}"
    );
    let out = run_wat("invoke-oob", &wat, &["--", "a", "b", "c"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(134), "{err}");
    assert!(err.contains("out of bounds"), "{err}");
}

#[test]
fn syscalls_check_guest_pointers_and_the_sandbox() {
    let imports = r#"
        (import "env" "__syscall_open" (func $open (param i32 i32 i32) (result i32)))
        (import "env" "__syscall_getcwd" (func $getcwd (param i32 i32) (result i32)))
        (import "env" "__syscall_fstat64" (func $fstat (param i32 i32) (result i32)))
        (import "env" "__syscall_stat64" (func $stat (param i32 i32) (result i32)))
        (import "env" "__syscall_chdir" (func $chdir (param i32) (result i32)))
        (import "env" "__syscall_made_up" (func $made_up (param i32) (result i32)))
        (import "env" "emscripten_memcpy_big" (func $memcpy (param i32 i32 i32) (result i32)))"#;
    let body = r#"
        (data (i32.const 100) "/etc/passwd\00")
        (data (i32.const 200) "/sandbox/../etc/passwd\00")
        (data (i32.const 300) "/sandbox\00")
        (data (i32.const 400) "..\00")
        (func (export "main") (param i32 i32) (result i32)
          ;; each check returns its number when it fails
          ;; EFAULT (21) for pointers outside memory
          (if (i32.ne (call $open (i32.const -16) (i32.const 0) (i32.const 0)) (i32.const -21)) (then (return (i32.const 1))))
          (if (i32.ne (call $getcwd (i32.const -16) (i32.const 100)) (i32.const -21)) (then (return (i32.const 2))))
          (if (i32.ne (call $fstat (i32.const 1) (i32.const 65500)) (i32.const -21)) (then (return (i32.const 3))))
          (if (i32.ne (call $stat (i32.const 300) (i32.const -8)) (i32.const -21)) (then (return (i32.const 4))))
          ;; outside every preopen: ENOENT (44)
          (if (i32.ne (call $open (i32.const 100) (i32.const 0) (i32.const 0)) (i32.const -44)) (then (return (i32.const 5))))
          (if (i32.ne (call $open (i32.const 200) (i32.const 0) (i32.const 0)) (i32.const -44)) (then (return (i32.const 6))))
          ;; chdir into the sandbox; `..` from there is outside it
          (if (i32.ne (call $chdir (i32.const 300)) (i32.const 0)) (then (return (i32.const 7))))
          (if (i32.ne (call $stat (i32.const 400) (i32.const 1000)) (i32.const -44)) (then (return (i32.const 8))))
          ;; an unknown syscall: ENOSYS (52)
          (if (i32.ne (call $made_up (i32.const 0)) (i32.const -52)) (then (return (i32.const 9))))
          (if (i32.eq (local.get 0) (i32.const 2))
            (then (drop (call $memcpy (i32.const 0) (i32.const 65000) (i32.const 1000)))))
          (i32.const 0))"#;
    let wat = module(imports, body);
    let dir = scratch("sandbox");
    let dir_opt = format!("--dir={}::/sandbox", dir.display());
    let out = run_wat("syscalls", &wat, &[&dir_opt]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_wat("memcpy-oob", &wat, &[&dir_opt, "--", "x"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(134), "{err}");
    assert!(
        err.contains("emscripten_memcpy_big: guest pointer out of bounds"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn abi_can_be_forced_and_a_wrong_choice_is_explained() {
    let wat = module(
        "",
        r#"(func (export "main") (param i32 i32) (result i32) (local.get 0))"#,
    );
    // Detected as Emscripten: main runs with argc = 1 + 2 arguments.
    let out = run_wat("force-auto", &wat, &["--", "a", "b"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // A link failure says which ABI was chosen and why.
    let plain =
        r#"(module (import "env" "setTempRet0" (func (param i32))) (func (export "_start")))"#;
    let out = run_wat("wrong-abi", plain, &["--abi=wasi"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("env::setTempRet0"), "{err}");
    assert!(err.contains("wasi host ABI: chosen with --abi"), "{err}");
}
