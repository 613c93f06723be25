//! WASI preview 1 constants, flag bits and the host-error -> errno mapping.
//!
//! Numbers are those of `wasi_snapshot_preview1.witx` (typenames.witx);
//! struct layouts are given where they are written (`*_SIZE` and the
//! offsets in the writers).

use std::fmt;
use std::io;

/// A WASI errno (`errno` in witx: a u16).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $n:literal, $text:literal;)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($n);)*

            /// The symbolic name, e.g. `"BADF"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($n => stringify!($name),)*
                    _ => "UNKNOWN",
                }
            }

            /// The witx description, e.g. "Bad file descriptor".
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($n => $text,)*
                    _ => "unknown error",
                }
            }
        }
    };
}

errnos! {
    SUCCESS = 0, "No error occurred";
    TOOBIG = 1, "Argument list too long";
    ACCES = 2, "Permission denied";
    ADDRINUSE = 3, "Address in use";
    ADDRNOTAVAIL = 4, "Address not available";
    AFNOSUPPORT = 5, "Address family not supported";
    AGAIN = 6, "Resource unavailable, or operation would block";
    ALREADY = 7, "Connection already in progress";
    BADF = 8, "Bad file descriptor";
    BADMSG = 9, "Bad message";
    BUSY = 10, "Device or resource busy";
    CANCELED = 11, "Operation canceled";
    CHILD = 12, "No child processes";
    CONNABORTED = 13, "Connection aborted";
    CONNREFUSED = 14, "Connection refused";
    CONNRESET = 15, "Connection reset";
    DEADLK = 16, "Resource deadlock would occur";
    DESTADDRREQ = 17, "Destination address required";
    DOM = 18, "Mathematics argument out of domain of function";
    DQUOT = 19, "Reserved";
    EXIST = 20, "File exists";
    FAULT = 21, "Bad address";
    FBIG = 22, "File too large";
    HOSTUNREACH = 23, "Host is unreachable";
    IDRM = 24, "Identifier removed";
    ILSEQ = 25, "Illegal byte sequence";
    INPROGRESS = 26, "Operation in progress";
    INTR = 27, "Interrupted function";
    INVAL = 28, "Invalid argument";
    IO = 29, "I/O error";
    ISCONN = 30, "Socket is connected";
    ISDIR = 31, "Is a directory";
    LOOP = 32, "Too many levels of symbolic links";
    MFILE = 33, "File descriptor value too large";
    MLINK = 34, "Too many links";
    MSGSIZE = 35, "Message too large";
    MULTIHOP = 36, "Reserved";
    NAMETOOLONG = 37, "Filename too long";
    NETDOWN = 38, "Network is down";
    NETRESET = 39, "Connection aborted by network";
    NETUNREACH = 40, "Network unreachable";
    NFILE = 41, "Too many files open in system";
    NOBUFS = 42, "No buffer space available";
    NODEV = 43, "No such device";
    NOENT = 44, "No such file or directory";
    NOEXEC = 45, "Executable file format error";
    NOLCK = 46, "No locks available";
    NOLINK = 47, "Reserved";
    NOMEM = 48, "Not enough space";
    NOMSG = 49, "No message of the desired type";
    NOPROTOOPT = 50, "Protocol not available";
    NOSPC = 51, "No space left on device";
    NOSYS = 52, "Function not supported";
    NOTCONN = 53, "The socket is not connected";
    NOTDIR = 54, "Not a directory or a symbolic link to a directory";
    NOTEMPTY = 55, "Directory not empty";
    NOTRECOVERABLE = 56, "State not recoverable";
    NOTSOCK = 57, "Not a socket";
    NOTSUP = 58, "Not supported, or operation not supported on socket";
    NOTTY = 59, "Inappropriate I/O control operation";
    NXIO = 60, "No such device or address";
    OVERFLOW = 61, "Value too large to be stored in data type";
    OWNERDEAD = 62, "Previous owner died";
    PERM = 63, "Operation not permitted";
    PIPE = 64, "Broken pipe";
    PROTO = 65, "Protocol error";
    PROTONOSUPPORT = 66, "Protocol not supported";
    PROTOTYPE = 67, "Protocol wrong type for socket";
    RANGE = 68, "Result too large";
    ROFS = 69, "Read-only file system";
    SPIPE = 70, "Invalid seek";
    SRCH = 71, "No such process";
    STALE = 72, "Reserved";
    TIMEDOUT = 73, "Connection timed out";
    TXTBSY = 74, "Text file busy";
    XDEV = 75, "Cross-device link";
    NOTCAPABLE = 76, "Capabilities insufficient";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (WASI errno {} {})",
            self.description(),
            self.0,
            self.name()
        )
    }
}

