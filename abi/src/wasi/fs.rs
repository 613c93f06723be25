//! The `fd_*` and `path_*` functions.
//!
//! Conventions: arguments are validated (flags, then guest pointers) before
//! anything with a side effect happens, so a `FAULT`/`INVAL` never leaves
//! half-done work behind (no byte read from a file is lost because the
//! result pointer was bad, no fd leaks from `path_open`). Then the fd is
//! looked up (`BADF`), its kind checked (`NOTDIR` where a directory is
//! needed, `SPIPE` for seeking stdio) and its rights checked (see
//! [`super::fdtable`]). Host errors map through [`Errno::from`].
//!
//! Every path is resolved by cap-std relative to a directory fd; see the
//! crate docs for what that guarantees.
//!
//! Links: cap-std keeps the guest itself from following a symlink out of
//! its preopen, but a host program that later walks the directory would
//! follow it. So no guest operation may leave a symlink that leads out:
//! `path_symlink`, `path_link` (of a symlink), and `path_rename` (of a
//! symlink, or of a directory holding symlinks, to a shallower place) fail
//! with `PERM` if the result would be a symlink whose target is absolute
//! or climbs more levels (`..`) than the link's directory lies below the
//! preopen (see [`link_target_fits`] for the exact rule, and why a `..`
//! after a name is refused). Depths are measured on the host (walking
//! `..` up to the preopen, [`depth_below_root`]), never from the guest's
//! path text, so `a/../b`, symlinked parents and renamed directories are
//! all seen as they really are.
//!
//! What must stay true: every symlink a guest creates or moves satisfies
//! [`link_target_fits`] at its new place, and stays so after any rename
//! the guest can make.

use super::fdtable::{open_dir_at, readable_dir_fd, DirId, DirStream, Entry, FdTable, Kind};
use super::memory::{GuestMemory, IoVec};
use super::types::*;
use super::{Call, WasiResult};
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, OpenOptionsSyncExt,
};
use cap_std::fs::{Dir, File, FileExt, FileTypeExt, Metadata, MetadataExt};
use std::ffi::{CStr, CString};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

// ---- helpers ---------------------------------------------------------------

fn check_host(r: libc::c_int) -> Result<(), Errno> {
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::from(io::Error::last_os_error()))
    }
}

/// Runs `f` on a host fd for the file or directory itself (for `fsync`,
/// `futimens`): the file's own fd, or a readable fd for a directory (see
/// [`readable_dir_fd`]). `BADF` for stdio, which never has the rights that
/// lead here anyway.
fn with_host_fd<T>(e: &Entry, f: impl FnOnce(RawFd) -> T) -> Result<T, Errno> {
    match &e.kind {
        Kind::File(file) => Ok(f(file.as_raw_fd())),
        Kind::Dir { dir, .. } => {
            let fd = readable_dir_fd(dir)?;
            Ok(f(fd.as_raw_fd()))
        }
        _ => Err(Errno::BADF),
    }
}

fn file(e: &Entry) -> Result<&File, Errno> {
    match &e.kind {
        Kind::File(f) => Ok(f),
        Kind::Dir { .. } => Err(Errno::ISDIR),
        _ => Err(Errno::BADF),
    }
}

/// A file offset from the guest: at most `i64::MAX` (`INVAL`).
fn offset(v: u64) -> Result<i64, Errno> {
    i64::try_from(v).map_err(|_| Errno::INVAL)
}

