//! The on-disk cache of compiled code, and the precompiled-module format
//! (`wasabi compile -o app.cwasm`), which share one file layout.
//!
//! A *key* names what was compiled and how: a BLAKE3 hash over the wasm
//! bytes and a *fingerprint* of everything that changes the generated code
//! (the compiler's settings, its build, the LLVM version, the target and
//! its CPU features; the compiler crate provides it). A *value* is the
//! relocatable objects the compiler produced, and optionally what the
//! caller needs besides (its `meta` bytes: the module's description, so a
//! hit need not parse the wasm again), so a hit is: map the file, check
//! it, hand the objects to the runtime's loader. No compiler work, and no
//! copy of the objects: they are handed out as slices of the file's bytes,
//! with the file and where each begins in it ([`Entry::file`]), so objects
//! stored page-aligned can be mapped from it as code (the regular-mode
//! cache stores linked images so: the loader maps them, writes a few
//! addresses and protects them).
//!
//! BLAKE3 rather than SHA-256 because a warm start hashes the whole module
//! and the whole entry: on a 4 MB module and its 4.5 MB entry SHA-256 (with
//! the CPU's SHA instructions) took 4.5 ms of a 27 ms start, BLAKE3 ~1.5.
//!
//! ```text
//! file = header payload
//! header (88 bytes):
//!   magic      8   b"WSBICODE"
//!   version    4   FORMAT_VERSION (little endian, like every number here)
//!   kind       4   0 = cache entry, 1 = precompiled module
//!   key       32   the entry's key
//!   length     8   payload bytes
//!   digest    32   BLAKE3 of the payload
//! payload:
//!   wasm_len 8, wasm bytes (empty in cache entries: the caller has them)
//!   meta_len 8, meta bytes (the caller's; may be empty)
//!   count 4, then count x (len 8, pad 8, pad zero bytes, object bytes)
//! ```
//!
//! The padding lets an object begin at a page boundary of the file
//! ([`Cache::put_page_aligned`]): the runtime then maps a linked image's
//! code straight from the entry (`wasabi_runtime::loader::load_image`),
//! copying only the pages it patches, instead of copying it all into fresh
//! memory (regex_bench, 1.4 MB of code: 0.6 ms of a 5 ms warm start).
//!
//! What must stay true:
//! - No byte of an entry reaches the loader before the whole file has been
//!   checked: magic, version, kind, the key the caller expects, the length
//!   (a truncated file is refused), and the payload's digest (a corrupt one
//!   is refused). A refused cache entry is deleted and recompiled, never
//!   executed. (The digest guards against damage, not against an attacker
//!   who can write the cache directory: such a user can already run code.)
//! - Writes are atomic: a private temporary file renamed over the entry,
//!   so concurrent processes compiling the same module all succeed and a
//!   reader sees a whole old or a whole new entry.
//! - The cache only ever deletes files it names itself (`*.wcache` and its
//!   own temporaries) inside its directory.

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The first bytes of every file in this format.
pub const MAGIC: &[u8; 8] = b"WSBICODE";
/// Bumped whenever the layout changes; other versions are refused.
/// (2: BLAKE3 instead of SHA-256, and the meta bytes; 3: objects padded.)
pub const FORMAT_VERSION: u32 = 3;
/// Objects of [`encode_page_aligned`] files begin at multiples of this.
pub const PAGE: usize = 4096;
const HEADER_LEN: usize = 8 + 4 + 4 + 32 + 8 + 32;
/// File extension of cache entries.
const ENTRY_EXT: &str = "wcache";

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A cache entry: objects only.
    CacheEntry = 0,
    /// A precompiled module: the wasm bytes and the objects.
    Precompiled = 1,
}

/// A cache key: BLAKE3 of the wasm bytes and the code fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The key of `wasm` compiled by a compiler with this `fingerprint`.
    pub fn new(wasm: &[u8], fingerprint: &str) -> Key {
        let mut h = blake3::Hasher::new();
        for part in [fingerprint.as_bytes(), wasm] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        Key(h.finalize().into())
    }

    /// The key as 64 hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

