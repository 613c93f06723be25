//! Modules bundled into this executable by `wasabi aot`: precompiled code
//! for the other modules of the program (preloads, path imports, split
//! parts) and for those it loads at run time (Wasabi's ABI `module_load`,
//! `dlopen`; `wasabi aot --bundle FILE`), since an AOT executable has no
//! compiler.
//!
//! The AOT driver (`aot/src/lib.rs`, `bundle_blob`) places one blob between
//! the symbols `wasabi_bundle_start` and `wasabi_bundle_end`:
//!
//! ```text
//! blob  = magic b"WSBIBND2", main: str, count u32, count x entry
//! entry = path: str, preload: str, wasm_len u64, wasm, code_len u64, code
//! str   = len u32, UTF-8 bytes                          (little endian)
//! ```
//!
//! `path` is the module's file under a root directory that also holds the
//! main module (at `main`), `preload` the name it was preloaded as (empty
//! for none), and `code` the module precompiled in the `.cwasm` format by
//! the same `wasabi aot` run that compiled the executable's own module.
//!
//! [`BundleFiles`] shows the entries to `wasabi::Program` as files under
//! `/`, so the executable links them as `wasabi run` links the files (same
//! resolution, same allowed directories, split parts loaded on first use).
//!
//! What must stay true: a guest's bytes get bundled code only when they are
//! byte for byte the wasm that code was compiled from; a malformed blob is
//! reported, never trusted past its bounds.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasabi::{normalize_lexically, Engine, ModuleFiles, Program};
use wasabi::{Error, Module};

extern "C" {
    static wasabi_bundle_start: u8;
    static wasabi_bundle_end: u8;
}

/// Magic at the start of the blob.
pub const MAGIC: &[u8; 8] = b"WSBIBND2";

/// The parsed blob.
struct Bundle {
    /// The main module's path under the root; empty for none.
    main: &'static str,
    entries: Vec<Entry>,
}

/// One bundled module.
struct Entry {
    /// Its file, absolute under the bundle's root `/`.
    path: PathBuf,
    preload: &'static str,
    wasm: &'static [u8],
    code: &'static [u8],
}

impl Entry {
    /// The module's name in traps and messages: its file's stem.
    fn name(&self) -> String {
        wasabi::module_name(&self.path)
    }
}

