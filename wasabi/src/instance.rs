//! [`Instance`]: a module instantiated in a store, and instantiation itself.
//!
//! What must stay true: instantiation runs the module's start function,
//! and then, for a reactor (a module exporting `_initialize` and no
//! `_start`), `_initialize`, before the instance is handed out, so no
//! export can be called on a half-initialised instance.

use crate::error::{Error, LinkError, Result};
use crate::externals::{Extern, Global, Memory, Table};
use crate::func::{func_from_export, Func, TypedFunc};
use crate::module::Module;
use crate::store::{check_store, AsContextMut, StoreInner};
use crate::values::WasmTyList;
use wasabi_runtime::{StoreId, StoreOpaque};

/// An instance of a module in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Instance {
    /// Instantiates `module` with `imports` given in the module's import
    /// order (see [`crate::Linker`] to resolve them by name instead).
    pub fn new(
        mut store: impl AsContextMut,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let ctx = store.as_context_mut();
        let inner = &mut *ctx.0;
        for (i, e) in imports.iter().enumerate() {
            if e.store_id() != inner.opaque.id() {
                let imp = &module.info().imports.get(i);
                let (m, n) = imp
                    .map(|i| (i.module.as_str(), i.name.as_str()))
                    .unwrap_or(("?", "?"));
                panic!(
                    "wasabi: the {} given for import `{m}::{n}` belongs to another Store \
                     (handles are only valid with the store that created them)",
                    e.kind_name()
                );
            }
        }
        let raw: Vec<_> = imports.iter().map(|e| e.to_raw()).collect();
        instantiate_raw(inner, module, &raw)
    }

    /// The export `name`, if there is one.
    pub fn get_export(&self, mut store: impl AsContextMut, name: &str) -> Option<Extern> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Instance");
        let raw = opaque.export(self.index, name)?;
        Some(Extern::from_raw(self.store, raw))
    }

    /// The exported function `name`.
    pub fn get_func(&self, mut store: impl AsContextMut, name: &str) -> Option<Func> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Instance");
        func_from_export(self.store, opaque.export(self.index, name))
    }

    /// The exported function `name` with static types, checked now: an
    /// error if there is no such function or its type differs.
    pub fn get_typed_func<Params: WasmTyList, Results: WasmTyList>(
        &self,
        mut store: impl AsContextMut,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>> {
        let f = self
            .get_func(&mut store, name)
            .ok_or_else(|| Error::NotFound(format!("no exported function `{name}`")))?;
        f.typed(store.as_context_mut())
            .map_err(|e| Error::Type(format!("export `{name}`: {e}")))
    }

    /// The exported memory `name`.
    pub fn get_memory(&self, store: impl AsContextMut, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    /// The exported table `name`.
    pub fn get_table(&self, store: impl AsContextMut, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    /// The exported global `name`.
    pub fn get_global(&self, store: impl AsContextMut, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    /// Every export, in the module's order.
    pub fn exports(&self, mut store: impl AsContextMut) -> Vec<(String, Extern)> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Instance");
        let names: Vec<String> = opaque
            .instance(self.index)
            .module
            .info
            .exports
            .iter()
            .map(|e| e.name.clone())
            .collect();
        names
            .into_iter()
            .filter_map(|n| {
                let raw = opaque.export(self.index, &n)?;
                Some((n, Extern::from_raw(self.store, raw)))
            })
            .collect()
    }

    /// The module this is an instance of.
    pub fn module(&self, store: impl crate::AsContext) -> Module {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Instance");
        Module::from_compiled(ctx.0.opaque.instance(self.index).module.clone())
    }
}

/// Instantiates with imports already resolved to this store's indices,
/// runs the start function and a reactor's `_initialize`.
pub(crate) fn instantiate_raw<T>(
    inner: &mut StoreInner<T>,
    module: &Module,
    imports: &[wasabi_runtime::RawImport],
) -> Result<Instance> {
    let instance = create_raw(inner, module, imports)?;
    initialize(inner, instance, module)?;
    Ok(instance)
}

/// Creates the instance (segments applied) without running any of its
/// code: the first half of [`instantiate_raw`], for modules linked as a
/// group (`crate::link`), whose start functions run once all are linked.
pub(crate) fn create_raw<T>(
    inner: &mut StoreInner<T>,
    module: &Module,
    imports: &[wasabi_runtime::RawImport],
) -> Result<Instance> {
    let index = inner
        .opaque
        .instantiate(module.compiled(), imports)
        .map_err(|e| match e {
            wasabi_runtime::InstantiationError::Link(message) => Error::Link(LinkError {
                module: String::new(),
                field: String::new(),
                message,
            }),
            e => Error::from(e),
        })?;
    Ok(Instance {
        store: inner.opaque.id(),
        index,
    })
}

/// The second half of [`instantiate_raw`]: runs the start function and a
/// reactor's `_initialize`.
pub(crate) fn initialize<T>(
    inner: &mut StoreInner<T>,
    instance: Instance,
    module: &Module,
) -> Result<()> {
    let index = instance.index;
    let info = module.info();
    if let Some(start) = info.start {
        let fr = inner.opaque.instance(index).funcref(start) as usize;
        let f = inner.opaque.intern_funcref(fr);
        call_nullary(inner, f)?;
    }
    if info.export("_start").is_none() {
        if let Some(init) =
            func_from_export(instance.store, inner.opaque.export(index, "_initialize"))
        {
            if inner.opaque.func_type(init.index).params.is_empty()
                && inner.opaque.func_type(init.index).results.is_empty()
            {
                call_nullary(inner, init.index)?;
            }
        }
    }
    Ok(())
}

fn call_nullary<T>(inner: &mut StoreInner<T>, f: usize) -> Result<()> {
    let raw = inner.as_raw();
    let mut slot = [0u128; 1];
    // SAFETY: `raw` comes from the exclusive borrow of the whole typed store,
    // unused during the call; `f` is a `() -> ()` function of this store.
    unsafe { StoreOpaque::call_raw(raw, f, &mut slot) }.map_err(Error::Trap)
}
