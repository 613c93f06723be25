//! Wasabi's code generator: WebAssembly function bodies to LLVM IR to
//! relocatable object code.
//!
//! Entry point: [`LlvmCompiler`], which implements the runtime's
//! [`CodeGenerator`]. It splits a module's functions into batches, translates
//! each batch into its own LLVM context and module (so batches compile in
//! parallel on rayon's pool), and emits one ELF object per batch plus one for
//! the trampolines. The runtime's loader maps them; nothing here executes
//! code. For lazy compilation the runtime asks for one function at a time
//! ([`CodeGenerator::compile_function`]: one LLVM module per function) and
//! for the trampolines alone.
//!
//! - [`env`]: LLVM types and vmctx access for one LLVM module.
//! - [`translate`]: one function body to IR, split by operator family.
//! - [`trampolines`]: host-to-wasm and wasm-to-host trampolines.
//! - [`codegen`]: target machine, pass pipeline, object emission.

mod aot;
mod codegen;
mod env;
mod passes;
pub use passes::{jammed_nests, versioned_loops};
pub mod plugin;
pub use plugin::InProcess;
mod trampolines;
mod translate;

use inkwell::context::Context;
use rayon::prelude::*;
use std::fmt;
use wasabi_runtime::code::TrampolinePlan;
use wasabi_runtime::module::ModuleInfo;
use wasabi_runtime::CodeGenerator;
use wasmparser::{BinaryReader, FunctionBody};

/// Why compilation failed.
#[derive(Debug, Clone)]
pub enum CompileError {
    /// The module uses something wasabi cannot compile yet.
    Unsupported(String),
    /// LLVM rejected something (a wasabi bug) or failed.
    Llvm(String),
    /// Decoding a function body failed.
    Decode { offset: usize, message: String },
    /// An error inside a particular function.
    InFunction {
        index: u32,
        name: String,
        error: Box<CompileError>,
    },
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Unsupported(w) => write!(f, "unsupported: {w}"),
            CompileError::Llvm(m) => write!(f, "LLVM: {m}"),
            CompileError::Decode { offset, message } => {
                write!(f, "at byte offset {offset:#x}: {message}")
            }
            CompileError::InFunction { index, name, error } => {
                write!(f, "in function {index} ({name}): {error}")
            }
        }
    }
}

impl std::error::Error for CompileError {}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        CompileError::Decode {
            offset: e.offset() as usize,
            message: e.message().to_string(),
        }
    }
}

pub use wasabi_compiler_abi::{CompilerConfig, OptLevel, TargetCpu};

/// The LLVM code generator.
#[derive(Clone, Debug, Default)]
pub struct LlvmCompiler {
    pub config: CompilerConfig,
}

/// Wasm bytes of function bodies per batch at most (a batch is one LLVM
/// module, compiled on one thread).
const BATCH_BYTES: usize = 64 * 1024;

/// Below this many bytes of function bodies a module compiles as one batch.
const MIN_PARALLEL_BYTES: usize = 8 * 1024;

impl LlvmCompiler {
    pub fn new(config: CompilerConfig) -> Self {
        LlvmCompiler { config }
    }

    /// Everything that decides the code this compiler generates, as text
    /// (`wasabi_compiler_abi::fingerprint`, computed without LLVM): two
    /// compilers with equal fingerprints make the same code for the same
    /// module, so this is the compiler's part of a cache key.
    pub fn fingerprint(&self) -> String {
        wasabi_compiler_abi::fingerprint(&self.config)
    }

    /// Compiles the given defined functions into one object.
    pub fn compile_functions(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
        funcs: &[u32],
    ) -> Result<Vec<u8>, CompileError> {
        self.compile_translations(info, wasm, funcs, None)
    }

    /// Compiles the on-stack-replacement entry of defined function `f` at
    /// its OSR loop `l` (see `translate::profile`) into one object defining
    /// `symbols::func_osr(f, l)`.
    pub fn compile_osr(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
        f: u32,
        l: u32,
    ) -> Result<Vec<u8>, CompileError> {
        self.compile_translations(info, wasm, &[f], Some(l))
    }

