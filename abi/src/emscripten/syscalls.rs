//! `__syscall_*`: emscripten's file-system syscalls, on the WASI context's
//! descriptor table and preopened directories.
//!
//! Paths: a relative path is taken from the current directory (`chdir`;
//! `/` at start) unless a directory fd is given (`*at` with a real fd); the
//! absolute path is normalised lexically (`.`, `..`, repeated slashes) and
//! must lie inside a preopened directory (`--dir HOST::GUEST` is seen at
//! `GUEST`; a relative guest name like `.` counts from `/`), the longest
//! such prefix winning. The rest of the path is handed, relative, to the
//! same WASI functions (`path_open`, `path_filestat_get`, ...) a WASI
//! program would call, through a scratch buffer in place of guest memory.
//! So the capability sandbox is WASI's: a path outside every preopen is
//! `ENOENT`, and `..` or a symlink leading out of a preopen fails there as
//! it does for WASI.
//!
//! Results are emscripten's: `-errno` on failure (emscripten's errno
//! numbers are WASI's), bad guest pointers `-EFAULT`. Syscalls this file
//! does not implement answer `-ENOSYS`.
//!
//! Layouts (emscripten 3.1, wasm32): `struct stat` is 88 bytes (dev @0,
//! ino @8, mode @12, nlink @16, uid @20, gid @24, rdev @28, size @40 (i64),
//! blksize @48, blocks @52, atime/mtime/ctime (sec, nsec) @56/@64/@72, ino
//! (i64) @80); `getdents64` records are a fixed 280 bytes (ino u64 @0, off
//! u64 @8, reclen u16 @16, type u8 @18, name @19).

use super::{arg_i32, arg_u32, set_i32, Cx, Handler};
use crate::wasi::types::{fdflags, filetype, oflags, rights, LOOKUP_SYMLINK_FOLLOW};
use crate::wasi::Errno;
use wasabi::{HostError, Val};

/// A directory listing being read by `getdents64`.
#[derive(Debug)]
pub(crate) struct Listing {
    /// (dev, ino) of the directory, to notice a reused fd.
    id: (u64, u64),
    entries: Vec<(Vec<u8>, u8, u64)>,
    next: usize,
}

enum SysErr {
    Errno(Errno),
    Trap(HostError),
}

impl From<Errno> for SysErr {
    fn from(e: Errno) -> SysErr {
        SysErr::Errno(e)
    }
}

impl From<HostError> for SysErr {
    fn from(e: HostError) -> SysErr {
        SysErr::Trap(e)
    }
}

type Sys = Result<i32, SysErr>;

const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_REMOVEDIR: u32 = 0x200;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
const O_NONBLOCK: u32 = 0o4000;
const O_DIRECTORY: u32 = 0o200000;
const O_NOFOLLOW: u32 = 0o400000;
const STAT_SIZE: usize = 88;
const DIRENT_SIZE: u32 = 280;
/// Where a path goes in a scratch buffer (results go before it).
const PATH_AT: usize = 64;

/// Runs WASI function `name` with `scratch` as its memory.
fn wasi<T>(
    cx: &mut Cx<'_, '_, T>,
    name: &'static str,
    args: &[Val],
    scratch: &mut [u8],
) -> Result<(), SysErr> {
    match crate::wasi::call_direct(cx.wasi(), Some(scratch), name, args)? {
        Errno::SUCCESS => Ok(()),
        e => Err(SysErr::Errno(e)),
    }
}

fn i(v: u32) -> Val {
    Val::I32(v as i32)
}

/// A guest C string (the path of a syscall), at most 4 KiB.
fn guest_path<T>(cx: &mut Cx<'_, '_, T>, ptr: u32) -> Result<String, SysErr> {
    let m = cx.mem()?;
    let mut out = Vec::new();
    loop {
        let b = m
            .read_u8(ptr.wrapping_add(out.len() as u32))
            .map_err(|_| Errno::FAULT)?;
        if b == 0 {
            break;
        }
        out.push(b);
        if out.len() > 4096 {
            return Err(Errno::NAMETOOLONG.into());
        }
    }
    String::from_utf8(out).map_err(|_| Errno::ILSEQ.into())
}

