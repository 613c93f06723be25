//! The compiled-code contract: the layout of the `vmctx` every wasm function
//! receives as its first parameter, the structures it points at, the builtin
//! helper table, and the symbol names compiled objects export.
//!
//! This is the one place that defines these layouts. Every offset and size
//! below is derived from a `#[repr(C)]` struct with `offset_of!`/`size_of`
//! (never typed in), and the builtin list exists once, in the `builtins!`
//! invocation: it generates [`BuiltinIndex`], its signatures and the
//! [`BuiltinTable`] the runtime fills, so a builtin missing from the runtime,
//! or implemented with another signature, does not compile. The compiler
//! reads offsets from [`VMOffsets`] and the constants here; the runtime writes
//! the same structures. Change a layout here and both sides follow.
//!
//! ```text
//! vmctx (16-byte aligned, one allocation per instance)
//!   header: VMContextHeader
//!   +0   magic: u64                     VMCTX_MAGIC, for sanity checks
//!   +8   builtins: *const BuiltinTable  helper functions (see BuiltinIndex)
//!   +16  limits: *const VMRuntimeLimits per store: stack limit, fuel,
//!                                       poll byte
//!   +24  instance: *mut Instance        back pointer for builtins
//!   +32  type_ids: [u32; ntypes]        canonical SigId of each type index
//!   ...  memories: [VMMemoryImport; nmemories]   {base, *def}
//!   ...  tables: [*mut VMTableDefinition; ntables]
//!   ...  imported globals: [*mut VMGlobal; nimported]
//!   ...  defined globals: [VMGlobal; ndefined]    16 bytes each, inline
//!   ...  funcrefs: [VMFuncRef; nfuncs]             one per function index
//!   ...  call_counts: [u32; ndefinedfuncs]         tiered mode: entries and
//!                                                  loop iterations of each
//!                                                  defined function's
//!                                                  baseline code
//!
//! VMRuntimeLimits (one per store; vmctx.limits of all its instances)
//!   +0   stack_limit: AtomicUsize       entries of functions that make calls
//!                                       call StackLimitHit when sp is below
//!                                       (usize::MAX while the store must stop)
//!   +8   fuel: AtomicI64                fuel left (out below 0)
//!   +16  poll: *const u8                epoch checks load a byte from here;
//!                                       it faults when the store must stop
//!   ...  runtime-only words (deadline, epoch counter, interrupt flag, size
//!        limits, the poll page)
//! ```
//!
//! Calling convention of every compiled wasm function:
//! `extern "C" fn(callee_vmctx: *mut u8, params...) -> results`, where a
//! multi-value result is an LLVM struct return (LLVM demotes it to a hidden
//! pointer; caller and callee are both compiled by us, so they agree). Calls
//! from the host go through per-signature *entry trampolines*
//! `fn(callee_vmctx, code, values: *mut VMVal)`; calls to host functions go
//! through per-signature *host trampolines* with the wasm signature, whose
//! vmctx is a [`VMHostContext`].
//!
//! Every compiled function and trampoline keeps a frame pointer, so each
//! frame holds the record `[fp] = caller's fp, [fp + 8] = return address`
//! ([`FrameRecord`]); `crate::traps` walks these records for backtraces.

use crate::module::ModuleInfo;
use core::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize};

/// First word of every instance vmctx.
pub const VMCTX_MAGIC: u64 = 0x5741_5341_4249_4354; // "WASABICT"
/// First word of every host-function context.
pub const HOSTCTX_MAGIC: u64 = 0x5741_5341_4249_484f; // "WASABIHO"

/// Size in bytes of a WebAssembly page.
pub const WASM_PAGE_SIZE: usize = 65536;
/// log2 of [`WASM_PAGE_SIZE`]: `bytes >> WASM_PAGE_SHIFT` is a page count.
pub const WASM_PAGE_SHIFT: u32 = WASM_PAGE_SIZE.trailing_zeros();
const _: () = assert!(1 << WASM_PAGE_SHIFT == WASM_PAGE_SIZE);
/// The largest number of pages a 32-bit memory may have.
pub const WASM32_MAX_PAGES: u64 = 65536;

/// One value as the host passes it to and from compiled code: the entry
/// trampolines' argument/result array and the host trampolines' spill array
/// are `[VMVal; n]`, a value in the low bytes (little endian), narrow values
/// zero-extended.
pub type VMVal = u128;
/// Size of one [`VMVal`] slot.
pub const VM_VAL_SIZE: u32 = size_of::<VMVal>() as u32;
/// Alignment of a [`VMVal`] array (the host reads the slots as `u128`).
pub const VM_VAL_ALIGN: u32 = align_of::<VMVal>() as u32;
const _: () = assert!(VM_VAL_SIZE == 16, "a slot holds a v128");

