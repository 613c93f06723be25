//! `invoke_*`, longjmp, and C++ exceptions as emscripten 3.1's JS runtime
//! implements them (`src/library_exceptions.js`), natively.
//!
//! The protocol: code that may unwind (a call inside `try`, or below a
//! `setjmp`) is compiled to call `invoke_<sig>(index, args...)`, which
//! calls table entry `index`. A throw (`__cxa_throw`, `__cxa_rethrow`,
//! `__resumeException`) or a longjmp (`_emscripten_throw_longjmp`, after
//! the guest's `setThrew(env, value)`) is a host error, [`Unwind`]; it
//! unwinds the wasm frames up to the nearest `invoke_*` (the runtime's
//! trap machinery, as for any host error), which then restores the stack
//! pointer (`stackRestore`), calls `setThrew(1, 0)` and returns zeros. The
//! compiled code looks at `__THREW__` and dispatches: a landing pad calls
//! `__cxa_find_matching_catch_N(types...)`, which picks the catch clause
//! (`__cxa_can_catch`, exported by the guest's libc++abi) and answers a
//! "catch info" block (two words: the thrown object, the adjusted pointer,
//! malloc'd in guest memory) with the matched type in `tempRet0`.
//!
//! The thrown object is preceded by a 16-byte header (emscripten's
//! `__cxa_exception`): reference count @0, type @4, destructor @8, caught
//! @12 (u8), rethrown @13 (u8).
//!
//! What must stay true: only [`Unwind`] is caught by `invoke_*`; a trap or
//! any other host error (`exit`, `abort`) passes through it unchanged.

use super::{arg_u32, fault, pass_through, set_i32, Cx};
use wasabi::{HostError, Val};

/// What unwinds through wasm frames to an `invoke_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwind {
    /// A `longjmp` (the target is in the guest's `__THREW__`).
    Longjmp,
    /// A C++ exception: the thrown object's address.
    Cxx(u32),
}

impl std::fmt::Display for Unwind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unwind::Longjmp => write!(f, "longjmp to a setjmp buffer no longer on the stack"),
            Unwind::Cxx(p) => write!(f, "uncaught C++ exception (thrown object at {p:#x})"),
        }
    }
}

impl std::error::Error for Unwind {}

/// The runtime's exception bookkeeping (the JS globals of
/// `library_exceptions.js`).
#[derive(Debug, Default)]
pub(crate) struct ExceptionState {
    /// Catch-info blocks of the exceptions being handled, innermost last.
    caught: Vec<u32>,
    /// The exception being thrown (0: none).
    last: u32,
    uncaught: i32,
}

const HEADER: u32 = 16;

fn read<T>(cx: &mut Cx<'_, '_, T>, at: u32) -> Result<u32, HostError> {
    cx.mem()?.read_u32(at).map_err(|_| fault("C++ exception"))
}

fn write<T>(cx: &mut Cx<'_, '_, T>, at: u32, v: u32) -> Result<(), HostError> {
    cx.mem()?
        .write_u32(at, v)
        .map_err(|_| fault("C++ exception"))
}

fn read_u8<T>(cx: &mut Cx<'_, '_, T>, at: u32) -> Result<u8, HostError> {
    cx.mem()?.read_u8(at).map_err(|_| fault("C++ exception"))
}

fn write_u8<T>(cx: &mut Cx<'_, '_, T>, at: u32, v: u8) -> Result<(), HostError> {
    cx.mem()?
        .write_u8(at, v)
        .map_err(|_| fault("C++ exception"))
}

/// The header of thrown object `exc`.
fn header(exc: u32) -> u32 {
    exc.wrapping_sub(HEADER)
}

fn add_ref<T>(cx: &mut Cx<'_, '_, T>, exc: u32) -> Result<(), HostError> {
    let h = header(exc);
    let n = read(cx, h)?;
    write(cx, h, n.wrapping_add(1))
}

/// Drops a reference; the last one (unless the exception is being
/// rethrown) runs the destructor and frees the object.
fn dec_ref<T>(cx: &mut Cx<'_, '_, T>, exc: u32) -> Result<(), HostError> {
    let h = header(exc);
    let prev = read(cx, h)?;
    write(cx, h, prev.wrapping_sub(1))?;
    if prev == 1 && read_u8(cx, h + 13)? == 0 {
        let destructor = read(cx, h + 8)?;
        if destructor != 0 {
            call_table(cx, destructor, &[Val::I32(exc as i32)])?;
        }
        cx.free(h)?;
    }
    Ok(())
}

