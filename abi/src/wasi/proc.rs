//! Arguments, environment, process control, scheduling and sockets.
//!
//! `proc_exit(n)` ends the program by trapping with [`Exit`]`(n)`; callers
//! turn that into the exit status ([`super::command_status`]).
//! `proc_raise` answers `NOSYS` (signals are not emulated). No socket can
//! ever be in the descriptor table (preview 1 cannot create one and the
//! context preopens none), so the `sock_*` functions answer `BADF` for an fd
//! that is not open and `NOTSOCK` for one that is.

use super::memory::GuestMemory;
use super::types::Errno;
use super::{Call, Exit, Fail, WasiResult};

/// Writes `list` as the preview 1 string arrays: a pointer per entry at
/// `ptrs`, the NUL-terminated entries one after another at `buf`.
fn write_strings(m: &mut GuestMemory, list: &[Vec<u8>], ptrs: u32, buf: u32) -> WasiResult {
    let total: usize = list.iter().map(|s| s.len() + 1).sum();
    m.check(ptrs, list.len() * 4)?;
    m.check(buf, total)?;
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        m.write_u32(ptrs + 4 * i as u32, at)?;
        m.write(at, s)?;
        m.write_u8(at + s.len() as u32, 0)?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

fn write_sizes(m: &mut GuestMemory, list: &[Vec<u8>], count_ptr: u32, size_ptr: u32) -> WasiResult {
    let total: usize = list.iter().map(|s| s.len() + 1).sum();
    let total = u32::try_from(total).map_err(|_| Errno::OVERFLOW)?;
    m.check(count_ptr, 4)?;
    m.check(size_ptr, 4)?;
    m.write_u32(count_ptr, list.len() as u32)?;
    m.write_u32(size_ptr, total)?;
    Ok(())
}

pub(crate) fn args_get(c: &mut Call) -> WasiResult {
    let mut m = c.mem()?;
    write_strings(&mut m, &c.ctx.args, c.u32(0), c.u32(1))
}

pub(crate) fn args_sizes_get(c: &mut Call) -> WasiResult {
    let mut m = c.mem()?;
    write_sizes(&mut m, &c.ctx.args, c.u32(0), c.u32(1))
}

pub(crate) fn environ_get(c: &mut Call) -> WasiResult {
    let mut m = c.mem()?;
    write_strings(&mut m, &c.ctx.env, c.u32(0), c.u32(1))
}

pub(crate) fn environ_sizes_get(c: &mut Call) -> WasiResult {
    let mut m = c.mem()?;
    write_sizes(&mut m, &c.ctx.env, c.u32(0), c.u32(1))
}

pub(crate) fn proc_exit(c: &mut Call) -> WasiResult {
    Err(Fail::Trap(Box::new(Exit(c.u32(0) as i32))))
}

pub(crate) fn proc_raise(c: &mut Call) -> WasiResult {
    // Signal numbers are 0 (none) to 30 (SYS).
    if c.u32(0) > 30 {
        return Err(Errno::INVAL.into());
    }
    Err(Errno::NOSYS.into())
}

pub(crate) fn sched_yield(_c: &mut Call) -> WasiResult {
    std::thread::yield_now();
    Ok(())
}

fn not_a_socket(c: &Call, fd: u32) -> WasiResult {
    c.ctx.fds.get(fd)?;
    Err(Errno::NOTSOCK.into())
}

pub(crate) fn sock_accept(c: &mut Call) -> WasiResult {
    not_a_socket(c, c.u32(0))
}

pub(crate) fn sock_recv(c: &mut Call) -> WasiResult {
    not_a_socket(c, c.u32(0))
}

pub(crate) fn sock_send(c: &mut Call) -> WasiResult {
    not_a_socket(c, c.u32(0))
}

pub(crate) fn sock_shutdown(c: &mut Call) -> WasiResult {
    not_a_socket(c, c.u32(0))
}
