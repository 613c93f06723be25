//! The WASI context (what one program instance sees: args, environment,
//! stdio and preopened directories) and its builder.
//!
//! What must stay true: the only host directories a guest can reach are the
//! ones given to [`WasiCtxBuilder::preopened_dir`]; each is opened here as a
//! `cap_std::fs::Dir`, and every later path operation is relative to such a
//! `Dir` (or one opened beneath it), which refuses `..`, absolute paths and
//! symlinks that lead outside it.

use super::fdtable::{DirStream, Entry, FdTable, Kind, Sink, StdinState};
use super::types::{filetype, rights};
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the guest's stdin comes from.
pub enum Stdin {
    /// The host process's stdin.
    Inherit,
    /// Immediate end of file.
    Empty,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// Anything readable.
    Reader(Box<dyn Read + Send>),
}

/// Where the guest's stdout or stderr goes.
pub enum Output {
    /// The host process's stdout (for guest stdout) or stderr (for stderr).
    Inherit,
    /// Discarded.
    Null,
    /// Appended to a shared in-memory buffer (for tests and embedders).
    Buffer(OutputBuffer),
    /// Anything writable.
    Writer(Box<dyn Write + Send>),
}

/// A shared, growable byte buffer capturing guest output. Clones share the
/// same bytes: keep one, give the other to the builder.
#[derive(Clone, Default)]
pub struct OutputBuffer(Arc<Mutex<Vec<u8>>>);

impl OutputBuffer {
    pub fn new() -> OutputBuffer {
        OutputBuffer::default()
    }
    /// A copy of everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Everything written so far, lossily as text.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
    pub(crate) fn append(&self, data: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
    }
}

impl fmt::Debug for OutputBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OutputBuffer({} bytes)",
            self.0.lock().map(|b| b.len()).unwrap_or(0)
        )
    }
}

/// Why a [`WasiCtx`] could not be built.
#[derive(Debug)]
pub struct BuildError(pub String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

/// What one WASI program instance sees. Built by [`WasiCtxBuilder`]; handed
/// to [`super::Wasi::new`].
pub struct WasiCtx {
    /// argv, each without its NUL.
    pub(crate) args: Vec<Vec<u8>>,
    /// `KEY=VALUE` entries, each without its NUL.
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: FdTable,
}

impl WasiCtx {
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::new()
    }
}

/// Configures a [`WasiCtx`]. By default: no args, empty environment, host
/// stdio inherited, no preopened directories.
pub struct WasiCtxBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    preopens: Vec<(PathBuf, String)>,
    stdin: Stdin,
    stdout: Output,
    stderr: Output,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            preopens: Vec::new(),
            stdin: Stdin::Inherit,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
        }
    }

    /// Appends one argument (the first one is the program name, `argv[0]`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds `key=value` to the environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Adds the host process's environment (variables that are not UTF-8
    /// are skipped).
    pub fn inherit_env(mut self) -> Self {
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                self.env.push((k, v));
            }
        }
        self
    }

    /// Gives the guest the host directory `host` under the name `guest`
    /// (e.g. `/sandbox` or `.`). Opened by [`WasiCtxBuilder::build`].
    pub fn preopened_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.preopens.push((host.into(), guest.into()));
        self
    }

    pub fn stdin(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }

    pub fn stdout(mut self, stdout: Output) -> Self {
        self.stdout = stdout;
        self
    }

    pub fn stderr(mut self, stderr: Output) -> Self {
        self.stderr = stderr;
        self
    }

    /// Opens the preopened directories and assembles the descriptor table:
    /// 0, 1, 2 are stdio, 3.. the preopens in the order given.
    pub fn build(self) -> Result<WasiCtx, BuildError> {
        let no_nul = |what: &str, s: &str| {
            if s.contains('\0') {
                Err(BuildError(format!(
                    "{what} `{}` contains a NUL byte",
                    s.escape_debug()
                )))
            } else {
                Ok(())
            }
        };
        for a in &self.args {
            no_nul("argument", a)?;
        }
        for (k, v) in &self.env {
            no_nul("environment variable", k)?;
            no_nul("environment value", v)?;
            if k.is_empty() || k.contains('=') {
                return Err(BuildError(format!(
                    "environment variable name `{}` must be non-empty and contain no `=`",
                    k.escape_debug()
                )));
            }
        }

        let mut fds = FdTable::default();
        let stdin = match self.stdin {
            Stdin::Inherit => StdinState::inherit(),
            Stdin::Empty => StdinState::Bytes {
                data: Vec::new(),
                pos: 0,
            },
            Stdin::Bytes(data) => StdinState::Bytes { data, pos: 0 },
            Stdin::Reader(r) => StdinState::Reader(r),
        };
        let stdin_type = stdin.filetype();
        fds.insert_at(
            0,
            Entry::new(Kind::Stdin(stdin), stdin_type, rights::STDIN, 0),
        );
        for (fd, out) in [(1, self.stdout), (2, self.stderr)] {
            let sink = match out {
                Output::Inherit if fd == 1 => Sink::InheritStdout,
                Output::Inherit => Sink::InheritStderr,
                Output::Null => Sink::Null,
                Output::Buffer(b) => Sink::Buffer(b),
                Output::Writer(w) => Sink::Writer(w),
            };
            let ty = sink.filetype();
            fds.insert_at(fd, Entry::new(Kind::Output(sink), ty, rights::STDOUT, 0));
        }
        for (host, guest) in self.preopens {
            no_nul("preopened directory name", &guest)?;
            let dir = cap_std::fs::Dir::open_ambient_dir(&host, cap_std::ambient_authority())
                .map_err(|e| {
                    BuildError(format!(
                        "cannot open directory {} to preopen: {e}",
                        host.display()
                    ))
                })?;
            let kind = Kind::Dir {
                dir,
                preopen: Some(guest),
                stream: None::<DirStream>,
            };
            fds.push(Entry::new(
                kind,
                filetype::DIRECTORY,
                rights::DIRECTORY,
                rights::ALL,
            ));
        }
        let args = self.args.into_iter().map(String::into_bytes).collect();
        let env = self
            .env
            .into_iter()
            .map(|(k, v)| format!("{k}={v}").into_bytes())
            .collect();
        Ok(WasiCtx { args, env, fds })
    }
}