impl std::error::Error for Errno {}

impl Errno {
    /// The WASI errno for a host (Linux) errno value.
    pub fn from_host(e: i32) -> Errno {
        use libc::*;
        match e {
            0 => Errno::SUCCESS,
            E2BIG => Errno::TOOBIG,
            EACCES => Errno::ACCES,
            EADDRINUSE => Errno::ADDRINUSE,
            EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
            EAFNOSUPPORT => Errno::AFNOSUPPORT,
            EAGAIN => Errno::AGAIN,
            EALREADY => Errno::ALREADY,
            EBADF => Errno::BADF,
            EBADMSG => Errno::BADMSG,
            EBUSY => Errno::BUSY,
            ECANCELED => Errno::CANCELED,
            ECHILD => Errno::CHILD,
            ECONNABORTED => Errno::CONNABORTED,
            ECONNREFUSED => Errno::CONNREFUSED,
            ECONNRESET => Errno::CONNRESET,
            EDEADLK => Errno::DEADLK,
            EDESTADDRREQ => Errno::DESTADDRREQ,
            EDOM => Errno::DOM,
            EDQUOT => Errno::DQUOT,
            EEXIST => Errno::EXIST,
            EFAULT => Errno::FAULT,
            EFBIG => Errno::FBIG,
            EHOSTUNREACH => Errno::HOSTUNREACH,
            EIDRM => Errno::IDRM,
            EILSEQ => Errno::ILSEQ,
            EINPROGRESS => Errno::INPROGRESS,
            EINTR => Errno::INTR,
            EINVAL => Errno::INVAL,
            EIO => Errno::IO,
            EISCONN => Errno::ISCONN,
            EISDIR => Errno::ISDIR,
            ELOOP => Errno::LOOP,
            EMFILE => Errno::MFILE,
            EMLINK => Errno::MLINK,
            EMSGSIZE => Errno::MSGSIZE,
            EMULTIHOP => Errno::MULTIHOP,
            ENAMETOOLONG => Errno::NAMETOOLONG,
            ENETDOWN => Errno::NETDOWN,
            ENETRESET => Errno::NETRESET,
            ENETUNREACH => Errno::NETUNREACH,
            ENFILE => Errno::NFILE,
            ENOBUFS => Errno::NOBUFS,
            ENODEV => Errno::NODEV,
            ENOENT => Errno::NOENT,
            ENOEXEC => Errno::NOEXEC,
            ENOLCK => Errno::NOLCK,
            ENOLINK => Errno::NOLINK,
            ENOMEM => Errno::NOMEM,
            ENOMSG => Errno::NOMSG,
            ENOPROTOOPT => Errno::NOPROTOOPT,
            ENOSPC => Errno::NOSPC,
            ENOSYS => Errno::NOSYS,
            ENOTCONN => Errno::NOTCONN,
            ENOTDIR => Errno::NOTDIR,
            ENOTEMPTY => Errno::NOTEMPTY,
            ENOTRECOVERABLE => Errno::NOTRECOVERABLE,
            ENOTSOCK => Errno::NOTSOCK,
            ENOTSUP => Errno::NOTSUP,
            ENOTTY => Errno::NOTTY,
            ENXIO => Errno::NXIO,
            EOVERFLOW => Errno::OVERFLOW,
            EOWNERDEAD => Errno::OWNERDEAD,
            EPERM => Errno::PERM,
            EPIPE => Errno::PIPE,
            EPROTO => Errno::PROTO,
            EPROTONOSUPPORT => Errno::PROTONOSUPPORT,
            EPROTOTYPE => Errno::PROTOTYPE,
            ERANGE => Errno::RANGE,
            EROFS => Errno::ROFS,
            ESPIPE => Errno::SPIPE,
            ESRCH => Errno::SRCH,
            ESTALE => Errno::STALE,
            ETIMEDOUT => Errno::TIMEDOUT,
            ETXTBSY => Errno::TXTBSY,
            EXDEV => Errno::XDEV,
            _ => Errno::IO,
        }
    }
}

