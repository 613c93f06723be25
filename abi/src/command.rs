//! Running a module as a WASI command (with Wasabi's ABI beside WASI): the behaviour `wasabi run` and AOT
//! executables share, so both treat arguments, the environment, preopened
//! directories, exit statuses and traps identically.
//!
//! What must stay true: the guest's argv[0] is the program name, the host
//! environment is not passed through (only `--env` pairs), `proc_exit(n)`
//! becomes exit status `n` (truncated to 8 bits), and a trap prints
//! `wasabi: <trap>` on stderr and exits with [`TRAP_EXIT_STATUS`].

use crate::wasi::{command_status, WasiCtx};
use crate::Host;
use wasabi::{Engine, Func, Instance, Linker, Module, Store};

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
}

impl CommandOptions {
    /// Builds the WASI context these options describe.
    pub fn wasi_ctx(&self) -> Result<WasiCtx, String> {
        let mut wasi = WasiCtx::builder()
            .arg(self.program.clone())
            .args(self.args.iter().cloned());
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

/// Instantiates `module` with WASI and runs its `_start` (if any). Returns
/// the exit status; `Err` is a set-up failure (bad options, link error),
/// already phrased for the user.
pub fn run_command(
    engine: &Engine,
    module: &Module,
    options: &CommandOptions,
) -> Result<u8, String> {
    let ctx = options.wasi_ctx()?;
    let mut store = Store::new(engine, Host::new(ctx));
    let mut linker = Linker::new(engine);
    Host::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
    let result = match linker.instantiate(&mut store, module) {
        Ok(instance) => match start_function(&mut store, instance)? {
            Some(start) => start.call(&mut store, &[], &mut []),
            None => Ok(()),
        },
        Err(e @ wasabi::Error::Trap(_)) => Err(e),
        Err(e) => return Err(e.to_string()),
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