/// Lexically normalised absolute form of `path` (absolute, or relative to
/// `cwd`).
pub(crate) fn normalise(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let whole = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    for p in whole.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The preopened directories: (guest path, absolute and normalised; fd).
fn preopens<T>(cx: &mut Cx<'_, '_, T>) -> Result<Vec<(String, u32)>, SysErr> {
    let mut out = Vec::new();
    for fd in 3..64u32 {
        let mut s = [0u8; 8 + 4096];
        match wasi(cx, "fd_prestat_get", &[i(fd), i(0)], &mut s) {
            Ok(()) => {}
            Err(SysErr::Errno(_)) => continue,
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes([s[4], s[5], s[6], s[7]]).min(4096);
        if wasi(cx, "fd_prestat_dir_name", &[i(fd), i(8), i(len)], &mut s).is_err() {
            continue;
        }
        let name = String::from_utf8_lossy(&s[8..8 + len as usize]).into_owned();
        out.push((normalise("/", &name), fd));
    }
    Ok(out)
}

/// `path` (relative to `dirfd`) as a directory fd and a path relative to
/// it that the WASI functions take.
fn resolve<T>(cx: &mut Cx<'_, '_, T>, dirfd: i32, path: &str) -> Result<(u32, String), SysErr> {
    if path.is_empty() {
        return Err(Errno::NOENT.into());
    }
    if !path.starts_with('/') && dirfd != AT_FDCWD {
        return Ok((dirfd as u32, path.to_string()));
    }
    let abs = normalise(&cx.state().cwd, path);
    let mut best: Option<(usize, u32)> = None;
    for (name, fd) in preopens(cx)? {
        let inside = name == "/"
            || abs == name
            || (abs.starts_with(&name) && abs.as_bytes().get(name.len()) == Some(&b'/'));
        if inside && best.is_none_or(|(l, _)| name.len() > l) {
            best = Some((name.len(), fd));
        }
    }
    let (len, fd) = best.ok_or(Errno::NOENT)?;
    let rest = abs[len..].trim_start_matches('/');
    Ok((
        fd,
        if rest.is_empty() {
            ".".into()
        } else {
            rest.into()
        },
    ))
}

/// A scratch buffer holding `path` at [`PATH_AT`] (results go before it).
fn scratch(path: &str, extra: usize) -> Vec<u8> {
    let mut s = vec![0u8; PATH_AT + path.len() + extra];
    s[PATH_AT..PATH_AT + path.len()].copy_from_slice(path.as_bytes());
    s
}

/// The WASI filestat of `path` relative to `fd`.
fn path_stat<T>(
    cx: &mut Cx<'_, '_, T>,
    fd: u32,
    path: &str,
    follow: bool,
) -> Result<[u8; 64], SysErr> {
    let mut s = scratch(path, 0);
    let flags = if follow { LOOKUP_SYMLINK_FOLLOW } else { 0 };
    wasi(
        cx,
        "path_filestat_get",
        &[
            i(fd),
            i(flags),
            i(PATH_AT as u32),
            i(path.len() as u32),
            i(0),
        ],
        &mut s,
    )?;
    Ok(s[..64].try_into().expect("64 bytes"))
}

fn fd_stat<T>(cx: &mut Cx<'_, '_, T>, fd: u32) -> Result<[u8; 64], SysErr> {
    let mut s = [0u8; 64];
    wasi(cx, "fd_filestat_get", &[i(fd), i(0)], &mut s)?;
    Ok(s)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Writes emscripten's `struct stat` for WASI filestat `st` at `buf`.
fn write_stat<T>(cx: &mut Cx<'_, '_, T>, buf: u32, st: &[u8; 64]) -> Sys {
    let (dev, ino, ft, nlink, size) = (
        u64_at(st, 0),
        u64_at(st, 8),
        st[16],
        u64_at(st, 24),
        u64_at(st, 32),
    );
    let mode: u32 = match ft {
        filetype::DIRECTORY => 0o040755,
        filetype::REGULAR_FILE => 0o100644,
        filetype::SYMBOLIC_LINK => 0o120777,
        filetype::CHARACTER_DEVICE => 0o020666,
        filetype::BLOCK_DEVICE => 0o060666,
        filetype::SOCKET_DGRAM | filetype::SOCKET_STREAM => 0o140666,
        _ => 0o010666,
    };
    let mut out = [0u8; STAT_SIZE];
    let mut put = |at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0, dev as u32);
    put(8, ino as u32);
    put(12, mode);
    put(16, nlink as u32);
    put(48, 4096);
    put(52, size.div_ceil(512) as u32);
    for (k, at) in [(40usize, 56usize), (48, 64), (56, 72)] {
        let ns = u64_at(st, k);
        put(at, (ns / 1_000_000_000) as u32);
        put(at + 4, (ns % 1_000_000_000) as u32);
    }
    out[40..48].copy_from_slice(&size.to_le_bytes());
    out[80..88].copy_from_slice(&ino.to_le_bytes());
    let mut m = cx.mem()?;
    m.write(buf, &out).map_err(|_| Errno::FAULT)?;
    Ok(0)
}

/// The `i`th variadic `i32` argument at `varargs`.
fn vararg<T>(cx: &mut Cx<'_, '_, T>, varargs: u32, i: u32) -> Result<u32, SysErr> {
    if varargs == 0 {
        return Ok(0);
    }
    Ok(cx
        .mem()?
        .read_u32(varargs.wrapping_add(4 * i))
        .map_err(|_| Errno::FAULT)?)
}

fn open_at<T>(cx: &mut Cx<'_, '_, T>, dirfd: i32, path: u32, flags: u32) -> Sys {
    let path = guest_path(cx, path)?;
    let (fd, rel) = resolve(cx, dirfd, &path)?;
    let mut of = 0u16;
    if flags & O_CREAT != 0 {
        of |= oflags::CREAT;
    }
    if flags & O_EXCL != 0 {
        of |= oflags::EXCL;
    }
    if flags & O_TRUNC != 0 {
        of |= oflags::TRUNC;
    }
    if flags & O_DIRECTORY != 0 {
        of |= oflags::DIRECTORY;
    }
    let write_bits = rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE;
    let base = match flags & 3 {
        O_WRONLY => rights::ALL & !(rights::FD_READ | rights::FD_READDIR),
        O_RDWR => rights::ALL,
        _ => rights::ALL & !write_bits,
    };
    let mut ff = 0u16;
    if flags & O_APPEND != 0 {
        ff |= fdflags::APPEND;
    }
    if flags & O_NONBLOCK != 0 {
        ff |= fdflags::NONBLOCK;
    }
    let dirflags = if flags & O_NOFOLLOW != 0 {
        0
    } else {
        LOOKUP_SYMLINK_FOLLOW
    };
    let mut s = scratch(&rel, 0);
    wasi(
        cx,
        "path_open",
        &[
            i(fd),
            i(dirflags),
            i(PATH_AT as u32),
            i(rel.len() as u32),
            i(of as u32),
            Val::I64(base as i64),
            Val::I64(rights::ALL as i64),
            i(ff as u32),
            i(0),
        ],
        &mut s,
    )?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i32)
}

fn sys_open<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    open_at(cx, AT_FDCWD, arg_u32(a, 0), arg_u32(a, 1))
}

