//! The Emscripten host ABI: what `emcc app.c -o app.js` (JS mode) expects
//! its JavaScript runtime to provide, implemented natively, so `wasabi run
//! app.wasm` runs the `.wasm` beside the `.js` with no JavaScript.
//!
//! The functions are generated from the module's own imports
//! ([`add_to_linker`] looks at each `env` import and defines what it names,
//! with the type it declares where the ABI is variadic: `invoke_*`,
//! `__cxa_find_matching_catch_N`, unknown `__syscall_*`). WASI imports
//! (`wasi_snapshot_preview1`) go to [`crate::wasi`], over the same
//! [`WasiCtx`]; emcc legalises their `i64` parameters into two `i32`s
//! (JavaScript had no `i64`), and those legalised forms are defined here.
//!
//! Where things live:
//! - this file: [`EmscriptenState`], [`Options`], [`add_to_linker`], the
//!   import table, and [`Cx`], what every handler works through (the
//!   caller, its memory, the state, calls back into the guest's exports).
//! - [`runtime`]: start-up and exit as emscripten's JS runtime does them
//!   ([`run_main`]).
//! - [`syscalls`]: `__syscall_*` on the WASI descriptor table and preopens.
//! - [`exceptions`]: `invoke_*`, longjmp, and C++ exceptions
//!   (`__cxa_throw` and friends, emscripten 3.1's JS-implemented protocol).
//! - [`time`]: clocks and calendar time (`_localtime_js`, `strftime`, ...).
//! - [`memory`]: memory growth and copies, `setTempRet0`, process exit,
//!   abort and asserts.
//!
//! What must stay true:
//! - Every guest pointer is bounds-checked ([`GuestMemory`]): syscalls
//!   answer `-EFAULT`, other functions trap; nothing a guest passes can
//!   crash the host.
//! - Files are reached only through the WASI context's preopened
//!   directories, by the same code as WASI's `path_*` functions (the
//!   sandbox is WASI's; see [`syscalls`]).
//! - A longjmp or C++ throw is a host error ([`Unwind`]) that unwinds the
//!   wasm frames to the nearest `invoke_*`, which catches it exactly as the
//!   JS `invoke_*` catches a thrown number; every other error (a trap,
//!   `exit`) passes through `invoke_*` unchanged.
//! - Functions that are JavaScript (EM_JS, EM_ASM, JS libraries) are never
//!   silently stubbed: they fail to link with a message naming them, or,
//!   with [`Options::trap_unknown_imports`], trap when called.

pub mod exceptions;
pub mod memory;
pub mod runtime;
pub mod syscalls;
pub mod time;

pub use exceptions::Unwind;
pub use runtime::run_main;

use crate::wasi::{GuestMemory, WasiCtx};
use std::collections::HashMap;
use wasabi::{Caller, FuncType, HostError, Linker, Module, Val, ValType};

/// The import module of emscripten's JS functions.
pub const MODULE: &str = "env";

/// What the Emscripten ABI keeps per program, beside its [`WasiCtx`].
#[derive(Debug)]
pub struct EmscriptenState {
    /// The high 32 bits of a legalised `i64` result (`setTempRet0`).
    pub(crate) temp_ret0: i32,
    /// The current directory, absolute and normalised (`/` at start).
    pub(crate) cwd: String,
    /// Directory listings being read with `getdents64`, by fd.
    pub(crate) listings: HashMap<u32, syscalls::Listing>,
    pub(crate) exceptions: exceptions::ExceptionState,
    /// Set once the exit path (atexit handlers, stdio flush) has run.
    pub(crate) exiting: bool,
    /// Origin of `emscripten_get_now` and `clock()`.
    pub(crate) started: std::time::Instant,
    /// The program's instance, for host functions called with no calling
    /// instance (an import placed in the table and called by `invoke_*`).
    pub(crate) instance: Option<wasabi::Instance>,
}

impl Default for EmscriptenState {
    fn default() -> Self {
        EmscriptenState {
            temp_ret0: 0,
            cwd: "/".into(),
            listings: HashMap::new(),
            exceptions: Default::default(),
            exiting: false,
            started: std::time::Instant::now(),
            instance: None,
        }
    }
}

impl EmscriptenState {
    pub fn new() -> EmscriptenState {
        EmscriptenState::default()
    }
}

