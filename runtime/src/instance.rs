//! Stores, instances and the things they export.
//!
//! A [`Store`] owns everything: instances, memories, tables, globals and
//! host-function contexts. Nothing it owns is freed before the store is
//! dropped, which is what lets compiled code hold raw pointers across
//! instances (an imported function's vmctx, a funcref in a shared table).
//! Handles ([`Func`], [`Memory`], [`Table`], [`Global`], [`InstanceHandle`])
//! are plain pointers into the store: valid while the store lives.
//!
//! What must stay true: an instance's vmctx is filled completely (every
//! memory, table, global and funcref slot) before any of its code runs, and
//! instantiation follows the spec's order: link checks, globals, tables,
//! element segments, data segments, start function.

use crate::code::CompiledModule;
use crate::memory::LinearMemory;
use crate::module::{
    ConstExpr, ConstOp, ExportKind, GlobalType, ImportKind, MemoryType, SegmentMode, TableType,
};
use crate::table::Table;
use crate::traps::{self, RawTrap};
use crate::types::{FuncType, SigId, Val, ValType};
use crate::vmcontext::*;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An error a host function returns; it becomes a trap of kind `HostError`.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// A trap, as the embedder sees it.
pub struct Trap {
    pub code: TrapCode,
    /// `module::function` where it happened, when known.
    pub function: Option<String>,
    /// The host function's error, for `HostError` traps.
    pub host_error: Option<HostError>,
}

impl Trap {
    pub fn new(code: TrapCode) -> Trap {
        Trap {
            code,
            function: None,
            host_error: None,
        }
    }
    pub fn host(e: HostError) -> Trap {
        Trap {
            code: TrapCode::HostError,
            function: None,
            host_error: Some(e),
        }
    }
    /// The spec-style message (without location).
    pub fn message(&self) -> String {
        match &self.host_error {
            Some(e) => e.to_string(),
            None => self.code.message().to_string(),
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host_error, &self.function) {
            (Some(e), _) => write!(f, "{e}"),
            (None, Some(func)) => write!(
                f,
                "wasm trap: {}, in function {}",
                self.code.message(),
                func
            ),
            (None, None) => write!(f, "wasm trap: {}", self.code.message()),
        }
    }
}

impl fmt::Debug for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Trap {}

/// Why instantiation failed.
#[derive(Debug)]
pub enum InstantiationError {
    /// An import is missing or has the wrong type.
    Link(String),
    /// A segment initialiser or the start function trapped.
    Trap(Trap),
    /// Memory or a table could not be allocated.
    Resource(String),
}

impl fmt::Display for InstantiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstantiationError::Link(m) => write!(f, "link error: {m}"),
            InstantiationError::Trap(t) => write!(f, "{t}"),
            InstantiationError::Resource(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for InstantiationError {}

/// What a host function sees of its caller.
pub struct Caller<'a> {
    instance: Option<&'a Instance>,
}

impl<'a> Caller<'a> {
    /// The instance that imported the host function, if any.
    pub fn instance(&self) -> Option<&'a Instance> {
        self.instance
    }
    /// The caller's exported memory `name` (WASI uses "memory").
    pub fn exported_memory(&self, name: &str) -> Option<Memory> {
        match self.instance?.get_export(name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }
}

pub type HostFn =
    dyn Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync;

/// A function implemented by the host.
pub struct HostFunc {
    pub ty: FuncType,
    pub f: Box<HostFn>,
}

/// A function: compiled wasm (a pointer to its `VMFuncRef`) or host code not
/// yet bound into an instance.
#[derive(Clone)]
pub enum Func {
    Wasm {
        funcref: *const VMFuncRef,
        ty: FuncType,
    },
    Host(Arc<HostFunc>),
}

