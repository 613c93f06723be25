//! The code loader: maps a relocatable ELF object produced by the compiler
//! into executable memory, applies its relocations and records where each
//! function landed. An object can also be linked once and for all into an
//! *image* ([`link_image`]: its memory at address 0, every PC-relative
//! relocation applied, the absolute addresses left to write listed), which
//! [`load_image`] maps from the file holding it (the code cache's entry)
//! and finishes by writing only those addresses.
//!
//! What must stay true:
//! - Every section of one object lands in one mapping, so the PC-relative
//!   relocations LLVM emits for the small code model always reach.
//! - Undefined symbols are only the libcalls in [`resolve_libcall`]; they are
//!   reached through stubs/GOT slots placed in the same mapping. Anything else
//!   is a load error, never a silent null.
//! - Code is never writable and executable at once: sections are written,
//!   then the mapping is made read+execute (writable sections excepted);
//!   in a [`CodeArena`](crate::code_arena::CodeArena) they are written
//!   through its file before anything runs them, and no writable view of
//!   them exists.
//! - An image is checked like an object (every offset bounds-checked) and
//!   loads to the same bytes and symbols as the object it was linked from;
//!   one mapped from a file is private (writes never reach the file) and
//!   the file must not change in place while mapped.
//! - A loaded object registers its code range for the trap handler and
//!   unregisters it on drop.

use object::elf;
use object::read::elf::ElfFile64;
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionKind,
    SymbolSection,
};
use std::collections::HashMap;
use std::fmt;

#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot load compiled code: {}", self.0)
    }
}

impl std::error::Error for LoadError {}

/// A defined function symbol in a loaded object.
#[derive(Clone, Debug)]
pub struct LoadedSymbol {
    pub name: String,
    pub address: usize,
    pub size: usize,
}

/// An object mapped into memory. Its code stays valid while this lives.
pub struct LoadedObject {
    memory: Memory,
    symbols: Vec<LoadedSymbol>,
    code_range: (usize, usize),
}

/// Where a loaded object's bytes live.
pub(crate) enum Memory {
    /// A mapping of its own, `len` bytes at `base`, unmapped on drop.
    Own { base: *mut u8, len: usize },
    /// Bytes of a code arena's chunk, which stays mapped while any object
    /// in it (or the arena) holds it.
    Arena {
        _chunk: std::sync::Arc<crate::code_arena::Chunk>,
    },
}

// SAFETY: the memory is owned by the object (or shared, immutable, with
// the other objects of its arena chunk) and immutable (protected read-only
// or read+execute, data sections aside, which only compiled code touches)
// once `load_object` returns.
unsafe impl Send for LoadedObject {}
// SAFETY: as for `Send`.
unsafe impl Sync for LoadedObject {}

impl LoadedObject {
    /// All defined symbols with their final addresses.
    pub fn symbols(&self) -> &[LoadedSymbol] {
        &self.symbols
    }

    pub fn symbol(&self, name: &str) -> Option<usize> {
        self.symbols
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.address)
    }

    /// `[start, end)` of the executable part.
    pub fn code_range(&self) -> (usize, usize) {
        self.code_range
    }
}

impl Drop for LoadedObject {
    fn drop(&mut self) {
        crate::traps::unregister_code(self.code_range.0);
        if let Memory::Own { base, len } = self.memory {
            // SAFETY: our own mapping; whoever owns the object keeps it
            // alive as long as its code can run, so nothing runs it any
            // more. (An arena chunk is unmapped when its last holder
            // drops it.)
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
        }
    }
}

const PAGE: usize = 4096;
const CACHE_LINE: usize = 64;

/// Cache lines between the code starts of two consecutive objects (see
/// [`next_code_colour`]); coprime with the 64 lines of a page, so 64
/// objects in a row start at 64 different lines.
const CODE_COLOUR_STEP: usize = 23;

/// Where in its first page the next object's code starts.
///
/// Lazy and tiered modes load each function (or small batch) as an object
/// of its own; where they cannot use a code arena (see
/// `crate::code_arena`), each starts a fresh mapping. With the code at offset 0
/// of every page, the first bytes of hundreds of functions shared the same
/// few sets of the instruction cache (and of the CPU's decoded-instruction
/// cache and branch predictors, which are indexed by the low address bits
/// too): the same optimised machine code ran 1.3x slower per function on
/// the median in tiered mode than in a regular module, where functions sit
/// side by side (manyfuncs: 600 small functions calling each other). Each
/// object's code therefore starts at a different cache line of its page.
fn next_code_colour() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (n.wrapping_mul(CODE_COLOUR_STEP) % (PAGE / CACHE_LINE)) * CACHE_LINE
}

fn page_align(x: usize) -> usize {
    x.div_ceil(PAGE) * PAGE
}

