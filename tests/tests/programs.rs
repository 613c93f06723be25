//! The WASI program corpus (`tests/programs/cases.toml`, see its README) run
//! through the library: `wasabi::Engine` compiles, `wasabi_abi` provides
//! WASI with captured stdout/stderr, the case's stdin and a fresh scratch
//! directory preopened as `/sandbox`. Every case checks stdout byte for
//! byte, the exit status or trap, and `stderr_contains`.
//!
//! Every run with a scratch directory also checks the sandbox from outside:
//! the scratch dir lives in a private parent next to a sentinel file, and
//! after the run the parent must hold exactly the scratch dir and the
//! unchanged sentinel (escapes through `..`, absolute paths or symlinks
//! would create or change something there). On top of the corpus, a few
//! hand-written modules probe the WASI layer directly (paths escaping via
//! `..`, absolute paths and symlinks to /etc, bad pointers, link errors).
//!
//! Usage: `cargo test -p wasabi-tests --test programs [-- NAME_SUBSTRING...]`.
//! Prints one line per case and ends with `N passed, N failed`.
//!
//! Execution modes: every case runs once per [`Mode`]; a new way of getting
//! a module ready to run (lazy compilation, AOT) is a new variant and an arm
//! in [`Mode::prepare`], nothing else.

use serde::Deserialize;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use wasabi::{CompileMode, Config, Engine, Func, Instance, Linker, Module, OptLevel, Store, Val};
use wasabi_abi::wasi::{command_status, Errno};
use wasabi_abi::{Host, Output, OutputBuffer, Stdin, WasiCtx};

/// Instantiates `module` with WASI over `ctx` and Wasabi's ABI, through a
/// linker.
fn wasi_instance(module: &Module, ctx: WasiCtx) -> wasabi::Result<(Store<Host>, Instance)> {
    let engine = Engine::default();
    let mut store = Store::new(&engine, Host::new(ctx));
    let mut linker = Linker::new(&engine);
    Host::add_to_linker(&mut linker)?;
    let instance = linker.instantiate(&mut store, module)?;
    Ok((store, instance))
}

/// Calls the command's `_start`.
fn call_start(store: &mut Store<Host>, instance: Instance) -> wasabi::Result<()> {
    let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
    start.call(store, ())
}

/// How a module is made ready to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Mode {
    /// Compile everything up front with the default engine.
    Regular,
    /// Compile each function on its first call.
    Lazy,
    /// `wasabi aot` executables, run as processes exactly as a user would.
    AotExe,
    /// Tiered: baseline code, hot functions recompiled on the background
    /// thread and swapped in while the program runs.
    Tiered,
}

impl Mode {
    const ALL: &'static [Mode] = &[Mode::Regular, Mode::Lazy, Mode::AotExe, Mode::Tiered];

