//! Wasabi's own host ABI: the import module `wasabi`, for guests that want
//! more from the host than WASI gives. The guest side is the C header
//! `abi/guest/wasabi.h`; docs/wasabi-abi.md is the guide.
//!
//! | import | type | what it does |
//! |---|---|---|
//! | `module_load` | `(bytes, len) -> handle` | compiles and instantiates a wasm module given as bytes in the caller's memory |
//! | `module_func` | `(handle, name, name_len) -> index` | puts the module's exported function `name` into the caller's table |
//! | `memory_copy` | `(dst_handle, dst, src_handle, src, len) -> status` | copies bytes between the memories of two instances |
//! | `last_error` | `(buf, cap) -> len` | the message of the last failure |
//!
//! A loaded module is instantiated in the caller's store with WASI, this
//! ABI, and the caller's own exports as the import module `env` (what a
//! `dlopen`ed library's undefined symbols resolve to). Its start function
//! and `_initialize` run before `module_load` returns. Handle `0` names the
//! caller itself; loaded modules are `1, 2, ...`.
//!
//! `module_func` appends a funcref to the caller's exported table
//! `__indirect_function_table` (clang's name; link the guest with
//! `-Wl,--export-table,--growable-table`), so the guest calls the function
//! through a C function pointer, a plain `call_indirect` with the usual
//! signature check: no host code runs on such a call. Asking again for the
//! same function returns the same index.
//!
//! A process without the compiler (an AOT executable) cannot compile what a
//! guest loads; it sets a [`ModuleSource`] that finds the module among
//! those precompiled into it (`wasabi aot --with plugin.wasm`).
//!
//! What must stay true:
//! - Failures return a negative number ([`ERR_INVALID`], [`ERR_LINK`],
//!   [`ERR_TRAP`], [`ERR_NOT_FOUND`], [`ERR_BOUNDS`], [`ERR_HANDLE`],
//!   [`ERR_RESOURCE`]) and keep a message for `last_error`; nothing a guest
//!   passes traps, panics or touches memory outside the two instances'
//!   memories. The only exceptions are the guest's own traps (a loaded
//!   module's start function trapping is reported as [`ERR_TRAP`]).
//! - Every guest range is checked (the `wasabi::Memory::bytes` helpers).
//! - A loaded module gets no capability the caller does not have: it shares
//!   the caller's WASI context (the same preopened directories, stdio,
//!   args and environment).

use crate::wasi::{self, WasiCtx};
use std::collections::HashMap;
use std::sync::OnceLock;
use wasabi::{Caller, Extern, Instance, Linker, Memory, Module, Val};

/// The import module name.
pub const MODULE: &str = "wasabi";

/// Malformed or invalid module bytes, or a bad name.
pub const ERR_INVALID: i32 = -1;
/// The loaded module's imports cannot be met.
pub const ERR_LINK: i32 = -2;
/// The loaded module trapped while starting.
pub const ERR_TRAP: i32 = -3;
/// No such export, or the export is not a function.
pub const ERR_NOT_FOUND: i32 = -4;
/// A guest range is outside its memory.
pub const ERR_BOUNDS: i32 = -5;
/// No module has this handle, or it exports no `memory`.
pub const ERR_HANDLE: i32 = -6;
/// Out of a resource: the table cannot grow, or compiling failed.
pub const ERR_RESOURCE: i32 = -7;

/// Where `module_load` gets code in a process that cannot compile: given
/// the wasm bytes, the module precompiled for exactly those bytes, an
/// error saying why there is none, or `None` to compile them as usual.
pub type ModuleSource = fn(&[u8]) -> Option<wasabi::Result<Module>>;

static MODULE_SOURCE: OnceLock<ModuleSource> = OnceLock::new();

/// Sets this process's [`ModuleSource`] (once; later calls return
/// `false`). AOT executables set one that finds the modules bundled into
/// them by `wasabi aot --with`.
pub fn set_module_source(source: ModuleSource) -> bool {
    MODULE_SOURCE.set(source).is_ok()
}

/// The ABI's state in a store: the modules loaded so far and the last
/// error. One per store; [`WasabiExt::default`] makes it.
#[derive(Default)]
pub struct WasabiExt {
    modules: Vec<Instance>,
    /// `(caller instance, handle, name)` -> table index already given.
    funcs: HashMap<(Instance, i32, String), i32>,
    last_error: String,
}

impl WasabiExt {
    /// The instances loaded by guests so far, in load order (handle `i+1`).
    pub fn loaded(&self) -> &[Instance] {
        &self.modules
    }
}

