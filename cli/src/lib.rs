//! Wasabi: a WebAssembly compiler and runtime built on LLVM.
//!
//! This crate is the one entry point for Rust users. It wires the LLVM code
//! generator ([`wasabi_compiler`]) to the runtime ([`wasabi_runtime`]):
//!
//! ```no_run
//! use wasabi::{Engine, Store, Val};
//! let engine = Engine::default();
//! let module = engine.compile_file("fib.wat".as_ref()).unwrap();
//! let mut store = Store::default();
//! let instance = store.instantiate(&module, &[]).unwrap();
//! let fib = instance.get_func("fib").unwrap();
//! let results = store.call(&fib, &[Val::I32(20)]).unwrap();
//! ```
//!
//! Text (`.wat`) is accepted wherever a module is.

pub mod aot;
pub mod wast;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use wasabi_compiler::{CompileError, CompilerConfig, LlvmCompiler, OptLevel, TargetCpu};
pub use wasabi_runtime::instance::Caller;
pub use wasabi_runtime::lazy::LazyStats;
pub use wasabi_runtime::module::ModuleError;
pub use wasabi_runtime::CodeGenerator;
pub use wasabi_runtime::{
    CompiledModule, Extern, ExternRef, Func, FuncType, Global, HostError, InstanceHandle,
    InstantiationError, Memory, ModuleInfo, Store, StoreConfig, TableHandle, Trap, TrapCode, Val,
    ValType,
};

/// Everything that can go wrong between bytes and a running instance.
#[derive(Debug)]
pub enum Error {
    /// The text format did not parse.
    Text(String),
    /// Malformed or invalid binary (names the byte offset).
    Module(ModuleError),
    Compile(CompileError),
    Load(String),
    Instantiate(InstantiationError),
    Trap(Trap),
    Io(std::io::Error),
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Text(m) => write!(f, "{m}"),
            Error::Module(e) => write!(f, "{e}"),
            Error::Compile(e) => write!(f, "compile error: {e}"),
            Error::Load(m) => write!(f, "{m}"),
            Error::Instantiate(e) => write!(f, "{e}"),
            Error::Trap(t) => write!(f, "{t}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Trap> for Error {
    fn from(t: Trap) -> Self {
        Error::Trap(t)
    }
}
impl From<InstantiationError> for Error {
    fn from(e: InstantiationError) -> Self {
        Error::Instantiate(e)
    }
}

/// Converts text format to binary; binary passes through unchanged.
pub fn wat_to_wasm(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.into());
    }
    wat::parse_bytes(bytes).map_err(|e| Error::Text(e.to_string()))
}

/// How long the phases of the last compilation took.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileTimings {
    pub parse: Duration,
    pub codegen: Duration,
    pub load: Duration,
}

/// Where [`Engine::compile`] puts the code it makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodeMode {
    /// Objects loaded in-process by wasabi's own loader.
    #[default]
    Jit,
    /// Each module linked into a shared library by `wasabi aot --shared`
    /// and loaded back with `dlopen`: the AOT path, as the spec suite's AOT
    /// mode exercises it.
    SharedLibrary,
}

/// When functions are compiled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CompileMode {
    /// Every function, in parallel, before the module can be instantiated.
    #[default]
    Regular,
    /// Only the trampolines up front; each function on its first call (see
    /// `wasabi_runtime::lazy`). Functions never called are never compiled.
    Lazy,
}

impl CompileMode {
    pub fn name(self) -> &'static str {
        match self {
            CompileMode::Regular => "regular",
            CompileMode::Lazy => "lazy",
        }
    }
}

impl std::str::FromStr for CompileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "regular" => Ok(CompileMode::Regular),
            "lazy" => Ok(CompileMode::Lazy),
            _ => Err(format!("unknown mode `{s}` (use regular or lazy)")),
        }
    }
}

/// Compiles modules. Cheap to clone; holds only configuration.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub compiler: LlvmCompiler,
    pub code_mode: CodeMode,
    pub mode: CompileMode,
}

impl Engine {
    pub fn new(config: CompilerConfig) -> Engine {
        Engine {
            compiler: LlvmCompiler::new(config),
            code_mode: CodeMode::Jit,
            mode: CompileMode::Regular,
        }
    }

    /// The same engine compiling in `mode`.
    pub fn with_mode(mut self, mode: CompileMode) -> Engine {
        self.mode = mode;
        self
    }

    /// Validates, compiles and loads a module (binary or text). In lazy
    /// mode only the trampolines are compiled here.
    pub fn compile(&self, bytes: &[u8], name: &str) -> Result<Arc<CompiledModule>, Error> {
        self.compile_timed(bytes, name).map(|(m, _)| m)
    }

    pub fn compile_timed(
        &self,
        bytes: &[u8],
        name: &str,
    ) -> Result<(Arc<CompiledModule>, CompileTimings), Error> {
        let t0 = Instant::now();
        let wasm = wat_to_wasm(bytes)?;
        let info = Arc::new(ModuleInfo::parse(&wasm).map_err(Error::Module)?);
        let t1 = Instant::now();
        if self.code_mode == CodeMode::SharedLibrary {
            let module = aot::build_and_load_shared(self, &wasm)?;
            let t2 = Instant::now();
            let timings = CompileTimings {
                parse: t1 - t0,
                codegen: t2 - t1,
                load: Duration::ZERO,
            };
            return Ok((module, timings));
        }
        if self.mode == CompileMode::Lazy {
            let tramps = self
                .compiler
                .compile_trampolines(&info)
                .map_err(Error::Compile)?;
            let t2 = Instant::now();
            let generator = Arc::new(self.compiler.clone());
            let module = CompiledModule::load_lazy(
                info,
                name.to_string(),
                Arc::from(&*wasm),
                generator,
                &tramps,
            )
            .map_err(|e| Error::Load(e.to_string()))?;
            let t3 = Instant::now();
            let timings = CompileTimings {
                parse: t1 - t0,
                codegen: t2 - t1,
                load: t3 - t2,
            };
            return Ok((Arc::new(module), timings));
        }
        let objects = self
            .compiler
            .compile_all(&info, &wasm)
            .map_err(Error::Compile)?;
        let t2 = Instant::now();
        let module = CompiledModule::load(info, name.to_string(), &objects)
            .map_err(|e| Error::Load(e.to_string()))?;
        let t3 = Instant::now();
        Ok((
            Arc::new(module),
            CompileTimings {
                parse: t1 - t0,
                codegen: t2 - t1,
                load: t3 - t2,
            },
        ))
    }

    pub fn compile_file(&self, path: &Path) -> Result<Arc<CompiledModule>, Error> {
        let bytes = std::fs::read(path).map_err(Error::Io)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.compile(&bytes, &name)
    }
}