/// How to link a module's Emscripten imports.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Define every import nobody else can provide (JavaScript functions
    /// above all) as a function that traps, naming itself, when called;
    /// otherwise such imports fail to link.
    pub trap_unknown_imports: bool,
}

/// Finds the WASI context and the Emscripten state in the store's data.
pub type Getter<T> = for<'a> fn(&'a mut T) -> (&'a mut WasiCtx, &'a mut EmscriptenState);

/// One call of an Emscripten function: the caller (for its memory and
/// exports) and the state.
pub struct Cx<'a, 'b, T> {
    pub(crate) caller: &'a mut Caller<'b, T>,
    pub(crate) get: Getter<T>,
}

/// A guest pointer that does not fit in memory, as a trap.
pub(crate) fn fault(what: &str) -> HostError {
    format!("{what}: guest pointer out of bounds").into()
}

impl<'a, 'b, T> Cx<'a, 'b, T> {
    pub(crate) fn state(&mut self) -> &mut EmscriptenState {
        (self.get)(self.caller.data_mut()).1
    }

    pub(crate) fn wasi(&mut self) -> &mut WasiCtx {
        (self.get)(self.caller.data_mut()).0
    }

    /// Export `name` of the calling instance, or of the program's instance
    /// when the host function was called with none.
    pub(crate) fn export(&mut self, name: &str) -> Option<wasabi::Extern> {
        if let Some(e) = self.caller.get_export(name) {
            return Some(e);
        }
        let instance = self.state().instance?;
        instance.get_export(&mut *self.caller, name)
    }

    /// The caller's memory `memory` (its bytes) with the WASI context and
    /// the state.
    pub(crate) fn parts_raw(
        &mut self,
    ) -> Result<(&mut [u8], &mut WasiCtx, &mut EmscriptenState), HostError> {
        let m = self
            .export("memory")
            .and_then(|e| e.into_memory())
            .ok_or("emscripten module exports no memory named `memory`")?;
        let (bytes, data) = m.data_and_store_mut(&mut *self.caller);
        let (wasi, state) = (self.get)(data);
        Ok((bytes, wasi, state))
    }

    /// [`Cx::parts_raw`] with the memory bounds-checked.
    pub(crate) fn parts(
        &mut self,
    ) -> Result<(GuestMemory<'_>, &mut WasiCtx, &mut EmscriptenState), HostError> {
        let (bytes, wasi, state) = self.parts_raw()?;
        Ok((GuestMemory::new(bytes), wasi, state))
    }

    /// The caller's memory.
    pub(crate) fn mem(&mut self) -> Result<GuestMemory<'_>, HostError> {
        Ok(self.parts()?.0)
    }

    /// Whether the caller exports a function `name`.
    pub(crate) fn has_export(&mut self, name: &str) -> bool {
        self.export(name).and_then(|e| e.into_func()).is_some()
    }

    /// Calls the caller's exported function `name` (an error if there is
    /// none: the module was not built with what this function needs).
    pub(crate) fn call_export(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, HostError> {
        let f = self
            .export(name)
            .and_then(|e| e.into_func())
            .ok_or_else(|| format!("emscripten: the module exports no `{name}`, needed here"))?;
        f.call_vec(&mut *self.caller, args)
            .map_err(|e| -> HostError { pass_through(e) })
    }

    /// [`Cx::call_export`] for a function returning one `i32`.
    pub(crate) fn call_i32(&mut self, name: &str, args: &[Val]) -> Result<i32, HostError> {
        match self.call_export(name, args)?.first() {
            Some(Val::I32(v)) => Ok(*v),
            _ => Err(format!("emscripten: export `{name}` does not return an i32").into()),
        }
    }

    pub(crate) fn malloc(&mut self, size: u32) -> Result<u32, HostError> {
        Ok(self.call_i32("malloc", &[Val::I32(size as i32)])? as u32)
    }

    pub(crate) fn free(&mut self, ptr: u32) -> Result<(), HostError> {
        self.call_export("free", &[Val::I32(ptr as i32)])?;
        Ok(())
    }

    /// Sets the guest's `errno` (through its `__errno_location`), when it
    /// exports one.
    pub(crate) fn set_errno(&mut self, errno: u16) -> Result<(), HostError> {
        if !self.has_export("__errno_location") {
            return Ok(());
        }
        let at = self.call_i32("__errno_location", &[])? as u32;
        self.mem()?
            .write_u32(at, errno as u32)
            .map_err(|_| fault("errno"))
    }
}