impl From<io::Error> for Errno {
    /// OS errors map by errno; errors made by cap-std without one map by
    /// kind. Its sandbox refusals ("a path led outside of the filesystem")
    /// are `PermissionDenied` without an errno, hence `PERM` — the errno
    /// wasmtime gives for the same escapes.
    fn from(e: io::Error) -> Errno {
        if let Some(code) = e.raw_os_error() {
            return Errno::from_host(code);
        }
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Errno::NOENT,
            K::PermissionDenied => Errno::PERM,
            K::AlreadyExists => Errno::EXIST,
            K::InvalidInput => Errno::INVAL,
            K::InvalidData => Errno::ILSEQ,
            K::WouldBlock => Errno::AGAIN,
            K::Interrupted => Errno::INTR,
            K::Unsupported => Errno::NOTSUP,
            K::OutOfMemory => Errno::NOMEM,
            K::BrokenPipe => Errno::PIPE,
            K::NotADirectory => Errno::NOTDIR,
            K::IsADirectory => Errno::ISDIR,
            K::DirectoryNotEmpty => Errno::NOTEMPTY,
            K::FileTooLarge => Errno::FBIG,
            K::InvalidFilename => Errno::NAMETOOLONG,
            K::TimedOut => Errno::TIMEDOUT,
            _ => Errno::IO,
        }
    }
}

/// File descriptor rights (`rights`, a u64 of flag bits).
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// Every right.
    pub const ALL: u64 = (1 << 30) - 1;

    /// The rights that mean something on a regular file (or device).
    pub const FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;

    /// The rights that mean something on a directory.
    pub const DIRECTORY: u64 = FD_DATASYNC
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE;

    /// Stdin: readable, never seekable (wasi-libc's `isatty` requires no
    /// `FD_SEEK`/`FD_TELL` on a terminal).
    pub const STDIN: u64 = FD_READ | FD_FILESTAT_GET | POLL_FD_READWRITE;
    /// Stdout and stderr.
    pub const STDOUT: u64 = FD_WRITE | FD_FILESTAT_GET | POLL_FD_READWRITE;
}

/// `filetype` (u8).
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `fdflags` (u16).
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
    pub const ALL: u16 = (1 << 5) - 1;
    pub const SYNC_ANY: u16 = DSYNC | RSYNC | SYNC;
}

/// `oflags` (u16).
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `lookupflags` (u32).
pub const LOOKUP_SYMLINK_FOLLOW: u32 = 1;

/// `fstflags` (u16).
pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
    pub const ALL: u16 = (1 << 4) - 1;
}

/// `whence` (u8).
pub const WHENCE_SET: u8 = 0;
pub const WHENCE_CUR: u8 = 1;
pub const WHENCE_END: u8 = 2;

/// `clockid` (u32).
pub const CLOCK_REALTIME: u32 = 0;
pub const CLOCK_MONOTONIC: u32 = 1;
pub const CLOCK_PROCESS_CPUTIME: u32 = 2;
pub const CLOCK_THREAD_CPUTIME: u32 = 3;

/// `eventtype` (u8).
pub const EVENTTYPE_CLOCK: u8 = 0;
pub const EVENTTYPE_FD_READ: u8 = 1;
pub const EVENTTYPE_FD_WRITE: u8 = 2;
/// `subclockflags` (u16).
pub const SUBCLOCK_ABSTIME: u16 = 1;
/// `eventrwflags` (u16).
pub const EVENT_FD_READWRITE_HANGUP: u16 = 1;

/// `sdflags` (u8).
pub const SDFLAGS_ALL: u8 = 3;

/// Sizes of the structs the host writes or reads.
pub const FDSTAT_SIZE: usize = 24;
pub const FILESTAT_SIZE: usize = 64;
pub const DIRENT_SIZE: usize = 24;
pub const PRESTAT_SIZE: usize = 8;
pub const IOVEC_SIZE: u32 = 8;
pub const SUBSCRIPTION_SIZE: u32 = 48;
pub const EVENT_SIZE: u32 = 32;
