//! The code loader: maps a relocatable ELF object produced by the compiler
//! into executable memory, applies its relocations and records where each
//! function landed.
//!
//! What must stay true:
//! - Every section of one object lands in one mapping, so the PC-relative
//!   relocations LLVM emits for the small code model always reach.
//! - Undefined symbols are only the libcalls in [`resolve_libcall`]; they are
//!   reached through stubs/GOT slots placed in the same mapping. Anything else
//!   is a load error, never a silent null.
//! - Code is never writable and executable at once: sections are written,
//!   then the mapping is made read+execute (writable sections excepted).
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
    base: *mut u8,
    len: usize,
    symbols: Vec<LoadedSymbol>,
    code_range: (usize, usize),
}

// SAFETY: the mapping is owned by the object and immutable (protected
// read-only or read+execute, data sections aside, which only compiled code
// touches) once `load_object` returns.
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
        // SAFETY: our own mapping; whoever owns the object keeps it alive as
        // long as its code can run, so nothing runs it any more.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
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
/// of its own, and each starts a fresh mapping. With the code at offset 0
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
    // Every page is faulted in by the kernel at once (MAP_POPULATE): the
    // caller writes all of them, and one fault per 4 KiB page is what made
    // loading a 4.5 MB cache entry cost 4-6 ms on a virtual machine.
    // SAFETY: a fresh anonymous mapping (the address is a hint, without
    // MAP_FIXED, so nothing mapped is replaced); it aliases nothing.
    let base = unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
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

/// Loads an x86-64 ELF relocatable object.
/// Developer knob: with `WASABI_PERF_MAP=1` in the environment, every
/// function symbol of every loaded object is appended to
/// `/tmp/perf-<pid>.map`, the file `perf report` reads to name JIT code
/// (`wasabi_func_<index>`, `wasabi_func_<index>_osr_<loop>`, ...).
fn write_perf_map(symbols: &[LoadedSymbol]) {
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};
    static MAP: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
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
    });
    if let Some(file) = map {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        for s in symbols.iter().filter(|s| s.size > 0) {
            let _ = writeln!(file, "{:x} {:x} {}", s.address, s.size, s.name);
        }
    }
}

