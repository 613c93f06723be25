//! `wasabi aot`: a module compiled ahead of time and linked by the system C
//! compiler into a native executable or shared library that needs neither
//! LLVM nor wasabi.
//!
//! The objects come from the engine's compiler (`Job::Aot`: in process, or
//! the `wasabi` command's plugin); the runtime is the
//! `wasabi-aot-main` static library, embedded in this crate at build time
//! (see `build.rs`). The executable's `main` is a two-line C stub calling
//! `wasabi_aot_main`. Shared libraries export the C API of `wasabi.h` and are
//! loaded back by [`load_shared`] (`wasabi run --allow-precompiled lib.so`).
//!
//! What must stay true: [`load_shared`] reads the file as data and checks
//! that it is a wasabi AOT library of this very build (the ABI marker and
//! the AOT tables among its exported symbols) before `dlopen` runs any of
//! its code.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use wasabi::internals::compiler_abi::{Job, ModuleSession};
use wasabi::internals::runtime::code::AotTables;
use wasabi::internals::runtime::module::ModuleInfo;
use wasabi::internals::runtime::vmcontext::symbols;
use wasabi::internals::runtime::CompiledModule;
use wasabi::{Engine, Error, Module};

/// The AOT runtime library, built by `build.rs`.
static RUNTIME_LIB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libwasabi_aot_main.a"));

/// Native libraries a Rust static library needs (`rustc --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The C API a shared library exports (see `wasabi.h`).
const SHARED_EXPORTS: &[&str] = &[
    "wasabi_aot_run",
    "wasabi_instantiate",
    "wasabi_call",
    "wasabi_instance_free",
];

const MAIN_STUB: &str = "int wasabi_aot_main(int, char **);\nint main(int argc, char **argv) { return wasabi_aot_main(argc, argv); }\n";

/// What to build.
pub struct AotOptions {
    pub output: PathBuf,
    pub shared: bool,
    /// Print progress to stderr.
    pub progress: bool,
    /// Modules precompiled into the output: the other modules of the
    /// program (preloads, path imports, split parts) and those it loads at
    /// run time (Wasabi's ABI `module_load`, `dlopen`), since an AOT
    /// executable has no compiler.
    pub bundle: Bundle,
}

/// The modules an AOT output carries besides its own, as a small file
/// tree: each at a path relative to a root directory that also holds the
/// main module, so the executable links them exactly as `wasabi run`
/// links the files (`wasabi::Program` over the bundle's files).
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    /// The main module's path under the root (`/`-separated); empty when
    /// it has none (the executable then names it after itself).
    pub main: String,
    pub modules: Vec<BundledModule>,
}

/// One module of a [`Bundle`].
#[derive(Clone, Debug)]
pub struct BundledModule {
    /// Its path under the bundle's root, `/`-separated.
    pub path: String,
    /// The module name it is preloaded as (`--preload NAME=PATH`), if any.
    pub preload: Option<String>,
    /// Its bytes (binary or text).
    pub wasm: Vec<u8>,
}

impl Bundle {
    /// Modules found only by their bytes (Wasabi's ABI `module_load`):
    /// each `(name, bytes)` at `<name>.wasm` under the root.
    pub fn from_bytes(modules: Vec<(String, Vec<u8>)>) -> Bundle {
        Bundle {
            main: String::new(),
            modules: modules
                .into_iter()
                .map(|(name, wasm)| BundledModule {
                    path: format!("{name}.wasm"),
                    preload: None,
                    wasm,
                })
                .collect(),
        }
    }