impl Func {
    pub fn host(
        ty: FuncType,
        f: impl Fn(&mut Caller<'_>, &[Val], &mut [Val]) -> Result<(), HostError> + Send + Sync + 'static,
    ) -> Func {
        Func::Host(Arc::new(HostFunc { ty, f: Box::new(f) }))
    }
    pub fn ty(&self) -> &FuncType {
        match self {
            Func::Wasm { ty, .. } => ty,
            Func::Host(h) => &h.ty,
        }
    }
}

/// A memory owned by a store.
#[derive(Clone, Copy)]
pub struct Memory(*const LinearMemory);

impl Memory {
    /// # Safety: the store that owns it must be alive.
    pub fn get(&self) -> &LinearMemory {
        unsafe { &*self.0 }
    }
}

/// A table owned by a store.
#[derive(Clone, Copy)]
pub struct TableHandle(*mut Table);

impl TableHandle {
    #[allow(clippy::mut_from_ref)]
    pub fn get(&self) -> &mut Table {
        unsafe { &mut *self.0 }
    }
}

/// A global owned by a store or an instance.
#[derive(Clone, Copy)]
pub struct Global {
    ptr: *mut VMGlobal,
    pub ty: GlobalType,
}

impl Global {
    pub fn get(&self) -> Val {
        Val::from_raw(unsafe { (*self.ptr).raw }, self.ty.content)
    }
    pub fn set(&self, v: Val) {
        unsafe { (*self.ptr).raw = v.to_raw() }
    }
}

/// Anything an instance can import or export.
#[derive(Clone)]
pub enum Extern {
    Func(Func),
    Memory(Memory),
    Table(TableHandle),
    Global(Global),
}

impl Extern {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Extern::Func(_) => "function",
            Extern::Memory(_) => "memory",
            Extern::Table(_) => "table",
            Extern::Global(_) => "global",
        }
    }
}

/// The context of one host function bound into one instance. `vm` must be
/// first: compiled code sees a pointer to it as the callee vmctx.
#[repr(C)]
struct HostCtx {
    vm: VMHostContext,
    func: Arc<HostFunc>,
    caller: *const Instance,
}

/// An instance of a compiled module.
pub struct Instance {
    pub module: Arc<CompiledModule>,
    offsets: VMOffsets,
    vmctx: *mut u8,
    memories: Vec<*const LinearMemory>,
    tables: Vec<*mut Table>,
    globals: Vec<*mut VMGlobal>,
    /// Evaluated items of each element segment; emptied by `elem.drop`.
    pub(crate) elements: Vec<Vec<usize>>,
    /// Whether each data segment has been dropped.
    pub(crate) data_dropped: Vec<bool>,
    /// Boxed: compiled code holds pointers to these, which must not move
    /// when the vector grows.
    #[allow(clippy::vec_box)]
    host_ctxs: Vec<Box<HostCtx>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.module.detach_instance(self.vmctx);
        unsafe {
            std::alloc::dealloc(self.vmctx, vmctx_layout(&self.offsets));
        }
    }
}

fn vmctx_layout(o: &VMOffsets) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(o.size().max(16) as usize, 16).unwrap()
}

/// A handle to an instance in a store.
#[derive(Clone, Copy)]
pub struct InstanceHandle(*const Instance);

impl std::ops::Deref for InstanceHandle {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        unsafe { &*self.0 }
    }
}

impl Instance {
    pub fn vmctx(&self) -> *mut u8 {
        self.vmctx
    }

    pub fn offsets(&self) -> &VMOffsets {
        &self.offsets
    }

