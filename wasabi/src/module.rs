//! [`Module`]: validated, compiled code ready to instantiate in any store.
//!
//! What must stay true: a `Module` always holds code for every function of
//! its description (or, in lazy mode, a thunk that compiles it on first
//! call); it is immutable and shared (`Arc`) by every instance made from it.

use crate::engine::CompileMode;
use crate::engine::Engine;
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasabi_compiler_abi::{Failure, Job, ModuleSession};
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

/// What the compiled-code cache did for a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache was consulted (it is off, the module was compiled lazily,
    /// or the code came from elsewhere).
    NotUsed,
    /// The code came from the cache: no compilation.
    Hit,
    /// Compiled, and stored in the cache.
    Miss,
    /// The cache held an entry that was refused (truncated, corrupt,
    /// foreign, or not loadable): compiled again, and the entry replaced.
    Replaced,
}

/// What looking a module up in the cache found, when it was not a usable
/// hit: the outcome so far, and the key to store the new code under (none
/// when no cache was consulted); in lazy and tiered modes, the module's
/// function cache (made once: its key hashes the whole module).
struct CacheLookup {
    outcome: CacheOutcome,
    key: Option<wasabi_cache::Key>,
    functions: Option<Arc<CachedFunctions>>,
}

impl CacheLookup {
    const NOT_USED: CacheLookup = CacheLookup {
        outcome: CacheOutcome::NotUsed,
        key: None,
        functions: None,
    };

    fn found(outcome: CacheOutcome, key: wasabi_cache::Key) -> CacheLookup {
        CacheLookup {
            outcome,
            key: Some(key),
            functions: None,
        }
    }
}

