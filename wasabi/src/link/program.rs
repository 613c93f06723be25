//! [`Program`]: a main module plus the module files it is linked with,
//! found by name (`preload`), by relative path (`"./math.wasm"` as an
//! import's module name) or as the parts of a split program beside it.
//!
//! Which files may be loaded: only files inside the *allowed directories*:
//! the main module's directory, the directory of every preloaded file and
//! any directory given to [`Program::allow_dir`], all canonicalised (so
//! `..` and symbolic links are resolved before the check). A path import is
//! relative to the directory of the module that imports it; an absolute
//! one, or one that resolves outside every allowed directory, is an error
//! naming the import and the file. Each file is loaded once, however many
//! modules import it and under whatever spelling. Files are read through
//! the program's [`ModuleFiles`] source: the host file system by default,
//! an AOT executable's bundled modules there. [`program_files`] applies the
//! same resolution ahead of time, to find what `wasabi aot` must bundle.
//!
//! What must stay true: no file outside the allowed directories is read;
//! every module of the program is linked by
//! [`Linker::instantiate_group_with`](crate::Linker), so cycles among
//! preloads, path imports and the main module work the same way.

use super::dylink::{dylink_info, DynamicLinker};
use super::files::{HostFiles, ModuleFiles};
use super::split::{SplitPart, SplitProgram};
use crate::error::{Error, LinkError, Result};
use crate::instance::Instance;
use crate::linker::Linker;
use crate::module::Module;
use crate::store::AsContextMut;
use crate::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One module of a program.
struct Member {
    /// The name other modules import it by (preload name, main's file
    /// stem) or, for a path import, the canonical path.
    name: String,
    /// Canonical path of the file, when it came from one.
    path: Option<PathBuf>,
    module: Module,
    /// Import module name -> member, for this member's imports.
    imports: HashMap<String, usize>,
}

/// What one part of a program did, for `--stats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartStats {
    /// The part's file.
    pub path: PathBuf,
    /// What it is: `preload`, `path import`, `secondary` (binaryen
    /// wasm-split), `split module` or `split chunk` (Dioxus naming).
    pub kind: &'static str,
    /// Whether it was read and instantiated (a split part only once one of
    /// its split points is called).
    pub loaded: bool,
    /// Functions compiled so far (all of them in regular mode, those
    /// called in lazy mode), and defined functions.
    pub functions_compiled: usize,
    /// Defined functions (0 for a part never loaded).
    pub functions: usize,
}

/// `part PATH (KIND): loaded, functions compiled: N / M`, or `part PATH
/// (KIND): never loaded (not read, nothing compiled)`: the `--stats` line.
impl std::fmt::Display for PartStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "part {} ({}): ", self.path.display(), self.kind)?;
        if self.loaded {
            write!(
                f,
                "loaded, functions compiled: {} / {}",
                self.functions_compiled, self.functions
            )
        } else {
            write!(f, "never loaded (not read, nothing compiled)")
        }
    }
}

/// A main module and the module files it is linked with. See the module
/// docs for which files may be loaded.
pub struct Program {
    engine: Engine,
    files: Arc<dyn ModuleFiles>,
    allowed: Vec<PathBuf>,
    preloads: Vec<(String, PathBuf, Module)>,
    /// Filled by [`Program::instantiate`].
    path_imports: Mutex<Vec<(PathBuf, Module)>>,
    split: Mutex<Option<Arc<SplitProgram>>>,
    dylink: Mutex<Option<Arc<DynamicLinker>>>,
}

fn link_error(module: &str, field: &str, message: String) -> Error {
    Error::Link(LinkError {
        module: module.into(),
        field: field.into(),
        message,
    })
}

fn canonical(files: &dyn ModuleFiles, path: &Path, what: &str) -> Result<PathBuf> {
    files
        .canonicalize(&absolute(path))
        .map_err(|e| Error::NotFound(format!("{what} {}: {e}", path.display())))
}

/// `path` made absolute against the current directory (the file sources
/// take absolute paths).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether an import's module name is a path to a module file.
pub fn is_path_import(module: &str) -> bool {
    module.ends_with(".wasm") || module.ends_with(".wat")
}

fn compile_file(
    files: &dyn ModuleFiles,
    engine: &Engine,
    path: &Path,
    name: &str,
) -> Result<Module> {
    let bytes = files
        .read(path)
        .map_err(|e| Error::NotFound(format!("cannot read {}: {e}", path.display())))?;
    if let Ok(Some(_)) = dylink_info(&bytes) {
        return Err(link_error(
            name,
            "",
            format!(
                "{} is a side module (it has a dylink.0 section): it shares the main \
                 module's memory and table, so the program loads it with dlopen",
                path.display()
            ),
        ));
    }
    files
        .module(engine, path, &bytes, name)
        .map_err(|e| match e {
            Error::Module(m) => in_file(path, m),
            e => e,
        })
}