pub(crate) fn filetype_of(ft: cap_std::fs::FileType) -> u8 {
    if ft.is_dir() {
        filetype::DIRECTORY
    } else if ft.is_file() {
        filetype::REGULAR_FILE
    } else if ft.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if ft.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if ft.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if ft.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

fn timestamp(secs: i64, nsecs: i64) -> u64 {
    if secs < 0 {
        0
    } else {
        (secs as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(nsecs as u64)
    }
}

/// The `filestat` layout: dev@0 ino@8 filetype@16 nlink@24 size@32 atim@40
/// mtim@48 ctim@56.
fn filestat(md: &Metadata) -> [u8; FILESTAT_SIZE] {
    let mut b = [0u8; FILESTAT_SIZE];
    b[0..8].copy_from_slice(&md.dev().to_le_bytes());
    b[8..16].copy_from_slice(&md.ino().to_le_bytes());
    b[16] = filetype_of(md.file_type());
    b[24..32].copy_from_slice(&md.nlink().to_le_bytes());
    b[32..40].copy_from_slice(&md.len().to_le_bytes());
    b[40..48].copy_from_slice(&timestamp(md.atime(), md.atime_nsec()).to_le_bytes());
    b[48..56].copy_from_slice(&timestamp(md.mtime(), md.mtime_nsec()).to_le_bytes());
    b[56..64].copy_from_slice(&timestamp(md.ctime(), md.ctime_nsec()).to_le_bytes());
    b
}

/// Validates `fst_flags` and turns one time into what `utimensat` takes.
fn timespec(t: u64, set: bool, now: bool) -> Result<libc::timespec, Errno> {
    Ok(match (set, now) {
        (true, true) => return Err(Errno::INVAL),
        (false, true) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        (true, false) => libc::timespec {
            tv_sec: (t / 1_000_000_000) as libc::time_t,
            tv_nsec: (t % 1_000_000_000) as libc::c_long,
        },
        (false, false) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    })
}

fn timespecs(atim: u64, mtim: u64, fst: u32) -> Result<[libc::timespec; 2], Errno> {
    if fst & !(fstflags::ALL as u32) != 0 {
        return Err(Errno::INVAL);
    }
    let fst = fst as u16;
    Ok([
        timespec(
            atim,
            fst & fstflags::ATIM != 0,
            fst & fstflags::ATIM_NOW != 0,
        )?,
        timespec(
            mtim,
            fst & fstflags::MTIM != 0,
            fst & fstflags::MTIM_NOW != 0,
        )?,
    ])
}

fn time_spec(t: &libc::timespec) -> Option<cap_fs_ext::SystemTimeSpec> {
    if t.tv_nsec == libc::UTIME_OMIT {
        None
    } else if t.tv_nsec == libc::UTIME_NOW {
        Some(cap_fs_ext::SystemTimeSpec::SymbolicNow)
    } else {
        let d = Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        Some(cap_fs_ext::SystemTimeSpec::Absolute(
            cap_std::time::SystemTime::from_std(std::time::UNIX_EPOCH + d),
        ))
    }
}

/// Retries `EINTR`.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// A partial transfer counts; an error only when nothing was transferred.
fn partial(total: usize, e: io::Error) -> Result<usize, Errno> {
    if total > 0 {
        Ok(total)
    } else {
        Err(e.into())
    }
}

fn lookup_follow(flags: u32) -> bool {
    flags & LOOKUP_SYMLINK_FOLLOW != 0
}

/// `path` without trailing slashes (`"dir/"` -> `"dir"`), unless nothing
/// else is left (`"/"` stays, and fails as absolute).
fn trim_trailing_slashes(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        path
    } else {
        t
    }
}

// ---- symlinks that would lead out of the preopen ---------------------------

/// Whether a symlink with `target`, in a directory `depth` levels below its
/// preopen, can only resolve inside the preopen, whatever the rest of the
/// tree looks like when it is followed.
///
/// The rule: the target is relative, and its `..` components all come
/// first (ignoring `.` and empty ones), at most `depth` of them. A `..`
/// after a name is refused because the name may be (or later become) a
/// symlink to the preopen itself: `s -> .` then `l -> s/../x` looks like
/// `x` lexically, but the kernel resolves `s/..` to the preopen's parent.
/// After the leading `..`s the target only descends, and every symlink it
/// passes through obeys this same rule, so it never climbs out.
fn link_target_fits(target: &[u8], depth: usize) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut ups = 0usize;
    let mut named = false;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if named => return false,
            b".." => ups += 1,
            _ => named = true,
        }
    }
    ups <= depth
}

/// How many levels the directory `dir` lies below the directory `root`,
/// found by walking `..` on the host (as the kernel will when it follows a
/// link there). `PERM` if `root` is not an ancestor (the walk reaches the
/// file system root) or the walk is absurdly long.
fn depth_below_root(dir: BorrowedFd<'_>, root: DirId) -> Result<usize, Errno> {
    const MAX_DEPTH: usize = 1 << 16;
    let mut id = DirId::of(dir)?;
    if id == root {
        return Ok(0);
    }
    let mut cur = open_dir_at(dir, c"..", libc::O_PATH)?;
    for depth in 1..MAX_DEPTH {
        let parent_id = DirId::of(cur.as_fd())?;
        if parent_id == root {
            return Ok(depth);
        }
        if parent_id == id {
            // `..` of `/` is itself: the root was not on the way up.
            return Err(Errno::PERM);
        }
        id = parent_id;
        cur = open_dir_at(cur.as_fd(), c"..", libc::O_PATH)?;
    }
    Err(Errno::PERM)
}

/// The depth below its preopen of the directory that will hold the entry
/// `path` (relative to the directory fd `fd`): the directory named by
/// everything before the last component, opened through cap-std (so
/// symlinked and `..` parents resolve as they will for the operation).
fn entry_depth(fds: &FdTable, fd: u32, dir: &Dir, path: &str) -> Result<usize, Errno> {
    let root = fds.root(fd)?;
    let path = trim_trailing_slashes(path);
    match path.rfind('/') {
        None => depth_below_root(dir.as_fd(), root),
        Some(0) => Err(Errno::PERM), // absolute: cap-std refuses it anyway
        Some(i) => {
            let parent = dir.open_dir(&path[..i])?;
            depth_below_root(parent.as_fd(), root)
        }
    }
}

/// `PERM` unless a symlink with `target` may be placed at `path` (relative
/// to the directory fd `fd`).
fn check_link_at(
    fds: &FdTable,
    fd: u32,
    dir: &Dir,
    path: &str,
    target: &[u8],
) -> Result<(), Errno> {
    let depth = entry_depth(fds, fd, dir, path)?;
    if link_target_fits(target, depth) {
        Ok(())
    } else {
        Err(Errno::PERM)
    }
}

