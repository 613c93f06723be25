//! The `wasabi` command: `run`, `compile`, `aot`, `wast` and `repl`, each a
//! thin front end over the library crates (`wasabi`, `wasabi-abi`,
//! `wasabi-aot`, `wasabi-wast`).
//!
//! What must stay true: every failure ends in one `wasabi: ...` line on
//! stderr and a non-zero status (1 for set-up failures, 134 for traps, the
//! guest's own status after `proc_exit`), and nothing runs native code from
//! a file unless the user passed `--allow-precompiled`.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use wasabi::{CacheOutcome, CompileMode, Config, Engine, Module, OptLevel, Store, TargetCpu};
use wasabi_abi::command::{
    command_linker, invoke_export, invoke_results_line, link_error, run_entry, TRAP_EXIT_STATUS,
};
use wasabi_abi::wasi::{command_status, WasiCtx};
use wasabi_abi::{AbiChoice, Host};

mod link;
mod plugin;
mod repl;

mod limits;
use limits::LimitOpts;

#[derive(Parser)]
#[command(
    name = "wasabi",
    version,
    about = "A WebAssembly compiler and runtime built on LLVM",
    long_about = None,
    after_help = "The compiler (LLVM) is a plugin, loaded only when something must be compiled: \
        libwasabi_compiler_plugin.so next to this binary, or the file \
        $WASABI_COMPILER_PLUGIN names. It must come from the same build as the binary \
        (`cargo build --release -p wasabi-cli` makes both; install them side by side)."
)]
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
    /// When to compile functions: `tiered` (each on its first call, quickly
    /// and unoptimised, or before it by the background thread when that
    /// is idle; functions that run hot are recompiled at --opt-level on
    /// the background thread and used from their next call on, and a hot
    /// loop moves to optimised code while it runs), `regular` (all before
    /// running), or `lazy` (each on its first call, at --opt-level;
    /// never-called functions are never compiled). Default: tiered for
    /// `run` (it starts soonest, and hot code gets regular mode's
    /// optimised code), regular for `compile` and `wast`.
    #[arg(long)]
    mode: Option<CompileMode>,
    /// Do not read or write the compiled-code cache (see `wasabi cache`).
    #[arg(long)]
    no_cache: bool,
}

fn parse_opt(s: &str) -> Result<OptLevel, String> {
    s.parse()
}

fn parse_cpu(s: &str) -> Result<TargetCpu, String> {
    match s {
        "native" => Ok(TargetCpu::Native),
        "generic" => Ok(TargetCpu::Generic),
        _ => Err(format!("unknown target cpu `{s}` (use native or generic)")),
    }
}

impl CompileOpts {
    /// The mode asked for, else `default`.
    fn or_mode(mut self, default: CompileMode) -> CompileOpts {
        self.mode.get_or_insert(default);
        self
    }

    fn config(&self) -> Config {
        let mut config = Config::new()
            .opt_level(self.opt_level)
            .target_cpu(self.target_cpu)
            .mode(self.mode.unwrap_or(CompileMode::Regular))
            .cache(!self.no_cache);
        // Developer knobs (ARCHITECTURE.md): tiered mode's hotness
        // threshold, and tier-up on the calling thread, for measuring the
        // optimised tier's code (e.g. OSR entries) apart from its latency.
        if let Some(n) = std::env::var("WASABI_TIER_UP_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config = config.tier_up_after(n);
        }
        if std::env::var_os("WASABI_TIER_SYNC").is_some_and(|v| v == "1") {
            config = config.tier_up_in_background(false);
        }
        config
    }

