//! This compiler behind `wasabi_compiler_abi`'s interface: in this process
//! ([`InProcess`], what the `wasabi` library's engine uses) and as the
//! compiler plugin's server ([`PLUGIN_V1`], the table
//! `libwasabi_compiler_plugin.so` exports; the contract is
//! `wasabi_compiler_abi::plugin`).
//!
//! What must stay true: both run the same code for a job (the server only
//! decodes, calls [`InProcess`], encodes); nothing panics or unwinds out of
//! the plugin's functions (every call catches); a job naming a function the
//! module does not define is refused, not compiled; once the process exits,
//! the plugin compiles nothing more and exit waits for compilations in
//! progress (see [`exit_hook`]).

use crate::{CompileError, LlvmCompiler};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use wasabi_compiler_abi::plugin::{self as abi, Bytes, PluginV1, ProgressFn};
use wasabi_compiler_abi::{Backend, CompilerConfig, Failure, Job, ModuleCompiler, Progress};
use wasabi_runtime::module::ModuleInfo;

/// LLVM in this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcess;

impl Backend for InProcess {
    fn open(
        &self,
        info: &Arc<ModuleInfo>,
        wasm: &Arc<[u8]>,
    ) -> Result<Arc<dyn ModuleCompiler>, Failure> {
        Ok(Arc::new(OpenModule {
            info: info.clone(),
            wasm: wasm.clone(),
        }))
    }

    fn versioned_loops(&self) -> u64 {
        crate::versioned_loops()
    }
}

/// A module open in this process: its description and bytes.
struct OpenModule {
    info: Arc<ModuleInfo>,
    wasm: Arc<[u8]>,
}

/// A compiler error as a [`Failure`]: its whole message, and what is
/// unsupported if that is why.
pub fn failure(e: CompileError) -> Failure {
    let mut inner = &e;
    while let CompileError::InFunction { error, .. } = inner {
        inner = error;
    }
    Failure {
        unsupported: match inner {
            CompileError::Unsupported(w) => Some(w.clone()),
            _ => None,
        },
        message: e.to_string(),
    }
}

impl ModuleCompiler for OpenModule {
    fn compile(
        &self,
        config: &CompilerConfig,
        job: &Job,
        progress: Option<&Progress>,
    ) -> Result<Vec<Vec<u8>>, Failure> {
        let (info, wasm) = (&*self.info, &*self.wasm);
        let defined = info.num_imported_funcs..info.functions.len() as u32;
        let check = |f: u32| match defined.contains(&f) {
            true => Ok(()),
            false => Err(Failure::other(format!(
                "function {f} is not a defined function"
            ))),
        };
        let compiler = LlvmCompiler::new(config.clone());
        let none = |_: usize, _: usize| {};
        let progress = progress.unwrap_or(&none);
        match job {
            Job::Module => compiler.compile_all_with(info, wasm, progress),
            Job::Aot => compiler.compile_aot(info, wasm, progress),
            Job::Trampolines => compiler.compile_trampolines(info).map(|o| vec![o]),
            Job::Functions(funcs) => {
                if funcs.is_empty() {
                    return Err(Failure::other("no function to compile"));
                }
                funcs.iter().try_for_each(|&f| check(f))?;
                compiler
                    .compile_functions(info, wasm, funcs)
                    .map(|o| vec![o])
            }
            Job::Osr { func, loop_index } => {
                check(*func)?;
                compiler
                    .compile_osr(info, wasm, *func, *loop_index)
                    .map(|o| vec![o])
            }
        }
        .map_err(failure)
    }
}

/// The table the plugin's entry function returns.
pub static PLUGIN_V1: PluginV1 = PluginV1 {
    abi_version: abi::ABI_VERSION,
    build: wasabi_compiler_abi::BUILD_C.as_ptr(),
    open_module,
    compile,
    close_module,
    free_bytes,
    versioned_loops,
};

/// What the plugin's entry function does: installs [`exit_hook`] (once,
/// now that LLVM's static constructors have run, so that it runs before
/// their destructors) and returns [`PLUGIN_V1`].
pub fn entry() -> *const PluginV1 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: registers a plain function with no preconditions.
        unsafe { libc_atexit(exit_hook) };
    });
    &PLUGIN_V1
}

extern "C" {
    #[link_name = "atexit"]
    fn libc_atexit(f: extern "C" fn()) -> i32;
}

