//! The descriptor table: what each guest fd number refers to, with its
//! rights and flags, and the stdio endpoints.
//!
//! Rights follow the preview 1 model as far as programs tested against
//! wasmtime (which no longer enforces rights) expect: an fd has base rights
//! (what may be done with it) and inheriting rights (what fds opened through
//! it may get). `path_open` treats the requested rights as advisory: it
//! decides the access mode from them (read if `FD_READ`/`FD_READDIR`, write
//! if `FD_WRITE`/`FD_ALLOCATE`/`FD_FILESTAT_SET_SIZE`) and grants everything
//! the file type supports within the parent's inheriting rights, less
//! `FD_READ`/`FD_WRITE` without that access. So the host OS answers for
//! most misuse, with its (native) errno, and rights only bite once a guest
//! drops them with `fd_fdstat_set_rights` (which can only remove rights).
//! A missing right fails with `NOTCAPABLE` if the fd's type supports it (it
//! was dropped), otherwise with `BADF`, like reading or writing an fd not
//! opened for it, or seeking a directory.
//!
//! Every directory fd knows the preopened directory it lies beneath (its
//! sandbox root, [`FdTable::root`]): a preopen is its own root, and a
//! directory opened through `path_open` inherits its parent's. The symlink
//! checks in [`super::fs`] measure how deep a link sits below that root.
//!
//! What must stay true: an fd whose rights lack `FD_READ` (`FD_WRITE`) is
//! never read from (written to); the table is the only place fds are
//! allocated; fd numbers are reused lowest-first, as POSIX does; a
//! directory entry that is not a preopen has `root` set.

use super::ctx::OutputBuffer;
use super::types::{filetype, rights, Errno};
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// The guest's stdin.
pub(crate) enum StdinState {
    /// A duplicate of the host's fd 0 (raw reads: no host-side buffering, so
    /// `poll` on it tells the truth). `None` if fd 0 was closed.
    Inherit(Option<std::fs::File>),
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
    Reader(Box<dyn Read + Send>),
}

impl StdinState {
    pub(crate) fn inherit() -> StdinState {
        StdinState::Inherit(
            io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(std::fs::File::from),
        )
    }

    pub(crate) fn filetype(&self) -> u8 {
        match self {
            StdinState::Inherit(Some(f)) => host_stdio_type(f.as_raw_fd()),
            _ => filetype::UNKNOWN,
        }
    }

    /// Reads into `buf`; one read only, so a terminal or pipe never blocks
    /// once some data has arrived.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StdinState::Inherit(None) => Ok(0),
            StdinState::Inherit(Some(f)) => loop {
                match f.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => return r,
                }
            },
            StdinState::Bytes { data, pos } => {
                let n = buf.len().min(data.len() - *pos);
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            StdinState::Reader(r) => r.read(buf),
        }
    }

    /// For `poll_oneoff`: `Some(bytes available)` if a read would not block
    /// (0 meaning end of file), `None` if it might.
    pub(crate) fn ready_now(&self) -> Option<u64> {
        match self {
            StdinState::Inherit(None) => Some(0),
            StdinState::Inherit(Some(f)) => {
                let mut p = libc::pollfd {
                    fd: f.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, zero timeout.
                let n = unsafe { libc::poll(&mut p, 1, 0) };
                (n > 0).then_some(1)
            }
            StdinState::Bytes { data, pos } => Some((data.len() - pos) as u64),
            StdinState::Reader(_) => Some(1),
        }
    }

    /// The host fd to wait on, for an inherited stdin.
    pub(crate) fn host_fd(&self) -> Option<i32> {
        match self {
            StdinState::Inherit(Some(f)) => Some(f.as_raw_fd()),
            _ => None,
        }
    }
}

/// Where stdout or stderr goes.
pub(crate) enum Sink {
    InheritStdout,
    InheritStderr,
    Null,
    Buffer(OutputBuffer),
    Writer(Box<dyn Write + Send>),
}

impl Sink {
    pub(crate) fn filetype(&self) -> u8 {
        match self {
            Sink::InheritStdout => host_stdio_type(1),
            Sink::InheritStderr => host_stdio_type(2),
            _ => filetype::UNKNOWN,
        }
    }

    /// Writes all of `chunks` (stdio writes are never short) and flushes, so
    /// guest output is never left in a host buffer when the guest traps.
    pub(crate) fn write_all(&mut self, chunks: &[&[u8]]) -> io::Result<()> {
        fn all(w: &mut dyn Write, chunks: &[&[u8]]) -> io::Result<()> {
            for c in chunks {
                w.write_all(c)?;
            }
            w.flush()
        }
        match self {
            Sink::InheritStdout => all(&mut io::stdout().lock(), chunks),
            Sink::InheritStderr => all(&mut io::stderr().lock(), chunks),
            Sink::Null => Ok(()),
            Sink::Buffer(b) => {
                for c in chunks {
                    b.append(c);
                }
                Ok(())
            }
            Sink::Writer(w) => all(w.as_mut(), chunks),
        }
    }
}