/// `PERM` if any symlink beneath the directory `top` (a readable fd) would
/// lead out of the preopen once `top` lies `depth` levels below it.
/// Directories are walked without following symlinks; one fd per level of
/// nesting is held (running out fails the check, closed).
fn check_links_beneath(top: std::os::fd::OwnedFd, depth: usize) -> Result<(), Errno> {
    let mut stack = vec![(DirStream::from_fd(top)?, depth)];
    while let Some((stream, depth)) = stack.last_mut() {
        let depth = *depth;
        let Some(ent) = stream.next_entry()? else {
            stack.pop();
            continue;
        };
        if ent.name == b"." || ent.name == b".." {
            continue;
        }
        let name = CString::new(ent.name).map_err(|_| Errno::ILSEQ)?;
        let at = stream.fd();
        let is_link = match ent.d_type {
            libc::DT_LNK => true,
            libc::DT_DIR => false,
            libc::DT_UNKNOWN => lstat_mode(at, &name)? == libc::S_IFLNK,
            _ => continue,
        };
        if is_link {
            if !link_target_fits(&read_link_at(at, &name)?, depth) {
                return Err(Errno::PERM);
            }
        } else {
            match open_dir_at(at, &name, libc::O_RDONLY) {
                Ok(sub) => stack.push((DirStream::from_fd(sub)?, depth + 1)),
                // Not a directory after all (DT_UNKNOWN): nothing beneath.
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The file type bits (`S_IFMT`) of `name` in the directory `at`, not
/// following a symlink.
fn lstat_mode(at: BorrowedFd<'_>, name: &CStr) -> Result<libc::mode_t, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat fills the buffer on success (checked before it is
    // read); the fd is live and the name NUL-terminated.
    unsafe {
        if libc::fstatat(
            at.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        ) != 0
        {
            return Err(io::Error::last_os_error().into());
        }
        Ok(st.assume_init().st_mode & libc::S_IFMT)
    }
}

/// The target of the symlink `name` in the directory `at`.
fn read_link_at(at: BorrowedFd<'_>, name: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: readlinkat writes at most buf.len() bytes into buf; the
        // fd is live and the name NUL-terminated.
        let n = unsafe {
            libc::readlinkat(
                at.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error().into());
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        // Possibly cut short: try again with more room.
        buf.resize(buf.len() * 2, 0);
    }
}

// ---- fd_* ------------------------------------------------------------------

pub(crate) fn fd_advise(c: &mut Call) -> WasiResult {
    let (fd, off, len) = (c.u32(0), c.u64(1), c.u64(2));
    let advice = match c.u32(3) {
        0 => libc::POSIX_FADV_NORMAL,
        1 => libc::POSIX_FADV_SEQUENTIAL,
        2 => libc::POSIX_FADV_RANDOM,
        3 => libc::POSIX_FADV_WILLNEED,
        4 => libc::POSIX_FADV_DONTNEED,
        5 => libc::POSIX_FADV_NOREUSE,
        _ => return Err(Errno::INVAL.into()),
    };
    let f = file(c.ctx.fds.with(fd, rights::FD_ADVISE)?)?;
    // SAFETY: plain syscall on an fd we own.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), offset(off)?, offset(len)?, advice) };
    if r != 0 {
        return Err(Errno::from_host(r).into());
    }
    Ok(())
}

pub(crate) fn fd_allocate(c: &mut Call) -> WasiResult {
    let (fd, off, len) = (c.u32(0), c.u64(1), c.u64(2));
    let f = file(c.ctx.fds.with(fd, rights::FD_ALLOCATE)?)?;
    let (off, len) = (offset(off)?, offset(len)?);
    if off.checked_add(len).is_none() {
        return Err(Errno::FBIG.into());
    }
    // SAFETY: plain syscall on an fd we own.
    let r = unsafe { libc::posix_fallocate(f.as_raw_fd(), off, len) };
    if r != 0 {
        return Err(Errno::from_host(r).into());
    }
    Ok(())
}

pub(crate) fn fd_close(c: &mut Call) -> WasiResult {
    c.ctx.fds.remove(c.u32(0))?;
    Ok(())
}

pub(crate) fn fd_datasync(c: &mut Call) -> WasiResult {
    let e = c.ctx.fds.with(c.u32(0), rights::FD_DATASYNC)?;
    // SAFETY: plain syscall on an fd we own.
    with_host_fd(e, |fd| check_host(unsafe { libc::fdatasync(fd) }))??;
    Ok(())
}

pub(crate) fn fd_sync(c: &mut Call) -> WasiResult {
    let e = c.ctx.fds.with(c.u32(0), rights::FD_SYNC)?;
    // SAFETY: plain syscall on an fd we own.
    with_host_fd(e, |fd| check_host(unsafe { libc::fsync(fd) }))??;
    Ok(())
}

/// `fdstat`: filetype u8 @0, flags u16 @2, rights_base u64 @8,
/// rights_inheriting u64 @16.
pub(crate) fn fd_fdstat_get(c: &mut Call) -> WasiResult {
    let (fd, out) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    let e = c.ctx.fds.get(fd)?;
    let mut b = [0u8; FDSTAT_SIZE];
    b[0] = e.filetype;
    b[2..4].copy_from_slice(&e.fdflags.to_le_bytes());
    b[8..16].copy_from_slice(&e.base.to_le_bytes());
    b[16..24].copy_from_slice(&e.inheriting.to_le_bytes());
    m.write(out, &b)?;
    Ok(())
}

pub(crate) fn fd_fdstat_set_flags(c: &mut Call) -> WasiResult {
    let (fd, flags) = (c.u32(0), c.u32(1));
    if flags & !(fdflags::ALL as u32) != 0 {
        return Err(Errno::INVAL.into());
    }
    let flags = flags as u16;
    let e = c.ctx.fds.with_mut(fd, rights::FD_FDSTAT_SET_FLAGS)?;
    // The sync modes cannot be changed on an open file (Linux ignores them
    // in F_SETFL): asking to is `INVAL` (as in wasmtime); keeping them is
    // fine.
    if (flags ^ e.fdflags) & fdflags::SYNC_ANY != 0 {
        return Err(Errno::INVAL.into());
    }
    // Directories: the flags are recorded only (append and non-blocking
    // mean nothing for them, and their host fd is `O_PATH`).
    let Kind::File(f) = &e.kind else {
        e.fdflags = flags;
        return Ok(());
    };
    let host = f.as_raw_fd();
    // SAFETY: plain fcntl calls on an fd we own.
    unsafe {
        let cur = libc::fcntl(host, libc::F_GETFL);
        if cur < 0 {
            return Err(Errno::from(io::Error::last_os_error()).into());
        }
        let mut new = cur & !(libc::O_APPEND | libc::O_NONBLOCK);
        if flags & fdflags::APPEND != 0 {
            new |= libc::O_APPEND;
        }
        if flags & fdflags::NONBLOCK != 0 {
            new |= libc::O_NONBLOCK;
        }
        if libc::fcntl(host, libc::F_SETFL, new) < 0 {
            return Err(Errno::from(io::Error::last_os_error()).into());
        }
    }
    e.fdflags = flags;
    Ok(())
}

pub(crate) fn fd_fdstat_set_rights(c: &mut Call) -> WasiResult {
    let (fd, base, inheriting) = (c.u32(0), c.u64(1), c.u64(2));
    let e = c.ctx.fds.get_mut(fd)?;
    if base & !e.base != 0 || inheriting & !e.inheriting != 0 {
        return Err(Errno::NOTCAPABLE.into());
    }
    e.base = base;
    e.inheriting = inheriting;
    Ok(())
}

pub(crate) fn fd_filestat_get(c: &mut Call) -> WasiResult {
    let (fd, out) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    let e = c.ctx.fds.with(fd, rights::FD_FILESTAT_GET)?;
    let b = match &e.kind {
        Kind::File(f) => filestat(&f.metadata()?),
        Kind::Dir { dir, .. } => filestat(&dir.dir_metadata()?),
        Kind::Stdin(_) | Kind::Output(_) => {
            let mut b = [0u8; FILESTAT_SIZE];
            b[16] = e.filetype;
            b
        }
    };
    m.write(out, &b)?;
    Ok(())
}

pub(crate) fn fd_filestat_set_size(c: &mut Call) -> WasiResult {
    let (fd, size) = (c.u32(0), c.u64(1));
    let f = file(c.ctx.fds.with(fd, rights::FD_FILESTAT_SET_SIZE)?)?;
    offset(size)?;
    f.set_len(size)?;
    Ok(())
}

pub(crate) fn fd_filestat_set_times(c: &mut Call) -> WasiResult {
    let (fd, atim, mtim, fst) = (c.u32(0), c.u64(1), c.u64(2), c.u32(3));
    let times = timespecs(atim, mtim, fst)?;
    let e = c.ctx.fds.with(fd, rights::FD_FILESTAT_SET_TIMES)?;
    with_host_fd(e, |host| {
        // SAFETY: two valid timespecs, an fd we own.
        check_host(unsafe { libc::futimens(host, times.as_ptr()) })
    })??;
    Ok(())
}

/// `pread`/`read` into the iovecs in turn, stopping at a short read.
fn read_iovecs(
    m: &mut GuestMemory,
    iovs: &[IoVec],
    mut read: impl FnMut(&mut [u8], usize) -> io::Result<usize>,
    one_read_only: bool,
) -> Result<usize, Errno> {
    let mut total = 0usize;
    for v in iovs.iter().filter(|v| v.len > 0) {
        let buf = m.slice_mut(v.ptr, v.len)?;
        let n = match read(buf, total) {
            Ok(n) => n,
            Err(e) => return partial(total, e),
        };
        total += n;
        if n < v.len as usize || one_read_only {
            break;
        }
    }
    Ok(total)
}

fn write_iovecs(
    m: &GuestMemory,
    iovs: &[IoVec],
    mut write: impl FnMut(&[u8], usize) -> io::Result<usize>,
) -> Result<usize, Errno> {
    let mut total = 0usize;
    for v in iovs.iter().filter(|v| v.len > 0) {
        let buf = m.slice(v.ptr, v.len)?;
        let n = match write(buf, total) {
            Ok(n) => n,
            Err(e) => return partial(total, e),
        };
        total += n;
        if n < v.len as usize {
            break;
        }
    }
    Ok(total)
}

pub(crate) fn fd_read(c: &mut Call) -> WasiResult {
    let (fd, iovs, n_iovs, out) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3));
    let mut m = c.mem()?;
    let iovs = m.iovecs(iovs, n_iovs)?;
    m.check(out, 4)?;
    let e = c.ctx.fds.with_mut(fd, rights::FD_READ)?;
    let regular = e.filetype == filetype::REGULAR_FILE;
    let n = match &mut e.kind {
        Kind::Stdin(s) => read_iovecs(&mut m, &iovs, |b, _| s.read(b), true)?,
        Kind::File(f) => read_iovecs(&mut m, &iovs, |b, _| retry(|| f.read(b)), !regular)?,
        _ => return Err(Errno::BADF.into()),
    };
    m.write_u32(out, n as u32)?;
    Ok(())
}

pub(crate) fn fd_pread(c: &mut Call) -> WasiResult {
    let (fd, iovs, n_iovs, off, out) = (c.u32(0), c.u32(1), c.u32(2), c.u64(3), c.u32(4));
    let mut m = c.mem()?;
    let iovs = m.iovecs(iovs, n_iovs)?;
    m.check(out, 4)?;
    let e = c.ctx.fds.get(fd)?;
    if e.is_stdio() {
        return Err(Errno::SPIPE.into());
    }
    e.need(rights::FD_READ | rights::FD_SEEK)?;
    let f = file(e)?;
    offset(off)?;
    let n = read_iovecs(
        &mut m,
        &iovs,
        |b, done| retry(|| f.read_at(b, off + done as u64)),
        false,
    )?;
    m.write_u32(out, n as u32)?;
    Ok(())
}

pub(crate) fn fd_write(c: &mut Call) -> WasiResult {
    let (fd, iovs, n_iovs, out) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3));
    let mut m = c.mem()?;
    let iovs = m.iovecs(iovs, n_iovs)?;
    m.check(out, 4)?;
    let e = c.ctx.fds.with_mut(fd, rights::FD_WRITE)?;
    let n = match &mut e.kind {
        Kind::Output(sink) => {
            let chunks = iovs
                .iter()
                .map(|v| m.slice(v.ptr, v.len))
                .collect::<Result<Vec<_>, _>>()?;
            sink.write_all(&chunks)?;
            chunks.iter().map(|c| c.len()).sum()
        }
        Kind::File(f) => write_iovecs(&m, &iovs, |b, _| retry(|| f.write(b)))?,
        _ => return Err(Errno::BADF.into()),
    };
    m.write_u32(out, n as u32)?;
    Ok(())
}