    fn engine(&self) -> Engine {
        plugin::engine(self.config())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compile and run a module (binary .wasm or text .wat).
    ///
    /// Without --invoke, runs the module's `_start` export (a WASI command),
    /// or the `main` of an Emscripten program (`emcc app.c -o app.js` emits
    /// app.wasm beside app.js: run the .wasm; no JavaScript is needed), or
    /// just instantiates it (running its start function). With --invoke,
    /// calls that export with the given arguments, parsed by the function's
    /// parameter types, and prints the results.
    ///
    /// Imports are met by WASI preview 1, by Wasabi's own ABI (import module
    /// `wasabi`: load another module at run time and call it through a
    /// function pointer; see docs/wasabi-abi.md), and for Emscripten output
    /// by the Emscripten ABI (see --abi and docs/emscripten.md).
    Run {
        /// The module to run.
        module: PathBuf,
        /// Also accept native code as the module: a precompiled module
        /// made by `wasabi compile -o` or a shared library made by `wasabi
        /// aot --shared`. Loading one runs its native code: only pass files
        /// you trust as much as a program.
        #[arg(long)]
        allow_precompiled: bool,
        /// Export to call instead of `_start`.
        #[arg(long)]
        invoke: Option<String>,
        /// Print compile and run times to stderr, as one line `timings:
        /// compile_ms=.. run_ms=.. start_ms=.. entry_clock_ns=..`:
        /// `start_ms` is the time from `main` to the first instruction of
        /// `_start` (or the --invoke'd export), `entry_clock_ns` that
        /// moment on the CLOCK_MONOTONIC clock, for benchmarks that time
        /// the whole process start-up.
        #[arg(long)]
        timings: bool,
        /// Print compilation statistics to stderr: parse/validate and load
        /// times, cache outcome, functions compiled / total, time spent
        /// compiling, loops given an in-bounds copy, tier-ups, time to
        /// the first instruction of `_start` (or the --invoke'd export),
        /// and the start-up phases before it.
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
        /// The host ABI the module was built for: `auto` (detected from its
        /// imports and exports), `wasi` (a `_start` command) or
        /// `emscripten` (what `emcc app.c -o app.js` emits: `main`, `env`
        /// imports; see docs/emscripten.md).
        #[arg(long, default_value = "auto", value_name = "ABI")]
        abi: AbiChoice,
        /// Make every import no host ABI provides (an Emscripten module's
        /// JavaScript functions, say) a function that traps, naming
        /// itself, when called, instead of failing to link.
        #[arg(long)]
        trap_unknown_imports: bool,
        /// Load the module file PATH and link it under the module name
        /// NAME: the program's imports from NAME bind to its exports
        /// (functions, memories, tables, globals), and it may import the
        /// main module (by its file stem) or other preloads, in a cycle
        /// too. Imports whose module name is a relative path to a .wasm
        /// file load that file, from the main module's directory or a
        /// preloaded file's. Repeatable. See docs/linking.md.
        #[arg(long = "preload", value_name = "NAME=PATH")]
        preloads: Vec<String>,
        #[command(flatten)]
        compile: CompileOpts,
        #[command(flatten)]
        limits: LimitOpts,
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
    /// --allow-precompiled lib.so` or loaded from C through
    /// `runtime/aot-main/wasabi.h`.
    ///
    /// A program of several modules becomes one executable: the modules
    /// given with --preload, those imported by relative path and the parts
    /// of a split program beside the main module are found as `wasabi run`
    /// finds them, compiled into the output, and linked when it starts
    /// (split parts on the first call of one of their split points). See
    /// docs/linking.md.
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
        /// Precompile this module into the output too (repeatable), so the
        /// program can load it at run time with Wasabi's ABI (`module_load`,
        /// `wasabi_module_open`): an AOT executable has no compiler, and
        /// finds a loaded module's code by its exact bytes.
        #[arg(long = "bundle", value_name = "FILE")]
        bundle: Vec<PathBuf>,
        /// Link the module in PATH under the module name NAME, as `wasabi
        /// run --preload` does (repeatable); it is compiled into the output.
        #[arg(long = "preload", value_name = "NAME=PATH")]
        preloads: Vec<String>,
    },
    /// Compile a module without running it, and report what it took: number
    /// of functions, wasm and native code sizes, time and threads used.
    ///
    /// With -o, write a precompiled module instead (conventionally
    /// `.cwasm`): native code for this machine's CPU and these settings,
    /// which `wasabi run --allow-precompiled app.cwasm` runs without
    /// compiling. It is checked before it runs, and refused when it was made
    /// by another build of wasabi, for another CPU, or with other settings.
    Compile {
        /// The module to compile (.wasm or .wat).
        module: PathBuf,
        /// Write a precompiled module here.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        compile: CompileOpts,
    },
    /// Show or empty the compiled-code cache: `wasabi cache dir`, `wasabi
    /// cache stats`, `wasabi cache clear`.
    ///
    /// `wasabi run` and `wasabi compile` keep the code they compile in a
    /// cache (in lazy and tiered modes, each function as it is compiled),
    /// so the next run of the same module with the same settings skips
    /// compilation. It lives in $WASABI_CACHE_DIR, else
    /// $XDG_CACHE_HOME/wasabi, else ~/.cache/wasabi; least recently used
    /// entries go beyond 1 GiB. --no-cache turns it off for one command.
    Cache {
        /// dir, stats or clear.
        #[arg(value_parser = ["dir", "stats", "clear"])]
        action: String,
    },
    /// Run WebAssembly spec scripts (.wast) and report each assertion.
    Wast {
        /// Script files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        compile: CompileOpts,
    },
    /// An interactive session: a live instance (with WASI) that grows one
    /// definition at a time. Type :help in it. Reads stdin without a prompt
    /// when it is not a terminal, so sessions can be scripted.
    Repl {
        /// A module (.wasm or .wat) to start from.
        module: Option<PathBuf>,
        /// Give the session a host directory: `HOST` or `HOST::GUEST`.
        /// Repeatable.
        #[arg(long = "dir", value_name = "HOST[::GUEST]")]
        dirs: Vec<String>,
        /// Set an environment variable for WASI. Repeatable.
        #[arg(long = "env", value_name = "K=V")]
        envs: Vec<String>,
        /// Interrupt any call that runs longer than this: `500ms`, `2s`,
        /// `1m` (a bare number is seconds), as for `wasabi run`.
        #[arg(long, value_name = "DURATION", value_parser = limits::parse_duration)]
        timeout: Option<std::time::Duration>,
        #[command(flatten)]
        compile: ReplCompileOpts,
    },
}

#[derive(clap::Args, Clone)]
struct ReplCompileOpts {
    /// Optimisation level: 0, 1 (default), 2 or 3.
    #[arg(short = 'O', long = "opt-level", default_value = "1", value_parser = parse_opt)]
    opt_level: OptLevel,
    /// CPU to generate code for: `native` or `generic`.
    #[arg(long, default_value = "native", value_parser = parse_cpu)]
    target_cpu: TargetCpu,
    /// `lazy` (default: each function compiled on its first call) or `regular`.
    #[arg(long, default_value = "lazy")]
    mode: CompileMode,
}

/// What `run` was asked to do.
struct RunOptions {
    module: PathBuf,
    allow_precompiled: bool,
    invoke: Option<String>,
    timings: bool,
    stats: bool,
    dirs: Vec<String>,
    envs: Vec<String>,
    abi: AbiChoice,
    trap_unknown_imports: bool,
    preloads: Vec<String>,
    compile: CompileOpts,
    limits: LimitOpts,
    args: Vec<String>,
    /// When `main` began: `--timings` reports the time from there to the
    /// entry function (`start_ms`).
    t_main: Instant,
}

/// Runs a module: a WASI command's `_start` (exit status: its `proc_exit`
/// status, truncated to 8 bits like `exit(3)`, or 0 when `_start` returns;
/// 134 after a trap), or `--invoke`'s export.
fn run(o: RunOptions) -> Result<ExitCode> {
    let engine = plugin::engine(o.limits.configure(o.compile.config()));
    let t_start = Instant::now();
    // Regular mode with a cache: mapped, so a hit never copies them (see
    // `ModuleBytes`). Otherwise the bytes are copied to be compiled anyway,
    // and reading them is cheaper than mapping and copying (lazy warm
    // start of the 4 MB module: 2 ms more when mapped).
    let map = engine.config().mode == wasabi::CompileMode::Regular && engine.cache().is_some();
    let bytes = match map {
        true => wasabi::ModuleBytes::map_file(&o.module),
        false => wasabi::read_shared(&o.module).map(wasabi::ModuleBytes::from),
    }
    .with_context(|| format!("cannot read {}", o.module.display()))?;
    let name = module_stem(&o.module);
    let t0 = Instant::now();
    let module = if wasabi_cache::is_ours(&bytes) {
        if !o.allow_precompiled {
            bail!(
                "{} is a precompiled module (native code), not a wasm module; running one \
                 executes its native code, so wasabi loads it only with --allow-precompiled",
                o.module.display()
            );
        }
        // SAFETY: the user vouched for this file with --allow-precompiled;
        // it is checked (format, checksum, build, CPU, settings) first.
        unsafe { Module::deserialize_file(&engine, &o.module) }
    } else if bytes.starts_with(b"\x7fELF") {
        if !o.allow_precompiled {
            bail!(
                "{} is a native shared library, not a wasm module; running one executes its \
                 native code, so wasabi loads it only with --allow-precompiled",
                o.module.display()
            );
        }
        if o.limits.fuel.is_some() || o.limits.timeout.is_some() {
            bail!(
                "--fuel and --timeout need code compiled with their checks, and {} was \
                 compiled ahead of time without them",
                o.module.display()
            );
        }
        wasabi_aot::load_shared(&o.module)
    } else {
        Module::from_module_bytes(&engine, bytes.clone(), &name)
    }
    .map_err(|e| anyhow!("{}: {e}", o.module.display()))?;
    let compile_time = t0.elapsed();

    // WASI context: argv[0] is the module's stem; for --invoke the command
    // line arguments belong to the function, not to argv.
    let mut wasi = WasiCtx::builder().arg(name.clone());
    if o.invoke.is_none() {
        wasi = wasi.args(o.args.iter().cloned());
    }
    for kv in &o.envs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env `{kv}`: expected K=V"))?;
        wasi = wasi.env(k, v);
    }
    for d in &o.dirs {
        let (host, guest) = d.split_once("::").unwrap_or((d, d));
        wasi = wasi.preopened_dir(host, guest);
    }
    let wasi = wasi.build().map_err(|e| anyhow!("{e}"))?;
    let mut store = Store::new(&engine, Host::new(wasi));
    let detected = wasabi_abi::detect::choose(o.abi, module.info(), Some(&bytes[..]));
    let mut linker = command_linker(&engine, &module, detected.abi, o.trap_unknown_imports)
        .map_err(|e| anyhow!("{}: {}", o.module.display(), link_error(e, &detected)))?;
    let program = link::program(&engine, &o.preloads)?;
    o.limits.apply(&mut store, &engine)?;

