//! The compiler plugin's C ABI: the one contract between the `wasabi`
//! command, which loads `libwasabi_compiler_plugin.so` with `dlopen` the
//! first time it compiles (`cli/src/plugin.rs`), and the plugin, the LLVM
//! code generator built as a shared object (`compiler/src/plugin.rs`,
//! exported by `cli/src/plugin_lib.rs`).
//!
//! The plugin exports one function, [`ENTRY_SYMBOL`], returning a pointer
//! to a static [`PluginV1`]: its ABI version (the first field in every
//! version), its [`BUILD`](crate::BUILD) as a C string, and the functions
//! below. The host checks both before calling anything else
//! ([`PluginV1::check`]). Everything else crosses as bytes:
//! - `open_module(info, wasm)`: the module's description
//!   (`ModuleInfo::to_bytes`) and wasm bytes, copied by the plugin once;
//!   returns a handle (null on failure, the reason in `out` as UTF-8).
//! - `compile(handle, request, progress, ctx, out)`: a bincode
//!   [`Request`] (settings and [`Job`](crate::Job)); `out` receives a
//!   bincode [`Response`]. `progress(ctx, done, total)` is called from the
//!   plugin's threads while batches compile.
//! - `close_module(handle)`: the module is gone.
//! - `free_bytes(out)`: every [`Bytes`] the plugin returned goes back to it.
//! - `versioned_loops()`: the plugin's count for `--stats`.
//!
//! What must stay true: a change to any of this bumps [`ABI_VERSION`] and
//! [`ENTRY_SYMBOL`]; nothing unwinds across it (the plugin catches panics);
//! a handle is used only between its `open_module` and `close_module`.

use crate::{Backend, CompilerConfig, Failure, Job, ModuleCompiler, Progress};
use serde::{Deserialize, Serialize};
use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;
use wasabi_runtime::module::ModuleInfo;

/// The version of this ABI.
pub const ABI_VERSION: u32 = 1;

/// The plugin's one exported function: `extern "C" fn() -> *const PluginV1`.
pub const ENTRY_SYMBOL: &str = "wasabi_compiler_plugin_v1";

/// The plugin's file name, looked for next to the `wasabi` binary.
pub const FILE_NAME: &str = "libwasabi_compiler_plugin.so";

/// The environment variable naming the plugin's path instead.
pub const PATH_VAR: &str = "WASABI_COMPILER_PLUGIN";

