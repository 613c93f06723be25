//! Finds and loads the compiler plugin (`plugin_lib.rs`), the first time
//! something is compiled: the `wasabi` binary does not link LLVM, so a run
//! whose code all comes from the cache never loads it (loading libLLVM and
//! running its static constructors costs some 14 ms).
//!
//! Where: `$WASABI_COMPILER_PLUGIN` if set, else
//! `libwasabi_compiler_plugin.so` next to the running binary
//! (`std::env::current_exe`, symlinks resolved), else in `deps/` beside it
//! (a cargo target directory). The plugin must be of this very build (its
//! ABI version and build string are checked before anything else is
//! called: `PluginV1::check`).
//!
//! A module that misses the cache has the plugin loaded on another thread
//! while it is validated (`Backend::prepare`).
//!
//! What must stay true: the plugin is loaded at most once per process and
//! never unloaded (its code and LLVM's globals live until exit); a missing
//! or mismatched plugin is an error naming the path and the fix, raised
//! only when a compilation needs it.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use wasabi::internals::compiler_abi::plugin::{
    PluginBackend, PluginV1, ENTRY_SYMBOL, FILE_NAME, PATH_VAR,
};
use wasabi::internals::compiler_abi::{Backend, Failure, ModuleCompiler};
use wasabi::internals::runtime::ModuleInfo;
use wasabi::{Config, Engine};

/// An engine compiling through the plugin (loaded on first compile).
pub fn engine(config: Config) -> Engine {
    Engine::with_backend(config, Arc::new(LazyPlugin))
}

/// The plugin as a backend, loaded when the first module is opened.
struct LazyPlugin;

/// The loaded plugin, or why it could not be.
static LOADED: OnceLock<Result<PluginBackend, String>> = OnceLock::new();

impl Backend for LazyPlugin {
    fn open(
        &self,
        info: &Arc<ModuleInfo>,
        wasm: &Arc<[u8]>,
    ) -> Result<Arc<dyn ModuleCompiler>, Failure> {
        match LOADED.get_or_init(load) {
            Ok(plugin) => plugin.open(info, wasm),
            Err(e) => Err(Failure::other(e.clone())),
        }
    }

    fn versioned_loops(&self) -> u64 {
        // Never loads the plugin: nothing compiled, nothing versioned.
        match LOADED.get() {
            Some(Ok(plugin)) => plugin.versioned_loops(),
            _ => 0,
        }
    }

    /// Loads the plugin on a thread of its own (once), while the caller
    /// validates the module it is about to compile: loading (some 15 ms,
    /// mostly libLLVM's relocations and static constructors) then costs a
    /// cold start nothing on a machine with a core to spare. A compile that
    /// comes first waits for it (`OnceLock`).
    fn prepare(&self) {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            if LOADED.get().is_none() {
                // If no thread can be started, the first compile loads it.
                let _ = std::thread::Builder::new()
                    .name("wasabi-load-compiler".into())
                    .spawn(|| {
                        LOADED.get_or_init(load);
                    });
            }
        });
    }
}

/// Where the plugin is looked for, in order: the variable's path alone, or
/// next to this binary and then in `deps/` beside it. (Cargo builds the
/// plugin into `target/<profile>/deps/` and copies it next to the binary
/// only when the plugin is what was asked for: after `cargo test`, the copy
/// next to the binary may be missing or from an earlier build.)
fn candidates() -> Result<Vec<PathBuf>, String> {
    if let Some(p) = std::env::var_os(PATH_VAR).filter(|p| !p.is_empty()) {
        return Ok(vec![PathBuf::from(p)]);
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the compiler plugin: where is this binary? {e}"))?;
    let dir = exe.parent().unwrap_or(std::path::Path::new("/"));
    Ok(vec![dir.join(FILE_NAME), dir.join("deps").join(FILE_NAME)])
}

/// How to get a matching plugin.
const FIX: &str = "the `wasabi` binary compiles with the plugin built with it \
    (`cargo build --release -p wasabi-cli` builds both, side by side); install \
    them in the same directory, or set WASABI_COMPILER_PLUGIN to the plugin's path";

/// The first candidate that is a plugin of this build; else the error of
/// the first.
fn load() -> Result<PluginBackend, String> {
    let mut first_error = None;
    for path in candidates()? {
        match load_from(&path) {
            Ok(plugin) => return Ok(plugin),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.expect("there is always a candidate"))
}

fn load_from(path: &std::path::Path) -> Result<PluginBackend, String> {
    let shown = path.display();
    if !path.exists() {
        return Err(format!("the compiler plugin {shown} does not exist: {FIX}"));
    }
    // SAFETY: loading runs the library's initialisers (LLVM's static
    // constructors, in the plugin). The file is the plugin the user
    // installed next to this binary or named in WASABI_COMPILER_PLUGIN,
    // trusted as much as the binary itself.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot load the compiler plugin {shown}: {e}; {FIX}"))?;
    // SAFETY: the symbol, when present, is the ABI's entry function, of
    // this type (`plugin_lib.rs`).
    let entry = unsafe { lib.get::<extern "C" fn() -> *const PluginV1>(ENTRY_SYMBOL.as_bytes()) }
        .map_err(|_| {
        format!("{shown} is not a wasabi compiler plugin (no `{ENTRY_SYMBOL}`): {FIX}")
    })?;
    let table = entry();
    if table.is_null() {
        return Err(format!(
            "the compiler plugin {shown} returned no table: {FIX}"
        ));
    }
    // Never unloaded: the table and the code behind it live as long as
    // the process.
    std::mem::forget(lib);
    // SAFETY: a non-null pointer from the entry function points at the
    // plugin's static table, whose first field is its ABI version in every
    // version (only that and `build` are read before the check passes); the
    // library is never unloaded.
    let table: &'static PluginV1 = unsafe { &*table };
    table.check().map_err(|e| {
        format!("the compiler plugin {shown} does not match this wasabi: {e}; {FIX}")
    })?;
    // SAFETY: checked, and loaded for the rest of the process.
    Ok(unsafe { PluginBackend::new(table) })
}