fn sys_openat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    open_at(cx, arg_i32(a, 0), arg_u32(a, 1), arg_u32(a, 2))
}

fn sys_fstat64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let st = fd_stat(cx, arg_u32(a, 0))?;
    write_stat(cx, arg_u32(a, 1), &st)
}

fn stat_path<T>(cx: &mut Cx<'_, '_, T>, dirfd: i32, path: u32, buf: u32, follow: bool) -> Sys {
    let path = guest_path(cx, path)?;
    let (fd, rel) = resolve(cx, dirfd, &path)?;
    let st = path_stat(cx, fd, &rel, follow)?;
    write_stat(cx, buf, &st)
}

fn sys_stat64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    stat_path(cx, AT_FDCWD, arg_u32(a, 0), arg_u32(a, 1), true)
}

fn sys_lstat64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    stat_path(cx, AT_FDCWD, arg_u32(a, 0), arg_u32(a, 1), false)
}

fn sys_fstatat64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let follow = arg_u32(a, 3) & AT_SYMLINK_NOFOLLOW == 0;
    stat_path(cx, arg_i32(a, 0), arg_u32(a, 1), arg_u32(a, 2), follow)
}

fn sys_getcwd<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let (buf, size) = (arg_u32(a, 0), arg_u32(a, 1));
    if size == 0 {
        return Err(Errno::INVAL.into());
    }
    let cwd = cx.state().cwd.clone();
    let need = cwd.len() as u32 + 1;
    if size < need {
        return Err(Errno::RANGE.into());
    }
    let mut m = cx.mem()?;
    m.write(buf, cwd.as_bytes()).map_err(|_| Errno::FAULT)?;
    m.write_u8(buf + cwd.len() as u32, 0)
        .map_err(|_| Errno::FAULT)?;
    Ok(need as i32)
}

