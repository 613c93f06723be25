//! Clocks, randomness and `poll_oneoff`.
//!
//! Clock ids map to the host's `CLOCK_REALTIME`, `CLOCK_MONOTONIC`,
//! `CLOCK_PROCESS_CPUTIME_ID` and `CLOCK_THREAD_CPUTIME_ID`; any other id is
//! `INVAL`. `poll_oneoff` waits for clock subscriptions by sleeping (never
//! returning before the deadline) and for fd subscriptions as follows:
//! files, stdout/stderr and in-memory stdin are always ready; an inherited
//! host stdin is waited on with `poll(2)`. An fd subscription naming a bad
//! fd reports its error in its event (`BADF`, or `NOTCAPABLE` without
//! `POLL_FD_READWRITE`) rather than failing the whole call.

use super::fdtable::Kind;
use super::fs::file_bytes_left;
use super::types::*;
use super::{Call, WasiResult};
use std::io;
use std::time::{Duration, Instant};

fn host_clock(id: u32) -> Result<libc::clockid_t, Errno> {
    Ok(match id {
        CLOCK_REALTIME => libc::CLOCK_REALTIME,
        CLOCK_MONOTONIC => libc::CLOCK_MONOTONIC,
        CLOCK_PROCESS_CPUTIME => libc::CLOCK_PROCESS_CPUTIME_ID,
        CLOCK_THREAD_CPUTIME => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(Errno::INVAL),
    })
}

fn ns(t: &libc::timespec) -> u64 {
    (t.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

fn now_ns(clock: libc::clockid_t) -> Result<u64, Errno> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer.
    if unsafe { libc::clock_gettime(clock, &mut t) } != 0 {
        return Err(io::Error::last_os_error().into());
    }
    Ok(ns(&t))
}

pub(crate) fn clock_res_get(c: &mut Call) -> WasiResult {
    let (id, out) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    let clock = host_clock(id)?;
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer.
    if unsafe { libc::clock_getres(clock, &mut t) } != 0 {
        return Err(Errno::from(io::Error::last_os_error()).into());
    }
    m.write_u64(out, ns(&t).max(1))?;
    Ok(())
}

pub(crate) fn clock_time_get(c: &mut Call) -> WasiResult {
    let (id, out) = (c.u32(0), c.u32(2));
    let mut m = c.mem()?;
    let t = now_ns(host_clock(id)?)?;
    m.write_u64(out, t)?;
    Ok(())
}

pub(crate) fn random_get(c: &mut Call) -> WasiResult {
    let (buf, len) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    let mut rest = m.slice_mut(buf, len)?;
    while !rest.is_empty() {
        // SAFETY: writes at most rest.len() bytes into rest.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Errno::from(e).into());
        }
        rest = &mut rest[n as usize..];
    }
    Ok(())
}

enum Sub {
    /// Fires at this instant (`None`: so far away it never does).
    Clock(Option<Instant>),
    Read(u32),
    Write(u32),
}

/// One event to report: userdata, error, type, nbytes, flags.
struct Event {
    userdata: u64,
    error: Errno,
    ty: u8,
    nbytes: u64,
    flags: u16,
}