/// Bytes allocated by the plugin, returned to it with `free_bytes`.
#[repr(C)]
pub struct Bytes {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl Bytes {
    pub const EMPTY: Bytes = Bytes {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Hands `v` over (the side that made it frees it: [`Bytes::into_vec`]).
    pub fn from_vec(v: Vec<u8>) -> Bytes {
        let mut v = std::mem::ManuallyDrop::new(v);
        Bytes {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Takes back what [`Bytes::from_vec`] handed over.
    ///
    /// # Safety
    /// `self` came from `Bytes::from_vec` in this same binary (so the same
    /// allocator) and was not taken back before; or it is [`Bytes::EMPTY`].
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: per the contract, these are the parts of a Vec<u8> of
        // this binary's allocator, owned by nobody else.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }

    /// The bytes, borrowed.
    ///
    /// # Safety
    /// `self` describes `len` readable bytes (or is empty), alive while the
    /// result is.
    pub unsafe fn as_slice(&self) -> &[u8] {
        match self.ptr.is_null() {
            true => &[],
            // SAFETY: per the contract.
            false => unsafe { std::slice::from_raw_parts(self.ptr, self.len) },
        }
    }
}

/// `progress(ctx, done, total)`.
pub type ProgressFn = unsafe extern "C" fn(ctx: *mut c_void, done: usize, total: usize);

/// What the plugin's entry function points at.
#[repr(C)]
pub struct PluginV1 {
    /// [`ABI_VERSION`]; the first field of every version.
    pub abi_version: u32,
    /// The plugin's [`BUILD`](crate::BUILD), NUL-terminated.
    pub build: *const c_char,
    pub open_module: unsafe extern "C" fn(
        info: *const u8,
        info_len: usize,
        wasm: *const u8,
        wasm_len: usize,
        out: *mut Bytes,
    ) -> *mut c_void,
    pub compile: unsafe extern "C" fn(
        module: *mut c_void,
        request: *const u8,
        request_len: usize,
        progress: Option<ProgressFn>,
        progress_ctx: *mut c_void,
        out: *mut Bytes,
    ),
    pub close_module: unsafe extern "C" fn(module: *mut c_void),
    pub free_bytes: unsafe extern "C" fn(bytes: Bytes),
    pub versioned_loops: extern "C" fn() -> u64,
}

// SAFETY: the table is immutable, `build` points at a static string, and
// every function may be called from any thread (the plugin's side is
// `Sync`: see `compiler/src/plugin.rs`).
unsafe impl Sync for PluginV1 {}
// SAFETY: as for `Sync`: nothing in the table belongs to a thread.
unsafe impl Send for PluginV1 {}

/// A compile request.
#[derive(Serialize, Deserialize)]
pub struct Request {
    pub config: CompilerConfig,
    pub job: Job,
}

/// A compile response: the objects, or why not.
pub type Response = Result<Vec<Vec<u8>>, Failure>;

/// Encodes a request.
pub fn encode_request(config: &CompilerConfig, job: &Job) -> Vec<u8> {
    #[derive(Serialize)]
    struct RequestRef<'a> {
        config: &'a CompilerConfig,
        job: &'a Job,
    }
    bincode::serialize(&RequestRef { config, job }).expect("a request always serialises")
}

/// Decodes a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, Failure> {
    bincode::deserialize(bytes).map_err(|e| Failure::other(format!("bad plugin request: {e}")))
}

/// Encodes a response.
pub fn encode_response(r: &Response) -> Vec<u8> {
    bincode::serialize(r).expect("a response always serialises")
}

/// Decodes a response.
pub fn decode_response(bytes: &[u8]) -> Response {
    bincode::deserialize(bytes)
        .map_err(|e| Failure::other(format!("bad response from the compiler plugin: {e}")))?
}

impl PluginV1 {
    /// Whether this table is of this ABI and this very build: what a host
    /// checks before calling anything. The error says what differs.
    pub fn check(&self) -> Result<(), String> {
        if self.abi_version != ABI_VERSION {
            return Err(format!(
                "it has plugin ABI version {}, this wasabi needs {ABI_VERSION}",
                self.abi_version
            ));
        }
        if self.build.is_null() {
            return Err("it does not say which build it is".into());
        }
        // SAFETY: a table of this ABI version holds a NUL-terminated
        // static string in `build` (checked non-null above).
        let build = unsafe { CStr::from_ptr(self.build) }.to_string_lossy();
        if build != crate::BUILD {
            return Err(format!(
                "it is from another build of wasabi ({build}; this is {})",
                crate::BUILD
            ));
        }
        Ok(())
    }
}

/// A checked plugin as a [`Backend`].
#[derive(Clone, Copy)]
pub struct PluginBackend {
    table: &'static PluginV1,
}

impl PluginBackend {
    /// # Safety
    /// `table` is a plugin's table that passed [`PluginV1::check`], whose
    /// plugin stays loaded for the rest of the process.
    pub unsafe fn new(table: &'static PluginV1) -> PluginBackend {
        PluginBackend { table }
    }

    /// Takes back bytes the plugin returned.
    fn take(&self, out: Bytes) -> Vec<u8> {
        // SAFETY: `out` was filled by the plugin (or left empty), so it
        // describes its live allocation; copied before it is freed.
        let v = unsafe { out.as_slice() }.to_vec();
        // SAFETY: returned to the plugin that allocated it, once.
        unsafe { (self.table.free_bytes)(out) };
        v
    }
}

impl Backend for PluginBackend {
    fn open(
        &self,
        info: &Arc<ModuleInfo>,
        wasm: &Arc<[u8]>,
    ) -> Result<Arc<dyn ModuleCompiler>, Failure> {
        let info = info.to_bytes();
        let mut out = Bytes::EMPTY;
        // SAFETY: both buffers are live for the call (the plugin copies
        // them); `out` is a valid place for the plugin to write.
        let handle = unsafe {
            (self.table.open_module)(
                info.as_ptr(),
                info.len(),
                wasm.as_ptr(),
                wasm.len(),
                &mut out,
            )
        };
        let message = self.take(out);
        if handle.is_null() {
            return Err(Failure::other(format!(
                "the compiler plugin refused the module: {}",
                String::from_utf8_lossy(&message)
            )));
        }
        Ok(Arc::new(PluginModule {
            backend: *self,
            handle,
        }))
    }