fn sys_chdir<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let path = guest_path(cx, arg_u32(a, 0))?;
    let (fd, rel) = resolve(cx, AT_FDCWD, &path)?;
    let st = path_stat(cx, fd, &rel, true)?;
    if st[16] != filetype::DIRECTORY {
        return Err(Errno::NOTDIR.into());
    }
    let abs = normalise(&cx.state().cwd, &path);
    cx.state().cwd = abs;
    Ok(0)
}

fn path_op<T>(cx: &mut Cx<'_, '_, T>, name: &'static str, dirfd: i32, path: u32) -> Sys {
    let path = guest_path(cx, path)?;
    let (fd, rel) = resolve(cx, dirfd, &path)?;
    let mut s = scratch(&rel, 0);
    wasi(
        cx,
        name,
        &[i(fd), i(PATH_AT as u32), i(rel.len() as u32)],
        &mut s,
    )?;
    Ok(0)
}

fn sys_mkdir<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    path_op(cx, "path_create_directory", AT_FDCWD, arg_u32(a, 0))
}

fn sys_mkdirat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    path_op(cx, "path_create_directory", arg_i32(a, 0), arg_u32(a, 1))
}

fn sys_rmdir<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    path_op(cx, "path_remove_directory", AT_FDCWD, arg_u32(a, 0))
}

fn sys_unlink<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    path_op(cx, "path_unlink_file", AT_FDCWD, arg_u32(a, 0))
}

fn sys_unlinkat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let name = if arg_u32(a, 2) & AT_REMOVEDIR != 0 {
        "path_remove_directory"
    } else {
        "path_unlink_file"
    };
    path_op(cx, name, arg_i32(a, 0), arg_u32(a, 1))
}

fn rename_at<T>(cx: &mut Cx<'_, '_, T>, olddir: i32, old: u32, newdir: i32, new: u32) -> Sys {
    let (old, new) = (guest_path(cx, old)?, guest_path(cx, new)?);
    let (ofd, orel) = resolve(cx, olddir, &old)?;
    let (nfd, nrel) = resolve(cx, newdir, &new)?;
    let mut s = scratch(&orel, nrel.len());
    let at = PATH_AT + orel.len();
    s[at..].copy_from_slice(nrel.as_bytes());
    wasi(
        cx,
        "path_rename",
        &[
            i(ofd),
            i(PATH_AT as u32),
            i(orel.len() as u32),
            i(nfd),
            i(at as u32),
            i(nrel.len() as u32),
        ],
        &mut s,
    )?;
    Ok(0)
}

