//! The untyped store: owner of every instance, memory, table, global and
//! function an embedder can hold a handle to.
//!
//! This is the mechanism under the `wasabi` crate's `Store<T>`: objects are
//! kept in vectors and named by their index, and every index is only
//! meaningful together with the [`StoreId`] of the store that issued it.
//! The safe, typed API (handles that carry the store id and are checked on
//! every use, host data `T`, `Caller`) lives in the `wasabi` crate; this
//! module trusts its caller to pass indices it issued.
//!
//! What must stay true:
//! - Nothing a store owns is freed or moved before the store is dropped:
//!   instances, memories, tables and host globals are boxed, and compiled
//!   code holds raw pointers into them across instances (an imported
//!   function's vmctx, a funcref in a shared table).
//! - While wasm runs, the store is reached only through the raw pointer
//!   published for the activation (see [`StoreOpaque::call_raw`]); host
//!   functions get that pointer, so a re-entrant call never aliases a live
//!   `&mut StoreOpaque`.
//! - Instantiation follows the spec's order: link checks (nothing is created
//!   for a module that cannot link), globals, tables, element segments, data
//!   segments; the start function is run by the caller afterwards.

use crate::code::CompiledModule;
use crate::instance::Instance;
use crate::interrupt::EpochClock;
use crate::memory::LinearMemory;
use crate::module::{ExportKind, GlobalType, ImportKind, MemoryType, SegmentMode, TableType};
use crate::table::Table;
use crate::traps::{self, RawTrap};
use crate::types::{FuncType, SigId, Val};
use crate::vmcontext::*;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An error a host function returns; it becomes a trap of kind `HostError`.
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// Identity of a store, unique for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StoreId(u64);

impl StoreId {
    fn next() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// One wasm frame of a trap's backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The module's name (file stem, or the name it was given).
    pub module: String,
    /// Function index in that module (imports included).
    pub func_index: u32,
    /// `$name` from the name section, else the export name, else `func[i]`.
    pub func_name: String,
}

impl fmt::Display for FrameInfo {
    /// `module::function`, with both names escaped: they come from the
    /// module (file name, name section), and a newline or a terminal escape
    /// in them must not reach the user's screen as such.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}",
            escape_name(&self.module),
            escape_name(&self.func_name)
        )
    }
}