fn align_to(x: usize, a: usize) -> usize {
    if a <= 1 {
        x
    } else {
        x.div_ceil(a) * a
    }
}

/// Addresses of the functions LLVM may call on its own (libcalls).
pub fn resolve_libcall(name: &str) -> Option<usize> {
    extern "C" {
        fn floor(x: f64) -> f64;
        fn floorf(x: f32) -> f32;
        fn ceil(x: f64) -> f64;
        fn ceilf(x: f32) -> f32;
        fn trunc(x: f64) -> f64;
        fn truncf(x: f32) -> f32;
        fn nearbyint(x: f64) -> f64;
        fn nearbyintf(x: f32) -> f32;
        fn rint(x: f64) -> f64;
        fn rintf(x: f32) -> f32;
        fn roundeven(x: f64) -> f64;
        fn roundevenf(x: f32) -> f32;
        fn fmin(x: f64, y: f64) -> f64;
        fn fminf(x: f32, y: f32) -> f32;
        fn fmax(x: f64, y: f64) -> f64;
        fn fmaxf(x: f32, y: f32) -> f32;
        fn fmod(x: f64, y: f64) -> f64;
        fn fmodf(x: f32, y: f32) -> f32;
        fn sqrt(x: f64) -> f64;
        fn sqrtf(x: f32) -> f32;
        fn fma(x: f64, y: f64, z: f64) -> f64;
        fn fmaf(x: f32, y: f32, z: f32) -> f32;
    }
    Some(match name {
        "memcpy" => libc::memcpy as *const () as usize,
        "memmove" => libc::memmove as *const () as usize,
        "memset" => libc::memset as *const () as usize,
        "floor" => floor as *const () as usize,
        "floorf" => floorf as *const () as usize,
        "ceil" => ceil as *const () as usize,
        "ceilf" => ceilf as *const () as usize,
        "trunc" => trunc as *const () as usize,
        "truncf" => truncf as *const () as usize,
        "nearbyint" => nearbyint as *const () as usize,
        "nearbyintf" => nearbyintf as *const () as usize,
        "rint" => rint as *const () as usize,
        "rintf" => rintf as *const () as usize,
        "roundeven" => roundeven as *const () as usize,
        "roundevenf" => roundevenf as *const () as usize,
        "fmin" => fmin as *const () as usize,
        "fminf" => fminf as *const () as usize,
        "fmax" => fmax as *const () as usize,
        "fmaxf" => fmaxf as *const () as usize,
        "fmod" => fmod as *const () as usize,
        "fmodf" => fmodf as *const () as usize,
        "sqrt" => sqrt as *const () as usize,
        "sqrtf" => sqrtf as *const () as usize,
        // relaxed_madd on a CPU without FMA (see compiler translate/simd).
        "fma" => fma as *const () as usize,
        "fmaf" => fmaf as *const () as usize,
        _ => return None,
    })
}

/// A fresh private read+write mapping of `len` bytes, for code to be
/// written and then protected (the caller unmaps it).
///
/// Code is placed near this program's own machine code when the kernel
/// allows it: an indirect call from one module's code to another's (an AOT
/// executable's text calling a bundled module's, say) is predicted worse
/// by some CPUs (measured on AMD Zen: 1.9x the cost of a call within the
/// text, `bench/crosscall`) when caller and callee are terabytes apart.
/// The address is only a hint; any other free range works as well.
pub(crate) fn map_read_write(len: usize) -> Result<*mut u8, LoadError> {
    map_code(len, None)
}

/// [`map_read_write`], or with `file`: `len` bytes of the file from the
/// page-aligned offset, mapped private and read-only (every page mapped at
/// once; the caller makes them writable where it patches, which copies
/// only those pages).
fn map_code(len: usize, file: Option<(&std::fs::File, u64)>) -> Result<*mut u8, LoadError> {
    use std::os::fd::AsRawFd;
    // Every page is faulted in by the kernel at once (MAP_POPULATE): the
    // caller writes all of them, and one fault per 4 KiB page is what made
    // loading a 4.5 MB cache entry cost 4-6 ms on a virtual machine.
    let (prot, flags, fd, offset) = match file {
        None => (
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        ),
        Some((f, offset)) => (
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            f.as_raw_fd(),
            libc::off_t::try_from(offset)
                .map_err(|_| LoadError("image offset out of range".into()))?,
        ),
    };
    // SAFETY: anonymous memory, or a private copy-on-write view of the
    // file, which writes never reach.
    unsafe { map_near_text(len, prot, flags, fd, offset) }
}

