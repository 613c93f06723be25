//! Dynamic linking: side modules (the `dylink.0` convention of
//! `clang -fPIC` + `wasm-ld --experimental-pic -shared` and Emscripten's
//! `SIDE_MODULE`) loaded into the main module's memory and table by the
//! guest's own `dlopen`, their symbols found by `dlsym`.
//!
//! The main module imports `env.dlopen (path, flags) -> handle` and
//! `env.dlsym (handle, name) -> address` (and optionally `env.dlclose`,
//! `env.dlerror`) and exports `memory`, a growable
//! `__indirect_function_table` and, for side modules that use a stack,
//! `__stack_pointer` (see `docs/linking.md` for the link flags). Loading a
//! side module:
//!
//! 1. reads its `dylink.0` memory info (`mem_size`, `table_size`) and
//!    loads the side modules it needs (`WASM_DYLINK_NEEDED`, file names
//!    resolved like `dlopen`'s paths) first, each once; modules that need
//!    each other in a cycle are an error;
//! 2. grows the main module's memory by whole pages for `mem_size` (the
//!    side's data starts at the old end: `__memory_base`) and the table by
//!    `table_size` (`__table_base`);
//! 3. binds its imports: `env.memory`, `env.__indirect_function_table`,
//!    `env.__stack_pointer` and functions by name from the main module's
//!    exports (or a side module loaded earlier), `__memory_base` and
//!    `__table_base` as new immutable globals, and every `GOT.mem.x` /
//!    `GOT.func.x` as a new mutable global;
//! 4. instantiates it, fills the GOT (`GOT.mem.x`: the address of data
//!    symbol `x`, i.e. `__memory_base` plus the side's exported offset, or
//!    the main module's exported address; `GOT.func.x`: a table slot of
//!    function `x`, appended to the table), then runs its
//!    `__wasm_apply_data_relocs` and `__wasm_call_ctors`.
//!
//! `dlsym` returns a table index for a function (so the guest calls it
//! through `call_indirect`, like any function pointer) and an address in
//! the shared memory for a data symbol.
//!
//! What must stay true: the path a guest passes is resolved like a path
//! import (relative to the main module's directory, only inside the allowed
//! directories); every guest pointer is read through bounds-checked
//! memory accesses; a failure makes `dlopen` return 0 (the reason goes to
//! the log, `tracing` target `wasabi`), never a crash; a pointer out of
//! bounds is a trap; a library is loaded once per
//! path (a second `dlopen` returns the same handle).

use super::files::ModuleFiles;
use crate::error::{Error, Result};
use crate::externals::{Extern, Global, Memory, Table};
use crate::func::{Caller, Func};
use crate::instance::Instance;
use crate::linker::Linker;
use crate::module::Module;
use crate::values::Val;
use crate::{Engine, GlobalType, ValType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wasabi_runtime::module::ImportKind;
use wasabi_runtime::{FuncType, HostError};

/// Longest path or symbol name read from the guest.
const MAX_NAME: usize = 4096;

/// The `dylink.0` memory info of a side module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DylinkInfo {
    pub mem_size: u32,
    pub mem_align: u32,
    pub table_size: u32,
    pub table_align: u32,
    /// `WASM_DYLINK_NEEDED`: the side modules it links against, by file
    /// name, loaded before it.
    pub needed: Vec<String>,
}

fn leb(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut result: u64 = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        result |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(result).ok();
        }
    }
    None
}