/// Set at process exit: no compilation starts after it.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Compilations in progress.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Times [`exit_hook`] was registered again after a compilation.
static REREGISTERED: AtomicUsize = AtomicUsize::new(0);

/// How many times [`exit_hook`] is registered again (see
/// [`keep_exit_hook_newest`]); each registration costs a few bytes.
const MAX_REREGISTRATIONS: usize = 4096;

thread_local! {
    /// Whether this thread is inside a compilation (see [`exit_hook`]).
    static IN_COMPILE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs at exit, before LLVM's static destructors: stops new compilations
/// and waits for those in progress, which would otherwise run on a
/// torn-down LLVM (tiered mode's background thread compiles while the
/// program exits). Refused compilations fail; nothing waits for them, so
/// exit cannot hang on one. A compilation on the exiting thread itself
/// (LLVM calls `exit` on a fatal error) is not waited for.
extern "C" fn exit_hook() {
    EXITING.store(true, Ordering::SeqCst);
    let own = usize::from(IN_COMPILE.with(|c| c.get()));
    while RUNNING.load(Ordering::SeqCst) > own {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Registers [`exit_hook`] again after a compilation, so that it stays the
/// newest exit handler. `exit` runs handlers newest first, and LLVM's
/// function-local statics (SelectionDAG's table of extended value types,
/// among others) register their destructors when a compilation first
/// reaches them, long after the plugin's entry: those destructors ran
/// before the hook, under the background thread's compilation, and the
/// process died on its way out (SIGSEGV in instruction selection, or LLVM
/// errors such as "Do not know how to widen the result of this
/// operator!"). The first compilations reach nearly all of them; the
/// re-registrations stop after [`MAX_REREGISTRATIONS`].
fn keep_exit_hook_newest() {
    if EXITING.load(Ordering::SeqCst) {
        return;
    }
    if REREGISTERED.fetch_add(1, Ordering::Relaxed) < MAX_REREGISTRATIONS {
        // SAFETY: registers a plain function with no preconditions.
        unsafe { libc_atexit(exit_hook) };
    }
}

/// Runs `f` unless the process is exiting, counted in [`RUNNING`], with
/// panics caught (a panic would otherwise unwind into the host).
fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    RUNNING.fetch_add(1, Ordering::SeqCst);
    IN_COMPILE.with(|c| c.set(true));
    let r = match EXITING.load(Ordering::SeqCst) {
        true => Err(Failure::other("the process is exiting")),
        false => std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Failure::other(format!("code generator panicked: {msg}")))
        }),
    };
    IN_COMPILE.with(|c| c.set(false));
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    keep_exit_hook_newest();
    r
}

