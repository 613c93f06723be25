//! Working with a guest's memory from the host: the helpers every embedder
//! otherwise writes by hand.
//!
//! - Reading what a guest pointer points at, checked: [`Memory::bytes`],
//!   [`Memory::bytes_mut`], [`Memory::read_utf8`],
//!   [`Memory::read_c_string`]. A pointer and length are wasm `i32`s as the
//!   guest passed them; a range outside the memory is an error naming it,
//!   never a panic or a read outside the memory.
//! - Putting data into a guest: [`GuestAlloc`] calls the guest's own
//!   allocator (`malloc`/`free`, or `cabi_realloc`) and copies bytes or a
//!   C string into what it returns.
//!
//! ```
//! use wasabi::{Engine, GuestAlloc, Instance, Module, Store};
//! let engine = Engine::default();
//! // A guest with a bump allocator and a function that measures a C string.
//! let module = Module::new(&engine, r#"(module
//!   (memory (export "memory") 1)
//!   (global $top (mut i32) (i32.const 1024))
//!   (func (export "malloc") (param i32) (result i32)
//!     global.get $top
//!     global.get $top local.get 0 i32.add global.set $top)
//!   (func (export "strlen") (param $p i32) (result i32) (local $n i32)
//!     (block $done (loop $next
//!       (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
//!       (local.set $n (i32.add (local.get $n) (i32.const 1)))
//!       (br $next)))
//!     local.get $n))"#).unwrap();
//! let mut store = Store::new(&engine, ());
//! let instance = Instance::new(&mut store, &module, &[]).unwrap();
//! let alloc = GuestAlloc::new(&mut store, instance).unwrap();
//! let ptr = alloc.c_string(&mut store, "wasabi").unwrap();
//! let strlen = instance.get_typed_func::<i32, i32>(&mut store, "strlen").unwrap();
//! assert_eq!(strlen.call(&mut store, ptr as i32).unwrap(), 6);
//! let memory = instance.get_memory(&mut store, "memory").unwrap();
//! assert_eq!(memory.read_c_string(&store, ptr as i32).unwrap(), b"wasabi");
//! assert!(memory.bytes(&store, -1, 2).is_err()); // 0xffffffff + 2: out of bounds
//! ```
//!
//! What must stay true: every range is checked against the memory's
//! current size with overflow-free arithmetic, and guest pointers are read
//! as unsigned 32-bit addresses (a negative `i32` is an address above
//! 2 GiB, as in wasm itself).

use crate::error::{Error, Result};
use crate::externals::Memory;
use crate::func::TypedFunc;
use crate::instance::Instance;
use crate::store::{AsContextMut, StoreContext, StoreContextMut};

/// The byte range `[ptr, ptr + len)` of a memory of `size` bytes, or an
/// error naming it.
fn range(ptr: i32, len: u32, size: usize) -> Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start + len as usize; // both < 2^32: no overflow on 64-bit hosts
    if end > size {
        return Err(Error::Resource(format!(
            "guest range of {len} bytes at {start:#x} is outside the memory ({size:#x} bytes)"
        )));
    }
    Ok(start..end)
}

impl Memory {
    /// The `len` bytes at guest address `ptr`, or an error when any of
    /// them is outside the memory.
    pub fn bytes<'a, T: 'a>(
        &self,
        store: impl Into<StoreContext<'a, T>>,
        ptr: i32,
        len: u32,
    ) -> Result<&'a [u8]> {
        let data = self.data(store);
        Ok(&data[range(ptr, len, data.len())?])
    }

    /// The `len` bytes at guest address `ptr`, mutably.
    pub fn bytes_mut<'a, T: 'a>(
        &self,
        store: impl Into<StoreContextMut<'a, T>>,
        ptr: i32,
        len: u32,
    ) -> Result<&'a mut [u8]> {
        let data = self.data_mut(store);
        let r = range(ptr, len, data.len())?;
        Ok(&mut data[r])
    }

    /// The UTF-8 string of `len` bytes at `ptr`; an error when it is out of
    /// bounds or not UTF-8.
    pub fn read_utf8<'a, T: 'a>(
        &self,
        store: impl Into<StoreContext<'a, T>>,
        ptr: i32,
        len: u32,
    ) -> Result<&'a str> {
        let bytes = self.bytes(store, ptr, len)?;
        std::str::from_utf8(bytes).map_err(|e| {
            Error::Type(format!(
                "guest string at {:#x} is not UTF-8: {e}",
                ptr as u32
            ))
        })
    }

    /// The bytes of the NUL-terminated string at `ptr`, without the NUL; an
    /// error when the memory ends before a NUL.
    pub fn read_c_string<'a, T: 'a>(
        &self,
        store: impl Into<StoreContext<'a, T>>,
        ptr: i32,
    ) -> Result<&'a [u8]> {
        let data = self.data(store);
        let start = ptr as u32 as usize;
        let tail = data.get(start..).ok_or_else(|| {
            Error::Resource(format!(
                "guest string pointer {start:#x} is outside the memory ({:#x} bytes)",
                data.len()
            ))
        })?;
        let len = tail.iter().position(|&b| b == 0).ok_or_else(|| {
            Error::Resource(format!(
                "guest string at {start:#x} has no NUL before the end of memory"
            ))
        })?;
        Ok(&tail[..len])
    }
}