/// Registers the `wasabi` import module. `wasi` and `ext` find the WASI
/// context and this ABI's state in the store's data; a loaded module gets
/// both ABIs too, with the same state.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    wasi: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
    ext: impl Fn(&mut T) -> &mut WasabiExt + Send + Sync + Copy + 'static,
) -> wasabi::Result<()> {
    linker.func_wrap(
        MODULE,
        "module_load",
        move |mut caller: Caller<'_, T>, ptr: i32, len: i32| -> i32 {
            let r = module_load(&mut caller, wasi, ext, ptr, len);
            finish(&mut caller, ext, r)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "module_func",
        move |mut caller: Caller<'_, T>, handle: i32, name: i32, name_len: i32| -> i32 {
            let r = module_func(&mut caller, ext, handle, name, name_len);
            finish(&mut caller, ext, r)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "memory_copy",
        move |mut caller: Caller<'_, T>,
              dst_handle: i32,
              dst: i32,
              src_handle: i32,
              src: i32,
              len: i32|
              -> i32 {
            let r = memory_copy(&mut caller, ext, (dst_handle, dst), (src_handle, src), len);
            finish(&mut caller, ext, r.map(|()| 0))
        },
    )?;
    linker.func_wrap(
        MODULE,
        "last_error",
        move |mut caller: Caller<'_, T>, buf: i32, cap: i32| -> i32 {
            let message = ext(caller.data_mut()).last_error.clone();
            let n = message.len().min(cap.max(0) as usize);
            let r = caller_memory(&mut caller).and_then(|m| {
                m.bytes_mut(&mut caller, buf, n as u32)
                    .map_err(|e| fail(ERR_BOUNDS, e))
            });
            match r {
                Ok(dst) => {
                    dst.copy_from_slice(&message.as_bytes()[..n]);
                    message.len().min(i32::MAX as usize) as i32
                }
                Err((code, _)) => code,
            }
        },
    )?;
    Ok(())
}

/// A failure: the code returned to the guest and the message kept for
/// `last_error`.
type Fail = (i32, String);

fn fail(code: i32, e: impl std::fmt::Display) -> Fail {
    (code, e.to_string())
}

/// The guest's return value; a failure's message is kept.
fn finish<T>(
    caller: &mut Caller<'_, T>,
    ext: impl Fn(&mut T) -> &mut WasabiExt,
    r: Result<i32, Fail>,
) -> i32 {
    match r {
        Ok(v) => v,
        Err((code, message)) => {
            ext(caller.data_mut()).last_error = message;
            code
        }
    }
}

fn caller_memory<T>(caller: &mut Caller<'_, T>) -> Result<Memory, Fail> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| fail(ERR_HANDLE, "the calling module exports no `memory`"))
}

fn module_load<T: 'static>(
    caller: &mut Caller<'_, T>,
    wasi: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
    ext: impl Fn(&mut T) -> &mut WasabiExt + Send + Sync + Copy + 'static,
    ptr: i32,
    len: i32,
) -> Result<i32, Fail> {
    let memory = caller_memory(caller)?;
    let bytes = memory
        .bytes(&*caller, ptr, len as u32)
        .map_err(|e| fail(ERR_BOUNDS, e))?
        .to_vec();
    let module = match MODULE_SOURCE.get().and_then(|source| source(&bytes)) {
        Some(found) => found,
        None => Module::new(caller.engine(), &bytes),
    };
    let module = module.map_err(|e| match e {
        wasabi::Error::Module(_) | wasabi::Error::Unsupported(_) | wasabi::Error::Text(_) => {
            fail(ERR_INVALID, e)
        }
        e => fail(ERR_RESOURCE, e),
    })?;
    let mut linker = Linker::new(caller.engine());
    let setup = |linker: &mut Linker<T>, caller: &mut Caller<'_, T>| -> wasabi::Result<()> {
        wasi::add_to_linker(linker, wasi)?;
        add_to_linker(linker, wasi, ext)?;
        if let Some(me) = caller.instance() {
            linker.instance(&mut *caller, "env", me)?;
        }
        Ok(())
    };
    setup(&mut linker, caller).map_err(|e| fail(ERR_LINK, e))?;
    let instance = linker
        .instantiate(&mut *caller, &module)
        .map_err(|e| match e {
            wasabi::Error::Trap(_) => fail(ERR_TRAP, e),
            wasabi::Error::Link(_) => fail(ERR_LINK, e),
            e => fail(ERR_RESOURCE, e),
        })?;
    let state = ext(caller.data_mut());
    state.modules.push(instance);
    Ok(state.modules.len() as i32)
}