/// `name` with control characters (newlines, escapes, ...) and other
/// unprintable characters written as Rust escapes (`\n`, `\u{1b}`).
pub fn escape_name(name: &str) -> std::borrow::Cow<'_, str> {
    if !name
        .chars()
        .any(|c| c.is_control() || c == '\\' || is_invisible(c))
    {
        return name.into();
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if c.is_control() || c == '\\' || is_invisible(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Format and bidi control characters that would reorder or hide text.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A trap, as the embedder sees it: its kind, where it happened (every wasm
/// frame, innermost first), and for `HostError` the host's error.
pub struct Trap {
    pub code: TrapCode,
    /// Wasm frames, innermost first (empty when nothing is known).
    pub frames: Vec<FrameInfo>,
    /// Frames beyond the deepest one recorded (very deep recursion).
    pub frames_cut: usize,
    /// The host function's error, for `HostError` traps.
    pub host_error: Option<HostError>,
}

impl Trap {
    pub fn new(code: TrapCode) -> Trap {
        Trap {
            code,
            frames: Vec::new(),
            frames_cut: 0,
            host_error: None,
        }
    }

    /// A trap carrying a host error (kind `HostError`).
    pub fn host(e: HostError) -> Trap {
        Trap {
            code: TrapCode::HostError,
            frames: Vec::new(),
            frames_cut: 0,
            host_error: Some(e),
        }
    }

    /// The spec-style message (without location).
    pub fn message(&self) -> String {
        match &self.host_error {
            Some(e) => e.to_string(),
            None => self.code.message().to_string(),
        }
    }

    /// `module::function` of the innermost wasm frame, when known.
    pub fn function(&self) -> Option<String> {
        self.frames.first().map(|f| f.to_string())
    }
}

impl fmt::Display for Trap {
    /// One line (`wasm trap: <kind>, in function <module>::<func>`, or the
    /// host error), then `wasm backtrace:` and one line per frame when the
    /// trap has more than one frame.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host_error, self.frames.first()) {
            (Some(e), _) => write!(f, "{e}")?,
            (None, Some(func)) => {
                write!(f, "wasm trap: {}, in function {func}", self.code.message())?
            }
            (None, None) => write!(f, "wasm trap: {}", self.code.message())?,
        }
        if self.frames.len() > 1 || (self.host_error.is_some() && !self.frames.is_empty()) {
            write!(f, "\nwasm backtrace:")?;
            for (i, frame) in self.frames.iter().enumerate() {
                write!(f, "\n  {i:>3}: {frame}")?;
            }
            if self.frames_cut > 0 {
                write!(f, "\n       ... {} more frames", self.frames_cut)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Trap {}

/// Why instantiation failed.
#[derive(Debug)]
pub enum InstantiationError {
    /// An import has the wrong kind or type. Names module, field and type.
    Link(String),
    /// A segment initialiser or the start function trapped.
    Trap(Trap),
    /// Memory or a table could not be allocated.
    Resource(String),
}

impl fmt::Display for InstantiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstantiationError::Link(m) => write!(f, "link error: {m}"),
            InstantiationError::Trap(t) => write!(f, "{t}"),
            InstantiationError::Resource(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for InstantiationError {}

/// The type-erased body of a host function: given the store (as published
/// for the running activation), the calling instance (`None` when the host
/// calls it directly) and the argument/result slots (one `u128` per value,
/// as many as the larger of params and results), it runs the function and
/// writes the results into the slots.
pub type HostCallFn =
    dyn Fn(*mut StoreOpaque, Option<usize>, *mut u128) -> Result<(), HostError> + Send + Sync;

/// A function implemented by the host.
pub struct HostFunc {
    pub ty: FuncType,
    pub call: Box<HostCallFn>,
}

/// The context of one host function bound into one place (an instance's
/// import slot, or a standalone funcref). `vm` must be first: compiled code
/// sees a pointer to it as the callee vmctx.
#[repr(C)]
struct HostCtx {
    vm: VMHostContext,
    func: Arc<HostFunc>,
    /// The importing instance's index in the store, if any.
    caller: Option<usize>,
    /// The function's index in the store.
    store_func: usize,
}

/// A function the store knows.
enum FuncKind {
    /// Compiled wasm, or a host function bound into an instance: the slot
    /// compiled code calls through, and the entry trampoline of its
    /// signature (found once, so a call from the host does no lookup).
    Wasm {
        funcref: *const VMFuncRef,
        entry: usize,
    },
    /// A host function not (yet) given a funcref of its own.
    Host {
        func: Arc<HostFunc>,
        /// A funcref for passing it as a value, made on first need.
        funcref: Option<Box<VMFuncRef>>,
    },
}

struct FuncEntry {
    ty: FuncType,
    kind: FuncKind,
}

/// A global the store knows: its storage and type.
struct GlobalEntry {
    ptr: *mut VMGlobal,
    ty: GlobalType,
}

/// Tunables of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Bytes of native stack wasm may use before `call stack exhausted`.
    pub max_wasm_stack: usize,
    /// The engine's epoch clock, for a store whose code is compiled with
    /// epoch checks: the store gets a poll page (see [`crate::interrupt`])
    /// and follows this clock. `None`: nothing can interrupt the store.
    pub epoch: Option<Arc<EpochClock>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_wasm_stack: 4 << 20,
            epoch: None,
        }
    }
}

/// Interrupts wasm running in one store, from any thread. See
/// [`StoreOpaque::interrupt_handle`].
#[derive(Clone, Debug)]
pub struct InterruptHandle {
    limits: Arc<VMRuntimeLimits>,
}

impl InterruptHandle {
    /// Makes the wasm call running in the store (or, if none is running,
    /// the next one) trap with [`TrapCode::Interrupted`] at its next
    /// function entry or loop header. Only code compiled with epoch checks
    /// looks; the request stays pending until such code sees it.
    pub fn interrupt(&self) {
        self.limits.request_interrupt();
    }

    /// Withdraws a request that no wasm has seen yet (one made after the
    /// call it was meant for had returned).
    pub fn clear(&self) {
        self.limits.clear_interrupt();
    }
}

/// Owner of instances and everything they share. See the module docs.
#[allow(clippy::vec_box)]
pub struct StoreOpaque {
    id: StoreId,
    /// Shared with [`InterruptHandle`]s; compiled code reads it through
    /// every instance's vmctx, so it never moves.
    limits: Arc<VMRuntimeLimits>,
    config: StoreConfig,
    instances: Vec<Box<Instance>>,
    memories: Vec<Box<LinearMemory>>,
    tables: Vec<Box<Table>>,
    host_globals: Vec<Box<VMGlobal>>,
    globals: Vec<GlobalEntry>,
    funcs: Vec<FuncEntry>,
    /// Store func index of each funcref address already handed out.
    funcref_index: HashMap<usize, usize>,
    /// Boxed: compiled code holds pointers to them.
    host_ctxs: Vec<Box<HostCtx>>,
    entry_trampolines: HashMap<u32, usize>,
    host_trampolines: HashMap<u32, usize>,
}

// SAFETY: every raw pointer a store holds points into memory the store
// itself owns (boxed instances, memories, tables, globals, host contexts)
// or into compiled code kept alive by `Arc<CompiledModule>`s it owns; none
// is tied to a thread. Host functions are `Send + Sync`. Trap state is
// per-thread and only live during a call, which needs `&mut` of the store.
unsafe impl Send for StoreOpaque {}

fn limits_match(actual_min: u64, actual_max: Option<u64>, min: u64, max: Option<u64>) -> bool {
    actual_min >= min
        && match max {
            None => true,
            Some(m) => matches!(actual_max, Some(a) if a <= m),
        }
}

/// One resolved import: a store index of the right kind.
#[derive(Clone, Copy, Debug)]
pub enum RawImport {
    Func(usize),
    Memory(usize),
    Table(usize),
    Global(usize),
}

impl RawImport {
    fn kind_name(&self) -> &'static str {
        match self {
            RawImport::Func(_) => "function",
            RawImport::Memory(_) => "memory",
            RawImport::Table(_) => "table",
            RawImport::Global(_) => "global",
        }
    }
}

/// What an export is, as store indices.
#[derive(Clone, Copy, Debug)]
pub enum RawExport {
    Func(usize),
    Memory(usize),
    Table(usize),
    Global(usize),
}

thread_local! {
    /// The store of the innermost wasm activation on this thread.
    static CURRENT_STORE: Cell<*mut StoreOpaque> = const { Cell::new(std::ptr::null_mut()) };
    static HOST_ERROR: std::cell::RefCell<Option<HostError>> = const { std::cell::RefCell::new(None) };
}

impl StoreOpaque {
    pub fn new(config: StoreConfig) -> StoreOpaque {
        let limits = match &config.epoch {
            // The store keeps the clock (so the counter the limits point
            // at) alive through `config`.
            Some(clock) => clock.new_store_limits(),
            None => Arc::new(VMRuntimeLimits::default()),
        };
        StoreOpaque {
            id: StoreId::next(),
            limits,
            config,
            instances: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            host_globals: Vec::new(),
            globals: Vec::new(),
            funcs: Vec::new(),
            funcref_index: HashMap::new(),
            host_ctxs: Vec::new(),
            entry_trampolines: HashMap::new(),
            host_trampolines: HashMap::new(),
        }
    }

    pub fn id(&self) -> StoreId {
        self.id
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The limits compiled code of this store reads (fuel, epoch
    /// deadline, stack limit) and the size limits builtins enforce.
    pub fn limits(&self) -> &VMRuntimeLimits {
        &self.limits
    }

    /// A handle that interrupts wasm running in this store from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle {
            limits: self.limits.clone(),
        }
    }

    /// The current value of the epoch counter this store's code checks.
    pub fn current_epoch(&self) -> u64 {
        match &self.config.epoch {
            Some(c) => c.now(),
            None => 0,
        }
    }

    // ---- creating objects ----------------------------------------------

    /// A host-owned memory (e.g. to import). Returns its store index.
    pub fn new_memory(&mut self, ty: MemoryType) -> Result<usize, String> {
        let m = Box::new(LinearMemory::new(ty).map_err(|e| e.0)?);
        self.memories.push(m);
        Ok(self.memories.len() - 1)
    }

    /// A host-owned table filled with the raw reference `init`.
    pub fn new_table(&mut self, ty: TableType, init: usize) -> Result<usize, String> {
        let t = Box::new(Table::new(ty, init).ok_or("table too large")?);
        self.tables.push(t);
        Ok(self.tables.len() - 1)
    }

    /// A host-owned global with the raw value `raw`.
    pub fn new_global(&mut self, ty: GlobalType, raw: u128) -> usize {
        let mut g = Box::new(VMGlobal { raw });
        let ptr: *mut VMGlobal = &mut *g;
        self.host_globals.push(g);
        self.globals.push(GlobalEntry { ptr, ty });
        self.globals.len() - 1
    }

    /// A host function, not yet bound anywhere. Returns its store index.
    pub fn new_host_func(&mut self, func: Arc<HostFunc>) -> usize {
        self.funcs.push(FuncEntry {
            ty: func.ty.clone(),
            kind: FuncKind::Host {
                func,
                funcref: None,
            },
        });
        self.funcs.len() - 1
    }

    // ---- looking objects up --------------------------------------------

    pub fn func_type(&self, func: usize) -> &FuncType {
        &self.funcs[func].ty
    }

    pub fn memory(&self, mem: usize) -> &LinearMemory {
        &self.memories[mem]
    }

    pub fn table(&self, table: usize) -> &Table {
        &self.tables[table]
    }

    pub fn table_mut(&mut self, table: usize) -> &mut Table {
        &mut self.tables[table]
    }

    pub fn global_type(&self, g: usize) -> GlobalType {
        self.globals[g].ty
    }

    pub fn global_raw(&self, g: usize) -> u128 {
        // SAFETY: the pointer is to a global this store owns; `&self`
        // excludes wasm running (which needs the store mutably).
        unsafe { (*self.globals[g].ptr).raw }
    }

    pub fn set_global_raw(&mut self, g: usize, raw: u128) {
        // SAFETY: as in `global_raw`, with exclusive access.
        unsafe { (*self.globals[g].ptr).raw = raw }
    }

    pub fn instance(&self, i: usize) -> &Instance {
        &self.instances[i]
    }

    /// The export `name` of instance `i`, as store indices.
    pub fn export(&mut self, i: usize, name: &str) -> Option<RawExport> {
        let inst = &self.instances[i];
        let e = inst.module.info.export(name)?;
        Some(match e.kind {
            ExportKind::Func => {
                let fr = inst.funcref(e.index);
                RawExport::Func(self.intern_funcref(fr as usize))
            }
            ExportKind::Memory => RawExport::Memory(inst.memories[e.index as usize].1),
            ExportKind::Table => RawExport::Table(inst.tables[e.index as usize].1),
            ExportKind::Global => RawExport::Global(inst.globals[e.index as usize].1),
        })
    }

    /// The store index of the function behind funcref address `fr`
    /// (non-null, from a vmctx, a table or a host funcref of this store).
    pub fn intern_funcref(&mut self, fr: usize) -> usize {
        if let Some(&i) = self.funcref_index.get(&fr) {
            return i;
        }
        // SAFETY: `fr` is a funcref owned by this store (callers only pass
        // values read from this store's vmctxs and tables).
        let (vmctx, type_id) = unsafe {
            let r = &*(fr as *const VMFuncRef);
            (r.vmctx, r.type_id)
        };
        // A host function bound into an import slot: the same function.
        // SAFETY: a funcref's vmctx is an instance vmctx or a `HostCtx`;
        // both start with a magic word.
        if unsafe { *(vmctx as *const u64) } == HOSTCTX_MAGIC {
            // SAFETY: checked just above that this is a `HostCtx`.
            let f = unsafe { (*(vmctx as *const HostCtx)).store_func };
            self.funcref_index.insert(fr, f);
            return f;
        }
        let entry = self.entry_trampolines.get(&type_id).copied().unwrap_or(0);
        self.funcs.push(FuncEntry {
            ty: SigId(type_id).func_type(),
            kind: FuncKind::Wasm {
                funcref: fr as *const VMFuncRef,
                entry,
            },
        });
        let i = self.funcs.len() - 1;
        self.funcref_index.insert(fr, i);
        i
    }

    /// The funcref address of store function `func`, to store in a table or
    /// pass as a value. Host functions get one on first need; that needs a
    /// host trampoline for their signature from some module instantiated in
    /// this store.
    pub fn funcref_of(&mut self, func: usize) -> Result<usize, String> {
        let ty = self.funcs[func].ty.clone();
        match &self.funcs[func].kind {
            FuncKind::Wasm { funcref, .. } => Ok(*funcref as usize),
            FuncKind::Host {
                funcref: Some(r), ..
            } => Ok(&**r as *const VMFuncRef as usize),
            FuncKind::Host { func: hf, .. } => {
                let sig = SigId::intern(&ty).0;
                let Some(&tramp) = self.host_trampolines.get(&sig) else {
                    return Err(format!(
                        "a host function of type {ty} cannot be used as a funcref before a \
                         module importing a function of that type is instantiated in this store"
                    ));
                };
                let hf = hf.clone();
                let vmctx = self.host_ctx(hf, None, func);
                let r = Box::new(VMFuncRef {
                    code: (tramp as *mut u8).into(),
                    vmctx,
                    type_id: sig,
                    _pad: 0,
                });
                let addr = &*r as *const VMFuncRef as usize;
                if let FuncKind::Host { funcref, .. } = &mut self.funcs[func].kind {
                    *funcref = Some(r);
                }
                self.funcref_index.insert(addr, func);
                Ok(addr)
            }
        }
    }

    fn host_ctx(
        &mut self,
        func: Arc<HostFunc>,
        caller: Option<usize>,
        store_func: usize,
    ) -> *mut u8 {
        let mut ctx = Box::new(HostCtx {
            vm: VMHostContext {
                magic: HOSTCTX_MAGIC,
                dispatch: host_dispatch,
                raise: host_raise,
                data: std::ptr::null_mut(),
            },
            func,
            caller,
            store_func,
        });
        let p = &mut ctx.vm as *mut VMHostContext as *mut u8;
        self.host_ctxs.push(ctx);
        p
    }

    // ---- instantiation -------------------------------------------------

    /// Checks `imports` against what `module` declares, then creates the
    /// instance: globals, tables, memories, element and data segments.
    /// Returns the instance's store index; the caller runs the start
    /// function (`module.info.start`) through [`StoreOpaque::call_raw`].
    ///
    /// `imports` are store indices issued by this store, one per import in
    /// the module's import order.
    pub fn instantiate(
        &mut self,
        module: &Arc<CompiledModule>,
        imports: &[RawImport],
    ) -> Result<usize, InstantiationError> {
        let info = &module.info;
        if imports.len() != info.imports.len() {
            return Err(InstantiationError::Link(format!(
                "expected {} imports, got {}",
                info.imports.len(),
                imports.len()
            )));
        }
        // Link checks first: nothing is created for a module that cannot link.
        for (imp, ext) in info.imports.iter().zip(imports) {
            let bad = |expected: String| {
                InstantiationError::Link(format!(
                    "incompatible import type for `{}::{}`: expected {expected}, got {}",
                    imp.module,
                    imp.name,
                    ext.kind_name()
                ))
            };
            match (&imp.kind, *ext) {
                (ImportKind::Func(t), RawImport::Func(f)) => {
                    let want = &info.types[*t as usize];
                    let have = &self.funcs[f].ty;
                    if have != want {
                        return Err(bad(format!("{want}, found {have}")));
                    }
                }
                (ImportKind::Memory(t), RawImport::Memory(m)) => {
                    let m = &self.memories[m];
                    if !limits_match(m.pages(), m.declared_type().maximum, t.minimum, t.maximum) {
                        return Err(bad(format!(
                            "memory with limits {}..{:?}",
                            t.minimum, t.maximum
                        )));
                    }
                }
                (ImportKind::Table(t), RawImport::Table(tab)) => {
                    let tt = self.tables[tab].ty();
                    if tt.element != t.element
                        || !limits_match(tt.minimum, tt.maximum, t.minimum, t.maximum)
                    {
                        return Err(bad(format!(
                            "table of {} with limits {}..{:?}",
                            t.element, t.minimum, t.maximum
                        )));
                    }
                }
                (ImportKind::Global(t), RawImport::Global(g)) => {
                    if self.globals[g].ty != *t {
                        return Err(bad(format!(
                            "global of {} (mutable: {})",
                            t.content, t.mutable
                        )));
                    }
                }
                (ImportKind::Func(t), _) => {
                    return Err(bad(format!("function {}", info.types[*t as usize])))
                }
                (ImportKind::Memory(_), _) => return Err(bad("memory".into())),
                (ImportKind::Table(_), _) => return Err(bad("table".into())),
                (ImportKind::Global(_), _) => return Err(bad("global".into())),
            }
        }

        // Size limits set by the embedder, before anything is created.
        let max_bytes = self.limits.max_memory_bytes.load(Ordering::Relaxed);
        for ty in &info.memories[info.num_imported_memories as usize..] {
            if ty.minimum.saturating_mul(WASM_PAGE_SIZE as u64) > max_bytes as u64 {
                return Err(InstantiationError::Resource(format!(
                    "a memory of {} pages ({} bytes) exceeds the store's limit of {max_bytes} bytes",
                    ty.minimum,
                    ty.minimum.saturating_mul(WASM_PAGE_SIZE as u64)
                )));
            }
        }
        let max_elems = self.limits.max_table_elements.load(Ordering::Relaxed);
        for ty in &info.tables[info.num_imported_tables as usize..] {
            if ty.minimum > max_elems {
                return Err(InstantiationError::Resource(format!(
                    "a table of {} elements exceeds the store's limit of {max_elems} elements",
                    ty.minimum
                )));
            }
        }

        let index = self.instances.len();
        let mut inst = Instance::allocate(module, &*self.limits, index);
        let vmctx = inst.vmctx;
        let offsets = inst.offsets.clone();
        for (t, ty) in info.types.iter().enumerate() {
            let id = SigId::intern(ty).0;
            // SAFETY: `type_id(t)` is a u32 slot inside this vmctx.
            unsafe { (vmctx.add(offsets.type_id(t as u32) as usize) as *mut u32).write(id) };
            let entry = module.entry_trampoline(t as u32);
            if entry != 0 {
                self.entry_trampolines.entry(id).or_insert(entry);
            }
            let host = module.host_trampoline(t as u32);
            if host != 0 {
                self.host_trampolines.entry(id).or_insert(host);
            }
        }

        // Imports.
        let mut func_index = 0u32;
        for (imp, ext) in info.imports.iter().zip(imports) {
            match *ext {
                RawImport::Func(f) => {
                    let ImportKind::Func(t) = imp.kind else {
                        unreachable!("checked above")
                    };
                    let type_id = SigId::intern(&info.types[t as usize]).0;
                    let slot = inst.funcref(func_index) as *mut VMFuncRef;
                    let value = self.import_funcref(f, type_id, module.host_trampoline(t), index);
                    // SAFETY: `slot` is this instance's funcref slot for an
                    // imported function index.
                    unsafe { slot.write(value) };
                    // SAFETY: `slot` was just written with a funcref of
                    // this store, in the vmctx `inst` owns.
                    if let Some(link) = unsafe { lazy_import_link(slot) } {
                        inst.import_links.push(link);
                    }
                    func_index += 1;
                }
                RawImport::Memory(m) => inst.memories.push((&*self.memories[m], m)),
                RawImport::Table(t) => inst.tables.push((&mut *self.tables[t], t)),
                RawImport::Global(g) => inst.globals.push((self.globals[g].ptr, g)),
            }
        }
        // Defined functions. (In lazy mode: a thunk until compiled; from here
        // on, compilations are published into this instance.)
        module.attach_instance(vmctx, |k, code| {
            let f = info.num_imported_funcs + k as u32;
            let type_id = SigId::intern(info.func_type(f)).0;
            // SAFETY: the funcref slot of a defined function of this vmctx.
            unsafe {
                (inst.funcref(f) as *mut VMFuncRef).write(VMFuncRef {
                    code: (code as *mut u8).into(),
                    vmctx,
                    type_id,
                    _pad: 0,
                });
            }
        });
        // Tiered mode: the idle background thread compiles ahead of calls.
        module.compile_ahead_in_background();
        // Defined memories.
        for ty in &info.memories[info.num_imported_memories as usize..] {
            let m =
                Box::new(LinearMemory::new(*ty).map_err(|e| InstantiationError::Resource(e.0))?);
            inst.memories.push((&*m, self.memories.len()));
            self.memories.push(m);
        }
        for (i, &(m, _)) in inst.memories.iter().enumerate() {
            // SAFETY: a memory owned by this store; the offsets are pointer
            // slots of this vmctx.
            unsafe {
                let m = &*m;
                inst.write_word(offsets.memory_base(i as u32), m.base() as usize);
                inst.write_word(offsets.memory_definition(i as u32), m.definition() as usize);
            }
        }
        // Defined globals (their initialisers may read imported globals and
        // take function references).
        for (k, init) in info.global_inits.iter().enumerate() {
            let g = info.num_imported_globals as usize + k;
            let (off, _) = offsets.global(g as u32);
            // SAFETY: the inline storage of defined global `g` in this vmctx.
            let ptr = unsafe { vmctx.add(off as usize) as *mut VMGlobal };
            let v = inst.eval_const(init);
            // SAFETY: as above; aligned and inside the vmctx.
            unsafe { (*ptr).raw = v.to_raw() };
            self.globals.push(GlobalEntry {
                ptr,
                ty: info.globals[g],
            });
            inst.globals.push((ptr, self.globals.len() - 1));
        }
        for i in 0..info.num_imported_globals {
            let (off, _) = offsets.global(i);
            // SAFETY: the pointer slot of imported global `i`.
            unsafe { inst.write_word(off, inst.globals[i as usize].0 as usize) };
        }
        // Defined tables.
        for (k, ty) in info.tables[info.num_imported_tables as usize..]
            .iter()
            .enumerate()
        {
            let init = match &info.table_inits[k] {
                Some(e) => inst.eval_const(e).to_raw() as usize,
                None => 0,
            };
            let mut t = Box::new(
                Table::new(*ty, init)
                    .ok_or_else(|| InstantiationError::Resource("table too large".into()))?,
            );
            inst.tables.push((&mut *t, self.tables.len()));
            self.tables.push(t);
        }
        for (i, &(t, _)) in inst.tables.iter().enumerate() {
            // SAFETY: a table owned by this store; a pointer slot of the vmctx.
            unsafe {
                inst.write_word(
                    offsets.table_definition(i as u32),
                    (*t).definition() as usize,
                )
            };
        }
        // Element segments: evaluate all items once.
        inst.elements = info
            .elements
            .iter()
            .map(|seg| {
                seg.items
                    .iter()
                    .map(|e| inst.eval_const(e).to_raw() as usize)
                    .collect()
            })
            .collect();

        // From here on the instance is complete; keep it in the store even if
        // a segment traps, since shared tables may already point into it.
        self.instances.push(inst);
        let inst = &mut self.instances[index];

        for (i, seg) in info.elements.iter().enumerate() {
            match &seg.mode {
                SegmentMode::Active { index: t, offset } => {
                    let Val::I32(off) = inst.eval_const(offset) else {
                        unreachable!("validated offset")
                    };
                    let items = std::mem::take(&mut inst.elements[i]);
                    // SAFETY: no other reference to the table exists while
                    // the store is borrowed mutably here.
                    let table = unsafe { inst.table(*t) };
                    let off = off as u32 as usize;
                    if off
                        .checked_add(items.len())
                        .is_none_or(|end| end > table.len() as usize)
                    {
                        return Err(InstantiationError::Trap(Trap::new(
                            TrapCode::TableOutOfBounds,
                        )));
                    }
                    table.elements_mut()[off..off + items.len()].copy_from_slice(&items);
                }
                SegmentMode::Declared => inst.elements[i].clear(),
                SegmentMode::Passive => {}
            }
        }
        for (i, seg) in info.data.iter().enumerate() {
            if let SegmentMode::Active { index: m, offset } = &seg.mode {
                let Val::I32(off) = inst.eval_const(offset) else {
                    unreachable!("validated offset")
                };
                let mem = inst.memory(*m);
                let off = off as u32 as usize;
                if off
                    .checked_add(seg.bytes.len())
                    .is_none_or(|end| end > mem.byte_len())
                {
                    return Err(InstantiationError::Trap(Trap::new(
                        TrapCode::MemoryOutOfBounds,
                    )));
                }
                // SAFETY: no wasm runs and no other slice of this memory is
                // alive while the store is borrowed mutably.
                unsafe { mem.data_mut()[off..off + seg.bytes.len()].copy_from_slice(&seg.bytes) };
                inst.data_dropped[i] = true;
            }
        }
        Ok(index)
    }

    /// What an import slot of instance `inst` holds for store function `f`
    /// (of type `type_id`): a wasm function's code and vmctx, or for a host
    /// function the importing module's trampoline `host_trampoline` and a
    /// host context naming `inst` as the caller. Instantiation and
    /// [`Self::link_func_import`] both fill slots through this.
    fn import_funcref(
        &mut self,
        f: usize,
        type_id: u32,
        host_trampoline: usize,
        inst: usize,
    ) -> VMFuncRef {
        match &self.funcs[f].kind {
            FuncKind::Wasm { funcref, .. } => {
                // SAFETY: a funcref owned by this store.
                let src = unsafe { &**funcref };
                VMFuncRef {
                    code: src.code.load(Ordering::Acquire).into(),
                    vmctx: src.vmctx,
                    type_id,
                    _pad: 0,
                }
            }
            FuncKind::Host { func, .. } => {
                let func = func.clone();
                VMFuncRef {
                    code: (host_trampoline as *mut u8).into(),
                    vmctx: self.host_ctx(func, Some(inst), f),
                    type_id,
                    _pad: 0,
                }
            }
        }
    }

    /// Points the import slot of imported function `func_index` of
    /// instance `inst` at store function `func`, exactly as instantiation
    /// would have: a wasm function's `code` and `vmctx` are copied, a host
    /// function gets a context whose caller is `inst`. This is how modules
    /// that import each other's functions are linked (created first with
    /// stand-ins in these slots, then pointed at each other before any of
    /// their code runs) and how a split program's placeholder import is
    /// replaced by the function it stood for once that is loaded.
    ///
    /// Why this is sound: it needs `&mut self`, so no wasm reads the slot
    /// while it changes (compiled code loads `code` and `vmctx` from the
    /// slot at each call, so the next call takes the new target); the type
    /// check keeps the slot's `type_id` true, so `call_indirect` checks of
    /// table entries that point at the slot still hold. A host function
    /// that is running when its own slot is replaced (the split-program
    /// case) keeps its context, which the store never frees.
    pub fn link_func_import(
        &mut self,
        inst: usize,
        func_index: u32,
        func: usize,
    ) -> Result<(), String> {
        let instance = &self.instances[inst];
        let info = &instance.module.info;
        if func_index >= info.num_imported_funcs {
            return Err(format!("function {func_index} is not an imported function"));
        }
        let want = info.func_type(func_index);
        let have = &self.funcs[func].ty;
        if have != want {
            return Err(format!(
                "the import has type {want}, the function given has type {have}"
            ));
        }
        let t = info.functions[func_index as usize];
        let type_id = SigId::intern(want).0;
        let slot = instance.funcref(func_index) as *mut VMFuncRef;
        let host_tramp = instance.module.host_trampoline(t);
        let value = self.import_funcref(func, type_id, host_tramp, inst);
        let instance = &mut self.instances[inst];
        unlink_import_slot(instance, slot);
        // SAFETY: `slot` is the funcref slot of an imported function of an
        // instance this store owns (checked above); no wasm runs while
        // `&mut self` is held, so nothing reads it while it is written.
        unsafe { slot.write(value) };
        // SAFETY: just written with a funcref of this store; `instance`
        // owns the slot and detaches the link before freeing it.
        if let Some(link) = unsafe { lazy_import_link(slot) } {
            self.instances[inst].import_links.push(link);
        }
        // The slot now denotes another function: forget what it denoted.
        self.funcref_index.remove(&(slot as usize));
        Ok(())
    }

    // ---- calls ---------------------------------------------------------

    /// Calls store function `func` with arguments in `values` (one raw slot
    /// per parameter); on return the results are in `values`.
    ///
    /// # Safety
    /// - `store` points to a live store and no reference to it is used
    ///   while this runs; it must carry provenance over the whole object
    ///   that embeds the store (host functions cast it to the typed store).
    /// - `func` was issued by this store, and `values` holds at least
    ///   `max(params, results, 1)` slots whose first `params` slots hold
    ///   values of the parameter types (raw funcrefs owned by this store).
    pub unsafe fn call_raw(
        store: *mut StoreOpaque,
        func: usize,
        values: &mut [u128],
    ) -> Result<(), Trap> {
        let (entry, code, vmctx, host) = {
            let s = &*store;
            let f = &s.funcs[func];
            match &f.kind {
                FuncKind::Host { func, .. } => (0, 0, std::ptr::null_mut(), Some(func.clone())),
                FuncKind::Wasm { funcref, entry } => {
                    let fr = &**funcref;
                    let tramp = match *entry {
                        0 => match s.entry_trampolines.get(&fr.type_id) {
                            Some(&t) => t,
                            None => {
                                return Err(Trap::host(
                                    format!("no entry trampoline for signature {}", f.ty).into(),
                                ))
                            }
                        },
                        t => t,
                    };
                    (
                        tramp,
                        fr.code.load(Ordering::Acquire) as usize,
                        fr.vmctx,
                        None,
                    )
                }
            }
        };
        if let Some(h) = host {
            return (h.call)(store, None, values.as_mut_ptr()).map_err(Trap::host);
        }
        let outermost = !traps::in_wasm_call();
        if outermost {
            let limit = traps::compute_stack_limit((*store).config.max_wasm_stack);
            let limits: &VMRuntimeLimits = &(*store).limits;
            limits.enter_with_stack_limit(limit);
        }
        let entry: unsafe extern "C" fn(*mut u8, *mut u8, *mut u128) = std::mem::transmute(entry);
        let prev = CURRENT_STORE.with(|c| c.replace(store));
        let bufp = values.as_mut_ptr();
        let r = traps::catch_traps(|| entry(vmctx, code as *mut u8, bufp));
        CURRENT_STORE.with(|c| c.set(prev));
        r.map_err(|raw| (*store).describe_trap(raw))
    }

    /// Turns a raw trap into a [`Trap`] naming every wasm frame it
    /// happened in, innermost first.
    fn describe_trap(&self, raw: RawTrap) -> Trap {
        let mut trap = Trap::new(raw.code);
        if raw.code == TrapCode::HostError {
            trap.host_error = HOST_ERROR.with(|e| e.borrow_mut().take());
        }
        let frame = |inst: &Instance, f: u32| FrameInfo {
            module: inst.module.name.clone(),
            func_index: f,
            func_name: inst.module.info.func_display_name(f),
        };
        if let (Some(f), true) = (raw.func_index, raw.vmctx != 0) {
            // SAFETY: an explicit trap records the vmctx of the running
            // instance, which this store owns.
            let inst = unsafe { Instance::from_vmctx(raw.vmctx as *mut u8) };
            trap.frames.push(frame(inst, f));
        } else if let (Some(pc), true) = (raw.pc, raw.backtrace.is_empty()) {
            trap.frames.extend(self.frame_at_pc(pc, &frame));
        }
        // Pcs in trampolines (or in another store's code) name no frame.
        for &pc in &raw.backtrace {
            trap.frames.extend(self.frame_at_pc(pc, &frame));
        }
        trap.frames_cut = raw.backtrace_cut;
        trap
    }

    /// The frame whose code contains `pc`, if it is wasm code of this store.
    fn frame_at_pc(
        &self,
        pc: usize,
        frame: &dyn Fn(&Instance, u32) -> FrameInfo,
    ) -> Option<FrameInfo> {
        let mut seen: Vec<*const CompiledModule> = Vec::new();
        for inst in &self.instances {
            let m = Arc::as_ptr(&inst.module);
            if seen.contains(&m) {
                continue;
            }
            seen.push(m);
            if let Some(f) = inst.module.func_at_pc(pc) {
                return Some(frame(inst, f));
            }
        }
        None
    }
}

impl Drop for StoreOpaque {
    fn drop(&mut self) {
        // Instances point into memories, tables and host contexts: drop them
        // first (field order would drop `instances` first too; this says so).
        self.instances.clear();
    }
}

/// Records the error of a `HostError` trap about to be raised on this thread.
pub(crate) fn set_host_error(e: HostError) {
    HOST_ERROR.with(|h| *h.borrow_mut() = Some(e));
}

/// The panic payload of a host function as a message.
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Called by host trampolines with the arguments spilled into `buf`; the
/// host function writes its results back into `buf`. Returns 0, or 1 with
/// a host error pending (the trampoline then calls `raise`).
unsafe extern "C" fn host_dispatch(
    ctx: *mut VMHostContext,
    buf: *mut u128,
    exit_fp: *mut u8,
) -> u32 {
    // A trap in wasm this host function calls continues its backtrace here.
    let _host = traps::enter_host(exit_fp);
    // SAFETY: host trampolines are only ever given a `HostCtx` as vmctx.
    let ctx = unsafe { &*(ctx as *const HostCtx) };
    let store = CURRENT_STORE.with(|c| c.get());
    if store.is_null() {
        set_host_error("host function called outside of a wasm call".into());
        return 1;
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (ctx.func.call)(store, ctx.caller, buf)
    }));
    let err: HostError = match r {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e,
        Err(panic) => format!("host function panicked: {}", panic_message(panic)).into(),
    };
    set_host_error(err);
    1
}

