//! Host ABIs for Wasabi: the functions a module imports from its host,
//! built from the module's own import descriptors.
//!
//! A module says what it needs through its imports (`module::name` plus a
//! type). An [`Abis`] value maps import *module* names to the [`HostAbi`]
//! that answers for them; [`create_imports`] walks a module's imports in
//! order and asks the owning ABI for each one, so a module importing three
//! WASI functions gets exactly those three host functions, and anything no
//! ABI provides is a [`LinkError`] naming the module, the field and the
//! expected type.
//!
//! Where things live:
//! - this file: the ABI registry ([`Abis`], [`HostAbi`]), [`LinkError`] and
//!   [`create_imports`].
//! - [`wasi`]: WASI preview 1 (`wasi_snapshot_preview1`). Its module docs
//!   say where each group of functions lives.
//!
//! Adding an ABI (Emscripten is next): implement [`HostAbi`] for it, list
//! the import module names it answers for in [`HostAbi::modules`], and
//! register it with [`Abis::with`]. Nothing else here changes.
//!
//! What must stay true:
//! - [`create_imports`] returns one [`Extern`] per import, in the module's
//!   import order (what `Store::instantiate` expects), or an error; it never
//!   returns a partial list.
//! - A host function's type is always exactly the type the import declares:
//!   an ABI checks the declared type against its own definition and refuses
//!   a mismatch at link time, so the runtime never calls a host function
//!   with arguments of the wrong types.
//! - Host functions never panic on guest input and never touch memory
//!   outside the caller's linear memory: every guest pointer is
//!   bounds-checked (see [`wasi`]'s guest-memory helper).

pub mod command;
pub mod wasi;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use wasabi_runtime::module::{Import, ImportKind};
use wasabi_runtime::{Extern, FuncType, ModuleInfo, Store, ValType};

pub use wasi::{Exit, Output, OutputBuffer, Stdin, Wasi, WasiCtx, WasiCtxBuilder};

/// An import that cannot be satisfied: unknown module, unknown field, wrong
/// kind or wrong type. The message names `module::field` and the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    pub module: String,
    pub field: String,
    pub message: String,
}

impl LinkError {
    pub fn new(import: &Import, message: String) -> LinkError {
        LinkError {
            module: import.module.clone(),
            field: import.name.clone(),
            message,
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LinkError {}

/// A set of host functions (and, for some ABIs, memories, tables or
/// globals) answering for one or more import module names.
pub trait HostAbi: Send + Sync {
    /// A human-readable name for messages, e.g. "WASI preview 1".
    fn name(&self) -> &str;
    /// The import module names this ABI answers for.
    fn modules(&self) -> Vec<String>;
    /// Builds the extern for `import` (whose module is one of
    /// [`HostAbi::modules`]) of module `info`, checking the declared type.
    fn resolve(
        &self,
        store: &mut Store,
        info: &ModuleInfo,
        import: &Import,
    ) -> Result<Extern, LinkError>;
}

/// The host ABIs available to a module, keyed by import module name.
#[derive(Clone, Default)]
pub struct Abis {
    by_module: BTreeMap<String, Arc<dyn HostAbi>>,
}

impl Abis {
    /// No ABIs: only modules without imports link.
    pub fn new() -> Abis {
        Abis::default()
    }

    /// Adds `abi` for every module name it answers for (replacing any
    /// earlier ABI registered for the same name).
    pub fn with(mut self, abi: impl HostAbi + 'static) -> Abis {
        self.add(Arc::new(abi));
        self
    }

    pub fn add(&mut self, abi: Arc<dyn HostAbi>) {
        for m in abi.modules() {
            self.by_module.insert(m, abi.clone());
        }
    }

    /// The ABI answering for import module `module`, if any.
    pub fn get(&self, module: &str) -> Option<&Arc<dyn HostAbi>> {
        self.by_module.get(module)
    }

    /// The import module names some ABI answers for, sorted.
    pub fn module_names(&self) -> Vec<&str> {
        self.by_module.keys().map(|s| s.as_str()).collect()
    }
}

/// Builds one extern per import of `info`, in import order, from `abis`.
pub fn create_imports(
    store: &mut Store,
    info: &ModuleInfo,
    abis: &Abis,
) -> Result<Vec<Extern>, LinkError> {
    let mut out = Vec::with_capacity(info.imports.len());
    for imp in &info.imports {
        let Some(abi) = abis.get(&imp.module) else {
            let known = abis.module_names();
            let hint = if known.is_empty() {
                "no host ABI is configured".to_string()
            } else {
                format!(
                    "no host ABI provides module `{}` (available: {})",
                    imp.module,
                    known.join(", ")
                )
            };
            return Err(LinkError::new(
                imp,
                format!(
                    "unknown import `{}::{}` {}: {hint}",
                    imp.module,
                    imp.name,
                    describe_import(info, &imp.kind)
                ),
            ));
        };
        out.push(abi.resolve(store, info, imp)?);
    }
    Ok(out)
}

/// The wat-like description of a function type: `(func (param i32) (result i32))`.
pub fn describe_func_type(ty: &FuncType) -> String {
    let list = |kw: &str, v: &[ValType]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(
                " ({kw} {})",
                v.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    };
    format!(
        "(func{}{})",
        list("param", &ty.params),
        list("result", &ty.results)
    )
}

/// The wat-like description of what an import expects.
pub fn describe_import(info: &ModuleInfo, kind: &ImportKind) -> String {
    match kind {
        ImportKind::Func(t) => match info.types.get(*t as usize) {
            Some(ty) => describe_func_type(ty),
            None => "(func)".into(),
        },
        ImportKind::Memory(m) => match m.maximum {
            Some(max) => format!("(memory {} {max})", m.minimum),
            None => format!("(memory {})", m.minimum),
        },
        ImportKind::Table(t) => match t.maximum {
            Some(max) => format!("(table {} {max} {})", t.minimum, t.element),
            None => format!("(table {} {})", t.minimum, t.element),
        },
        ImportKind::Global(g) => {
            if g.mutable {
                format!("(global (mut {}))", g.content)
            } else {
                format!("(global {})", g.content)
            }
        }
    }
}
