//! Instances: one compiled module's vmctx and what it points at.
//!
//! An [`Instance`] is created by [`crate::store::StoreOpaque::instantiate`]
//! and lives, boxed, in that store until the store is dropped. Compiled code
//! reaches it through `vmctx.instance` (builtins need its segments and its
//! memories and tables).
//!
//! What must stay true: an instance's vmctx is filled completely (every
//! memory, table, global and funcref slot) before any of its code runs, and
//! everything the vmctx points at is owned by the same store, so it lives as
//! long as the instance does; a slot registered with another module for
//! lazy publication (`import_links`) is detached before it is freed.

use crate::code::CompiledModule;
use crate::memory::LinearMemory;
use crate::module::{ConstExpr, ConstOp};
use crate::table::Table;
use crate::types::{Val, ValType};
use crate::vmcontext::*;
use std::sync::Arc;

/// Kept here for `lazy`, which reports compile failures as host errors.
pub(crate) use crate::store::set_host_error;

/// An instance of a compiled module.
pub struct Instance {
    pub module: Arc<CompiledModule>,
    pub(crate) offsets: VMOffsets,
    pub(crate) vmctx: *mut u8,
    /// Every memory by memory index (imports first): pointers into boxes
    /// owned by the store, and the memory's index in the store.
    pub(crate) memories: Vec<(*const LinearMemory, usize)>,
    /// Every table by table index, likewise.
    pub(crate) tables: Vec<(*mut Table, usize)>,
    /// Every global by global index: its storage and its index in the store.
    pub(crate) globals: Vec<(*mut VMGlobal, usize)>,
    /// Evaluated items of each element segment; emptied by `elem.drop`.
    pub(crate) elements: Vec<Vec<usize>>,
    /// Whether each data segment has been dropped.
    pub(crate) data_dropped: Vec<bool>,
    /// Index of this instance in its store.
    pub(crate) index: usize,
    /// Funcref slots of this vmctx registered with the lazily compiled
    /// module whose thunk they held (`CompiledModule::attach_import`): that
    /// module publishes compiled code into them, so they are detached
    /// before the vmctx is freed or the slot repointed.
    pub(crate) import_links: Vec<(Arc<CompiledModule>, usize)>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        for (module, slot) in self.import_links.drain(..) {
            module.detach_import(slot);
        }
        self.module.detach_instance(self.vmctx);
        // SAFETY: `vmctx` was allocated in `Instance::allocate` with exactly
        // this layout, and nothing uses it after the instance is dropped (the
        // store drops instances last, after no wasm can run).
        unsafe { std::alloc::dealloc(self.vmctx, vmctx_layout(&self.offsets)) };
    }
}

fn vmctx_layout(o: &VMOffsets) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(o.size().max(16) as usize, 16)
        .expect("vmctx size fits a Layout")
}

impl Instance {
    /// A new instance with a zeroed vmctx whose fixed header is filled.
    pub(crate) fn allocate(
        module: &Arc<CompiledModule>,
        limits: *const VMRuntimeLimits,
        index: usize,
    ) -> Box<Instance> {
        let offsets = VMOffsets::new(&module.info);
        let layout = vmctx_layout(&offsets);
        // SAFETY: the layout has a non-zero size (at least 16 bytes).
        let vmctx = unsafe { std::alloc::alloc_zeroed(layout) };
        if vmctx.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let mut inst = Box::new(Instance {
            module: module.clone(),
            offsets,
            vmctx,
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            elements: Vec::new(),
            data_dropped: vec![false; module.info.data.len()],
            index,
            import_links: Vec::new(),
        });
        let back: *mut Instance = &mut *inst;
        // SAFETY: the header fields lie inside the fresh allocation, which is
        // 16-byte aligned; the stored pointers stay valid while the instance
        // lives (the builtins table is static, the limits and the boxed
        // instance are owned by the store).
        unsafe {
            (vmctx as *mut u64).write(VMCTX_MAGIC);
            inst.write_word(
                VMCTX_OFFSET_BUILTINS,
                &crate::builtins::BUILTINS as *const _ as usize,
            );
            inst.write_word(VMCTX_OFFSET_LIMITS, limits as usize);
            inst.write_word(VMCTX_OFFSET_INSTANCE, back as usize);
        }
        inst
    }

