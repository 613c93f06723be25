//! Memories, tables and globals, and [`Extern`], anything an instance can
//! import or export.
//!
//! What must stay true: every method checks the handle's store first, and
//! slices of linear memory are borrowed from the store, so they cannot
//! outlive it or overlap a call into wasm.

use crate::error::{Error, Result};
use crate::func::Func;
use crate::store::{check_store, AsContext, AsContextMut};
use crate::values::Val;
use wasabi_runtime::module::{GlobalType, MemoryType, TableType};
use wasabi_runtime::{RawExport, RawImport, StoreId, ValType};

/// Anything an instance can import or export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A linear memory.
    Memory(Memory),
    /// A table.
    Table(Table),
    /// A global.
    Global(Global),
}

impl Extern {
    pub(crate) fn from_raw(store: StoreId, raw: RawExport) -> Extern {
        match raw {
            RawExport::Func(index) => Extern::Func(Func { store, index }),
            RawExport::Memory(index) => Extern::Memory(Memory { store, index }),
            RawExport::Table(index) => Extern::Table(Table { store, index }),
            RawExport::Global(index) => Extern::Global(Global { store, index }),
        }
    }

    pub(crate) fn store_id(&self) -> StoreId {
        match self {
            Extern::Func(f) => f.store,
            Extern::Memory(m) => m.store,
            Extern::Table(t) => t.store,
            Extern::Global(g) => g.store,
        }
    }

    pub(crate) fn to_raw(self) -> RawImport {
        match self {
            Extern::Func(f) => RawImport::Func(f.index),
            Extern::Memory(m) => RawImport::Memory(m.index),
            Extern::Table(t) => RawImport::Table(t.index),
            Extern::Global(g) => RawImport::Global(g.index),
        }
    }

