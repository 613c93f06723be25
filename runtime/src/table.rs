//! Tables: growable arrays of pointer-sized references.
//!
//! What must stay true: the [`VMTableDefinition`] always describes the
//! current element storage; compiled code reads base and length from it on
//! every access, so growth may move the storage.

use crate::module::TableType;
use crate::types::ValType;
use crate::vmcontext::VMTableDefinition;

/// The largest table wasabi will allocate, in elements.
pub const MAX_TABLE_ELEMENTS: u64 = 10_000_000;

pub struct Table {
    elements: Vec<usize>,
    definition: Box<VMTableDefinition>,
    ty: TableType,
}

// SAFETY: the only raw pointer is the definition's `base`, which points into
// `elements`, owned by this table; the definition is kept in step with it.
unsafe impl Send for Table {}
// SAFETY: as for `Send`; mutation needs `&mut Table`.
unsafe impl Sync for Table {}

impl Table {
    pub fn new(ty: TableType, init: usize) -> Option<Table> {
        if ty.minimum > MAX_TABLE_ELEMENTS {
            return None;
        }
        let mut t = Table {
            elements: vec![init; ty.minimum as usize],
            definition: Box::new(VMTableDefinition {
                base: std::ptr::null_mut(),
                length: 0,
                _pad: 0,
            }),
            ty,
        };
        t.sync();
        Some(t)
    }

    fn sync(&mut self) {
        self.definition.base = self.elements.as_mut_ptr();
        self.definition.length = self.elements.len() as u32;
    }

    pub fn element_type(&self) -> ValType {
        self.ty.element
    }

    /// Current type (minimum = current size).
    pub fn ty(&self) -> TableType {
        TableType {
            minimum: self.elements.len() as u64,
            ..self.ty
        }
    }

    pub fn definition(&self) -> *mut VMTableDefinition {
        &*self.definition as *const _ as *mut _
    }

    pub fn len(&self) -> u32 {
        self.elements.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    pub fn get(&self, i: u32) -> Option<usize> {
        self.elements.get(i as usize).copied()
    }

    pub fn set(&mut self, i: u32, v: usize) -> bool {
        match self.elements.get_mut(i as usize) {
            Some(slot) => {
                *slot = v;
                true
            }
            None => false,
        }
    }

    pub fn elements_mut(&mut self) -> &mut [usize] {
        &mut self.elements
    }

    /// Grows by `delta`; returns the old size or `None` when the maximum
    /// (declared, or `limit` set by the embedder) would be exceeded.
    pub fn grow(&mut self, delta: u32, init: usize, limit: u64) -> Option<u32> {
        let old = self.elements.len() as u64;
        let new = old + delta as u64;
        let max = self
            .ty
            .maximum
            .unwrap_or(u32::MAX as u64)
            .min(MAX_TABLE_ELEMENTS)
            .min(limit);
        if new > max {
            return None;
        }
        self.elements.resize(new as usize, init);
        self.sync();
        Some(old as u32)
    }
}