    fn name(self) -> &'static str {
        match self {
            Mode::Regular => "regular",
            Mode::Lazy => "lazy",
            Mode::AotExe => "aot-exe",
            Mode::Tiered => "tiered",
        }
    }

    fn prepare(self, engine: &Engine, bytes: &[u8], name: &str) -> Result<Module, String> {
        match self {
            Mode::Regular => {
                Module::with_name(engine, bytes, name).map_err(|e| format!("compile: {e}"))
            }
            Mode::Lazy => {
                let lazy = Engine::new(engine.config().clone().mode(CompileMode::Lazy));
                Module::with_name(&lazy, bytes, name).map_err(|e| format!("compile: {e}"))
            }
            Mode::Tiered => {
                let tiered = Engine::new(
                    engine
                        .config()
                        .clone()
                        .mode(CompileMode::Tiered)
                        .tier_up_after(100),
                );
                Module::with_name(&tiered, bytes, name).map_err(|e| format!("compile: {e}"))
            }
            Mode::AotExe => unreachable!("executables are prepared by Modules::exe"),
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    wasm: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    stdin: Option<String>,
    #[serde(default)]
    dir: bool,
    #[serde(default)]
    dir_symlinks: Vec<String>,
    /// Plugins (`wasm/NAME.wasm`) copied into the scratch dir (and
    /// bundled into the AOT executable, which cannot compile them).
    #[serde(default)]
    dir_modules: Vec<String>,
    expect_exit: Option<i32>,
    #[serde(default)]
    expect_trap: bool,
    stdout: String,
    stderr_contains: Option<String>,
    #[allow(dead_code)]
    expect_source: String,
}

const GUEST_DIR: &str = "/sandbox";
const SENTINEL: &str = "sentinel.txt";
const SENTINEL_TEXT: &[u8] = b"must stay exactly like this\n";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

/// A private temp dir holding `scratch/` (the guest's sandbox) next to a
/// sentinel file; removed on drop.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> std::io::Result<Scratch> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "wasabi-programs-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir_all(root.join("scratch"))?;
        fs::write(root.join(SENTINEL), SENTINEL_TEXT)?;
        Ok(Scratch { root })
    }

    fn dir(&self) -> PathBuf {
        self.root.join("scratch")
    }

    /// Symlinks `NAME=TARGET` made inside the scratch dir.
    fn symlinks(&self, specs: &[String]) -> Result<(), String> {
        for s in specs {
            let (name, target) = s
                .split_once('=')
                .ok_or_else(|| format!("bad dir_symlinks entry `{s}`"))?;
            std::os::unix::fs::symlink(target, self.dir().join(name))
                .map_err(|e| format!("symlink {s}: {e}"))?;
        }
        Ok(())
    }

    /// Copies the corpus's `wasm/NAME.wasm` for each name into the scratch
    /// dir.
    fn modules(&self, names: &[String]) -> Result<(), String> {
        for m in names {
            let from = corpus_dir().join("wasm").join(format!("{m}.wasm"));
            fs::copy(&from, self.dir().join(format!("{m}.wasm")))
                .map_err(|e| format!("copy {}: {e}", from.display()))?;
        }
        Ok(())
    }

    /// Nothing next to the scratch dir changed.
    fn check_untouched(&self) -> Result<(), String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .map_err(|e| format!("read {}: {e}", self.root.display()))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        names.sort();
        if names != ["scratch", SENTINEL] {
            return Err(format!(
                "sandbox escape: the scratch dir's parent now holds {names:?}"
            ));
        }
        match fs::read(self.root.join(SENTINEL)) {
            Ok(b) if b == SENTINEL_TEXT => Ok(()),
            Ok(_) => {
                Err("sandbox escape: the sentinel next to the scratch dir was modified".into())
            }
            Err(e) => Err(format!(
                "sandbox escape: the sentinel next to the scratch dir is gone: {e}"
            )),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// What a run did.
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The exit status, or the trap's message.
    status: Result<i32, String>,
}

/// Compiled modules, per mode and wasm file.
#[derive(Default)]
struct Modules {
    engine: Engine,
    cache: HashMap<(Mode, PathBuf), Result<Module, String>>,
    exes: HashMap<PathBuf, Result<PathBuf, String>>,
}

/// Where AOT executables are built: one private directory per test run.
fn exe_dir() -> PathBuf {
    std::env::temp_dir().join(format!("wasabi-programs-aot-{}", std::process::id()))
}

impl Modules {
    /// The AOT executable of `path`, built once (named after the module's
    /// stem, which becomes the guest's argv[0]), with the plugins it loads
    /// (`wasm/NAME.wasm` for each of `bundle`) precompiled into it.
    fn exe(&mut self, path: &Path, bundle: &[String]) -> Result<PathBuf, String> {
        self.exes
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                let bytes = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
                let stem = path.file_stem().unwrap_or_default();
                let dir = exe_dir();
                fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let out = dir.join(stem);
                let engine = Engine::new(Config::new().opt_level(OptLevel::O3));
                let bundle = bundle
                    .iter()
                    .map(|m| {
                        let p = corpus_dir().join("wasm").join(format!("{m}.wasm"));
                        fs::read(&p)
                            .map(|b| (m.clone(), b))
                            .map_err(|e| format!("read {}: {e}", p.display()))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let opts = wasabi_aot::AotOptions {
                    output: out.clone(),
                    shared: false,
                    progress: false,
                    bundle: wasabi_aot::Bundle::from_bytes(bundle),
                };
                wasabi_aot::build(&engine, &bytes, &opts).map_err(|e| format!("aot: {e}"))?;
                Ok(out)
            })
            .clone()
    }