/// `mmap` of `len` bytes (rounded up to pages) with these arguments, at
/// an address near this program's text when the kernel allows it (see
/// [`map_read_write`]); never `MAP_FIXED`, so nothing mapped is replaced.
///
/// # Safety
///
/// As `mmap`'s: `fd` and `offset`, when given, must be valid for the
/// mapping asked for.
pub(crate) unsafe fn map_near_text(
    len: usize,
    prot: i32,
    flags: i32,
    fd: i32,
    offset: libc::off_t,
) -> Result<*mut u8, LoadError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// Where the next code mapping should go: above this program's text,
    /// past the room its heap (`brk`) usually needs.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const GAP: usize = 1 << 30;
    let page = 4096;
    let size = len.div_ceil(page) * page;
    let mut hint = NEXT.load(Ordering::Relaxed);
    if hint == 0 {
        let text = map_read_write as *const () as usize;
        hint = (text + GAP) & !(page - 1);
    }
    // SAFETY: a fresh mapping (the address is a hint, without MAP_FIXED,
    // so nothing mapped is replaced); the caller vouches for the rest.
    let base = unsafe { libc::mmap(hint as *mut libc::c_void, size, prot, flags, fd, offset) };
    if base == libc::MAP_FAILED {
        return Err(LoadError(format!(
            "mmap failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    // Next time: right after this mapping, or, when the hint was taken,
    // somewhere past it.
    let next = if base as usize == hint {
        hint + size
    } else {
        hint + (GAP >> 4)
    };
    NEXT.fetch_max(next, Ordering::Relaxed);
    Ok(base as *mut u8)
}

/// Developer knob: with `WASABI_PERF_MAP=1` in the environment, every
/// function symbol of every loaded object is appended to
/// `/tmp/perf-<pid>.map`, the file `perf report` reads to name JIT code
/// (`wasabi_func_<index>`, `wasabi_func_<index>_osr_<loop>`, ...).
/// `perf` reads that file only for anonymous executable mappings, so while
/// the knob is on the code arena stands aside ([`perf_map_wanted`]).
fn perf_map() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    use std::sync::{Mutex, OnceLock};
    static MAP: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    MAP.get_or_init(|| {
        if std::env::var_os("WASABI_PERF_MAP").is_none_or(|v| v != "1") {
            return None;
        }
        let path = format!("/tmp/perf-{}.map", std::process::id());
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Whether loaded code is being listed for `perf` (`WASABI_PERF_MAP=1`):
/// then every object must go into an anonymous mapping of its own, which
/// `perf` names from the map; code in the arena's file-backed mappings it
/// would show as offsets into `memfd:wasabi-code`.
pub(crate) fn perf_map_wanted() -> bool {
    perf_map().is_some()
}

fn write_perf_map(symbols: &[LoadedSymbol]) {
    use std::io::Write;
    if let Some(file) = perf_map() {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        for s in symbols.iter().filter(|s| s.size > 0) {
            let _ = writeln!(file, "{:x} {:x} {}", s.address, s.size, s.name);
        }
    }
}

/// Loads an x86-64 ELF relocatable object: links it ([`link`]) and maps
/// the result into fresh memory.
pub fn load_object(bytes: &[u8]) -> Result<LoadedObject, LoadError> {
    // Linked straight into the mapping (no copy: lazy mode loads one
    // object per function).
    let mut mapped: Option<(*mut u8, usize)> = None;
    let linked = link(bytes, Layout::Pages, |total| {
        let base = map_read_write(total)?;
        mapped = Some((base, total));
        // SAFETY: `base` is a fresh, zeroed, writable mapping of `total`
        // bytes that nothing else refers to; it is unmapped below on error
        // or handed to `finish`, after the slice's last use.
        Ok(unsafe { std::slice::from_raw_parts_mut(base, total) })
    });
    let linked = match linked {
        Ok(l) => l,
        Err(e) => {
            if let Some((base, total)) = mapped {
                // SAFETY: our own mapping, never handed out.
                unsafe { libc::munmap(base.cast(), total) };
            }
            return Err(e);
        }
    };
    let base = linked.image.as_mut_ptr();
    let len = linked.total;
    finish(Memory::Own { base, len }, base, &linked.plan())
}

/// How [`link`] lays an object's sections out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// For a mapping of its own: code, read-only data and the libcall
    /// stubs each start a page (each gets its protection), the code at
    /// this object's colour ([`next_code_colour`]).
    Pages,
    /// For a code arena, where everything is read+execute: sections
    /// packed, each class at a cache line; no writable sections (an
    /// error, before any memory is asked for).
    Dense,
}

/// Links an ELF object for a code arena ([`Layout::Dense`]) into a fresh
/// vector. `place(len, align)` says where its `len` bytes will run (an
/// address that is a multiple of `align`, the largest alignment a section
/// asks for) and what holds that memory, or `None` to give up. Returns the
/// bytes, their absolute addresses written for that place, and the object
/// there, not registered yet: the caller puts the bytes in place first,
/// then [`LoadedObject::register`]s it. `None` on any error (the caller
/// loads the object another way, which reports it).
pub(crate) fn link_dense(
    bytes: &[u8],
    place: impl FnOnce(usize, usize) -> Option<(Memory, usize)>,
) -> Option<(Vec<u8>, LoadedObject)> {
    let mut memory = Vec::new();
    let into = &mut memory;
    let mut l = link(bytes, Layout::Dense, move |total| {
        into.resize(total, 0);
        Ok(&mut into[..])
    })
    .ok()?;
    let image = std::mem::take(&mut l.image);
    let plan = l.plan();
    let (held, base) = place(image.len(), l.align)?;
    let loaded = LoadedObject::at(held, base, &plan);
    write_fixups(image, base, &plan).ok()?;
    Some((memory, loaded))
}

/// Loads what the compiler or the cache holds: a linked image
/// ([`load_image`], from `file` at an offset when it is a slice of that
/// file) or an ELF object ([`load_object`]).
pub fn load(bytes: &[u8], file: Option<(&std::fs::File, u64)>) -> Result<LoadedObject, LoadError> {
    match is_image(bytes) {
        true => load_image(bytes, file),
        false => load_object(bytes),
    }
}

/// The first bytes of a linked image ([`link_image`]).
pub const IMAGE_MAGIC: &[u8; 8] = b"WSBIIMG1";

/// Whether `bytes` are a linked image rather than an ELF object.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(IMAGE_MAGIC)
}

/// Links an ELF object once and for all, for [`load_image`]: its memory
/// image with every position-independent relocation applied, and what is
/// left to write once its address is known (the libcalls' GOT slots, any
/// 64-bit absolute address) and its symbols. The image proper starts at a
/// page boundary of these bytes, so a file holding them at a page boundary
/// can be mapped as the code itself: loading then copies and relocates
/// nothing but the pages it patches (issue 11: "a hit is mmap + relocate +
/// mprotect").
///
/// ```text
/// magic 8, header_len 8 (where the image starts; a page multiple),
/// total 8, code_end 8, ro_end 8, stubs_start 8,
/// externs 4, fixups 4, symbols 4, 0 4,
/// externs x (len 4, name), fixups x (offset 8, 0 = base | 1 = extern 4,
/// extern index 4, addend 8), symbols x (offset 8, size 8, len 4, name),
/// zeros to header_len, image (total bytes)
/// ```
/// (little endian). Images are made and read by the same build (the cache
/// key covers it), but [`load_image`] checks every offset anyway.
pub fn link_image(elf: &[u8]) -> Result<Vec<u8>, LoadError> {
    let mut memory = Vec::new();
    let into = &mut memory;
    let l = link(elf, Layout::Pages, move |total| {
        into.resize(total, 0);
        Ok(&mut into[..])
    })?;
    let mut h = Vec::new();
    h.extend_from_slice(IMAGE_MAGIC);
    h.extend_from_slice(&[0; 8]);
    for n in [l.total, l.code_end, l.ro_end, l.stubs_start] {
        h.extend_from_slice(&(n as u64).to_le_bytes());
    }
    for n in [l.externs.len(), l.fixups.len(), l.symbols.len(), 0] {
        h.extend_from_slice(&(n as u32).to_le_bytes());
    }
    for name in &l.externs {
        h.extend_from_slice(&(name.len() as u32).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
    }
    for f in &l.fixups {
        let (tag, index, addend) = match f.target {
            FixupTarget::Base(a) => (0u32, 0u32, a),
            FixupTarget::Extern(i) => (1, i, 0),
        };
        h.extend_from_slice(&(f.offset as u64).to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&index.to_le_bytes());
        h.extend_from_slice(&addend.to_le_bytes());
    }
    for (name, off, size) in &l.symbols {
        h.extend_from_slice(&(*off as u64).to_le_bytes());
        h.extend_from_slice(&(*size as u64).to_le_bytes());
        h.extend_from_slice(&(name.len() as u32).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
    }
    let header_len = page_align(h.len());
    h[8..16].copy_from_slice(&(header_len as u64).to_le_bytes());
    h.resize(header_len, 0);
    h.extend_from_slice(l.image);
    Ok(h)
}

/// Reads through bytes, every read bounds-checked.
struct ImageReader<'a>(&'a [u8], usize);

impl<'a> ImageReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LoadError> {
        let end = self.1.checked_add(n).filter(|&e| e <= self.0.len());
        let end = end.ok_or_else(|| LoadError("malformed linked image".into()))?;
        let s = &self.0[self.1..end];
        self.1 = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, LoadError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn usize(&mut self) -> Result<usize, LoadError> {
        usize::try_from(self.u64()?).map_err(|_| LoadError("malformed linked image".into()))
    }
    fn u32(&mut self) -> Result<u32, LoadError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn name(&mut self) -> Result<&'a str, LoadError> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| LoadError("malformed linked image".into()))
    }
}

/// Reads an image's header: its plan and where the image starts.
fn read_image(bytes: &[u8]) -> Result<(Plan<'_>, usize), LoadError> {
    let bad = || LoadError("malformed linked image".into());
    let mut r = ImageReader(bytes, 0);
    if r.take(8)? != IMAGE_MAGIC {
        return Err(bad());
    }
    let header_len = r.usize()?;
    let (total, code_end, ro_end, stubs_start) = (r.usize()?, r.usize()?, r.usize()?, r.usize()?);
    let (n_externs, n_fixups, n_symbols) =
        (r.u32()? as usize, r.u32()? as usize, r.u32()? as usize);
    r.u32()?;
    let mut externs = Vec::with_capacity(n_externs.min(1024));
    for _ in 0..n_externs {
        externs.push(r.name()?);
    }
    let mut fixups = Vec::with_capacity(n_fixups.min(1 << 16));
    for _ in 0..n_fixups {
        let offset = r.usize()?;
        let tag = r.u32()?;
        let index = r.u32()?;
        let addend = r.u64()? as i64;
        let target = match tag {
            0 => FixupTarget::Base(addend),
            1 => FixupTarget::Extern(index),
            _ => return Err(bad()),
        };
        fixups.push(Fixup { offset, target });
    }
    let mut symbols = Vec::with_capacity(n_symbols.min(1 << 16));
    for _ in 0..n_symbols {
        let off = r.usize()?;
        let size = r.usize()?;
        symbols.push((r.name()?, off, size));
    }
    let ordered = code_end <= ro_end && ro_end <= stubs_start && stubs_start <= total;
    let aligned = [header_len, total, code_end, ro_end, stubs_start]
        .iter()
        .all(|n| n % PAGE == 0);
    let in_image = symbols
        .iter()
        .all(|&(_, off, size)| off.checked_add(size).is_some_and(|end| end <= total));
    if !ordered
        || !aligned
        || !in_image
        || total == 0
        || r.1 > header_len
        || bytes.len().checked_sub(header_len) != Some(total)
    {
        return Err(bad());
    }
    let plan = Plan {
        total,
        code_end,
        ro_end,
        stubs_start,
        externs,
        fixups,
        symbols,
    };
    Ok((plan, header_len))
}

/// Loads a linked image ([`link_image`]). With `file`, the image's bytes
/// are those of that file from byte `offset` on (mapped private there); the
/// image's pages are then mapped from the file, not copied, when they start
/// at a page boundary of it, and only the pages patched are copied (by the
/// kernel, on write). Otherwise, and when the file's mount forbids running
/// code from it (`noexec`), the image is copied into fresh memory.
///
/// The file must not change while the code is mapped (as any program
/// file): the cache never writes an entry in place.
pub fn load_image(
    bytes: &[u8],
    file: Option<(&std::fs::File, u64)>,
) -> Result<LoadedObject, LoadError> {
    let (plan, header_len) = read_image(bytes)?;
    let image = &bytes[header_len..];
    if let Some((f, offset)) = file {
        let start = offset + header_len as u64;
        if start.is_multiple_of(PAGE as u64) {
            let base = map_code(plan.total, Some((f, start)))?;
            // SAFETY: our own fresh mapping of `total` bytes: made writable
            // (copy-on-write, so only the pages written are copied) for the
            // fixups; `finish` protects it again.
            let writable = unsafe {
                libc::mprotect(base.cast(), plan.total, libc::PROT_READ | libc::PROT_WRITE) == 0
            };
            if writable {
                // On error `finish` unmaps; retried below by copying (a
                // `noexec` mount refuses PROT_EXEC).
                if let Ok(loaded) = finish(
                    Memory::Own {
                        base,
                        len: plan.total,
                    },
                    base,
                    &plan,
                ) {
                    return Ok(loaded);
                }
            } else {
                // SAFETY: our own mapping, not yet handed out.
                unsafe { libc::munmap(base.cast(), plan.total) };
            }
        }
    }
    let base = map_read_write(plan.total)?;
    // SAFETY: `base` is a fresh writable mapping of `total` bytes, and the
    // image is `total` bytes long (`read_image` checked).
    unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), base, plan.total) };
    let len = plan.total;
    finish(Memory::Own { base, len }, base, &plan)
}