/// The frame record every compiled function and trampoline pushes (they are
/// all compiled with frame pointers): the frame pointer points at it.
#[repr(C)]
pub struct FrameRecord {
    /// The caller's frame pointer.
    pub caller_fp: *const FrameRecord,
    /// Where this frame returns to, in its caller.
    pub return_address: usize,
}

/// A function reference, as stored in `vmctx.funcrefs[i]`, pointed to by
/// table elements and `ref.func` values. Calls load `code` and `vmctx` from
/// here, so replacing `code` (lazy compilation) redirects every caller.
#[repr(C)]
#[derive(Debug)]
pub struct VMFuncRef {
    /// Native code with the wasm calling convention.
    pub code: AtomicPtr<u8>,
    /// The vmctx to pass as first argument (an instance's or a host context).
    pub vmctx: *mut u8,
    /// Canonical signature id ([`crate::types::SigId`]).
    pub type_id: u32,
    pub _pad: u32,
}

impl VMFuncRef {
    pub const OFFSET_CODE: u32 = offset_of!(VMFuncRef, code) as u32;
    pub const OFFSET_VMCTX: u32 = offset_of!(VMFuncRef, vmctx) as u32;
    pub const OFFSET_TYPE_ID: u32 = offset_of!(VMFuncRef, type_id) as u32;
    /// Stride of `vmctx.funcrefs`.
    pub const SIZE: u32 = size_of::<VMFuncRef>() as u32;
}

/// A memory's current state, owned by the memory; importers point at it.
#[repr(C)]
#[derive(Debug)]
pub struct VMMemoryDefinition {
    /// Start of the reservation; never moves.
    pub base: *mut u8,
    /// Current length in bytes (a multiple of the page size).
    pub length: AtomicUsize,
}

impl VMMemoryDefinition {
    pub const OFFSET_BASE: u32 = offset_of!(VMMemoryDefinition, base) as u32;
    pub const OFFSET_LENGTH: u32 = offset_of!(VMMemoryDefinition, length) as u32;
}
// Compiled code loads the length as an i64.
const _: () = assert!(size_of::<AtomicUsize>() == 8);

/// Per-memory slot in the vmctx: the base (cached, as it never moves) and a
/// pointer to the definition (for the current length).
#[repr(C)]
pub struct VMMemoryImport {
    pub base: *mut u8,
    pub definition: *mut VMMemoryDefinition,
}

/// What a table element holds: funcref elements are `*const VMFuncRef`,
/// externref elements the raw `value + 1` encoding; 0 is null for both.
pub type VMTableElement = usize;
/// Size of one table element.
pub const VM_TABLE_ELEMENT_SIZE: u32 = size_of::<VMTableElement>() as u32;
/// Size of a funcref value (`*const VMFuncRef`, null for `ref.null func`).
pub const VM_FUNCREF_VALUE_SIZE: u32 = size_of::<*const VMFuncRef>() as u32;
// A funcref value is stored in a table element unchanged.
const _: () = assert!(VM_FUNCREF_VALUE_SIZE == VM_TABLE_ELEMENT_SIZE);

/// A table's current state.
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    pub base: *mut VMTableElement,
    pub length: u32,
    pub _pad: u32,
}

impl VMTableDefinition {
    pub const OFFSET_BASE: u32 = offset_of!(VMTableDefinition, base) as u32;
    pub const OFFSET_LENGTH: u32 = offset_of!(VMTableDefinition, length) as u32;
}

/// Storage of one global: 16 bytes, value in the low bytes (little endian).
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub struct VMGlobal {
    pub raw: u128,
}