/// An error from a call back into the guest, as the error of the host
/// function that made it: a host error (`exit`, a longjmp, a throw) passes
/// through unchanged, so whoever catches it above still recognises it; a
/// trap becomes an error carrying the trap.
pub(crate) fn pass_through(e: wasabi::Error) -> HostError {
    match e {
        wasabi::Error::Trap(mut t) => match t.host_error.take() {
            Some(h) => h,
            None => Box::new(t),
        },
        other => other.to_string().into(),
    }
}

/// A handler: the call, the arguments (of the import's type), the results
/// (preset to zeros).
pub(crate) type Handler<T> = fn(&mut Cx<'_, '_, T>, &[Val], &mut [Val]) -> Result<(), HostError>;

pub(crate) const I32: ValType = ValType::I32;
pub(crate) const F64: ValType = ValType::F64;

pub(crate) fn arg_u32(args: &[Val], i: usize) -> u32 {
    match args.get(i) {
        Some(Val::I32(v)) => *v as u32,
        _ => 0,
    }
}

pub(crate) fn arg_i32(args: &[Val], i: usize) -> i32 {
    arg_u32(args, i) as i32
}

pub(crate) fn set_i32(results: &mut [Val], v: i32) {
    if let Some(r) = results.first_mut() {
        *r = Val::I32(v);
    }
}

/// An `env` function: its name and type (`None`: whatever the import
/// declares), and how it is implemented.
pub(crate) struct EnvFunc<T> {
    pub ty: Option<FuncType>,
    pub handler: Handler<T>,
}

fn ty(params: &[ValType], results: &[ValType]) -> Option<FuncType> {
    Some(FuncType::new(params, results))
}

