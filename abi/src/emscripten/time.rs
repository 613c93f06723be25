//! Clocks and calendar time: `clock_gettime`, `gettimeofday`, `time`,
//! `clock`, `emscripten_get_now`/`emscripten_date_now`, and the functions
//! emscripten 3.1 leaves to JavaScript's `Date`: `_tzset_js`,
//! `_localtime_js`, `_gmtime_js`, `_mktime_js`, `_timegm_js`, `strftime`.
//!
//! Calendar functions use the host's C library (`localtime_r`, `mktime`,
//! `strftime` in the "C" locale), so the guest sees the host's time zone
//! (`TZ`), as a JS program sees its engine's, and formats dates exactly as
//! a native program on the host does. Emscripten 3.1's `time_t` is 32
//! bits; `struct tm` is eleven 32-bit words (sec, min, hour, mday, mon,
//! year, wday, yday, isdst, gmtoff, zone).
//!
//! What must stay true: bad pointers trap, a bad clock id answers -1 with
//! `errno = EINVAL`, as in emscripten's JS.

use super::memory::c_string;
use super::{arg_i32, arg_u32, fault, set_i32, Cx};
use crate::wasi::Errno;
use wasabi::{HostError, Val};

fn host_clock(id: libc::clockid_t) -> (i64, i64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

fn write_words<T>(
    cx: &mut Cx<'_, '_, T>,
    at: u32,
    words: &[i32],
    what: &str,
) -> Result<(), HostError> {
    let mut m = cx.mem()?;
    m.check(at, words.len() * 4).map_err(|_| fault(what))?;
    for (i, w) in words.iter().enumerate() {
        m.write_u32(at + 4 * i as u32, *w as u32)
            .map_err(|_| fault(what))?;
    }
    Ok(())
}

fn read_words<T, const N: usize>(
    cx: &mut Cx<'_, '_, T>,
    at: u32,
    what: &str,
) -> Result<[i32; N], HostError> {
    let m = cx.mem()?;
    let mut out = [0i32; N];
    for (i, w) in out.iter_mut().enumerate() {
        *w = m
            .read_u32(at.wrapping_add(4 * i as u32))
            .map_err(|_| fault(what))? as i32;
    }
    Ok(out)
}

pub(crate) fn get_now<T>(
    cx: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let ms = cx.state().started.elapsed().as_secs_f64() * 1e3;
    r[0] = Val::f64(ms);
    Ok(())
}

pub(crate) fn get_now_res<T>(
    _: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    r[0] = Val::f64(1.0);
    Ok(())
}

pub(crate) fn date_now<T>(
    _: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let (s, ns) = host_clock(libc::CLOCK_REALTIME);
    r[0] = Val::f64(s as f64 * 1e3 + ns as f64 / 1e6);
    Ok(())
}

pub(crate) fn is_monotonic<T>(
    _: &mut Cx<'_, '_, T>,
    _: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    set_i32(r, 1);
    Ok(())
}

/// The host clock for emscripten clock id `id` (0 realtime, 1 monotonic,
/// 4 monotonic raw, as in its JS).
fn clock_id(id: i32) -> Option<libc::clockid_t> {
    match id {
        0 => Some(libc::CLOCK_REALTIME),
        1 | 4 => Some(libc::CLOCK_MONOTONIC),
        _ => None,
    }
}

pub(crate) fn clock_gettime<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let Some(id) = clock_id(arg_i32(a, 0)) else {
        set_i32(r, -1);
        return cx.set_errno(Errno::INVAL.0);
    };
    let (s, ns) = host_clock(id);
    write_words(cx, arg_u32(a, 1), &[s as i32, ns as i32], "clock_gettime")?;
    set_i32(r, 0);
    Ok(())
}