/// The `dylink.0` section's memory info, if the module has one (`Err` when
/// it is malformed).
pub(crate) fn dylink_info(wasm: &[u8]) -> std::result::Result<Option<DylinkInfo>, String> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Ok(None);
    }
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos).ok_or("malformed section size")? as usize;
        let end = pos.checked_add(size).filter(|&e| e <= wasm.len());
        let end = end.ok_or("section runs past the end of the module")?;
        if id == 0 {
            let mut p = pos;
            let n = leb(wasm, &mut p).ok_or("malformed custom section name")? as usize;
            let name = wasm.get(p..p + n).ok_or("malformed custom section name")?;
            p += n;
            if name == b"dylink.0" {
                let mut info = DylinkInfo::default();
                while p < end {
                    let kind = wasm[p];
                    p += 1;
                    let len = leb(wasm, &mut p).ok_or("malformed dylink.0")? as usize;
                    let sub_end = p.checked_add(len).filter(|&e| e <= end);
                    let sub_end = sub_end.ok_or("malformed dylink.0")?;
                    if kind == 1 {
                        let mut q = p;
                        let mut next = || leb(&wasm[..sub_end], &mut q).ok_or("malformed dylink.0");
                        info.mem_size = next()?;
                        info.mem_align = next()?;
                        info.table_size = next()?;
                        info.table_align = next()?;
                    } else if kind == 2 {
                        let sub = &wasm[..sub_end];
                        let mut q = p;
                        let count = leb(sub, &mut q).ok_or("malformed dylink.0")?;
                        for _ in 0..count {
                            let n = leb(sub, &mut q).ok_or("malformed dylink.0")? as usize;
                            let name = q
                                .checked_add(n)
                                .and_then(|e| sub.get(q..e))
                                .ok_or("malformed dylink.0")?;
                            let name = std::str::from_utf8(name)
                                .map_err(|_| "malformed dylink.0: a needed name is not UTF-8")?;
                            info.needed.push(name.to_string());
                            q += n;
                        }
                    }
                    p = sub_end;
                }
                return Ok(Some(info));
            }
        }
        pos = end;
    }
    Ok(None)
}

/// The side modules a side module needs (its `dylink.0` section's
/// `WASM_DYLINK_NEEDED` names, resolved like `dlopen` paths when it is
/// loaded): none for a module without the section, `Err` when the section
/// is malformed.
pub fn side_module_needs(wasm: &[u8]) -> std::result::Result<Vec<String>, String> {
    Ok(dylink_info(wasm)?.map(|i| i.needed).unwrap_or_default())
}

/// Why loading a side module failed: a reason (`dlopen` returns 0), or a
/// trap of its own code (which propagates, so a WASI exit still exits).
enum Fail {
    Msg(String),
    Trap(HostError),
}

impl From<String> for Fail {
    fn from(m: String) -> Fail {
        Fail::Msg(m)
    }
}

impl From<&str> for Fail {
    fn from(m: &str) -> Fail {
        Fail::Msg(m.into())
    }
}

impl Fail {
    fn from_error(e: Error) -> Fail {
        match e {
            Error::Trap(mut t) => Fail::Trap(match t.host_error.take() {
                Some(h) => h,
                None => Box::new(t),
            }),
            e => Fail::Msg(e.to_string()),
        }
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Msg(m) => f.write_str(m),
            Fail::Trap(t) => write!(f, "{t}"),
        }
    }
}

struct Lib {
    path: PathBuf,
    module: Module,
    instance: Instance,
    memory_base: u32,
    /// Table slots handed out for its functions, by name.
    slots: HashMap<String, u32>,
}

#[derive(Default)]
struct State {
    main: Option<Instance>,
    libs: Vec<Lib>,
    /// The side modules being loaded: one, or a chain of modules and those
    /// they need (`WASM_DYLINK_NEEDED`) or open from a constructor.
    loading: Vec<PathBuf>,
}

/// The dynamic loader of one program. Shared by its `dl*` host functions.
pub(crate) struct DynamicLinker {
    files: Arc<dyn ModuleFiles>,
    engine: Engine,
    dir: PathBuf,
    allowed: Vec<PathBuf>,
    /// `(name, type)` of the `env.dl*` functions the main module imports.
    imports: Vec<(String, FuncType)>,
    state: Mutex<State>,
}

fn host_error(e: impl std::fmt::Display) -> HostError {
    e.to_string().into()
}

