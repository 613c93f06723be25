//! Where a [`Program`](super::Program)'s module files come from: the host
//! file system ([`HostFiles`], what `wasabi run` uses) or another source
//! behind the same [`ModuleFiles`] trait, such as the modules an AOT
//! executable carries precompiled (`runtime/aot-main/src/bundle.rs`).
//!
//! Everything the linking code reads goes through this trait: canonical
//! paths (for the allowed-directory checks), directory listings (split
//! parts found beside the main module), bytes, and the step from bytes to
//! a [`Module`].
//!
//! What must stay true: an implementation's `canonicalize` resolves `.`,
//! `..` and symbolic links, so that a canonical path inside an allowed
//! directory really names a file there (the checks in `program.rs`,
//! `split.rs` and `dylink.rs` rely on it); `files_in` lists regular files
//! only, never symbolic links.

use crate::error::Result;
use crate::module::Module;
use crate::Engine;
use std::io;
use std::path::{Path, PathBuf};

/// A source of module files for a [`Program`](super::Program). Paths given
/// to it are absolute.
pub trait ModuleFiles: Send + Sync {
    /// `path`, absolute, with `.`, `..` and symbolic links resolved; an
    /// error when nothing is there.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;

    /// Whether `path` is a regular file (or a symbolic link to one).
    fn is_file(&self, path: &Path) -> bool;

    /// The regular files directly in `dir` (not symbolic links), sorted;
    /// none when it cannot be read.
    fn files_in(&self, dir: &Path) -> Vec<PathBuf>;

    /// The bytes of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The module in file `path`, whose bytes are `bytes`, named `name` in
    /// traps and messages. By default: compiled with `engine`.
    fn module(&self, engine: &Engine, path: &Path, bytes: &[u8], name: &str) -> Result<Module> {
        let _ = path;
        Module::with_name(engine, bytes, name)
    }
}

/// The host file system, with modules compiled by the program's engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostFiles;

impl ModuleFiles for HostFiles {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        path.canonicalize()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn files_in(&self, dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            // `DirEntry::file_type` does not follow symbolic links.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// `path` with `.` and `..` resolved by its components alone (no symbolic
/// links are involved): for sources whose files are not on a file system.
/// `..` at the root stays at the root, as in a file system.
pub fn normalize_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_lexically;
    use std::path::Path;

    #[test]
    fn dots_resolve_without_leaving_the_root() {
        let n = |p: &str| normalize_lexically(Path::new(p));
        assert_eq!(n("/a/./b/../c.wasm"), Path::new("/a/c.wasm"));
        assert_eq!(n("/../../x.wasm"), Path::new("/x.wasm"));
        assert_eq!(n("/a/b/.."), Path::new("/a"));
    }
}