/// An object linked at address 0: its memory image, and what must still be
/// written once its address is known. Everything position-independent is
/// already applied (PC-relative references between its sections and to its
/// own stubs and GOT slots): only absolute addresses remain, which in
/// wasabi's PIC code are the GOT slots of libcalls and the rare 64-bit
/// absolute reference.
struct Linked<'b> {
    /// `total` bytes: code, read-only data, writable data, stubs.
    image: &'b mut [u8],
    total: usize,
    /// Page-aligned ends of the code and of the read-only data.
    code_end: usize,
    ro_end: usize,
    /// Where the stubs (and their GOT slots) begin, page-aligned.
    stubs_start: usize,
    externs: Vec<String>,
    fixups: Vec<Fixup>,
    /// Defined symbols: name, offset, size.
    symbols: Vec<(String, usize, usize)>,
    /// The largest alignment a section asks for.
    align: usize,
}

/// An absolute address to write (8 bytes, unaligned) at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fixup {
    offset: usize,
    target: FixupTarget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FixupTarget {
    /// The mapping's base plus this.
    Base(i64),
    /// The address of extern (libcall) `i`.
    Extern(u32),
}

/// What [`finish`] needs of a linked object, borrowed from a [`Linked`] or
/// read from an image ([`link_image`]'s output).
struct Plan<'a> {
    total: usize,
    code_end: usize,
    ro_end: usize,
    stubs_start: usize,
    externs: Vec<&'a str>,
    fixups: Vec<Fixup>,
    symbols: Vec<(&'a str, usize, usize)>,
}