    fn compile_translations(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
        funcs: &[u32],
        osr: Option<u32>,
    ) -> Result<Vec<u8>, CompileError> {
        let ctx = compile_context();
        let mut env = env::ModuleEnv::new(&ctx, "wasabi_funcs", info);
        env.instrument = env::Instrumentation {
            fuel: self.config.consume_fuel,
            epoch: self.config.epoch_interruption,
            tier_up_after: self.config.tier_up_after,
        };
        env.optimizing = self.config.opt_level != OptLevel::O0;
        for &f in funcs {
            let range = &info.function_bodies[(f - info.num_imported_funcs) as usize];
            let body =
                FunctionBody::new(BinaryReader::new(&wasm[range.clone()], range.start as u64));
            translate::FuncTranslator::translate(&env, f, &body, osr).map_err(|e| {
                CompileError::InFunction {
                    index: f,
                    name: info.func_display_name(f),
                    error: Box::new(e),
                }
            })?;
        }
        // A function whose locals stay in memory gets a batch of its own
        // (see `batches`) and the fast instruction selector: the scheduler
        // of -O1 and up is quadratic in the length of a block, and such a
        // function has a huge one.
        let config = match funcs {
            [f] if Self::locals_in_memory(info, wasm, *f) => CompilerConfig {
                opt_level: OptLevel::O0,
                ..self.config.clone()
            },
            _ => self.config.clone(),
        };
        with_machine(&config, |machine| {
            codegen::emit_object(&env.module, machine, &config, osr.is_some())
        })
    }

    /// Whether defined function `f` is so large for its number of locals
    /// that they are not promoted to registers
    /// (`translate::LOCALS_PROMOTION_LIMIT`).
    fn locals_in_memory(info: &ModuleInfo, wasm: &[u8], f: u32) -> bool {
        let range = &info.function_bodies[(f - info.num_imported_funcs) as usize];
        let body = FunctionBody::new(BinaryReader::new(&wasm[range.clone()], range.start as u64));
        let mut n = info.func_type(f).params.len() as u64;
        let Ok(mut reader) = body.get_locals_reader() else {
            return false;
        };
        for _ in 0..reader.get_count() {
            match reader.read() {
                Ok((count, _)) => n += count as u64,
                Err(_) => return false,
            }
        }
        translate::locals_in_memory(n, range.len() as u64)
    }

    /// Compiles the trampolines the module needs into one object: an entry
    /// trampoline per distinct signature of its functions, a host trampoline
    /// per distinct signature of its imported functions
    /// ([`TrampolinePlan`]); unused and repeated types cost nothing.
    pub fn compile_trampolines(&self, info: &ModuleInfo) -> Result<Vec<u8>, CompileError> {
        let ctx = compile_context();
        let mut env = env::ModuleEnv::new(&ctx, "wasabi_trampolines", info);
        // Compiled at -O0, below.
        env.optimizing = false;
        let plan = TrampolinePlan::new(info);
        for &t in &plan.entry {
            trampolines::build_entry(&env, t)?;
        }
        for &t in &plan.host {
            trampolines::build_host(&env, t)?;
        }
        // Trampolines are glue, straight-line code with nothing to optimise,
        // but one per signature, and a signature may have thousands of
        // values: LLVM's instruction schedulers (-O1 and up) are quadratic in
        // the length of a block (1,000 params: 12 s). The fast instruction
        // selector is linear (0.4 s) and makes the same loads, stores and call.
        let config = CompilerConfig {
            opt_level: OptLevel::O0,
            ..self.config.clone()
        };
        with_machine(&config, |machine| {
            codegen::emit_object(&env.module, machine, &config, false)
        })
    }

