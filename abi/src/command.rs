//! Running a module as a command: the behaviour `wasabi run` and AOT
//! executables share, so both treat arguments, the environment, preopened
//! directories, exit statuses and traps identically. A command is a WASI
//! command (`_start`) or an Emscripten program (`main`, see
//! [`crate::emscripten`]); [`crate::detect`] tells which.
//!
//! [`Host`] is the store data of every command: one field per host ABI.
//! [`command_linker`] registers what the chosen ABI needs (WASI and
//! Wasabi's own ABI always); [`run_entry`]
//! runs the program's entry point.
//!
//! What must stay true: the guest's argv[0] is the program name, the host
//! environment is not passed through (only `--env` pairs), `proc_exit(n)`
//! (or `exit(n)`, or `main` returning `n`) becomes exit status `n`
//! (truncated to 8 bits), and a trap prints `wasabi: <trap>` on stderr and
//! exits with [`TRAP_EXIT_STATUS`].

use crate::detect::{self, Abi, AbiChoice, Detected};
use crate::emscripten;
use crate::wasi::{command_status, WasiCtx};
use crate::Host;
use wasabi::{Engine, Func, Instance, Linker, Module, Store, Val, ValType};

/// A linker with what a command built for `abi` imports: WASI and Wasabi's
/// own ABI always, and for Emscripten its `env` functions (generated from
/// `module`'s imports).
/// With `trap_unknown_imports`, any function import nobody defines becomes
/// a function that traps when called.
pub fn command_linker(
    engine: &Engine,
    module: &Module,
    abi: Abi,
    trap_unknown_imports: bool,
) -> Result<Linker<Host>, String> {
    let mut linker = Linker::new(engine);
    Host::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
    if abi == Abi::Emscripten {
        let options = emscripten::Options {
            trap_unknown_imports,
        };
        emscripten::add_to_linker(&mut linker, module, &options, Host::emscripten_parts)?;
    } else if trap_unknown_imports {
        emscripten::define_unknown_as_traps(&mut linker, module)?;
    }
    Ok(linker)
}

/// A link error with the ABI that was chosen and why, so a user whose
/// module was taken for the wrong one sees it.
pub fn link_error(e: impl std::fmt::Display, detected: &Detected) -> String {
    format!(
        "{e}\n(running it with the {} host ABI: {}; --abi chooses another)",
        detected.abi,
        detected.reasons.join("; ")
    )
}

/// Runs the entry point of an instantiated command: `main` for
/// Emscripten (as its JS runtime would), else `_start` (if any). The
/// outer `Err` is a set-up failure phrased for the user; the inner result
/// is the run's, for [`status_of`].
pub fn run_entry(
    store: &mut Store<Host>,
    instance: Instance,
    abi: Abi,
) -> Result<wasabi::Result<()>, String> {
    if abi == Abi::Emscripten && emscripten::runtime::has_main(store, instance) {
        return Ok(emscripten::run_main(
            store,
            instance,
            Host::emscripten_parts,
        ));
    }
    Ok(match start_function(store, instance)? {
        Some(start) => start.call(&mut *store, &[], &mut []),
        None => Ok(()),
    })
}

/// The exit status of a run that trapped (128 + SIGABRT, as wasmtime's CLI).
pub const TRAP_EXIT_STATUS: u8 = 134;

/// What a command runs with.
#[derive(Clone, Debug, Default)]
pub struct CommandOptions {
    /// The guest's argv[0].
    pub program: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// `K=V` pairs.
    pub env: Vec<String>,
    /// `HOST[::GUEST]` directories to preopen.
    pub dirs: Vec<String>,
    /// The host ABI (`--abi`): detected from the module by default.
    pub abi: AbiChoice,
    /// Make imports nobody provides trap when called instead of failing to
    /// link.
    pub trap_unknown_imports: bool,
    /// Call this export with [`CommandOptions::args`] as its arguments
    /// (parsed by [`parse_arg`]) instead of running the entry point, and
    /// print its results (`--invoke`); argv is then only the program name.
    pub invoke: Option<String>,
}

impl CommandOptions {
    /// Builds the WASI context these options describe.
    pub fn wasi_ctx(&self) -> Result<WasiCtx, String> {
        let mut wasi = WasiCtx::builder().arg(self.program.clone());
        if self.invoke.is_none() {
            wasi = wasi.args(self.args.iter().cloned());
        }
        for kv in &self.env {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--env `{kv}`: expected K=V"))?;
            wasi = wasi.env(k, v);
        }
        for d in &self.dirs {
            let (host, guest) = d.split_once("::").unwrap_or((d, d));
            wasi = wasi.preopened_dir(host, guest);
        }
        wasi.build().map_err(|e| e.to_string())
    }
}