    /// The instance a vmctx belongs to.
    ///
    /// # Safety
    /// `vmctx` must be an instance's vmctx.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a Instance {
        &*Self::ptr_from_vmctx(vmctx)
    }

    /// Like [`Instance::from_vmctx`], as a raw pointer.
    ///
    /// # Safety
    /// `vmctx` must be an instance's vmctx.
    pub unsafe fn ptr_from_vmctx(vmctx: *mut u8) -> *mut Instance {
        *(vmctx.add(VMCTX_OFFSET_INSTANCE as usize) as *const *mut Instance)
    }

    pub fn memory(&self, i: u32) -> &LinearMemory {
        unsafe { &*self.memories[i as usize] }
    }

    #[allow(clippy::mut_from_ref)]
    pub fn table(&self, i: u32) -> &mut Table {
        let p: *mut Table = self.tables[i as usize];
        unsafe { &mut *p }
    }

    pub fn funcref(&self, f: u32) -> *const VMFuncRef {
        unsafe { self.vmctx.add(self.offsets.funcref(f) as usize) as *const VMFuncRef }
    }

    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let e = self.module.info.export(name)?;
        Some(match e.kind {
            ExportKind::Func => Extern::Func(Func::Wasm {
                funcref: self.funcref(e.index),
                ty: self.module.info.func_type(e.index).clone(),
            }),
            ExportKind::Memory => Extern::Memory(Memory(self.memories[e.index as usize])),
            ExportKind::Table => Extern::Table(TableHandle(self.tables[e.index as usize])),
            ExportKind::Global => Extern::Global(Global {
                ptr: self.globals[e.index as usize],
                ty: self.module.info.globals[e.index as usize],
            }),
        })
    }

    pub fn get_func(&self, name: &str) -> Option<Func> {
        match self.get_export(name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    fn eval_const(&self, e: &ConstExpr) -> Val {
        let mut stack: Vec<Val> = Vec::with_capacity(2);
        for op in &e.0 {
            let v = match *op {
                ConstOp::I32(v) => Val::I32(v),
                ConstOp::I64(v) => Val::I64(v),
                ConstOp::F32(v) => Val::F32(v),
                ConstOp::F64(v) => Val::F64(v),
                ConstOp::V128(v) => Val::V128(v),
                ConstOp::RefNull(ValType::ExternRef) => Val::ExternRef(None),
                ConstOp::RefNull(_) => Val::FuncRef(0),
                ConstOp::RefFunc(f) => Val::FuncRef(self.funcref(f) as usize),
                ConstOp::GlobalGet(g) => Global {
                    ptr: self.globals[g as usize],
                    ty: self.module.info.globals[g as usize],
                }
                .get(),
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let (Some(Val::I32(b)), Some(Val::I32(a))) = (stack.pop(), stack.pop()) else {
                        unreachable!()
                    };
                    Val::I32(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let (Some(Val::I64(b)), Some(Val::I64(a))) = (stack.pop(), stack.pop()) else {
                        unreachable!()
                    };
                    Val::I64(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            stack.push(v);
        }
        stack.pop().expect("validated constant expression")
    }
}

/// Tunables of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Bytes of native stack wasm may use before `call stack exhausted`.
    pub max_wasm_stack: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_wasm_stack: 4 << 20,
        }
    }
}

/// Owner of instances and everything they share.
///
/// Everything is boxed: compiled code and handles hold raw pointers into
/// these values, which must not move when the vectors grow.
#[allow(clippy::vec_box)]
pub struct Store {
    limits: Box<VMRuntimeLimits>,
    config: StoreConfig,
    instances: Vec<Box<Instance>>,
    memories: Vec<Box<LinearMemory>>,
    tables: Vec<Box<Table>>,
    globals: Vec<Box<VMGlobal>>,
    entry_trampolines: HashMap<u32, usize>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreConfig::default())
    }
}