impl Linked<'_> {
    fn plan(&self) -> Plan<'_> {
        Plan {
            total: self.total,
            code_end: self.code_end,
            ro_end: self.ro_end,
            stubs_start: self.stubs_start,
            externs: self.externs.iter().map(|s| s.as_str()).collect(),
            fixups: self.fixups.clone(),
            symbols: self
                .symbols
                .iter()
                .map(|(n, o, z)| (n.as_str(), *o, *z))
                .collect(),
        }
    }
}

/// Lays an ELF object out as `layout` says and applies its relocations,
/// at address 0. `buffer(total)` gives the zeroed memory to link into.
fn link<'b>(
    bytes: &[u8],
    layout: Layout,
    buffer: impl FnOnce(usize) -> Result<&'b mut [u8], LoadError>,
) -> Result<Linked<'b>, LoadError> {
    let file =
        ElfFile64::<object::Endianness>::parse(bytes).map_err(|e| LoadError(e.to_string()))?;
    if file.architecture() != object::Architecture::X86_64 {
        return Err(LoadError(format!(
            "unsupported architecture {:?}",
            file.architecture()
        )));
    }

    // Lay out sections: executable first, then read-only, then writable.
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Exec,
        ReadOnly,
        Write,
    }
    let classify = |k: SectionKind| -> Option<Class> {
        match k {
            SectionKind::Text => Some(Class::Exec),
            SectionKind::ReadOnlyData
            | SectionKind::ReadOnlyString
            | SectionKind::ReadOnlyDataWithRel => Some(Class::ReadOnly),
            SectionKind::Data | SectionKind::UninitializedData => Some(Class::Write),
            _ => None,
        }
    };
    let mut placement: HashMap<object::SectionIndex, usize> = HashMap::new();
    let dense = layout == Layout::Dense;
    // Where each class ends: a page apart, or a cache line in an arena
    // (where no two objects share a line either).
    let boundary = |x: usize| match dense {
        true => align_to(x, CACHE_LINE),
        false => page_align(x),
    };
    // The code's first page is shared by nothing else: start it at this
    // object's colour (the bytes before are never executed). In an arena
    // objects sit side by side, which spreads their starts anyway.
    let mut cursor = if dense { 0 } else { next_code_colour() };
    let mut boundaries = [0usize; 3];
    let mut align = CACHE_LINE;
    for (ci, class) in [Class::Exec, Class::ReadOnly, Class::Write]
        .into_iter()
        .enumerate()
    {
        for s in file.sections() {
            if classify(s.kind()) == Some(class) && s.size() > 0 {
                if dense && class == Class::Write {
                    return Err(LoadError(
                        "a writable section cannot go into a code arena".into(),
                    ));
                }
                let a = (s.align() as usize).max(1);
                align = align.max(a);
                cursor = align_to(cursor, a);
                placement.insert(s.index(), cursor);
                cursor += s.size() as usize;
            }
        }
        if ci < 2 {
            cursor = boundary(cursor);
        }
        boundaries[ci] = cursor;
    }
    // Undefined symbols (libcalls) get a GOT slot and a call stub each, in
    // pages after all sections, so PC-relative references to them reach.
    let mut externs: Vec<String> = Vec::new();
    for sym in file.symbols() {
        if sym.section() == SymbolSection::Undefined && !sym.name().unwrap_or("").is_empty() {
            let name = sym
                .name()
                .map_err(|e| LoadError(e.to_string()))?
                .to_string();
            if resolve_libcall(&name).is_none() {
                return Err(LoadError(format!(
                    "undefined symbol `{name}` in compiled code"
                )));
            }
            externs.push(name);
        }
    }
    let stubs_start = boundary(cursor);
    // Each extern: an 8-byte GOT slot and a 16-byte stub `jmp *[rip+slot]`.
    let stub_size = 8 + 16;
    let total = match dense {
        true => boundary(stubs_start + externs.len() * stub_size).max(CACHE_LINE),
        false => page_align(stubs_start + externs.len() * stub_size).max(PAGE),
    };
    let image = buffer(total)?;
    let mut fixups = Vec::new();

    // Copy section contents.
    for s in file.sections() {
        if let Some(&off) = placement.get(&s.index()) {
            if s.kind() != SectionKind::UninitializedData {
                let data = s.data().map_err(|e| LoadError(e.to_string()))?;
                image
                    .get_mut(off..off + data.len())
                    .ok_or_else(|| LoadError("section larger than its size".into()))?
                    .copy_from_slice(data);
            }
        }
    }
    // GOT slots (filled once the address is known) and stubs.
    let mut extern_slots: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, name) in externs.iter().enumerate() {
        let slot = stubs_start + i * stub_size;
        let stub = slot + 8;
        fixups.push(Fixup {
            offset: slot,
            target: FixupTarget::Extern(i as u32),
        });
        // jmp qword ptr [rip - (6 + 8)] : FF 25 disp32, where rip = stub + 6.
        let code = &mut image[stub..stub + 16];
        code[0] = 0xFF;
        code[1] = 0x25;
        let disp = slot as i64 - (stub as i64 + 6);
        code[2..6].copy_from_slice(&(disp as i32).to_le_bytes());
        code[6..].fill(0xCC);
        extern_slots.insert(name.as_str(), (slot, stub));
    }

    // (offset of the symbol, its GOT slot if it is an extern)
    let symbol_offset = |idx: object::SymbolIndex| -> Result<(usize, Option<usize>), LoadError> {
        let sym = file
            .symbol_by_index(idx)
            .map_err(|e| LoadError(e.to_string()))?;
        match sym.section() {
            SymbolSection::Section(si) => {
                let off = placement.get(&si).ok_or_else(|| {
                    LoadError(format!("symbol in unplaced section: {:?}", sym.name()))
                })?;
                Ok((off + sym.address() as usize, None))
            }
            SymbolSection::Undefined => {
                let name = sym.name().map_err(|e| LoadError(e.to_string()))?;
                let (slot, stub) = extern_slots[name];
                Ok((stub, Some(slot)))
            }
            other => Err(LoadError(format!("unsupported symbol section {other:?}"))),
        }
    };

    // Apply relocations: PC-relative ones now, absolute ones as fixups.
    for s in file.sections() {
        let Some(&sec_off) = placement.get(&s.index()) else {
            continue;
        };
        for (offset, rel) in s.relocations() {
            let p = sec_off + offset as usize;
            let (s_off, got) = match rel.target() {
                RelocationTarget::Symbol(idx) => symbol_offset(idx)?,
                RelocationTarget::Section(si) => {
                    let off = placement
                        .get(&si)
                        .ok_or_else(|| LoadError("relocation against unplaced section".into()))?;
                    (*off, None)
                }
                other => {
                    return Err(LoadError(format!(
                        "unsupported relocation target {other:?}"
                    )))
                }
            };
            let a = rel.addend();
            let RelocationFlags::Elf { r_type } = rel.flags() else {
                return Err(LoadError("non-ELF relocation".into()));
            };
            let width = match r_type {
                elf::R_X86_64_64 | elf::R_X86_64_PC64 => 8,
                _ => 4,
            };
            if offset.saturating_add(width) > s.size() || s.kind() == SectionKind::UninitializedData
            {
                return Err(LoadError("relocation outside its section".into()));
            }
            let pc_relative = |target: usize| -> i64 { target as i64 + a - p as i64 };
            match r_type {
                elf::R_X86_64_64 => fixups.push(Fixup {
                    offset: p,
                    target: FixupTarget::Base(s_off as i64 + a),
                }),
                elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                    let v32 = i32::try_from(pc_relative(s_off))
                        .map_err(|_| LoadError("PC32 relocation out of range".into()))?;
                    image[p..p + 4].copy_from_slice(&v32.to_le_bytes());
                }
                elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX => {
                    let slot =
                        got.ok_or_else(|| LoadError("GOT relocation to a defined symbol".into()))?;
                    image[p..p + 4].copy_from_slice(&(pc_relative(slot) as i32).to_le_bytes());
                }
                elf::R_X86_64_PC64 => {
                    image[p..p + 8].copy_from_slice(&pc_relative(s_off).to_le_bytes())
                }
                elf::R_X86_64_32 | elf::R_X86_64_32S => {
                    return Err(LoadError(
                        "absolute 32-bit relocation (object not PIC)".into(),
                    ))
                }
                t => return Err(LoadError(format!("unsupported relocation type {t}"))),
            }
        }
    }

    // Defined symbols.
    let mut symbols = Vec::new();
    for sym in file.symbols() {
        if let SymbolSection::Section(si) = sym.section() {
            if let (Some(off), Ok(name)) = (placement.get(&si), sym.name()) {
                if !name.is_empty() && sym.kind() != object::SymbolKind::Section {
                    symbols.push((
                        name.to_string(),
                        off + sym.address() as usize,
                        sym.size() as usize,
                    ));
                }
            }
        }
    }
    Ok(Linked {
        image,
        total,
        code_end: boundaries[0],
        ro_end: boundaries[1],
        stubs_start,
        externs,
        fixups,
        symbols,
        align,
    })
}