    /// Everything the program whose main module is the file `main_path`
    /// (parsed as `main`) may load, with `preloads` (`(name, path)`), as
    /// `wasabi run` would find it (`wasabi::program_files`), plus the files
    /// `extra` (modules opened at run time by path or by bytes) and the side
    /// modules they need (`WASM_DYLINK_NEEDED`). The root is the deepest
    /// directory holding them all.
    pub fn for_program(
        engine: &Engine,
        main: &ModuleInfo,
        main_path: &Path,
        preloads: &[(String, PathBuf)],
        extra: &[PathBuf],
    ) -> Result<Bundle, Error> {
        let files: Arc<dyn wasabi::ModuleFiles> = Arc::new(wasabi::HostFiles);
        let found = wasabi::program_files(&files, engine, preloads, main, main_path)?;
        let read = |p: &Path| {
            std::fs::read(p)
                .map_err(|e| Error::NotFound(format!("cannot read {}: {e}", p.display())))
        };
        // `(canonical path, preload name, bytes)`, each file read once.
        let mut all: Vec<(PathBuf, Option<String>, Vec<u8>)> = Vec::new();
        for (p, name) in found
            .preloads
            .into_iter()
            .map(|(n, p)| (p, Some(n)))
            .chain(found.parts.into_iter().map(|p| (p, None)))
        {
            let bytes = read(&p)?;
            all.push((p, name, bytes));
        }
        // The extra files, and the side modules they need (as `dlopen`
        // resolves them: relative to the main module's directory).
        let main_dir = found.main.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut extra: Vec<PathBuf> = extra.to_vec();
        let mut i = 0;
        while i < extra.len() {
            let e = extra[i].clone();
            i += 1;
            let p = e
                .canonicalize()
                .map_err(|err| Error::NotFound(format!("cannot read {}: {err}", e.display())))?;
            if all.iter().any(|(q, _, _)| *q == p) || p == found.main {
                continue;
            }
            let bytes = read(&p)?;
            let needs = wasabi::side_module_needs(&bytes)
                .map_err(|err| Error::Load(format!("{}: {err}", p.display())))?;
            extra.extend(needs.iter().map(|n| main_dir.join(n)));
            all.push((p, None, bytes));
        }
        let mut root = main_dir;
        for (p, _, _) in &all {
            while !p.starts_with(&root) {
                if !root.pop() {
                    break;
                }
            }
        }
        let rel = |p: &Path| -> String {
            let r = p.strip_prefix(&root).unwrap_or(p);
            let parts: Vec<String> = r
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts.join("/")
        };
        let modules = all
            .into_iter()
            .map(|(p, preload, wasm)| BundledModule {
                path: rel(&p),
                preload,
                wasm,
            })
            .collect();
        Ok(Bundle {
            main: rel(&found.main),
            modules,
        })
    }
}

/// Compiles `wasm` and links it into `options.output`.
pub fn build(engine: &Engine, wasm: &[u8], options: &AotOptions) -> Result<(), Error> {
    let wasm = wasabi::wat_to_wasm(wasm)?;
    let info = ModuleInfo::parse(&wasm).map_err(Error::Module)?;
    let show = options.progress;
    let progress = move |done: usize, total: usize| {
        if show {
            eprint!("\rwasabi aot: compiled {done}/{total} batches");
        }
    };
    let backend = engine.backend().ok_or_else(|| {
        Error::Compile(
            "this build of wasabi has no compiler (the `compiler` feature is off)".into(),
        )
    })?;
    let session = ModuleSession::new(backend.clone(), Arc::new(info), Arc::from(&*wasm));
    let objects = session
        .compile(&engine.compiler_config(), &Job::Aot, Some(&progress))
        .map_err(|e| match e.unsupported {
            Some(w) => Error::Unsupported(w),
            None => Error::Compile(e.message),
        })?;
    if show {
        eprintln!();
    }
    let dir = TempDir::new()?;
    let mut inputs = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let p = dir.0.join(format!("wasabi_{i}.o"));
        std::fs::write(&p, o).map_err(Error::Io)?;
        inputs.push(p);
    }
    inputs.push(bundle_object(engine, &options.bundle, &dir.0)?);
    let lib = dir.0.join("libwasabi_aot_main.a");
    std::fs::write(&lib, RUNTIME_LIB).map_err(Error::Io)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.arg("-o").arg(&options.output).args(&inputs);
    if options.shared {
        cmd.arg("-shared");
        for sym in SHARED_EXPORTS {
            cmd.arg(format!("-Wl,-u,{sym}"));
        }
    } else {
        let stub = dir.0.join("main.c");
        std::fs::write(&stub, MAIN_STUB).map_err(Error::Io)?;
        cmd.arg(&stub);
    }
    // Unreferenced runtime code and debug info would make a hello-world
    // executable megabytes large.
    cmd.arg(&lib)
        .args(NATIVE_LIBS)
        .args(["-Wl,--gc-sections", "-Wl,--strip-debug"]);
    let out = cmd
        .output()
        .map_err(|e| Error::Load(format!("cannot run the C compiler `{cc}`: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("wasabi_abi_") {
            "\nthe compiled code and the runtime library come from different wasabi builds (ABI mismatch)"
        } else {
            ""
        };
        return Err(Error::Load(format!(
            "linking with `{cc}` failed:\n{stderr}{hint}"
        )));
    }
    Ok(())
}

