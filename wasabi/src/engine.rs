//! [`Config`] and [`Engine`]: how modules are compiled.
//!
//! An engine is cheap to clone and holds configuration and the backend that
//! reaches the code generator (`wasabi_compiler_abi::Backend`): LLVM in
//! this process with the `compiler` feature ([`Engine::new`]), whatever
//! the embedder gives [`Engine::with_backend`] (the `wasabi` command: its
//! compiler plugin), or none (code compiled ahead of time only). Stores and
//! modules made from one engine may be used together freely.
//!
//! What must stay true: the cache fingerprint depends on the settings, the
//! compiler's build and the CPU, never on the backend, so every backend
//! shares cache entries; and only [`Engine::new`] (inline, so that a
//! program which never calls it, like the `wasabi` command, does not even
//! link it) names the in-process compiler.

use std::sync::Arc;
use wasabi_compiler_abi::{Backend, CompilerConfig};

/// How much LLVM optimises, and which CPU the code is for: the compiler's
/// own settings (with their `FromStr` for command lines), so an engine's
/// configuration maps onto the compiler's field for field.
pub use wasabi_compiler_abi::{OptLevel, TargetCpu};

/// When functions are compiled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CompileMode {
    /// Every function, in parallel, before the module can be instantiated.
    #[default]
    Regular,
    /// Only the trampolines up front; each function on its first call.
    /// Functions never called are never compiled.
    Lazy,
    /// Lazy, with two tiers: each function is first compiled quickly (fast
    /// instruction selection, no optimisation) into code that counts its
    /// calls and loop iterations; the first call after it has run
    /// [`Config::tier_up_after`] times has it recompiled with the
    /// optimiser ([`Config::opt_level`]) on a background thread while the
    /// program keeps running, and every caller switches to the new code at
    /// its next call. A hot loop of a function that is running (and may
    /// never be called again) moves to optimised code by on-stack
    /// replacement. While the background thread has nothing else to do, it
    /// compiles the quick code of functions ahead of their first call
    /// (callees of what runs first, first), so the program rarely stops
    /// for the compiler. What `wasabi run` uses unless told otherwise.
    Tiered,
}

impl CompileMode {
    /// The name `--mode` takes: `regular`, `lazy` or `tiered`.
    pub fn name(self) -> &'static str {
        match self {
            CompileMode::Regular => "regular",
            CompileMode::Lazy => "lazy",
            CompileMode::Tiered => "tiered",
        }
    }
}

impl std::str::FromStr for CompileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "regular" => Ok(CompileMode::Regular),
            "lazy" => Ok(CompileMode::Lazy),
            "tiered" => Ok(CompileMode::Tiered),
            _ => Err(format!("unknown mode `{s}` (use regular, lazy or tiered)")),
        }
    }
}