/// Writes the fixups of a linked object into its mapping at `base` (every
/// page writable, `memory` itself), records its symbols, protects it and
/// registers its code. On error the mapping is unmapped.
fn finish(memory: Memory, base: *mut u8, plan: &Plan) -> Result<LoadedObject, LoadError> {
    // From here the mapping is the object's: unmapped on any error.
    let loaded = LoadedObject::at(memory, base as usize, plan);
    // SAFETY: `base` is the start of `plan.total` writable bytes (the
    // caller's mapping), which nothing runs yet.
    let image = unsafe { std::slice::from_raw_parts_mut(base, plan.total) };
    write_fixups(image, base as usize, plan)?;

    // Protect: code and stubs executable, read-only data read-only.
    // SAFETY: every range is inside our own mapping, and page aligned
    // (`code_end`, `ro_end` and `stubs_start` are); nothing runs from it yet.
    unsafe {
        let prot = |start: usize, end: usize, p: i32| -> Result<(), LoadError> {
            if end > start
                && libc::mprotect(base.add(start) as *mut libc::c_void, end - start, p) != 0
            {
                return Err(LoadError(format!(
                    "mprotect failed: {}",
                    std::io::Error::last_os_error()
                )));
            }
            Ok(())
        };
        prot(0, plan.code_end, libc::PROT_READ | libc::PROT_EXEC)?;
        prot(plan.code_end, plan.ro_end, libc::PROT_READ)?;
        prot(
            plan.stubs_start,
            plan.total,
            libc::PROT_READ | libc::PROT_EXEC,
        )?;
    }
    Ok(loaded.register())
}