/// A compiled module. Cheap to clone.
#[derive(Clone)]
pub struct Module {
    compiled: Arc<CompiledModule>,
    timings: CompileTimings,
    /// The wasm bytes, kept for [`Module::serialize`].
    wasm: Option<ModuleBytes>,
    cache: CacheOutcome,
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
        let wasm: Arc<[u8]> = Arc::from(wat_to_wasm(bytes.as_ref())?);
        Module::build(engine, wasm.into(), name, t0)
    }

    /// Like [`Module::with_name`], taking bytes the caller shares: a
    /// binary module is kept as it is, never copied (a copy of a 4 MB
    /// module was 1-3 ms of a warm start).
    pub fn from_shared_bytes(engine: &Engine, bytes: Arc<[u8]>, name: &str) -> Result<Module> {
        Module::from_module_bytes(engine, bytes.into(), name)
    }

    /// Like [`Module::from_shared_bytes`], taking bytes shared or mapped
    /// from a file ([`ModuleBytes::map_file`]): a cache hit in regular mode
    /// then never copies the module (reading a 1.4 MB module into fresh
    /// memory was 0.9 ms of a 5 ms warm start, mapping it 0.1 ms); the
    /// bytes are copied only when they are to be validated and compiled.
    pub fn from_module_bytes(engine: &Engine, bytes: ModuleBytes, name: &str) -> Result<Module> {
        let t0 = Instant::now();
        let wasm = match bytes.starts_with(b"\0asm") {
            true => bytes,
            false => ModuleBytes::from(Arc::<[u8]>::from(wat_to_wasm(&bytes)?)),
        };
        Module::build(engine, wasm, name, t0)
    }

    fn build(engine: &Engine, wasm: ModuleBytes, name: &str, t0: Instant) -> Result<Module> {
        if engine.backend().is_none() {
            // Validation errors first, as with a compiler.
            ModuleInfo::parse(&wasm).map_err(Error::Module)?;
            return Err(Error::Compile(
                "this build of wasabi has no compiler (the `compiler` feature is off)".into(),
            ));
        }
        let mut looked_up = match from_cache_without_validation(engine, &wasm, name, t0) {
            Ok(m) => return Ok(m),
            Err(lookup) => lookup,
        };
        // From here the bytes are validated and compiled (or kept to
        // compile later): a copy of a mapped file, which cannot change
        // under the compiler. Its key is computed again, from the copy:
        // the file may have changed since the lookup, and an entry is only
        // ever stored under the hash of the bytes its code was made from.
        let mapped = wasm.is_mapped();
        let wasm = wasm.shared();
        if mapped && looked_up.key.is_some() {
            looked_up.key = Some(wasabi_cache::Key::new(&wasm, engine.fingerprint()));
        }
        let info = {
            looked_up.functions = CachedFunctions::for_module(engine, &wasm);
            let functions = looked_up.functions.as_deref();
            match functions.and_then(CachedFunctions::get_description) {
                Some(info) => info,
                None => {
                    // Not seen before: it will be compiled. Let the
                    // compiler get ready meanwhile.
                    if let Some(backend) = engine.backend() {
                        backend.prepare();
                    }
                    let info = ModuleInfo::parse(&wasm).map_err(Error::Module)?;
                    if let Some(c) = functions {
                        c.put_description(&info);
                    }
                    info
                }
            }
        };
        let t1 = Instant::now();
        compile(engine, Arc::new(info), &wasm, name, t1 - t0, looked_up)
    }

    /// Reads, validates and compiles a module file (binary or text), named
    /// after the file's stem.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let path = path.as_ref();
        let bytes = ModuleBytes::map_file(path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
        Module::from_module_bytes(engine, bytes, &module_name(path))
    }

    /// A module from code compiled elsewhere (an AOT table object or a
    /// loaded shared library; see `wasabi_runtime::code`).
    pub fn from_compiled(compiled: Arc<CompiledModule>) -> Module {
        Module {
            compiled,
            timings: CompileTimings::default(),
            wasm: None,
            cache: CacheOutcome::NotUsed,
        }
    }

    /// What the compiled-code cache did when this module was made.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// This module as a precompiled artifact (the format of `wasabi compile
    /// -o app.cwasm`): the wasm bytes and native code for every function,
    /// for this engine's settings and this CPU. Load it with
    /// [`Module::deserialize`]. Takes the code from the cache, or compiles
    /// it (a lazily compiled module is compiled whole here).
    pub fn serialize(&self, engine: &Engine) -> Result<Vec<u8>> {
        let wasm = self.wasm.as_ref().ok_or_else(|| {
            Error::Unsupported("a module loaded from native code cannot be serialized".into())
        })?;
        engine.precompile_module(wasm)
    }

    /// Loads a module from [`Module::serialize`]'s (or
    /// [`Engine::precompile_module`]'s, or `wasabi compile -o`'s) bytes,
    /// without compiling. The file is checked first: its format, that it is
    /// whole and undamaged (a checksum), and that it was made by this build
    /// of wasabi, with this engine's settings, for this CPU; anything else
    /// is an error, never run.
    ///
    /// # Safety
    /// The checks catch damage and mismatches, not malice: the bytes hold
    /// native code that will run in this process. Only pass bytes you trust
    /// as much as a program (ones you made yourself).
    pub unsafe fn deserialize(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        deserialize_named(engine, bytes.as_ref(), "module")
    }

    /// [`Module::deserialize`] of a file, named after the file's stem.
    ///
    /// # Safety
    /// As for [`Module::deserialize`].
    pub unsafe fn deserialize_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        let (bytes, name) = read_module_file(path.as_ref())?;
        deserialize_named(engine, &bytes, &name)
    }

    /// Loads a precompiled artifact (as [`Module::deserialize`]) without
    /// checking which build and settings made it: for programs without the
    /// compiler, which cannot compute that fingerprint (an AOT executable
    /// loading the modules bundled into it with `wasabi aot --with`). The
    /// format, length and checksum are still checked.
    ///
    /// # Safety
    /// As for [`Module::deserialize`], and more: the bytes must have been
    /// made by this very build of wasabi, for this CPU, since nothing here
    /// can tell.
    pub unsafe fn deserialize_unchecked(bytes: impl AsRef<[u8]>, name: &str) -> Result<Module> {
        load_precompiled(bytes.as_ref(), name, None)
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

/// A module file's bytes and its name (the file's stem), with the path in
/// the error when it cannot be read.
fn read_module_file(path: &Path) -> Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    Ok((bytes, module_name(path)))
}