/// A malformed module's error, saying which file it is in.
fn in_file(path: &Path, e: wasabi_runtime::module::ModuleError) -> Error {
    Error::Module(wasabi_runtime::module::ModuleError {
        offset: e.offset,
        message: format!("{}: {}", path.display(), e.message),
    })
}

/// The error for a second module preloaded under the same name.
fn preloaded_twice(name: &str) -> Error {
    link_error(name, "", format!("two modules are preloaded as `{name}`"))
}

impl Program {
    /// A program whose module files are read from the host file system
    /// and compiled with `engine`.
    pub fn new(engine: &Engine) -> Program {
        Program::with_files(engine, Arc::new(HostFiles))
    }

    /// A program whose module files come from `files` (for example the
    /// modules an AOT executable carries precompiled); `engine` compiles
    /// what `files` leaves to it.
    pub fn with_files(engine: &Engine, files: Arc<dyn ModuleFiles>) -> Program {
        Program {
            engine: engine.clone(),
            files,
            allowed: Vec::new(),
            preloads: Vec::new(),
            path_imports: Mutex::new(Vec::new()),
            split: Mutex::new(None),
            dylink: Mutex::new(None),
        }
    }

    /// Lets path imports load files from `dir` (and below).
    pub fn allow_dir(&mut self, dir: impl AsRef<Path>) -> Result<&mut Self> {
        let dir = canonical(&*self.files, dir.as_ref(), "cannot use directory")?;
        if !self.allowed.contains(&dir) {
            self.allowed.push(dir);
        }
        Ok(self)
    }

    /// The allowed directories, canonical.
    pub fn allowed_dirs(&self) -> &[PathBuf] {
        &self.allowed
    }

    /// Loads and compiles the module file `path`, to be linked under the
    /// module name `name`; its directory becomes an allowed one.
    pub fn preload(&mut self, name: &str, path: impl AsRef<Path>) -> Result<&mut Self> {
        let path = canonical(&*self.files, path.as_ref(), "cannot read preloaded module")?;
        if self.preloads.iter().any(|(n, _, _)| n == name) {
            return Err(preloaded_twice(name));
        }
        let module = compile_file(&*self.files, &self.engine, &path, name)?;
        if let Some(dir) = path.parent() {
            self.allow_dir(dir)?;
        }
        self.preloads.push((name.to_string(), path, module));
        Ok(self)
    }