fn sys_rename<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    rename_at(cx, AT_FDCWD, arg_u32(a, 0), AT_FDCWD, arg_u32(a, 1))
}

fn sys_renameat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    rename_at(
        cx,
        arg_i32(a, 0),
        arg_u32(a, 1),
        arg_i32(a, 2),
        arg_u32(a, 3),
    )
}

fn access_at<T>(cx: &mut Cx<'_, '_, T>, dirfd: i32, path: u32, amode: u32) -> Sys {
    if amode & !7 != 0 {
        return Err(Errno::INVAL.into());
    }
    let path = guest_path(cx, path)?;
    let (fd, rel) = resolve(cx, dirfd, &path)?;
    path_stat(cx, fd, &rel, true)?;
    Ok(0)
}

fn sys_access<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    access_at(cx, AT_FDCWD, arg_u32(a, 0), arg_u32(a, 1))
}

fn sys_faccessat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    access_at(cx, arg_i32(a, 0), arg_u32(a, 1), arg_u32(a, 2))
}

fn readlink_at<T>(cx: &mut Cx<'_, '_, T>, dirfd: i32, path: u32, buf: u32, size: u32) -> Sys {
    let path = guest_path(cx, path)?;
    let (fd, rel) = resolve(cx, dirfd, &path)?;
    let cap = size.min(4096);
    let mut s = scratch(&rel, cap as usize);
    let out_at = (PATH_AT + rel.len()) as u32;
    wasi(
        cx,
        "path_readlink",
        &[
            i(fd),
            i(PATH_AT as u32),
            i(rel.len() as u32),
            i(out_at),
            i(cap),
            i(0),
        ],
        &mut s,
    )?;
    let n = u32::from_le_bytes([s[0], s[1], s[2], s[3]]).min(cap);
    let mut m = cx.mem()?;
    m.write(buf, &s[out_at as usize..(out_at + n) as usize])
        .map_err(|_| Errno::FAULT)?;
    Ok(n as i32)
}

fn sys_readlink<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    readlink_at(cx, AT_FDCWD, arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2))
}

fn sys_readlinkat<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    readlink_at(
        cx,
        arg_i32(a, 0),
        arg_u32(a, 1),
        arg_u32(a, 2),
        arg_u32(a, 3),
    )
}

/// Reads the whole listing of directory fd `fd` (WASI `fd_readdir`).
fn read_listing<T>(cx: &mut Cx<'_, '_, T>, fd: u32) -> Result<Vec<(Vec<u8>, u8, u64)>, SysErr> {
    let mut entries = Vec::new();
    let mut cookie = 0u64;
    const BUF: usize = 64 * 1024;
    loop {
        let mut s = vec![0u8; 8 + BUF];
        wasi(
            cx,
            "fd_readdir",
            &[i(fd), i(8), i(BUF as u32), Val::I64(cookie as i64), i(0)],
            &mut s,
        )?;
        let used = (u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize).min(BUF);
        let buf = &s[8..8 + used];
        let mut at = 0;
        let mut progressed = false;
        while at + 24 <= buf.len() {
            let next = u64_at(buf, at);
            let ino = u64_at(buf, at + 8);
            let len =
                u32::from_le_bytes(buf[at + 16..at + 20].try_into().expect("4 bytes")) as usize;
            let ty = buf[at + 20];
            if at + 24 + len > buf.len() {
                break;
            }
            let dt = match ty {
                filetype::DIRECTORY => 4,
                filetype::REGULAR_FILE => 8,
                filetype::SYMBOLIC_LINK => 10,
                filetype::CHARACTER_DEVICE => 2,
                filetype::BLOCK_DEVICE => 6,
                filetype::SOCKET_DGRAM | filetype::SOCKET_STREAM => 12,
                _ => 0,
            };
            entries.push((buf[at + 24..at + 24 + len].to_vec(), dt, ino));
            cookie = next;
            at += 24 + len;
            progressed = true;
        }
        if used < BUF || !progressed {
            return Ok(entries);
        }
    }
}

