//! [`Linker<T>`]: resolves a module's imports by `(module, name)`.
//!
//! A linker holds two kinds of definitions: host functions made from
//! closures ([`Linker::func_wrap`], [`Linker::func_new`]), which belong to
//! no store and are bound anew into each store they are instantiated in,
//! and externs of one store ([`Linker::define`], [`Linker::instance`]).
//! Host ABIs (WASI, ...) register themselves as a set of definitions.
//!
//! What must stay true: instantiation either resolves every import (kind
//! and type checked here, with an error naming module, field and both
//! types) or creates nothing; externs are only used with their own store
//! (a foreign one panics, as every handle misuse does).

use crate::error::{Error, HostError, LinkError, Result};
use crate::externals::Extern;
use crate::func::{host_func_new, Caller, IntoFunc};
use crate::instance::{instantiate_raw, Instance};
use crate::module::{import_type, ExternType, Module};
use crate::store::AsContextMut;
use crate::values::Val;
use crate::Engine;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;
use wasabi_runtime::{FuncType, HostFunc, RawImport};

pub(crate) enum Definition {
    Extern(Extern),
    HostFunc(Arc<HostFunc>),
}

/// Resolves imports by name and instantiates modules. See the module docs.
pub struct Linker<T> {
    defs: BTreeMap<(String, String), Definition>,
    allow_shadowing: bool,
    _marker: PhantomData<fn(T) -> T>,
}

impl<T> Default for Linker<T> {
    fn default() -> Self {
        Linker {
            defs: BTreeMap::new(),
            allow_shadowing: false,
            _marker: PhantomData,
        }
    }
}

