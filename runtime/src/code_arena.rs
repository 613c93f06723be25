//! The code arena: where lazy and tiered mode put the small objects they
//! compile one function (or a small batch) at a time, packed side by side
//! instead of each in a mapping of its own.
//!
//! A mapping per object cost twice. Each took at least three pages (code,
//! read-only data, libcall stubs), so a program's hot functions were
//! spread one per page: manyfuncs (600 small functions calling each other)
//! ran its optimised code ~30 % slower in tiered mode than the same
//! machine code in one regular-mode object, and as fast once the objects
//! were packed (the instruction TLB and caches see a few dense pages). And
//! each load made its pages executable with `mprotect`, which on a
//! multi-threaded process interrupts every other core running it to flush
//! its TLB: a third of the main thread's time in a warm run of the 4 MB
//! start-up module was the kernel doing that while the background thread
//! loaded code.
//!
//! An arena is a set of *chunks*, each a window of the process's one code
//! file (a `memfd`, so the process holds one descriptor however many
//! modules it runs) mapped once, shared, read+execute, near the program's
//! text (see [`crate::loader::map_near_text`]). An object is linked into a
//! buffer ([`Layout::Dense`](crate::loader::Layout): sections packed,
//! read-only data and stubs beside the code), given its address (bump
//! allocation in the arena's current chunk), has its absolute addresses
//! written for it, and is written into the file at that offset with
//! `pwrite`; the pages it lands on are then simply there in the executable
//! view, no protection changes.
//!
//! What must stay true:
//! - No writable view of the code file exists in the process: bytes reach
//!   it only through the descriptor, before the object is handed out, into
//!   space that no object was ever given. Code that may run is never
//!   written.
//! - Every object starts at a cache line and at its sections' largest
//!   alignment, and no two objects share a line.
//! - A chunk belongs to one arena (one module's code: a module's death
//!   frees its chunks, not someone else's) and stays mapped while the
//!   arena or any object in it holds it (`Arc`); space is never reused
//!   inside a chunk. A chunk dropped gives its window's memory back to the
//!   system (a hole punched in the file) and its window to the next chunk.
//! - Only the process that opened the code file writes to it: a child
//!   made by `fork` shares the file and its mappings with the parent, and
//!   two bump allocators over the same windows would write over each
//!   other's code. In a child every object gets its own mapping.
//! - When the kernel refuses (no `memfd`, an executable shared mapping
//!   denied, `vm.memfd_noexec`), or an object does not fit the layout (a
//!   writable section) or a chunk, that object gets its own mapping as
//!   before ([`crate::loader::load_object`]): the arena is only ever a
//!   faster place to put code, never a reason for a load to fail. So does
//!   every object while `WASABI_PERF_MAP=1` lists code for `perf`, which
//!   names only code in anonymous mappings.

use crate::loader::{self, LoadError, LoadedObject, Memory};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes of address space (and of file) per chunk. Only the pages written
/// take memory.
const CHUNK_BYTES: usize = 64 << 20;

/// Objects larger than this get their own mapping (a chunk would be mostly
/// one object, and big objects are few and gain nothing from packing).
const LARGEST_OBJECT: usize = CHUNK_BYTES / 8;

/// Where a module's lazily compiled objects are loaded: see the module
/// documentation.
pub struct CodeArena {
    state: Mutex<Option<(Arc<Chunk>, usize)>>,
}

/// The process's code file: every chunk is a window of it.
struct CodeFile {
    memfd: File,
    /// The process that opened it, the only one to write to it.
    owner: u32,
    /// The file's size, and the windows of chunks since dropped (holes).
    windows: Mutex<(u64, Vec<u64>)>,
}

impl CodeFile {
    /// The process's code file, or `None` where the kernel gives none (or
    /// this is a child of the process that opened it).
    fn get() -> Option<&'static CodeFile> {
        static FILE: OnceLock<Option<CodeFile>> = OnceLock::new();
        let file = FILE.get_or_init(|| CodeFile::open().ok()).as_ref()?;
        file.ours().then_some(file)
    }

    /// Whether this process opened the file (see the module documentation).
    fn ours(&self) -> bool {
        self.owner == std::process::id()
    }

    fn open() -> std::io::Result<CodeFile> {
        let name = c"wasabi-code";
        // `MFD_EXEC` asks for an executable memfd where `vm.memfd_noexec`
        // would otherwise seal it non-executable; kernels before 6.3 do not
        // know the flag (EINVAL), and need none.
        // SAFETY: plain system calls on a constant C string.
        let mut fd =
            unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_EXEC) };
        if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // SAFETY: as above.
            fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        }
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor just opened, owned by nothing else.
        let memfd = unsafe { File::from_raw_fd(fd) };
        Ok(CodeFile {
            memfd,
            owner: std::process::id(),
            windows: Mutex::new((0, Vec::new())),
        })
    }

    /// A window of [`CHUNK_BYTES`] no chunk uses: its offset.
    fn take_window(&self) -> std::io::Result<u64> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(offset) = w.1.pop() {
            return Ok(offset);
        }
        let offset = w.0;
        let size = offset + CHUNK_BYTES as u64;
        self.memfd.set_len(size)?;
        w.0 = size;
        Ok(offset)
    }

    /// Gives back the window at `offset` (no longer mapped), its memory
    /// first.
    fn give_back(&self, offset: u64) {
        if !self.ours() {
            // The window (and its code) is the parent's to give back.
            return;
        }
        // SAFETY: a system call on our own descriptor, for a range of it.
        let punched = unsafe {
            libc::fallocate(
                self.memfd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                CHUNK_BYTES as libc::off_t,
            )
        } == 0;
        // A window whose memory could not be freed is not reused: its old
        // bytes are still there, and the next chunk must start zeroed.
        if punched {
            let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            w.1.push(offset);
        }
    }
}