pub(crate) fn clock_getres<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let Some(id) = clock_id(arg_i32(a, 0)) else {
        set_i32(r, -1);
        return cx.set_errno(Errno::INVAL.0);
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_getres writes one timespec into `ts`.
    unsafe { libc::clock_getres(id, &mut ts) };
    if arg_u32(a, 1) != 0 {
        write_words(
            cx,
            arg_u32(a, 1),
            &[ts.tv_sec as i32, ts.tv_nsec as i32],
            "clock_getres",
        )?;
    }
    set_i32(r, 0);
    Ok(())
}

pub(crate) fn gettimeofday<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let (s, ns) = host_clock(libc::CLOCK_REALTIME);
    write_words(
        cx,
        arg_u32(a, 0),
        &[s as i32, (ns / 1000) as i32],
        "gettimeofday",
    )?;
    set_i32(r, 0);
    Ok(())
}

pub(crate) fn time<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    let s = host_clock(libc::CLOCK_REALTIME).0 as i32;
    if arg_u32(a, 0) != 0 {
        write_words(cx, arg_u32(a, 0), &[s], "time")?;
    }
    set_i32(r, s);
    Ok(())
}

pub(crate) fn clock<T>(cx: &mut Cx<'_, '_, T>, _: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    // As emscripten's JS: microseconds since the program started.
    let us = cx.state().started.elapsed().as_micros() as i32;
    set_i32(r, us);
    Ok(())
}

fn zeroed_tm() -> libc::tm {
    // SAFETY: `tm` is plain data (integers and a pointer) for which all
    // zeros is a valid value.
    unsafe { std::mem::zeroed() }
}

fn local(t: i64) -> libc::tm {
    let mut tm = zeroed_tm();
    let t = t as libc::time_t;
    // SAFETY: localtime_r reads one time_t and writes one tm.
    unsafe { libc::localtime_r(&t, &mut tm) };
    tm
}

/// `tm` as the guest's first nine words, then `tm_gmtoff`.
fn tm_words(tm: &libc::tm) -> [i32; 10] {
    [
        tm.tm_sec,
        tm.tm_min,
        tm.tm_hour,
        tm.tm_mday,
        tm.tm_mon,
        tm.tm_year,
        tm.tm_wday,
        tm.tm_yday,
        tm.tm_isdst,
        tm.tm_gmtoff as i32,
    ]
}

pub(crate) fn tzset<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    let (timezone, daylight, tzname) = (arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2));
    let now = host_clock(libc::CLOCK_REALTIME).0;
    let mut year = local(now);
    year.tm_mon = 0;
    year.tm_mday = 1;
    year.tm_hour = 0;
    year.tm_min = 0;
    year.tm_sec = 0;
    year.tm_isdst = -1;
    // SAFETY: mktime normalises one tm in place.
    let jan = unsafe { libc::mktime(&mut year) } as i64;
    let winter = local(jan);
    let summer = local(jan + 181 * 86400);
    let std_offset = winter.tm_gmtoff.min(summer.tm_gmtoff);
    write_words(cx, timezone, &[-(std_offset as i32)], "_tzset_js")?;
    write_words(
        cx,
        daylight,
        &[(winter.tm_gmtoff != summer.tm_gmtoff) as i32],
        "_tzset_js",
    )?;
    let name = |tm: &libc::tm| {
        if tm.tm_zone.is_null() {
            b"GMT".to_vec()
        } else {
            // SAFETY: localtime_r sets tm_zone to a NUL-terminated string
            // that lives as long as the process's zone data.
            unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
                .to_bytes()
                .to_vec()
        }
    };
    let (std_name, dst_name) = if summer.tm_gmtoff > winter.tm_gmtoff {
        (name(&winter), name(&summer))
    } else {
        (name(&summer), name(&winter))
    };
    let mut ptrs = [0i32; 2];
    if cx.has_export("malloc") {
        for (p, n) in ptrs.iter_mut().zip([std_name, dst_name]) {
            let at = cx.malloc(n.len() as u32 + 1)?;
            if at != 0 {
                let mut m = cx.mem()?;
                m.write(at, &n).map_err(|_| fault("_tzset_js"))?;
                m.write_u8(at + n.len() as u32, 0)
                    .map_err(|_| fault("_tzset_js"))?;
            }
            *p = at as i32;
        }
    }
    write_words(cx, tzname, &ptrs, "_tzset_js")
}