    fn get(&mut self, mode: Mode, path: &Path) -> Result<Module, String> {
        let engine = &self.engine;
        self.cache
            .entry((mode, path.to_path_buf()))
            .or_insert_with(|| {
                let bytes = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
                let name = path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                mode.prepare(engine, &bytes, &name)
            })
            .clone()
    }
}

/// Runs an AOT executable as a process: `--env`/`--dir` options, then `--`
/// and the case's arguments. A trap shows as exit status 134 with the
/// trap's message on stderr.
fn execute_exe(exe: &Path, case: &Case, scratch: Option<&Scratch>) -> Result<Outcome, String> {
    let base = corpus_dir();
    let mut cmd = std::process::Command::new(exe);
    for kv in &case.env {
        cmd.arg("--env").arg(kv);
    }
    if let Some(s) = scratch {
        cmd.arg("--dir")
            .arg(format!("{}::{GUEST_DIR}", s.dir().display()));
    }
    cmd.arg("--")
        .args(case.args.iter().map(|a| a.replace("{dir}", GUEST_DIR)));
    cmd.stdin(match &case.stdin {
        Some(f) => fs::File::open(base.join(f))
            .map_err(|e| format!("stdin {f}: {e}"))?
            .into(),
        None => std::process::Stdio::null(),
    });
    let out = cmd
        .output()
        .map_err(|e| format!("run {}: {e}", exe.display()))?;
    let stderr_text = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = match out.status.code() {
        Some(134) if stderr_text.contains("wasabi: wasm trap") => Err(stderr_text),
        Some(n) => Ok(n),
        None => Err(format!("killed by a signal: {:?}", out.status)),
    };
    Ok(Outcome {
        stdout: out.stdout,
        stderr: out.stderr,
        status,
    })
}

fn run_case(modules: &mut Modules, mode: Mode, case: &Case) -> Result<(), String> {
    let base = corpus_dir();
    let wasm = base.join(&case.wasm);
    if mode == Mode::AotExe {
        let exe = modules.exe(&wasm, &case.dir_modules)?;
        let scratch = match case.dir {
            true => Some(Scratch::new(&case.name).map_err(|e| format!("scratch dir: {e}"))?),
            false => None,
        };
        if let Some(s) = &scratch {
            s.symlinks(&case.dir_symlinks)?;
            s.modules(&case.dir_modules)?;
        }
        let outcome = execute_exe(&exe, case, scratch.as_ref())?;
        return check_outcome(case, outcome, scratch.as_ref());
    }
    let module = modules.get(mode, &wasm)?;
    let scratch = if case.dir {
        Some(Scratch::new(&case.name).map_err(|e| format!("scratch dir: {e}"))?)
    } else {
        None
    };
    if let Some(s) = &scratch {
        s.symlinks(&case.dir_symlinks)?;
        s.modules(&case.dir_modules)?;
    }

    let stdout = OutputBuffer::new();
    let stderr = OutputBuffer::new();
    let stem = wasm
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut b = WasiCtx::builder()
        .arg(stem)
        .args(case.args.iter().map(|a| a.replace("{dir}", GUEST_DIR)))
        .stdout(Output::Buffer(stdout.clone()))
        .stderr(Output::Buffer(stderr.clone()))
        .stdin(match &case.stdin {
            Some(f) => Stdin::Bytes(fs::read(base.join(f)).map_err(|e| format!("stdin {f}: {e}"))?),
            None => Stdin::Empty,
        });
    for kv in &case.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("bad env entry `{kv}`"))?;
        b = b.env(k, v);
    }
    if let Some(s) = &scratch {
        b = b.preopened_dir(s.dir(), GUEST_DIR);
    }
    let ctx = b.build().map_err(|e| e.to_string())?;

    let result = match wasi_instance(&module, ctx) {
        Ok((mut store, instance)) => call_start(&mut store, instance),
        Err(e @ wasabi::Error::Trap(_)) => Err(e),
        Err(e) => return Err(format!("instantiate: {e}")),
    };
    let outcome = Outcome {
        stdout: stdout.contents(),
        stderr: stderr.contents(),
        status: command_status(result).map_err(|t| t.to_string()),
    };
    check_outcome(case, outcome, scratch.as_ref())
}

