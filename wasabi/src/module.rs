//! [`Module`]: validated, compiled code ready to instantiate in any store.
//!
//! What must stay true: a `Module` always holds code for every function of
//! its description (or, in lazy mode, a thunk that compiles it on first
//! call); it is immutable and shared (`Arc`) by every instance made from it.

#[cfg(feature = "compiler")]
use crate::engine::CompileMode;
use crate::engine::Engine;
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasabi_runtime::module::{ExportKind, ImportKind};
use wasabi_runtime::{CompiledModule, ModuleInfo};

pub use wasabi_runtime::module::{GlobalType, MemoryType, TableType};
pub use wasabi_runtime::{FuncType, ValType};

/// The type of something imported or exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternType {
    /// A function of this type.
    Func(FuncType),
    /// A memory with these limits.
    Memory(MemoryType),
    /// A table with this element type and limits.
    Table(TableType),
    /// A global of this type.
    Global(GlobalType),
}

impl std::fmt::Display for ExternType {
    /// The wat-like form: `(func (param i32) (result i32))`, `(memory 1 2)`,
    /// `(table 1 funcref)`, `(global (mut i32))`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limits = |min: u64, max: Option<u64>| match max {
            Some(max) => format!("{min} {max}"),
            None => format!("{min}"),
        };
        match self {
            ExternType::Func(ty) => {
                let list = |kw: &str, v: &[ValType]| match v {
                    [] => String::new(),
                    _ => {
                        let names: Vec<String> = v.iter().map(|t| t.to_string()).collect();
                        format!(" ({kw} {})", names.join(" "))
                    }
                };
                write!(
                    f,
                    "(func{}{})",
                    list("param", &ty.params),
                    list("result", &ty.results)
                )
            }
            ExternType::Memory(m) => write!(f, "(memory {})", limits(m.minimum, m.maximum)),
            ExternType::Table(t) => {
                write!(f, "(table {} {})", limits(t.minimum, t.maximum), t.element)
            }
            ExternType::Global(g) if g.mutable => write!(f, "(global (mut {}))", g.content),
            ExternType::Global(g) => write!(f, "(global {})", g.content),
        }
    }
}

/// One import of a module: `module::name` and what it must be.
#[derive(Clone, Debug)]
pub struct ImportType<'m> {
    /// The import's module name.
    pub module: &'m str,
    /// The import's field name.
    pub name: &'m str,
    /// What the import must be.
    pub ty: ExternType,
}

/// One export of a module.
#[derive(Clone, Debug)]
pub struct ExportType<'m> {
    /// The export's name.
    pub name: &'m str,
    /// What is exported.
    pub ty: ExternType,
}

/// How long the phases of compiling a module took.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileTimings {
    /// Text to binary, validation and description.
    pub parse: Duration,
    /// LLVM (in lazy mode: the trampolines only).
    pub codegen: Duration,
    /// Loading objects into executable memory.
    pub load: Duration,
}

/// A compiled module. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    compiled: Arc<CompiledModule>,
    timings: CompileTimings,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.compiled.name)
            .finish()
    }
}

/// Converts text format to binary; binary passes through unchanged.
pub fn wat_to_wasm(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.into());
    }
    #[cfg(feature = "wat")]
    {
        wat::parse_bytes(bytes).map_err(|e| Error::Text(e.to_string()))
    }
    #[cfg(not(feature = "wat"))]
    Err(Error::Text(
        "not a wasm binary (and this build of wasabi has no text-format support)".into(),
    ))
}