    /// Splits defined functions into batches: about one per thread (so a
    /// small module still compiles on every core), at most
    /// [`BATCH_BYTES`] of wasm each, and one batch for a module under
    /// [`MIN_PARALLEL_BYTES`] (where setting up another LLVM context costs
    /// more than it saves). A function whose locals stay in memory is a
    /// batch of its own.
    pub fn batches(info: &ModuleInfo, wasm: &[u8]) -> Vec<Vec<u32>> {
        let total: usize = info.function_bodies.iter().map(|r| r.len()).sum();
        let threads = rayon::current_num_threads().max(1);
        let per_batch = if total < MIN_PARALLEL_BYTES {
            usize::MAX
        } else {
            BATCH_BYTES.min(total.div_ceil(threads))
        };
        let mut batches = Vec::new();
        let mut cur = Vec::new();
        let mut bytes = 0;
        for (k, r) in info.function_bodies.iter().enumerate() {
            let f = info.num_imported_funcs + k as u32;
            if Self::locals_in_memory(info, wasm, f) {
                batches.push(vec![f]);
                continue;
            }
            if !cur.is_empty() && bytes + r.len() > per_batch {
                batches.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            cur.push(f);
            bytes += r.len();
        }
        if !cur.is_empty() {
            batches.push(cur);
        }
        batches
    }

    /// Compiles a whole module: trampolines plus all functions, in parallel.
    pub fn compile_all(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
    ) -> Result<Vec<Vec<u8>>, CompileError> {
        self.compile_all_with(info, wasm, &|_, _| {})
    }

    /// [`Self::compile_all`], calling `progress` with the number of batches
    /// done and the total as each batch ends.
    pub fn compile_all_with(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<Vec<u8>>, CompileError> {
        let batches = Self::batches(info, wasm);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut objects: Vec<Vec<u8>> = batches
            .par_iter()
            .map(|b| {
                let o = self.compile_functions(info, wasm, b);
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n, batches.len());
                o
            })
            .collect::<Result<_, _>>()?;
        objects.push(self.compile_trampolines(info)?);
        Ok(objects)
    }
}

/// A context for one compilation. It drops the names of instructions,
/// arguments and blocks as they are given (functions and globals keep
/// theirs): nothing reads them, and making each unique (`%addr`,
/// `%addr1`, ...) costs time in every translation (baseline-only
/// regex_bench: process CPU 3.97 -> 3.88 s). Tests that look at IR make
/// their own contexts, which keep names.
fn compile_context() -> Context {
    let ctx = Context::create();
    // SAFETY: `ctx` is a live context owned here; the call only sets a flag.
    unsafe {
        inkwell::llvm_sys::core::LLVMContextSetDiscardValueNames(ctx.raw(), 1);
    }
    ctx
}

/// Runs `f` with this thread's [`codegen::Machine`] for `config` (target
/// machine and code-generation pipeline), made on first use. Making a
/// target machine costs about 0.2 ms (host CPU name and features, the
/// subtarget) and building its pipeline about 0.1 ms, against 0.13 ms to
/// compile a small function in a batch, and lazy and tiered modes compile
/// one function at a time. A machine depends only on the level and CPU
/// (and the process's environment, fixed), and is reusable but not
/// shareable between threads: hence one per thread.
fn with_machine<T>(
    config: &CompilerConfig,
    f: impl FnOnce(&codegen::Machine) -> Result<T, CompileError>,
) -> Result<T, CompileError> {
    type Machines = Vec<((OptLevel, TargetCpu), std::rc::Rc<codegen::Machine>)>;
    thread_local! {
        static MACHINES: std::cell::RefCell<Machines> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let key = (config.opt_level, config.target_cpu);
    let cached = MACHINES.with(|m| {
        m.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, machine)| machine.clone())
    });
    let machine = match cached {
        Some(machine) => machine,
        None => {
            let machine = std::rc::Rc::new(codegen::Machine::new(config)?);
            MACHINES.with(|m| m.borrow_mut().push((key, machine.clone())));
            machine
        }
    };
    f(&machine)
}

impl CodeGenerator for LlvmCompiler {
    fn compile_module(&self, module: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.compile_all(module, wasm).map_err(|e| e.to_string())
    }

    /// One function, one LLVM module, one object (lazy compilation). Calls
    /// go through the callee's `VMFuncRef`, so the object references no
    /// other function.
    fn compile_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
    ) -> Result<Vec<u8>, String> {
        if func_index < module.num_imported_funcs || func_index as usize >= module.functions.len() {
            return Err(format!("function {func_index} is not a defined function"));
        }
        self.compile_functions(module, wasm, &[func_index])
            .map_err(|e| e.to_string())
    }

    fn compile_trampolines(&self, module: &ModuleInfo) -> Result<Vec<u8>, String> {
        LlvmCompiler::compile_trampolines(self, module).map_err(|e| e.to_string())
    }

    fn compile_batch(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        funcs: &[u32],
    ) -> Result<Vec<u8>, String> {
        let defined = module.num_imported_funcs..module.functions.len() as u32;
        if let Some(f) = funcs.iter().find(|f| !defined.contains(f)) {
            return Err(format!("function {f} is not a defined function"));
        }
        LlvmCompiler::compile_functions(self, module, wasm, funcs).map_err(|e| e.to_string())
    }

    fn compile_osr(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
        loop_index: u32,
    ) -> Result<Vec<u8>, String> {
        if func_index < module.num_imported_funcs || func_index as usize >= module.functions.len() {
            return Err(format!("function {func_index} is not a defined function"));
        }
        LlvmCompiler::compile_osr(self, module, wasm, func_index, loop_index)
            .map_err(|e| e.to_string())
    }
}