/// Per-store limits shared by all its instances.
///
/// The first three words are read by compiled code (see the layout diagram
/// at the top of this file); the rest only by the runtime. How interruption
/// works, and the methods that change these fields, are in
/// `crate::interrupt`.
#[repr(C)]
#[derive(Debug)]
pub struct VMRuntimeLimits {
    /// The entry of every compiled function that calls others compares the
    /// stack pointer with this and, when it is below, calls the
    /// `StackLimitHit` builtin. It is `stack_limit_real` (the stack ends
    /// there) or, while a store whose code polls should stop, `usize::MAX`:
    /// so the stack check doubles as the entry's epoch check at no cost
    /// (see `crate::interrupt`).
    pub stack_limit: AtomicUsize,
    /// Fuel left. Code compiled with fuel metering subtracts one unit per
    /// operator and traps with [`TrapCode::OutOfFuel`] at a function entry
    /// or loop header when this is below zero. Compiled code keeps it in a
    /// register and writes it back before calls, returns and traps.
    pub fuel: AtomicI64,
    /// Code compiled with epoch checks loads a byte from here at every loop
    /// header (function entries check through `stack_limit`). It is on
    /// the store's poll page, which the host makes unreadable to stop the
    /// store; a store without one points at [`NEVER_POLLED`].
    pub poll: *const u8,
    /// Where the native stack wasm may use ends (set on entry into wasm).
    pub stack_limit_real: AtomicUsize,
    /// The store stops once the engine's epoch reaches this.
    pub epoch_deadline: AtomicU64,
    /// The engine-wide epoch counter, which outlives every store. Never
    /// null: a store without an engine clock points at [`NO_EPOCH`].
    pub epoch_counter: *const AtomicU64,
    /// Set by an interrupt request, cleared when the trap is raised.
    pub interrupt_requested: AtomicBool,
    /// The largest size in bytes any one memory of the store may have
    /// (`memory.grow` beyond it fails; a module needing more at
    /// instantiation is refused).
    pub max_memory_bytes: AtomicUsize,
    /// The largest number of elements any one table of the store may have.
    pub max_table_elements: AtomicU64,
    /// The page `poll` points into, for stores whose code polls.
    pub(crate) poll_page: Option<crate::interrupt::PollPage>,
}

/// The epoch counter of stores that have none: always 0, so with the
/// default deadline (`u64::MAX`) it is never reached.
pub static NO_EPOCH: AtomicU64 = AtomicU64::new(0);

/// What `poll` points at in stores without a poll page: always readable.
pub static NEVER_POLLED: u8 = 0;

impl Default for VMRuntimeLimits {
    fn default() -> Self {
        VMRuntimeLimits {
            stack_limit: AtomicUsize::new(0),
            stack_limit_real: AtomicUsize::new(0),
            fuel: AtomicI64::new(0),
            poll: &NEVER_POLLED,
            epoch_deadline: AtomicU64::new(u64::MAX),
            epoch_counter: &NO_EPOCH,
            interrupt_requested: AtomicBool::new(false),
            max_memory_bytes: AtomicUsize::new(usize::MAX),
            max_table_elements: AtomicU64::new(u64::MAX),
            poll_page: None,
        }
    }
}

// SAFETY: every field but `poll` and `epoch_counter` is atomic or `Sync`;
// those two are only ever read through (`poll` by compiled code, one byte
// nobody writes; `epoch_counter` as an `AtomicU64`) and point at memory
// that outlives every store using it (statics, the poll-page region, which
// is never unmapped, or an engine's clock the store keeps alive), so
// sharing or sending the limits across threads cannot create a data race.
unsafe impl Send for VMRuntimeLimits {}
// SAFETY: as for `Send` above.
unsafe impl Sync for VMRuntimeLimits {}

impl VMRuntimeLimits {
    pub const OFFSET_STACK_LIMIT: u32 = offset_of!(VMRuntimeLimits, stack_limit) as u32;
    pub const OFFSET_FUEL: u32 = offset_of!(VMRuntimeLimits, fuel) as u32;
    pub const OFFSET_POLL: u32 = offset_of!(VMRuntimeLimits, poll) as u32;
}
// The layout diagram at the top of this file.
const _: () = assert!(
    VMRuntimeLimits::OFFSET_STACK_LIMIT == 0
        && VMRuntimeLimits::OFFSET_FUEL == 8
        && VMRuntimeLimits::OFFSET_POLL == 16
);

/// How a host trampoline reaches the runtime: `dispatch(ctx, values,
/// exit_fp)` with the arguments spilled into `values` (results are written
/// back there) and the trampoline's own frame pointer, where a backtrace
/// leaves wasm; it returns 0, or non-zero with a trap pending.
pub type VMHostDispatch = unsafe extern "C" fn(*mut VMHostContext, *mut VMVal, *mut u8) -> u32;
/// How a host trampoline raises the pending trap: `raise(exit_fp)`, with
/// the same frame pointer it gave `dispatch`. Never returns.
pub type VMHostRaise = unsafe extern "C" fn(*mut u8) -> !;

/// The vmctx of a host function. The host trampoline of the function's
/// signature spills the arguments into a [`VMVal`] array and calls
/// `dispatch`; a non-zero status means a trap is pending, and the
/// trampoline then calls `raise` (which does not return).
#[repr(C)]
pub struct VMHostContext {
    pub magic: u64,
    pub dispatch: VMHostDispatch,
    pub raise: VMHostRaise,
    /// Runtime-private data (the host function and its caller instance).
    pub data: *mut u8,
}

impl VMHostContext {
    pub const OFFSET_DISPATCH: u32 = offset_of!(VMHostContext, dispatch) as u32;
    pub const OFFSET_RAISE: u32 = offset_of!(VMHostContext, raise) as u32;
}