    /// Links `main` (read from `main_path`) with the preloaded modules,
    /// the files its imports name by path, and the parts of a split
    /// program, all in `store`, and returns the main module's instance.
    ///
    /// Imports resolve, in this order, to: a preloaded module of that name
    /// (or the main module, by its file stem), a definition in `linker`, a
    /// module file (a name ending in `.wasm` or `.wat`, relative to the
    /// importer's directory), a split program's placeholder (see
    /// `docs/linking.md`). Split-program loaders and, for a main module
    /// importing `env.dlopen`/`env.dlsym`, the dynamic loader's functions
    /// are defined into `linker`.
    pub fn instantiate<T: 'static>(
        &self,
        mut store: impl AsContextMut<Data = T>,
        linker: &mut Linker<T>,
        main: &Module,
        main_path: &Path,
    ) -> Result<Instance> {
        let main_path = canonical(&*self.files, main_path, "cannot read")?;
        let main_dir = main_path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut allowed = self.allowed.clone();
        if !allowed.contains(&main_dir) {
            allowed.push(main_dir.clone());
        }
        let main_name = crate::module::module_name(&main_path);

        let mut members: Vec<Member> = self
            .preloads
            .iter()
            .map(|(name, path, module)| Member {
                name: name.clone(),
                path: Some(path.clone()),
                module: module.clone(),
                imports: HashMap::new(),
            })
            .collect();
        let main_index = members.len();
        let main_is_preloaded = members.iter().any(|m| m.path.as_ref() == Some(&main_path));
        members.push(Member {
            name: main_name.clone(),
            path: Some(main_path.clone()),
            module: main.clone(),
            imports: HashMap::new(),
        });
        if main_is_preloaded {
            return Err(link_error(
                &main_name,
                "",
                format!(
                    "{} is both the main module and a preloaded one",
                    main_path.display()
                ),
            ));
        }

        // Split programs: placeholders of the main module.
        if let Some(split) = SplitProgram::detect(
            &self.files,
            &self.engine,
            main.info(),
            &main_name,
            &main_dir,
            linker,
        )? {
            split.define(linker)?;
            *lock(&self.split) = Some(split);
        }
        // Dynamic linking: the guest's dlopen/dlsym.
        if let Some(dl) =
            DynamicLinker::detect(&self.files, &self.engine, main, &main_dir, &allowed, linker)
        {
            dl.define(linker)?;
            *lock(&self.dylink) = Some(dl);
        }

        // Resolve every member's import module names; path imports add
        // members (breadth first, each file once).
        let mut m = 0;
        while m < members.len() {
            let names: Vec<String> = {
                let mut v: Vec<String> = members[m]
                    .module
                    .info()
                    .imports
                    .iter()
                    .map(|i| i.module.clone())
                    .collect();
                v.dedup();
                v
            };
            for name in names {
                if members[m].imports.contains_key(&name) {
                    continue;
                }
                // Preloads and the main module are imported by name.
                if let Some(t) = members[..=main_index].iter().position(|x| x.name == name) {
                    members[m].imports.insert(name, t);
                    continue;
                }
                if linker.defines_module(&name) || !is_path_import(&name) {
                    continue;
                }
                let importer = &members[m];
                let path = resolve_path(
                    &*self.files,
                    &allowed,
                    importer.path.as_deref(),
                    &importer.name,
                    &name,
                )?;
                let t = match members.iter().position(|x| x.path.as_ref() == Some(&path)) {
                    Some(t) => t,
                    None => {
                        let stem = crate::module::module_name(&path);
                        let module = compile_file(&*self.files, &self.engine, &path, &stem)?;
                        lock(&self.path_imports).push((path.clone(), module.clone()));
                        members.push(Member {
                            name: path.display().to_string(),
                            path: Some(path),
                            module,
                            imports: HashMap::new(),
                        });
                        members.len() - 1
                    }
                };
                members[m].imports.insert(name, t);
            }
            m += 1;
        }

        let group: Vec<(&str, &Module)> = members
            .iter()
            .map(|m| (m.name.as_str(), &m.module))
            .collect();
        let resolve = |m: usize, name: &str| members[m].imports.get(name).copied();
        let instances = linker.instantiate_group_with(&mut store, &group, &resolve)?;
        let main_instance = instances[main_index];
        if let Some(split) = &*lock(&self.split) {
            split.set_main(main_instance);
        }
        if let Some(dl) = &*lock(&self.dylink) {
            dl.set_main(main_instance);
        }
        Ok(main_instance)
    }
}

/// The file path import `name` of the module in file `importer` (or, when
/// it has none, the module named `importer_name`) names, checked to be
/// inside an `allowed` directory.
fn resolve_path(
    files: &dyn ModuleFiles,
    allowed: &[PathBuf],
    importer: Option<&Path>,
    importer_name: &str,
    name: &str,
) -> Result<PathBuf> {
    let who = importer
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| importer_name.to_string());
    if Path::new(name).is_absolute() {
        return Err(link_error(
            name,
            "",
            format!(
                "{who} imports module `{name}`: an absolute path; modules are imported by \
                     paths relative to the importing module"
            ),
        ));
    }
    let base = importer.and_then(|p| p.parent()).unwrap_or(Path::new("."));
    let joined = absolute(&base.join(name));
    let path = files.canonicalize(&joined).map_err(|e| {
        link_error(
            name,
            "",
            format!(
                "{who} imports module `{name}`, but {} cannot be read: {e}",
                joined.display()
            ),
        )
    })?;
    if !allowed.iter().any(|d| path.starts_with(d)) {
        let dirs: Vec<String> = allowed.iter().map(|d| d.display().to_string()).collect();
        return Err(link_error(
            name,
            "",
            format!(
                "{who} imports module `{name}`, which is {}: outside the directories \
                     modules may be loaded from ({}); preload it (--preload NAME=PATH) to \
                     allow it",
                path.display(),
                dirs.join(", ")
            ),
        ));
    }
    Ok(path)
}