/// The implementation of `env::name` as imported with type `declared`, if
/// this ABI has one.
pub(crate) fn env_function<T: 'static>(name: &str, declared: &FuncType) -> Option<EnvFunc<T>> {
    use exceptions as ex;
    use memory as mm;
    use syscalls as sc;
    use time as tm;
    let f = |ty: Option<FuncType>, handler: Handler<T>| Some(EnvFunc { ty, handler });
    let i = I32;
    if name.starts_with("invoke_") {
        return f(None, ex::invoke);
    }
    if name.starts_with("__cxa_find_matching_catch_") {
        return f(None, ex::find_matching_catch);
    }
    match name {
        "emscripten_memcpy_big" => f(ty(&[i, i, i], &[i]), mm::memcpy_big),
        "emscripten_resize_heap" => f(ty(&[i], &[i]), mm::resize_heap),
        "emscripten_notify_memory_growth" => f(ty(&[i], &[]), mm::nothing),
        "emscripten_get_heap_max" => f(ty(&[], &[i]), mm::heap_max),
        "setTempRet0" => f(ty(&[i], &[]), mm::set_temp_ret0),
        "getTempRet0" => f(ty(&[], &[i]), mm::get_temp_ret0),
        "abort" => f(ty(&[], &[]), mm::abort),
        "__assert_fail" => f(ty(&[i, i, i, i], &[]), mm::assert_fail),
        "exit" | "_exit" => f(ty(&[i], &[]), mm::exit),
        "getentropy" => f(ty(&[i, i], &[i]), mm::getentropy),
        "_emscripten_throw_longjmp" => f(ty(&[], &[]), ex::throw_longjmp),
        "emscripten_longjmp" => f(ty(&[i, i], &[]), ex::emscripten_longjmp),
        "__cxa_allocate_exception" => f(ty(&[i], &[i]), ex::allocate_exception),
        "__cxa_free_exception" => f(ty(&[i], &[]), ex::free_exception),
        "__cxa_throw" => f(ty(&[i, i, i], &[]), ex::throw),
        "__cxa_rethrow" => f(ty(&[], &[]), ex::rethrow),
        "__cxa_begin_catch" => f(ty(&[i], &[i]), ex::begin_catch),
        "__cxa_end_catch" => f(ty(&[], &[]), ex::end_catch),
        "__cxa_get_exception_ptr" => f(ty(&[i], &[i]), ex::get_exception_ptr),
        "__cxa_uncaught_exceptions" => f(ty(&[], &[i]), ex::uncaught_exceptions),
        "__cxa_increment_exception_refcount" => f(ty(&[i], &[]), ex::increment_refcount),
        "__cxa_decrement_exception_refcount" => f(ty(&[i], &[]), ex::decrement_refcount),
        "__cxa_current_primary_exception" => f(ty(&[], &[i]), ex::current_primary),
        "__cxa_rethrow_primary_exception" => f(ty(&[i], &[]), ex::rethrow_primary),
        "__cxa_call_unexpected" => f(ty(&[i], &[]), ex::call_unexpected),
        "__resumeException" => f(ty(&[i], &[]), ex::resume_exception),
        "llvm_eh_typeid_for" => f(ty(&[i], &[i]), ex::typeid_for),
        "emscripten_get_now" => f(ty(&[], &[F64]), tm::get_now),
        "emscripten_get_now_res" => f(ty(&[], &[F64]), tm::get_now_res),
        "emscripten_date_now" => f(ty(&[], &[F64]), tm::date_now),
        "_emscripten_get_now_is_monotonic" => f(ty(&[], &[i]), tm::is_monotonic),
        "clock_gettime" => f(ty(&[i, i], &[i]), tm::clock_gettime),
        "clock_getres" => f(ty(&[i, i], &[i]), tm::clock_getres),
        "gettimeofday" => f(ty(&[i, i], &[i]), tm::gettimeofday),
        "time" => f(ty(&[i], &[i]), tm::time),
        "clock" => f(ty(&[], &[i]), tm::clock),
        "_tzset_js" => f(ty(&[i, i, i], &[]), tm::tzset),
        "_localtime_js" => f(ty(&[i, i], &[]), tm::localtime),
        "_gmtime_js" => f(ty(&[i, i], &[]), tm::gmtime),
        "_mktime_js" => f(ty(&[i], &[i]), tm::mktime),
        "_timegm_js" => f(ty(&[i], &[i]), tm::timegm),
        "strftime" => f(ty(&[i, i, i, i], &[i]), tm::strftime),
        "strftime_l" => f(ty(&[i, i, i, i, i], &[i]), tm::strftime),
        // Unknown syscalls take whatever they declare and answer -ENOSYS.
        _ if name.starts_with("__syscall_") => f(
            Some(declared.clone()),
            sc::syscall::<T>(&name["__syscall_".len()..]).unwrap_or(sc::nosys),
        ),
        _ => None,
    }
}

/// Why an import is JavaScript wasabi cannot run, for the link error.
pub(crate) fn javascript_kind(name: &str) -> &'static str {
    if name.starts_with("emscripten_asm_const") {
        "EM_ASM JavaScript"
    } else if name.starts_with("emscripten_") || name.starts_with("_emscripten_") {
        "an emscripten JS library function wasabi does not implement"
    } else {
        "EM_JS or a JS library function"
    }
}

/// WASI functions emcc imports with their `i64` parameters legalised into
/// (low, high) `i32` pairs.
fn legalised(declared: &FuncType, wasi: &FuncType) -> bool {
    let mut want = Vec::new();
    for p in &wasi.params {
        match p {
            ValType::I64 => want.extend([ValType::I32, ValType::I32]),
            t => want.push(*t),
        }
    }
    declared.params == want && declared.results == wasi.results && declared != wasi
}