/// The blob linked into this binary.
fn blob() -> &'static [u8] {
    // SAFETY: the AOT driver always links a bundle object defining both
    // symbols around one read-only blob (possibly of an empty bundle), so
    // the bytes between them are valid for the life of the program.
    unsafe {
        let start = std::ptr::addr_of!(wasabi_bundle_start);
        let end = std::ptr::addr_of!(wasabi_bundle_end);
        std::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// The entries of a blob, or why it is malformed.
fn parse(mut b: &'static [u8]) -> Result<Bundle, String> {
    fn take(b: &mut &'static [u8], n: usize) -> Result<&'static [u8], String> {
        if b.len() < n {
            return Err("the bundle of modules in this executable is truncated".into());
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn len(b: &mut &'static [u8], size: usize) -> Result<usize, String> {
        let raw = take(b, size)?;
        let mut v = [0u8; 8];
        v[..size].copy_from_slice(raw);
        usize::try_from(u64::from_le_bytes(v)).map_err(|_| "bundle length too large".to_string())
    }
    fn string(b: &mut &'static [u8]) -> Result<&'static str, String> {
        let n = len(b, 4)?;
        std::str::from_utf8(take(b, n)?)
            .map_err(|_| "the bundle of modules in this executable is malformed".to_string())
    }
    if take(&mut b, 8)? != MAGIC {
        return Err("the bundle of modules in this executable is malformed".into());
    }
    let main = string(&mut b)?;
    let count = len(&mut b, 4)?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let path = normalize_lexically(&Path::new("/").join(string(&mut b)?));
        let preload = string(&mut b)?;
        let n = len(&mut b, 8)?;
        let wasm = take(&mut b, n)?;
        let n = len(&mut b, 8)?;
        let code = take(&mut b, n)?;
        entries.push(Entry {
            path,
            preload,
            wasm,
            code,
        });
    }
    Ok(Bundle { main, entries })
}

/// The blob of this executable, parsed once.
fn bundle() -> Result<&'static Bundle, wasabi::Error> {
    static BUNDLE: std::sync::OnceLock<Result<Bundle, String>> = std::sync::OnceLock::new();
    BUNDLE
        .get_or_init(|| parse(blob()))
        .as_ref()
        .map_err(|e| wasabi::Error::Load(e.clone()))
}

/// An entry's precompiled module.
fn load(entry: &Entry) -> wasabi::Result<Module> {
    // SAFETY: the code was compiled for this wasm by the same `wasabi aot`
    // run that produced this executable (so by this build, for this target),
    // and is part of the executable, trusted as much as its own code.
    unsafe { Module::deserialize_unchecked(entry.code, &entry.name()) }
}

/// The module bundled for exactly these wasm bytes (see
/// `wasabi_abi::wasabi_ext::ModuleSource`).
fn find(bytes: &[u8]) -> Option<wasabi::Result<Module>> {
    let entries = match bundle() {
        Ok(b) => &b.entries,
        Err(e) => return Some(Err(e)),
    };
    let Some(entry) = entries.iter().find(|e| e.wasm == bytes) else {
        // Bytes that are not a module at all get the same answer as with a
        // compiler: where and why they are malformed.
        if let Err(e) = wasabi::internals::runtime::ModuleInfo::parse(bytes) {
            return Some(Err(Error::Module(e)));
        }
        let names: Vec<String> = entries.iter().map(|e| e.name()).collect();
        return Some(Err(Error::Load(format!(
            "an AOT executable cannot compile a module at run time, and these bytes are none \
             of the modules bundled into it ({}); build it with `wasabi aot --bundle FILE`",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))));
    };
    Some(load(entry))
}

/// Makes Wasabi's ABI load bundled modules in this process.
pub fn install() {
    wasabi_abi::wasabi_ext::set_module_source(find);
}

/// The bundle's modules as files under `/` (see the module docs), for
/// `wasabi::Program`.
struct BundleFiles {
    bundle: &'static Bundle,
    /// The main module's file; it is not in the bundle (its code is the
    /// executable's own), so it exists but cannot be read.
    main: PathBuf,
}

impl BundleFiles {
    fn entry(&self, path: &Path) -> Option<&'static Entry> {
        let path = normalize_lexically(path);
        self.bundle.entries.iter().find(|e| e.path == path)
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not among the modules compiled into this executable",
                path.display()
            ),
        )
    }
}

impl ModuleFiles for BundleFiles {
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let p = normalize_lexically(path);
        let is_dir = |p: &Path| {
            self.main.parent().is_some_and(|d| d.starts_with(p))
                || self
                    .bundle
                    .entries
                    .iter()
                    .any(|e| e.path.parent().is_some_and(|d| d.starts_with(p)))
        };
        if p == self.main || self.entry(&p).is_some() || is_dir(&p) {
            Ok(p)
        } else {
            Err(Self::not_found(path))
        }
    }

    fn is_file(&self, path: &Path) -> bool {
        let p = normalize_lexically(path);
        p == self.main || self.entry(&p).is_some()
    }

    fn files_in(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = normalize_lexically(dir);
        let mut v: Vec<PathBuf> = self
            .bundle
            .entries
            .iter()
            .filter(|e| e.path.parent() == Some(&dir))
            .map(|e| e.path.clone())
            .collect();
        v.sort();
        v
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.entry(path)
            .map(|e| e.wasm.to_vec())
            .ok_or_else(|| Self::not_found(path))
    }

    fn module(
        &self,
        _engine: &Engine,
        path: &Path,
        bytes: &[u8],
        _name: &str,
    ) -> wasabi::Result<Module> {
        match self.entry(path) {
            Some(e) if e.wasm == bytes => load(e),
            _ => Err(Error::Load(format!(
                "{}: no precompiled code for these bytes in this executable",
                path.display()
            ))),
        }
    }
}

/// The program of this executable: its bundled modules as files, with the
/// preloads registered, and the main module's path among them.
pub fn program(engine: &Engine, program_name: &str) -> wasabi::Result<(Program, PathBuf)> {
    let bundle = bundle()?;
    let main = if bundle.main.is_empty() {
        PathBuf::from(format!("/{program_name}.wasm"))
    } else {
        normalize_lexically(&Path::new("/").join(bundle.main))
    };
    let files = BundleFiles {
        bundle,
        main: main.clone(),
    };
    let mut program = Program::with_files(engine, Arc::new(files));
    for e in bundle.entries.iter().filter(|e| !e.preload.is_empty()) {
        program.preload(e.preload, &e.path)?;
    }
    Ok((program, main))
}