/// The bytes of the file at `path`, read straight into shared memory (no
/// copy after the read), for [`Module::from_shared_bytes`].
pub fn read_shared(path: &Path) -> std::io::Result<Arc<[u8]>> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut bytes = Arc::<[u8]>::new_uninit_slice(len);
    let buf = Arc::get_mut(&mut bytes).expect("a fresh Arc is unique");
    let mut done = 0;
    while done < len {
        // SAFETY: reads at most `len - done` bytes into the allocation's
        // unwritten tail, through a raw pointer (no reference to
        // uninitialised bytes is made).
        let n = unsafe {
            libc::read(
                file.as_raw_fd(),
                buf.as_mut_ptr().add(done).cast(),
                len - done,
            )
        };
        match n {
            0 => break,
            n if n < 0 => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            n => done += n as usize,
        }
    }
    if done < len {
        // The file shrank meanwhile.
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    // SAFETY: all `len` bytes were written by the reads above.
    let bytes = unsafe { bytes.assume_init() };
    // A file that grew meanwhile: read the rest the slow way.
    let mut rest = Vec::new();
    file.read_to_end(&mut rest)?;
    if rest.is_empty() {
        return Ok(bytes);
    }
    Ok(bytes.iter().copied().chain(rest).collect())
}

/// A module's bytes, shared: in memory of their own, or a file mapped
/// read-only ([`ModuleBytes::map_file`]). Cheap to clone.
///
/// A mapped file must not be changed in place while it is mapped (as any
/// program file): a file truncated meanwhile makes reading its lost pages
/// fault (SIGBUS). The bytes are only read through the mapping on a cache
/// hit (hashed for the key, and looked at by ABI detection); any module
/// validated or compiled is copied first ([`Module::from_module_bytes`]).
#[derive(Clone)]
pub struct ModuleBytes(BytesRepr);

#[derive(Clone)]
enum BytesRepr {
    Shared(Arc<[u8]>),
    Mapped(Arc<memmap2::Mmap>),
}

impl ModuleBytes {
    /// The bytes of the file at `path`: mapped when it is a regular file
    /// that is not empty, else read ([`read_shared`]: pipes, devices).
    pub fn map_file(path: &Path) -> std::io::Result<ModuleBytes> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            return read_shared(path).map(ModuleBytes::from);
        }
        // Every page mapped at once (MAP_POPULATE): the bytes are hashed
        // whole right away, and one fault per 4 KiB page is what made
        // reading the file cost what it did.
        // SAFETY: a read-only private mapping; the bytes must not change
        // while mapped. Module files are not written in place while they
        // run (see the type's doc: a file truncated meanwhile faults on
        // access, as a program file would); and nothing validated or
        // compiled reads them through the mapping, so a change could not
        // reach the compiler.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
        Ok(ModuleBytes(BytesRepr::Mapped(Arc::new(map))))
    }

    /// Whether the bytes are a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, BytesRepr::Mapped(_))
    }

    /// The bytes in memory of their own (a copy if they are mapped).
    pub fn shared(&self) -> Arc<[u8]> {
        match &self.0 {
            BytesRepr::Shared(b) => b.clone(),
            BytesRepr::Mapped(m) => Arc::from(&m[..]),
        }
    }
}

impl std::ops::Deref for ModuleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            BytesRepr::Shared(b) => b,
            BytesRepr::Mapped(m) => m,
        }
    }
}

impl AsRef<[u8]> for ModuleBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Arc<[u8]>> for ModuleBytes {
    fn from(bytes: Arc<[u8]>) -> ModuleBytes {
        ModuleBytes(BytesRepr::Shared(bytes))
    }
}

impl std::fmt::Debug for ModuleBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleBytes")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// The name of the module in the file at `path`, for traps and messages:
/// the file's stem (`app` for `dir/app.wasm`).
pub fn module_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into())
}

pub(crate) fn import_type(info: &ModuleInfo, kind: &ImportKind) -> ExternType {
    match kind {
        ImportKind::Func(t) => ExternType::Func(info.types[*t as usize].clone()),
        ImportKind::Memory(m) => ExternType::Memory(*m),
        ImportKind::Table(t) => ExternType::Table(*t),
        ImportKind::Global(g) => ExternType::Global(*g),
    }
}

