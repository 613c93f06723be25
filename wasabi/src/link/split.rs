//! Split programs: a main module whose imports stand for code in other
//! files beside it, loaded the first time one of them is called.
//!
//! Two shapes are recognised in the main module's imports:
//!
//! - **binaryen `wasm-split`**: functions imported from `placeholder` named
//!   by a number `N`, the table slot the split-out function occupies (the
//!   primary calls it through the table). The secondary module is
//!   `<main stem>.deferred.wasm` (Emscripten's name), else
//!   `<main stem>.secondary.wasm`, beside the main module; it imports the
//!   primary's exports (memory, table, globals, functions) and its element
//!   segments overwrite the placeholders' table slots.
//! - **Dioxus naming**: an import named
//!   `__wasm_split_00<module>00_import_<hash>_<fn>` is the split point of
//!   function `<fn>` in split module `<module>`, which is the file
//!   `module_<module>.wasm` or `module_<N>_<module>.wasm` beside the main
//!   module and exports `__wasm_split_00<module>00_export_<hash>_<fn>`. A
//!   split module imports `env.memory` and, from any namespace, the main
//!   module's exports by name, or exports of the shared chunks
//!   `chunk_*.wasm` (a chunk is loaded when a module being loaded needs
//!   one of its exports).
//!
//! What happens on the first call of a placeholder (a host function): the
//! part's file is read, compiled with the program's engine (lazily in lazy
//! mode), instantiated against the main module's own memory, table and
//! globals, and every placeholder the part provides has its import slot
//! pointed at the real function (`StoreOpaque::link_func_import`); then
//! the call is completed. Later calls, through the table or the import,
//! reach the part's code directly. A part whose split points are never
//! called is never read.
//!
//! What must stay true: every part is a file inside the main module's
//! directory (a symbolic link leading out is refused; module and chunk
//! files must be regular files); a part is loaded at most once per program (a
//! second placeholder of the same part finds it loaded; a placeholder
//! called while its part is being loaded, from the part's start function,
//! is an error, not a recursion); no lock is held while wasm runs; a
//! placeholder whose slot the loaded part did not replace is an error,
//! never an endless loop.

use super::files::ModuleFiles;
use crate::error::{Error, LinkError, Result};
use crate::externals::Extern;
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::linker::Linker;
use crate::module::Module;
use crate::values::Val;
use crate::Engine;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasabi_runtime::module::{ExportKind, ImportKind, ModuleInfo};
use wasabi_runtime::HostError;

/// One part of a split program (for `--stats`).
#[derive(Clone)]
pub(crate) struct SplitPart {
    pub path: PathBuf,
    pub kind: &'static str,
    /// Set once loaded.
    pub module: Option<Module>,
}

struct PartState {
    part: SplitPart,
    instance: Option<Instance>,
    loading: bool,
    /// A chunk's export names, read when first needed.
    exports: Option<Vec<String>>,
}

/// A placeholder import of the main module.
struct Point {
    /// Function index of the import in the main module.
    func_index: u32,
    module: String,
    name: String,
    ty: wasabi_runtime::FuncType,
    /// The part that provides it.
    part: usize,
    /// binaryen: the table slot; Dioxus: none.
    slot: Option<u32>,
    /// Dioxus: the export of the part that it stands for.
    export: Option<String>,
}

/// A split program's parts and placeholders. Shared by the placeholder
/// host functions.
pub(crate) struct SplitProgram {
    files: Arc<dyn ModuleFiles>,
    engine: Engine,
    points: Vec<Point>,
    state: Mutex<(Option<Instance>, Vec<PartState>)>,
}

fn part_state(path: PathBuf, kind: &'static str) -> PartState {
    PartState {
        part: SplitPart {
            path,
            kind,
            module: None,
        },
        instance: None,
        loading: false,
        exports: None,
    }
}

fn link_error(module: &str, field: &str, message: String) -> Error {
    Error::Link(LinkError {
        module: module.into(),
        field: field.into(),
        message,
    })
}