/// The fixed header at the start of every instance vmctx.
#[repr(C)]
pub struct VMContextHeader {
    /// [`VMCTX_MAGIC`].
    pub magic: u64,
    pub builtins: *const BuiltinTable,
    pub limits: *const VMRuntimeLimits,
    /// The `crate::instance::Instance` this vmctx belongs to.
    pub instance: *mut u8,
}

/// Fixed header offsets of the vmctx.
pub const VMCTX_OFFSET_MAGIC: u32 = offset_of!(VMContextHeader, magic) as u32;
pub const VMCTX_OFFSET_BUILTINS: u32 = offset_of!(VMContextHeader, builtins) as u32;
pub const VMCTX_OFFSET_LIMITS: u32 = offset_of!(VMContextHeader, limits) as u32;
pub const VMCTX_OFFSET_INSTANCE: u32 = offset_of!(VMContextHeader, instance) as u32;
const VMCTX_HEADER_SIZE: u32 = size_of::<VMContextHeader>() as u32;
// The layout diagram at the top of this file.
const _: () = assert!(
    VMCTX_OFFSET_BUILTINS == 8
        && VMCTX_OFFSET_LIMITS == 16
        && VMCTX_OFFSET_INSTANCE == 24
        && VMCTX_HEADER_SIZE == 32
);
// The magic is the first word: a vmctx and a host context are told apart by
// it, and the runtime checks it through a plain `*const u64`.
const _: () = assert!(VMCTX_OFFSET_MAGIC == 0 && offset_of!(VMHostContext, magic) == 0);

// Element sizes and alignments of the variable parts of the vmctx.
const TYPE_ID_SIZE: u32 = size_of::<u32>() as u32;
const MEMORY_SIZE: u32 = size_of::<VMMemoryImport>() as u32;
const TABLE_SIZE: u32 = size_of::<*mut VMTableDefinition>() as u32;
const IMPORTED_GLOBAL_SIZE: u32 = size_of::<*mut VMGlobal>() as u32;
const GLOBAL_SIZE: u32 = size_of::<VMGlobal>() as u32;
const CALL_COUNT_SIZE: u32 = size_of::<u32>() as u32;
const VMCTX_ALIGN: u32 = 16;
const _: () = assert!(GLOBAL_SIZE == 16 && align_of::<VMGlobal>() as u32 <= VMCTX_ALIGN);
const _: () = assert!(align_of::<VMFuncRef>() <= align_of::<VMGlobal>());

/// Offsets of the variable parts of one module's vmctx.
#[derive(Clone, Debug)]
pub struct VMOffsets {
    pub num_types: u32,
    pub num_memories: u32,
    pub num_tables: u32,
    pub num_imported_globals: u32,
    pub num_defined_globals: u32,
    pub num_imported_funcs: u32,
    pub num_funcs: u32,
    type_ids: u32,
    memories: u32,
    tables: u32,
    imported_globals: u32,
    defined_globals: u32,
    funcrefs: u32,
    call_counts: u32,
    size: u32,
}