/// The blob of bundled modules (layout: `runtime/aot-main/src/bundle.rs`):
/// each module precompiled with `engine`, next to its wasm bytes.
fn bundle_blob(engine: &Engine, bundle: &Bundle) -> Result<Vec<u8>, Error> {
    fn put_str(blob: &mut Vec<u8>, s: &str) {
        blob.extend_from_slice(&(s.len() as u32).to_le_bytes());
        blob.extend_from_slice(s.as_bytes());
    }
    let mut blob = b"WSBIBND2".to_vec();
    put_str(&mut blob, &bundle.main);
    blob.extend_from_slice(&(bundle.modules.len() as u32).to_le_bytes());
    for m in &bundle.modules {
        let wasm = wasabi::wat_to_wasm(&m.wasm)?;
        let code = engine
            .precompile_module(&wasm)
            .map_err(|e| Error::Compile(format!("bundled module {}: {e}", m.path)))?;
        put_str(&mut blob, &m.path);
        put_str(&mut blob, m.preload.as_deref().unwrap_or(""));
        for part in [&wasm[..], &code[..]] {
            blob.extend_from_slice(&(part.len() as u64).to_le_bytes());
            blob.extend_from_slice(part);
        }
    }
    Ok(blob)
}

/// A C file placing the bundle blob between `wasabi_bundle_start` and
/// `wasabi_bundle_end` (always linked: the runtime refers to both).
fn bundle_object(engine: &Engine, bundle: &Bundle, dir: &Path) -> Result<PathBuf, Error> {
    let bin = dir.join("bundle.bin");
    std::fs::write(&bin, bundle_blob(engine, bundle)?).map_err(Error::Io)?;
    let path = bin.display().to_string();
    if path.contains(['"', '\\', '\n']) {
        return Err(Error::Load(format!(
            "temporary directory {path} has a character the assembler cannot quote"
        )));
    }
    let c = dir.join("bundle.c");
    let asm = format!(
        "__asm__(\".section .rodata.wasabi_bundle,\\\"a\\\"\\n\"\n\
         \".balign 16\\n.globl wasabi_bundle_start\\n.hidden wasabi_bundle_start\\n\"\n\
         \"wasabi_bundle_start:\\n.incbin \\\"{path}\\\"\\n\"\n\
         \".globl wasabi_bundle_end\\n.hidden wasabi_bundle_end\\nwasabi_bundle_end:\\n\"\n\
         \".previous\");\n"
    );
    std::fs::write(&c, asm).map_err(Error::Io)?;
    Ok(c)
}

/// Builds `wasm` into a temporary shared library and loads it (the file is
/// removed at once; the mapping stays until the module is dropped).
pub fn build_and_load_shared(engine: &Engine, wasm: &[u8]) -> Result<Module, Error> {
    let dir = TempDir::new()?;
    let so = dir.0.join("module.so");
    build(
        engine,
        wasm,
        &AotOptions {
            output: so.clone(),
            shared: true,
            progress: false,
            bundle: Bundle::default(),
        },
    )?;
    load_shared(&so)
}

