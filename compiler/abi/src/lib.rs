//! The code generator seen from outside, without LLVM.
//!
//! Everything a program needs to *use* Wasabi's compiler without linking
//! it: the settings ([`CompilerConfig`]), the cache fingerprint computed
//! from them ([`fingerprint`]: settings, the compiler's build, this CPU from
//! CPUID), what can be compiled ([`Job`]), and the two traits every way of
//! reaching the compiler implements: [`Backend`] opens a module once,
//! [`ModuleCompiler`] compiles jobs of it. There are two backends: LLVM in
//! this process (`wasabi_compiler::InProcess`, what the `wasabi` library
//! uses with its `compiler` feature) and the compiler plugin, a shared
//! object the `wasabi` command loads the first time it compiles (the
//! contract is [`plugin`]; loader in `cli/src/plugin.rs`, server in
//! `compiler/src/plugin.rs`). [`ModuleSession`] adapts either to the
//! runtime's `CodeGenerator`, opening the module only on the first compile.
//!
//! What must stay true: the fingerprint depends only on what decides the
//! generated code, and is the same whichever backend compiles (so the
//! library and the command share cache entries); nothing here links or
//! loads LLVM.

pub mod cpu;
pub mod plugin;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, OnceLock};
use wasabi_runtime::module::ModuleInfo;
use wasabi_runtime::CodeGenerator;

/// The compiler's build: crate version, a hash of the sources that decide
/// the generated code, the LLVM version it is built against, the target
/// (see `build.rs`). A plugin must report exactly this.
pub const BUILD: &str = env!("WASABI_COMPILER_BUILD");

/// [`BUILD`] as a C string (what a plugin's table points at).
pub const BUILD_C: &std::ffi::CStr = {
    const S: &str = concat!(env!("WASABI_COMPILER_BUILD"), "\0");
    match std::ffi::CStr::from_bytes_with_nul(S.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("the build string has no NUL inside"),
    }
};

/// How much LLVM optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub enum OptLevel {
    /// `mem2reg` and the fast instruction selector, no other IR pass:
    /// quickest to compile.
    O0,
    /// Wasabi's JIT pipeline (the default for `wasabi run` and lazy mode):
    /// most of `-O2`'s run-time speed at a fraction of its compile time.
    #[default]
    O1,
    /// LLVM's `default<O2>`.
    O2,
    /// LLVM's `default<O3>` (the default for `wasabi aot`).
    O3,
}

impl std::str::FromStr for OptLevel {
    type Err = String;
    /// `0`..`3`, with or without a leading `O`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim_start_matches(['O', 'o']) {
            "0" => Ok(OptLevel::O0),
            "1" => Ok(OptLevel::O1),
            "2" => Ok(OptLevel::O2),
            "3" => Ok(OptLevel::O3),
            _ => Err(format!(
                "unknown optimisation level `{s}` (use 0, 1, 2 or 3)"
            )),
        }
    }
}

/// Which CPU to generate code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub enum TargetCpu {
    /// This machine's CPU and all its features (JIT default).
    #[default]
    Native,
    /// Baseline x86-64: runs on any x86-64 machine.
    Generic,
}

/// What the generated code looks like; every field changes the code (and
/// so belongs in any cache key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompilerConfig {
    pub opt_level: OptLevel,
    pub target_cpu: TargetCpu,
    /// Count fuel (one unit per operator) and trap with "out of fuel" at
    /// function entries and loop headers when the store's fuel is below 0.
    pub consume_fuel: bool,
    /// Check the store's epoch deadline at function entries and loop
    /// headers (deadlines, timeouts, interrupting from another thread).
    pub epoch_interruption: bool,
    /// The baseline tier of tiered compilation: count each function's calls
    /// and loop iterations in its vmctx counter; a call that finds the
    /// count at this times the body's whole 512-byte steps (at least once:
    /// `translate::profile::hot_after`) calls the `TierUp` builtin.
    pub tier_up_after: Option<u32>,
}