fn align(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

impl VMOffsets {
    pub fn new(m: &ModuleInfo) -> VMOffsets {
        let num_types = m.types.len() as u32;
        let num_memories = m.memories.len() as u32;
        let num_tables = m.tables.len() as u32;
        let num_imported_globals = m.num_imported_globals;
        let num_defined_globals = m.globals.len() as u32 - m.num_imported_globals;
        let num_imported_funcs = m.num_imported_funcs;
        let num_funcs = m.functions.len() as u32;
        let type_ids = VMCTX_HEADER_SIZE;
        let memories = align(
            type_ids + TYPE_ID_SIZE * num_types,
            align_of::<VMMemoryImport>() as u32,
        );
        let tables = memories + MEMORY_SIZE * num_memories;
        let imported_globals = tables + TABLE_SIZE * num_tables;
        let defined_globals = align(
            imported_globals + IMPORTED_GLOBAL_SIZE * num_imported_globals,
            align_of::<VMGlobal>() as u32,
        );
        let funcrefs = defined_globals + GLOBAL_SIZE * num_defined_globals;
        let call_counts = funcrefs + VMFuncRef::SIZE * num_funcs;
        let size = align(
            call_counts + CALL_COUNT_SIZE * (num_funcs - num_imported_funcs),
            VMCTX_ALIGN,
        );
        VMOffsets {
            num_types,
            num_memories,
            num_tables,
            num_imported_globals,
            num_defined_globals,
            num_imported_funcs,
            num_funcs,
            type_ids,
            memories,
            tables,
            imported_globals,
            defined_globals,
            funcrefs,
            call_counts,
            size,
        }
    }

    /// Total size of the vmctx in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }
    /// Alignment the vmctx allocation must have.
    pub fn align(&self) -> u32 {
        VMCTX_ALIGN
    }
    /// `u32` canonical signature id of type index `t`.
    pub fn type_id(&self, t: u32) -> u32 {
        self.type_ids + TYPE_ID_SIZE * t
    }
    /// `*mut u8` base of memory `m` (never changes after instantiation).
    pub fn memory_base(&self, m: u32) -> u32 {
        self.memories + MEMORY_SIZE * m + offset_of!(VMMemoryImport, base) as u32
    }
    /// `*mut VMMemoryDefinition` of memory `m`.
    pub fn memory_definition(&self, m: u32) -> u32 {
        self.memories + MEMORY_SIZE * m + offset_of!(VMMemoryImport, definition) as u32
    }
    /// `*mut VMTableDefinition` of table `t`.
    pub fn table_definition(&self, t: u32) -> u32 {
        self.tables + TABLE_SIZE * t
    }
    /// For an imported global: the offset of the `*mut VMGlobal` slot.
    /// For a defined one: the offset of the inline `VMGlobal`.
    pub fn global(&self, g: u32) -> (u32, bool) {
        if g < self.num_imported_globals {
            (self.imported_globals + IMPORTED_GLOBAL_SIZE * g, true)
        } else {
            (
                self.defined_globals + GLOBAL_SIZE * (g - self.num_imported_globals),
                false,
            )
        }
    }
    /// The `VMFuncRef` of function index `f`.
    pub fn funcref(&self, f: u32) -> u32 {
        self.funcrefs + VMFuncRef::SIZE * f
    }
    /// The `u32` call counter of defined function `f` (a function index,
    /// imports included in the numbering; `f` must not be an import).
    /// Reserved for tiering: zero, and not yet written by compiled code.
    pub fn call_count(&self, f: u32) -> u32 {
        assert!(
            (self.num_imported_funcs..self.num_funcs).contains(&f),
            "function {f} is not a defined function"
        );
        self.call_counts + CALL_COUNT_SIZE * (f - self.num_imported_funcs)
    }
}

/// Trap codes shared by compiled code (explicit trap calls) and the runtime.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum TrapCode {
    Unreachable = 1,
    MemoryOutOfBounds = 2,
    TableOutOfBounds = 3,
    /// `call_indirect` index past the end of the table.
    UndefinedElement = 4,
    /// `call_indirect` to a null entry.
    UninitializedElement = 5,
    BadSignature = 6,
    IntegerOverflow = 7,
    IntegerDivisionByZero = 8,
    BadConversionToInteger = 9,
    StackOverflow = 10,
    /// A host function failed; the error is held by the runtime.
    HostError = 11,
    /// Fuel metering is on and the store's fuel ran out.
    OutOfFuel = 12,
    /// Epoch interruption is on and the store's epoch deadline was reached
    /// (compiled code raises this code for any epoch check that fails).
    DeadlineExceeded = 13,
    /// An [`InterruptHandle`]-style request: the epoch check failed because
    /// the host asked to interrupt (the `Trap` builtin turns
    /// [`TrapCode::DeadlineExceeded`] into this when
    /// [`VMRuntimeLimits::interrupt_requested`] was set).
    ///
    /// [`InterruptHandle`]: crate::store::InterruptHandle
    Interrupted = 14,
}

impl TrapCode {
    pub fn from_u32(c: u32) -> Option<TrapCode> {
        use TrapCode::*;
        Some(match c {
            1 => Unreachable,
            2 => MemoryOutOfBounds,
            3 => TableOutOfBounds,
            4 => UndefinedElement,
            5 => UninitializedElement,
            6 => BadSignature,
            7 => IntegerOverflow,
            8 => IntegerDivisionByZero,
            9 => BadConversionToInteger,
            10 => StackOverflow,
            11 => HostError,
            12 => OutOfFuel,
            13 => DeadlineExceeded,
            14 => Interrupted,
            _ => return None,
        })
    }

    /// The message the spec testsuite uses for this trap.
    pub fn message(self) -> &'static str {
        use TrapCode::*;
        match self {
            Unreachable => "unreachable",
            MemoryOutOfBounds => "out of bounds memory access",
            TableOutOfBounds => "out of bounds table access",
            UndefinedElement => "undefined element",
            UninitializedElement => "uninitialized element",
            BadSignature => "indirect call type mismatch",
            IntegerOverflow => "integer overflow",
            IntegerDivisionByZero => "integer divide by zero",
            BadConversionToInteger => "invalid conversion to integer",
            StackOverflow => "call stack exhausted",
            HostError => "host error",
            OutOfFuel => "interrupted: out of fuel",
            DeadlineExceeded => "interrupted: deadline exceeded",
            Interrupted => "interrupted",
        }
    }
}