impl LoadedObject {
    /// The object of `plan` at `base` (where it runs), in `memory`.
    fn at(memory: Memory, base: usize, plan: &Plan) -> LoadedObject {
        LoadedObject {
            memory,
            symbols: plan
                .symbols
                .iter()
                .map(|&(name, off, size)| LoadedSymbol {
                    name: name.to_string(),
                    address: base + off,
                    size,
                })
                .collect(),
            code_range: (base, base + plan.code_end),
        }
    }

    /// The object, its code now running: registered for the trap
    /// handler and, when asked for, named for `perf`.
    pub(crate) fn register(self) -> LoadedObject {
        crate::traps::register_code(self.code_range.0, self.code_range.1);
        write_perf_map(&self.symbols);
        self
    }
}

/// Writes the absolute addresses of `plan` into `image` (its bytes, all
/// `plan.total` of them), for the object to run at address `base`.
fn write_fixups(image: &mut [u8], base: usize, plan: &Plan) -> Result<(), LoadError> {
    debug_assert_eq!(image.len(), plan.total);
    let externs = plan
        .externs
        .iter()
        .map(|n| {
            resolve_libcall(n)
                .ok_or_else(|| LoadError(format!("undefined symbol `{n}` in compiled code")))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    for f in &plan.fixups {
        let value = match f.target {
            FixupTarget::Base(a) => (base as i64).wrapping_add(a) as u64,
            FixupTarget::Extern(i) => *externs
                .get(i as usize)
                .ok_or_else(|| LoadError("fixup of an unknown extern".into()))?
                as u64,
        };
        image
            .get_mut(f.offset..f.offset.saturating_add(8))
            .ok_or_else(|| LoadError("fixup outside the object".into()))?
            .copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::map_read_write;

    /// Code mappings land near this program's text (see
    /// `map_read_write`): within 4 GiB, where calls between the two are
    /// predicted as well as calls within the text.
    #[test]
    fn code_is_mapped_near_the_programs_text() {
        let text = map_read_write as *const () as usize;
        for len in [4096, 100_000, 1 << 20] {
            let base = map_read_write(len).unwrap();
            let distance = (base as usize).abs_diff(text);
            // SAFETY: `base` is the fresh mapping of `len` bytes made above,
            // used by nothing else.
            unsafe { libc::munmap(base.cast(), len) };
            assert!(
                distance < 4 << 30,
                "{base:p} is {distance:#x} from the text at {text:#x}"
            );
        }
    }
}
