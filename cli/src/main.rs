//! The `wasabi` command.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use wasabi::{
    CompileMode, CompileTimings, CompiledModule, CompilerConfig, Engine, InstantiationError,
    OptLevel, Store, TargetCpu, Trap, Val, ValType,
};
use wasabi_abi::wasi::command_status;
use wasabi_abi::{create_imports, Abis, Wasi, WasiCtx};

#[derive(Parser)]
#[command(name = "wasabi", version, about = "A WebAssembly compiler and runtime built on LLVM", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct CompileOpts {
    /// Optimisation level: 0 (fastest compile), 1 (wasabi's JIT pipeline),
    /// 2 or 3 (LLVM's default<O2>/<O3>: slower to compile).
    #[arg(short = 'O', long = "opt-level", default_value = "1", value_parser = parse_opt)]
    opt_level: OptLevel,
    /// CPU to generate code for: `native` (this machine) or `generic` (any x86-64).
    #[arg(long, default_value = "native", value_parser = parse_cpu)]
    target_cpu: TargetCpu,
    /// When to compile functions: `regular` (all before running) or `lazy`
    /// (each on its first call; never-called functions are never compiled).
    #[arg(long, default_value = "regular")]
    mode: CompileMode,
}

fn parse_opt(s: &str) -> Result<OptLevel, String> {
    match s {
        "0" => Ok(OptLevel::O0),
        "1" => Ok(OptLevel::O1),
        "2" => Ok(OptLevel::O2),
        "3" => Ok(OptLevel::O3),
        _ => Err(format!(
            "unknown optimisation level `{s}` (use 0, 1, 2 or 3)"
        )),
    }
}

fn parse_cpu(s: &str) -> Result<TargetCpu, String> {
    match s {
        "native" => Ok(TargetCpu::Native),
        "generic" => Ok(TargetCpu::Generic),
        _ => Err(format!("unknown target cpu `{s}` (use native or generic)")),
    }
}

impl CompileOpts {
    fn engine(&self) -> Engine {
        Engine::new(CompilerConfig {
            opt_level: self.opt_level,
            target_cpu: self.target_cpu,
        })
        .with_mode(self.mode)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compile and run a module (binary .wasm or text .wat).
    ///
    /// Without --invoke, runs the module's `_start` export (a WASI command),
    /// or just instantiates it (running its start function). With --invoke,
    /// calls that export with the given arguments, parsed by the function's
    /// parameter types, and prints the results.
    Run {
        /// The module to run.
        module: PathBuf,
        /// Export to call instead of `_start`.
        #[arg(long)]
        invoke: Option<String>,
        /// Print compile and run times to stderr.
        #[arg(long)]
        timings: bool,
        /// Print compilation statistics to stderr: functions compiled /
        /// total, time spent compiling, time to the first instruction of
        /// `_start` (or the --invoke'd export).
        #[arg(long)]
        stats: bool,
        /// Give the program a host directory: `HOST` (seen as `HOST`) or
        /// `HOST::GUEST` (seen as `GUEST`). Repeatable.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// Set an environment variable for the program (nothing is
        /// inherited). Repeatable.
        #[arg(long = "env", value_name = "K=V")]
        envs: Vec<String>,
        #[command(flatten)]
        compile: CompileOpts,
        /// Arguments: the program's argv[1..] (argv[0] is the module's file
        /// stem), or for --invoke the function's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Compile a module ahead of time into a native executable (or, with
    /// --shared, a shared library) that runs without LLVM or wasabi.
    ///
    /// The executable runs the module as a WASI command: `./app.exe
    /// [--dir HOST[::GUEST]]... [--env K=V]... [--] args...`. It reports traps
    /// and exit statuses exactly as `wasabi run` does. The system C compiler
    /// (`cc`, or $CC) links it. A shared library can be run with `wasabi run
    /// lib.so` or loaded from C through `runtime/aot-main/wasabi.h`.
    Aot {
        /// The module to compile (.wasm or .wat).
        module: PathBuf,
        /// Output file.
        #[arg(short = 'o', long)]
        output: PathBuf,
        /// Build a shared library instead of an executable.
        #[arg(long)]
        shared: bool,
        /// Optimisation level: 0, 1, 2 or 3.
        #[arg(short = 'O', long = "opt-level", default_value = "3", value_parser = parse_opt)]
        opt_level: OptLevel,
        /// CPU to generate code for: `native` (this machine) or `generic`
        /// (any x86-64, for executables shipped elsewhere).
        #[arg(long, default_value = "native", value_parser = parse_cpu)]
        target_cpu: TargetCpu,
    },
    /// Compile a module without running it, and report what it took: number
    /// of functions, wasm and native code sizes, time and threads used.
    Compile {
        /// The module to compile (.wasm or .wat).
        module: PathBuf,
        #[command(flatten)]
        compile: CompileOpts,
    },
    /// Run WebAssembly spec scripts (.wast) and report each assertion.
    Wast {
        /// Script files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        compile: CompileOpts,
    },
}

fn parse_arg(s: &str, t: ValType) -> Result<Val> {
    let bad = || anyhow!("cannot parse `{s}` as {t}");
    Ok(match t {
        ValType::I32 => Val::I32(
            s.parse::<i32>()
                .or_else(|_| s.parse::<u32>().map(|v| v as i32))
                .map_err(|_| bad())?,
        ),
        ValType::I64 => Val::I64(
            s.parse::<i64>()
                .or_else(|_| s.parse::<u64>().map(|v| v as i64))
                .map_err(|_| bad())?,
        ),
        ValType::F32 => Val::F32(s.parse::<f32>().map_err(|_| bad())?.to_bits()),
        ValType::F64 => Val::F64(s.parse::<f64>().map_err(|_| bad())?.to_bits()),
        _ => bail!("arguments of type {t} cannot be given on the command line"),
    })
}

fn show(v: &Val) -> String {
    match *v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(b).to_string(),
        Val::F64(b) => f64::from_bits(b).to_string(),
        other => other.to_string(),
    }
}

/// Runs a module: a WASI command's `_start` (exit status: its `proc_exit`
/// status, truncated to 8 bits like `exit(3)`, or 0 when `_start` returns;
/// 134 after a trap), or `--invoke`'s export.
fn run(
    module: PathBuf,
    invoke: Option<String>,
    (timings, stats): (bool, bool),
    dirs: Vec<String>,
    envs: Vec<String>,
    compile: CompileOpts,
    args: Vec<String>,
) -> Result<ExitCode> {
    /// The exit status of a run that trapped (128 + SIGABRT, as wasmtime's CLI).
    const TRAP_EXIT_STATUS: u8 = 134;
    let engine = compile.engine();
    let t_start = Instant::now();
    let (bytes, name) = read_module(&module)?;
    let t0 = std::time::Instant::now();
    let (compiled, compile_timings) = if bytes.starts_with(b"\x7fELF") {
        // A shared library made by `wasabi aot --shared`: already compiled.
        wasabi::aot::load_shared(&module).map(|m| (m, CompileTimings::default()))
    } else {
        engine.compile_timed(&bytes, &name)
    }
    .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    let compile_time = t0.elapsed();

    // WASI context: argv[0] is the module's stem; for --invoke the command
    // line arguments belong to the function, not to argv.
    let mut wasi = WasiCtx::builder().arg(name.clone());
    if invoke.is_none() {
        wasi = wasi.args(args.iter().cloned());
    }
    for kv in &envs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env `{kv}`: expected K=V"))?;
        wasi = wasi.env(k, v);
    }
    for d in &dirs {
        let (host, guest) = d.split_once("::").unwrap_or((d, d));
        wasi = wasi.preopened_dir(host, guest);
    }
    let wasi = wasi.build().map_err(|e| anyhow!("{e}"))?;
    let mut store = Store::default();
    let abis = Abis::new().with(Wasi::new(wasi));
    let imports = create_imports(&mut store, &compiled.info, &abis)
        .map_err(|e| anyhow!("{}: link error: {e}", module.display()))?;