/// Why a file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Not this format (or another version of it).
    NotOurs(String),
    /// Shorter (or longer) than its header says.
    Truncated,
    /// Made for another module or another configuration.
    Foreign,
    /// The payload does not match its digest.
    Corrupt,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotOurs(why) => write!(f, "not a wasabi compiled-code file: {why}"),
            FormatError::Truncated => write!(f, "truncated"),
            FormatError::Foreign => write!(
                f,
                "compiled for another module, wasabi build, LLVM, CPU or configuration"
            ),
            FormatError::Corrupt => write!(f, "corrupt (its checksum does not match)"),
        }
    }
}

impl std::error::Error for FormatError {}

/// What a file carries once checked: slices of its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Contents<'a> {
    /// Its key.
    pub key: Key,
    /// The wasm bytes (empty for a cache entry).
    pub wasm: &'a [u8],
    /// The caller's meta bytes (may be empty).
    pub meta: &'a [u8],
    /// The objects.
    pub objects: Vec<&'a [u8]>,
}

/// Lays out a file.
pub fn encode<O: AsRef<[u8]>>(
    kind: Kind,
    key: &Key,
    wasm: &[u8],
    meta: &[u8],
    objects: &[O],
) -> Vec<u8> {
    encode_padded(kind, key, wasm, meta, objects, false)
}

/// Lays out a file whose objects each begin at a multiple of [`PAGE`] from
/// the start of the file.
pub fn encode_page_aligned<O: AsRef<[u8]>>(
    kind: Kind,
    key: &Key,
    wasm: &[u8],
    meta: &[u8],
    objects: &[O],
) -> Vec<u8> {
    encode_padded(kind, key, wasm, meta, objects, true)
}

fn encode_padded<O: AsRef<[u8]>>(
    kind: Kind,
    key: &Key,
    wasm: &[u8],
    meta: &[u8],
    objects: &[O],
    align: bool,
) -> Vec<u8> {
    let objects_len: usize = objects
        .iter()
        .map(|o| o.as_ref().len() + 16 + if align { PAGE } else { 0 })
        .sum();
    let mut payload = Vec::with_capacity(20 + wasm.len() + meta.len() + objects_len);
    for part in [wasm, meta] {
        payload.extend_from_slice(&(part.len() as u64).to_le_bytes());
        payload.extend_from_slice(part);
    }
    payload.extend_from_slice(&(objects.len() as u32).to_le_bytes());
    for o in objects {
        payload.extend_from_slice(&(o.as_ref().len() as u64).to_le_bytes());
        let at = HEADER_LEN + payload.len() + 8;
        let pad = match align {
            true => at.next_multiple_of(PAGE) - at,
            false => 0,
        };
        payload.extend_from_slice(&(pad as u64).to_le_bytes());
        payload.resize(payload.len() + pad, 0);
        payload.extend_from_slice(o.as_ref());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind as u32).to_le_bytes());
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(&payload).as_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Whether `bytes` start like a file of this format (of any version).
pub fn is_ours(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Checks a whole file and returns what it carries. `expected`: the key
/// the caller needs (`None` to accept any, as for a precompiled module
/// whose key the caller recomputes from the wasm inside).
pub fn decode<'a>(
    bytes: &'a [u8],
    kind: Kind,
    expected: Option<&Key>,
) -> Result<Contents<'a>, FormatError> {
    if !is_ours(bytes) {
        return Err(FormatError::NotOurs("wrong magic number".into()));
    }
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::Truncated);
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(FormatError::NotOurs(format!(
            "format version {version}, this wasabi reads {FORMAT_VERSION}"
        )));
    }
    if u32_at(12) != kind as u32 {
        return Err(FormatError::NotOurs(format!(
            "a {} file where a {} was expected",
            kind_name(u32_at(12)),
            kind_name(kind as u32)
        )));
    }
    let key = Key(bytes[16..48].try_into().unwrap());
    if expected.is_some_and(|k| *k != key) {
        return Err(FormatError::Foreign);
    }
    let len = u64::from_le_bytes(bytes[48..56].try_into().unwrap());
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(FormatError::Truncated);
    }
    // Compared in constant time (blake3's `Hash` equality), though no
    // secret is at stake.
    let digest: [u8; 32] = bytes[56..88].try_into().unwrap();
    if blake3::hash(payload) != blake3::Hash::from(digest) {
        return Err(FormatError::Corrupt);
    }
    // The digest matched, so the layout inside was written by `encode`;
    // still, read it without trusting any length.
    let mut r = Reader(payload);
    let wasm_len = r.u64()? as usize;
    let wasm = r.take(wasm_len)?;
    let meta_len = r.u64()? as usize;
    let meta = r.take(meta_len)?;
    let count = r.u32()? as usize;
    let mut objects = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let n = r.u64()? as usize;
        let pad = r.u64()? as usize;
        r.take(pad)?;
        objects.push(r.take(n)?);
    }
    if !r.0.is_empty() {
        return Err(FormatError::Corrupt);
    }
    Ok(Contents {
        key,
        wasm,
        meta,
        objects,
    })
}