/// Instantiates `module` with its host ABI (WASI or Emscripten, see
/// [`CommandOptions::abi`]) and runs it: `_start` (if any) or `main`.
/// Returns the exit status; `Err` is a set-up failure (bad options, link
/// error), already phrased for the user.
pub fn run_command(
    engine: &Engine,
    module: &Module,
    options: &CommandOptions,
) -> Result<u8, String> {
    run_linked_command(engine, module, options, |store, linker, module| {
        linker.instantiate(store, module)
    })
}

/// [`run_command`] with the instantiation left to `instantiate`, given
/// the store and the command's linker: for a module linked with others
/// (`wasabi::Program::instantiate`).
pub fn run_linked_command(
    engine: &Engine,
    module: &Module,
    options: &CommandOptions,
    instantiate: impl FnOnce(&mut Store<Host>, &mut Linker<Host>, &Module) -> wasabi::Result<Instance>,
) -> Result<u8, String> {
    let detected = detect::choose(options.abi, module.info(), None);
    let ctx = options.wasi_ctx()?;
    let mut store = Store::new(engine, Host::new(ctx));
    let mut linker = command_linker(engine, module, detected.abi, options.trap_unknown_imports)
        .map_err(|e| link_error(e, &detected))?;
    let result = match instantiate(&mut store, &mut linker, module) {
        Ok(instance) => match &options.invoke {
            Some(name) => invoke_export(&mut store, instance, name, &options.args)?.map(|vals| {
                println!("{}", invoke_results_line(&vals));
            }),
            None => run_entry(&mut store, instance, detected.abi)?,
        },
        Err(e @ wasabi::Error::Trap(_)) => Err(e),
        Err(e) => return Err(link_error(e, &detected)),
    };
    Ok(status_of(result))
}

/// The command's `_start`: `None` when the module exports none (it is run
/// for its start function alone), an error phrased for the user when the
/// export is not a function taking and returning nothing. `wasabi run`
/// and AOT executables both decide through this, so they exit alike.
pub fn start_function<T>(store: &mut Store<T>, instance: Instance) -> Result<Option<Func>, String> {
    let Some(export) = instance.get_export(&mut *store, "_start") else {
        return Ok(None);
    };
    let Some(func) = export.into_func() else {
        return Err(format!(
            "export `_start` is a {}, not a function",
            export.kind_name()
        ));
    };
    let ty = func.ty(&*store);
    if !ty.params.is_empty() || !ty.results.is_empty() {
        return Err(format!(
            "`_start` must take and return nothing, but has type {ty}"
        ));
    }
    Ok(Some(func))
}

/// The exit status of a finished command, printing the trap if it trapped.
pub fn status_of<R>(result: wasabi::Result<R>) -> u8 {
    match command_status(result) {
        Ok(status) => status as u8,
        Err(e) => {
            eprintln!("wasabi: {e}");
            TRAP_EXIT_STATUS
        }
    }
}

/// Calls export `name` of `instance` with `args` parsed for its parameter
/// types (`--invoke`). The outer `Err` is a set-up failure phrased for the
/// user (no such function, wrong count, unparsable argument); the inner
/// result is the call's.
pub fn invoke_export<T>(
    store: &mut Store<T>,
    instance: Instance,
    name: &str,
    args: &[String],
) -> Result<wasabi::Result<Vec<Val>>, String> {
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| format!("no exported function `{name}`"))?;
    let ty = func.ty(&*store);
    if args.len() != ty.params.len() {
        return Err(format!(
            "`{name}` takes {} arguments ({ty}), {} given",
            ty.params.len(),
            args.len()
        ));
    }
    let vals = args
        .iter()
        .zip(&ty.params)
        .map(|(a, t)| parse_arg(a, *t))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(func.call_vec(&mut *store, &vals))
}

/// A command-line argument as a value of type `t`: integers signed or
/// unsigned, floats in Rust's syntax.
pub fn parse_arg(s: &str, t: ValType) -> Result<Val, String> {
    let bad = || format!("cannot parse `{s}` as {t}");
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
        _ => {
            return Err(format!(
                "arguments of type {t} cannot be given on the command line"
            ))
        }
    })
}

/// Results as `--invoke` prints them: numbers in decimal, separated by
/// spaces.
pub fn invoke_results_line(vals: &[Val]) -> String {
    let show = |v: &Val| match *v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(b).to_string(),
        Val::F64(b) => f64::from_bits(b).to_string(),
        other => other.to_string(),
    };
    vals.iter().map(show).collect::<Vec<_>>().join(" ")
}
