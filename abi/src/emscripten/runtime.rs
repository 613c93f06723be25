//! Start-up and exit as emscripten's JS runtime (`run`, `callMain`, `exit`)
//! does them, for a module instantiated with this ABI.
//!
//! [`run_main`]: `emscripten_stack_init` (if exported), then
//! `__wasm_call_ctors` (if exported), then `argv` built on the guest's
//! stack (`stackAlloc`; `malloc` if there is no `stackAlloc`): argv[0] is
//! the program name, then the arguments, then NULL; then `main(argc,
//! argv)` (or `main()` when it takes nothing; `__main_argc_argv` too).
//! When `main` returns `n`, the exit path runs as `exit(n)` would: atexit
//! handlers (`__funcs_on_exit`, exported by `-sEXIT_RUNTIME` builds), then
//! stdio is flushed (`__stdio_exit`, else `fflush(0)`, when exported;
//! without either, output still buffered is lost, as under JavaScript);
//! then the program ends with status `n`.
//!
//! What must stay true: the result is that of a WASI command (see
//! [`crate::wasi::command_status`]): `Ok` for status 0, an [`Exit`] trap
//! for any other status, any other trap as it happened.

use super::{EmscriptenState, Getter};
use crate::wasi::{Exit, WasiCtx};
use wasabi::{Func, Instance, Store, Val};

/// Whether `instance` looks like emscripten output to run with
/// [`run_main`]: it exports `main` (or `__main_argc_argv`) and no
/// `_start`.
pub fn has_main<T>(store: &mut Store<T>, instance: Instance) -> bool {
    instance.get_func(&mut *store, "_start").is_none() && main_func(store, instance).is_some()
}

fn main_func<T>(store: &mut Store<T>, instance: Instance) -> Option<Func> {
    instance
        .get_func(&mut *store, "main")
        .or_else(|| instance.get_func(&mut *store, "__main_argc_argv"))
}

fn call<T>(store: &mut Store<T>, f: Func, args: &[Val]) -> wasabi::Result<Vec<Val>> {
    f.call_vec(&mut *store, args)
}

fn call_export<T>(
    store: &mut Store<T>,
    instance: Instance,
    name: &str,
    args: &[Val],
) -> wasabi::Result<Option<Vec<Val>>> {
    match instance.get_func(&mut *store, name) {
        Some(f) => call(store, f, args).map(Some),
        None => Ok(None),
    }
}

fn setup_error(message: String) -> wasabi::Error {
    wasabi::Error::Trap(wasabi::Trap::host(message.into()))
}

/// Writes argv (`args`, then NULL) into guest memory; returns its address.
fn build_argv<T>(
    store: &mut Store<T>,
    instance: Instance,
    args: &[Vec<u8>],
) -> wasabi::Result<u32> {
    let table = (args.len() + 1) * 4;
    let strings: usize = args.iter().map(|a| a.len() + 1).sum();
    let total = (table + strings).div_ceil(16) * 16;
    let total = u32::try_from(total).map_err(|_| setup_error("arguments too large".into()))?;
    let alloc = if instance.get_func(&mut *store, "stackAlloc").is_some() {
        "stackAlloc"
    } else {
        "malloc"
    };
    let base = match call_export(store, instance, alloc, &[Val::I32(total as i32)])? {
        Some(r) => r.first().and_then(Val::i32).unwrap_or(0) as u32,
        None => {
            return Err(setup_error(
                "emscripten: `main` takes argc and argv, but the module exports neither \
                 `stackAlloc` nor `malloc` to put them in"
                    .into(),
            ))
        }
    };
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| setup_error("emscripten module exports no memory named `memory`".into()))?;
    let mut bytes = Vec::with_capacity(total as usize);
    let mut at = base as usize + table;
    for a in args {
        bytes.extend_from_slice(&(at as u32).to_le_bytes());
        at += a.len() + 1;
    }
    bytes.extend_from_slice(&0u32.to_le_bytes());
    for a in args {
        bytes.extend_from_slice(a);
        bytes.push(0);
    }
    memory
        .write(&mut *store, base as usize, &bytes)
        .map_err(|e| setup_error(format!("emscripten: cannot write argv: {e}")))?;
    Ok(base)
}

/// Runs the exit path (atexit handlers, stdio flush) once.
fn exit_runtime<T>(store: &mut Store<T>, instance: Instance, get: Getter<T>) -> wasabi::Result<()> {
    if std::mem::replace(&mut get(store.data_mut()).1.exiting, true) {
        return Ok(());
    }
    call_export(store, instance, "__funcs_on_exit", &[])?;
    if call_export(store, instance, "__stdio_exit", &[])?.is_none() {
        call_export(store, instance, "fflush", &[Val::I32(0)])?;
    }
    Ok(())
}

/// Runs an instantiated emscripten program as its JS runtime would (see
/// the module docs): `Ok` when it ends with status 0, an [`Exit`] trap for
/// another status, or the trap that ended it.
pub fn run_main<T>(store: &mut Store<T>, instance: Instance, get: Getter<T>) -> wasabi::Result<()> {
    let main = main_func(store, instance)
        .ok_or_else(|| setup_error("emscripten module exports no `main`".into()))?;
    get(store.data_mut()).1.instance = Some(instance);
    call_export(store, instance, "emscripten_stack_init", &[])?;
    call_export(store, instance, "__wasm_call_ctors", &[])?;
    let ty = main.ty(&*store);
    let args: Vec<Val> = match ty.params.len() {
        0 => Vec::new(),
        2 => {
            let argv_list: Vec<Vec<u8>> = {
                let (wasi, _): (&mut WasiCtx, &mut EmscriptenState) = get(store.data_mut());
                wasi.args.clone()
            };
            let argv = build_argv(store, instance, &argv_list)?;
            vec![Val::I32(argv_list.len() as i32), Val::I32(argv as i32)]
        }
        _ => {
            return Err(setup_error(format!(
                "emscripten: `main` has type {ty}; expected (i32 i32) -> i32 or () -> i32"
            )))
        }
    };
    let results = call(store, main, &args)?;
    let status = results.first().and_then(Val::i32).unwrap_or(0);
    exit_runtime(store, instance, get)?;
    if status == 0 {
        Ok(())
    } else {
        Err(wasabi::Error::Trap(wasabi::Trap::host(Box::new(Exit(
            status,
        )))))
    }
}