pub(crate) fn localtime<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    _: &mut [Val],
) -> Result<(), HostError> {
    let [t] = read_words::<T, 1>(cx, arg_u32(a, 0), "_localtime_js")?;
    let tm = local(t as i64);
    write_words(cx, arg_u32(a, 1), &tm_words(&tm), "_localtime_js")
}

pub(crate) fn gmtime<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], _: &mut [Val]) -> Result<(), HostError> {
    let [t] = read_words::<T, 1>(cx, arg_u32(a, 0), "_gmtime_js")?;
    let mut tm = zeroed_tm();
    let t = t as libc::time_t;
    // SAFETY: gmtime_r reads one time_t and writes one tm.
    unsafe { libc::gmtime_r(&t, &mut tm) };
    // As emscripten's JS: the first eight words (isdst and gmtoff stay).
    write_words(cx, arg_u32(a, 1), &tm_words(&tm)[..8], "_gmtime_js")
}

fn guest_tm(w: &[i32; 9]) -> libc::tm {
    let mut tm = zeroed_tm();
    tm.tm_sec = w[0];
    tm.tm_min = w[1];
    tm.tm_hour = w[2];
    tm.tm_mday = w[3];
    tm.tm_mon = w[4];
    tm.tm_year = w[5];
    tm.tm_wday = w[6];
    tm.tm_yday = w[7];
    tm.tm_isdst = w[8];
    tm
}

pub(crate) fn mktime<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    let at = arg_u32(a, 0);
    let w = read_words::<T, 9>(cx, at, "_mktime_js")?;
    let mut tm = guest_tm(&w);
    // SAFETY: mktime normalises one tm in place.
    let t = unsafe { libc::mktime(&mut tm) };
    write_words(cx, at, &tm_words(&tm)[..9], "_mktime_js")?;
    set_i32(r, t as i32);
    Ok(())
}

pub(crate) fn timegm<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    let at = arg_u32(a, 0);
    let w = read_words::<T, 9>(cx, at, "_timegm_js")?;
    let mut tm = guest_tm(&w);
    // SAFETY: timegm normalises one tm in place.
    let t = unsafe { libc::timegm(&mut tm) };
    write_words(cx, at, &tm_words(&tm)[..8], "_timegm_js")?;
    set_i32(r, t as i32);
    Ok(())
}

/// `strftime(s, max, format, tm)` (and `strftime_l`, whose locale is
/// ignored: the "C" locale).
pub(crate) fn strftime<T>(
    cx: &mut Cx<'_, '_, T>,
    a: &[Val],
    r: &mut [Val],
) -> Result<(), HostError> {
    let (s, max, format, tm_at) = (arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2), arg_u32(a, 3));
    let format = c_string(cx, format)?;
    let w = read_words::<T, 11>(cx, tm_at, "strftime")?;
    let mut tm = guest_tm(&[w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]]);
    tm.tm_gmtoff = w[9] as libc::c_long;
    let zone = std::ffi::CString::new(c_string(cx, w[10] as u32)?).unwrap_or_default();
    tm.tm_zone = zone.as_ptr();
    let fmt = std::ffi::CString::new(format).unwrap_or_default();
    let cap = (max as usize).min(1 << 20);
    let mut buf = vec![0u8; cap.max(1)];
    // SAFETY: strftime writes at most `cap` bytes into `buf` (at least
    // that long), reading the NUL-terminated format and the tm (whose
    // tm_zone, `zone`, outlives the call).
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), cap, fmt.as_ptr(), &tm) };
    if n == 0 || n >= cap {
        set_i32(r, 0);
        return Ok(());
    }
    let mut m = cx.mem()?;
    m.write(s, &buf[..n + 1]).map_err(|_| fault("strftime"))?;
    set_i32(r, n as i32);
    Ok(())
}