/// Engine configuration. Start from `Config::default()` and set what you
/// need.
///
/// ```
/// use wasabi::{CompileMode, Config, Engine, OptLevel};
/// let engine = Engine::new(Config::default().opt_level(OptLevel::O0).mode(CompileMode::Lazy));
/// assert_eq!(engine.config().mode, CompileMode::Lazy);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// How much LLVM optimises (default `O1`).
    pub opt_level: OptLevel,
    /// Which CPU the code is for (default: this machine).
    pub target_cpu: TargetCpu,
    /// When functions are compiled (default: all up front, so that an
    /// embedder's calls never meet the compiler and a store starts no
    /// thread; `wasabi run` asks for [`CompileMode::Tiered`]).
    pub mode: CompileMode,
    /// Bytes of native stack wasm may use before it traps with
    /// "call stack exhausted" (default 4 MiB). Applies to stores made with
    /// this engine.
    pub max_wasm_stack: usize,
    /// Compile fuel metering into the code (default off): each operator
    /// costs one unit of the store's fuel ([`crate::Store::set_fuel`]), and
    /// a call that runs out traps with "interrupted: out of fuel". Costs
    /// speed: with epoch checks too, 25 % on the benchmark geomean, most of
    /// it on loops that would otherwise be vectorised (a loop that can trap
    /// for lack of fuel has two exits, which LLVM's vectoriser refuses)
    /// ("Cost of interruption checks" in `bench/results/results.md`).
    pub consume_fuel: bool,
    /// Compile epoch checks into the code (default off): a call traps with
    /// "interrupted: deadline exceeded" once the engine's epoch
    /// ([`Engine::increment_epoch`]) reaches the store's deadline
    /// ([`crate::Store::set_epoch_deadline`]), or with "interrupted" when
    /// the host asks through an [`crate::InterruptHandle`]. Needed for
    /// timeouts and for stopping a call from another thread. Cheap enough
    /// to leave on for untrusted code: 4 % on the benchmark geomean (a
    /// check is one load; see `wasabi_runtime::interrupt`).
    pub epoch_interruption: bool,
    /// Tiered mode: how many executions (calls plus loop iterations) of a
    /// function's baseline code make it hot (default 1,000), for a body
    /// under 1 KB; a larger one needs this times its whole 512-byte steps
    /// (recompiling costs in proportion to size). The call that finds it
    /// hot asks for the optimised code.
    pub tier_up_after: u32,
    /// Tiered mode: recompile hot functions on a background thread (default
    /// on), which also compiles quick code ahead of first calls when it
    /// has nothing else to do. Off, the thread that found a function hot
    /// recompiles it before it goes on, and nothing is compiled before it
    /// is called: slower, but deterministic (for tests).
    pub tier_up_in_background: bool,
    /// Keep compiled code in an on-disk cache and reuse it (default on):
    /// compiling a module already compiled with the same settings, by the
    /// same build of wasabi, for the same CPU, is then a file read and a
    /// load. Regular mode only (lazy mode compiles per call and is not
    /// cached yet).
    pub cache: bool,
    /// Where the cache lives (default: `$WASABI_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasabi`, else `$HOME/.cache/wasabi`).
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            opt_level: OptLevel::default(),
            target_cpu: TargetCpu::default(),
            mode: CompileMode::default(),
            max_wasm_stack: wasabi_runtime::StoreConfig::default().max_wasm_stack,
            consume_fuel: false,
            epoch_interruption: false,
            tier_up_after: 1000,
            tier_up_in_background: true,
            cache: true,
            cache_dir: None,
        }
    }
}

impl Config {
    /// The default configuration.
    pub fn new() -> Config {
        Config::default()
    }
    /// Sets the optimisation level.
    pub fn opt_level(mut self, level: OptLevel) -> Config {
        self.opt_level = level;
        self
    }
    /// Sets the CPU the code is compiled for.
    pub fn target_cpu(mut self, cpu: TargetCpu) -> Config {
        self.target_cpu = cpu;
        self
    }
    /// Sets when functions are compiled.
    pub fn mode(mut self, mode: CompileMode) -> Config {
        self.mode = mode;
        self
    }
    /// Sets how many bytes of native stack wasm may use.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Config {
        self.max_wasm_stack = bytes;
        self
    }
    /// Turns fuel metering on or off (see [`Config::consume_fuel`]).
    pub fn consume_fuel(mut self, on: bool) -> Config {
        self.consume_fuel = on;
        self
    }
    /// Sets the tiered mode's hotness threshold (see
    /// [`Config::tier_up_after`]; at least 1).
    pub fn tier_up_after(mut self, executions: u32) -> Config {
        self.tier_up_after = executions.max(1);
        self
    }

    /// Where hot functions are recompiled (see
    /// [`Config::tier_up_in_background`]).
    pub fn tier_up_in_background(mut self, on: bool) -> Config {
        self.tier_up_in_background = on;
        self
    }

    /// Turns epoch checks on or off (see [`Config::epoch_interruption`]).
    pub fn epoch_interruption(mut self, on: bool) -> Config {
        self.epoch_interruption = on;
        self
    }
    /// Turns the compiled-code cache on or off (see [`Config::cache`]).
    pub fn cache(mut self, on: bool) -> Config {
        self.cache = on;
        self
    }
    /// Puts the cache in `dir` (and turns it on).
    pub fn cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Config {
        self.cache = true;
        self.cache_dir = Some(dir.into());
        self
    }
}

/// Compiles modules; the root of everything. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    config: Config,
    /// The epoch every store of this engine compares with its deadline.
    epoch: Arc<wasabi_runtime::interrupt::EpochClock>,
    /// The compiled-code cache, when on and a location is known (read
    /// only by an engine with a backend).
    cache: Option<wasabi_cache::Cache>,
    /// The compiler's fingerprint (computed on first use).
    fingerprint: std::sync::OnceLock<String>,
    /// What compiles, if anything does.
    backend: Option<Arc<dyn Backend>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Default for Engine {
    /// An engine with the default configuration.
    #[inline]
    fn default() -> Engine {
        Engine::new(Config::default())
    }
}