impl Module {
    /// Validates and compiles a module given as binary or text. In lazy
    /// mode only the trampolines are compiled here.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        Module::with_name(engine, bytes, "module")
    }

    /// Like [`Module::new`], naming the module `name` in traps and
    /// messages.
    pub fn with_name(engine: &Engine, bytes: impl AsRef<[u8]>, name: &str) -> Result<Module> {
        let t0 = Instant::now();
        let wasm = wat_to_wasm(bytes.as_ref())?;
        let info = Arc::new(ModuleInfo::parse(&wasm).map_err(Error::Module)?);
        let t1 = Instant::now();
        compile(engine, info, &wasm, name, t1 - t0)
    }

    /// Reads, validates and compiles a module file (binary or text), named
    /// after the file's stem.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "module".into());
        Module::with_name(engine, bytes, &name)
    }

    /// A module from code compiled elsewhere (an AOT table object or a
    /// loaded shared library; see `wasabi_runtime::code`).
    pub fn from_compiled(compiled: Arc<CompiledModule>) -> Module {
        Module {
            compiled,
            timings: CompileTimings::default(),
        }
    }

    /// The name used in traps and messages.
    pub fn name(&self) -> &str {
        &self.compiled.name
    }

    /// How long compiling this module took.
    pub fn timings(&self) -> CompileTimings {
        self.timings
    }

    /// The compiled code and description.
    pub fn compiled(&self) -> &Arc<CompiledModule> {
        &self.compiled
    }

    /// The module description.
    pub fn info(&self) -> &ModuleInfo {
        &self.compiled.info
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        let info = &self.compiled.info;
        info.imports.iter().map(move |i| ImportType {
            module: &i.module,
            name: &i.name,
            ty: import_type(info, &i.kind),
        })
    }

    /// The module's exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        let info = &self.compiled.info;
        info.exports.iter().map(move |e| ExportType {
            name: &e.name,
            ty: match e.kind {
                ExportKind::Func => ExternType::Func(info.func_type(e.index).clone()),
                ExportKind::Memory => ExternType::Memory(info.memories[e.index as usize]),
                ExportKind::Table => ExternType::Table(info.tables[e.index as usize]),
                ExportKind::Global => ExternType::Global(info.globals[e.index as usize]),
            },
        })
    }

    /// Counts of lazy compilation (`None` unless compiled in lazy mode).
    pub fn lazy_stats(&self) -> Option<wasabi_runtime::lazy::LazyStats> {
        self.compiled.lazy_stats()
    }
}

pub(crate) fn import_type(info: &ModuleInfo, kind: &ImportKind) -> ExternType {
    match kind {
        ImportKind::Func(t) => ExternType::Func(info.types[*t as usize].clone()),
        ImportKind::Memory(m) => ExternType::Memory(*m),
        ImportKind::Table(t) => ExternType::Table(*t),
        ImportKind::Global(g) => ExternType::Global(*g),
    }
}

#[cfg(feature = "compiler")]
fn compile(
    engine: &Engine,
    info: Arc<ModuleInfo>,
    wasm: &[u8],
    name: &str,
    parse: Duration,
) -> Result<Module> {
    use wasabi_runtime::CodeGenerator;
    let compiler = engine.compiler();
    let t1 = Instant::now();
    let (compiled, t2) = if engine.config().mode == CompileMode::Lazy {
        let tramps = compiler.compile_trampolines(&info).map_err(compile_error)?;
        let t2 = Instant::now();
        let generator: Arc<dyn CodeGenerator> = compiler.clone();
        let m =
            CompiledModule::load_lazy(info, name.to_string(), Arc::from(wasm), generator, &tramps)
                .map_err(|e| Error::Load(e.to_string()))?;
        (m, t2)
    } else {
        let objects = compiler.compile_all(&info, wasm).map_err(compile_error)?;
        let t2 = Instant::now();
        let m = CompiledModule::load(info, name.to_string(), &objects)
            .map_err(|e| Error::Load(e.to_string()))?;
        (m, t2)
    };
    let t3 = Instant::now();
    Ok(Module {
        compiled: Arc::new(compiled),
        timings: CompileTimings {
            parse,
            codegen: t2 - t1,
            load: t3 - t2,
        },
    })
}

/// A compiler error as an [`Error`]: `Unsupported` when the module uses
/// something not compiled yet (wherever in the module), else `Compile`.
#[cfg(feature = "compiler")]
fn compile_error(e: wasabi_compiler::CompileError) -> Error {
    use wasabi_compiler::CompileError as C;
    let mut inner = &e;
    while let C::InFunction { error, .. } = inner {
        inner = error;
    }
    match inner {
        C::Unsupported(w) => Error::Unsupported(w.clone()),
        _ => Error::Compile(e.to_string()),
    }
}

#[cfg(not(feature = "compiler"))]
fn compile(
    _engine: &Engine,
    _info: Arc<ModuleInfo>,
    _wasm: &[u8],
    _name: &str,
    _parse: Duration,
) -> Result<Module> {
    Err(Error::Compile(
        "this build of wasabi has no compiler (the `compiler` feature is off)".into(),
    ))
}
