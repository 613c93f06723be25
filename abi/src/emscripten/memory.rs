//! Memory growth and copies, `setTempRet0`/`getTempRet0`, and the ways a
//! program ends: `exit`, `abort`, `__assert_fail`.
//!
//! `emscripten_resize_heap(size)` grows the memory to at least `size`
//! bytes, over-allocating as emscripten's JS does (20% more, at most 96
//! MiB more), falling back to the exact size, never past the memory's
//! declared maximum nor 2 GiB (emscripten's default heap limit, which keeps
//! pointers positive as `int`s); it answers 1 on success, 0 when the memory cannot
//! grow (so `malloc` returns NULL rather than the program aborting).
//!
//! What must stay true: `exit(n)` runs the guest's exit path once (atexit
//! handlers through `__funcs_on_exit`, then the stdio flush) and then ends
//! the program with [`Exit`]`(n)`, which passes through `invoke_*`.

use super::{arg_i32, arg_u32, fault, set_i32, Cx};
use crate::wasi::Exit;
use wasabi::{HostError, Val};

const PAGE: u64 = 65536;
/// The largest heap, in pages: 2 GiB, emscripten's default `MAXIMUM_MEMORY`.
const MAX_PAGES: u64 = 32768;

pub(crate) fn memcpy_big<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let (dest, src, n) = (arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2));
    let (bytes, _, _) = cx.parts_raw()?;
    let fits = |p: u32| {
        (p as usize)
            .checked_add(n as usize)
            .is_some_and(|e| e <= bytes.len())
    };
    if !fits(src) || !fits(dest) {
        return Err(fault("emscripten_memcpy_big"));
    }
    let src = src as usize;
    bytes.copy_within(src..src + n as usize, dest as usize);
    set_i32(r, dest as i32);
    Ok(())
}

pub(crate) fn resize_heap<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let requested = arg_u32(a, 0) as u64;
    let memory = cx
        .export("memory")
        .and_then(|e| e.into_memory())
        .ok_or("emscripten_resize_heap: the module exports no memory")?;
    let old = memory.data_size(&*cx.caller) as u64;
    let max_pages = memory
        .ty(&*cx.caller)
        .maximum
        .unwrap_or(MAX_PAGES)
        .min(MAX_PAGES);
    let max = max_pages * PAGE;
    if requested <= old {
        set_i32(r, 1);
        return Ok(());
    }
    if requested > max {
        set_i32(r, 0);
        return Ok(());
    }
    let align = |x: u64| x.div_ceil(PAGE) * PAGE;
    let generous = align(requested.max(old + (old / 5).min(96 << 20))).min(max);
    for target in [generous, align(requested)] {
        let delta = (target - old) / PAGE;
        if memory.grow(&mut *cx.caller, delta).is_ok() {
            set_i32(r, 1);
            return Ok(());
        }
    }
    set_i32(r, 0);
    Ok(())
}

pub(crate) fn heap_max<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let memory = cx
        .export("memory")
        .and_then(|e| e.into_memory())
        .ok_or("emscripten_get_heap_max: the module exports no memory")?;
    let pages = memory
        .ty(&*cx.caller)
        .maximum
        .unwrap_or(MAX_PAGES)
        .min(MAX_PAGES);
    set_i32(r, (pages * PAGE) as u32 as i32);
    Ok(())
}

pub(crate) fn nothing<T>(_: &mut Cx<'_, '_, T>, _: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    Ok(())
}

pub(crate) fn set_temp_ret0<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    cx.state().temp_ret0 = arg_i32(a, 0);
    Ok(())
}

pub(crate) fn get_temp_ret0<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let v = cx.state().temp_ret0;
    set_i32(r, v);
    Ok(())
}

/// Why the program aborted (`abort()`, a failed assertion): a trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort(pub String);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aborted({})", self.0)
    }
}

impl std::error::Error for Abort {}

pub(crate) fn abort<T>(_: &mut Cx<'_, '_, T>, _: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    Err(Box::new(Abort(String::new())))
}

/// A NUL-terminated guest string (at most 4 KiB of it), lossily.
pub(crate) fn c_string<T>(cx: &mut Cx<'_, '_, T>, ptr: u32) -> Result<String, HostError> {
    if ptr == 0 {
        return Ok(String::new());
    }
    let m = cx.mem()?;
    let mut out = Vec::new();
    let mut at = ptr;
    while out.len() < 4096 {
        let b = m.read_u8(at).map_err(|_| fault("string"))?;
        if b == 0 {
            break;
        }
        out.push(b);
        at = at.wrapping_add(1);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub(crate) fn assert_fail<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    let cond = c_string(cx, arg_u32(a, 0))?;
    let file = c_string(cx, arg_u32(a, 1))?;
    let func = c_string(cx, arg_u32(a, 3))?;
    Err(Box::new(Abort(format!(
        "Assertion failed: {cond}, at: {file},{},{func}",
        arg_i32(a, 2)
    ))))
}

/// Runs the guest's exit path once: atexit handlers (`__funcs_on_exit`,
/// exported by `-sEXIT_RUNTIME` builds), then the stdio flush
/// (`__stdio_exit`, else `fflush(0)`), each if exported.
pub(crate) fn exit_runtime<T>(cx: &mut Cx<'_, '_, T>) -> Result<(), HostError> {
    if std::mem::replace(&mut cx.state().exiting, true) {
        return Ok(());
    }
    if cx.has_export("__funcs_on_exit") {
        cx.call_export("__funcs_on_exit", &[])?;
    }
    if cx.has_export("__stdio_exit") {
        cx.call_export("__stdio_exit", &[])?;
    } else if cx.has_export("fflush") {
        cx.call_export("fflush", &[Val::I32(0)])?;
    }
    Ok(())
}

pub(crate) fn exit<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    exit_runtime(cx)?;
    Err(Box::new(Exit(arg_i32(a, 0))))
}

pub(crate) fn getentropy<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let (ptr, len) = (arg_u32(a, 0), arg_u32(a, 1));
    if len > 256 {
        set_i32(r, -1);
        return cx.set_errno(crate::wasi::Errno::IO.0);
    }
    let mut m = cx.mem()?;
    let Ok(buf) = m.slice_mut(ptr, len) else {
        set_i32(r, -1);
        return cx.set_errno(crate::wasi::Errno::FAULT.0);
    };
    fill_random(buf);
    set_i32(r, 0);
    Ok(())
}

/// Fills `buf` from the host's random source.
pub(crate) fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most `len - done` bytes into the
        // slice's remaining part, which is valid for writes.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}