unsafe extern "C" fn host_raise(exit_fp: *mut u8) -> ! {
    // SAFETY: called by a host trampoline, i.e. from wasm under
    // `catch_traps`, with the trampoline's own frame pointer.
    unsafe { traps::raise(RawTrap::new(TrapCode::HostError), exit_fp) }
}

/// Replacing a function everywhere it can be called from (the REPL's
/// redefinition, `wasabi::Session`).
///
/// Every call to a wasm function loads `code` and `vmctx` from a
/// [`VMFuncRef`] slot: the defining instance's own `funcrefs[f]`, the copy
/// an importing instance made of it at instantiation, or (for
/// `call_indirect`, `ref.func` values and host `Func` handles) one of those
/// slots reached through a pointer. Repointing every slot that denotes the
/// old function therefore redirects every caller, including code compiled
/// before the replacement and table entries (which hold slot addresses).
impl StoreOpaque {
    /// Makes every call of store function `old` run store function `new`
    /// instead: each `VMFuncRef` slot of every instance of this store that
    /// denotes `old` gets `new`'s `code` and `vmctx`. Returns how many
    /// slots were rewritten.
    ///
    /// `old` and `new` must be wasm functions of this store with the same
    /// type, and `old` must be defined by the instance its funcref points at
    /// (not itself already forwarded to another function): replace the
    /// most recent definition.
    ///
    /// A slot denotes `old` when its `vmctx` is `old`'s instance and its
    /// `code` is `old`'s current code or the code its instance was created
    /// with (in lazy mode, its thunk: an import copied before the first call
    /// still holds it). Two functions of one instance never share either.
    ///
    /// Why this is sound: it needs `&mut self`, so no wasm runs in this
    /// store while slots change (single-threaded; a call already returned
    /// can hold no slot value). A call in progress on `old` (impossible
    /// here, but true of any slot swap) would keep running the old body,
    /// whose code stays loaded because its module stays owned by the store.
    /// The signature check keeps `type_id` valid, so `call_indirect`'s check
    /// still holds for the new target. In lazy mode, `old`'s thunk becomes
    /// unreachable (no slot holds it any more), so its resolver can never
    /// publish `old`'s code over the replacement.
    pub fn replace_func(&mut self, old: usize, new: usize) -> Result<usize, String> {
        let target = self.replaceable(old)?;
        if self.funcs[old].ty != self.funcs[new].ty {
            return Err(format!(
                "a function of type {} cannot be replaced by one of type {}",
                self.funcs[old].ty, self.funcs[new].ty
            ));
        }
        let FuncKind::Wasm {
            funcref: new_fr, ..
        } = self.funcs[new].kind
        else {
            return Err("a host function cannot replace a wasm function".into());
        };
        // SAFETY: funcrefs of wasm functions of this store point into vmctxs
        // (or host contexts) it owns; no wasm runs while `&mut self` is held.
        let (new_code, new_vmctx) = unsafe {
            let r = &*new_fr;
            (r.code.load(Ordering::Acquire), r.vmctx)
        };
        let ReplaceTarget {
            vmctx: old_vmctx,
            code: old_code,
            initial_code,
            type_id,
        } = target;
        let mut rewritten = 0;
        let mut slots: Vec<(usize, *mut VMFuncRef)> = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            for g in 0..inst.module.info.functions.len() as u32 {
                let s = inst.funcref(g) as *mut VMFuncRef;
                // SAFETY: `g` is a function index of `inst`, so `s` is its
                // funcref slot; nothing else reads or writes it meanwhile
                // (no wasm runs while `&mut self` is held).
                unsafe {
                    let code = (*s).code.load(Ordering::Acquire) as usize;
                    if (*s).vmctx == old_vmctx
                        && (*s).type_id == type_id
                        && (code == old_code || code == initial_code)
                    {
                        (*s).code.store(new_code, Ordering::Release);
                        (*s).vmctx = new_vmctx;
                        rewritten += 1;
                        slots.push((i, s));
                    }
                }
            }
        }
        // A rewritten slot no longer holds `old`: `old`'s module must not
        // publish into it; `new`'s, if it is lazy and `new` not compiled yet,
        // should.
        for (i, s) in slots {
            unlink_import_slot(&mut self.instances[i], s);
            // SAFETY: `s` was just written with `new`'s funcref; instance
            // `i` owns it and detaches the link before freeing it.
            if let Some(link) = unsafe { lazy_import_link(s) } {
                self.instances[i].import_links.push(link);
            }
        }
        Ok(rewritten)
    }

    /// Checks that store function `old` can be replaced (see
    /// [`StoreOpaque::replace_func`]) without changing anything: it is a
    /// wasm function, the newest definition of itself.
    pub fn check_replaceable(&self, old: usize) -> Result<(), String> {
        self.replaceable(old).map(|_| ())
    }

    fn replaceable(&self, old: usize) -> Result<ReplaceTarget, String> {
        let FuncKind::Wasm {
            funcref: old_fr, ..
        } = self.funcs[old].kind
        else {
            return Err("host functions cannot be replaced".into());
        };
        // SAFETY: funcrefs of wasm functions of this store point into vmctxs
        // or host contexts it owns; no wasm runs while it is borrowed.
        let (code, vmctx, type_id) = unsafe {
            let r = &*old_fr;
            (r.code.load(Ordering::Acquire) as usize, r.vmctx, r.type_id)
        };
        // SAFETY: a funcref's vmctx is an instance vmctx or a `HostCtx`,
        // both starting with a magic word.
        if unsafe { *(vmctx as *const u64) } != VMCTX_MAGIC {
            return Err("host functions cannot be replaced".into());
        }
        // SAFETY: checked above that this is a vmctx; its instance is owned
        // by this store.
        let owner = unsafe { Instance::from_vmctx(vmctx) };
        let info = &owner.module.info;
        let Some(f) = (info.num_imported_funcs..info.functions.len() as u32)
            .find(|&f| owner.funcref(f) == old_fr)
        else {
            return Err(
                "only a function's most recent definition can be replaced (this one is an \
                 import, or was replaced already)"
                    .into(),
            );
        };
        Ok(ReplaceTarget {
            vmctx,
            code,
            // What its slot started with: the code, or in lazy mode the thunk.
            initial_code: owner.module.func_code[(f - info.num_imported_funcs) as usize],
            type_id,
        })
    }
}