pub(crate) fn fd_pwrite(c: &mut Call) -> WasiResult {
    let (fd, iovs, n_iovs, off, out) = (c.u32(0), c.u32(1), c.u32(2), c.u64(3), c.u32(4));
    let mut m = c.mem()?;
    let iovs = m.iovecs(iovs, n_iovs)?;
    m.check(out, 4)?;
    let e = c.ctx.fds.get(fd)?;
    if e.is_stdio() {
        return Err(Errno::SPIPE.into());
    }
    e.need(rights::FD_WRITE | rights::FD_SEEK)?;
    let f = file(e)?;
    offset(off)?;
    let n = write_iovecs(&m, &iovs, |b, done| {
        retry(|| f.write_at(b, off + done as u64))
    })?;
    m.write_u32(out, n as u32)?;
    Ok(())
}

/// `prestat`: tag u8 @0 (0 = dir), name length u32 @4.
pub(crate) fn fd_prestat_get(c: &mut Call) -> WasiResult {
    let (fd, out) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    let Kind::Dir {
        preopen: Some(name),
        ..
    } = &c.ctx.fds.get(fd)?.kind
    else {
        return Err(Errno::BADF.into());
    };
    let mut b = [0u8; PRESTAT_SIZE];
    b[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
    m.write(out, &b)?;
    Ok(())
}

pub(crate) fn fd_prestat_dir_name(c: &mut Call) -> WasiResult {
    let (fd, path, len) = (c.u32(0), c.u32(1), c.u32(2));
    let mut m = c.mem()?;
    let Kind::Dir {
        preopen: Some(name),
        ..
    } = &c.ctx.fds.get(fd)?.kind
    else {
        return Err(Errno::NOTDIR.into());
    };
    if (len as usize) < name.len() {
        return Err(Errno::NAMETOOLONG.into());
    }
    m.write(path, name.as_bytes())?;
    Ok(())
}

/// `dirent`: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20,
/// then the name. Entries are written until the buffer is full; the last
/// one may be cut short (the guest then sees `bufused == buf_len` and asks
/// again from the last whole entry's `d_next`).
pub(crate) fn fd_readdir(c: &mut Call) -> WasiResult {
    let (fd, buf, buf_len, cookie, out) = (c.u32(0), c.u32(1), c.u32(2), c.u64(3), c.u32(4));
    let mut m = c.mem()?;
    m.check(buf, buf_len as usize)?;
    m.check(out, 4)?;
    let e = c.ctx.fds.get_mut(fd)?;
    if !matches!(e.kind, Kind::Dir { .. }) {
        return Err(Errno::NOTDIR.into());
    }
    e.need(rights::FD_READDIR)?;
    let Kind::Dir { dir, stream, .. } = &mut e.kind else {
        unreachable!()
    };
    if stream.is_none() {
        *stream = Some(DirStream::open(dir)?);
    }
    let stream = stream.as_mut().unwrap();
    stream.seek(cookie);
    let cap = buf_len as usize;
    let mut used = 0usize;
    while used < cap {
        let Some(ent) = stream.next_entry()? else {
            break;
        };
        let d_type = match ent.d_type {
            libc::DT_DIR => filetype::DIRECTORY,
            libc::DT_REG => filetype::REGULAR_FILE,
            libc::DT_LNK => filetype::SYMBOLIC_LINK,
            libc::DT_CHR => filetype::CHARACTER_DEVICE,
            libc::DT_BLK => filetype::BLOCK_DEVICE,
            libc::DT_SOCK => filetype::SOCKET_STREAM,
            libc::DT_FIFO => filetype::UNKNOWN,
            _ => dir
                .symlink_metadata(std::ffi::OsStr::from_bytes(&ent.name))
                .map(|md| filetype_of(md.file_type()))
                .unwrap_or(filetype::UNKNOWN),
        };
        let mut rec = Vec::with_capacity(DIRENT_SIZE + ent.name.len());
        rec.extend_from_slice(&ent.next.to_le_bytes());
        rec.extend_from_slice(&ent.ino.to_le_bytes());
        rec.extend_from_slice(&(ent.name.len() as u32).to_le_bytes());
        rec.extend_from_slice(&[d_type, 0, 0, 0]);
        rec.extend_from_slice(&ent.name);
        let n = rec.len().min(cap - used);
        m.write(buf + used as u32, &rec[..n])?;
        used += n;
    }
    m.write_u32(out, used as u32)?;
    Ok(())
}

pub(crate) fn fd_renumber(c: &mut Call) -> WasiResult {
    let (from, to) = (c.u32(0), c.u32(1));
    // Both must be open: this replaces `to` (preview 1 has no dup2).
    if !c.ctx.fds.contains(from) || !c.ctx.fds.contains(to) {
        return Err(Errno::BADF.into());
    }
    if from != to {
        let e = c.ctx.fds.remove(from)?;
        c.ctx.fds.insert_at(to, e);
    }
    Ok(())
}

pub(crate) fn fd_seek(c: &mut Call) -> WasiResult {
    let (fd, delta, whence, out) = (c.u32(0), c.i64(1), c.u32(2), c.u32(3));
    let mut m = c.mem()?;
    let whence = u8::try_from(whence).map_err(|_| Errno::INVAL)?;
    let pos = match whence {
        WHENCE_SET if delta < 0 => return Err(Errno::INVAL.into()),
        WHENCE_SET => SeekFrom::Start(delta as u64),
        WHENCE_CUR => SeekFrom::Current(delta),
        WHENCE_END => SeekFrom::End(delta),
        _ => return Err(Errno::INVAL.into()),
    };
    m.check(out, 8)?;
    let e = c.ctx.fds.get_mut(fd)?;
    if e.is_stdio() {
        return Err(Errno::SPIPE.into());
    }
    let tell_only = pos == SeekFrom::Current(0);
    if !(tell_only && e.base & rights::FD_TELL != 0) {
        e.need(rights::FD_SEEK)?;
    }
    let Kind::File(f) = &mut e.kind else {
        return Err(Errno::BADF.into());
    };
    let new = f.seek(pos)?;
    m.write_u64(out, new)?;
    Ok(())
}

pub(crate) fn fd_tell(c: &mut Call) -> WasiResult {
    let (fd, out) = (c.u32(0), c.u32(1));
    let mut m = c.mem()?;
    m.check(out, 8)?;
    let e = c.ctx.fds.get_mut(fd)?;
    if e.is_stdio() {
        return Err(Errno::SPIPE.into());
    }
    if e.base & rights::FD_SEEK == 0 {
        e.need(rights::FD_TELL)?;
    }
    let Kind::File(f) = &mut e.kind else {
        return Err(Errno::BADF.into());
    };
    let pos = f.stream_position()?;
    m.write_u64(out, pos)?;
    Ok(())
}

// ---- path_* ----------------------------------------------------------------

pub(crate) fn path_create_directory(c: &mut Call) -> WasiResult {
    let (fd, p, pl) = (c.u32(0), c.u32(1), c.u32(2));
    let m = c.mem()?;
    let path = m.str(p, pl)?;
    c.ctx
        .fds
        .dir(fd, rights::PATH_CREATE_DIRECTORY)?
        .create_dir(path)?;
    Ok(())
}

pub(crate) fn path_filestat_get(c: &mut Call) -> WasiResult {
    let (fd, flags, p, pl, out) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3), c.u32(4));
    let mut m = c.mem()?;
    let path = m.str(p, pl)?;
    let dir = c.ctx.fds.dir(fd, rights::PATH_FILESTAT_GET)?;
    let md = if lookup_follow(flags) {
        dir.metadata(path)?
    } else {
        dir.symlink_metadata(path)?
    };
    m.write(out, &filestat(&md))?;
    Ok(())
}

