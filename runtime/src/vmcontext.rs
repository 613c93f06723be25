//! The compiled-code contract: the layout of the `vmctx` every wasm function
//! receives as its first parameter, the structures it points at, the builtin
//! helper table, and the symbol names compiled objects export.
//!
//! This is the one place that defines these layouts. The compiler reads
//! offsets from [`VMOffsets`]; the runtime writes the same structures. Change
//! a layout here and both sides follow; never hard-code an offset elsewhere.
//!
//! ```text
//! vmctx (16-byte aligned, one allocation per instance)
//!   +0   magic: u64                     VMCTX_MAGIC, for sanity checks
//!   +8   builtins: *const BuiltinTable  helper functions (see BuiltinIndex)
//!   +16  limits: *const VMRuntimeLimits per-store: stack limit
//!   +24  instance: *mut Instance        back pointer for builtins
//!   +32  type_ids: [u32; ntypes]        canonical SigId of each type index
//!   ...  memories: [VMMemoryImport; nmemories]   {base, *def}
//!   ...  tables: [*mut VMTableDefinition; ntables]
//!   ...  imported globals: [*mut VMGlobal; nimported]
//!   ...  defined globals: [VMGlobal; ndefined]    16 bytes each, inline
//!   ...  funcrefs: [VMFuncRef; nfuncs]             one per function index
//! ```
//!
//! Calling convention of every compiled wasm function:
//! `extern "C" fn(callee_vmctx: *mut u8, params...) -> results`, where a
//! multi-value result is an LLVM struct return (LLVM demotes it to a hidden
//! pointer; caller and callee are both compiled by us, so they agree). Calls
//! from the host go through per-signature *entry trampolines*
//! `fn(callee_vmctx, code, values: *mut u128)`; calls to host functions go
//! through per-signature *host trampolines* with the wasm signature, whose
//! vmctx is a [`VMHostContext`].

use crate::module::ModuleInfo;
use std::sync::atomic::{AtomicPtr, AtomicUsize};

/// First word of every instance vmctx.
pub const VMCTX_MAGIC: u64 = 0x5741_5341_4249_4354; // "WASABICT"
/// First word of every host-function context.
pub const HOSTCTX_MAGIC: u64 = 0x5741_5341_4249_484f; // "WASABIHO"

/// Size in bytes of a WebAssembly page.
pub const WASM_PAGE_SIZE: usize = 65536;
/// The largest number of pages a 32-bit memory may have.
pub const WASM32_MAX_PAGES: u64 = 65536;

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
    pub const OFFSET_CODE: u32 = 0;
    pub const OFFSET_VMCTX: u32 = 8;
    pub const OFFSET_TYPE_ID: u32 = 16;
    pub const SIZE: u32 = 24;
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
    pub const OFFSET_BASE: u32 = 0;
    pub const OFFSET_LENGTH: u32 = 8;
}

/// Per-memory slot in the vmctx: the base (cached, as it never moves) and a
/// pointer to the definition (for the current length).
#[repr(C)]
pub struct VMMemoryImport {
    pub base: *mut u8,
    pub definition: *mut VMMemoryDefinition,
}

/// A table's current state. Elements are pointer-sized: funcref elements are
/// `*const VMFuncRef`, externref elements the raw `value + 1` encoding; 0 is
/// null for both.
#[repr(C)]
#[derive(Debug)]
pub struct VMTableDefinition {
    pub base: *mut usize,
    pub length: u32,
    pub _pad: u32,
}

impl VMTableDefinition {
    pub const OFFSET_BASE: u32 = 0;
    pub const OFFSET_LENGTH: u32 = 8;
}

/// Storage of one global: 16 bytes, value in the low bytes (little endian).
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub struct VMGlobal {
    pub raw: u128,
}

/// Per-store limits shared by all its instances.
#[repr(C)]
#[derive(Debug, Default)]
pub struct VMRuntimeLimits {
    /// Compiled functions that call others trap with `StackOverflow` when the
    /// stack pointer is below this address.
    pub stack_limit: AtomicUsize,
}

impl VMRuntimeLimits {
    pub const OFFSET_STACK_LIMIT: u32 = 0;
}

/// The vmctx of a host function. The host trampoline of the function's
/// signature spills the arguments into a `u128` array and calls `dispatch`;
/// a non-zero status means a trap is pending, and the trampoline then calls
/// `raise` (which does not return).
#[repr(C)]
pub struct VMHostContext {
    pub magic: u64,
    pub dispatch: unsafe extern "C" fn(*mut VMHostContext, *mut u128) -> u32,
    pub raise: unsafe extern "C" fn() -> !,
    /// Runtime-private data (the host function and its caller instance).
    pub data: *mut u8,
}

impl VMHostContext {
    pub const OFFSET_DISPATCH: u32 = 8;
    pub const OFFSET_RAISE: u32 = 16;
}

/// Fixed header offsets of the vmctx.
pub const VMCTX_OFFSET_MAGIC: u32 = 0;
pub const VMCTX_OFFSET_BUILTINS: u32 = 8;
pub const VMCTX_OFFSET_LIMITS: u32 = 16;
pub const VMCTX_OFFSET_INSTANCE: u32 = 24;
const VMCTX_HEADER_SIZE: u32 = 32;