    let t1 = std::time::Instant::now();
    // Set just before the entry function is called; its first instruction
    // runs then (regular) or once it has been compiled (lazy).
    let entered: std::cell::Cell<Option<(u32, Instant)>> = std::cell::Cell::new(None);
    let report = |status: u8| {
        if stats {
            print_stats(&compiled, compile_timings.codegen, t_start, entered.get());
        }
        if timings {
            eprintln!(
                "timings: compile_ms={:.3} run_ms={:.3}",
                compile_time.as_secs_f64() * 1e3,
                t1.elapsed().as_secs_f64() * 1e3
            );
        }
        ExitCode::from(status)
    };
    let finish = |r: Result<Vec<Val>, Trap>| match command_status(r) {
        Ok(status) => Ok(report(status as u8)),
        Err(trap) => {
            eprintln!("wasabi: {trap}");
            Ok(report(TRAP_EXIT_STATUS))
        }
    };
    let instance = match store.instantiate(&compiled, &imports) {
        Ok(i) => i,
        Err(InstantiationError::Trap(t)) => return finish(Err(t)),
        Err(e) => bail!("{e}"),
    };
    if let Some(name) = invoke {
        let func = instance
            .get_func(&name)
            .ok_or_else(|| anyhow!("no exported function `{name}`"))?;
        let ty = func.ty().clone();
        if args.len() != ty.params.len() {
            bail!(
                "`{name}` takes {} arguments ({ty}), {} given",
                ty.params.len(),
                args.len()
            );
        }
        let vals = args
            .iter()
            .zip(&ty.params)
            .map(|(a, t)| parse_arg(a, *t))
            .collect::<Result<Vec<_>>>()?;
        entered.set(export_func_index(&compiled, &name).map(|f| (f, Instant::now())));
        return match store.call(&func, &vals) {
            Ok(results) => {
                println!("{}", results.iter().map(show).collect::<Vec<_>>().join(" "));
                Ok(report(0))
            }
            Err(t) => finish(Err(t)),
        };
    }
    if compiled.info.export("_start").is_some() {
        let func = instance
            .get_func("_start")
            .ok_or_else(|| anyhow!("export `_start` is not a function"))?;
        if !func.ty().params.is_empty() || !func.ty().results.is_empty() {
            bail!(
                "`_start` must take and return nothing, but has type {}",
                func.ty()
            );
        }
        entered.set(export_func_index(&compiled, "_start").map(|f| (f, Instant::now())));
        return finish(store.call(&func, &[]));
    }
    Ok(report(0))
}