fn sys_getdents64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let (fd, dirp, count) = (arg_u32(a, 0), arg_u32(a, 1), arg_u32(a, 2));
    let st = fd_stat(cx, fd)?;
    if st[16] != filetype::DIRECTORY {
        return Err(Errno::NOTDIR.into());
    }
    let id = (u64_at(&st, 0), u64_at(&st, 8));
    if cx.state().listings.get(&fd).is_none_or(|l| l.id != id) {
        let entries = read_listing(cx, fd)?;
        cx.state().listings.insert(
            fd,
            Listing {
                id,
                entries,
                next: 0,
            },
        );
    }
    let (mut m, _, state) = cx.parts()?;
    let listing = state.listings.get_mut(&fd).expect("inserted above");
    m.check(dirp, count as usize).map_err(|_| Errno::FAULT)?;
    let mut pos = 0u32;
    while listing.next < listing.entries.len() && pos + DIRENT_SIZE <= count {
        let (name, dt, ino) = &listing.entries[listing.next];
        let mut rec = [0u8; DIRENT_SIZE as usize];
        rec[0..8].copy_from_slice(&ino.to_le_bytes());
        rec[8..16]
            .copy_from_slice(&(((listing.next + 1) as u64) * DIRENT_SIZE as u64).to_le_bytes());
        rec[16..18].copy_from_slice(&(DIRENT_SIZE as u16).to_le_bytes());
        rec[18] = *dt;
        let n = name.len().min(255);
        rec[19..19 + n].copy_from_slice(&name[..n]);
        m.write(dirp + pos, &rec).map_err(|_| Errno::FAULT)?;
        pos += DIRENT_SIZE;
        listing.next += 1;
    }
    if listing.next == listing.entries.len() && pos == 0 {
        // End of the directory: a later read (after rewinddir's seek, which
        // a directory fd does not support here) starts over.
        state.listings.remove(&fd);
    }
    Ok(pos as i32)
}

fn sys_fcntl64<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let (fd, cmd) = (arg_u32(a, 0), arg_u32(a, 1));
    let mut s = [0u8; 24];
    wasi(cx, "fd_fdstat_get", &[i(fd), i(0)], &mut s)?;
    match cmd {
        // F_GETFD, F_SETFD: no exec, so close-on-exec means nothing.
        1 | 2 => Ok(0),
        // F_GETFL
        3 => {
            let flags = u16::from_le_bytes([s[2], s[3]]);
            let base = u64_at(&s, 8);
            let (r, w) = (base & rights::FD_READ != 0, base & rights::FD_WRITE != 0);
            let mut fl = match (r, w) {
                (true, true) => O_RDWR,
                (false, true) => O_WRONLY,
                _ => 0,
            };
            if flags & fdflags::APPEND != 0 {
                fl |= O_APPEND;
            }
            if flags & fdflags::NONBLOCK != 0 {
                fl |= O_NONBLOCK;
            }
            Ok(fl as i32)
        }
        // F_SETFL: only O_APPEND and O_NONBLOCK can change.
        4 => {
            let fl = vararg(cx, arg_u32(a, 2), 0)?;
            let mut ff = 0u16;
            if fl & O_APPEND != 0 {
                ff |= fdflags::APPEND;
            }
            if fl & O_NONBLOCK != 0 {
                ff |= fdflags::NONBLOCK;
            }
            wasi(cx, "fd_fdstat_set_flags", &[i(fd), i(ff as u32)], &mut s)?;
            Ok(0)
        }
        // F_GETLK, F_SETLK, F_SETLKW (and their 64-bit forms): one process.
        5..=7 | 12..=14 => Ok(0),
        _ => Err(Errno::INVAL.into()),
    }
}