/// Offsets of the variable parts of one module's vmctx.
#[derive(Clone, Debug)]
pub struct VMOffsets {
    pub num_types: u32,
    pub num_memories: u32,
    pub num_tables: u32,
    pub num_imported_globals: u32,
    pub num_defined_globals: u32,
    pub num_funcs: u32,
    type_ids: u32,
    memories: u32,
    tables: u32,
    imported_globals: u32,
    defined_globals: u32,
    funcrefs: u32,
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
        let num_funcs = m.functions.len() as u32;
        let type_ids = VMCTX_HEADER_SIZE;
        let memories = align(type_ids + 4 * num_types, 8);
        let tables = memories + 16 * num_memories;
        let imported_globals = tables + 8 * num_tables;
        let defined_globals = align(imported_globals + 8 * num_imported_globals, 16);
        let funcrefs = defined_globals + 16 * num_defined_globals;
        let size = align(funcrefs + VMFuncRef::SIZE * num_funcs, 16);
        VMOffsets {
            num_types,
            num_memories,
            num_tables,
            num_imported_globals,
            num_defined_globals,
            num_funcs,
            type_ids,
            memories,
            tables,
            imported_globals,
            defined_globals,
            funcrefs,
            size,
        }
    }

    /// Total size of the vmctx in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }
    /// `u32` canonical signature id of type index `t`.
    pub fn type_id(&self, t: u32) -> u32 {
        self.type_ids + 4 * t
    }
    /// `*mut u8` base of memory `m` (never changes after instantiation).
    pub fn memory_base(&self, m: u32) -> u32 {
        self.memories + 16 * m
    }
    /// `*mut VMMemoryDefinition` of memory `m`.
    pub fn memory_definition(&self, m: u32) -> u32 {
        self.memories + 16 * m + 8
    }
    /// `*mut VMTableDefinition` of table `t`.
    pub fn table_definition(&self, t: u32) -> u32 {
        self.tables + 8 * t
    }
    /// For an imported global: the offset of the `*mut VMGlobal` slot.
    /// For a defined one: the offset of the inline `VMGlobal`.
    pub fn global(&self, g: u32) -> (u32, bool) {
        if g < self.num_imported_globals {
            (self.imported_globals + 8 * g, true)
        } else {
            (
                self.defined_globals + 16 * (g - self.num_imported_globals),
                false,
            )
        }
    }
    /// The `VMFuncRef` of function index `f`.
    pub fn funcref(&self, f: u32) -> u32 {
        self.funcrefs + VMFuncRef::SIZE * f
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
        }
    }
}

/// Machine-level types used to describe builtin signatures to the compiler.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AbiType {
    I32,
    I64,
    Ptr,
}

/// Index of each helper in the builtin table `vmctx.builtins`. Each entry's
/// signature is given by [`BuiltinIndex::signature`]; the runtime's
/// implementations live in `crate::builtins` and must match it. Helpers that
/// can fail return a trap code (0 = success) and compiled code raises it.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BuiltinIndex {
    /// `(vmctx, code: i32, func_index: i32) -> !`
    Trap = 0,
    /// `(vmctx, mem: i32, delta_pages: i32) -> i32` old size or -1
    MemoryGrow,
    /// `(vmctx, mem, dst, val, len) -> trap code`
    MemoryFill,
    /// `(vmctx, dst_mem, src_mem, dst, src, len) -> trap code`
    MemoryCopy,
    /// `(vmctx, mem, data_index, dst, src, len) -> trap code`
    MemoryInit,
    /// `(vmctx, data_index)`
    DataDrop,
    /// `(vmctx, table, init: ptr, delta) -> i32` old size or -1
    TableGrow,
    /// `(vmctx, table, dst, val: ptr, len) -> trap code`
    TableFill,
    /// `(vmctx, dst_table, src_table, dst, src, len) -> trap code`
    TableCopy,
    /// `(vmctx, table, elem_index, dst, src, len) -> trap code`
    TableInit,
    /// `(vmctx, elem_index)`
    ElemDrop,
}

impl BuiltinIndex {
    pub const COUNT: usize = 11;

    /// `(params, result)` of the helper; `None` result means void, and
    /// `Trap` never returns.
    pub fn signature(self) -> (&'static [AbiType], Option<AbiType>) {
        use AbiType::*;
        use BuiltinIndex::*;
        match self {
            Trap => (&[Ptr, I32, I32], None),
            MemoryGrow => (&[Ptr, I32, I32], Some(I32)),
            MemoryFill => (&[Ptr, I32, I32, I32, I32], Some(I32)),
            MemoryCopy => (&[Ptr, I32, I32, I32, I32, I32], Some(I32)),
            MemoryInit => (&[Ptr, I32, I32, I32, I32, I32], Some(I32)),
            DataDrop => (&[Ptr, I32], None),
            TableGrow => (&[Ptr, I32, Ptr, I32], Some(I32)),
            TableFill => (&[Ptr, I32, I32, Ptr, I32], Some(I32)),
            TableCopy => (&[Ptr, I32, I32, I32, I32, I32], Some(I32)),
            TableInit => (&[Ptr, I32, I32, I32, I32, I32], Some(I32)),
            ElemDrop => (&[Ptr, I32], None),
        }
    }
}

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
