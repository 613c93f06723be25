//! Running a module as a WASI command: the behaviour `wasabi run` and AOT
//! executables share, so both treat arguments, the environment, preopened
//! directories, exit statuses and traps identically.
//!
//! What must stay true: the guest's argv[0] is the program name, the host
//! environment is not passed through (only `--env` pairs), `proc_exit(n)`
//! becomes exit status `n` (truncated to 8 bits), and a trap prints
//! `wasabi: <trap>` on stderr and exits with [`TRAP_EXIT_STATUS`].

use crate::wasi::{command_status, Wasi, WasiCtx};
use crate::{create_imports, Abis};
use std::sync::Arc;
use wasabi_runtime::{CompiledModule, InstantiationError, Store};

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
pub fn run_command(module: &Arc<CompiledModule>, options: &CommandOptions) -> Result<u8, String> {
    let wasi = options.wasi_ctx()?;
    let mut store = Store::default();
    let abis = Abis::new().with(Wasi::new(wasi));
    let imports =
        create_imports(&mut store, &module.info, &abis).map_err(|e| format!("link error: {e}"))?;
    let result = match store.instantiate(module, &imports) {
        Ok(instance) => match instance.get_func("_start") {
            Some(start) => store.call(&start, &[]),
            None => Ok(vec![]),
        },
        Err(InstantiationError::Trap(t)) => Err(t),
        Err(e) => return Err(e.to_string()),
    };
    Ok(status_of(result))
}

/// The exit status of a finished command, printing the trap if it trapped.
pub fn status_of(result: Result<Vec<wasabi_runtime::Val>, wasabi_runtime::Trap>) -> u8 {
    match command_status(result) {
        Ok(status) => status as u8,
        Err(trap) => {
            eprintln!("wasabi: {trap}");
            TRAP_EXIT_STATUS
        }
    }
}