pub(crate) fn path_filestat_set_times(c: &mut Call) -> WasiResult {
    let (fd, flags, p, pl) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3));
    let (atim, mtim, fst) = (c.u64(4), c.u64(5), c.u32(6));
    let times = timespecs(atim, mtim, fst)?;
    let m = c.mem()?;
    let path = m.str(p, pl)?;
    let dir = c.ctx.fds.dir(fd, rights::PATH_FILESTAT_SET_TIMES)?;
    let (a, t) = (time_spec(&times[0]), time_spec(&times[1]));
    if lookup_follow(flags) {
        dir.set_times(path, a, t)?;
    } else {
        dir.set_symlink_times(path, a, t)?;
    }
    Ok(())
}

pub(crate) fn path_link(c: &mut Call) -> WasiResult {
    let (old_fd, old_flags, op, opl) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3));
    let (new_fd, np, npl) = (c.u32(4), c.u32(5), c.u32(6));
    let m = c.mem()?;
    let (old, new) = (m.str(op, opl)?, m.str(np, npl)?);
    let fds = &c.ctx.fds;
    let old_dir = fds.dir(old_fd, rights::PATH_LINK_SOURCE)?;
    let new_dir = fds.dir(new_fd, rights::PATH_LINK_TARGET)?;
    // Hard links are made to the path itself; following a final symlink
    // (AT_SYMLINK_FOLLOW) is refused with `INVAL` whatever the path names,
    // as wasmtime does.
    if lookup_follow(old_flags) {
        return Err(Errno::INVAL.into());
    }
    // A hard link to a symlink is a second symlink with the same target,
    // at the new place: it must not lead out from there. (A host-planted
    // absolute link fails here too: cap-std's read_link refuses it.)
    if matches!(old_dir.symlink_metadata(old), Ok(md) if md.is_symlink()) {
        let target = old_dir.read_link(old)?;
        check_link_at(fds, new_fd, new_dir, new, target.as_os_str().as_bytes())?;
    }
    old_dir.hard_link(old, new_dir, new)?;
    Ok(())
}

