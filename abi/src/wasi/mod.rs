//! WASI preview 1 (`wasi_snapshot_preview1`) for Wasabi.
//!
//! [`add_to_linker`] defines all of it in a [`wasabi::Linker`], over a
//! [`WasiCtx`] kept in the store's data (its doc has a complete example);
//! [`crate::command`] runs a module as a WASI command the way `wasabi run`
//! does.
//!
//! Where things live:
//! - [`ctx`]: [`WasiCtx`] and its builder: args, environment, stdio
//!   choices ([`Stdin`], [`Output`], [`OutputBuffer`]), preopened dirs.
//! - [`fdtable`]: the descriptor table, rights, stdio endpoints and the
//!   host directory streams behind `fd_readdir`.
//! - [`fs`]: every `fd_*` and `path_*` function.
//! - [`clocks`]: `clock_*`, `random_get`, `poll_oneoff`.
//! - [`proc`]: `args_*`, `environ_*`, `proc_*`, `sched_yield`, `sock_*`.
//! - [`memory`]: bounds-checked guest-memory access ([`GuestMemory`]).
//! - [`types`]: errnos, rights and flag bits, struct sizes.
//! - this file: the function table (name, type, implementation),
//!   [`add_to_linker`], [`Exit`].
//!
//! What must stay true:
//! - Every function in [`FUNCTIONS`] has exactly the witx signature; a
//!   module importing it with another type does not link.
//! - A function returns an errno for anything the guest did wrong (bad fd,
//!   bad pointer: `FAULT`, bad flags: `INVAL`, ...). It traps only for
//!   `proc_exit` (with [`Exit`]) and when the caller exports no memory named
//!   `memory` but the function needs one.
//! - No guest path reaches the host file system except relative to a
//!   preopened directory's `cap_std::fs::Dir`: `..` above it, absolute paths
//!   and symlinks leading out fail with `PERM` (cap-std's "a path led
//!   outside of the filesystem", as in wasmtime). Nor can the guest leave
//!   a way out for someone else: creating, hard-linking or moving a
//!   symlink whose target would lead outside its preopen fails with `PERM`
//!   (see [`fs`]).
//! - Output to stdout/stderr is flushed by every `fd_write`, so nothing is
//!   lost when the guest traps or exits.

pub mod clocks;
pub mod ctx;
pub mod fdtable;
pub mod fs;
pub mod memory;
pub mod proc;
pub mod types;

pub use ctx::{BuildError, Output, OutputBuffer, Stdin, WasiCtx, WasiCtxBuilder};
pub use memory::GuestMemory;
pub use types::Errno;

use std::fmt;
use wasabi::{FuncType, HostError, Linker, Trap, Val, ValType};

/// The import module name of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The error `proc_exit(status)` traps with. Callers downcast a trap's host
/// error to it (see [`exit_status`]) to get the program's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub i32);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "program exited with status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// The status of a `proc_exit` if that is what ended the call.
pub fn exit_status(trap: &Trap) -> Option<i32> {
    trap.host_error
        .as_ref()?
        .downcast_ref::<Exit>()
        .map(|e| e.0)
}

/// The exit status of a WASI command from the result of calling its
/// `_start`: 0 when it returned, `n` after `proc_exit(n)`, or the trap.
pub fn command_status<R>(result: wasabi::Result<R>) -> Result<i32, wasabi::Error> {
    match result {
        Ok(_) => Ok(0),
        Err(wasabi::Error::Trap(trap)) => match exit_status(&trap) {
            Some(n) => Ok(n),
            None => Err(wasabi::Error::Trap(trap)),
        },
        Err(e) => Err(e),
    }
}

/// Why a WASI function did not succeed: an errno for the guest, or a trap.
pub(crate) enum Fail {
    Errno(Errno),
    Trap(HostError),
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Fail {
        Fail::Errno(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::Errno(e.into())
    }
}

pub(crate) type WasiResult = Result<(), Fail>;

/// One call of a WASI function: the context, the caller's memory and the
/// arguments (whose types the link-time check guarantees).
pub(crate) struct Call<'a> {
    pub ctx: &'a mut WasiCtx,
    memory: Option<&'a mut [u8]>,
    args: &'a [Val],
    name: &'static str,
}