/// Compares a run with the case's expectations.
fn check_outcome(case: &Case, outcome: Outcome, scratch: Option<&Scratch>) -> Result<(), String> {
    let base = corpus_dir();
    let mut problems = Vec::new();
    let want_stdout =
        fs::read(base.join(&case.stdout)).map_err(|e| format!("{}: {e}", case.stdout))?;
    if outcome.stdout != want_stdout {
        problems.push(describe_diff(&want_stdout, &outcome.stdout));
    }
    match (&outcome.status, case.expect_trap) {
        (Err(_), true) => {}
        (Ok(n), true) => problems.push(format!("expected a trap, exited with status {n}")),
        (Err(t), false) => problems.push(format!("trapped: {t}")),
        (Ok(n), false) => {
            let want = case.expect_exit.unwrap_or(0);
            if *n != want {
                problems.push(format!("exit status {n}, expected {want}"));
            }
        }
    }
    if let Some(needle) = &case.stderr_contains {
        if !String::from_utf8_lossy(&outcome.stderr).contains(needle.as_str()) {
            problems.push(format!(
                "stderr lacks {needle:?}; stderr was {:?}",
                String::from_utf8_lossy(&outcome.stderr)
            ));
        }
    }
    if let Some(s) = scratch {
        if let Err(e) = s.check_untouched() {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        if !outcome.stderr.is_empty() && case.stderr_contains.is_none() {
            problems.push(format!(
                "stderr: {:?}",
                String::from_utf8_lossy(&outcome.stderr)
            ));
        }
        Err(problems.join("; "))
    }
}

fn describe_diff(want: &[u8], got: &[u8]) -> String {
    let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    for (i, (a, b)) in w.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("stdout line {}: expected {a:?}, got {b:?}", i + 1);
        }
    }
    format!(
        "stdout differs: expected {} bytes ({} lines), got {} bytes ({} lines)",
        want.len(),
        w.lines().count(),
        got.len(),
        g.lines().count()
    )
}

// ---- WASI-layer probes -----------------------------------------------------