fn limits_match(actual_min: u64, actual_max: Option<u64>, min: u64, max: Option<u64>) -> bool {
    actual_min >= min
        && match max {
            None => true,
            Some(m) => matches!(actual_max, Some(a) if a <= m),
        }
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        Store {
            limits: Box::default(),
            config,
            instances: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            entry_trampolines: HashMap::new(),
        }
    }

    /// Creates a host-owned memory (e.g. to import).
    pub fn new_memory(&mut self, ty: MemoryType) -> Result<Memory, String> {
        let m = Box::new(LinearMemory::new(ty).map_err(|e| e.0)?);
        let h = Memory(&*m);
        self.memories.push(m);
        Ok(h)
    }

    pub fn new_table(&mut self, ty: TableType, init: Val) -> Result<TableHandle, String> {
        let mut t = Box::new(Table::new(ty, init.to_raw() as usize).ok_or("table too large")?);
        let h = TableHandle(&mut *t);
        self.tables.push(t);
        Ok(h)
    }

    pub fn new_global(&mut self, ty: GlobalType, v: Val) -> Global {
        let mut g = Box::new(VMGlobal { raw: v.to_raw() });
        let h = Global { ptr: &mut *g, ty };
        self.globals.push(g);
        h
    }

    /// Instantiates `module` with `imports` given in the module's import order.
    pub fn instantiate(
        &mut self,
        module: &Arc<CompiledModule>,
        imports: &[Extern],
    ) -> Result<InstanceHandle, InstantiationError> {
        let info = &module.info;
        if imports.len() != info.imports.len() {
            return Err(InstantiationError::Link(format!(
                "expected {} imports, got {}",
                info.imports.len(),
                imports.len()
            )));
        }
        // Link checks first: nothing is created for a module that cannot link.
        for (imp, ext) in info.imports.iter().zip(imports) {
            let bad = |expected: String| {
                InstantiationError::Link(format!(
                    "incompatible import type for `{}::{}`: expected {expected}, got {}",
                    imp.module,
                    imp.name,
                    ext.kind_name()
                ))
            };
            match (&imp.kind, ext) {
                (ImportKind::Func(t), Extern::Func(f)) => {
                    let want = &info.types[*t as usize];
                    if f.ty() != want {
                        return Err(bad(format!("{want}, found {}", f.ty())));
                    }
                }
                (ImportKind::Memory(t), Extern::Memory(m)) => {
                    let m = m.get();
                    if !limits_match(m.pages(), m.declared_type().maximum, t.minimum, t.maximum) {
                        return Err(bad(format!(
                            "memory with limits {}..{:?}",
                            t.minimum, t.maximum
                        )));
                    }
                }
                (ImportKind::Table(t), Extern::Table(tab)) => {
                    let tab = tab.get();
                    let tt = tab.ty();
                    if tt.element != t.element
                        || !limits_match(tt.minimum, tt.maximum, t.minimum, t.maximum)
                    {
                        return Err(bad(format!(
                            "table of {} with limits {}..{:?}",
                            t.element, t.minimum, t.maximum
                        )));
                    }
                }
                (ImportKind::Global(t), Extern::Global(g)) => {
                    if g.ty != *t {
                        return Err(bad(format!(
                            "global of {} (mutable: {})",
                            t.content, t.mutable
                        )));
                    }
                }
                (ImportKind::Func(t), _) => {
                    return Err(bad(format!("function {}", info.types[*t as usize])))
                }
                (ImportKind::Memory(_), _) => return Err(bad("memory".into())),
                (ImportKind::Table(_), _) => return Err(bad("table".into())),
                (ImportKind::Global(_), _) => return Err(bad("global".into())),
            }
        }

        let offsets = VMOffsets::new(info);
        let vmctx = unsafe { std::alloc::alloc_zeroed(vmctx_layout(&offsets)) };
        let mut inst = Box::new(Instance {
            module: module.clone(),
            offsets: offsets.clone(),
            vmctx,
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            elements: Vec::new(),
            data_dropped: vec![false; info.data.len()],
            host_ctxs: Vec::new(),
        });
        let inst_ptr: *mut Instance = &mut *inst;
        let w = |off: u32, v: usize| unsafe { (vmctx.add(off as usize) as *mut usize).write(v) };
        unsafe { (vmctx as *mut u64).write(VMCTX_MAGIC) };
        w(
            VMCTX_OFFSET_BUILTINS,
            &crate::builtins::BUILTINS as *const _ as usize,
        );
        w(VMCTX_OFFSET_LIMITS, &*self.limits as *const _ as usize);
        w(VMCTX_OFFSET_INSTANCE, inst_ptr as usize);
        for (t, ty) in info.types.iter().enumerate() {
            let id = SigId::intern(ty).0;
            unsafe { (vmctx.add(offsets.type_id(t as u32) as usize) as *mut u32).write(id) };
            self.entry_trampolines
                .entry(id)
                .or_insert(module.entry_trampoline(t as u32));
        }

        // Imports.
        let mut func_index = 0u32;
        for (imp, ext) in info.imports.iter().zip(imports) {
            match ext {
                Extern::Func(f) => {
                    let slot = inst.funcref(func_index) as *mut VMFuncRef;
                    let ImportKind::Func(t) = imp.kind else {
                        unreachable!()
                    };
                    let type_id = SigId::intern(&info.types[t as usize]).0;
                    match f {
                        Func::Wasm { funcref, .. } => unsafe {
                            let src = &**funcref;
                            slot.write(VMFuncRef {
                                code: src.code.load(Ordering::Acquire).into(),
                                vmctx: src.vmctx,
                                type_id,
                                _pad: 0,
                            });
                        },
                        Func::Host(h) => {
                            let mut ctx = Box::new(HostCtx {
                                vm: VMHostContext {
                                    magic: HOSTCTX_MAGIC,
                                    dispatch: host_dispatch,
                                    raise: host_raise,
                                    data: std::ptr::null_mut(),
                                },
                                func: h.clone(),
                                caller: inst_ptr,
                            });
                            unsafe {
                                slot.write(VMFuncRef {
                                    code: (module.host_trampoline(t) as *mut u8).into(),
                                    vmctx: &mut ctx.vm as *mut VMHostContext as *mut u8,
                                    type_id,
                                    _pad: 0,
                                });
                            }
                            inst.host_ctxs.push(ctx);
                        }
                    }
                    func_index += 1;
                }
                Extern::Memory(m) => inst.memories.push(m.0),
                Extern::Table(t) => inst.tables.push(t.0),
                Extern::Global(g) => inst.globals.push(g.ptr),
            }
        }
        // Defined functions.
        // (In lazy mode: a thunk until compiled; from here on, compilations
        // are published into this instance.)
        module.attach_instance(vmctx, |k, code| {
            let f = info.num_imported_funcs + k as u32;
            let type_id = SigId::intern(info.func_type(f)).0;
            unsafe {
                (inst.funcref(f) as *mut VMFuncRef).write(VMFuncRef {
                    code: (code as *mut u8).into(),
                    vmctx,
                    type_id,
                    _pad: 0,
                });
            }
        });
        // Defined memories.
        for ty in &info.memories[info.num_imported_memories as usize..] {
            let m =
                Box::new(LinearMemory::new(*ty).map_err(|e| InstantiationError::Resource(e.0))?);
            inst.memories.push(&*m);
            self.memories.push(m);
        }
        for (i, &m) in inst.memories.iter().enumerate() {
            let m = unsafe { &*m };
            w(offsets.memory_base(i as u32), m.base() as usize);
            w(offsets.memory_definition(i as u32), m.definition() as usize);
        }
        // Defined globals (their initialisers may read imported globals and
        // take function references).
        for (k, init) in info.global_inits.iter().enumerate() {
            let g = info.num_imported_globals as usize + k;
            let (off, _) = offsets.global(g as u32);
            let ptr = unsafe { vmctx.add(off as usize) as *mut VMGlobal };
            inst.globals.push(ptr);
            let v = inst.eval_const(init);
            unsafe { (*ptr).raw = v.to_raw() };
        }
        for i in 0..info.num_imported_globals {
            let (off, _) = offsets.global(i);
            w(off, inst.globals[i as usize] as usize);
        }
        // Defined tables.
        for (k, ty) in info.tables[info.num_imported_tables as usize..]
            .iter()
            .enumerate()
        {
            let init = match &info.table_inits[k] {
                Some(e) => inst.eval_const(e).to_raw() as usize,
                None => 0,
            };
            let mut t = Box::new(
                Table::new(*ty, init)
                    .ok_or_else(|| InstantiationError::Resource("table too large".into()))?,
            );
            inst.tables.push(&mut *t);
            self.tables.push(t);
        }
        for (i, &t) in inst.tables.iter().enumerate() {
            w(
                offsets.table_definition(i as u32),
                unsafe { (*t).definition() } as usize,
            );
        }
        // Element segments: evaluate all items once.
        let elements: Vec<Vec<usize>> = info
            .elements
            .iter()
            .map(|seg| {
                seg.items
                    .iter()
                    .map(|e| inst.eval_const(e).to_raw() as usize)
                    .collect()
            })
            .collect();
        inst.elements = elements;

        // From here on the instance is complete; keep it in the store even if
        // a segment traps, since shared tables may already point into it.
        let handle = InstanceHandle(inst_ptr);
        self.instances.push(inst);
        let inst = unsafe { &mut *inst_ptr };

        for (i, seg) in info.elements.iter().enumerate() {
            match &seg.mode {
                SegmentMode::Active { index, offset } => {
                    let Val::I32(off) = inst.eval_const(offset) else {
                        unreachable!()
                    };
                    let items = std::mem::take(&mut inst.elements[i]);
                    let table = inst.table(*index);
                    let off = off as u32 as usize;
                    if off
                        .checked_add(items.len())
                        .is_none_or(|end| end > table.len() as usize)
                    {
                        return Err(InstantiationError::Trap(Trap::new(
                            TrapCode::TableOutOfBounds,
                        )));
                    }
                    table.elements_mut()[off..off + items.len()].copy_from_slice(&items);
                }
                SegmentMode::Declared => inst.elements[i].clear(),
                SegmentMode::Passive => {}
            }
        }
        for (i, seg) in info.data.iter().enumerate() {
            if let SegmentMode::Active { index, offset } = &seg.mode {
                let Val::I32(off) = inst.eval_const(offset) else {
                    unreachable!()
                };
                let mem = inst.memory(*index);
                let off = off as u32 as usize;
                if off
                    .checked_add(seg.bytes.len())
                    .is_none_or(|end| end > mem.byte_len())
                {
                    return Err(InstantiationError::Trap(Trap::new(
                        TrapCode::MemoryOutOfBounds,
                    )));
                }
                unsafe { mem.data_mut()[off..off + seg.bytes.len()].copy_from_slice(&seg.bytes) };
                inst.data_dropped[i] = true;
            }
        }
        if let Some(start) = info.start {
            let f = Func::Wasm {
                funcref: inst.funcref(start),
                ty: info.func_type(start).clone(),
            };
            self.call(&f, &[]).map_err(InstantiationError::Trap)?;
        }
        Ok(handle)
    }

    /// Calls `func` with `args`; returns its results or the trap.
    pub fn call(&mut self, func: &Func, args: &[Val]) -> Result<Vec<Val>, Trap> {
        let ty = func.ty().clone();
        if args.len() != ty.params.len() || args.iter().zip(&ty.params).any(|(a, t)| a.ty() != *t) {
            return Err(Trap::host(
                format!(
                    "argument mismatch: function expects {ty}, given {} arguments",
                    args.len()
                )
                .into(),
            ));
        }
        match func {
            Func::Host(h) => {
                let mut results: Vec<Val> =
                    ty.results.iter().map(|t| Val::default_for(*t)).collect();
                let mut caller = Caller { instance: None };
                (h.f)(&mut caller, args, &mut results).map_err(Trap::host)?;
                Ok(results)
            }
            Func::Wasm { funcref, .. } => {
                let fr = unsafe { &**funcref };
                let tramp = *self.entry_trampolines.get(&fr.type_id).ok_or_else(|| {
                    Trap::host(format!("no entry trampoline for signature {ty}").into())
                })?;
                let mut buf: Vec<u128> = vec![0; ty.params.len().max(ty.results.len()).max(1)];
                for (slot, a) in buf.iter_mut().zip(args) {
                    *slot = a.to_raw();
                }
                let entry: unsafe extern "C" fn(*mut u8, *mut u8, *mut u128) =
                    unsafe { std::mem::transmute(tramp) };
                let code = fr.code.load(Ordering::Acquire);
                let vmctx = fr.vmctx;
                let outermost = !traps::in_wasm_call();
                if outermost {
                    let limit = traps::compute_stack_limit(self.config.max_wasm_stack);
                    self.limits.stack_limit.store(limit, Ordering::Relaxed);
                }
                let bufp = buf.as_mut_ptr();
                let r = traps::catch_traps(|| unsafe { entry(vmctx, code, bufp) });
                match r {
                    Ok(()) => Ok(ty
                        .results
                        .iter()
                        .zip(&buf)
                        .map(|(t, raw)| Val::from_raw(*raw, *t))
                        .collect()),
                    Err(raw) => Err(self.describe_trap(raw)),
                }
            }
        }
    }

    /// Turns a raw trap into a [`Trap`] naming the function it happened in.
    fn describe_trap(&self, raw: RawTrap) -> Trap {
        let mut trap = Trap::new(raw.code);
        if raw.code == TrapCode::HostError {
            trap.host_error = take_host_error();
        }
        let name = |inst: &Instance, f: u32| {
            format!(
                "{}::{}",
                inst.module.name,
                inst.module.info.func_display_name(f)
            )
        };
        if let Some(f) = raw.func_index {
            if raw.vmctx != 0 {
                let inst = unsafe { Instance::from_vmctx(raw.vmctx as *mut u8) };
                trap.function = Some(name(inst, f));
            }
        } else if let Some(pc) = raw.pc {
            for inst in &self.instances {
                if let Some(f) = inst.module.func_at_pc(pc) {
                    trap.function = Some(name(inst, f));
                    break;
                }
            }
        }
        trap
    }
}