impl<T: 'static> Linker<T> {
    /// An empty linker.
    pub fn new(_engine: &Engine) -> Linker<T> {
        Linker::default()
    }

    /// Whether a later definition of the same `(module, name)` replaces an
    /// earlier one (default: it is an error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.defs.contains_key(&key) {
            return Err(Error::Link(LinkError {
                module: module.into(),
                field: name.into(),
                message: format!("`{module}::{name}` is already defined"),
            }));
        }
        self.defs.insert(key, def);
        Ok(self)
    }

    /// Defines `module::name` as a host function made from a closure (see
    /// [`crate::Func::wrap`] for the closures accepted).
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        f: impl IntoFunc<T, Params, Results>,
    ) -> Result<&mut Self> {
        let host = Arc::new(f.into_host_func());
        self.insert(module, name, Definition::HostFunc(host))
    }

    /// Defines `module::name` as a host function of type `ty` over dynamic
    /// values (see [`crate::Func::new`]).
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let host = Arc::new(host_func_new(ty, f));
        self.insert(module, name, Definition::HostFunc(host))
    }

    /// Defines `module::name` as an extern of some store (usable only to
    /// instantiate in that store).
    pub fn define(
        &mut self,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        self.insert(module, name, Definition::Extern(item.into()))
    }

    /// Defines every export of `instance` under the module name `module`.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for (name, ext) in instance.exports(&mut store) {
            self.define(module, &name, ext)?;
        }
        Ok(self)
    }

    /// Instantiates `module` and defines its exports under `name`.
    pub fn module(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        name: &str,
        module: &Module,
    ) -> Result<Instance> {
        let instance = self.instantiate(&mut store, module)?;
        self.instance(store, name, instance)?;
        Ok(instance)
    }

    /// The definition of `module::name` as an extern of `store` (host
    /// functions are bound into the store).
    pub fn get(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        name: &str,
    ) -> Option<Extern> {
        let def = self.defs.get(&(module.to_string(), name.to_string()))?;
        let ctx = store.as_context_mut();
        Some(match def {
            Definition::Extern(e) => *e,
            Definition::HostFunc(h) => {
                let opaque = &mut ctx.0.opaque;
                Extern::Func(crate::Func {
                    store: opaque.id(),
                    index: opaque.new_host_func(h.clone()),
                })
            }
        })
    }

    /// Whether `module::name` is defined.
    pub(crate) fn get_def(&self, module: &str, name: &str) -> bool {
        self.defs
            .contains_key(&(module.to_string(), name.to_string()))
    }

    /// Whether anything is defined under the module name `module`.
    pub fn defines_module(&self, module: &str) -> bool {
        self.module_names().any(|m| m == module)
    }

    /// The module names something is defined under, sorted.
    pub fn module_names(&self) -> impl Iterator<Item = &str> + '_ {
        let mut last: Option<&str> = None;
        self.defs.keys().filter_map(move |(m, _)| {
            if last == Some(m.as_str()) {
                return None;
            }
            last = Some(m.as_str());
            last
        })
    }

    /// Resolves every import of `module` (each must be defined, with the
    /// right kind and type) and instantiates it; runs the start function
    /// and, for a reactor, `_initialize`.
    pub fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        let ctx = store.as_context_mut();
        let inner = &mut *ctx.0;
        let info = module.info();
        // Check everything before binding anything into the store.
        let mut found = Vec::with_capacity(info.imports.len());
        for imp in &info.imports {
            found.push(self.check_import(inner, info, imp)?);
        }
        let raw: Vec<RawImport> = found
            .into_iter()
            .map(|def| def_to_raw(inner, def))
            .collect();
        instantiate_raw(inner, module, &raw)
    }

    /// The definition import `imp` of a module described by `info`
    /// resolves to, checked for kind and type: an error naming module,
    /// field and both types, or what is defined instead.
    pub(crate) fn check_import(
        &self,
        inner: &crate::store::StoreInner<T>,
        info: &wasabi_runtime::module::ModuleInfo,
        imp: &wasabi_runtime::module::Import,
    ) -> Result<&Definition> {
        let want = import_type(info, &imp.kind);
        let err = |message: String| {
            Error::Link(LinkError {
                module: imp.module.clone(),
                field: imp.name.clone(),
                message,
            })
        };
        let Some(def) = self.defs.get(&(imp.module.clone(), imp.name.clone())) else {
            let hint = if self.defines_module(&imp.module) {
                format!("module `{}` defines no `{}`", imp.module, imp.name)
            } else {
                let known: Vec<&str> = self.module_names().collect();
                if known.is_empty() {
                    format!("nothing is defined for module `{}`", imp.module)
                } else {
                    format!(
                        "nothing is defined for module `{}` (defined modules: {})",
                        imp.module,
                        known.join(", ")
                    )
                }
            };
            return Err(err(format!(
                "unknown import `{}::{}` {want}: {hint}",
                imp.module, imp.name
            )));
        };
        let have = match def {
            Definition::HostFunc(h) => ExternType::Func(h.ty.clone()),
            Definition::Extern(e) => {
                if e.store_id() != inner.opaque.id() {
                    panic!(
                        "wasabi: the linker's definition of `{}::{}` belongs to another \
                         Store (handles are only valid with the store that created them)",
                        imp.module, imp.name
                    );
                }
                e.ty(ctx_ref(inner))
            }
        };
        if !extern_type_matches(&have, &want) {
            return Err(err(format!(
                "import `{}::{}` has type {want}, but `{}::{}` is defined as {have}",
                imp.module, imp.name, imp.module, imp.name
            )));
        }
        Ok(def)
    }
}

/// A checked definition as a store index (a host function is bound into
/// the store anew).
pub(crate) fn def_to_raw<T>(
    inner: &mut crate::store::StoreInner<T>,
    def: &Definition,
) -> RawImport {
    match def {
        Definition::Extern(e) => e.to_raw(),
        Definition::HostFunc(h) => RawImport::Func(inner.opaque.new_host_func(h.clone())),
    }
}

/// A shared view of the store for type queries.
fn ctx_ref<T>(inner: &crate::store::StoreInner<T>) -> crate::StoreContext<'_, T> {
    crate::StoreContext(inner)
}

/// Whether something of type `have` satisfies an import of type `want`:
/// functions and globals exactly, memories and tables by their limits.
pub(crate) fn extern_type_matches(have: &ExternType, want: &ExternType) -> bool {
    let limits = |amin: u64, amax: Option<u64>, min: u64, max: Option<u64>| {
        amin >= min
            && match max {
                None => true,
                Some(m) => matches!(amax, Some(a) if a <= m),
            }
    };
    match (have, want) {
        (ExternType::Func(a), ExternType::Func(b)) => a == b,
        (ExternType::Global(a), ExternType::Global(b)) => a == b,
        (ExternType::Memory(a), ExternType::Memory(b)) => {
            limits(a.minimum, a.maximum, b.minimum, b.maximum)
        }
        (ExternType::Table(a), ExternType::Table(b)) => {
            a.element == b.element && limits(a.minimum, a.maximum, b.minimum, b.maximum)
        }
        _ => false,
    }
}