impl Program {
    /// Every part of the program but the main module: preloads, path
    /// imports and split parts, with what was loaded and compiled.
    pub fn parts(&self) -> Vec<PartStats> {
        let stats = |path: &Path, kind, m: &Module| {
            let functions = m.info().num_defined_funcs() as usize;
            PartStats {
                path: path.to_path_buf(),
                kind,
                loaded: true,
                functions_compiled: m.lazy_stats().map_or(functions, |s| s.compiled),
                functions,
            }
        };
        let mut out: Vec<PartStats> = self
            .preloads
            .iter()
            .map(|(_, p, m)| stats(p, "preload", m))
            .collect();
        out.extend(
            lock(&self.path_imports)
                .iter()
                .map(|(p, m)| stats(p, "path import", m)),
        );
        if let Some(dl) = &*lock(&self.dylink) {
            out.extend(dl.loaded().iter().map(|(p, m)| stats(p, "side module", m)));
        }
        if let Some(split) = &*lock(&self.split) {
            out.extend(split.parts().iter().map(|p: &SplitPart| match &p.module {
                Some(m) => stats(&p.path, p.kind, m),
                None => PartStats {
                    path: p.path.clone(),
                    kind: p.kind,
                    loaded: false,
                    functions_compiled: 0,
                    functions: 0,
                },
            }));
        }
        out
    }
}

fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    // Nothing is left half-written under these locks (values are pushed or
    // replaced whole), so a poisoned one is still good.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every module file a program may load, found without running it: what
/// `wasabi aot` compiles into an executable (see [`program_files`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramFiles {
    /// The main module's file, canonical.
    pub main: PathBuf,
    /// `(name, canonical path)` of each preloaded module, in order.
    pub preloads: Vec<(String, PathBuf)>,
    /// The other files, canonical, each once: modules imported by path
    /// (from any module of the program, transitively) and the parts of a
    /// split program (a binaryen secondary, Dioxus split modules and every
    /// shared chunk beside the main module).
    pub parts: Vec<PathBuf>,
}

/// The files [`Program::instantiate`] could load for the main module
/// `main` (described by its parsed `info`) with `preloads` (`(name,
/// path)`), read from `files`: the same resolution and the same allowed
/// directories, applied ahead of time. Side modules a guest opens with
/// `dlopen` are named only at run time, so they are not among them.
pub fn program_files(
    files: &Arc<dyn ModuleFiles>,
    engine: &Engine,
    preloads: &[(String, PathBuf)],
    main: &wasabi_runtime::module::ModuleInfo,
    main_path: &Path,
) -> Result<ProgramFiles> {
    let main_path = canonical(&**files, main_path, "cannot read")?;
    let main_dir = main_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let main_name = crate::module::module_name(&main_path);
    let mut out = ProgramFiles {
        main: main_path.clone(),
        ..Default::default()
    };
    let mut allowed = vec![main_dir.clone()];
    for (name, path) in preloads {
        let path = canonical(&**files, path, "cannot read preloaded module")?;
        if out.preloads.iter().any(|(n, _)| n == name) {
            return Err(preloaded_twice(name));
        }
        if let Some(dir) = path.parent().map(Path::to_path_buf) {
            if !allowed.contains(&dir) {
                allowed.push(dir);
            }
        }
        out.preloads.push((name.clone(), path));
    }
    let by_name = |n: &str| n == main_name || out.preloads.iter().any(|(p, _)| p == n);
    // Breadth first over the modules of the program, as `instantiate`.
    let mut queue: Vec<PathBuf> = vec![main_path.clone()];
    queue.extend(out.preloads.iter().map(|(_, p)| p.clone()));
    let first_part = queue.len();
    let mut i = 0;
    while i < queue.len() {
        let path = queue[i].clone();
        i += 1;
        let parsed;
        let info = if path == main_path {
            main
        } else {
            let bytes = files
                .read(&path)
                .map_err(|e| Error::NotFound(format!("cannot read {}: {e}", path.display())))?;
            let wasm = crate::wat_to_wasm(&bytes)?;
            parsed =
                wasabi_runtime::module::ModuleInfo::parse(&wasm).map_err(|e| in_file(&path, e))?;
            &parsed
        };
        let name = crate::module::module_name(&path);
        for imp in &info.imports {
            if by_name(&imp.module) || !is_path_import(&imp.module) {
                continue;
            }
            let target = resolve_path(&**files, &allowed, Some(&path), &name, &imp.module)?;
            if !queue.contains(&target) {
                queue.push(target);
            }
        }
    }
    // What the queue found beyond the main module and the preloads.
    let mut parts = queue.split_off(first_part);
    let nothing: Linker<()> = Linker::new(engine);
    if let Some(split) = SplitProgram::detect(files, engine, main, &main_name, &main_dir, &nothing)?
    {
        for p in split.parts() {
            if !parts.contains(&p.path) {
                parts.push(p.path);
            }
        }
    }
    out.parts = parts;
    Ok(out)
}