/// Everything that decides the code a compiler with `config` generates, as
/// text: its settings, its [`BUILD`] (sources, LLVM version, target), and
/// for native code this CPU ([`cpu::host_cpu`]: CPUID, which is what LLVM's
/// host detection reads). Two compilers with equal fingerprints make the
/// same code for the same module, so this is the compiler's part of a cache
/// key. Computed without LLVM, so a process that has not loaded the
/// compiler (a warm start of `wasabi run`) can look code up.
pub fn fingerprint(config: &CompilerConfig) -> String {
    let cpu = match config.target_cpu {
        TargetCpu::Native => format!("native [{}]", cpu::host_cpu()),
        TargetCpu::Generic => "x86-64".to_string(),
    };
    // The developer overrides of `codegen` change the code too.
    let passes = std::env::var("WASABI_LLVM_PASSES").ok();
    let level = std::env::var("WASABI_LLVM_CODEGEN").ok();
    let args = std::env::var("WASABI_LLVM_ARGS").ok();
    format!(
        "{BUILD}; cpu {cpu}; opt {:?}; fuel {}; epoch {}; tier-up {:?}; passes {passes:?}; \
         codegen {level:?}; llvm args {args:?}",
        config.opt_level, config.consume_fuel, config.epoch_interruption, config.tier_up_after,
    )
}

/// What to compile of an open module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// Every defined function (in parallel batches) and the trampolines:
    /// one object per batch, the trampolines last.
    Module,
    /// The trampolines (`TrampolinePlan`), one object.
    Trampolines,
    /// These defined functions (imports included in the numbering), one
    /// object defining `symbols::func(f)` for each.
    Functions(Vec<u32>),
    /// The on-stack-replacement entry of defined function `func` at its
    /// OSR loop `loop_index`: one object defining `symbols::func_osr`.
    Osr { func: u32, loop_index: u32 },
    /// For static linking (`wasabi aot`): [`Job::Module`]'s objects, then
    /// the AOT table object.
    Aot,
}

/// Why a compilation failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The whole message (`in function 3 (f): unsupported: ...`).
    pub message: String,
    /// When the module uses something the compiler cannot compile yet:
    /// what (the innermost message), wherever in the module it is.
    pub unsupported: Option<String>,
}