fn sys_ioctl<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    let fd = arg_u32(a, 0);
    let mut s = [0u8; 24];
    wasi(cx, "fd_fdstat_get", &[i(fd), i(0)], &mut s)?;
    // Emscripten's JS stdio streams are terminals (line-buffered stdout);
    // so are ours. Every other fd is not one.
    if fd <= 2 {
        Ok(0)
    } else {
        Err(Errno::NOTTY.into())
    }
}

fn sys_getpid<T>(_: &mut Cx<'_, '_, T>, _: &[Val]) -> Sys {
    Ok(42)
}

fn sys_umask<T>(_: &mut Cx<'_, '_, T>, _: &[Val]) -> Sys {
    Ok(0o022)
}

fn sys_chmod<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    // Permissions are not kept (WASI has none); the file must exist.
    let path = guest_path(cx, arg_u32(a, 0))?;
    let (fd, rel) = resolve(cx, AT_FDCWD, &path)?;
    path_stat(cx, fd, &rel, true)?;
    Ok(0)
}

fn sys_fchmod<T>(cx: &mut Cx<'_, '_, T>, a: &[Val]) -> Sys {
    fd_stat(cx, arg_u32(a, 0))?;
    Ok(0)
}

/// Unimplemented syscalls: `-ENOSYS` (when they return anything).
pub(crate) fn nosys<T>(_: &mut Cx<'_, '_, T>, _: &[Val], r: &mut [Val]) -> Result<(), HostError> {
    if let Some(v @ Val::I32(_)) = r.first_mut() {
        *v = Val::I32(-(Errno::NOSYS.0 as i32));
    }
    Ok(())
}

macro_rules! syscalls {
    ($($name:literal => $f:ident,)*) => {
        /// The handler of `__syscall_<name>`, if implemented.
        pub(crate) fn syscall<T: 'static>(name: &str) -> Option<Handler<T>> {
            match name {
                $($name => Some({
                    fn h<T>(cx: &mut Cx<'_, '_, T>, a: &[Val], r: &mut [Val]) -> Result<(), HostError> {
                        let v = match $f(cx, a) {
                            Ok(v) => v,
                            Err(SysErr::Errno(e)) => -(e.0 as i32),
                            Err(SysErr::Trap(t)) => return Err(t),
                        };
                        set_i32(r, v);
                        Ok(())
                    }
                    h::<T>
                }),)*
                _ => None,
            }
        }
    };
}

syscalls! {
    "open" => sys_open,
    "openat" => sys_openat,
    "fstat64" => sys_fstat64,
    "stat64" => sys_stat64,
    "lstat64" => sys_lstat64,
    "fstatat64" => sys_fstatat64,
    "newfstatat" => sys_fstatat64,
    "getcwd" => sys_getcwd,
    "chdir" => sys_chdir,
    "mkdir" => sys_mkdir,
    "mkdirat" => sys_mkdirat,
    "rmdir" => sys_rmdir,
    "unlink" => sys_unlink,
    "unlinkat" => sys_unlinkat,
    "rename" => sys_rename,
    "renameat" => sys_renameat,
    "access" => sys_access,
    "faccessat" => sys_faccessat,
    "readlink" => sys_readlink,
    "readlinkat" => sys_readlinkat,
    "getdents64" => sys_getdents64,
    "fcntl64" => sys_fcntl64,
    "ioctl" => sys_ioctl,
    "getpid" => sys_getpid,
    "umask" => sys_umask,
    "chmod" => sys_chmod,
    "fchmod" => sys_fchmod,
}