    fn versioned_loops(&self) -> u64 {
        (self.table.versioned_loops)()
    }
}

/// A module open in the plugin.
struct PluginModule {
    backend: PluginBackend,
    handle: *mut c_void,
}

// SAFETY: the handle is the plugin's `Arc<dyn ModuleCompiler>` (which is
// `Send + Sync`), usable from any thread; only `Drop` closes it.
unsafe impl Send for PluginModule {}
// SAFETY: as for `Send`: `compile` takes the handle by shared reference.
unsafe impl Sync for PluginModule {}

impl Drop for PluginModule {
    fn drop(&mut self) {
        // SAFETY: the handle came from `open_module` and is closed once.
        unsafe { (self.backend.table.close_module)(self.handle) }
    }
}

impl ModuleCompiler for PluginModule {
    fn compile(
        &self,
        config: &CompilerConfig,
        job: &Job,
        progress: Option<&Progress>,
    ) -> Result<Vec<Vec<u8>>, Failure> {
        unsafe extern "C" fn relay(ctx: *mut c_void, done: usize, total: usize) {
            // SAFETY: `ctx` is the `&&Progress` passed below, alive for the
            // whole `compile` call, during which alone this is called; a
            // `Progress` may be called from any thread (`Sync`).
            let progress = unsafe { &*(ctx as *const &Progress) };
            // A panicking callback must not unwind into the plugin.
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| progress(done, total)));
        }
        let request = encode_request(config, job);
        let ctx: Option<&&Progress> = progress.as_ref();
        let mut out = Bytes::EMPTY;
        // SAFETY: the handle is open (closed only on drop); the request and
        // `ctx` are live for the call; `out` is a valid place to write.
        unsafe {
            (self.backend.table.compile)(
                self.handle,
                request.as_ptr(),
                request.len(),
                ctx.map(|_| relay as ProgressFn),
                ctx.map_or(std::ptr::null_mut(), |c| {
                    c as *const &Progress as *mut c_void
                }),
                &mut out,
            )
        };
        decode_response(&self.backend.take(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let config = CompilerConfig {
            tier_up_after: Some(7),
            ..Default::default()
        };
        let job = Job::Osr {
            func: 3,
            loop_index: 1,
        };
        let r = decode_request(&encode_request(&config, &job)).unwrap();
        assert_eq!((r.config, r.job), (config, job));
        assert!(decode_request(b"\xff").is_err());
        let ok: Response = Ok(vec![vec![1, 2], vec![]]);
        assert_eq!(decode_response(&encode_response(&ok)), ok);
        let err: Response = Err(Failure {
            message: "in function 1 (f): unsupported: x".into(),
            unsupported: Some("x".into()),
        });
        assert_eq!(decode_response(&encode_response(&err)), err);
        assert!(decode_response(b"").is_err());
    }

    extern "C" fn no_loops() -> u64 {
        0
    }
    unsafe extern "C" fn no_open(
        _: *const u8,
        _: usize,
        _: *const u8,
        _: usize,
        _: *mut Bytes,
    ) -> *mut c_void {
        std::ptr::null_mut()
    }
    unsafe extern "C" fn no_compile(
        _: *mut c_void,
        _: *const u8,
        _: usize,
        _: Option<ProgressFn>,
        _: *mut c_void,
        _: *mut Bytes,
    ) {
    }
    unsafe extern "C" fn no_close(_: *mut c_void) {}
    unsafe extern "C" fn no_free(_: Bytes) {}

    fn table(abi_version: u32, build: &'static CStr) -> PluginV1 {
        PluginV1 {
            abi_version,
            build: build.as_ptr(),
            open_module: no_open,
            compile: no_compile,
            close_module: no_close,
            free_bytes: no_free,
            versioned_loops: no_loops,
        }
    }

    #[test]
    fn only_this_abi_and_build_pass_the_check() {
        let own = std::ffi::CString::new(crate::BUILD).unwrap();
        let own: &'static CStr = Box::leak(own.into_boxed_c_str());
        assert_eq!(table(ABI_VERSION, own).check(), Ok(()));
        let e = table(ABI_VERSION + 1, own).check().unwrap_err();
        assert!(e.contains("ABI version 2"), "{e}");
        let e = table(ABI_VERSION, c"wasabi-compiler 0.0.0 build 0")
            .check()
            .unwrap_err();
        assert!(e.contains("another build"), "{e}");
    }
}
