//! Linear memories: one mmap'd reservation per memory.
//!
//! What must stay true:
//! - The reservation covers every address a 32-bit wasm access can form:
//!   a zero-extended 32-bit address plus a 32-bit offset plus the access
//!   size, i.e. just under 8 GiB. Compiled code therefore emits no bounds
//!   checks; pages past the current length are `PROT_NONE` and fault, and the
//!   fault becomes a `MemoryOutOfBounds` trap.
//! - The base never moves, so compiled code may cache it; `memory.grow` only
//!   changes protections and the length in the [`VMMemoryDefinition`].

use crate::module::MemoryType;
use crate::vmcontext::{VMMemoryDefinition, WASM32_MAX_PAGES, WASM_PAGE_SIZE};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// Bytes reserved per 32-bit memory: 4 GiB of addresses, 4 GiB of offset,
/// and a guard for the access size.
pub const RESERVATION: usize = (8 << 30) + (64 << 10);

/// A linear memory owned by a store.
pub struct LinearMemory {
    definition: Box<VMMemoryDefinition>,
    maximum_pages: u64,
    ty: MemoryType,
    grow_lock: Mutex<()>,
}

// SAFETY: the raw pointers are to an mmap region owned by this value; the
// length is atomic and growth is serialised by `grow_lock`; the bytes
// themselves are wasm's shared memory, which `data_mut`'s contract covers.
unsafe impl Send for LinearMemory {}
// SAFETY: as for `Send`.
unsafe impl Sync for LinearMemory {}

#[derive(Debug)]
pub struct MemoryError(pub String);

impl LinearMemory {
    pub fn new(ty: MemoryType) -> Result<LinearMemory, MemoryError> {
        if ty.memory64 {
            return Err(MemoryError("64-bit memories are not supported yet".into()));
        }
        if ty.minimum > WASM32_MAX_PAGES {
            return Err(MemoryError(format!(
                "memory minimum {} pages exceeds 65536",
                ty.minimum
            )));
        }
        // SAFETY: a fresh anonymous reservation; it aliases nothing.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RESERVATION,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(MemoryError(format!(
                "cannot reserve address space for a linear memory: {}",
                std::io::Error::last_os_error()
            )));
        }
        let mem = LinearMemory {
            definition: Box::new(VMMemoryDefinition {
                base: base as *mut u8,
                length: 0.into(),
            }),
            maximum_pages: ty.maximum.unwrap_or(WASM32_MAX_PAGES).min(WASM32_MAX_PAGES),
            ty,
            grow_lock: Mutex::new(()),
        };
        if mem.grow(ty.minimum, usize::MAX).is_none() {
            return Err(MemoryError(format!(
                "cannot commit {} pages of memory",
                ty.minimum
            )));
        }
        Ok(mem)
    }

    pub fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.pages(),
            ..self.ty
        }
    }

    pub fn declared_type(&self) -> MemoryType {
        self.ty
    }

    pub fn maximum_pages(&self) -> u64 {
        self.maximum_pages
    }

    pub fn definition(&self) -> *mut VMMemoryDefinition {
        &*self.definition as *const _ as *mut _
    }

    pub fn base(&self) -> *mut u8 {
        self.definition.base
    }

    pub fn byte_len(&self) -> usize {
        self.definition.length.load(Ordering::Acquire)
    }

    pub fn pages(&self) -> u64 {
        (self.byte_len() / WASM_PAGE_SIZE) as u64
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when
    /// the maximum (the declared one, or `limit_bytes` set by the embedder)
    /// would be exceeded or the pages cannot be committed.
    pub fn grow(&self, delta: u64, limit_bytes: usize) -> Option<u64> {
        let _guard = self.grow_lock.lock().unwrap();
        let old = self.pages();
        let new = old.checked_add(delta)?;
        if new > self.maximum_pages || new > (limit_bytes / WASM_PAGE_SIZE) as u64 {
            return None;
        }
        if delta > 0 {
            let start = old as usize * WASM_PAGE_SIZE;
            let len = delta as usize * WASM_PAGE_SIZE;
            // SAFETY: `start + len` is at most the maximum size, inside our
            // reservation; the pages were inaccessible, nothing refers to
            // them.
            let rc = unsafe {
                libc::mprotect(
                    self.base().add(start) as *mut libc::c_void,
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if rc != 0 {
                return None;
            }
            self.definition
                .length
                .store(new as usize * WASM_PAGE_SIZE, Ordering::Release);
        }
        Some(old)
    }

    /// The accessible bytes.
    ///
    /// # Safety
    /// The caller must not hold the slice across a call into wasm, or across
    /// anything else that may write or grow the same memory.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn data_mut(&self) -> &mut [u8] {
        // SAFETY: the first `byte_len` bytes of the reservation are mapped
        // read-write; exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.base(), self.byte_len()) }
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        // SAFETY: our own reservation; the store owning the memory is being
        // dropped, so no instance can access it any more.
        unsafe {
            libc::munmap(self.base() as *mut libc::c_void, RESERVATION);
        }
    }
}