enum Opened {
    File(File, u8),
    Dir(Dir),
}

pub(crate) fn path_open(c: &mut Call) -> WasiResult {
    let (fd, dirflags, p, pl, oflags) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3), c.u32(4));
    let (req_base, req_inheriting, fdflags, out) = (c.u64(5), c.u64(6), c.u32(7), c.u32(8));
    if oflags & !(oflags::ALL as u32) != 0 || fdflags & !(fdflags::ALL as u32) != 0 {
        return Err(Errno::INVAL.into());
    }
    let (oflags, fdflags) = (oflags as u16, fdflags as u16);
    let (creat, excl, trunc) = (
        oflags & oflags::CREAT != 0,
        oflags & oflags::EXCL != 0,
        oflags & oflags::TRUNC != 0,
    );
    let directory = oflags & oflags::DIRECTORY != 0;
    if directory && (creat || excl || trunc) {
        return Err(Errno::INVAL.into());
    }
    let mut m = c.mem()?;
    m.check(out, 4)?;
    let path = m.str(p, pl)?;

    let parent = c.ctx.fds.get(fd)?;
    let Kind::Dir { dir, .. } = &parent.kind else {
        return Err(Errno::NOTDIR.into());
    };
    let mut needed = rights::PATH_OPEN;
    if creat {
        needed |= rights::PATH_CREATE_FILE;
    }
    if trunc {
        needed |= rights::PATH_FILESTAT_SET_SIZE;
    }
    parent.need(needed)?;
    // The requested rights only choose the access mode (see the fdtable
    // docs for what is granted).
    let _ = req_inheriting;
    let inheriting = parent.inheriting;
    let req = req_base & inheriting;
    let read = req & (rights::FD_READ | rights::FD_READDIR) != 0;
    let write = req & (rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE) != 0;
    let follow = lookup_follow(dirflags);

    let opened = if directory {
        let d = if follow {
            dir.open_dir(path)?
        } else {
            dir.open_dir_nofollow(path)?
        };
        if write {
            // A directory cannot be opened for writing (as in open(2)).
            return Err(Errno::ISDIR.into());
        }
        Opened::Dir(d)
    } else {
        let mut o = cap_std::fs::OpenOptions::new();
        o.maybe_dir(true);
        o.follow(if follow {
            FollowSymlinks::Yes
        } else {
            FollowSymlinks::No
        });
        if creat && excl {
            o.create_new(true);
        } else if creat {
            o.create(true);
        }
        o.truncate(trunc);
        // Creating or truncating needs a writable host fd even when the
        // guest asked for no write right (it gets none).
        let host_write = write || creat || trunc;
        o.write(host_write);
        o.read(read || !host_write);
        o.sync(fdflags & fdflags::SYNC != 0);
        o.dsync(fdflags & fdflags::DSYNC != 0);
        o.rsync(fdflags & fdflags::RSYNC != 0);
        o.nonblock(fdflags & fdflags::NONBLOCK != 0);
        let f = dir.open_with(path, &o)?;
        let md = f.metadata()?;
        if md.is_dir() {
            Opened::Dir(Dir::from_std_file(f.into_std()))
        } else {
            if fdflags & fdflags::APPEND != 0 {
                // SAFETY: plain fcntl calls on the fd just opened. (Set
                // here rather than by OpenOptions, which refuses
                // append + truncate, a valid POSIX combination.)
                unsafe {
                    let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                    if fl < 0 || libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_APPEND) < 0
                    {
                        return Err(Errno::from(io::Error::last_os_error()).into());
                    }
                }
            }
            Opened::File(f, filetype_of(md.file_type()))
        }
    };
    let mut entry = match opened {
        Opened::Dir(d) => {
            let mut e = Entry::new(
                Kind::Dir {
                    dir: d,
                    preopen: None,
                    stream: None,
                },
                filetype::DIRECTORY,
                rights::DIRECTORY & inheriting,
                inheriting,
            );
            // Unknown only if the table's invariant broke; then links made
            // through this fd fail (closed) rather than the open.
            e.root = c.ctx.fds.root(fd).ok();
            e
        }
        Opened::File(f, ft) => {
            let mut base = rights::FILE & inheriting;
            if !read {
                base &= !rights::FD_READ;
            }
            if !write {
                base &= !rights::FD_WRITE;
            }
            Entry::new(Kind::File(f), ft, base, inheriting)
        }
    };
    entry.fdflags = fdflags;
    let new_fd = c.ctx.fds.push(entry);
    m.write_u32(out, new_fd)?;
    Ok(())
}