/// Calls table entry `index` of the caller's `__indirect_function_table`
/// with `args`, returning its results.
fn call_table<T>(
    cx: &mut Cx<'_, '_, T>,
    index: u32,
    args: &[Val],
) -> Result<Vec<Val>, wasabi::Error> {
    let func = table_func(cx, index).map_err(|e| wasabi::Error::Trap(wasabi::Trap::host(e)))?;
    func.call_vec(&mut *cx.caller, args)
}

fn table_func<T>(cx: &mut Cx<'_, '_, T>, index: u32) -> Result<wasabi::Func, HostError> {
    let table = cx
        .export("__indirect_function_table")
        .and_then(|e| e.into_table())
        .ok_or("emscripten: the module exports no `__indirect_function_table`")?;
    match table.get(&mut *cx.caller, index) {
        Some(Val::FuncRef(Some(f))) => Ok(f),
        Some(_) => {
            Err(format!("wasm trap: uninitialized element {index} of the function table").into())
        }
        None => Err(
            format!("wasm trap: undefined element: table index {index} is out of bounds").into(),
        ),
    }
}

pub(crate) fn invoke<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    let index = arg_u32(a, 0);
    let sp = if cx.has_export("stackSave") {
        Some(cx.call_i32("stackSave", &[])?)
    } else {
        None
    };
    let func = table_func(cx, index)?;
    let ty = func.ty(&*cx.caller);
    let args = &a[1.min(a.len())..];
    let given: Vec<_> = args.iter().map(Val::ty).collect();
    if ty.params != given || ty.results.len() != r.len() {
        return Err(format!(
            "wasm trap: indirect call type mismatch: invoke of table element {index} ({ty}) with \
             arguments ({})",
            given
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into());
    }
    match func.call(&mut *cx.caller, args, r) {
        Ok(()) => Ok(()),
        Err(wasabi::Error::Trap(mut t))
            if t.host_error
                .as_ref()
                .is_some_and(|e| e.downcast_ref::<Unwind>().is_some()) =>
        {
            t.host_error = None;
            if let Some(sp) = sp {
                cx.call_export("stackRestore", &[Val::I32(sp)])?;
            }
            cx.call_export("setThrew", &[Val::I32(1), Val::I32(0)])?;
            for (v, t) in r.iter_mut().zip(&ty.results) {
                *v = Val::default_for(*t);
            }
            Ok(())
        }
        Err(e) => Err(pass_through(e)),
    }
}

pub(crate) fn throw_longjmp<T>(
    _: &mut Cx<'_, '_, T>,
    _: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    Err(Box::new(Unwind::Longjmp))
}

pub(crate) fn emscripten_longjmp<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    let v = if a.get(1).and_then(Val::i32) == Some(0) {
        1
    } else {
        a.get(1).and_then(Val::i32).unwrap_or(1)
    };
    cx.call_export(
        "setThrew",
        &[a.first().copied().unwrap_or(Val::I32(0)), Val::I32(v)],
    )?;
    Err(Box::new(Unwind::Longjmp))
}

pub(crate) fn allocate_exception<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let size = arg_u32(a, 0)
        .checked_add(HEADER)
        .ok_or("__cxa_allocate_exception: size too large")?;
    let p = cx.malloc(size)?;
    if p == 0 {
        return Err("__cxa_allocate_exception: out of memory".into());
    }
    set_i32(r, (p + HEADER) as i32);
    Ok(())
}

pub(crate) fn free_exception<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    cx.free(header(arg_u32(a, 0)))
}

pub(crate) fn throw<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    let (exc, ty, destructor) = (arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2));
    let h = header(exc);
    write(cx, h, 0)?;
    write(cx, h + 4, ty)?;
    write(cx, h + 8, destructor)?;
    write_u8(cx, h + 12, 0)?;
    write_u8(cx, h + 13, 0)?;
    let st = &mut cx.state().exceptions;
    st.last = exc;
    st.uncaught += 1;
    Err(Box::new(Unwind::Cxx(exc)))
}

pub(crate) fn rethrow<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    let Some(info) = cx.state().exceptions.caught.pop() else {
        return Err(Box::new(super::memory::Abort(
            "no exception to throw".into(),
        )));
    };
    let exc = read(cx, info)?;
    let h = header(exc);
    if read_u8(cx, h + 13)? == 0 {
        cx.state().exceptions.caught.push(info);
        write_u8(cx, h + 13, 1)?;
        write_u8(cx, h + 12, 0)?;
        cx.state().exceptions.uncaught += 1;
    } else {
        cx.free(info)?;
    }
    cx.state().exceptions.last = exc;
    Err(Box::new(Unwind::Cxx(exc)))
}

pub(crate) fn resume_exception<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    let info = arg_u32(a, 0);
    let exc = read(cx, info)?;
    if cx.state().exceptions.last == 0 {
        cx.state().exceptions.last = exc;
    }
    cx.free(info)?;
    Err(Box::new(Unwind::Cxx(exc)))
}