/// A module exporting thin wrappers around WASI path functions on fd 3 (the
/// scratch dir), taking guest pointers/lengths, returning the errno.
const PROBE_WAT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; open(path, len, oflags) with every right, following symlinks; the new
  ;; fd is stored at 0x100 (so it can be closed)
  (func (export "open") (param i32 i32 i32) (result i32)
    (local $e i32)
    (local.set $e (call $path_open (i32.const 3) (i32.const 1) (local.get 0) (local.get 1) (local.get 2)
      (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x100)))
    (if (i32.eqz (local.get $e)) (then (drop (call $fd_close (i32.load (i32.const 0x100))))))
    (local.get $e))
  (func (export "open_at") (param i32 i32 i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (local.get 0) (local.get 1) (i32.const 0)
      (i64.const -1) (i64.const -1) (i32.const 0) (local.get 2)))
  (func (export "symlink") (param i32 i32 i32 i32) (result i32)
    (call $path_symlink (local.get 0) (local.get 1) (i32.const 3) (local.get 2) (local.get 3)))
  (func (export "readlink") (param i32 i32) (result i32)
    (call $path_readlink (i32.const 3) (local.get 0) (local.get 1) (i32.const 0x200) (i32.const 64) (i32.const 0x104)))
  (func (export "rename") (param i32 i32 i32 i32) (result i32)
    (call $path_rename (i32.const 3) (local.get 0) (local.get 1) (i32.const 3) (local.get 2) (local.get 3)))
  (func (export "link") (param i32 i32 i32 i32) (result i32)
    (call $path_link (i32.const 3) (i32.const 0) (local.get 0) (local.get 1) (i32.const 3) (local.get 2) (local.get 3)))
  (func (export "unlink") (param i32 i32) (result i32)
    (call $path_unlink_file (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "rmdir") (param i32 i32) (result i32)
    (call $path_remove_directory (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "mkdir") (param i32 i32) (result i32)
    (call $path_create_directory (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "stat") (param i32 i32) (result i32)
    (call $path_filestat_get (i32.const 3) (i32.const 1) (local.get 0) (local.get 1) (i32.const 0x300)))
  (func (export "touch") (param i32 i32) (result i32)
    (call $path_filestat_set_times (i32.const 3) (i32.const 1) (local.get 0) (local.get 1)
      (i64.const 0) (i64.const 0) (i32.const 5)))
  ;; fd_write(fd, iovs, n, nwritten_ptr)
  (func (export "write") (param i32 i32 i32 i32) (result i32)
    (call $fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "close") (param i32) (result i32)
    (call $fd_close (local.get 0)))
)
"#;

/// An instance of [`PROBE_WAT`] over a scratch dir, with helpers to put
/// strings in its memory and call its exports.
struct Probe {
    store: Store<Host>,
    instance: Instance,
    stdout: OutputBuffer,
}

impl Probe {
    fn new(module: &Module, scratch: &Path) -> Result<Probe, String> {
        let stdout = OutputBuffer::new();
        let ctx = WasiCtx::builder()
            .arg("probe")
            .stdout(Output::Buffer(stdout.clone()))
            .stderr(Output::Null)
            .stdin(Stdin::Empty)
            .preopened_dir(scratch, GUEST_DIR)
            .build()
            .map_err(|e| e.to_string())?;
        let (store, instance) =
            wasi_instance(module, ctx).map_err(|e| format!("instantiate: {e}"))?;
        Ok(Probe {
            store,
            instance,
            stdout,
        })
    }

    fn poke(&mut self, at: u32, bytes: &[u8]) {
        let m = self
            .instance
            .get_memory(&mut self.store, "memory")
            .expect("the probe exports its memory");
        m.write(&mut self.store, at as usize, bytes)
            .expect("probe strings fit in memory");
    }

    fn call(&mut self, name: &str, args: &[i32]) -> Result<Errno, String> {
        let f: Func = self
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| format!("no export {name}"))?;
        let args: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
        match f.call_vec(&mut self.store, &args) {
            Ok(r) => match r.first() {
                Some(Val::I32(e)) => Ok(Errno(*e as u16)),
                other => Err(format!("{name} returned {other:?}")),
            },
            Err(t) => Err(format!("{name} trapped: {t}")),
        }
    }

    /// Calls `name` with strings placed at 0x1000 and 0x2000 (each passed as
    /// pointer, length), then `extra` arguments.
    fn call_paths(&mut self, name: &str, paths: &[&str], extra: &[i32]) -> Result<Errno, String> {
        let mut args = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            let at = 0x1000 * (i as u32 + 1);
            self.poke(at, p.as_bytes());
            args.extend([at as i32, p.len() as i32]);
        }
        args.extend_from_slice(extra);
        self.call(name, &args)
    }
}

const O_CREAT: i32 = 1;
const O_DIRECTORY: i32 = 2;
const O_TRUNC: i32 = 8;

/// One probe call: label, export, path arguments, extra arguments, expected
/// errno.
type PathCheck<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<i32>, Errno);