impl Failure {
    /// A failure that is not about the module (a missing plugin, say).
    pub fn other(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            unsupported: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Called with the number of batches compiled so far and the total.
pub type Progress<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// A way to reach the code generator.
pub trait Backend: Send + Sync {
    /// Makes `info` (a validated module's description) and its bytes
    /// known to the compiler once, for every job compiled of it later.
    fn open(
        &self,
        info: &Arc<ModuleInfo>,
        wasm: &Arc<[u8]>,
    ) -> Result<Arc<dyn ModuleCompiler>, Failure>;

    /// How many loops got an in-bounds copy so far (`--stats`); 0 if this
    /// backend has compiled nothing.
    fn versioned_loops(&self) -> u64;

    /// A hint: something is about to be compiled (a module missed the
    /// cache and is being validated). A backend with set-up work (the
    /// plugin: loading LLVM) may start it now, off this thread, so that it
    /// overlaps validation. By default, nothing.
    fn prepare(&self) {}
}

/// One module, open in a [`Backend`].
pub trait ModuleCompiler: Send + Sync {
    /// Compiles `job` with `config` into ELF relocatable objects.
    /// `progress` hears of batches ([`Job::Module`], [`Job::Aot`]).
    fn compile(
        &self,
        config: &CompilerConfig,
        job: &Job,
        progress: Option<&Progress>,
    ) -> Result<Vec<Vec<u8>>, Failure>;
}

/// A module and the backend that compiles it, opened in the backend on the
/// first compile (never, if everything came from the cache: a warm start
/// then loads no compiler), once for every job and both tiers.
pub struct ModuleSession {
    backend: Arc<dyn Backend>,
    info: Arc<ModuleInfo>,
    wasm: Arc<[u8]>,
    opened: OnceLock<Result<Arc<dyn ModuleCompiler>, Failure>>,
}

impl ModuleSession {
    pub fn new(backend: Arc<dyn Backend>, info: Arc<ModuleInfo>, wasm: Arc<[u8]>) -> Arc<Self> {
        Arc::new(ModuleSession {
            backend,
            info,
            wasm,
            opened: OnceLock::new(),
        })
    }

    /// Compiles `job` with `config` (opening the module first if need be;
    /// a module that could not be opened fails every job the same way).
    pub fn compile(
        &self,
        config: &CompilerConfig,
        job: &Job,
        progress: Option<&Progress>,
    ) -> Result<Vec<Vec<u8>>, Failure> {
        let opened = self
            .opened
            .get_or_init(|| self.backend.open(&self.info, &self.wasm));
        opened
            .as_ref()
            .map_err(Failure::clone)?
            .compile(config, job, progress)
    }

    /// The runtime's view of this session compiling with `config` (lazy
    /// and tiered modes).
    pub fn generator(self: &Arc<Self>, config: CompilerConfig) -> Arc<dyn CodeGenerator> {
        Arc::new(SessionGenerator {
            session: self.clone(),
            config,
        })
    }
}

/// [`ModuleSession`] as a `CodeGenerator`: bound to the session's module,
/// which is what the runtime passes to every call (the same `ModuleInfo`
/// and bytes; anything else is refused, not compiled).
struct SessionGenerator {
    session: Arc<ModuleSession>,
    config: CompilerConfig,
}

impl SessionGenerator {
    fn one(&self, module: &ModuleInfo, wasm: Option<&[u8]>, job: Job) -> Result<Vec<u8>, String> {
        let s = &self.session;
        let same_wasm = wasm.is_none_or(|w| std::ptr::eq(w, &*s.wasm));
        if !std::ptr::eq(module, &*s.info) || !same_wasm {
            return Err("code generator asked for another module than its own".into());
        }
        let mut objects = s.compile(&self.config, &job, None).map_err(|e| e.message)?;
        match objects.len() {
            1 => Ok(objects.pop().expect("one object")),
            n => Err(format!("code generator returned {n} objects for one")),
        }
    }
}

impl CodeGenerator for SessionGenerator {
    fn compile_module(&self, module: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let s = &self.session;
        if !std::ptr::eq(module, &*s.info) || !std::ptr::eq(wasm, &*s.wasm) {
            return Err("code generator asked for another module than its own".into());
        }
        s.compile(&self.config, &Job::Module, None)
            .map_err(|e| e.message)
    }

    fn compile_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
    ) -> Result<Vec<u8>, String> {
        self.one(module, Some(wasm), Job::Functions(vec![func_index]))
    }

    fn compile_trampolines(&self, module: &ModuleInfo) -> Result<Vec<u8>, String> {
        self.one(module, None, Job::Trampolines)
    }

    fn compile_batch(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        funcs: &[u32],
    ) -> Result<Vec<u8>, String> {
        self.one(module, Some(wasm), Job::Functions(funcs.to_vec()))
    }

    fn compile_osr(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
        loop_index: u32,
    ) -> Result<Vec<u8>, String> {
        let job = Job::Osr {
            func: func_index,
            loop_index,
        };
        self.one(module, Some(wasm), job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_every_setting_and_by_cpu() {
        let base = CompilerConfig::default();
        let variants = [
            CompilerConfig {
                opt_level: OptLevel::O3,
                ..base.clone()
            },
            CompilerConfig {
                target_cpu: TargetCpu::Generic,
                ..base.clone()
            },
            CompilerConfig {
                consume_fuel: true,
                ..base.clone()
            },
            CompilerConfig {
                epoch_interruption: true,
                ..base.clone()
            },
            CompilerConfig {
                tier_up_after: Some(10),
                ..base.clone()
            },
        ];
        let f = fingerprint(&base);
        assert_eq!(f, fingerprint(&base.clone()));
        assert!(f.contains(BUILD), "{f}");
        assert!(f.contains(cpu::host_cpu()), "{f}");
        for v in &variants {
            assert_ne!(fingerprint(v), f, "{v:?}");
        }
        // Generic code does not depend on this CPU.
        assert!(!fingerprint(&variants[1]).contains(cpu::host_cpu()));
    }
}