// ---- host function calls -------------------------------------------------

thread_local! {
    static HOST_ERROR: std::cell::RefCell<Option<HostError>> = const { std::cell::RefCell::new(None) };
}

/// Records the error of a `HostError` trap about to be raised on this thread.
pub(crate) fn set_host_error(e: HostError) {
    HOST_ERROR.with(|h| *h.borrow_mut() = Some(e));
}

fn take_host_error() -> Option<HostError> {
    HOST_ERROR.with(|e| e.borrow_mut().take())
}

/// Called by host trampolines with the arguments spilled into `buf`; writes
/// results back into `buf`. Returns 0, or 1 with a host error pending.
unsafe extern "C" fn host_dispatch(
    ctx: *mut VMHostContext,
    buf: *mut u128,
    exit_fp: *mut u8,
) -> u32 {
    let _host = traps::enter_host(exit_fp);
    let ctx = &*(ctx as *const HostCtx);
    let ty = &ctx.func.ty;
    let args: Vec<Val> = ty
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| Val::from_raw(*buf.add(i), *t))
        .collect();
    let mut results: Vec<Val> = ty.results.iter().map(|t| Val::default_for(*t)).collect();
    let mut caller = Caller {
        instance: ctx.caller.as_ref(),
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (ctx.func.f)(&mut caller, &args, &mut results)
    }));
    let err: HostError = match r {
        Ok(Ok(())) => {
            for (i, (v, t)) in results.iter().zip(&ty.results).enumerate() {
                if v.ty() != *t {
                    HOST_ERROR.with(|e| {
                        *e.borrow_mut() = Some(
                            format!("host function returned {} where {t} was expected", v.ty())
                                .into(),
                        )
                    });
                    return 1;
                }
                *buf.add(i) = v.to_raw();
            }
            return 0;
        }
        Ok(Err(e)) => e,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("host function panicked: {msg}").into()
        }
    };
    HOST_ERROR.with(|e| *e.borrow_mut() = Some(err));
    1
}

unsafe extern "C" fn host_raise(exit_fp: *mut u8) -> ! {
    traps::raise(RawTrap::new(TrapCode::HostError), exit_fp)
}