fn kind_name(k: u32) -> &'static str {
    match k {
        0 => "cache entry",
        1 => "precompiled module",
        _ => "unknown kind of",
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if n > self.0.len() {
            return Err(FormatError::Corrupt);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

/// A file's bytes, mapped read-only (see [`FileBytes::open`]), and the
/// file (for mapping parts of it again).
struct FileBytes(memmap2::Mmap, std::fs::File);

impl FileBytes {
    /// Maps the file at `path` (read-only, private, every page mapped at
    /// once). Mapping rather than reading: on the virtual machines this
    /// runs on, filling fresh memory costs a page fault per 4 KiB page
    /// (reading a 4.5 MB entry took 4-5 ms; mapping it, 0.1 ms).
    fn open(path: &Path) -> std::io::Result<FileBytes> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the mapping must not change under us. Entries are never
        // written in place (a new one is renamed over the old, and a
        // mapping keeps the old file alive), so the bytes checked are the
        // bytes loaded; an entry truncated in place by someone else while
        // it is mapped would fault, as any program file would.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
        Ok(FileBytes(map, file))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A checked cache entry: the file's bytes, and where its parts are in
/// them (so nothing is copied out).
pub struct Entry {
    bytes: FileBytes,
    meta: Range<usize>,
    objects: Vec<Range<usize>>,
}

impl Entry {
    /// Checks `bytes` as the entry of `key` (see [`decode`]).
    fn check(bytes: FileBytes, key: &Key) -> Result<Entry, FormatError> {
        let base = bytes.bytes().as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let c = decode(bytes.bytes(), Kind::CacheEntry, Some(key))?;
        let meta = range(c.meta);
        let objects = c.objects.iter().map(|o| range(o)).collect();
        Ok(Entry {
            bytes,
            meta,
            objects,
        })
    }

    /// The meta bytes stored with the objects (empty if none were).
    pub fn meta(&self) -> &[u8] {
        &self.bytes.bytes()[self.meta.clone()]
    }

    /// The objects.
    pub fn objects(&self) -> Vec<&[u8]> {
        let bytes = self.bytes.bytes();
        self.objects.iter().map(|r| &bytes[r.clone()]).collect()
    }

    /// Where each object begins in the entry's file.
    pub fn object_offsets(&self) -> Vec<u64> {
        self.objects.iter().map(|r| r.start as u64).collect()
    }

    /// The entry's file, open for reading: the objects are its bytes at
    /// [`Entry::object_offsets`], checked. Entries are never written in
    /// place (a new one is renamed over the old), so what is mapped from
    /// it stays what was checked.
    pub fn file(&self) -> &std::fs::File {
        &self.bytes.1
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("meta_len", &self.meta.len())
            .field("objects", &self.objects.len())
            .finish()
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A checked entry.
    Hit(Entry),
    /// No entry.
    Miss,
    /// An entry was there but refused (and deleted): why.
    Refused(FormatError),
}

/// Counts of what a cache directory holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Number of entries.
    pub entries: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A cache directory.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    /// What this process believes the cache holds (see [`Estimate`]).
    estimate: std::sync::Arc<std::sync::Mutex<Estimate>>,
}

/// What a process believes its cache holds, in bytes: measured by one
/// directory scan (after its first write, and at each eviction) and then
/// grown by its own writes. A write scans the directory only when the
/// estimate passes the limit, so writes cost no scan; other processes'
/// writes are missed until then, so the cache can pass its limit by what
/// they wrote, until a scan sees it (theirs or ours).
///
/// The first scan runs on a thread of its own: a cache of per-function
/// entries holds many files (123,745 after a few hundred benchmark runs:
/// a 0.4-1.2 s scan), and lazy and tiered modes write from the call that
/// needs the code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Estimate {
    /// Nothing written yet.
    #[default]
    Unknown,
    /// The first scan is under way; this process wrote this much since it
    /// started (added to what it finds: a write it also saw counts twice,
    /// which only brings an eviction forward).
    Measuring(u64),
    Known(u64),
}

/// The default size limit: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

impl Cache {
    /// A cache in `dir` (created on first write), evicting the least
    /// recently used entries beyond `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Cache {
        Cache {
            dir: dir.into(),
            max_bytes,
            estimate: Default::default(),
        }
    }

    /// The default location: `$WASABI_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasabi`, else `$HOME/.cache/wasabi`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = var("WASABI_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = var("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("wasabi"));
        }
        var("HOME").map(|h| PathBuf::from(h).join(".cache").join("wasabi"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.{ENTRY_EXT}", key.hex()))
    }

    /// Looks `key` up. A hit also marks the entry as recently used.
    pub fn get(&self, key: &Key) -> Lookup {
        let path = self.entry_path(key);
        let bytes = match FileBytes::open(&path) {
            Ok(b) => b,
            Err(_) => return Lookup::Miss,
        };
        match Entry::check(bytes, key) {
            Ok(entry) => {
                // LRU order is the modification time; failing to update it
                // only makes eviction less exact.
                if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Lookup::Hit(entry)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Lookup::Refused(e)
            }
        }
    }

    /// Stores the objects for `key`, and `meta` with them (atomically),
    /// then evicts if the cache grew past its limit.
    pub fn put<O: AsRef<[u8]>>(
        &self,
        key: &Key,
        meta: &[u8],
        objects: &[O],
    ) -> std::io::Result<()> {
        self.write(key, encode(Kind::CacheEntry, key, &[], meta, objects))
    }

    /// [`Cache::put`], each object beginning at a page boundary of the
    /// entry's file (see [`Entry::file`]): for objects to be mapped from it.
    pub fn put_page_aligned<O: AsRef<[u8]>>(
        &self,
        key: &Key,
        meta: &[u8],
        objects: &[O],
    ) -> std::io::Result<()> {
        let bytes = encode_page_aligned(Kind::CacheEntry, key, &[], meta, objects);
        self.write(key, bytes)
    }

    fn write(&self, key: &Key, bytes: Vec<u8>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            key.hex(),
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        // No fsync: readers see a whole entry or none (the rename), and an
        // entry a crash left short or damaged fails its length or digest
        // check and is recompiled. A flush to disk per write is what lazy
        // and tiered modes would otherwise pay for every function they
        // compile, on the path of the call that needs it.
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            std::fs::rename(&tmp, self.entry_path(key))
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let len = bytes.len() as u64;
        let over = {
            let mut estimate = self.estimate.lock().unwrap_or_else(|e| e.into_inner());
            match *estimate {
                Estimate::Known(t) => {
                    *estimate = Estimate::Known(t + len);
                    t + len > self.max_bytes
                }
                Estimate::Measuring(w) => {
                    *estimate = Estimate::Measuring(w + len);
                    false
                }
                Estimate::Unknown => {
                    // The first write of this process: measure (the scan
                    // sees the entry just written), off this thread.
                    *estimate = Estimate::Measuring(0);
                    let cache = self.clone();
                    let scan = std::thread::Builder::new()
                        .name("wasabi-cache-scan".into())
                        .spawn(move || cache.first_scan());
                    if scan.is_err() {
                        *estimate = Estimate::Unknown;
                    }
                    false
                }
            }
        };
        match over {
            true => self.evict(),
            false => Ok(()),
        }
    }

    /// The first scan of this process (see [`Estimate`]); evicts if the
    /// cache is past its limit.
    fn first_scan(&self) {
        #[cfg(test)]
        let _held = tests::SCAN_GATE.lock().unwrap_or_else(|e| e.into_inner());
        let found = self.stats().bytes;
        let over = {
            let mut estimate = self.estimate.lock().unwrap_or_else(|e| e.into_inner());
            let total = match *estimate {
                Estimate::Measuring(written) => found + written,
                // An eviction measured meanwhile.
                _ => return,
            };
            *estimate = Estimate::Known(total);
            total > self.max_bytes
        };
        if over {
            let _ = self.evict();
        }
    }

    /// Tests: waits until the first scan is done.
    #[cfg(test)]
    fn settle(&self) {
        while matches!(*self.estimate.lock().unwrap(), Estimate::Measuring(_)) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Every entry with its size and last use, oldest first.
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<_> = rd
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == ENTRY_EXT))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((
                    e.path(),
                    m.len(),
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ))
            })
            .collect();
        v.sort_by_key(|e| e.2);
        v
    }

    /// Deletes least recently used entries until the cache is within its
    /// limit.
    pub fn evict(&self) -> std::io::Result<()> {
        let entries = self.entries();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let mut result = Ok(());
        for (path, len, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            if let Err(e) = std::fs::remove_file(&path) {
                // NotFound: another process evicted it first.
                if e.kind() != std::io::ErrorKind::NotFound {
                    result = Err(e);
                    break;
                }
            }
            total -= len;
        }
        *self.estimate.lock().unwrap_or_else(|e| e.into_inner()) = Estimate::Known(total);
        result
    }

    /// How many entries and bytes the cache holds.
    pub fn stats(&self) -> Stats {
        let entries = self.entries();
        Stats {
            entries: entries.len() as u64,
            bytes: entries.iter().map(|e| e.1).sum(),
        }
    }

    /// Deletes every entry (and stale temporaries). Returns what was there.
    pub fn clear(&self) -> std::io::Result<Stats> {
        let before = self.stats();
        for (path, _, _) in self.entries() {
            std::fs::remove_file(path)?;
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wasabi-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn objects() -> Vec<Vec<u8>> {
        vec![b"\x7fELF first".to_vec(), vec![], b"second".repeat(100)]
    }

    #[test]
    fn keys_depend_on_bytes_and_fingerprint() {
        let a = Key::new(b"\0asm\x01\0\0\0", "O1 native");
        assert_eq!(a, Key::new(b"\0asm\x01\0\0\0", "O1 native"));
        assert_ne!(a, Key::new(b"\0asm\x01\0\0\0", "O3 native"));
        assert_ne!(a, Key::new(b"\0asm\x01\0\0\x01", "O1 native"));
        // Length-prefixed parts: moving bytes between them changes the key.
        assert_ne!(Key::new(b"ab", "c"), Key::new(b"b", "ca"));
        assert_eq!(a.hex().len(), 64);
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let key = Key::new(b"wasm", "fp");
        let bytes = encode(Kind::Precompiled, &key, b"wasm", b"meta", &objects());
        let c = decode(&bytes, Kind::Precompiled, Some(&key)).unwrap();
        assert_eq!((c.key, c.wasm, c.meta), (key, &b"wasm"[..], &b"meta"[..]));
        assert_eq!(c.objects, objects());

        let other = Key::new(b"wasm", "other fp");
        assert_eq!(
            decode(&bytes, Kind::Precompiled, Some(&other)),
            Err(FormatError::Foreign)
        );
        assert!(matches!(
            decode(&bytes, Kind::CacheEntry, None),
            Err(FormatError::NotOurs(_))
        ));
        for cut in [0, 7, HEADER_LEN - 1, HEADER_LEN, bytes.len() - 1] {
            assert!(
                decode(&bytes[..cut], Kind::Precompiled, None).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(
            decode(&bytes[..bytes.len() - 1], Kind::Precompiled, None),
            Err(FormatError::Truncated)
        );
        // Flip one bit anywhere in the payload: refused as corrupt.
        for at in [HEADER_LEN, HEADER_LEN + 9, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert_eq!(
                decode(&bad, Kind::Precompiled, None),
                Err(FormatError::Corrupt),
                "bit flipped at {at}"
            );
        }
        let mut old = bytes.clone();
        old[8] = 99;
        assert!(matches!(
            decode(&old, Kind::Precompiled, None),
            Err(FormatError::NotOurs(_))
        ));
    }

    #[test]
    fn put_get_refuse_and_replace() {
        let cache = Cache::new(scratch("basic"), DEFAULT_MAX_BYTES);
        let key = Key::new(b"m", "fp");
        assert!(matches!(cache.get(&key), Lookup::Miss));
        cache.put(&key, b"description", &objects()).unwrap();
        match cache.get(&key) {
            Lookup::Hit(e) => {
                assert_eq!(e.objects(), objects());
                assert_eq!(e.meta(), b"description");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cache.stats().entries, 1);

        // A truncated entry is refused and deleted, then a miss.
        let path = cache.entry_path(&key);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        assert!(matches!(
            cache.get(&key),
            Lookup::Refused(FormatError::Truncated)
        ));
        assert!(!path.exists());
        assert!(matches!(cache.get(&key), Lookup::Miss));

        // So is an empty one (a mapping of nothing).
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(cache.get(&key), Lookup::Refused(_)));
        assert!(!path.exists());

        // An entry renamed to another key's name is foreign.
        let other = Key::new(b"other", "fp");
        std::fs::write(cache.entry_path(&other), &full).unwrap();
        assert!(matches!(
            cache.get(&other),
            Lookup::Refused(FormatError::Foreign)
        ));

        // Corrupt: one flipped bit.
        let mut bad = full.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            cache.get(&key),
            Lookup::Refused(FormatError::Corrupt)
        ));

        // An entry of the previous format (version 1: SHA-256, no meta)
        // is not ours: refused and deleted, so it is recompiled.
        let mut v1 = full.clone();
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &v1).unwrap();
        assert!(matches!(
            cache.get(&key),
            Lookup::Refused(FormatError::NotOurs(_))
        ));
        assert!(!path.exists());

        // An empty file (a crash before any byte was written): refused.
        std::fs::write(&path, b"").unwrap();
        eprintln!("DEBUG {:?}", cache.get(&key));
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            cache.get(&key),
            Lookup::Refused(FormatError::NotOurs(_))
        ));
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(cache.dir());
    }

    /// `put_page_aligned`: every object begins at a page boundary of the
    /// entry's file, which `Entry::file` reads; the padding is checked as
    /// the rest (a damaged byte in it is refused).
    #[test]
    fn page_aligned_entries() {
        use std::os::unix::fs::FileExt;
        let cache = Cache::new(scratch("aligned"), DEFAULT_MAX_BYTES);
        let key = Key::new(b"m", "fp");
        cache.put_page_aligned(&key, b"meta", &objects()).unwrap();
        let Lookup::Hit(e) = cache.get(&key) else {
            panic!("no hit");
        };
        assert_eq!(e.objects(), objects());
        assert_eq!(e.meta(), b"meta");
        for (o, at) in e.objects().iter().zip(e.object_offsets()) {
            assert_eq!(at % PAGE as u64, 0);
            let mut back = vec![0; o.len()];
            e.file().read_exact_at(&mut back, at).unwrap();
            assert_eq!(&back[..], *o);
        }
        let at = e.object_offsets()[0] as usize;
        drop(e);
        let path = cache.entry_path(&key);
        let mut bad = std::fs::read(&path).unwrap();
        bad[at - 1] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            cache.get(&key),
            Lookup::Refused(FormatError::Corrupt)
        ));
        let _ = std::fs::remove_dir_all(cache.dir());
    }

    #[test]
    fn eviction_drops_least_recently_used() {
        let dir = scratch("evict");
        let one = encode(Kind::CacheEntry, &Key::new(b"", ""), &[], &[], &objects()).len() as u64;
        let cache = Cache::new(&dir, one * 2);
        let keys: Vec<Key> = (0..3u8).map(|i| Key::new(&[i], "fp")).collect();
        cache.put(&keys[0], &[], &objects()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(&keys[1], &[], &objects()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Using the oldest makes the second the least recently used.
        assert!(matches!(cache.get(&keys[0]), Lookup::Hit(_)));
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(&keys[2], &[], &objects()).unwrap();
        assert_eq!(cache.stats().entries, 2);
        assert!(matches!(cache.get(&keys[0]), Lookup::Hit(_)));
        assert!(matches!(cache.get(&keys[1]), Lookup::Miss));
        assert!(matches!(cache.get(&keys[2]), Lookup::Hit(_)));
        assert_eq!(cache.clear().unwrap().entries, 2);
        assert_eq!(cache.stats(), Stats::default());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Held by a test, keeps first scans from starting.
    pub(super) static SCAN_GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn the_first_write_does_not_wait_for_the_scan() {
        // Regression: the first write of a process scanned the whole cache
        // directory before returning (0.4-1.2 s for 123,745 entries, on the
        // call that needed the code). With the scan held back, the write
        // returns, counting its bytes for when the scan is done.
        let dir = scratch("first-scan");
        let cache = Cache::new(&dir, DEFAULT_MAX_BYTES);
        let one = encode(Kind::CacheEntry, &Key::new(b"", ""), &[], &[], &objects()).len() as u64;
        let gate = SCAN_GATE.lock().unwrap();
        cache.put(&Key::new(b"a", "fp"), &[], &objects()).unwrap();
        cache.put(&Key::new(b"b", "fp"), &[], &objects()).unwrap();
        assert_eq!(*cache.estimate.lock().unwrap(), Estimate::Measuring(one));
        drop(gate);
        cache.settle();
        // The scan found both entries, and the second write counts again
        // (it may have been seen: an over-estimate only evicts earlier).
        assert_eq!(*cache.estimate.lock().unwrap(), Estimate::Known(3 * one));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn writes_scan_only_past_the_estimated_limit() {
        let dir = scratch("estimate");
        let one = encode(Kind::CacheEntry, &Key::new(b"", ""), &[], &[], &objects()).len() as u64;
        let cache = Cache::new(&dir, one * 3);
        let keys: Vec<Key> = (0..6u8).map(|i| Key::new(&[i], "fp")).collect();
        cache.put(&keys[0], &[], &objects()).unwrap();
        cache.settle();
        for k in &keys[1..3] {
            cache.put(k, &[], &objects()).unwrap();
        }
        assert_eq!(*cache.estimate.lock().unwrap(), Estimate::Known(one * 3));
        // Another process (another `Cache`) writes behind our back: we do
        // not see it until our estimate passes the limit...
        let other = Cache::new(&dir, one * 3);
        other.put(&keys[3], &[], &objects()).unwrap();
        other.settle();
        assert_eq!(cache.stats().entries, 3, "the other process evicted");
        // ...which our next write does: the scan evicts down to the limit.
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(&keys[4], &[], &objects()).unwrap();
        assert_eq!(cache.stats().entries, 3);
        assert_eq!(*cache.estimate.lock().unwrap(), Estimate::Known(one * 3));
        assert!(matches!(cache.get(&keys[4]), Lookup::Hit(_)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_writers_of_one_key_all_succeed() {
        let cache = Cache::new(scratch("race"), DEFAULT_MAX_BYTES);
        let key = Key::new(b"same", "fp");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || cache.put(&key, &[], &objects()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert!(matches!(cache.get(&key), Lookup::Hit(_)));
        assert_eq!(cache.stats().entries, 1);
        let _ = std::fs::remove_dir_all(cache.dir());
    }
}