    /// Writes a pointer-sized word at `offset` in the vmctx.
    ///
    /// # Safety
    /// `offset` must be the offset of a pointer-sized, aligned field of
    /// this instance's vmctx (one of `VMOffsets`' or the header's).
    pub(crate) unsafe fn write_word(&self, offset: u32, v: usize) {
        (self.vmctx.add(offset as usize) as *mut usize).write(v)
    }

    pub fn vmctx(&self) -> *mut u8 {
        self.vmctx
    }

    pub fn offsets(&self) -> &VMOffsets {
        &self.offsets
    }

    /// Index of this instance in its store.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The instance a vmctx belongs to.
    ///
    /// # Safety
    /// `vmctx` must be a live instance's vmctx.
    pub unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a Instance {
        &*Self::ptr_from_vmctx(vmctx)
    }

    /// Like [`Instance::from_vmctx`], as a raw pointer.
    ///
    /// # Safety
    /// `vmctx` must be a live instance's vmctx.
    pub unsafe fn ptr_from_vmctx(vmctx: *mut u8) -> *mut Instance {
        *(vmctx.add(VMCTX_OFFSET_INSTANCE as usize) as *const *mut Instance)
    }

    /// The limits of the store this instance belongs to.
    pub fn limits(&self) -> &VMRuntimeLimits {
        // SAFETY: `allocate` wrote the store's limits pointer into the
        // header; the store owns the limits and outlives its instances.
        unsafe {
            &*(*(self.vmctx.add(VMCTX_OFFSET_LIMITS as usize) as *const *const VMRuntimeLimits))
        }
    }

    /// Memory `i` (by memory index).
    pub fn memory(&self, i: u32) -> &LinearMemory {
        // SAFETY: the pointer is to a boxed memory owned by the same store as
        // this instance, so it outlives `&self`.
        unsafe { &*self.memories[i as usize].0 }
    }

    /// Table `i` (by table index), mutably.
    ///
    /// # Safety
    /// The caller must hold no other reference to the same table (tables
    /// may be shared between instances of one store): builtins, called
    /// from wasm while the store is otherwise unused, are the only users.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn table(&self, i: u32) -> &mut Table {
        let p: *mut Table = self.tables[i as usize].0;
        &mut *p
    }

    /// The `VMFuncRef` of function index `f` in this instance's vmctx.
    pub fn funcref(&self, f: u32) -> *const VMFuncRef {
        // SAFETY: `offsets.funcref(f)` lies inside the vmctx for every
        // function index of the module (callers pass validated indices).
        unsafe { self.vmctx.add(self.offsets.funcref(f) as usize) as *const VMFuncRef }
    }

    /// The value of global `g`.
    pub(crate) fn global_value(&self, g: u32) -> Val {
        let ty = self.module.info.globals[g as usize].content;
        // SAFETY: the pointer is to a global owned by this store (inline in
        // a vmctx or boxed by the store).
        Val::from_raw(unsafe { (*self.globals[g as usize].0).raw }, ty)
    }

    /// Evaluates a constant expression in this instance (its globals and
    /// functions must already be set up as far as the expression uses them,
    /// which validation guarantees for the spec's instantiation order).
    pub(crate) fn eval_const(&self, e: &ConstExpr) -> Val {
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
                ConstOp::GlobalGet(g) => self.global_value(g),
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let (Some(Val::I32(b)), Some(Val::I32(a))) = (stack.pop(), stack.pop()) else {
                        unreachable!("validated constant expression")
                    };
                    Val::I32(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let (Some(Val::I64(b)), Some(Val::I64(a))) = (stack.pop(), stack.pop()) else {
                        unreachable!("validated constant expression")
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