pub(crate) fn find_matching_catch<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let thrown = cx.state().exceptions.last;
    if thrown == 0 {
        cx.state().temp_ret0 = 0;
        set_i32(r, 0);
        return Ok(());
    }
    let thrown_type = read(cx, header(thrown) + 4)?;
    let info = cx.malloc(8)?;
    if info == 0 {
        return Err("__cxa_find_matching_catch: out of memory".into());
    }
    write(cx, info, thrown)?;
    write(cx, info + 4, thrown)?;
    set_i32(r, info as i32);
    let mut matched = thrown_type;
    if thrown_type != 0 {
        for v in a {
            let caught = v.i32().unwrap_or(0) as u32;
            if caught == 0 || caught == thrown_type {
                break;
            }
            let can = cx.call_i32(
                "__cxa_can_catch",
                &[
                    Val::I32(caught as i32),
                    Val::I32(thrown_type as i32),
                    Val::I32((info + 4) as i32),
                ],
            )?;
            if can != 0 {
                matched = caught;
                break;
            }
        }
    }
    cx.state().temp_ret0 = matched as i32;
    Ok(())
}

/// What a catch clause gets for catch info `info`: the object (or, for a
/// pointer type, the pointer thrown), adjusted to the caught base class.
fn exception_ptr<T>(cx: &mut Cx<'_, '_, T>, info: u32) -> Result<u32, HostError> {
    let exc = read(cx, info)?;
    let ty = read(cx, header(exc) + 4)?;
    if cx.has_export("__cxa_is_pointer_type")
        && cx.call_i32("__cxa_is_pointer_type", &[Val::I32(ty as i32)])? != 0
    {
        return read(cx, exc);
    }
    let adjusted = read(cx, info + 4)?;
    Ok(if adjusted != 0 { adjusted } else { exc })
}

pub(crate) fn begin_catch<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let info = arg_u32(a, 0);
    let exc = read(cx, info)?;
    let h = header(exc);
    if read_u8(cx, h + 12)? == 0 {
        write_u8(cx, h + 12, 1)?;
        cx.state().exceptions.uncaught -= 1;
    }
    write_u8(cx, h + 13, 0)?;
    cx.state().exceptions.caught.push(info);
    add_ref(cx, exc)?;
    let p = exception_ptr(cx, info)?;
    set_i32(r, p as i32);
    Ok(())
}

pub(crate) fn end_catch<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    cx.call_export("setThrew", &[Val::I32(0), Val::I32(0)])?;
    let Some(info) = cx.state().exceptions.caught.pop() else {
        return Err(Box::new(super::memory::Abort(
            "__cxa_end_catch with no exception being caught".into(),
        )));
    };
    let exc = read(cx, info)?;
    dec_ref(cx, exc)?;
    cx.free(info)?;
    cx.state().exceptions.last = 0;
    Ok(())
}

pub(crate) fn get_exception_ptr<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let p = exception_ptr(cx, arg_u32(a, 0))?;
    set_i32(r, p as i32);
    Ok(())
}

pub(crate) fn uncaught_exceptions<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let n = cx.state().exceptions.uncaught;
    set_i32(r, n);
    Ok(())
}

pub(crate) fn increment_refcount<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    match arg_u32(a, 0) {
        0 => Ok(()),
        exc => add_ref(cx, exc),
    }
}

pub(crate) fn decrement_refcount<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    match arg_u32(a, 0) {
        0 => Ok(()),
        exc => dec_ref(cx, exc),
    }
}

pub(crate) fn current_primary<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let Some(&info) = cx.state().exceptions.caught.last() else {
        set_i32(r, 0);
        return Ok(());
    };
    let exc = read(cx, info)?;
    add_ref(cx, exc)?;
    set_i32(r, exc as i32);
    Ok(())
}

pub(crate) fn rethrow_primary<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let exc = arg_u32(a, 0);
    if exc == 0 {
        return Ok(());
    }
    let info = cx.malloc(8)?;
    if info == 0 {
        return Err("__cxa_rethrow_primary_exception: out of memory".into());
    }
    write(cx, info, exc)?;
    write(cx, info + 4, 0)?;
    cx.state().exceptions.caught.push(info);
    write_u8(cx, header(exc) + 13, 1)?;
    rethrow(cx, &[], r)
}

pub(crate) fn call_unexpected<T>(
    _: &mut Cx<'_, '_, T>,
    _: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    Err(Box::new(super::memory::Abort(
        "unexpected exception thrown (dynamic exception specifications are not supported)".into(),
    )))
}

pub(crate) fn typeid_for<T>(
    _: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    set_i32(r, arg_u32(a, 0) as i32);
    Ok(())
}