impl<'a> Call<'a> {
    pub fn u32(&self, i: usize) -> u32 {
        match self.args.get(i) {
            Some(Val::I32(v)) => *v as u32,
            _ => 0,
        }
    }
    pub fn u64(&self, i: usize) -> u64 {
        match self.args.get(i) {
            Some(Val::I64(v)) => *v as u64,
            _ => 0,
        }
    }
    pub fn i64(&self, i: usize) -> i64 {
        self.u64(i) as i64
    }
    /// The caller's exported memory `memory`. A handler takes it once (a
    /// second call fails): the slice is borrowed from the store for the
    /// whole host call, beside the context.
    pub fn mem(&mut self) -> Result<GuestMemory<'a>, Fail> {
        match self.memory.take() {
            Some(bytes) => Ok(GuestMemory::new(bytes)),
            None => Err(Fail::Trap(
                format!(
                    "WASI function `{}` needs the calling module to export a memory named `memory`",
                    self.name
                )
                .into(),
            )),
        }
    }
}

type Handler = fn(&mut Call<'_>) -> WasiResult;

/// One WASI function: name, witx signature, implementation.
pub struct WasiFunction {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
    handler: Handler,
}

impl WasiFunction {
    pub fn ty(&self) -> FuncType {
        FuncType::new(self.params, self.results)
    }
}

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;
const R: &[ValType] = &[I32];

macro_rules! f {
    ($name:ident, [$($p:expr),*], $results:expr, $h:path) => {
        WasiFunction { name: stringify!($name), params: &[$($p),*], results: $results, handler: $h }
    };
}

/// Every function of `wasi_snapshot_preview1`, in witx order.
pub static FUNCTIONS: &[WasiFunction] = &[
    f!(args_get, [I32, I32], R, proc::args_get),
    f!(args_sizes_get, [I32, I32], R, proc::args_sizes_get),
    f!(environ_get, [I32, I32], R, proc::environ_get),
    f!(environ_sizes_get, [I32, I32], R, proc::environ_sizes_get),
    f!(clock_res_get, [I32, I32], R, clocks::clock_res_get),
    f!(clock_time_get, [I32, I64, I32], R, clocks::clock_time_get),
    f!(fd_advise, [I32, I64, I64, I32], R, fs::fd_advise),
    f!(fd_allocate, [I32, I64, I64], R, fs::fd_allocate),
    f!(fd_close, [I32], R, fs::fd_close),
    f!(fd_datasync, [I32], R, fs::fd_datasync),
    f!(fd_fdstat_get, [I32, I32], R, fs::fd_fdstat_get),
    f!(fd_fdstat_set_flags, [I32, I32], R, fs::fd_fdstat_set_flags),
    f!(
        fd_fdstat_set_rights,
        [I32, I64, I64],
        R,
        fs::fd_fdstat_set_rights
    ),
    f!(fd_filestat_get, [I32, I32], R, fs::fd_filestat_get),
    f!(
        fd_filestat_set_size,
        [I32, I64],
        R,
        fs::fd_filestat_set_size
    ),
    f!(
        fd_filestat_set_times,
        [I32, I64, I64, I32],
        R,
        fs::fd_filestat_set_times
    ),
    f!(fd_pread, [I32, I32, I32, I64, I32], R, fs::fd_pread),
    f!(fd_prestat_get, [I32, I32], R, fs::fd_prestat_get),
    f!(
        fd_prestat_dir_name,
        [I32, I32, I32],
        R,
        fs::fd_prestat_dir_name
    ),
    f!(fd_pwrite, [I32, I32, I32, I64, I32], R, fs::fd_pwrite),
    f!(fd_read, [I32, I32, I32, I32], R, fs::fd_read),
    f!(fd_readdir, [I32, I32, I32, I64, I32], R, fs::fd_readdir),
    f!(fd_renumber, [I32, I32], R, fs::fd_renumber),
    f!(fd_seek, [I32, I64, I32, I32], R, fs::fd_seek),
    f!(fd_sync, [I32], R, fs::fd_sync),
    f!(fd_tell, [I32, I32], R, fs::fd_tell),
    f!(fd_write, [I32, I32, I32, I32], R, fs::fd_write),
    f!(
        path_create_directory,
        [I32, I32, I32],
        R,
        fs::path_create_directory
    ),
    f!(
        path_filestat_get,
        [I32, I32, I32, I32, I32],
        R,
        fs::path_filestat_get
    ),
    f!(
        path_filestat_set_times,
        [I32, I32, I32, I32, I64, I64, I32],
        R,
        fs::path_filestat_set_times
    ),
    f!(
        path_link,
        [I32, I32, I32, I32, I32, I32, I32],
        R,
        fs::path_link
    ),
    f!(
        path_open,
        [I32, I32, I32, I32, I32, I64, I64, I32, I32],
        R,
        fs::path_open
    ),
    f!(
        path_readlink,
        [I32, I32, I32, I32, I32, I32],
        R,
        fs::path_readlink
    ),
    f!(
        path_remove_directory,
        [I32, I32, I32],
        R,
        fs::path_remove_directory
    ),
    f!(
        path_rename,
        [I32, I32, I32, I32, I32, I32],
        R,
        fs::path_rename
    ),
    f!(path_symlink, [I32, I32, I32, I32, I32], R, fs::path_symlink),
    f!(path_unlink_file, [I32, I32, I32], R, fs::path_unlink_file),
    f!(poll_oneoff, [I32, I32, I32, I32], R, clocks::poll_oneoff),
    f!(proc_exit, [I32], &[], proc::proc_exit),
    f!(proc_raise, [I32], R, proc::proc_raise),
    f!(sched_yield, [], R, proc::sched_yield),
    f!(random_get, [I32, I32], R, clocks::random_get),
    f!(sock_accept, [I32, I32, I32], R, proc::sock_accept),
    f!(
        sock_recv,
        [I32, I32, I32, I32, I32, I32],
        R,
        proc::sock_recv
    ),
    f!(sock_send, [I32, I32, I32, I32, I32], R, proc::sock_send),
    f!(sock_shutdown, [I32, I32], R, proc::sock_shutdown),
];

/// The WASI function `name`, if there is one.
pub fn function(name: &str) -> Option<&'static WasiFunction> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Runs the WASI function `name` on `ctx` with `args` (of its witx types)
/// over `memory`, for other ABIs built on WASI (Emscripten's legalised
/// imports and syscalls, which pass a scratch buffer as `memory` to get
/// results back without touching guest memory). Returns the errno, or the
/// error to trap with (`proc_exit`'s [`Exit`]).
pub(crate) fn call_direct(
    ctx: &mut WasiCtx,
    memory: Option<&mut [u8]>,
    name: &'static str,
    args: &[Val],
) -> Result<Errno, HostError> {
    let f = function(name).ok_or_else(|| format!("no WASI function `{name}`"))?;
    let mut call = Call {
        ctx,
        memory,
        args,
        name: f.name,
    };
    match (f.handler)(&mut call) {
        Ok(()) => Ok(Errno::SUCCESS),
        Err(Fail::Errno(e)) => Ok(e),
        Err(Fail::Trap(e)) => Err(e),
    }
}

/// Defines every function of WASI preview 1 in `linker`, over the
/// [`WasiCtx`] that `get` finds in the store's data.
///
/// ```
/// use wasabi::{Engine, Linker, Module, Store};
/// use wasabi_abi::wasi::{self, WasiCtx};
/// struct State { wasi: WasiCtx }
/// let engine = Engine::default();
/// let mut linker = Linker::new(&engine);
/// wasi::add_to_linker(&mut linker, |s: &mut State| &mut s.wasi).unwrap();
/// let module = Module::new(&engine, r#"(module
///   (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
///   (func (export "_start") (call $exit (i32.const 3))))"#).unwrap();
/// let ctx = WasiCtx::builder().arg("prog").build().unwrap();
/// let mut store = Store::new(&engine, State { wasi: ctx });
/// let instance = linker.instantiate(&mut store, &module).unwrap();
/// let start = instance.get_typed_func::<(), ()>(&mut store, "_start").unwrap();
/// let result = start.call(&mut store, ());
/// assert_eq!(wasi::command_status(result).unwrap(), 3);
/// ```
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: impl Fn(&mut T) -> &mut WasiCtx + Send + Sync + Copy + 'static,
) -> wasabi::Result<()> {
    for f in FUNCTIONS {
        linker.func_new(MODULE, f.name, f.ty(), move |mut caller, args, results| {
            let memory = caller.get_export("memory").and_then(|e| e.into_memory());
            let (memory, data) = match memory {
                Some(m) => {
                    let (bytes, data) = m.data_and_store_mut(&mut caller);
                    (Some(bytes), data)
                }
                None => (None, caller.into_data_mut()),
            };
            let mut call = Call {
                ctx: get(data),
                memory,
                args,
                name: f.name,
            };
            let errno = match (f.handler)(&mut call) {
                Ok(()) => Errno::SUCCESS,
                Err(Fail::Errno(e)) => e,
                Err(Fail::Trap(e)) => return Err(e),
            };
            if let Some(r) = results.first_mut() {
                *r = Val::I32(errno.0 as i32);
            }
            Ok(())
        })?;
    }
    Ok(())
}