pub(crate) fn path_readlink(c: &mut Call) -> WasiResult {
    let (fd, p, pl, buf, buf_len, out) =
        (c.u32(0), c.u32(1), c.u32(2), c.u32(3), c.u32(4), c.u32(5));
    let mut m = c.mem()?;
    m.check(buf, buf_len as usize)?;
    m.check(out, 4)?;
    let path = m.str(p, pl)?;
    let target = c.ctx.fds.dir(fd, rights::PATH_READLINK)?.read_link(path)?;
    let bytes = target.as_os_str().as_bytes();
    let n = bytes.len().min(buf_len as usize);
    m.write(buf, &bytes[..n])?;
    m.write_u32(out, n as u32)?;
    Ok(())
}

pub(crate) fn path_remove_directory(c: &mut Call) -> WasiResult {
    let (fd, p, pl) = (c.u32(0), c.u32(1), c.u32(2));
    let m = c.mem()?;
    let path = m.str(p, pl)?;
    // `rmdir("dir/")` names `dir` (cap-std would see `dir/.` and refuse
    // with `INVAL`); a file with a slash still fails `NOTDIR`.
    c.ctx
        .fds
        .dir(fd, rights::PATH_REMOVE_DIRECTORY)?
        .remove_dir(trim_trailing_slashes(path))?;
    Ok(())
}