fn compile(
    engine: &Engine,
    info: Arc<ModuleInfo>,
    wasm: &Arc<[u8]>,
    name: &str,
    parse: Duration,
    looked_up: CacheLookup,
) -> Result<Module> {
    let t1 = Instant::now();
    let mut cache = CacheOutcome::NotUsed;
    let mode = engine.config().mode;
    let (compiled, t2) = if mode != CompileMode::Regular {
        let cached = looked_up.functions.clone();
        // Opened in the backend (for the plugin: loaded) on the first
        // compile, if any.
        let session = session(engine, &info, wasm)?;
        // The trampolines are cached too (under their own key).
        let tramps = match cached.as_ref().and_then(|c| c.get_trampolines()) {
            Some(t) => t,
            None => {
                let t = session
                    .compile(&engine.compiler_config(), &Job::Trampolines, None)
                    .map_err(compile_error)?;
                let [t] = <[Vec<u8>; 1]>::try_from(t)
                    .map_err(|_| Error::Compile("trampolines are not one object".into()))?;
                if let Some(c) = &cached {
                    c.put_trampolines(&t);
                }
                t
            }
        };
        let t2 = Instant::now();
        let optimized = session.generator(engine.compiler_config());
        let (generator, tiering) = match mode {
            CompileMode::Tiered => {
                let baseline = session.generator(engine.baseline_config());
                let tiering = wasabi_runtime::lazy::Tiering {
                    optimizer: optimized,
                    background: engine.config().tier_up_in_background,
                };
                (baseline, Some(tiering))
            }
            _ => (optimized, None),
        };
        let m = CompiledModule::load_lazy(
            info,
            name.to_string(),
            wasm.clone(),
            generator,
            tiering,
            &tramps,
        )
        .map_err(|e| Error::Load(e.to_string()))?;
        let m = match cached {
            Some(c) => m.with_function_cache(c),
            None => m,
        };
        (m, t2)
    } else {
        let (m, outcome, t2) = compile_regular(engine, info, wasm, name, looked_up)?;
        cache = outcome;
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
        wasm: Some(wasm.clone().into()),
        cache,
    })
}

/// The code cache seen as a lazy module's [`wasabi_runtime::lazy::FunctionCache`],
/// so a later run of the same module with the same settings starts with
/// what this one compiled. Each entry's key combines the module's digest,
/// what the entry holds, a function index, and the fingerprint of the
/// compiler that made the code:
/// - one per function compiled on first call: the lazy generator's (the
///   optimising compiler in lazy mode, the baseline in tiered mode);
/// - one for the trampolines: the optimising compiler's, which makes them;
/// - tiered mode, one per optimised function, holding its tier-up batch:
///   the optimising compiler's;
/// - tiered mode, one per OSR loop entered, holding the function's OSR
///   variant (which may enter at other loops too: stored under each):
///   the optimising compiler's.
///
/// Entries are checked like any cache entry (format, length, digest); a
/// damaged one is deleted and the function compiled again.
struct CachedFunctions {
    cache: wasabi_cache::Cache,
    /// The hash of the module's bytes.
    module: wasabi_cache::Key,
    /// The fingerprint of the code made on first call.
    lazy: String,
    /// The fingerprint of the optimising compiler.
    optimizer: String,
    tiered: bool,
}

impl CachedFunctions {
    /// Lazy and tiered modes with a cache: the module's function cache.
    fn for_module(engine: &Engine, wasm: &[u8]) -> Option<Arc<CachedFunctions>> {
        match engine.config().mode {
            CompileMode::Regular => None,
            _ => Some(Arc::new(Self::new(engine.cache()?.clone(), engine, wasm))),
        }
    }

    fn new(cache: wasabi_cache::Cache, engine: &Engine, wasm: &[u8]) -> CachedFunctions {
        let tiered = engine.config().mode == CompileMode::Tiered;
        CachedFunctions {
            cache,
            module: wasabi_cache::Key::new(wasm, ""),
            lazy: match tiered {
                true => Engine::fingerprint_of(&engine.baseline_config()),
                false => engine.fingerprint().to_string(),
            },
            optimizer: engine.fingerprint().to_string(),
            tiered,
        }
    }

    /// The key of what `tag` names in this module (`f`: a function index),
    /// as made by the compiler of `fingerprint`.
    fn key(&self, tag: &[u8], f: u32, fingerprint: &str) -> wasabi_cache::Key {
        let mut id = Vec::with_capacity(64);
        id.extend_from_slice(tag);
        id.extend_from_slice(&self.module.0);
        id.extend_from_slice(&f.to_le_bytes());
        wasabi_cache::Key::new(&id, fingerprint)
    }