/// A terminal is a character device to the guest (wasi-libc makes stdout
/// line-buffered then); anything else inherited reports `UNKNOWN`, like
/// wasmtime.
fn host_stdio_type(fd: i32) -> u8 {
    // SAFETY: isatty only inspects the fd.
    if unsafe { libc::isatty(fd) } == 1 {
        filetype::CHARACTER_DEVICE
    } else {
        filetype::UNKNOWN
    }
}

/// A readable fd for the directory `dir` itself. cap-std opens directories
/// `O_PATH` (enough to resolve paths beneath them), which cannot be read,
/// synced or have its times set; this opens `.` beneath it for that.
pub(crate) fn readable_dir_fd(dir: &cap_std::fs::Dir) -> io::Result<OwnedFd> {
    open_dir_at(dir.as_fd(), c".", libc::O_RDONLY)
}

/// Opens the directory `name` beneath the directory `at` with `mode`
/// (`O_RDONLY` or `O_PATH`), never following a final symlink. Host-side
/// only: `name` is `.`, `..` or a single entry name the host read itself,
/// never a guest path (those go through cap-std).
pub(crate) fn open_dir_at(at: BorrowedFd<'_>, name: &CStr, mode: i32) -> io::Result<OwnedFd> {
    // SAFETY: openat on a live directory fd with a NUL-terminated name; the
    // result is owned here.
    unsafe {
        let fd = libc::openat(
            at.as_raw_fd(),
            name.as_ptr(),
            mode | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A directory's identity on the host: device and inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DirId {
    dev: u64,
    ino: u64,
}

impl DirId {
    pub(crate) fn of(fd: BorrowedFd<'_>) -> io::Result<DirId> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat fills the buffer on success (checked before it is
        // read); the fd is live for the call.
        unsafe {
            if libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let st = st.assume_init();
            Ok(DirId {
                dev: st.st_dev,
                ino: st.st_ino,
            })
        }
    }
}

/// A host directory stream (`DIR*` over a duplicate of the directory's fd)
/// for `fd_readdir`. Its cookies are the host's `telldir` positions, which
/// stay valid while entries are removed — `remove_dir_all` deletes entries
/// between `fd_readdir` calls and must not skip any.
pub(crate) struct DirStream {
    dir: NonNull<libc::DIR>,
}

// SAFETY: the DIR* is owned exclusively by this value and only used through
// `&mut self`.
unsafe impl Send for DirStream {}

/// One host directory entry.
pub(crate) struct RawDirEntry {
    pub ino: u64,
    /// The cookie of the entry after this one.
    pub next: u64,
    pub d_type: u8,
    pub name: Vec<u8>,
}

impl DirStream {
    pub(crate) fn open(dir: &cap_std::fs::Dir) -> io::Result<DirStream> {
        DirStream::from_fd(readable_dir_fd(dir)?)
    }

    /// A stream over `fd`, a directory opened for reading.
    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<DirStream> {
        // SAFETY: fdopendir takes ownership of the fd on success (closedir
        // closes it); on failure it is still ours and dropped here.
        unsafe {
            match NonNull::new(libc::fdopendir(fd.as_raw_fd())) {
                Some(dir) => {
                    std::mem::forget(fd);
                    Ok(DirStream { dir })
                }
                None => Err(io::Error::last_os_error()),
            }
        }
    }

    /// Positions the stream at `cookie` (0: the start, re-reading the
    /// directory).
    pub(crate) fn seek(&mut self, cookie: u64) {
        // SAFETY: self.dir is a live DIR*.
        unsafe {
            if cookie == 0 {
                libc::rewinddir(self.dir.as_ptr());
            } else {
                libc::seekdir(self.dir.as_ptr(), cookie as libc::c_long);
            }
        }
    }

    /// The fd the stream reads (valid while the stream lives).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: dirfd of a live DIR* is an open fd owned by the stream,
        // which outlives the borrow.
        unsafe { BorrowedFd::borrow_raw(libc::dirfd(self.dir.as_ptr())) }
    }

    pub(crate) fn next_entry(&mut self) -> io::Result<Option<RawDirEntry>> {
        // SAFETY: self.dir is a live DIR*; the returned dirent is valid
        // until the next readdir on it, and is copied out before that.
        unsafe {
            *libc::__errno_location() = 0;
            let e = libc::readdir64(self.dir.as_ptr());
            if e.is_null() {
                let errno = *libc::__errno_location();
                return if errno == 0 {
                    Ok(None)
                } else {
                    Err(io::Error::from_raw_os_error(errno))
                };
            }
            let e = &*e;
            Ok(Some(RawDirEntry {
                ino: e.d_ino,
                next: e.d_off as u64,
                d_type: e.d_type,
                name: CStr::from_ptr(e.d_name.as_ptr()).to_bytes().to_vec(),
            }))
        }
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: self.dir is a live DIR*, closed exactly once.
        unsafe {
            libc::closedir(self.dir.as_ptr());
        }
    }
}

/// What an fd refers to.
pub(crate) enum Kind {
    Stdin(StdinState),
    Output(Sink),
    File(cap_std::fs::File),
    Dir {
        dir: cap_std::fs::Dir,
        /// The guest name of a preopened directory.
        preopen: Option<String>,
        /// Created by the first `fd_readdir`.
        stream: Option<DirStream>,
    },
}

/// One open fd.
pub(crate) struct Entry {
    pub kind: Kind,
    /// The WASI filetype, fixed at open.
    pub filetype: u8,
    pub base: u64,
    pub inheriting: u64,
    /// `fdflags` as the guest set them.
    pub fdflags: u16,
    /// For a directory opened through `path_open`: the preopen it lies
    /// beneath (see [`FdTable::root`]).
    pub root: Option<DirId>,
}

impl Entry {
    pub(crate) fn new(kind: Kind, filetype: u8, base: u64, inheriting: u64) -> Entry {
        Entry {
            kind,
            filetype,
            base,
            inheriting,
            fdflags: 0,
            root: None,
        }
    }

    /// The rights that mean something for this kind of fd.
    pub(crate) fn applicable(&self) -> u64 {
        match self.kind {
            Kind::Stdin(_) => rights::STDIN,
            Kind::Output(_) => rights::STDOUT,
            Kind::File(_) => rights::FILE,
            Kind::Dir { .. } => rights::DIRECTORY,
        }
    }

    /// Checks that this fd has all of `needed`: `NOTCAPABLE` if one was
    /// dropped, `BADF` if the fd was not opened for it or its kind cannot
    /// do it.
    pub(crate) fn need(&self, needed: u64) -> Result<(), Errno> {
        let missing = needed & !self.base;
        if missing == 0 {
            Ok(())
        } else if missing & self.applicable() & !(rights::FD_READ | rights::FD_WRITE) != 0 {
            Err(Errno::NOTCAPABLE)
        } else {
            Err(Errno::BADF)
        }
    }

    pub(crate) fn is_stdio(&self) -> bool {
        matches!(self.kind, Kind::Stdin(_) | Kind::Output(_))
    }
}

/// The fd -> entry map.
#[derive(Default)]
pub(crate) struct FdTable {
    map: BTreeMap<u32, Entry>,
}

impl FdTable {
    pub(crate) fn get(&self, fd: u32) -> Result<&Entry, Errno> {
        self.map.get(&fd).ok_or(Errno::BADF)
    }

    pub(crate) fn get_mut(&mut self, fd: u32) -> Result<&mut Entry, Errno> {
        self.map.get_mut(&fd).ok_or(Errno::BADF)
    }

    /// The entry for `fd` with rights `needed`.
    pub(crate) fn with(&self, fd: u32, needed: u64) -> Result<&Entry, Errno> {
        let e = self.get(fd)?;
        e.need(needed)?;
        Ok(e)
    }

    pub(crate) fn with_mut(&mut self, fd: u32, needed: u64) -> Result<&mut Entry, Errno> {
        let e = self.get_mut(fd)?;
        e.need(needed)?;
        Ok(e)
    }

    /// The directory `fd` refers to, with rights `needed`: `BADF` if there
    /// is no such fd, `NOTDIR` if it is not a directory.
    pub(crate) fn dir(&self, fd: u32, needed: u64) -> Result<&cap_std::fs::Dir, Errno> {
        let e = self.get(fd)?;
        let Kind::Dir { dir, .. } = &e.kind else {
            return Err(Errno::NOTDIR);
        };
        e.need(needed)?;
        Ok(dir)
    }

    /// The sandbox root of the directory `fd`: the preopen itself, or the
    /// preopen it was opened beneath. `BADF`/`NOTDIR` as [`FdTable::dir`];
    /// `PERM` if unknown (fails closed).
    pub(crate) fn root(&self, fd: u32) -> Result<DirId, Errno> {
        let e = self.get(fd)?;
        let Kind::Dir { dir, preopen, .. } = &e.kind else {
            return Err(Errno::NOTDIR);
        };
        match (preopen, e.root) {
            (Some(_), _) => Ok(DirId::of(dir.as_fd())?),
            (None, Some(root)) => Ok(root),
            (None, None) => Err(Errno::PERM),
        }
    }

    /// Adds `entry` at the lowest free fd.
    pub(crate) fn push(&mut self, entry: Entry) -> u32 {
        let mut fd = 0u32;
        for &k in self.map.keys() {
            if k != fd {
                break;
            }
            fd += 1;
        }
        self.map.insert(fd, entry);
        fd
    }

    /// Puts `entry` at `fd`, returning what was there.
    pub(crate) fn insert_at(&mut self, fd: u32, entry: Entry) -> Option<Entry> {
        self.map.insert(fd, entry)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> Result<Entry, Errno> {
        self.map.remove(&fd).ok_or(Errno::BADF)
    }

    pub(crate) fn contains(&self, fd: u32) -> bool {
        self.map.contains_key(&fd)
    }
}