/// `subscription` (48 bytes): userdata u64 @0, tag u8 @8, then @16 either
/// clock {id u32 @16, timeout u64 @24, precision u64 @32, flags u16 @40}
/// or fd_readwrite {fd u32 @16}. `event` (32 bytes): userdata u64 @0,
/// error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24.
pub(crate) fn poll_oneoff(c: &mut Call) -> WasiResult {
    let (subs_ptr, events_ptr, n, out) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3));
    let mut m = c.mem()?;
    if n == 0 {
        return Err(Errno::INVAL.into());
    }
    let n = n as usize;
    m.check(subs_ptr, n * SUBSCRIPTION_SIZE as usize)?;
    m.check(events_ptr, n * EVENT_SIZE as usize)?;
    m.check(out, 4)?;

    let start = Instant::now();
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        let p = subs_ptr + (i as u32) * SUBSCRIPTION_SIZE;
        let userdata = m.read_u64(p)?;
        let sub = match m.read_u8(p + 8)? {
            EVENTTYPE_CLOCK => {
                let (id, timeout, flags) = (
                    m.read_u32(p + 16)?,
                    m.read_u64(p + 24)?,
                    m.read_u16(p + 40)?,
                );
                if flags & !SUBCLOCK_ABSTIME != 0 {
                    return Err(Errno::INVAL.into());
                }
                let wait = if flags & SUBCLOCK_ABSTIME == 0 {
                    if id != CLOCK_REALTIME && id != CLOCK_MONOTONIC {
                        return Err(Errno::INVAL.into());
                    }
                    timeout
                } else {
                    match id {
                        CLOCK_REALTIME | CLOCK_MONOTONIC => {
                            timeout.saturating_sub(now_ns(host_clock(id)?)?)
                        }
                        _ => return Err(Errno::INVAL.into()),
                    }
                };
                Sub::Clock(start.checked_add(Duration::from_nanos(wait)))
            }
            EVENTTYPE_FD_READ => Sub::Read(m.read_u32(p + 16)?),
            EVENTTYPE_FD_WRITE => Sub::Write(m.read_u32(p + 16)?),
            _ => return Err(Errno::INVAL.into()),
        };
        subs.push((userdata, sub));
    }

    let events = loop {
        let now = Instant::now();
        let mut events = Vec::new();
        let mut wait_fds = Vec::new();
        let mut deadline: Option<Instant> = None;
        for (userdata, sub) in &subs {
            let ev = |error, ty, nbytes, flags| Event {
                userdata: *userdata,
                error,
                ty,
                nbytes,
                flags,
            };
            match sub {
                Sub::Clock(Some(t)) if *t <= now => {
                    events.push(ev(Errno::SUCCESS, EVENTTYPE_CLOCK, 0, 0))
                }
                Sub::Clock(t) => deadline = deadline.into_iter().chain(*t).min(),
                Sub::Read(fd) => {
                    let ty = EVENTTYPE_FD_READ;
                    match c
                        .ctx
                        .fds
                        .get(*fd)
                        .and_then(|e| e.need(rights::POLL_FD_READWRITE).map(|_| e))
                    {
                        Err(err) => events.push(ev(err, ty, 0, 0)),
                        Ok(e) => match &e.kind {
                            Kind::Stdin(s) => match s.ready_now() {
                                Some(0) => events.push(ev(
                                    Errno::SUCCESS,
                                    ty,
                                    0,
                                    EVENT_FD_READWRITE_HANGUP,
                                )),
                                Some(k) => events.push(ev(Errno::SUCCESS, ty, k, 0)),
                                None => wait_fds.extend(s.host_fd()),
                            },
                            Kind::File(f) => {
                                events.push(ev(Errno::SUCCESS, ty, file_bytes_left(f), 0))
                            }
                            _ => events.push(ev(Errno::BADF, ty, 0, 0)),
                        },
                    }
                }
                Sub::Write(fd) => {
                    let ty = EVENTTYPE_FD_WRITE;
                    match c
                        .ctx
                        .fds
                        .get(*fd)
                        .and_then(|e| e.need(rights::POLL_FD_READWRITE).map(|_| e))
                    {
                        Err(err) => events.push(ev(err, ty, 0, 0)),
                        Ok(e) => match &e.kind {
                            Kind::Output(_) | Kind::File(_) => {
                                events.push(ev(Errno::SUCCESS, ty, 0, 0))
                            }
                            _ => events.push(ev(Errno::BADF, ty, 0, 0)),
                        },
                    }
                }
            }
        }
        if !events.is_empty() {
            break events;
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        if wait_fds.is_empty() {
            // Only clocks are pending (a deadline beyond what Instant can
            // hold never fires: sleep in long steps).
            std::thread::sleep(timeout.unwrap_or(Duration::from_secs(3600)));
        } else {
            let mut pfds: Vec<libc::pollfd> = wait_fds
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // Round up so a timeout never fires early; the loop re-checks.
            let ms = timeout
                .map(|d| d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32)
                .unwrap_or(-1);
            // SAFETY: pfds is a valid array of pfds.len() pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Errno::from(e).into());
                }
            }
        }
    };

    for (i, e) in events.iter().enumerate() {
        let mut b = [0u8; EVENT_SIZE as usize];
        b[0..8].copy_from_slice(&e.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&e.error.0.to_le_bytes());
        b[10] = e.ty;
        b[16..24].copy_from_slice(&e.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&e.flags.to_le_bytes());
        m.write(events_ptr + (i as u32) * EVENT_SIZE, &b)?;
    }
    m.write_u32(out, events.len() as u32)?;
    Ok(())
}