/// Machine-level types used to describe builtin signatures to the compiler.
/// In Rust (the runtime's side) they are `u32`, `u64` and `*mut u8`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AbiType {
    I32,
    I64,
    Ptr,
}

/// The Rust type of an [`AbiType`] in a builtin's signature.
macro_rules! builtin_abi_rust_type {
    (I32) => { u32 };
    (I64) => { u64 };
    (Ptr) => { *mut u8 };
}

/// The `fn` pointer type of a builtin: `(params) -> result`, `!` for a
/// builtin that never returns, nothing for one returning nothing.
macro_rules! builtin_fn_type {
    (($($p:ident),*)) => {
        unsafe extern "C" fn($(builtin_abi_rust_type!($p)),*)
    };
    (($($p:ident),*) !) => {
        unsafe extern "C" fn($(builtin_abi_rust_type!($p)),*) -> !
    };
    (($($p:ident),*) $r:ident) => {
        unsafe extern "C" fn($(builtin_abi_rust_type!($p)),*) -> builtin_abi_rust_type!($r)
    };
}

/// The result as the compiler sees it: `None` for none, or never returning.
macro_rules! builtin_abi_result {
    () => {
        None
    };
    (!) => {
        None
    };
    ($r:ident) => {
        Some(AbiType::$r)
    };
}