    let t1 = Instant::now();
    // Set just before the entry function is called; its first instruction
    // runs then (regular) or once it has been compiled (lazy).
    let entered: std::cell::Cell<Option<(u32, Instant)>> = std::cell::Cell::new(None);
    let instantiated: std::cell::Cell<Option<Instant>> = std::cell::Cell::new(None);
    let report = |status: u8| {
        if o.stats {
            print_stats(&engine, &module, t_start, entered.get());
            if let (Some(inst), Some(entry)) =
                (instantiated.get(), entry_time(&module, entered.get()))
            {
                let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
                eprintln!(
                    "stats: start-up: engine {:.3} ms, read file {:.3} ms, module {:.3} ms, \
                     WASI and linker {:.3} ms, instantiate {:.3} ms, to the entry {:.3} ms; \
                     {:.3} ms from main to the entry function",
                    ms(o.t_main, t_start),
                    ms(t_start, t0),
                    ms(t0, t0 + compile_time),
                    ms(t0 + compile_time, t1),
                    ms(t1, inst),
                    ms(inst, entry),
                    ms(o.t_main, entry),
                );
            }
            link::print_stats(&program);
        }
        if o.timings {
            // start_ms: from `main` to the entry function's first
            // instruction; entry_clock_ns: that moment on CLOCK_MONOTONIC,
            // so a benchmark that noted when it spawned this process can
            // tell the whole time to `_start`, process start-up included.
            let entry = entry_time(&module, entered.get())
                .map(|t| {
                    format!(
                        " start_ms={:.3} entry_clock_ns={}",
                        (t - o.t_main).as_secs_f64() * 1e3,
                        monotonic_ns(t)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "timings: compile_ms={:.3} run_ms={:.3}{entry}",
                compile_time.as_secs_f64() * 1e3,
                t1.elapsed().as_secs_f64() * 1e3
            );
        }
        if module.lazy_stats().is_some_and(|s| s.tiered) {
            // The background thread may be recompiling: a normal exit waits
            // for it (the runtime's exit hook keeps LLVM alive under it),
            // which would only delay the end of a finished program.
            use std::io::Write;
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            // SAFETY: everything the process must leave behind is written
            // (the guest's output flushed above; files are the kernel's).
            unsafe { libc::_exit(status as i32) }
        }
        ExitCode::from(status)
    };
    let finish = |r: wasabi::Result<()>| match command_status(r) {
        Ok(status) => Ok(report(status as u8)),
        Err(e) => {
            eprintln!("wasabi: {e}");
            Ok(report(TRAP_EXIT_STATUS))
        }
    };
    let instance = match program.instantiate(&mut store, &mut linker, &module, &o.module) {
        Ok(i) => i,
        Err(e @ wasabi::Error::Trap(_)) => return finish(Err(e)),
        Err(e) => bail!("{}: {}", o.module.display(), link_error(e, &detected)),
    };
    instantiated.set(Some(Instant::now()));
    if let Some(name) = &o.invoke {
        entered.set(export_func_index(&module, name).map(|f| (f, Instant::now())));
        return match invoke_export(&mut store, instance, name, &o.args).map_err(|e| anyhow!(e))? {
            Ok(results) => {
                println!("{}", invoke_results_line(&results));
                Ok(report(0))
            }
            Err(e @ wasabi::Error::Trap(_)) => finish(Err(e)),
            Err(e) => bail!("{e}"),
        };
    }
    let entry = ["_start", "main", "__main_argc_argv"].into_iter();
    let entry = entry.filter_map(|n| export_func_index(&module, n)).next();
    entered.set(entry.map(|f| (f, Instant::now())));
    finish(run_entry(&mut store, instance, detected.abi).map_err(|e| anyhow!("{e}"))?)
}

fn export_func_index(module: &Module, name: &str) -> Option<u32> {
    let e = module.info().export(name)?;
    matches!(e.kind, wasabi::internals::runtime::module::ExportKind::Func).then_some(e.index)
}

/// `--stats`: functions compiled / total, compile time, and time from the
/// start of `run` to the first instruction of the entry function.
fn print_stats(
    engine: &Engine,
    module: &Module,
    t_start: Instant,
    entered: Option<(u32, Instant)>,
) {
    let first = entry_time(module, entered);
    let timings = module.timings();
    let upfront = timings.codegen;
    let cache = module.cache_outcome();
    let module = module.compiled();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let defined = module.info.functions.len() - module.info.num_imported_funcs as usize;
    let total_bytes: usize = module.info.function_bodies.iter().map(|r| r.len()).sum();
    let lazy = module.lazy_stats();
    let (mode, compiled, bytes, on_demand) = match lazy {
        Some(s) => (
            if s.tiered {
                CompileMode::Tiered
            } else {
                CompileMode::Lazy
            },
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
    eprintln!(
        "stats: parse and validate: {:.3} ms, load into memory: {:.3} ms",
        ms(timings.parse),
        ms(timings.load)
    );
    match lazy {
        // Lazy and tiered code is cached per function as it is compiled.
        Some(s) => eprintln!(
            "stats: cache: {} of {compiled} functions loaded from the cache",
            s.cached
        ),
        None => eprintln!("stats: cache: {}", cache_outcome_name(cache)),
    }
    match lazy.filter(|s| s.ahead > 0) {
        Some(s) => eprintln!(
            "stats: functions compiled: {compiled} / {defined} ({} ahead of their first call \
             on the background thread, in {} objects, {:.3} ms there)",
            s.ahead,
            s.ahead_objects,
            ms(s.ahead_time)
        ),
        None => eprintln!("stats: functions compiled: {compiled} / {defined}"),
    }
    eprintln!("stats: wasm body bytes compiled: {bytes} / {total_bytes}");
    eprintln!(
        "stats: loops given an in-bounds copy with plain memory accesses: {}",
        engine.backend().map_or(0, |b| b.versioned_loops())
    );
    eprintln!(
        "stats: compile time: {:.3} ms (up front {:.3} ms, on demand {:.3} ms)",
        ms(upfront + on_demand),
        ms(upfront),
        ms(on_demand)
    );
    if let Some(s) = lazy.filter(|s| s.tiered) {
        eprintln!(
            "stats: tier-up: {} of {compiled} baseline functions recompiled optimised \
             ({} dropped from the queue, idle before their turn), \
             {} hot loops entered on the stack ({} with code from the cache), \
             {:.3} ms on the background thread (by exit)",
            s.optimized,
            s.idle_dropped,
            s.osr_entries + s.osr_cached,
            s.osr_cached,
            ms(s.optimize_time)
        );
    }
    match first {
        Some(t) => eprintln!(
            "stats: time to first instruction of the entry function: {:.3} ms",
            ms(t - t_start)
        ),
        None => eprintln!("stats: time to first instruction of the entry function: n/a"),
    }
}

/// When the entry function `entered` (its index, and when it was called)
/// ran its first instruction: when called, or in lazy and tiered modes once
/// its code existed (when it finished compiling, or when called if an
/// earlier call had compiled it already).
fn entry_time(module: &Module, entered: Option<(u32, Instant)>) -> Option<Instant> {
    let module = module.compiled();
    entered.and_then(|(f, called)| match module.is_lazy() {
        true => module.lazy_ready_at(f).map(|ready| ready.max(called)),
        false => Some(called),
    })
}

/// `t` as nanoseconds of CLOCK_MONOTONIC (the clock `Instant` reads on
/// Linux, and Python's `time.monotonic_ns`).
fn monotonic_ns(t: Instant) -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let now = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
    now.saturating_sub(t.elapsed().as_nanos())
}

fn wast(files: Vec<PathBuf>, compile: CompileOpts) -> Result<ExitCode> {
    // Scripts are thousands of tiny modules each compiled once: not worth
    // caching.
    let engine = plugin::engine(compile.config().cache(false));
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let report = wasabi_wast::run_script(&engine, &f.display().to_string(), &text)
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
    Ok((bytes, module_stem(path)))
}

/// A module's name for messages: its file stem.
fn module_stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cache_outcome_name(c: CacheOutcome) -> &'static str {
    match c {
        CacheOutcome::NotUsed => "not used",
        CacheOutcome::Hit => "hit (nothing compiled)",
        CacheOutcome::Miss => "miss (compiled and stored)",
        CacheOutcome::Replaced => "refused a damaged or foreign entry (compiled and replaced)",
    }
}

/// `wasabi compile -o`: a precompiled module.
fn precompile(module: PathBuf, output: PathBuf, compile: CompileOpts) -> Result<ExitCode> {
    let (bytes, _) = read_module(&module)?;
    let t0 = Instant::now();
    let artifact = compile
        .engine()
        .precompile_module(&bytes)
        .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    std::fs::write(&output, &artifact)
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "wasabi compile: wrote {} ({:.1} KiB) in {:.2}s",
        output.display(),
        artifact.len() as f64 / 1024.0,
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `wasabi cache dir|stats|clear`.
fn cache_command(action: &str) -> Result<ExitCode> {
    let Some(cache) = plugin::engine(Config::default()).cache().cloned() else {
        bail!("no cache directory: set WASABI_CACHE_DIR (or HOME)");
    };
    match action {
        "dir" => println!("{}", cache.dir().display()),
        "stats" => {
            let s = cache.stats();
            println!(
                "{}: {} entries, {:.1} MiB (limit {:.0} MiB)",
                cache.dir().display(),
                s.entries,
                s.bytes as f64 / (1 << 20) as f64,
                wasabi_cache::DEFAULT_MAX_BYTES as f64 / (1 << 20) as f64
            );
        }
        _ => {
            let s = cache
                .clear()
                .with_context(|| format!("cannot clear {}", cache.dir().display()))?;
            println!(
                "removed {} entries ({:.1} MiB) from {}",
                s.entries,
                s.bytes as f64 / (1 << 20) as f64,
                cache.dir().display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compile_only(module: PathBuf, compile: CompileOpts) -> Result<ExitCode> {
    let (bytes, name) = read_module(&module)?;
    let t0 = std::time::Instant::now();
    let m = Module::with_name(&compile.engine(), &bytes, &name)
        .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    let t = m.timings();
    let total = t0.elapsed();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "{}: {} functions, {:.1} KiB wasm -> {:.1} KiB native code in {:.1} ms \
         (validate {:.1}, codegen {:.1}, load {:.1}) on {threads} threads",
        module.display(),
        m.info().num_defined_funcs(),
        bytes.len() as f64 / 1024.0,
        m.compiled().code_size() as f64 / 1024.0,
        total.as_secs_f64() * 1e3,
        t.parse.as_secs_f64() * 1e3,
        t.codegen.as_secs_f64() * 1e3,
        t.load.as_secs_f64() * 1e3,
    );
    Ok(ExitCode::SUCCESS)
}

fn aot(
    module: PathBuf,
    output: PathBuf,
    shared: bool,
    bundle: Vec<PathBuf>,
    preloads: Vec<String>,
    compile: CompileOpts,
) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&module).with_context(|| format!("cannot read {}", module.display()))?;
    let engine = compile.engine();
    let preloads = link::preload_flags(&preloads)?;
    let wasm = wasabi::wat_to_wasm(&bytes).map_err(|e| anyhow!("{}: {e}", module.display()))?;
    let info = wasabi::internals::runtime::ModuleInfo::parse(&wasm)
        .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    let bundle = wasabi_aot::Bundle::for_program(&engine, &info, &module, &preloads, &bundle)
        .map_err(|e| anyhow!("{}: {e}", module.display()))?;
    for m in &bundle.modules {
        eprintln!("wasabi aot: bundling {}", m.path);
    }
    let t0 = std::time::Instant::now();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    wasabi_aot::build(
        &engine,
        &bytes,
        &wasabi_aot::AotOptions {
            output: output.clone(),
            shared,
            progress,
            bundle,
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
    let t_main = Instant::now();
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run {
            module,
            allow_precompiled,
            invoke,
            timings,
            stats,
            dirs,
            envs,
            abi,
            trap_unknown_imports,
            preloads,
            compile,
            limits,
            args,
        } => run(RunOptions {
            module,
            allow_precompiled,
            invoke,
            timings,
            stats,
            dirs,
            envs,
            abi,
            trap_unknown_imports,
            preloads,
            compile: compile.or_mode(CompileMode::Tiered),
            limits,
            args,
            t_main,
        }),
        Command::Wast { files, compile } => wast(files, compile),
        Command::Repl {
            module,
            dirs,
            envs,
            timeout,
            compile,
        } => repl::repl(repl::ReplOptions {
            module,
            dirs,
            envs,
            opt_level: compile.opt_level,
            target_cpu: compile.target_cpu,
            mode: compile.mode,
            timeout,
        }),
        Command::Compile {
            module,
            output: Some(output),
            compile,
        } => precompile(module, output, compile),
        Command::Compile {
            module,
            output: None,
            compile,
        } => compile_only(module, compile),
        Command::Cache { action } => cache_command(&action),
        Command::Aot {
            module,
            output,
            shared,
            opt_level,
            target_cpu,
            bundle,
            preloads,
        } => aot(
            module,
            output,
            shared,
            bundle,
            preloads,
            CompileOpts {
                opt_level,
                target_cpu,
                mode: Some(CompileMode::Regular),
                no_cache: false,
            },
        ),
    };
    // Before `exit` and its handlers: see the function's documentation.
    wasabi::internals::runtime::lazy::stop_background_compilation();
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasabi: {e:#}");
            ExitCode::FAILURE
        }
    }
}