    fn get_one(&self, key: &wasabi_cache::Key) -> Option<Vec<u8>> {
        match self.cache.get(key) {
            wasabi_cache::Lookup::Hit(entry) => match entry.objects()[..] {
                [object] => Some(object.to_vec()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Best effort: a full disk only costs the next run a compilation.
    fn put_one(&self, key: &wasabi_cache::Key, object: &[u8]) {
        let _ = self.cache.put(key, &[], &[object]);
    }

    /// The key of the entry holding the module's description
    /// (`ModuleInfo`, as meta bytes, no objects), written once the module
    /// passed validation. The optimiser's fingerprint covers the build of
    /// the runtime that defines `ModuleInfo`.
    fn description_key(&self) -> wasabi_cache::Key {
        self.key(b"module description\0", 0, &self.optimizer)
    }

    /// The module's description from the cache, without validating or
    /// parsing the module again (as a regular mode hit; see
    /// `from_cache_without_validation`: the entry is written only after the
    /// bytes passed validation, and its key is their hash), so the second
    /// run of a large module starts without the validation that the
    /// functions compiled later rely on (4 MB start-up module: ~15 ms).
    fn get_description(&self) -> Option<ModuleInfo> {
        match self.cache.get(&self.description_key()) {
            wasabi_cache::Lookup::Hit(entry) if entry.objects().is_empty() => {
                ModuleInfo::from_bytes(entry.meta()).ok()
            }
            _ => None,
        }
    }

    /// Stores a validated module's description. A cache that cannot be
    /// written only costs the next run time: a warning, not an error.
    fn put_description(&self, info: &ModuleInfo) {
        let no_objects: &[&[u8]] = &[];
        if let Err(e) = self
            .cache
            .put(&self.description_key(), &info.to_bytes(), no_objects)
        {
            tracing::warn!(
                "cannot write the code cache in {}: {e}",
                self.cache.dir().display()
            );
        }
    }

    fn trampolines_key(&self) -> wasabi_cache::Key {
        self.key(b"lazy trampolines\0", 0, &self.optimizer)
    }

    fn get_trampolines(&self) -> Option<Vec<u8>> {
        self.get_one(&self.trampolines_key())
    }

    fn put_trampolines(&self, object: &[u8]) {
        self.put_one(&self.trampolines_key(), object)
    }

    /// Tiered mode: the key of the optimising tier's object holding `f`.
    fn optimized_key(&self, f: u32) -> Option<wasabi_cache::Key> {
        self.tiered
            .then(|| self.key(b"tiered optimised\0", f, &self.optimizer))
    }

    /// Tiered mode: the key of the optimising tier's object holding the
    /// OSR entry of `f` at its OSR loop `l` (the tag carries the loop).
    fn osr_key(&self, f: u32, l: u32) -> Option<wasabi_cache::Key> {
        let mut tag = b"tiered osr entry at loop ".to_vec();
        tag.extend_from_slice(&l.to_le_bytes());
        tag.push(0);
        self.tiered.then(|| self.key(&tag, f, &self.optimizer))
    }
}

impl wasabi_runtime::lazy::FunctionCache for CachedFunctions {
    fn get(&self, f: u32) -> Option<Vec<u8>> {
        self.get_one(&self.key(b"lazy function\0", f, &self.lazy))
    }

    fn put(&self, f: u32, object: &[u8]) {
        self.put_one(&self.key(b"lazy function\0", f, &self.lazy), object)
    }

    fn get_optimized(&self, f: u32) -> Option<Vec<u8>> {
        self.get_one(&self.optimized_key(f)?)
    }

    fn put_optimized(&self, f: u32, object: &[u8]) {
        if let Some(key) = self.optimized_key(f) {
            self.put_one(&key, object)
        }
    }

    fn get_osr(&self, f: u32, l: u32) -> Option<Vec<u8>> {
        self.get_one(&self.osr_key(f, l)?)
    }

    fn put_osr(&self, f: u32, l: u32, object: &[u8]) {
        if let Some(key) = self.osr_key(f, l) {
            self.put_one(&key, object)
        }
    }
}

/// Regular mode: every function up front. The cache was consulted before
/// validation (`from_cache_without_validation`); `looked_up` is what it
/// found (a miss or a refused entry, or nothing), and the new code fills or
/// replaces the entry under the key it computed. Returns when code
/// generation ended too.
fn compile_regular(
    engine: &Engine,
    info: Arc<ModuleInfo>,
    wasm: &Arc<[u8]>,
    name: &str,
    looked_up: CacheLookup,
) -> Result<(CompiledModule, CacheOutcome, Instant)> {
    let objects = compile_objects(engine, &info, wasm)?;
    let t2 = Instant::now();
    if let Some(key) = &looked_up.key {
        store_in_cache(engine, key, &info.to_bytes(), &objects);
    }
    let m = CompiledModule::load(info, name.to_string(), &objects)
        .map_err(|e| Error::Load(e.to_string()))?;
    Ok((m, looked_up.outcome, t2))
}

/// Regular mode with a cache hit, without validating or even parsing the
/// module again: the entry's key is the hash of these exact bytes and of
/// this compiler's fingerprint, and an entry is only ever written after the
/// bytes passed validation, so a verified hit proves they are valid (the
/// cache directory is trusted as much as the native code it holds). The
/// entry carries the module's description (`ModuleInfo`, serialised when
/// it was compiled), which is read instead of parsing the wasm (the 4 MB
/// start-up module: 1.6 ms instead of 3.5; validating it was 5 of 14 ms on
/// regex_bench). Anything but a hit that loads is returned as what the
/// lookup found, and the caller validates and compiles as usual, replacing
/// a bad entry without looking it up again (a refused entry is gone after
/// the first look).
fn from_cache_without_validation(
    engine: &Engine,
    wasm: &ModuleBytes,
    name: &str,
    t0: Instant,
) -> std::result::Result<Module, CacheLookup> {
    use wasabi_cache::{Key, Lookup};
    let Some(cache) = engine.cache() else {
        return Err(CacheLookup::NOT_USED);
    };
    if engine.config().mode != CompileMode::Regular {
        return Err(CacheLookup::NOT_USED);
    }
    let key = Key::new(wasm, engine.fingerprint());
    let entry = match cache.get(&key) {
        Lookup::Hit(entry) => entry,
        Lookup::Miss => return Err(CacheLookup::found(CacheOutcome::Miss, key)),
        Lookup::Refused(e) => {
            tracing::warn!("cache entry {} refused ({e}); recompiling", key.hex());
            return Err(CacheLookup::found(CacheOutcome::Replaced, key));
        }
    };
    let info = match entry.meta() {
        [] => ModuleInfo::parse_validated(wasm).map_err(|e| e.to_string()),
        meta => ModuleInfo::from_bytes(meta),
    };
    let loaded = info.and_then(|info| {
        let t1 = Instant::now();
        CompiledModule::load_from_file(
            Arc::new(info),
            name.to_string(),
            &entry.objects(),
            entry.file(),
            &entry.object_offsets(),
        )
        .map(|m| (m, t1))
        .map_err(|e| e.to_string())
    });
    let (compiled, t1) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::warn!("cache entry {} does not load ({e}); recompiling", key.hex());
            return Err(CacheLookup::found(CacheOutcome::Replaced, key));
        }
    };
    let t2 = Instant::now();
    Ok(Module {
        compiled: Arc::new(compiled),
        timings: CompileTimings {
            parse: t1 - t0,
            codegen: Duration::ZERO,
            load: t2 - t1,
        },
        wasm: Some(wasm.clone()),
        cache: CacheOutcome::Hit,
    })
}

/// Every function and the trampolines, as relocatable objects.
fn compile_objects(
    engine: &Engine,
    info: &Arc<ModuleInfo>,
    wasm: &Arc<[u8]>,
) -> Result<Vec<Vec<u8>>> {
    session(engine, info, wasm)?
        .compile(&engine.compiler_config(), &Job::Module, None)
        .map_err(compile_error)
}

/// `info` and `wasm` as a module of the engine's backend (opened there on
/// the first compile).
fn session(
    engine: &Engine,
    info: &Arc<ModuleInfo>,
    wasm: &Arc<[u8]>,
) -> Result<Arc<ModuleSession>> {
    let backend = engine.backend().ok_or_else(|| {
        Error::Compile(
            "this build of wasabi has no compiler (the `compiler` feature is off)".into(),
        )
    })?;
    Ok(ModuleSession::new(
        backend.clone(),
        info.clone(),
        wasm.clone(),
    ))
}

/// Stores objects in the engine's cache, if it has one, linked once and for
/// all (`loader::link_image`) and page-aligned in the entry, so a hit maps
/// their code from the entry rather than copying and relocating it. A cache
/// that cannot be written only costs the next run time: a warning, not an
/// error (and objects that do not link are not stored: loading them fails
/// and says why).
fn store_in_cache(engine: &Engine, key: &wasabi_cache::Key, meta: &[u8], objects: &[Vec<u8>]) {
    if let Some(cache) = engine.cache() {
        let images = objects
            .iter()
            .map(|o| wasabi_runtime::loader::link_image(o))
            .collect::<std::result::Result<Vec<_>, _>>();
        let Ok(images) = images else {
            return;
        };
        if let Err(e) = cache.put_page_aligned(key, meta, &images) {
            tracing::warn!(
                "cannot write the code cache in {}: {e}",
                cache.dir().display()
            );
        }
    }
}

/// [`Module::deserialize`], naming the module `name`. (Safe to call only
/// under `deserialize`'s contract: the callers are `unsafe`.)
fn deserialize_named(engine: &Engine, bytes: &[u8], name: &str) -> Result<Module> {
    load_precompiled(bytes, name, Some(engine.fingerprint()))
}

/// A precompiled artifact made a module: checked (format, length, digest,
/// and, given a `fingerprint`, that it was made by a compiler with exactly
/// these settings), parsed and loaded.
fn load_precompiled(bytes: &[u8], name: &str, fingerprint: Option<&str>) -> Result<Module> {
    use wasabi_cache::{decode, FormatError, Key, Kind};
    let t0 = Instant::now();
    let c = decode(bytes, Kind::Precompiled, None)
        .map_err(|e| Error::Load(format!("precompiled module: {e}")))?;
    if let Some(fingerprint) = fingerprint {
        if c.key != Key::new(c.wasm, fingerprint) {
            return Err(Error::Load(format!(
                "precompiled module: {}",
                FormatError::Foreign
            )));
        }
    }
    let info = Arc::new(ModuleInfo::parse(c.wasm).map_err(Error::Module)?);
    let t1 = Instant::now();
    let compiled = CompiledModule::load(info, name.to_string(), &c.objects)
        .map_err(|e| Error::Load(e.to_string()))?;
    Ok(Module {
        compiled: Arc::new(compiled),
        timings: CompileTimings {
            parse: t1 - t0,
            codegen: Duration::ZERO,
            load: t1.elapsed(),
        },
        wasm: Some(ModuleBytes::from(Arc::<[u8]>::from(c.wasm))),
        cache: CacheOutcome::NotUsed,
    })
}

impl Engine {
    /// Compiles a module (binary or text) into a precompiled artifact for
    /// this engine's settings and this CPU, without loading it: what
    /// `wasabi compile -o app.cwasm` writes and [`Module::deserialize`]
    /// loads. Uses (and fills) the cache like [`Module::new`].
    pub fn precompile_module(&self, bytes: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        use wasabi_cache::{encode, Key, Kind, Lookup};
        let wasm: Arc<[u8]> = Arc::from(wat_to_wasm(bytes.as_ref())?);
        if let Some(backend) = self.backend() {
            backend.prepare();
        }
        let info = Arc::new(ModuleInfo::parse(&wasm).map_err(Error::Module)?);
        let key = Key::new(&wasm, self.fingerprint());
        let cache = self.cache().filter(|_| self.backend().is_some());
        if let Some(Lookup::Hit(entry)) = cache.map(|c| c.get(&key)) {
            return Ok(encode(
                Kind::Precompiled,
                &key,
                &wasm,
                &[],
                &entry.objects(),
            ));
        }
        let objects = compile_objects(self, &info, &wasm)?;
        store_in_cache(self, &key, &info.to_bytes(), &objects);
        Ok(encode(Kind::Precompiled, &key, &wasm, &[], &objects))
    }
}

/// A compiler's failure as an [`Error`]: `Unsupported` when the module uses
/// something not compiled yet (wherever in the module), else `Compile`.
fn compile_error(e: Failure) -> Error {
    match e.unsupported {
        Some(w) => Error::Unsupported(w),
        None => Error::Compile(e.message),
    }
}