/// Defines, in `linker`, every `env` import of `module` this ABI
/// implements (with the type the module declares where the ABI is
/// variadic), and the legalised forms of its WASI imports. WASI itself must
/// be registered too ([`crate::wasi::add_to_linker`]). Imports from `env`
/// that are JavaScript are an error naming them all, unless
/// [`Options::trap_unknown_imports`] (see [`define_unknown_as_traps`]).
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    module: &Module,
    options: &Options,
    get: Getter<T>,
) -> Result<(), String> {
    let info = module.info();
    let mut javascript = Vec::new();
    for imp in &info.imports {
        let wasabi::internals::runtime::module::ImportKind::Func(type_index) = imp.kind else {
            continue;
        };
        let declared = info.types[type_index as usize].clone();
        if imp.module == crate::wasi::MODULE {
            if let Some(w) = crate::wasi::function(&imp.name) {
                if legalised(&declared, &w.ty()) {
                    define_legalised(linker, w.name, &declared, get)?;
                }
            }
            continue;
        }
        if imp.module != MODULE {
            continue;
        }
        match env_function::<T>(&imp.name, &declared) {
            Some(e) => {
                let fty = e.ty.unwrap_or_else(|| declared.clone());
                let handler = e.handler;
                let r =
                    linker.func_new(MODULE, &imp.name, fty, move |mut caller, args, results| {
                        if let Some(i) = caller.instance() {
                            get(caller.data_mut()).1.instance = Some(i);
                        }
                        let mut cx = Cx {
                            caller: &mut caller,
                            get,
                        };
                        handler(&mut cx, args, results)
                    });
                // A name imported twice (with two types) is defined once;
                // the linker reports the other type as a mismatch.
                if let Err(e) = r {
                    if !e.to_string().contains("already defined") {
                        return Err(e.to_string());
                    }
                }
            }
            None if options.trap_unknown_imports => {}
            None => javascript.push(format!(
                "`env::{}` {} ({})",
                imp.name,
                declared,
                javascript_kind(&imp.name)
            )),
        }
    }
    if !javascript.is_empty() {
        return Err(format!(
            "this Emscripten module imports JavaScript that wasabi cannot run: {}; rebuild \
             without it, or pass --trap-unknown-imports to make each trap when called",
            javascript.join(", ")
        ));
    }
    if options.trap_unknown_imports {
        define_unknown_as_traps(linker, module)?;
    }
    Ok(())
}

/// Defines every function import of `module` that `linker` does not define
/// yet as a function that traps, naming itself, when called.
pub fn define_unknown_as_traps<T: 'static>(
    linker: &mut Linker<T>,
    module: &Module,
) -> Result<(), String> {
    let info = module.info();
    for imp in &info.imports {
        let wasabi::internals::runtime::module::ImportKind::Func(type_index) = imp.kind else {
            continue;
        };
        let declared = info.types[type_index as usize].clone();
        let what = format!("{}::{}", imp.module, imp.name);
        let r = linker.func_new(&imp.module, &imp.name, declared, move |_, _, _| {
            Err(format!(
                "called `{what}`, an import wasabi cannot provide (it was made to trap by \
                 --trap-unknown-imports)"
            )
            .into())
        });
        if let Err(e) = r {
            if !e.to_string().contains("already defined") {
                return Err(e.to_string());
            }
        }
    }
    Ok(())
}

/// Defines the legalised form of WASI function `name` (each `i64`
/// parameter passed as two `i32`s, low half first), shadowing WASI's own.
fn define_legalised<T: 'static>(
    linker: &mut Linker<T>,
    name: &'static str,
    declared: &FuncType,
    get: Getter<T>,
) -> Result<(), String> {
    let wasi_ty = crate::wasi::function(name).expect("a WASI function").ty();
    linker.allow_shadowing(true);
    let r = linker.func_new(
        crate::wasi::MODULE,
        name,
        declared.clone(),
        move |mut caller, args, results| {
            let mut joined = Vec::with_capacity(wasi_ty.params.len());
            let mut it = args.iter();
            for p in &wasi_ty.params {
                match p {
                    ValType::I64 => {
                        let mut half = || it.next().and_then(Val::i32).unwrap_or(0) as u32 as u64;
                        let lo = half();
                        let hi = half();
                        joined.push(Val::I64((hi << 32 | lo) as i64));
                    }
                    _ => joined.push(it.next().copied().unwrap_or(Val::I32(0))),
                }
            }
            let mut cx = Cx {
                caller: &mut caller,
                get,
            };
            let errno = match cx.parts_raw() {
                Ok((bytes, wasi, _)) => crate::wasi::call_direct(wasi, Some(bytes), name, &joined)?,
                Err(_) => crate::wasi::call_direct(cx.wasi(), None, name, &joined)?,
            };
            set_i32(results, errno.0 as i32);
            Ok(())
        },
    );
    let r = r.map(|_| ()).map_err(|e| e.to_string());
    linker.allow_shadowing(false);
    r
}

#[cfg(test)]
mod tests;