/// Direct WASI calls that try to leave the sandbox must fail with `PERM`
/// (cap-std's refusal) and leave everything outside untouched.
fn probe_sandbox(modules: &mut Modules, mode: Mode) -> Result<(), String> {
    let module = modules.get_wat(mode, "probe", PROBE_WAT)?;
    let scratch = Scratch::new("probe").map_err(|e| e.to_string())?;
    fs::write(scratch.dir().join("inside.txt"), "inside\n").map_err(|e| e.to_string())?;
    fs::create_dir(scratch.dir().join("sub")).map_err(|e| e.to_string())?;
    scratch.symlinks(&[
        "hostlink=/etc".into(),
        "uplink=..".into(),
        "hostfile=/etc/passwd".into(),
    ])?;
    let mut p = Probe::new(&module, &scratch.dir())?;
    let perm = Errno::PERM;
    let checks: Vec<PathCheck> = vec![
        (
            "open inside",
            "open",
            vec!["inside.txt"],
            vec![0],
            Errno::SUCCESS,
        ),
        (
            "open sub/../inside",
            "open",
            vec!["sub/../inside.txt"],
            vec![0],
            Errno::SUCCESS,
        ),
        (
            "open ../sentinel",
            "open",
            vec!["../sentinel.txt"],
            vec![0],
            perm,
        ),
        (
            "truncate ../sentinel",
            "open",
            vec!["../sentinel.txt"],
            vec![O_CREAT | O_TRUNC],
            perm,
        ),
        (
            "create ../new",
            "open",
            vec!["../new.txt"],
            vec![O_CREAT],
            perm,
        ),
        (
            "open sub/../../sentinel",
            "open",
            vec!["sub/../../sentinel.txt"],
            vec![0],
            perm,
        ),
        (
            "open /etc/passwd",
            "open",
            vec!["/etc/passwd"],
            vec![0],
            perm,
        ),
        ("open / (dir)", "open", vec!["/"], vec![O_DIRECTORY], perm),
        ("open .. (dir)", "open", vec![".."], vec![O_DIRECTORY], perm),
        (
            "open hostlink/passwd",
            "open",
            vec!["hostlink/passwd"],
            vec![0],
            perm,
        ),
        (
            "open hostlink (dir)",
            "open",
            vec!["hostlink"],
            vec![O_DIRECTORY],
            perm,
        ),
        ("open hostfile", "open", vec!["hostfile"], vec![0], perm),
        (
            "truncate hostfile",
            "open",
            vec!["hostfile"],
            vec![O_TRUNC],
            perm,
        ),
        (
            "open uplink/sentinel",
            "open",
            vec!["uplink/sentinel.txt"],
            vec![0],
            perm,
        ),
        (
            "readlink hostlink",
            "readlink",
            vec!["hostlink"],
            vec![],
            perm,
        ),
        (
            "stat ../sentinel",
            "stat",
            vec!["../sentinel.txt"],
            vec![],
            perm,
        ),
        ("stat /etc", "stat", vec!["/etc"], vec![], perm),
        (
            "stat hostlink/passwd",
            "stat",
            vec!["hostlink/passwd"],
            vec![],
            perm,
        ),
        (
            "touch ../sentinel",
            "touch",
            vec!["../sentinel.txt"],
            vec![],
            perm,
        ),
        ("touch hostfile", "touch", vec!["hostfile"], vec![], perm),
        ("mkdir ../newdir", "mkdir", vec!["../newdir"], vec![], perm),
        ("rmdir ..", "rmdir", vec![".."], vec![], perm),
        (
            "unlink ../sentinel",
            "unlink",
            vec!["../sentinel.txt"],
            vec![],
            perm,
        ),
        (
            "unlink /etc/passwd",
            "unlink",
            vec!["/etc/passwd"],
            vec![],
            perm,
        ),
        (
            "symlink -> /etc",
            "symlink",
            vec!["/etc", "etclink"],
            vec![],
            perm,
        ),
        (
            "symlink -> ../sentinel",
            "symlink",
            vec!["../sentinel.txt", "rel"],
            vec![],
            perm,
        ),
        (
            "open rel (not created)",
            "open",
            vec!["rel"],
            vec![O_TRUNC],
            Errno::NOENT,
        ),
        (
            "symlink at ../x",
            "symlink",
            vec!["inside.txt", "../x"],
            vec![],
            perm,
        ),
        (
            "rename -> ../stolen",
            "rename",
            vec!["inside.txt", "../stolen.txt"],
            vec![],
            perm,
        ),
        (
            "rename ../sentinel ->",
            "rename",
            vec!["../sentinel.txt", "mine.txt"],
            vec![],
            perm,
        ),
        (
            "rename -> hostlink/x",
            "rename",
            vec!["inside.txt", "hostlink/x"],
            vec![],
            perm,
        ),
        (
            "link -> ../hard",
            "link",
            vec!["inside.txt", "../hard.txt"],
            vec![],
            perm,
        ),
        (
            "link hostfile ->",
            "link",
            vec!["hostlink/passwd", "pw"],
            vec![],
            perm,
        ),
        ("open empty path", "open", vec![""], vec![0], Errno::NOENT),
        (
            "open missing",
            "open",
            vec!["missing"],
            vec![0],
            Errno::NOENT,
        ),
        (
            "open inside.txt/x",
            "open",
            vec!["inside.txt/x"],
            vec![0],
            Errno::NOTDIR,
        ),
        (
            "open inside.txt (dir)",
            "open",
            vec!["inside.txt"],
            vec![O_DIRECTORY],
            Errno::NOTDIR,
        ),
        (
            "bad oflags",
            "open",
            vec!["inside.txt"],
            vec![0x100],
            Errno::INVAL,
        ),
    ];
    let mut problems = Vec::new();
    for (label, func, paths, extra, want) in checks {
        match p.call_paths(func, &paths, &extra) {
            Ok(got) if got == want => {}
            Ok(got) => problems.push(format!("{label}: got {got:?}, expected {want:?}")),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    // Bad pointers are FAULT, never a crash.
    let bad = [
        (
            "open: path past the end",
            "open",
            vec![0x1_0000 - 4, 100, 0],
        ),
        ("open: path at u32::MAX", "open", vec![-1, 2, 0]),
        (
            "open_at: out pointer past the end",
            "open_at",
            vec![0x1000, 10, 0x1_0000 - 2],
        ),
        (
            "write: iovec array past the end",
            "write",
            vec![1, 0x1_0000 - 4, 1, 0x100],
        ),
        (
            "write: iovec buffer past the end",
            "write",
            vec![1, 0x3000, 1, 0x100],
        ),
        (
            "write: nwritten past the end",
            "write",
            vec![1, 0x3010, 1, 0x1_0000],
        ),
    ];
    p.poke(0x1000, b"inside.txt");
    p.poke(0x3000, &[0xf0, 0xff, 0, 0, 0x20, 0, 0, 0]); // iovec {0xfff0, 32}
    p.poke(0x3010, &[0x00, 0x40, 0, 0, 3, 0, 0, 0]); // iovec {0x4000, 3}
    p.poke(0x4000, b"hi\n");
    for (label, func, args) in bad {
        match p.call(func, &args) {
            Ok(Errno::FAULT) => {}
            Ok(got) => problems.push(format!("{label}: got {got:?}, expected EFAULT")),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    match p.call("close", &[99]) {
        Ok(Errno::BADF) => {}
        other => problems.push(format!("close(99): {other:?}, expected EBADF")),
    }
    match p.call("write", &[1, 0x3010, 1, 0x100]) {
        Ok(Errno::SUCCESS) if p.stdout.contents() == b"hi\n" => {}
        other => problems.push(format!(
            "write to stdout: {other:?}, captured {:?}",
            p.stdout.to_string_lossy()
        )),
    }
    if fs::read(scratch.dir().join("inside.txt")).ok().as_deref() != Some(&b"inside\n"[..]) {
        problems.push("inside.txt was changed".into());
    }
    if let Err(e) = scratch.check_untouched() {
        problems.push(e);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Imports are built from the module's own descriptors: only what it
/// imports, and a clear error for anything WASI does not define.
fn probe_linking(modules: &mut Modules, mode: Mode) -> Result<(), String> {
    let ctx = || {
        WasiCtx::builder()
            .stdout(Output::Null)
            .stderr(Output::Null)
            .stdin(Stdin::Empty)
            .build()
            .unwrap()
    };
    let link =
        |modules: &mut Modules, name: &str, wat: &str| -> Result<Result<(), String>, String> {
            let m = modules.get_wat(mode, name, wat)?;
            Ok(wasi_instance(&m, ctx())
                .map(|_| ())
                .map_err(|e| e.to_string()))
        };
    let mut problems = Vec::new();
    let expect_err = |r: Result<Result<(), String>, String>,
                      needles: &[&str],
                      problems: &mut Vec<String>| match r {
        Ok(Err(msg)) if needles.iter().all(|n| msg.contains(n)) => {}
        other => problems.push(format!(
            "expected a link error containing {needles:?}, got {other:?}"
        )),
    };
    expect_err(
        link(
            modules,
            "unknown_fn",
            r#"(module (import "wasi_snapshot_preview1" "fd_frob" (func (param i32) (result i32))))"#,
        ),
        &[
            "unknown import `wasi_snapshot_preview1::fd_frob`",
            "(func (param i32) (result i32))",
        ],
        &mut problems,
    );
    expect_err(
        link(
            modules,
            "wrong_type",
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32))))"#,
        ),
        &[
            "import `wasi_snapshot_preview1::fd_write` has type (func (param i32) (result i32))",
            "is defined as (func (param i32 i32 i32 i32) (result i32))",
        ],
        &mut problems,
    );
    expect_err(
        link(
            modules,
            "unknown_module",
            r#"(module (import "env" "foo" (func (param i64))))"#,
        ),
        &[
            "unknown import `env::foo` (func (param i64))",
            "wasi_snapshot_preview1",
        ],
        &mut problems,
    );
    expect_err(
        link(
            modules,
            "not_a_func",
            r#"(module (import "wasi_snapshot_preview1" "memory" (memory 1)))"#,
        ),
        &[
            "`wasi_snapshot_preview1::memory` (memory 1)",
            "defines no `memory`",
        ],
        &mut problems,
    );
    // A module importing just proc_exit gets just proc_exit, and exits.
    let exit_wat = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (func (export "_start") (call $exit (i32.const 7)) unreachable))"#;
    if let Err(e) = link(modules, "just_exit", exit_wat)? {
        problems.push(format!("proc_exit-only module does not link: {e}"));
    }
    let m = modules.get_wat(mode, "just_exit", exit_wat)?;
    let (mut store, inst) = wasi_instance(&m, ctx()).map_err(|e| e.to_string())?;
    match command_status(call_start(&mut store, inst)) {
        Ok(7) => {}
        other => problems.push(format!(
            "proc_exit(7): {:?}",
            other.map_err(|e| e.to_string())
        )),
    }
    // A function needing memory, called by a module without one, traps.
    let no_mem = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))))"#;
    let m = modules.get_wat(mode, "no_mem", no_mem)?;
    let (mut store, inst) = wasi_instance(&m, ctx()).map_err(|e| e.to_string())?;
    match call_start(&mut store, inst) {
        Err(t) if t.to_string().contains("export a memory named `memory`") => {}
        other => problems.push(format!(
            "fd_write without memory: {:?}",
            other.map_err(|t| t.to_string())
        )),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

impl Modules {
    fn get_wat(&mut self, mode: Mode, name: &str, wat: &str) -> Result<Module, String> {
        let engine = &self.engine;
        self.cache
            .entry((mode, PathBuf::from(format!("<wat:{name}>"))))
            .or_insert_with(|| mode.prepare(engine, wat.as_bytes(), name))
            .clone()
    }
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let manifest_path = corpus_dir().join("cases.toml");
    let manifest: Manifest = match fs::read_to_string(&manifest_path)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cannot load {}: {e}", manifest_path.display());
            return ExitCode::FAILURE;
        }
    };
    type Probe = fn(&mut Modules, Mode) -> Result<(), String>;
    let probes: &[(&str, Probe)] = &[
        ("wasi_sandbox_probe", probe_sandbox),
        ("wasi_linking_probe", probe_linking),
    ];

    let mut modules = Modules::default();
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, mode: Mode, t: Instant, r: Result<(), String>| {
        let secs = t.elapsed().as_secs_f64();
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok   {name} [{}] ({secs:.2}s)", mode.name());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name} [{}] ({secs:.2}s): {e}", mode.name());
            }
        }
    };
    for &mode in Mode::ALL {
        for case in manifest.case.iter().filter(|c| selected(&c.name)) {
            let t = Instant::now();
            let r = run_case(&mut modules, mode, case);
            report(&case.name, mode, t, r);
        }
        // The probes drive WASI in-process; an executable has no such door.
        let probes = if mode == Mode::AotExe {
            &[][..]
        } else {
            probes
        };
        for (name, probe) in probes.iter().filter(|(n, _)| selected(n)) {
            let t = Instant::now();
            let r = probe(&mut modules, mode);
            report(name, mode, t, r);
        }
    }
    let _ = fs::remove_dir_all(exe_dir());
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