/// The guest's own allocator, to copy data into its memory: `malloc` and
/// `free` when the instance exports them (C, C++, Rust with an exported
/// allocator), else `cabi_realloc` (the component-model convention).
pub struct GuestAlloc {
    memory: Memory,
    alloc: Allocator,
}

enum Allocator {
    Malloc {
        malloc: TypedFunc<i32, i32>,
        free: Option<TypedFunc<i32, ()>>,
    },
    Realloc(TypedFunc<(i32, i32, i32, i32), i32>),
}

impl GuestAlloc {
    /// The allocator of `instance`; an error naming what is missing when it
    /// exports no `memory` or neither `malloc` (`i32 -> i32`) nor
    /// `cabi_realloc` (`i32 i32 i32 i32 -> i32`).
    pub fn new(mut store: impl AsContextMut, instance: Instance) -> Result<GuestAlloc> {
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| Error::NotFound("the guest exports no memory named `memory`".into()))?;
        let alloc = if let Some(malloc) = instance.get_func(&mut store, "malloc") {
            Allocator::Malloc {
                malloc: malloc.typed(&store)?,
                free: match instance.get_func(&mut store, "free") {
                    Some(f) => Some(f.typed(&store)?),
                    None => None,
                },
            }
        } else if let Some(realloc) = instance.get_func(&mut store, "cabi_realloc") {
            Allocator::Realloc(realloc.typed(&store)?)
        } else {
            return Err(Error::NotFound(
                "the guest exports no allocator: neither `malloc` nor `cabi_realloc`".into(),
            ));
        };
        Ok(GuestAlloc { memory, alloc })
    }

    /// The guest's memory.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// Allocates `len` bytes (aligned to 8) in the guest; an error when the
    /// guest's allocator returns null or a block outside its memory.
    pub fn alloc(&self, mut store: impl AsContextMut, len: u32) -> Result<u32> {
        let ptr = match &self.alloc {
            Allocator::Malloc { malloc, .. } => malloc.call(&mut store, len as i32)?,
            Allocator::Realloc(realloc) => realloc.call(&mut store, (0, 0, 8, len as i32))?,
        };
        if ptr == 0 && len != 0 {
            return Err(Error::Resource(format!(
                "the guest's allocator could not allocate {len} bytes"
            )));
        }
        // The block must be inside the memory, or writing it would fail
        // later with a less helpful message.
        range(ptr, len, self.memory.data_size(&store))?;
        Ok(ptr as u32)
    }

    /// Copies `bytes` into a new guest block; returns its address.
    pub fn bytes(&self, mut store: impl AsContextMut, bytes: &[u8]) -> Result<u32> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| Error::Resource(format!("{} bytes do not fit a guest", bytes.len())))?;
        let ptr = self.alloc(&mut store, len)?;
        self.memory
            .bytes_mut(store.as_context_mut(), ptr as i32, len)?
            .copy_from_slice(bytes);
        Ok(ptr)
    }

    /// Copies `s` and a terminating NUL into a new guest block; returns its
    /// address. An error when `s` contains a NUL (the guest would see a
    /// shorter string).
    pub fn c_string(&self, mut store: impl AsContextMut, s: &str) -> Result<u32> {
        if s.contains('\0') {
            return Err(Error::Type(
                "a C string cannot contain a NUL byte".to_string(),
            ));
        }
        let mut bytes = Vec::with_capacity(s.len() + 1);
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
        self.bytes(&mut store, &bytes)
    }

    /// Frees a block with the guest's `free`; nothing when the guest has no
    /// `free` (a `cabi_realloc` guest frees by its own rules).
    pub fn free(&self, mut store: impl AsContextMut, ptr: u32) -> Result<()> {
        if let Allocator::Malloc {
            free: Some(free), ..
        } = &self.alloc
        {
            free.call(&mut store, ptr as i32)?;
        }
        Ok(())
    }
}
