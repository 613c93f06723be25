//! The one error type of the embedding API, and the trap it may carry.
//!
//! What must stay true: every failure an embedder can cause or meet is an
//! [`Error`] with a message a user can act on — a malformed module names
//! the byte offset, a link error names module, field and type, a trap
//! names its kind and its wasm frames. Misusing a handle with the wrong
//! store is a bug in the embedder and panics instead (see `store`).

use std::fmt;

pub use wasabi_runtime::{FrameInfo, HostError, Trap, TrapCode};

/// Everything that can go wrong between bytes and results.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The text format did not parse.
    Text(String),
    /// Malformed or invalid binary (names the byte offset and the reason).
    Module(wasabi_runtime::ModuleError),
    /// The code generator failed (or is not built in).
    Compile(String),
    /// The module uses a feature wasabi does not compile yet.
    Unsupported(String),
    /// Compiled code could not be loaded.
    Load(String),
    /// An import is missing or has the wrong kind or type.
    Link(LinkError),
    /// Wasm trapped (or a host function failed).
    Trap(Trap),
    /// Memory, a table or an instance could not be allocated.
    Resource(String),
    /// Values of the wrong type or number were given, or a global is
    /// immutable, or a typed function was asked for with the wrong type.
    Type(String),
    /// An export or a definition was not found.
    NotFound(String),
    /// A file could not be read.
    Io(std::io::Error),
    /// The engine's configuration does not allow this (for example fuel on
    /// an engine without fuel metering).
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Text(m) => write!(f, "{m}"),
            Error::Module(e) => write!(f, "{e}"),
            Error::Compile(e) => write!(f, "compile error: {e}"),
            Error::Unsupported(e) => write!(f, "unsupported: {e}"),
            Error::Load(m) => write!(f, "{m}"),
            Error::Link(e) => write!(f, "link error: {e}"),
            Error::Trap(t) => write!(f, "{t}"),
            Error::Resource(m) => write!(f, "{m}"),
            Error::Type(m) => write!(f, "type error: {m}"),
            Error::NotFound(m) => write!(f, "{m}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Config(m) => write!(f, "configuration: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Trap(t) => Some(t),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// The trap, if this error is one.
    pub fn as_trap(&self) -> Option<&Trap> {
        match self {
            Error::Trap(t) => Some(t),
            _ => None,
        }
    }

    /// The trap, if this error is one.
    pub fn into_trap(self) -> Result<Trap, Error> {
        match self {
            Error::Trap(t) => Ok(t),
            e => Err(e),
        }
    }
}

impl From<Trap> for Error {
    fn from(t: Trap) -> Self {
        Error::Trap(t)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<LinkError> for Error {
    fn from(e: LinkError) -> Self {
        Error::Link(e)
    }
}

impl From<wasabi_runtime::InstantiationError> for Error {
    fn from(e: wasabi_runtime::InstantiationError) -> Self {
        use wasabi_runtime::InstantiationError as I;
        match e {
            I::Link(m) => Error::Link(LinkError {
                module: String::new(),
                field: String::new(),
                message: m,
            }),
            I::Trap(t) => Error::Trap(t),
            I::Resource(m) => Error::Resource(m),
        }
    }
}

/// An import that cannot be satisfied: unknown module or field, wrong kind
/// or wrong type. The message names `module::field` and the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// The import's module name.
    pub module: String,
    /// The import's field name.
    pub field: String,
    /// The whole message, naming module, field and types.
    pub message: String,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LinkError {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