/// A window of the code file, mapped read+execute at `exec`.
pub(crate) struct Chunk {
    file: &'static CodeFile,
    offset: u64,
    exec: *mut u8,
    len: usize,
}

// SAFETY: `exec` is a shared read+execute mapping owned by the chunk and
// unmapped only on drop; nothing writes through it, and the file is
// written (by `pwrite`, under the arena's allocation rules) only at
// offsets no thread runs yet.
unsafe impl Send for Chunk {}
// SAFETY: as for `Send`.
unsafe impl Sync for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: our own mapping; every object in it holds this chunk, so
        // none is left to run code from it.
        unsafe { libc::munmap(self.exec.cast(), self.len) };
        self.file.give_back(self.offset);
    }
}

impl Chunk {
    /// A new chunk, or `None` where the kernel refuses one.
    fn new() -> Option<Chunk> {
        let file = CodeFile::get()?;
        let offset = file.take_window().ok()?;
        // SAFETY: a window of the file, shared, read+execute: nothing is
        // mapped over (no MAP_FIXED), and the file extends past it.
        let exec = unsafe {
            loader::map_near_text(
                CHUNK_BYTES,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_SHARED,
                file.memfd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        match exec {
            Ok(exec) => Some(Chunk {
                file,
                offset,
                exec,
                len: CHUNK_BYTES,
            }),
            Err(_) => {
                file.give_back(offset);
                None
            }
        }
    }

    /// Writes `bytes` into the chunk at `offset` (all of them, or an
    /// error), through the file.
    fn write_at(&self, bytes: &[u8], offset: usize) -> Result<(), LoadError> {
        self.file
            .memfd
            .write_all_at(bytes, self.offset + offset as u64)
            .map_err(|e| LoadError(format!("writing code into its arena: {e}")))
    }
}

impl Default for CodeArena {
    fn default() -> Self {
        Self::new()
    }
}

impl CodeArena {
    /// An empty arena; its first chunk is made at the first load.
    pub fn new() -> CodeArena {
        CodeArena {
            state: Mutex::new(None),
        }
    }

    /// Loads a relocatable object compiled for this process, into the
    /// arena when it fits there, else into a mapping of its own
    /// ([`loader::load_object`], which also reports a malformed object).
    pub fn load_object(&self, bytes: &[u8]) -> Result<LoadedObject, LoadError> {
        if !loader::perf_map_wanted() {
            if let Some(loaded) = self.load_packed(bytes) {
                return Ok(loaded);
            }
        }
        loader::load_object(bytes)
    }

    /// [`Self::load_object`] into the arena, or `None` where it does not
    /// go there (including any error: the object's own mapping then tries
    /// again and reports it).
    fn load_packed(&self, bytes: &[u8]) -> Option<LoadedObject> {
        let mut placed = None;
        let (image, loaded) = loader::link_dense(bytes, |len, align| {
            let (chunk, offset) = self.allocate(len, align)?;
            // SAFETY: in bounds: `allocate` gave `offset..offset + len` of
            // the chunk's `len` bytes.
            let base = unsafe { chunk.exec.add(offset) } as usize;
            placed = Some((chunk.clone(), offset));
            Some((Memory::Arena { _chunk: chunk }, base))
        })?;
        let (chunk, offset) = placed?;
        chunk.write_at(&image, offset).ok()?;
        Some(loaded.register())
    }

    /// `len` bytes at a multiple of `align` (a power of two, at least a
    /// cache line), never handed out before: the chunk and the offset in
    /// it. `None` when the object goes elsewhere.
    fn allocate(&self, len: usize, align: usize) -> Option<(Arc<Chunk>, usize)> {
        if len > LARGEST_OBJECT || align > 4096 || !align.is_power_of_two() {
            return None;
        }
        let mut current = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((chunk, used)) = current.as_mut().filter(|(c, _)| c.file.ours()) {
            let offset = used.next_multiple_of(align);
            if offset + len <= chunk.len {
                *used = offset + len;
                return Some((chunk.clone(), offset));
            }
        }
        // (Where the kernel refuses, or in a child, every object is loaded
        // as before.)
        let chunk = Arc::new(Chunk::new()?);
        *current = Some((chunk.clone(), len));
        Some((chunk, 0))
    }
}