/// `(module, rest)` of a Dioxus split-point import name, `rest` being
/// `<hash>_<fn>`.
fn parse_dioxus(name: &str) -> Option<(&str, &str)> {
    let body = name.strip_prefix("__wasm_split_00")?;
    let at = body.find("00_import_")?;
    let (module, rest) = (&body[..at], &body[at + "00_import_".len()..]);
    (!module.is_empty() && !rest.is_empty()).then_some((module, rest))
}

/// Regular files in `dir` whose names satisfy `pred`, sorted.
fn files_in(files: &dyn ModuleFiles, dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v = files.files_in(dir);
    v.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred));
    v
}

/// A host error carrying what a call into a part returned: a host error
/// (a WASI exit, say) passes through unchanged, so the embedder still
/// recognises it.
fn into_host_error(e: Error) -> HostError {
    match e {
        Error::Trap(mut t) => match t.host_error.take() {
            Some(h) => h,
            None => Box::new(t),
        },
        e => Box::new(e),
    }
}

impl SplitProgram {
    /// The split program the module described by `info` is the main module
    /// of, if its imports say it is one (and `linker` does not define them
    /// otherwise). Its parts are files in `dir` of `files`, not read yet.
    pub(crate) fn detect<T: 'static>(
        files: &Arc<dyn ModuleFiles>,
        engine: &Engine,
        info: &ModuleInfo,
        main_stem: &str,
        dir: &Path,
        linker: &Linker<T>,
    ) -> Result<Option<Arc<SplitProgram>>> {
        let mut points = Vec::new();
        let mut parts: Vec<PartState> = Vec::new();
        let mut secondary: Option<usize> = None;
        let mut func_index = 0u32;
        for imp in &info.imports {
            let ImportKind::Func(t) = imp.kind else {
                continue;
            };
            let f = func_index;
            func_index += 1;
            if linker.defines_module(&imp.module) {
                continue;
            }
            let ty = info.types[t as usize].clone();
            if let (true, Ok(slot)) = (imp.module == "placeholder", imp.name.parse::<u32>()) {
                let part = match secondary {
                    Some(i) => i,
                    None => {
                        let candidates = [
                            dir.join(format!("{main_stem}.deferred.wasm")),
                            dir.join(format!("{main_stem}.secondary.wasm")),
                        ];
                        let Some(path) = candidates.iter().find(|p| files.is_file(p)) else {
                            return Err(link_error(
                                &imp.module,
                                &imp.name,
                                format!(
                                    "the module imports `placeholder::{}`, so it is the primary \
                                     module of a program split by wasm-split, but its secondary \
                                     module is missing: neither {} nor {} exists",
                                    imp.name,
                                    candidates[0].display(),
                                    candidates[1].display()
                                ),
                            ));
                        };
                        // Inside the main module's directory, symbolic links
                        // resolved (`dir` is canonical).
                        let path = files
                            .canonicalize(path)
                            .ok()
                            .filter(|p| p.starts_with(dir))
                            .ok_or_else(|| {
                                link_error(
                                    &imp.module,
                                    &imp.name,
                                    format!(
                                        "the secondary module {} leads outside {}",
                                        path.display(),
                                        dir.display()
                                    ),
                                )
                            })?;
                        parts.push(part_state(path, "secondary"));
                        secondary = Some(parts.len() - 1);
                        parts.len() - 1
                    }
                };
                points.push(Point {
                    func_index: f,
                    module: imp.module.clone(),
                    name: imp.name.clone(),
                    ty,
                    part,
                    slot: Some(slot),
                    export: None,
                });
            } else if let Some((module, rest)) = parse_dioxus(&imp.name) {
                let file = format!("module_{module}.wasm");
                let numbered = |n: &str| {
                    n.strip_prefix("module_")
                        .and_then(|r| r.strip_suffix(&format!("_{module}.wasm")))
                        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                };
                let found = files_in(&**files, dir, |n| n == file || numbered(n));
                let Some(path) = found.into_iter().next() else {
                    return Err(link_error(
                        &imp.module,
                        &imp.name,
                        format!(
                            "`{}` is a split point of split module `{module}`, but neither \
                             {file} nor module_<N>_{module}.wasm exists in {}",
                            imp.name,
                            dir.display()
                        ),
                    ));
                };
                let part = match parts.iter().position(|p| p.part.path == path) {
                    Some(i) => i,
                    None => {
                        parts.push(part_state(path, "split module"));
                        parts.len() - 1
                    }
                };
                points.push(Point {
                    func_index: f,
                    module: imp.module.clone(),
                    name: imp.name.clone(),
                    ty,
                    part,
                    slot: None,
                    export: Some(format!("__wasm_split_00{module}00_export_{rest}")),
                });
            }
        }
        if points.is_empty() {
            return Ok(None);
        }
        if points.iter().any(|p| p.export.is_some()) {
            let chunks = files_in(&**files, dir, |n| {
                n.starts_with("chunk_") && n.ends_with(".wasm")
            });
            for chunk in chunks {
                parts.push(part_state(chunk, "split chunk"));
            }
        }
        Ok(Some(Arc::new(SplitProgram {
            files: files.clone(),
            engine: engine.clone(),
            points,
            state: Mutex::new((None, parts)),
        })))
    }

    /// Defines a host function for every placeholder into `linker`.
    pub(crate) fn define<T: 'static>(self: &Arc<Self>, linker: &mut Linker<T>) -> Result<()> {
        for (k, p) in self.points.iter().enumerate() {
            let this = self.clone();
            linker.func_new(
                &p.module,
                &p.name,
                p.ty.clone(),
                move |mut caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    this.call_placeholder(&mut caller, k, params, results)
                },
            )?;
        }
        Ok(())
    }

    /// Records the main module's instance (the placeholders' caller).
    pub(crate) fn set_main(&self, main: Instance) {
        self.lock().0 = Some(main);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Instance>, Vec<PartState>)> {
        // A panic while holding the lock leaves nothing half-written that
        // matters: every field is replaced whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn parts(&self) -> Vec<SplitPart> {
        self.lock().1.iter().map(|p| p.part.clone()).collect()
    }

    fn call_placeholder<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        k: usize,
        params: &[Val],
        results: &mut [Val],
    ) -> std::result::Result<(), HostError> {
        let p = &self.points[k];
        let main = self
            .lock()
            .0
            .ok_or("a split program's placeholder was called before the program was linked")?;
        if caller.store.opaque.id() != main.store {
            return Err(
                "a split program's parts can only be loaded into the store its main \
                        module was linked in"
                    .into(),
            );
        }
        let inst = self.load(caller, main, p.part)?;
        let target = match (&p.export, p.slot) {
            (Some(export), _) => inst.get_func(&mut *caller, export).ok_or_else(|| {
                format!(
                    "split module {} exports no function `{export}` for split point `{}`",
                    self.path(p.part).display(),
                    p.name
                )
            })?,
            (None, Some(slot)) => self.table_entry(caller, main, slot).ok_or_else(|| {
                format!(
                    "the secondary module {} did not fill table slot {slot} (the function \
                     `placeholder::{}` stands for)",
                    self.path(p.part).display(),
                    p.name
                )
            })?,
            (None, None) => unreachable!("a placeholder is one kind or the other"),
        };
        target
            .call(&mut *caller, params, results)
            .map_err(into_host_error)
    }

    fn path(&self, part: usize) -> PathBuf {
        self.lock().1[part].part.path.clone()
    }

    /// What main's table slot `slot` holds, unless it is still main's own
    /// placeholder import (or empty).
    fn table_entry<T>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        slot: u32,
    ) -> Option<Func> {
        let info = caller.store.opaque.instance(main.index).module.info.clone();
        let export = info
            .exports
            .iter()
            .find(|e| e.kind == ExportKind::Table && e.index == 0)?;
        let table = main.get_table(&mut *caller, &export.name)?;
        let Some(Val::FuncRef(Some(f))) = table.get(&mut *caller, slot) else {
            return None;
        };
        let own = self.points.iter().find(|p| p.slot == Some(slot)).map(|p| {
            let fr = caller
                .store
                .opaque
                .instance(main.index)
                .funcref(p.func_index) as usize;
            caller.store.opaque.intern_funcref(fr)
        });
        (own != Some(f.index)).then_some(f)
    }

    /// The instance of part `part`, loading it first if need be.
    fn load<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        part: usize,
    ) -> std::result::Result<Instance, HostError> {
        let (path, kind) = {
            let mut st = self.lock();
            let ps = &mut st.1[part];
            if let Some(i) = ps.instance {
                return Ok(i);
            }
            if ps.loading {
                return Err(format!(
                    "split part {} was needed again while it was being loaded (its start \
                     function calls one of its own split points)",
                    ps.part.path.display()
                )
                .into());
            }
            ps.loading = true;
            (ps.part.path.clone(), ps.part.kind)
        };
        let r = self.load_unlocked(caller, main, &path, kind);
        let mut st = self.lock();
        let ps = &mut st.1[part];
        ps.loading = false;
        let (module, inst) = r?;
        ps.part.module = Some(module);
        ps.instance = Some(inst);
        drop(st);
        // Every placeholder of this part now calls its function directly.
        for p in self.points.iter().filter(|p| p.part == part) {
            let target = match (&p.export, p.slot) {
                (Some(export), _) => inst.get_func(&mut *caller, export),
                (None, Some(slot)) => self.table_entry(caller, main, slot),
                _ => None,
            };
            if let Some(f) = target {
                caller
                    .store
                    .opaque
                    .link_func_import(main.index, p.func_index, f.index)
                    .map_err(|e| format!("split point `{}`: {e}", p.name))?;
            }
        }
        Ok(inst)
    }

    fn load_unlocked<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        path: &Path,
        kind: &'static str,
    ) -> std::result::Result<(Module, Instance), HostError> {
        let stem = crate::module::module_name(path);
        let bytes = self
            .files
            .read(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let module = self
            .files
            .module(&self.engine, path, &bytes, &stem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut linker: Linker<T> = Linker::new(&self.engine);
        linker.allow_shadowing(true);
        let main_exports = main.exports(&mut *caller);
        for imp in &module.info().imports {
            let found = if kind == "secondary" {
                // binaryen: everything comes from the primary.
                main_exports
                    .iter()
                    .find(|(n, _)| *n == imp.name)
                    .map(|(_, e)| *e)
            } else if imp.module == "env" && imp.name == "memory" {
                main_exports
                    .iter()
                    .find(|(_, e)| matches!(e, Extern::Memory(_)))
                    .map(|(_, e)| *e)
            } else {
                match main_exports.iter().find(|(n, _)| *n == imp.name) {
                    Some((_, e)) => Some(*e),
                    None => self.chunk_export(caller, main, &imp.name)?,
                }
            };
            let Some(ext) = found else {
                return Err(format!(
                    "{} imports `{}::{}`, which neither the main module nor any chunk exports",
                    path.display(),
                    imp.module,
                    imp.name
                )
                .into());
            };
            linker
                .define(&imp.module, &imp.name, ext)
                .map_err(|e| e.to_string())?;
        }
        let inst = linker
            .instantiate(&mut *caller, &module)
            .map_err(|e| match e {
                Error::Trap(_) => into_host_error(e),
                e => format!("{}: {e}", path.display()).into(),
            })?;
        Ok((module, inst))
    }

    /// Export `name` of a shared chunk, loading the chunk that has it.
    fn chunk_export<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        name: &str,
    ) -> std::result::Result<Option<Extern>, HostError> {
        let n = self.lock().1.len();
        for part in 0..n {
            let has = {
                let mut st = self.lock();
                let ps = &mut st.1[part];
                if ps.part.kind != "split chunk" {
                    continue;
                }
                if ps.exports.is_none() {
                    // Reading a chunk's export names parses it; compiling
                    // waits until it is needed.
                    let bytes = self
                        .files
                        .read(&ps.part.path)
                        .map_err(|e| format!("cannot read {}: {e}", ps.part.path.display()))?;
                    let info = wasabi_runtime::module::ModuleInfo::parse(&bytes)
                        .map_err(|e| format!("{}: {e}", ps.part.path.display()))?;
                    ps.exports = Some(info.exports.iter().map(|e| e.name.clone()).collect());
                }
                ps.exports
                    .as_ref()
                    .is_some_and(|x| x.iter().any(|e| e == name))
            };
            if has {
                let inst = self.load(caller, main, part)?;
                return Ok(inst.get_export(&mut *caller, name));
            }
        }
        Ok(None)
    }
}