/// Generates, from one line per builtin, everything that must agree about
/// it: the [`BuiltinIndex`] variant, `COUNT`, `signature()`, `noreturn()`,
/// and the field of the `#[repr(C)]` [`BuiltinTable`] (a typed function
/// pointer) that the runtime fills.
macro_rules! builtins {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $field:ident($($p:ident),*) $(-> $r:tt)?;
    )*) => {
        /// Index of each helper in the builtin table `vmctx.builtins`.
        /// Helpers that can fail return a trap code (0 = success) and
        /// compiled code raises it.
        #[repr(u32)]
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum BuiltinIndex {
            $($(#[$doc])* $variant,)*
        }

        /// The builtin table `vmctx.builtins` points at, one typed function
        /// pointer per [`BuiltinIndex`], in that order. The runtime defines
        /// the one instance (`crate::builtins::BUILTINS`).
        #[repr(C)]
        pub struct BuiltinTable {
            $($(#[$doc])* pub $field: builtin_fn_type!(($($p),*) $($r)?),)*
        }

        impl BuiltinIndex {
            /// Every builtin, in table order.
            pub const ALL: &'static [BuiltinIndex] = &[$(BuiltinIndex::$variant),*];
            pub const COUNT: usize = Self::ALL.len();

            /// `(params, result)` of the helper; a `None` result means void
            /// (or never returns, see [`Self::noreturn`]).
            pub fn signature(self) -> (&'static [AbiType], Option<AbiType>) {
                match self {
                    $(BuiltinIndex::$variant => (
                        &[$(AbiType::$p),*],
                        builtin_abi_result!($($r)?),
                    ),)*
                }
            }

            /// Whether the helper never returns.
            pub fn noreturn(self) -> bool {
                match self {
                    $(BuiltinIndex::$variant => stringify!($($r)?) == "!",)*
                }
            }

            /// Offset of the helper's pointer in the [`BuiltinTable`].
            pub const fn offset(self) -> u32 {
                match self {
                    $(BuiltinIndex::$variant => offset_of!(BuiltinTable, $field) as u32,)*
                }
            }
        }
    };
}

builtins! {
    /// `(vmctx, code, func_index, fp)`: raises trap `code` in function
    /// `func_index` of the instance of `vmctx`; `fp` is that function's
    /// frame pointer (`llvm.frameaddress(0)`), where the backtrace of its
    /// callers starts.
    Trap => trap(Ptr, I32, I32, Ptr) -> !;
    /// `(vmctx, func_index, fp, sp)`: the entry stack check of function
    /// `func_index` failed (`sp` below `VMRuntimeLimits::stack_limit`):
    /// raises `StackOverflow`, or the interruption the store is stopped
    /// for, or returns when neither holds any more.
    StackLimitHit => stack_limit_hit(Ptr, I32, Ptr, Ptr);
    /// `(vmctx, func_index)`: a call of the baseline code of `func_index`
    /// found it hot; asks for its optimised code (tiered mode) and returns.
    TierUp => tier_up(Ptr, I32);
    /// `(vmctx, func_index, loop)`: the baseline code of `func_index` has
    /// run long in its OSR loop `loop` (packed with the loop whose entry it
    /// asks for, itself or an enclosing one, by `lazy::osr_loop_arg`);
    /// asks for that on-stack-replacement entry (not for the whole
    /// function: its next call asks): the entry's code once it is ready,
    /// `lazy::OSR_TARGET_READY` when an enclosing target's is, else null.
    TierUpLoop => tier_up_loop(Ptr, I32, I32) -> Ptr;
    /// `(vmctx, mem, delta_pages)`: the old size in pages, or -1.
    MemoryGrow => memory_grow(Ptr, I32, I32) -> I32;
    /// `(vmctx, mem, dst, val, len)`: a trap code.
    MemoryFill => memory_fill(Ptr, I32, I32, I32, I32) -> I32;
    /// `(vmctx, dst_mem, src_mem, dst, src, len)`: a trap code.
    MemoryCopy => memory_copy(Ptr, I32, I32, I32, I32, I32) -> I32;
    /// `(vmctx, mem, data_index, dst, src, len)`: a trap code.
    MemoryInit => memory_init(Ptr, I32, I32, I32, I32, I32) -> I32;
    /// `(vmctx, data_index)`.
    DataDrop => data_drop(Ptr, I32);
    /// `(vmctx, table, init, delta)`: the old size, or -1.
    TableGrow => table_grow(Ptr, I32, Ptr, I32) -> I32;
    /// `(vmctx, table, dst, val, len)`: a trap code.
    TableFill => table_fill(Ptr, I32, I32, Ptr, I32) -> I32;
    /// `(vmctx, dst_table, src_table, dst, src, len)`: a trap code.
    TableCopy => table_copy(Ptr, I32, I32, I32, I32, I32) -> I32;
    /// `(vmctx, table, elem_index, dst, src, len)`: a trap code.
    TableInit => table_init(Ptr, I32, I32, I32, I32, I32) -> I32;
    /// `(vmctx, elem_index)`.
    ElemDrop => elem_drop(Ptr, I32);
}

// Compiled code indexes the table by pointer-sized slots in enum order.
const _: () = {
    let mut i = 0;
    while i < BuiltinIndex::COUNT {
        assert!(BuiltinIndex::ALL[i] as usize == i);
        assert!(BuiltinIndex::ALL[i].offset() as usize == i * size_of::<usize>());
        i += 1;
    }
    assert!(size_of::<BuiltinTable>() == BuiltinIndex::COUNT * size_of::<usize>());
};

/// Hash of this contract (this file's source and the crate version),
/// computed by the build script. See [`symbols::abi_marker`].
pub const ABI_HASH: &str = env!("WASABI_ABI_HASH");

/// Symbol names compiled objects define. The loader finds code by these.
pub mod symbols {
    /// The symbol every AOT object references and only a runtime built from
    /// the same contract defines: a mismatched object and runtime fail at
    /// link time ("undefined reference to wasabi_abi_...").
    pub fn abi_marker() -> String {
        format!("wasabi_abi_{}", super::ABI_HASH)
    }
    /// Section all compiled wasm code is placed in, so a linked executable
    /// can find its bounds (`__start_wasabi_text`/`__stop_wasabi_text`).
    pub const TEXT_SECTION: &str = "wasabi_text";
    /// AOT tables, defined by the AOT object: `[ptr; n]` of defined
    /// functions, entry trampolines and host trampolines, and the module
    /// description (`u8` bytes plus an `i64` length).
    pub const AOT_FUNCS: &str = "wasabi_aot_funcs";
    pub const AOT_ENTRY_TRAMPOLINES: &str = "wasabi_aot_entry_trampolines";
    pub const AOT_HOST_TRAMPOLINES: &str = "wasabi_aot_host_trampolines";
    pub const AOT_METADATA: &str = "wasabi_aot_metadata";
    pub const AOT_METADATA_LEN: &str = "wasabi_aot_metadata_len";
    /// `[ptr; 2]`: start and end of the linked `wasabi_text` section.
    pub const AOT_TEXT_BOUNDS: &str = "wasabi_aot_text_bounds";

    /// A defined wasm function, by function index (imports included in the
    /// numbering).
    pub fn func(index: u32) -> String {
        format!("wasabi_func_{index}")
    }
    /// The on-stack-replacement entry of function `index` at its OSR loop
    /// `l`: `extern "C" fn(vmctx, locals: *const VMVal) -> results`, where
    /// the buffer holds every local, then `l` as an i32 in one more `VMVal`
    /// (see `compiler/src/translate/profile.rs`). The object compiled for
    /// one loop may define the entries of other loops of the function too
    /// (aliases of the same code, which reads `l` to know where to go).
    pub fn func_osr(index: u32, l: u32) -> String {
        format!("wasabi_func_{index}_osr_{l}")
    }
    /// Parses a [`func_osr`] symbol of function `index`: its loop.
    pub fn parse_func_osr(name: &str, index: u32) -> Option<u32> {
        name.strip_prefix(&func(index))?
            .strip_prefix("_osr_")?
            .parse()
            .ok()
    }
    /// Host-to-wasm trampoline for type index `t`:
    /// `extern "C" fn(callee_vmctx, code, values: *mut u128)`.
    pub fn entry_trampoline(t: u32) -> String {
        format!("wasabi_entry_{t}")
    }
    /// Wasm-to-host trampoline for type index `t` (wasm signature of `t`).
    pub fn host_trampoline(t: u32) -> String {
        format!("wasabi_host_{t}")
    }
    /// Parses a `wasabi_func_N` symbol.
    pub fn parse_func(name: &str) -> Option<u32> {
        name.strip_prefix("wasabi_func_")?.parse().ok()
    }
}

/// The ABI marker AOT objects link against (see [`symbols::abi_marker`]).
#[used]
#[export_name = concat!("wasabi_abi_", env!("WASABI_ABI_HASH"))]
pub static ABI_MARKER: u8 = 0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::{GlobalType, MemoryType, TableType};
    use crate::types::{FuncType, ValType};

    /// 3 types, 2 memories, 2 tables, 1 imported + 2 defined globals,
    /// 2 imported + 3 defined functions.
    fn module() -> ModuleInfo {
        let mem = MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
        };
        let table = TableType {
            element: ValType::FuncRef,
            minimum: 1,
            maximum: None,
        };
        let global = GlobalType {
            content: ValType::I64,
            mutable: true,
        };
        ModuleInfo {
            types: vec![FuncType::new(vec![], vec![]); 3],
            functions: vec![0, 1, 2, 0, 1],
            num_imported_funcs: 2,
            memories: vec![mem; 2],
            tables: vec![table; 2],
            globals: vec![global; 3],
            num_imported_globals: 1,
            ..ModuleInfo::default()
        }
    }

    #[test]
    fn vmctx_regions_are_disjoint_aligned_and_in_bounds() {
        let o = VMOffsets::new(&module());
        // (start, size, align) of every slot, in layout order.
        let mut slots = vec![(0, VMCTX_HEADER_SIZE, 8)];
        slots.extend((0..3).map(|t| (o.type_id(t), 4, 4)));
        slots.extend((0..2).map(|m| (o.memory_base(m), 8, 8)));
        slots.extend((0..2).map(|m| (o.memory_definition(m), 8, 8)));
        slots.extend((0..2).map(|t| (o.table_definition(t), 8, 8)));
        slots.extend((0..3).map(|g| match o.global(g) {
            (off, true) => (off, 8, 8),
            (off, false) => (off, 16, 16),
        }));
        slots.extend((0..5).map(|f| (o.funcref(f), VMFuncRef::SIZE, 8)));
        slots.extend((2..5).map(|f| (o.call_count(f), 4, 4)));
        slots.sort();
        for w in slots.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {w:?}");
        }
        for &(start, size, align) in &slots {
            assert_eq!(start % align, 0, "misaligned slot at {start}");
            assert!(start + size <= o.size());
        }
        assert_eq!(o.size() % o.align(), 0);
        assert_eq!(o.global(0), (o.imported_globals, true));
        assert_eq!(
            o.call_count(2),
            o.funcref(5),
            "counters follow the funcrefs"
        );
    }

    #[test]
    #[should_panic(expected = "not a defined function")]
    fn imported_functions_have_no_call_counter() {
        VMOffsets::new(&module()).call_count(1);
    }

    #[test]
    fn builtin_signatures_match_the_table() {
        // The Rust side is checked by the compiler (`BUILTINS` fills the
        // generated table); here, what the compiler reads.
        assert_eq!(BuiltinIndex::COUNT, 14);
        let (params, result) = BuiltinIndex::Trap.signature();
        assert_eq!(
            params,
            [AbiType::Ptr, AbiType::I32, AbiType::I32, AbiType::Ptr]
        );
        assert_eq!(result, None);
        assert!(BuiltinIndex::Trap.noreturn());
        assert!(!BuiltinIndex::DataDrop.noreturn());
        // It returns when the interruption it was called for is withdrawn.
        assert!(!BuiltinIndex::StackLimitHit.noreturn());
        let (params, result) = BuiltinIndex::StackLimitHit.signature();
        assert_eq!(
            params,
            [AbiType::Ptr, AbiType::I32, AbiType::Ptr, AbiType::Ptr]
        );
        assert_eq!(result, None);
        assert_eq!(BuiltinIndex::DataDrop.signature().1, None);
        assert_eq!(
            BuiltinIndex::TableGrow.signature(),
            (
                &[AbiType::Ptr, AbiType::I32, AbiType::Ptr, AbiType::I32][..],
                Some(AbiType::I32)
            )
        );
        assert_eq!(BuiltinIndex::ElemDrop.offset(), 13 * 8);
    }
}