pub fn load_object(bytes: &[u8]) -> Result<LoadedObject, LoadError> {
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
    // The code's first page is shared by nothing else: start it at this
    // object's colour (the bytes before are never executed).
    let mut cursor = next_code_colour();
    let mut boundaries = [0usize; 3];
    for (ci, class) in [Class::Exec, Class::ReadOnly, Class::Write]
        .into_iter()
        .enumerate()
    {
        for s in file.sections() {
            if classify(s.kind()) == Some(class) && s.size() > 0 {
                cursor = align_to(cursor, s.align() as usize);
                placement.insert(s.index(), cursor);
                cursor += s.size() as usize;
            }
        }
        if ci < 2 {
            cursor = page_align(cursor);
        }
        boundaries[ci] = cursor;
    }
    // Undefined symbols (libcalls) get a GOT slot and a call stub each, in
    // pages after all sections, so PC-relative references to them reach.
    let mut externs: Vec<(String, usize)> = Vec::new();
    for sym in file.symbols() {
        if sym.section() == SymbolSection::Undefined && !sym.name().unwrap_or("").is_empty() {
            let name = sym
                .name()
                .map_err(|e| LoadError(e.to_string()))?
                .to_string();
            let addr = resolve_libcall(&name)
                .ok_or_else(|| LoadError(format!("undefined symbol `{name}` in compiled code")))?;
            externs.push((name, addr));
        }
    }
    let stubs_start = page_align(cursor);
    // Each extern: an 8-byte GOT slot and a 16-byte stub `jmp *[rip+slot]`.
    let stub_size = 8 + 16;
    let total = page_align(stubs_start + externs.len() * stub_size).max(PAGE);

    let base = map_read_write(total)?;
    let mut loaded = LoadedObject {
        base,
        len: total,
        symbols: Vec::new(),
        code_range: (base as usize, base as usize + boundaries[0]),
    };

    // Copy section contents.
    for s in file.sections() {
        if let Some(&off) = placement.get(&s.index()) {
            if s.kind() != SectionKind::UninitializedData {
                let data = s.data().map_err(|e| LoadError(e.to_string()))?;
                // SAFETY: the section was placed at `off` with its full size
                // inside the fresh mapping (`placement`, `total`).
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(off), data.len()) };
            }
        }
    }
    // Write GOT slots and stubs.
    let mut extern_slots: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, (name, addr)) in externs.iter().enumerate() {
        let slot = base as usize + stubs_start + i * stub_size;
        let stub = slot + 8;
        // SAFETY: slot and stub `i` lie in the stub pages reserved for
        // `externs.len()` of them at the end of the mapping, still writable.
        unsafe {
            *(slot as *mut u64) = *addr as u64;
            // jmp qword ptr [rip - (6 + 8)] : FF 25 disp32, where rip = stub + 6.
            let code = stub as *mut u8;
            *code = 0xFF;
            *code.add(1) = 0x25;
            let disp = slot as i64 - (stub as i64 + 6);
            (code.add(2) as *mut i32).write_unaligned(disp as i32);
            for k in 6..16 {
                *code.add(k) = 0xCC;
            }
        }
        extern_slots.insert(name.clone(), (slot, stub));
    }

    let symbol_address =
        |idx: object::SymbolIndex| -> Result<(usize, Option<(usize, usize)>), LoadError> {
            let sym = file
                .symbol_by_index(idx)
                .map_err(|e| LoadError(e.to_string()))?;
            match sym.section() {
                SymbolSection::Section(si) => {
                    let off = placement.get(&si).ok_or_else(|| {
                        LoadError(format!("symbol in unplaced section: {:?}", sym.name()))
                    })?;
                    Ok((base as usize + off + sym.address() as usize, None))
                }
                SymbolSection::Undefined => {
                    let name = sym.name().map_err(|e| LoadError(e.to_string()))?;
                    let (slot, stub) = extern_slots[name];
                    Ok((stub, Some((slot, stub))))
                }
                other => Err(LoadError(format!("unsupported symbol section {other:?}"))),
            }
        };

    // Apply relocations.
    for s in file.sections() {
        let Some(&sec_off) = placement.get(&s.index()) else {
            continue;
        };
        for (offset, rel) in s.relocations() {
            let p = base as usize + sec_off + offset as usize;
            let (s_addr, ext) = match rel.target() {
                RelocationTarget::Symbol(idx) => symbol_address(idx)?,
                RelocationTarget::Section(si) => {
                    let off = placement
                        .get(&si)
                        .ok_or_else(|| LoadError("relocation against unplaced section".into()))?;
                    (base as usize + off, None)
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
            if offset.saturating_add(width) > s.size() {
                return Err(LoadError("relocation outside its section".into()));
            }
            // SAFETY: the `width` bytes written at `p` lie inside the section
            // (checked just above), which is placed inside the mapping, still
            // writable; writes are unaligned.
            unsafe {
                match r_type {
                    elf::R_X86_64_64 => (p as *mut u64).write_unaligned((s_addr as i64 + a) as u64),
                    elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                        let v = s_addr as i64 + a - p as i64;
                        let v32 = i32::try_from(v)
                            .map_err(|_| LoadError("PC32 relocation out of range".into()))?;
                        (p as *mut i32).write_unaligned(v32);
                    }
                    elf::R_X86_64_GOTPCREL
                    | elf::R_X86_64_GOTPCRELX
                    | elf::R_X86_64_REX_GOTPCRELX => {
                        let got = match ext {
                            Some((slot, _)) => slot,
                            None => {
                                return Err(LoadError("GOT relocation to a defined symbol".into()))
                            }
                        };
                        let v = got as i64 + a - p as i64;
                        (p as *mut i32).write_unaligned(v as i32);
                    }
                    elf::R_X86_64_PC64 => {
                        (p as *mut i64).write_unaligned(s_addr as i64 + a - p as i64)
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
    }

    // Record defined symbols.
    for sym in file.symbols() {
        if let SymbolSection::Section(si) = sym.section() {
            if let (Some(off), Ok(name)) = (placement.get(&si), sym.name()) {
                if !name.is_empty() && sym.kind() != object::SymbolKind::Section {
                    loaded.symbols.push(LoadedSymbol {
                        name: name.to_string(),
                        address: base as usize + off + sym.address() as usize,
                        size: sym.size() as usize,
                    });
                }
            }
        }
    }

    // Protect: code and stubs executable, read-only data read-only.
    // SAFETY: every range is inside our own mapping, and page aligned
    // (`boundaries` and `stubs_start` are); nothing runs from it yet.
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
        prot(0, boundaries[0], libc::PROT_READ | libc::PROT_EXEC)?;
        prot(boundaries[0], boundaries[1], libc::PROT_READ)?;
        prot(stubs_start, total, libc::PROT_READ | libc::PROT_EXEC)?;
    }
    crate::traps::register_code(loaded.code_range.0, loaded.code_range.1);
    write_perf_map(&loaded.symbols);
    Ok(loaded)
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