/// Loads a shared library made by `wasabi aot --shared` as a module.
///
/// The file is checked first, as data: it must be an ELF shared object
/// exporting this build's ABI marker and the AOT tables. Only then is it
/// loaded, which runs its initialisers: load only files you trust as much
/// as a program you would run.
pub fn load_shared(path: &Path) -> Result<Module, Error> {
    let path = std::fs::canonicalize(path).map_err(Error::Io)?;
    check_shared(&path)?;
    // SAFETY: the file is a wasabi AOT library of this build (checked
    // above), whose only initialisers are the Rust runtime's; the user asked
    // for precompiled code to be run.
    let lib = unsafe { libloading::Library::new(&path) }
        .map_err(|e| Error::Load(format!("cannot load {}: {e}", path.display())))?;
    // SAFETY: the symbols looked up are the AOT tables checked above, with
    // the types the AOT table object gives them (`compiler/src/aot.rs`); the
    // library stays loaded as long as the module (it is its keep-alive).
    unsafe {
        let sym = |name: &str| -> Result<*const u8, Error> {
            lib.get::<*const u8>(name.as_bytes())
                .map(|s| *s)
                .map_err(|_| {
                    Error::Load(format!(
                        "{} is not a wasabi AOT library (no `{name}`)",
                        path.display()
                    ))
                })
        };
        sym(&symbols::abi_marker()).map_err(|_| {
            Error::Load(format!(
                "{} was compiled by a different wasabi build (ABI mismatch)",
                path.display()
            ))
        })?;
        let tables = AotTables {
            metadata: sym(symbols::AOT_METADATA)?,
            metadata_len: *(sym(symbols::AOT_METADATA_LEN)? as *const u64) as usize,
            funcs: sym(symbols::AOT_FUNCS)? as *const usize,
            entry_trampolines: sym(symbols::AOT_ENTRY_TRAMPOLINES)? as *const usize,
            host_trampolines: sym(symbols::AOT_HOST_TRAMPOLINES)? as *const usize,
            text_bounds: sym(symbols::AOT_TEXT_BOUNDS)? as *const usize,
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = CompiledModule::from_aot_tables(&tables, name, Some(Box::new(lib)))
            .map_err(Error::Load)?;
        Ok(Module::from_compiled(Arc::new(module)))
    }
}

/// Checks, reading `path` as data, that it is an ELF shared object that
/// exports this build's ABI marker and every AOT table.
pub fn check_shared(path: &Path) -> Result<(), Error> {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(path).map_err(Error::Io)?;
    let file = object::File::parse(&*bytes).map_err(|e| {
        Error::Load(format!(
            "{} is not a native shared library: {e}",
            path.display()
        ))
    })?;
    let exported: std::collections::HashSet<&str> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| s.name().ok())
        .collect();
    let marker = symbols::abi_marker();
    if !exported.contains(marker.as_str()) {
        let other_build = exported.iter().any(|s| s.starts_with("wasabi_abi_"));
        return Err(Error::Load(if other_build {
            format!(
                "{} was compiled by a different wasabi build (ABI mismatch)",
                path.display()
            )
        } else {
            format!("{} is not a wasabi AOT library", path.display())
        }));
    }
    for sym in [
        symbols::AOT_METADATA,
        symbols::AOT_METADATA_LEN,
        symbols::AOT_FUNCS,
        symbols::AOT_ENTRY_TRAMPOLINES,
        symbols::AOT_HOST_TRAMPOLINES,
        symbols::AOT_TEXT_BOUNDS,
    ] {
        if !exported.contains(sym) {
            return Err(Error::Load(format!(
                "{} is not a wasabi AOT library (no `{sym}`)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, Error> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("wasabi-aot-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(Error::Io)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
