//! Modules bundled into this executable by `wasabi aot --bundle FILE`:
//! precompiled code for the modules the program loads at run time with
//! Wasabi's ABI (`module_load`), since an AOT executable has no compiler.
//!
//! The AOT driver (`aot/src/lib.rs`, `bundle_blob`) places one blob between
//! the symbols `wasabi_bundle_start` and `wasabi_bundle_end`:
//!
//! ```text
//! blob  = magic b"WSBIBNDL", count u32, count x entry   (little endian)
//! entry = name_len u32, name, wasm_len u64, wasm, code_len u64, code
//! ```
//!
//! where `code` is the module precompiled in the `.cwasm` format by the same
//! `wasabi aot` run that compiled the executable's own module.
//!
//! What must stay true: a guest's bytes get bundled code only when they are
//! byte for byte the wasm that code was compiled from; a malformed blob is
//! reported, never trusted past its bounds.

use wasabi::{Error, Module};

extern "C" {
    static wasabi_bundle_start: u8;
    static wasabi_bundle_end: u8;
}

/// Magic at the start of the blob.
pub const MAGIC: &[u8; 8] = b"WSBIBNDL";

/// One bundled module.
struct Entry {
    name: &'static str,
    wasm: &'static [u8],
    code: &'static [u8],
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
fn parse(mut b: &'static [u8]) -> Result<Vec<Entry>, String> {
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
    if take(&mut b, 8)? != MAGIC {
        return Err("the bundle of modules in this executable is malformed".into());
    }
    let count = len(&mut b, 4)?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let n = len(&mut b, 4)?;
        let name = std::str::from_utf8(take(&mut b, n)?).map_err(|e| e.to_string())?;
        let n = len(&mut b, 8)?;
        let wasm = take(&mut b, n)?;
        let n = len(&mut b, 8)?;
        let code = take(&mut b, n)?;
        entries.push(Entry { name, wasm, code });
    }
    Ok(entries)
}

/// The module bundled for exactly these wasm bytes (see
/// `wasabi_abi::wasabi_ext::ModuleSource`).
fn find(bytes: &[u8]) -> Option<wasabi::Result<Module>> {
    static ENTRIES: std::sync::OnceLock<Result<Vec<Entry>, String>> = std::sync::OnceLock::new();
    let entries = match ENTRIES.get_or_init(|| parse(blob())) {
        Ok(e) => e,
        Err(e) => return Some(Err(Error::Load(e.clone()))),
    };
    let Some(entry) = entries.iter().find(|e| e.wasm == bytes) else {
        // Bytes that are not a module at all get the same answer as with a
        // compiler: where and why they are malformed.
        if let Err(e) = wasabi::internals::runtime::ModuleInfo::parse(bytes) {
            return Some(Err(Error::Module(e)));
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
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
    // SAFETY: the code was compiled for this wasm by the same `wasabi aot`
    // run that produced this executable (so by this build, for this target),
    // and is part of the executable, trusted as much as its own code.
    Some(unsafe { Module::deserialize_unchecked(entry.code, entry.name) })
}

/// Makes Wasabi's ABI load bundled modules in this process.
pub fn install() {
    wasabi_abi::wasabi_ext::set_module_source(find);
}