/// What identifies a function to be replaced: its instance's vmctx, its
/// current code and the code its slot started with, its signature.
struct ReplaceTarget {
    vmctx: *mut u8,
    code: usize,
    initial_code: usize,
    type_id: u32,
}

/// The registration that makes a lazily compiled module publish its code
/// into funcref slot `slot` (see `CompiledModule::attach_import`), when
/// the slot holds one of that module's thunks.
///
/// # Safety
/// `slot` is a funcref slot, just written with a funcref of the store that
/// owns it; the instance owning the slot keeps the returned link in its
/// `import_links` (which detaches it before the slot is freed or repointed).
unsafe fn lazy_import_link(slot: *mut VMFuncRef) -> Option<(Arc<CompiledModule>, usize)> {
    let (vmctx, code) = ((*slot).vmctx, (*slot).code.load(Ordering::Acquire) as usize);
    // A funcref's vmctx is an instance vmctx or a `HostCtx`, both starting
    // with a magic word.
    if *(vmctx as *const u64) != VMCTX_MAGIC {
        return None;
    }
    // Only the module is read (through a shared reference that ends here),
    // even when the slot belongs to the defining instance itself.
    let module = (*Instance::ptr_from_vmctx(vmctx)).module.clone();
    module
        .attach_import(slot as usize, code)
        .then_some((module, slot as usize))
}

/// Detaches funcref slot `slot` of `inst` from the lazily compiled module
/// it was registered with, if any.
fn unlink_import_slot(inst: &mut Instance, slot: *mut VMFuncRef) {
    inst.import_links.retain(|(module, s)| {
        let keep = *s != slot as usize;
        if !keep {
            module.detach_import(*s);
        }
        keep
    });
}