fn export_func_index(module: &CompiledModule, name: &str) -> Option<u32> {
    let e = module.info.export(name)?;
    matches!(e.kind, wasabi_runtime::module::ExportKind::Func).then_some(e.index)
}

/// `--stats`: functions compiled / total, compile time, and time from the
/// start of `run` to the first instruction of the entry function.
fn print_stats(
    module: &CompiledModule,
    upfront: std::time::Duration,
    t_start: Instant,
    entered: Option<(u32, Instant)>,
) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let defined = module.info.functions.len() - module.info.num_imported_funcs as usize;
    let total_bytes: usize = module.info.function_bodies.iter().map(|r| r.len()).sum();
    let (mode, compiled, bytes, on_demand) = match module.lazy_stats() {
        Some(s) => (
            CompileMode::Lazy,
            s.compiled,
            s.compiled_bytes,
            s.compile_time,
        ),
        None => (
            CompileMode::Regular,
            defined,
            total_bytes,
            std::time::Duration::ZERO,
        ),
    };
    eprintln!("stats: mode: {}", mode.name());
    eprintln!("stats: functions compiled: {compiled} / {defined}");
    eprintln!("stats: wasm body bytes compiled: {bytes} / {total_bytes}");
    eprintln!(
        "stats: compile time: {:.3} ms (up front {:.3} ms, on demand {:.3} ms)",
        ms(upfront + on_demand),
        ms(upfront),
        ms(on_demand)
    );
    let first = entered.and_then(|(f, called)| match module.is_lazy() {
        // The entry runs once its code exists: when it finished compiling
        // (or when called, if an earlier call had compiled it already).
        true => module.lazy_ready_at(f).map(|ready| ready.max(called)),
        false => Some(called),
    });
    match first {
        Some(t) => eprintln!(
            "stats: time to first instruction of the entry function: {:.3} ms",
            ms(t - t_start)
        ),
        None => eprintln!("stats: time to first instruction of the entry function: n/a"),
    }
}

fn wast(files: Vec<PathBuf>, compile: CompileOpts) -> Result<ExitCode> {
    let engine = compile.engine();
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let report = wasabi::wast::run_script(&engine, &f.display().to_string(), &text)
            .map_err(|e| anyhow!("{e}"))?;
        for fail in &report.failures {
            println!("{}:{}: {}", f.display(), fail.line, fail.message);
        }
        println!(
            "{}: {} passed, {} failed, {} skipped",
            f.display(),
            report.passed,
            report.failures.len(),
            report.skipped.len()
        );
        passed += report.passed;
        failed += report.failures.len();
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The bytes of a module file and its name (the file stem) for messages.
fn read_module(path: &std::path::Path) -> Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((bytes, name))
}

fn compile_only(module: PathBuf, compile: CompileOpts) -> Result<ExitCode> {
    let (bytes, name) = read_module(&module)?;
    let t0 = std::time::Instant::now();
    let (m, t) = compile
        .engine()
        .compile_timed(&bytes, &name)
        .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    let total = t0.elapsed();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "{}: {} functions, {:.1} KiB wasm -> {:.1} KiB native code in {:.1} ms \
         (validate {:.1}, codegen {:.1}, load {:.1}) on {threads} threads",
        module.display(),
        m.info.num_defined_funcs(),
        bytes.len() as f64 / 1024.0,
        m.code_size() as f64 / 1024.0,
        total.as_secs_f64() * 1e3,
        t.parse.as_secs_f64() * 1e3,
        t.codegen.as_secs_f64() * 1e3,
        t.load.as_secs_f64() * 1e3,
    );
    Ok(ExitCode::SUCCESS)
}

fn aot(module: PathBuf, output: PathBuf, shared: bool, compile: CompileOpts) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
    let t0 = std::time::Instant::now();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    wasabi::aot::build(
        &compile.engine(),
        &bytes,
        &wasabi::aot::AotOptions {
            output: output.clone(),
            shared,
            progress,
        },
    )
    .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    eprintln!(
        "wasabi aot: wrote {} in {:.2}s",
        output.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run {
            module,
            invoke,
            timings,
            stats,
            dirs,
            envs,
            compile,
            args,
        } => run(module, invoke, (timings, stats), dirs, envs, compile, args),
        Command::Wast { files, compile } => wast(files, compile),
        Command::Compile { module, compile } => compile_only(module, compile),
        Command::Aot {
            module,
            output,
            shared,
            opt_level,
            target_cpu,
        } => aot(
            module,
            output,
            shared,
            CompileOpts {
                opt_level,
                target_cpu,
                mode: CompileMode::Regular,
            },
        ),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasabi: {e:#}");
            ExitCode::FAILURE
        }
    }
}