    /// "function", "memory", "table" or "global".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Extern::Func(_) => "function",
            Extern::Memory(_) => "memory",
            Extern::Table(_) => "table",
            Extern::Global(_) => "global",
        }
    }

    /// The function, if this is one.
    pub fn into_func(self) -> Option<Func> {
        match self {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }
    /// The memory, if this is one.
    pub fn into_memory(self) -> Option<Memory> {
        match self {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }
    /// The table, if this is one.
    pub fn into_table(self) -> Option<Table> {
        match self {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }
    /// The global, if this is one.
    pub fn into_global(self) -> Option<Global> {
        match self {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// Its type, in wat-like form.
    pub fn ty(&self, store: impl AsContext) -> crate::ExternType {
        use crate::ExternType as E;
        match self {
            Extern::Func(f) => E::Func(f.ty(store)),
            Extern::Memory(m) => E::Memory(m.ty(store)),
            Extern::Table(t) => E::Table(t.ty(store)),
            Extern::Global(g) => E::Global(g.ty(store)),
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}

/// A linear memory in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Memory {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Memory {
    /// A new memory owned by the store (to import into instances).
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        let index = opaque.new_memory(ty).map_err(Error::Resource)?;
        Ok(Memory {
            store: opaque.id(),
            index,
        })
    }

    /// Its type, with the current size as minimum.
    pub fn ty(&self, store: impl AsContext) -> MemoryType {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Memory");
        ctx.0.opaque.memory(self.index).ty()
    }

    /// The current size in pages.
    pub fn size(&self, store: impl AsContext) -> u64 {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Memory");
        ctx.0.opaque.memory(self.index).pages()
    }

    /// The current size in bytes.
    pub fn data_size(&self, store: impl AsContext) -> usize {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Memory");
        ctx.0.opaque.memory(self.index).byte_len()
    }

    /// The memory's bytes. The slice borrows the store, so it cannot be
    /// kept across a call into wasm or past the store's end:
    ///
    /// ```compile_fail
    /// use wasabi::{Engine, Instance, Module, Store};
    /// let engine = Engine::default();
    /// let module = Module::new(&engine, r#"(module (memory (export "m") 1))"#).unwrap();
    /// let mut store = Store::new(&engine, ());
    /// let instance = Instance::new(&mut store, &module, &[]).unwrap();
    /// let memory = instance.get_memory(&mut store, "m").unwrap();
    /// let bytes = memory.data(&store);
    /// drop(store); // error: `store` is still borrowed by `bytes`
    /// assert_eq!(bytes[0], 0);
    /// ```
    pub fn data<'a, T: 'a>(&self, store: impl Into<crate::StoreContext<'a, T>>) -> &'a [u8] {
        let ctx = store.into();
        let store: &'a crate::store::StoreInner<T> = ctx.0;
        check_store(self.store, &store.opaque, "Memory");
        let m = store.opaque.memory(self.index);
        // SAFETY: the memory is mapped for at least `byte_len` bytes from
        // `base` while the store lives; the slice borrows the store, so no
        // wasm can run and nothing can write or shrink the memory meanwhile
        // (memories never shrink; growth only adds bytes past the slice).
        unsafe { std::slice::from_raw_parts(m.base(), m.byte_len()) }
    }

    /// The memory's bytes, mutably.
    pub fn data_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::StoreContextMut<'a, T>>,
    ) -> &'a mut [u8] {
        self.data_and_store_mut(store).0
    }

    /// The memory's bytes and the store's data at once (what a host
    /// function working on guest memory with its own state needs).
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::StoreContextMut<'a, T>>,
    ) -> (&'a mut [u8], &'a mut T) {
        let ctx = store.into();
        let store: &'a mut crate::store::StoreInner<T> = ctx.0;
        check_store(self.store, &store.opaque, "Memory");
        let m = store.opaque.memory(self.index);
        // SAFETY: as in `data`, and the slice is unique: it borrows the
        // store exclusively, and the store's data `T` is a separate field.
        let bytes = unsafe { std::slice::from_raw_parts_mut(m.base(), m.byte_len()) };
        (bytes, &mut store.data)
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`; an error if the
    /// range is outside the memory.
    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let ctx = store.as_context();
        let data = self.data(&ctx);
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| Error::Resource(out_of_bounds(offset, buf.len(), data.len())))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `buf` into the memory at `offset`; an error if the range is
    /// outside the memory.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, buf: &[u8]) -> Result<()> {
        let mut ctx = store.as_context_mut();
        let data = self.data_mut(&mut ctx);
        let len = data.len();
        let dst = offset
            .checked_add(buf.len())
            .and_then(|end| data.get_mut(offset..end))
            .ok_or_else(|| Error::Resource(out_of_bounds(offset, buf.len(), len)))?;
        dst.copy_from_slice(buf);
        Ok(())
    }

    /// Grows the memory by `delta` pages; returns the old size in pages.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u64) -> Result<u64> {
        let ctx = store.as_context_mut();
        check_store(self.store, &ctx.0.opaque, "Memory");
        let limit = ctx
            .0
            .opaque
            .limits()
            .max_memory_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        let m = ctx.0.opaque.memory(self.index);
        m.grow(delta, limit).ok_or_else(|| {
            Error::Resource(format!(
                "cannot grow memory of {} pages by {delta} (maximum {} pages{})",
                m.pages(),
                m.maximum_pages(),
                if limit == usize::MAX {
                    String::new()
                } else {
                    format!(", store limit {limit} bytes")
                }
            ))
        })
    }
}

fn out_of_bounds(offset: usize, len: usize, size: usize) -> String {
    format!("memory access of {len} bytes at {offset:#x} is out of bounds (memory size {size:#x})")
}

/// A table of references in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Table {
    /// A new table owned by the store, every element `init`.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Val) -> Result<Table> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        if init.ty() != ty.element {
            return Err(Error::Type(format!(
                "table of {} initialised with a {}",
                ty.element,
                init.ty()
            )));
        }
        let raw = init.to_raw(opaque)? as usize;
        let index = opaque.new_table(ty, raw).map_err(Error::Resource)?;
        Ok(Table {
            store: opaque.id(),
            index,
        })
    }

    /// Its type, with the current size as minimum.
    pub fn ty(&self, store: impl AsContext) -> TableType {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Table");
        ctx.0.opaque.table(self.index).ty()
    }

    /// The current number of elements.
    pub fn size(&self, store: impl AsContext) -> u32 {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Table");
        ctx.0.opaque.table(self.index).len()
    }

    /// Element `i`, or `None` past the end.
    pub fn get(&self, mut store: impl AsContextMut, i: u32) -> Option<Val> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Table");
        let t = opaque.table(self.index);
        let (raw, ty) = (t.get(i)?, t.element_type());
        Some(Val::from_raw(opaque, raw as u128, ty))
    }

    /// Sets element `i`; an error past the end or for a value of another
    /// type.
    pub fn set(&self, mut store: impl AsContextMut, i: u32, v: Val) -> Result<()> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Table");
        let ty = opaque.table(self.index).element_type();
        if v.ty() != ty {
            return Err(Error::Type(format!(
                "cannot store a {} in a table of {ty}",
                v.ty()
            )));
        }
        let raw = v.to_raw(opaque)? as usize;
        let t = opaque.table_mut(self.index);
        let len = t.len();
        if !t.set(i, raw) {
            return Err(Error::Resource(format!(
                "table index {i} is out of bounds (size {len})"
            )));
        }
        Ok(())
    }

    /// Grows by `delta` elements set to `init`; returns the old size.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u32, init: Val) -> Result<u32> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Table");
        let ty = opaque.table(self.index).element_type();
        if init.ty() != ty {
            return Err(Error::Type(format!(
                "cannot store a {} in a table of {ty}",
                init.ty()
            )));
        }
        let raw = init.to_raw(opaque)? as usize;
        let limit = opaque
            .limits()
            .max_table_elements
            .load(std::sync::atomic::Ordering::Relaxed);
        let t = opaque.table_mut(self.index);
        let len = t.len();
        t.grow(delta, raw, limit).ok_or_else(|| {
            Error::Resource(format!("cannot grow table of {len} elements by {delta}"))
        })
    }
}

/// A global variable in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Global {
    pub(crate) store: StoreId,
    pub(crate) index: usize,
}

impl Global {
    /// A new global owned by the store.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, v: Val) -> Result<Global> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        if v.ty() != ty.content {
            return Err(Error::Type(format!(
                "global of {} initialised with a {}",
                ty.content,
                v.ty()
            )));
        }
        let raw = v.to_raw(opaque)?;
        Ok(Global {
            store: opaque.id(),
            index: opaque.new_global(ty, raw),
        })
    }

    /// Its type: value type and mutability.
    pub fn ty(&self, store: impl AsContext) -> GlobalType {
        let ctx = store.as_context();
        check_store(self.store, &ctx.0.opaque, "Global");
        ctx.0.opaque.global_type(self.index)
    }

    /// The current value.
    pub fn get(&self, mut store: impl AsContextMut) -> Val {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Global");
        let ty: ValType = opaque.global_type(self.index).content;
        let raw = opaque.global_raw(self.index);
        Val::from_raw(opaque, raw, ty)
    }

    /// Sets the value: an error if the global is immutable or `v` has
    /// another type.
    pub fn set(&self, mut store: impl AsContextMut, v: Val) -> Result<()> {
        let ctx = store.as_context_mut();
        let opaque = &mut ctx.0.opaque;
        check_store(self.store, opaque, "Global");
        let ty = opaque.global_type(self.index);
        if !ty.mutable {
            return Err(Error::Type("cannot set an immutable global".into()));
        }
        if v.ty() != ty.content {
            return Err(Error::Type(format!(
                "cannot set a global of {} to a {}",
                ty.content,
                v.ty()
            )));
        }
        let raw = v.to_raw(opaque)?;
        opaque.set_global_raw(self.index, raw);
        Ok(())
    }
}