impl DynamicLinker {
    /// The loader for `main`, if it imports `env.dlopen` or `env.dlsym`
    /// and `linker` does not define them.
    pub(crate) fn detect<T: 'static>(
        files: &Arc<dyn ModuleFiles>,
        engine: &Engine,
        main: &Module,
        dir: &Path,
        allowed: &[PathBuf],
        linker: &Linker<T>,
    ) -> Option<Arc<DynamicLinker>> {
        let info = main.info();
        let imports: Vec<(String, FuncType)> = info
            .imports
            .iter()
            .filter(|i| {
                i.module == "env"
                    && matches!(i.name.as_str(), "dlopen" | "dlsym" | "dlclose" | "dlerror")
            })
            .filter_map(|i| match i.kind {
                ImportKind::Func(t) => Some((i.name.clone(), info.types[t as usize].clone())),
                _ => None,
            })
            .collect();
        let wanted = imports.iter().any(|(n, _)| n == "dlopen" || n == "dlsym");
        if !wanted || imports.iter().any(|(n, _)| linker.get_def("env", n)) {
            return None;
        }
        Some(Arc::new(DynamicLinker {
            files: files.clone(),
            engine: engine.clone(),
            dir: dir.to_path_buf(),
            allowed: allowed.to_vec(),
            imports,
            state: Mutex::new(State::default()),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Fields are replaced whole: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Defines the `env.dl*` functions the main module imports.
    pub(crate) fn define<T: 'static>(self: &Arc<Self>, linker: &mut Linker<T>) -> Result<()> {
        for (name, ty) in &self.imports {
            let expect = |params: &[ValType], results: &[ValType]| {
                if ty.params != params || ty.results != results {
                    return Err(Error::Link(crate::error::LinkError {
                        module: "env".into(),
                        field: name.clone(),
                        message: format!(
                            "`env::{name}` is imported with type {ty}, but wasabi's {name} \
                             has type {}",
                            FuncType::new(params.to_vec(), results.to_vec())
                        ),
                    }));
                }
                Ok(())
            };
            use ValType::I32;
            match name.as_str() {
                "dlopen" | "dlsym" => expect(&[I32, I32], &[I32])?,
                "dlclose" => expect(&[I32], &[I32])?,
                _ => expect(&[], &[I32])?,
            }
            let this = self.clone();
            let which = name.clone();
            linker.func_new(
                "env",
                name,
                ty.clone(),
                move |mut caller: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                    let arg = |i: usize| params.get(i).and_then(|v| v.i32()).unwrap_or(0) as u32;
                    let r = match which.as_str() {
                        "dlopen" => this.dlopen(&mut caller, arg(0))?,
                        "dlsym" => this.dlsym(&mut caller, arg(0), arg(1))?,
                        "dlclose" => 0,
                        // dlerror: no message in guest memory (it is logged).
                        _ => 0,
                    };
                    results[0] = Val::I32(r as i32);
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    pub(crate) fn set_main(&self, main: Instance) {
        self.lock().main = Some(main);
    }

    /// `(path, kind, module)` of every side module loaded (for `--stats`).
    pub(crate) fn loaded(&self) -> Vec<(PathBuf, Module)> {
        self.lock()
            .libs
            .iter()
            .map(|l| (l.path.clone(), l.module.clone()))
            .collect()
    }

    fn main(&self) -> std::result::Result<Instance, HostError> {
        self.lock()
            .main
            .ok_or_else(|| host_error("dlopen was called before the program was linked"))
    }

    /// A NUL-terminated string of the main module's memory (a trap when
    /// it is out of bounds or longer than [`MAX_NAME`]).
    fn read_cstr<T>(
        caller: &mut Caller<'_, T>,
        mem: Memory,
        ptr: u32,
    ) -> std::result::Result<String, HostError> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        let size = mem.data_size(&*caller);
        let mut at = ptr as usize;
        loop {
            let n = chunk.len().min(size.saturating_sub(at));
            if n == 0 {
                return Err(host_error(format!(
                    "a string at address {ptr} runs past the end of memory"
                )));
            }
            mem.read(&*caller, at, &mut chunk[..n])
                .map_err(host_error)?;
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                break;
            }
            out.extend_from_slice(&chunk[..n]);
            at += n;
            if out.len() > MAX_NAME {
                return Err(host_error(format!(
                    "a string at address {ptr} is longer than {MAX_NAME} bytes"
                )));
            }
        }
        String::from_utf8(out).map_err(|_| host_error(format!("the string at {ptr} is not UTF-8")))
    }

    fn main_export<T>(caller: &mut Caller<'_, T>, main: Instance, name: &str) -> Option<Extern> {
        main.get_export(&mut *caller, name)
    }

    fn main_memory<T>(
        caller: &mut Caller<'_, T>,
        main: Instance,
    ) -> std::result::Result<Memory, HostError> {
        Self::main_export(caller, main, "memory")
            .and_then(Extern::into_memory)
            .ok_or_else(|| host_error("dlopen needs the main module to export its `memory`"))
    }

    fn main_table<T>(
        caller: &mut Caller<'_, T>,
        main: Instance,
    ) -> std::result::Result<Table, HostError> {
        Self::main_export(caller, main, "__indirect_function_table")
            .and_then(Extern::into_table)
            .ok_or_else(|| {
                host_error(
                    "dlopen needs the main module to export its table as \
                     `__indirect_function_table` (link with --export-table --growable-table)",
                )
            })
    }

    fn dlopen<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        path_ptr: u32,
    ) -> std::result::Result<u32, HostError> {
        let main = self.main()?;
        let mem = Self::main_memory(caller, main)?;
        let name = Self::read_cstr(caller, mem, path_ptr)?;
        match self.open(caller, main, &name) {
            Ok(h) => Ok(h),
            // The side module's own code trapped (or exited): that goes on.
            Err(Fail::Trap(t)) => Err(t),
            Err(Fail::Msg(e)) => {
                let msg = format!("dlopen(\"{name}\"): {e}");
                tracing::warn!("{msg}");
                Ok(0)
            }
        }
    }

    fn resolve(&self, name: &str) -> std::result::Result<PathBuf, String> {
        if Path::new(name).is_absolute() {
            return Err(
                "an absolute path; side modules are opened by paths relative to the \
                        main module's directory"
                    .into(),
            );
        }
        let joined = self.dir.join(name);
        let path = self
            .files
            .canonicalize(&joined)
            .map_err(|e| format!("{}: {e}", joined.display()))?;
        if !self.allowed.iter().any(|d| path.starts_with(d)) {
            return Err(format!(
                "{} is outside the directories modules may be loaded from",
                path.display()
            ));
        }
        Ok(path)
    }

    fn open<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        name: &str,
    ) -> std::result::Result<u32, Fail> {
        let path = self.resolve(name)?;
        {
            let mut st = self.lock();
            if let Some(i) = st.libs.iter().position(|l| l.path == path) {
                return Ok(i as u32 + 1);
            }
            if st.loading.contains(&path) {
                let chain: Vec<String> = st
                    .loading
                    .iter()
                    .chain([&path])
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(Fail::Msg(format!(
                    "side modules need each other in a cycle: {}",
                    chain.join(" -> ")
                )));
            }
            st.loading.push(path.clone());
        }
        let r = self.load(caller, main, &path);
        let mut st = self.lock();
        st.loading.retain(|p| *p != path);
        let lib = r?;
        st.libs.push(lib);
        Ok(st.libs.len() as u32)
    }

    fn load<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        main: Instance,
        path: &Path,
    ) -> std::result::Result<Lib, Fail> {
        let bytes = self
            .files
            .read(path)
            .map_err(|e| format!("cannot read it: {e}"))?;
        let dylink =
            dylink_info(&bytes)?.ok_or("not a side module (it has no dylink.0 section)")?;
        // What it links against comes first, so its imports find their
        // exports (as a side module loaded before).
        for needed in &dylink.needed {
            self.open(caller, main, needed).map_err(|e| match e {
                Fail::Msg(m) => {
                    Fail::Msg(format!("it needs {needed}, which cannot be loaded: {m}"))
                }
                trap => trap,
            })?;
        }
        let stem = crate::module::module_name(path);
        let module = self
            .files
            .module(&self.engine, path, &bytes, &stem)
            .map_err(|e| e.to_string())?;
        let e = |x: HostError| x.to_string();
        let mem = Self::main_memory(caller, main).map_err(e)?;
        let table = Self::main_table(caller, main).map_err(e)?;

        // Memory and table space.
        let old = mem.data_size(&*caller);
        let align = 1usize << dylink.mem_align.min(16);
        let memory_base = old.next_multiple_of(align);
        let end = memory_base + dylink.mem_size as usize;
        let pages = end.saturating_sub(old).div_ceil(65536);
        if pages > 0 {
            mem.grow(&mut *caller, pages as u64)
                .map_err(|e| format!("cannot grow memory for its data: {e}"))?;
        }
        let memory_base = u32::try_from(memory_base).map_err(|_| "memory is full")?;
        let table_base = table.size(&*caller);
        if dylink.table_size > 0 {
            table
                .grow(&mut *caller, dylink.table_size, Val::FuncRef(None))
                .map_err(|e| format!("cannot grow the table: {e}"))?;
        }

        // Imports.
        let mut linker: Linker<T> = Linker::new(&self.engine);
        let konst = |caller: &mut Caller<'_, T>, v: u32| {
            Global::new(
                &mut *caller,
                GlobalType {
                    content: ValType::I32,
                    mutable: false,
                },
                Val::I32(v as i32),
            )
        };
        let mut got: Vec<(bool, String, Global)> = Vec::new();
        let libs: Vec<Instance> = self.lock().libs.iter().map(|l| l.instance).collect();
        for imp in &module.info().imports {
            let ext: Extern = match (imp.module.as_str(), imp.name.as_str()) {
                ("env", "memory") => Extern::Memory(mem),
                ("env", "__indirect_function_table") => Extern::Table(table),
                ("env", "__memory_base") => {
                    Extern::Global(konst(caller, memory_base).map_err(|e| e.to_string())?)
                }
                ("env", "__table_base") => {
                    Extern::Global(konst(caller, table_base).map_err(|e| e.to_string())?)
                }
                ("GOT.mem" | "GOT.func", sym) => {
                    let g = Global::new(
                        &mut *caller,
                        GlobalType {
                            content: ValType::I32,
                            mutable: true,
                        },
                        Val::I32(0),
                    )
                    .map_err(|e| e.to_string())?;
                    got.push((imp.module == "GOT.func", sym.to_string(), g));
                    Extern::Global(g)
                }
                ("env", sym) => {
                    let found = Self::main_export(caller, main, sym)
                        .or_else(|| libs.iter().find_map(|l| l.get_export(&mut *caller, sym)));
                    match found {
                        Some(x) => x,
                        None => {
                            return Err(format!(
                                "undefined symbol `{sym}`: neither the main module nor a side \
                                 module loaded before exports it"
                            )
                            .into())
                        }
                    }
                }
                (m, n) => {
                    return Err(format!(
                        "it imports `{m}::{n}`; side modules import from `env`, `GOT.mem` and \
                         `GOT.func` only"
                    )
                    .into())
                }
            };
            linker
                .define(&imp.module, &imp.name, ext)
                .map_err(|e| e.to_string())?;
        }
        let instance = linker
            .instantiate(&mut *caller, &module)
            .map_err(Fail::from_error)?;
        let lib = Lib {
            path: path.to_path_buf(),
            module,
            instance,
            memory_base,
            slots: HashMap::new(),
        };

        // The GOT.
        for (is_func, sym, g) in got {
            let value = if is_func {
                let f = instance
                    .get_func(&mut *caller, &sym)
                    .or_else(|| Self::main_export(caller, main, &sym)?.into_func())
                    .or_else(|| libs.iter().find_map(|l| l.get_func(&mut *caller, &sym)))
                    .ok_or_else(|| format!("undefined function `{sym}` (GOT.func)"))?;
                Self::slot_for(caller, table, f)?
            } else {
                match instance.get_global(&mut *caller, &sym) {
                    Some(g) => {
                        memory_base.wrapping_add(g.get(&mut *caller).i32().unwrap_or(0) as u32)
                    }
                    None => Self::main_export(caller, main, &sym)
                        .and_then(Extern::into_global)
                        .and_then(|g| g.get(&mut *caller).i32())
                        .ok_or_else(|| format!("undefined data symbol `{sym}` (GOT.mem)"))?
                        as u32,
                }
            };
            g.set(&mut *caller, Val::I32(value as i32))
                .map_err(|e| e.to_string())?;
        }
        for init in ["__wasm_apply_data_relocs", "__wasm_call_ctors"] {
            if let Some(f) = instance.get_func(&mut *caller, init) {
                f.call(&mut *caller, &[], &mut [])
                    .map_err(Fail::from_error)?;
            }
        }
        Ok(lib)
    }

    /// Appends `f` to the table; its slot.
    fn slot_for<T>(
        caller: &mut Caller<'_, T>,
        table: Table,
        f: Func,
    ) -> std::result::Result<u32, String> {
        table
            .grow(&mut *caller, 1, Val::FuncRef(Some(f)))
            .map_err(|e| format!("cannot grow the table: {e}"))
    }

    fn dlsym<T: 'static>(
        &self,
        caller: &mut Caller<'_, T>,
        handle: u32,
        name_ptr: u32,
    ) -> std::result::Result<u32, HostError> {
        let main = self.main()?;
        let mem = Self::main_memory(caller, main)?;
        let name = Self::read_cstr(caller, mem, name_ptr)?;
        let (instance, memory_base, cached) = {
            let st = self.lock();
            let Some(lib) = handle.checked_sub(1).and_then(|i| st.libs.get(i as usize)) else {
                return Ok(0);
            };
            (lib.instance, lib.memory_base, lib.slots.get(&name).copied())
        };
        if let Some(slot) = cached {
            return Ok(slot);
        }
        Ok(match instance.get_export(&mut *caller, &name) {
            Some(Extern::Func(f)) => {
                let table = Self::main_table(caller, main)?;
                let slot = Self::slot_for(caller, table, f).map_err(host_error)?;
                if let Some(lib) = self.lock().libs.get_mut(handle as usize - 1) {
                    lib.slots.insert(name, slot);
                }
                slot
            }
            Some(Extern::Global(g)) => {
                memory_base.wrapping_add(g.get(&mut *caller).i32().unwrap_or(0) as u32)
            }
            _ => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with one custom section `name` holding `body`.
    fn with_custom(name: &[u8], body: &[u8]) -> Vec<u8> {
        let mut sec = vec![name.len() as u8];
        sec.extend_from_slice(name);
        sec.extend_from_slice(body);
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.push(0);
        m.push(sec.len() as u8);
        m.extend(sec);
        m
    }

    #[test]
    fn reads_the_memory_info() {
        // MEM_INFO: mem_size 56, align 4, table_size 1, align 0.
        let m = with_custom(b"dylink.0", &[1, 4, 56, 4, 1, 0]);
        assert_eq!(
            dylink_info(&m),
            Ok(Some(DylinkInfo {
                mem_size: 56,
                mem_align: 4,
                table_size: 1,
                table_align: 0,
                needed: Vec::new(),
            }))
        );
        // NEEDED: two names.
        let m = with_custom(b"dylink.0", &[2, 7, 2, 1, b'a', 3, b'b', b'.', b'c']);
        assert_eq!(
            dylink_info(&m).map(|i| i.map(|i| i.needed)),
            Ok(Some(vec!["a".to_string(), "b.c".to_string()]))
        );
        assert_eq!(dylink_info(&with_custom(b"name", &[])), Ok(None));
        assert_eq!(dylink_info(b"not wasm"), Ok(None));
    }

    #[test]
    fn malformed_sections_are_errors_not_panics() {
        for body in [
            &[1, 4, 56][..],            // subsection shorter than it says
            &[1, 0x80, 0x80, 0x80][..], // unterminated size
            &[1, 2, 0x80, 0x80][..],    // unterminated field
            &[2, 2, 1, 5][..],          // a needed name past its subsection
            &[2, 3, 1, 1, 0xff][..],    // a needed name that is not UTF-8
        ] {
            assert!(
                dylink_info(&with_custom(b"dylink.0", body)).is_err(),
                "{body:?}"
            );
        }
        let mut m = with_custom(b"dylink.0", &[1, 4, 56, 4, 1, 0]);
        m[9] = 100; // section size past the end
        assert!(dylink_info(&m).is_err());
    }
}