/// The instance a handle names: 0 is the caller.
fn instance_of<T>(
    caller: &mut Caller<'_, T>,
    ext: impl Fn(&mut T) -> &mut WasabiExt,
    handle: i32,
) -> Result<Instance, Fail> {
    if handle == 0 {
        return caller
            .instance()
            .ok_or_else(|| fail(ERR_HANDLE, "handle 0 needs a calling instance"));
    }
    let modules = &ext(caller.data_mut()).modules;
    usize::try_from(handle)
        .ok()
        .and_then(|h| modules.get(h.wrapping_sub(1)))
        .copied()
        .ok_or_else(|| {
            fail(
                ERR_HANDLE,
                format!("no module has handle {handle} ({} loaded)", modules.len()),
            )
        })
}

fn module_func<T>(
    caller: &mut Caller<'_, T>,
    ext: impl Fn(&mut T) -> &mut WasabiExt + Copy,
    handle: i32,
    name: i32,
    name_len: i32,
) -> Result<i32, Fail> {
    let me = caller
        .instance()
        .ok_or_else(|| fail(ERR_HANDLE, "module_func needs a calling instance"))?;
    let memory = caller_memory(caller)?;
    let name = memory
        .read_utf8(&*caller, name, name_len as u32)
        .map_err(|e| fail(ERR_INVALID, e))?
        .to_string();
    let key = (me, handle, name);
    if let Some(&index) = ext(caller.data_mut()).funcs.get(&key) {
        return Ok(index);
    }
    let (_, handle, name) = &key;
    let instance = instance_of(caller, ext, *handle)?;
    let func = instance
        .get_export(&mut *caller, name)
        .ok_or_else(|| {
            fail(
                ERR_NOT_FOUND,
                format!("module {handle} exports no `{name}`"),
            )
        })?
        .into_func()
        .ok_or_else(|| {
            fail(
                ERR_NOT_FOUND,
                format!("export `{name}` of module {handle} is not a function"),
            )
        })?;
    let table = caller
        .get_export("__indirect_function_table")
        .and_then(Extern::into_table)
        .ok_or_else(|| {
            fail(
                ERR_HANDLE,
                "the calling module exports no table `__indirect_function_table` \
                 (link it with -Wl,--export-table,--growable-table)",
            )
        })?;
    let index = table
        .grow(&mut *caller, 1, Val::FuncRef(Some(func)))
        .map_err(|e| {
            fail(
                ERR_RESOURCE,
                format!("cannot add `{name}` to the table: {e}"),
            )
        })?;
    let index = i32::try_from(index).map_err(|_| fail(ERR_RESOURCE, "table too large"))?;
    ext(caller.data_mut()).funcs.insert(key, index);
    Ok(index)
}

fn memory_copy<T>(
    caller: &mut Caller<'_, T>,
    ext: impl Fn(&mut T) -> &mut WasabiExt + Copy,
    (dst_handle, dst): (i32, i32),
    (src_handle, src): (i32, i32),
    len: i32,
) -> Result<(), Fail> {
    let memory_of = |caller: &mut Caller<'_, T>, handle: i32| -> Result<Memory, Fail> {
        let instance = instance_of(caller, ext, handle)?;
        instance
            .get_memory(&mut *caller, "memory")
            .ok_or_else(|| fail(ERR_HANDLE, format!("module {handle} exports no `memory`")))
    };
    let from = memory_of(caller, src_handle)?;
    let to = memory_of(caller, dst_handle)?;
    let len = len as u32;
    if from == to {
        // One memory: both ranges checked (as every guest range is), then
        // an overlapping-safe move.
        for ptr in [src, dst] {
            from.bytes(&*caller, ptr, len)
                .map_err(|e| fail(ERR_BOUNDS, e))?;
        }
        let (src, dst) = (src as u32 as usize, dst as u32 as usize);
        from.data_mut(&mut *caller)
            .copy_within(src..src + len as usize, dst);
        return Ok(());
    }
    let bytes = from
        .bytes(&*caller, src, len)
        .map_err(|e| fail(ERR_BOUNDS, e))?
        .to_vec();
    to.bytes_mut(&mut *caller, dst, len)
        .map_err(|e| fail(ERR_BOUNDS, e))?
        .copy_from_slice(&bytes);
    Ok(())
}