pub(crate) fn path_rename(c: &mut Call) -> WasiResult {
    let (fd, op, opl, new_fd, np, npl) =
        (c.u32(0), c.u32(1), c.u32(2), c.u32(3), c.u32(4), c.u32(5));
    let m = c.mem()?;
    let (old, new) = (m.str(op, opl)?, m.str(np, npl)?);
    let fds = &c.ctx.fds;
    let old_dir = fds.dir(fd, rights::PATH_RENAME_SOURCE)?;
    let new_dir = fds.dir(new_fd, rights::PATH_RENAME_TARGET)?;
    // Whatever the rename moves must not lead out from its new place: a
    // symlink is checked like a new one; a directory moved closer to the
    // root (or to another preopen) has the symlinks beneath it checked (a
    // walk of the moved tree, paid only by such moves). Errors looking at
    // `old` are left for the rename itself to report.
    match old_dir.symlink_metadata(old) {
        Ok(md) if md.is_symlink() => {
            let target = old_dir.read_link(old)?;
            check_link_at(fds, new_fd, new_dir, new, target.as_os_str().as_bytes())?;
        }
        Ok(md) if md.is_dir() => {
            let new_depth = entry_depth(fds, new_fd, new_dir, new)?;
            let shallower = fds.root(fd)? != fds.root(new_fd)?
                || new_depth < entry_depth(fds, fd, old_dir, old)?;
            if shallower {
                let moved = old_dir.open_dir_nofollow(old)?;
                check_links_beneath(readable_dir_fd(&moved)?, new_depth + 1)?;
            }
        }
        _ => {}
    }
    old_dir.rename(old, new_dir, new)?;
    Ok(())
}

pub(crate) fn path_symlink(c: &mut Call) -> WasiResult {
    let (op, opl, fd, np, npl) = (c.u32(0), c.u32(1), c.u32(2), c.u32(3), c.u32(4));
    let m = c.mem()?;
    let (target, link) = (m.str(op, opl)?, m.str(np, npl)?);
    // No link that could lead a host program out of the preopen (see the
    // module docs); cap-std would refuse only absolute targets.
    let dir = c.ctx.fds.dir(fd, rights::PATH_SYMLINK)?;
    check_link_at(&c.ctx.fds, fd, dir, link, target.as_bytes())?;
    dir.symlink(target, link)?;
    Ok(())
}

pub(crate) fn path_unlink_file(c: &mut Call) -> WasiResult {
    let (fd, p, pl) = (c.u32(0), c.u32(1), c.u32(2));
    let m = c.mem()?;
    let path = m.str(p, pl)?;
    c.ctx
        .fds
        .dir(fd, rights::PATH_UNLINK_FILE)?
        .remove_file_or_symlink(path)?;
    Ok(())
}

/// For `poll_oneoff`: bytes left to read in a file from its position.
pub(crate) fn file_bytes_left(f: &File) -> u64 {
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    // SAFETY: lseek with SEEK_CUR 0 only reads the position.
    let pos = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_CUR) };
    size.saturating_sub(pos.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::link_target_fits;

    #[test]
    fn link_targets() {
        // (target, depth of the link's directory, fits)
        let cases: &[(&str, usize, bool)] = &[
            ("x", 0, true),
            ("a/b/c", 0, true),
            ("./a/./b/", 0, true),
            (".", 0, true),
            ("", 0, true),
            ("..", 0, false),
            ("..", 1, true),
            ("../x", 0, false),
            ("../x", 1, true),
            ("../../x", 1, false),
            (".././../x", 2, true),
            ("..//..//x", 2, true),
            ("/etc", 5, false),
            ("//x", 5, false),
            // A `..` after a name: refused at any depth.
            ("a/..", 5, false),
            ("a/../x", 5, false),
            ("../a/../x", 5, false),
            ("a/b/../../..", 9, false),
        ];
        for &(target, depth, fits) in cases {
            assert_eq!(
                link_target_fits(target.as_bytes(), depth),
                fits,
                "{target:?} at depth {depth}"
            );
        }
    }
}