impl Engine {
    /// An engine with this configuration, compiling with LLVM in this
    /// process (with the `compiler` feature; without it, the engine only
    /// runs code compiled ahead of time).
    #[inline]
    pub fn new(config: Config) -> Engine {
        #[cfg(feature = "compiler")]
        let backend: Option<Arc<dyn Backend>> = Some(Arc::new(wasabi_compiler::InProcess));
        #[cfg(not(feature = "compiler"))]
        let backend = None;
        Engine::build(config, backend)
    }

    /// An engine with this configuration that compiles through `backend`
    /// (the `wasabi` command passes its compiler plugin, which it loads only
    /// when something is compiled), whatever this crate's features.
    pub fn with_backend(config: Config, backend: Arc<dyn Backend>) -> Engine {
        Engine::build(config, Some(backend))
    }

    fn build(config: Config, backend: Option<Arc<dyn Backend>>) -> Engine {
        Engine {
            inner: Arc::new(EngineInner {
                cache: match config.cache {
                    true => config
                        .cache_dir
                        .clone()
                        .or_else(wasabi_cache::Cache::default_dir)
                        .map(|d| wasabi_cache::Cache::new(d, wasabi_cache::DEFAULT_MAX_BYTES)),
                    false => None,
                },
                fingerprint: std::sync::OnceLock::new(),
                backend,
                config,
                epoch: Arc::default(),
            }),
        }
    }

    /// The compiled-code cache, if this engine uses one (an engine without
    /// a compiler never reads it).
    pub fn cache(&self) -> Option<&wasabi_cache::Cache> {
        self.inner.cache.as_ref()
    }

    /// What decides the code this engine's compiler makes (see
    /// `wasabi_compiler_abi::fingerprint`).
    pub(crate) fn fingerprint(&self) -> &str {
        self.inner
            .fingerprint
            .get_or_init(|| wasabi_compiler_abi::fingerprint(&self.compiler_config()))
    }

    /// What compiles for this engine (none: it cannot compile).
    pub fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.inner.backend.as_ref()
    }

    /// Advances the epoch by one. Safe to call from any thread, typically a
    /// timer: every store whose deadline ([`crate::Store::set_epoch_deadline`])
    /// is now reached traps at the next check of code compiled with
    /// [`Config::epoch_interruption`].
    ///
    /// ```
    /// use wasabi::{Config, Engine, Instance, Module, Store};
    /// let engine = Engine::new(Config::new().epoch_interruption(true));
    /// let module = Module::new(&engine, r#"(module (func (export "spin") (loop (br 0))))"#)?;
    /// let mut store = Store::new(&engine, ());
    /// store.set_epoch_deadline(1);
    /// let instance = Instance::new(&mut store, &module, &[])?;
    /// let spin = instance.get_typed_func::<(), ()>(&mut store, "spin")?;
    /// let timer = engine.clone();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     timer.increment_epoch();
    /// });
    /// let err = spin.call(&mut store, ()).unwrap_err();
    /// assert!(err.to_string().contains("interrupted: deadline exceeded"), "{err}");
    /// # Ok::<(), wasabi::Error>(())
    /// ```
    pub fn increment_epoch(&self) {
        self.inner.epoch.increment();
    }

    /// The engine's epoch clock, which its stores follow.
    pub(crate) fn epoch_clock(&self) -> &Arc<wasabi_runtime::interrupt::EpochClock> {
        &self.inner.epoch
    }

    /// The configuration this engine was made with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The code generator's settings for this engine.
    pub fn compiler_config(&self) -> CompilerConfig {
        compiler_config(&self.inner.config)
    }

    /// Tiered mode's baseline settings: like [`Engine::compiler_config`],
    /// unoptimised, and counting executions.
    pub fn baseline_config(&self) -> CompilerConfig {
        CompilerConfig {
            opt_level: wasabi_compiler_abi::OptLevel::O0,
            tier_up_after: Some(self.inner.config.tier_up_after.max(1)),
            ..self.compiler_config()
        }
    }

    /// The fingerprint of code made with `config` (see
    /// `wasabi_compiler_abi::fingerprint`).
    pub(crate) fn fingerprint_of(config: &CompilerConfig) -> String {
        wasabi_compiler_abi::fingerprint(config)
    }
}

fn compiler_config(c: &Config) -> CompilerConfig {
    CompilerConfig {
        opt_level: c.opt_level,
        target_cpu: c.target_cpu,
        consume_fuel: c.consume_fuel,
        epoch_interruption: c.epoch_interruption,
        tier_up_after: None,
    }
}