unsafe extern "C" fn open_module(
    info: *const u8,
    info_len: usize,
    wasm: *const u8,
    wasm_len: usize,
    out: *mut Bytes,
) -> *mut c_void {
    let r = guarded(|| {
        // SAFETY: per the ABI, the host passes live buffers of these
        // lengths for the duration of the call; they are copied here.
        let (info, wasm) = unsafe {
            (
                std::slice::from_raw_parts(info, info_len),
                std::slice::from_raw_parts(wasm, wasm_len),
            )
        };
        let info = ModuleInfo::from_bytes(info).map_err(Failure::other)?;
        InProcess.open(&Arc::new(info), &Arc::from(wasm))
    });
    match r {
        Ok(module) => Box::into_raw(Box::new(module)) as *mut c_void,
        Err(e) => {
            // SAFETY: per the ABI, `out` is a valid place to write.
            unsafe { out.write(Bytes::from_vec(e.message.into_bytes())) };
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn compile(
    module: *mut c_void,
    request: *const u8,
    request_len: usize,
    progress: Option<ProgressFn>,
    progress_ctx: *mut c_void,
    out: *mut Bytes,
) {
    let r = guarded(|| {
        // SAFETY: per the ABI, `module` is a handle from `open_module`
        // not yet closed, and `request` a live buffer of this length.
        let (module, request) = unsafe {
            (
                &*(module as *const Arc<dyn ModuleCompiler>),
                std::slice::from_raw_parts(request, request_len),
            )
        };
        let request = abi::decode_request(request)?;
        // The host's callback, by value: a context pointer is not `Sync`.
        let ctx = progress_ctx as usize;
        let relay = move |done: usize, total: usize| {
            if let Some(p) = progress {
                // SAFETY: per the ABI, the host's callback and its context
                // are valid, from any thread, while `compile` runs.
                unsafe { p(ctx as *mut c_void, done, total) }
            }
        };
        module.compile(&request.config, &request.job, Some(&relay))
    });
    let bytes = abi::encode_response(&r);
    // SAFETY: per the ABI, `out` is a valid place to write.
    unsafe { out.write(Bytes::from_vec(bytes)) };
}

unsafe extern "C" fn close_module(module: *mut c_void) {
    if module.is_null() {
        return;
    }
    // SAFETY: per the ABI, `module` came from `open_module` (a boxed Arc)
    // and is closed once. Dropping an Arc of plain data cannot panic.
    drop(unsafe { Box::from_raw(module as *mut Arc<dyn ModuleCompiler>) });
}

unsafe extern "C" fn free_bytes(bytes: Bytes) {
    // SAFETY: per the ABI, `bytes` is what this plugin returned (made by
    // `Bytes::from_vec` here), returned once.
    drop(unsafe { bytes.into_vec() });
}

extern "C" fn versioned_loops() -> u64 {
    crate::versioned_loops()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server end to end, through its C functions, as a host calls
    /// them: open, compile every job kind, a refused job, close.
    #[test]
    fn the_table_serves_a_module() {
        // SAFETY: `entry` returns a pointer to a static.
        let table = unsafe { &*entry() };
        table.check().unwrap();
        // SAFETY: the table passed the check and is static.
        let backend = unsafe { abi::PluginBackend::new(table) };
        let wasm: Arc<[u8]> = Arc::from(
            wat::parse_str(
                r#"(module (import "m" "f" (func))
                    (func (export "g") (param i32) (result i32)
                      (loop (br_if 0 (i32.eqz (local.get 0)))) (local.get 0)))"#,
            )
            .unwrap(),
        );
        let info = Arc::new(ModuleInfo::parse(&wasm).unwrap());
        let module = backend.open(&info, &wasm).unwrap();
        let config = CompilerConfig::default();
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |d: usize, t: usize| seen.lock().unwrap().push((d, t));
        let all = module
            .compile(&config, &Job::Module, Some(&progress))
            .unwrap();
        assert_eq!(all.len(), 2, "one batch and the trampolines");
        assert!(all.iter().all(|o| o.starts_with(b"\x7fELF")));
        assert_eq!(*seen.lock().unwrap(), vec![(1, 1)]);
        let one = module
            .compile(&config, &Job::Functions(vec![1]), None)
            .unwrap();
        assert_eq!(one.len(), 1);
        let e = module
            .compile(&config, &Job::Functions(vec![0]), None)
            .unwrap_err();
        assert!(e.message.contains("not a defined function"), "{e}");
        let e = module
            .compile(&config, &Job::Functions(vec![9]), None)
            .unwrap_err();
        assert!(e.message.contains("function 9"), "{e}");
        let aot = module.compile(&config, &Job::Aot, None).unwrap();
        assert_eq!(aot.len(), 3, "batch, trampolines, tables");
        // A module description the plugin cannot read is refused.
        let bad: Arc<[u8]> = Arc::from(&b"\0asm"[..]);
        let mut out = Bytes::EMPTY;
        // SAFETY: live buffers and a valid `out`, as the ABI asks.
        let h =
            unsafe { (table.open_module)(b"xx".as_ptr(), 2, bad.as_ptr(), bad.len(), &mut out) };
        assert!(h.is_null());
        // SAFETY: `out` was just filled by the plugin.
        let msg = String::from_utf8(unsafe { out.as_slice() }.to_vec()).unwrap();
        // SAFETY: returned once, to the plugin that made it.
        unsafe { (table.free_bytes)(out) };
        assert!(msg.contains("corrupt module description"), "{msg}");
    }

    #[test]
    fn unsupported_failures_name_what() {
        let f = failure(CompileError::InFunction {
            index: 2,
            name: "f".into(),
            error: Box::new(CompileError::Unsupported("thing".into())),
        });
        assert_eq!(f.unsupported.as_deref(), Some("thing"));
        assert!(f.message.contains("in function 2 (f)"), "{}", f.message);
        assert_eq!(failure(CompileError::Llvm("x".into())).unsupported, None);
    }
}
