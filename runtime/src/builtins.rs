//! The helper functions compiled code calls through `vmctx.builtins`.
//!
//! What must stay true: [`BUILTINS`] fills the table generated from the one
//! builtin list in `vmcontext` (`builtins!`), so every helper exists with
//! exactly the signature the compiler calls it with, or this file does not
//! compile. Helpers that can fail return a trap code and never unwind
//! themselves; only `trap` raises, and it owns nothing when it does. Every
//! helper receives a live instance vmctx (compiled code passes its own) and
//! indices the validator checked against the module.

use crate::instance::Instance;
use crate::traps::{self, RawTrap};
use crate::vmcontext::{BuiltinTable, TrapCode};
use std::sync::atomic::Ordering;

pub static BUILTINS: BuiltinTable = BuiltinTable {
    trap,
    stack_limit_hit,
    tier_up,
    tier_up_loop,
    memory_grow,
    memory_fill,
    memory_copy,
    memory_init,
    data_drop,
    table_grow,
    table_fill,
    table_copy,
    table_init,
    elem_drop,
};

const OK: u32 = 0;
const MEM_OOB: u32 = TrapCode::MemoryOutOfBounds as u32;
const TABLE_OOB: u32 = TrapCode::TableOutOfBounds as u32;

/// The instance of `vmctx`.
///
/// # Safety
/// `vmctx` must be a live instance vmctx, and the caller must not hold
/// another reference to the instance while using this one.
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a mut Instance {
    // SAFETY: per this function's contract.
    unsafe { &mut *Instance::ptr_from_vmctx(vmctx) }
}

/// `start + len <= bound`, without overflow.
fn in_bounds(start: u32, len: u32, bound: usize) -> bool {
    (start as u64 + len as u64) <= bound as u64
}

unsafe extern "C" fn trap(vmctx: *mut u8, code: u32, func: u32, fp: *mut u8) -> ! {
    let code = TrapCode::from_u32(code).unwrap_or(TrapCode::Unreachable);
    let trap = RawTrap {
        func_index: Some(func),
        vmctx: vmctx as usize,
        ..RawTrap::new(code)
    };
    // SAFETY: called by compiled code running under `catch_traps`, with
    // `fp` its own frame pointer; this function owns nothing once `raise`
    // takes the trap.
    unsafe { traps::raise(trap, fp) }
}

unsafe extern "C" fn stack_limit_hit(vmctx: *mut u8, func: u32, fp: *mut u8, sp: *mut u8) {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let limits = unsafe { instance(vmctx) }.limits();
    let code = match limits.take_stop() {
        Some(code) => code,
        None if (sp as usize) < limits.stack_limit_real.load(Ordering::SeqCst) => {
            TrapCode::StackOverflow
        }
        // An interruption withdrawn since the limit was lowered.
        None => return,
    };
    let trap = RawTrap {
        func_index: Some(func),
        vmctx: vmctx as usize,
        ..RawTrap::new(code)
    };
    // SAFETY: as in `trap`: called by compiled code running under
    // `catch_traps`, with `fp` its own frame pointer.
    unsafe { traps::raise(trap, fp) }
}

unsafe extern "C" fn tier_up(vmctx: *mut u8, func: u32) {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let module = &unsafe { instance(vmctx) }.module;
    module.request_tier_up(func);
}

unsafe extern "C" fn tier_up_loop(vmctx: *mut u8, func: u32, arg: u32) -> *mut u8 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let module = &unsafe { instance(vmctx) }.module;
    module.osr_entry(func, arg) as *mut u8
}

unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u32) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let limit = inst.limits().max_memory_bytes.load(Ordering::Relaxed);
    match inst.memory(mem).grow(delta as u64, limit) {
        Some(old) => old as u32,
        None => u32::MAX,
    }
}

unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u32, val: u32, len: u32) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let m = inst.memory(mem);
    if !in_bounds(dst, len, m.byte_len()) {
        return MEM_OOB;
    }
    // SAFETY: `dst + len` is within the memory's accessible length, and
    // the memory is mapped read-write up to it.
    unsafe { std::ptr::write_bytes(m.base().add(dst as usize), val as u8, len as usize) };
    OK
}

unsafe extern "C" fn memory_copy(
    vmctx: *mut u8,
    dst_mem: u32,
    src_mem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let (d, s) = (inst.memory(dst_mem), inst.memory(src_mem));
    if !in_bounds(dst, len, d.byte_len()) || !in_bounds(src, len, s.byte_len()) {
        return MEM_OOB;
    }
    // SAFETY: both ranges are within their memories' accessible lengths;
    // `copy` allows them to overlap (same memory).
    unsafe {
        std::ptr::copy(
            s.base().add(src as usize),
            d.base().add(dst as usize),
            len as usize,
        )
    };
    OK
}

unsafe extern "C" fn memory_init(
    vmctx: *mut u8,
    mem: u32,
    data: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let bytes: &[u8] = if inst.data_dropped[data as usize] {
        &[]
    } else {
        &inst.module.info.data[data as usize].bytes
    };
    let m = inst.memory(mem);
    if !in_bounds(dst, len, m.byte_len()) || !in_bounds(src, len, bytes.len()) {
        return MEM_OOB;
    }
    // SAFETY: the source range is within the segment's bytes, the
    // destination within the memory's accessible length; a data segment
    // (owned by the module) never overlaps linear memory.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr().add(src as usize),
            m.base().add(dst as usize),
            len as usize,
        )
    };
    OK
}

unsafe extern "C" fn data_drop(vmctx: *mut u8, data: u32) {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    inst.data_dropped[data as usize] = true;
}

unsafe extern "C" fn table_grow(vmctx: *mut u8, table: u32, init: *mut u8, delta: u32) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let limit = inst.limits().max_table_elements.load(Ordering::Relaxed);
    inst.table(table)
        .grow(delta, init as usize, limit)
        .unwrap_or(u32::MAX)
}

unsafe extern "C" fn table_fill(
    vmctx: *mut u8,
    table: u32,
    dst: u32,
    val: *mut u8,
    len: u32,
) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let t = inst.table(table);
    if !in_bounds(dst, len, t.len() as usize) {
        return TABLE_OOB;
    }
    t.elements_mut()[dst as usize..(dst + len) as usize].fill(val as usize);
    OK
}

unsafe extern "C" fn table_copy(
    vmctx: *mut u8,
    dst_t: u32,
    src_t: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let (dl, sl) = (inst.table(dst_t).len(), inst.table(src_t).len());
    if !in_bounds(dst, len, dl as usize) || !in_bounds(src, len, sl as usize) {
        return TABLE_OOB;
    }
    let (dst, src, len) = (dst as usize, src as usize, len as usize);
    if dst_t == src_t {
        inst.table(dst_t)
            .elements_mut()
            .copy_within(src..src + len, dst);
    } else {
        let s = inst.table(src_t).elements_mut()[src..src + len].to_vec();
        inst.table(dst_t).elements_mut()[dst..dst + len].copy_from_slice(&s);
    }
    OK
}

unsafe extern "C" fn table_init(
    vmctx: *mut u8,
    table: u32,
    elem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    let items = &inst.elements[elem as usize];
    let t = inst.table(table);
    if !in_bounds(dst, len, t.len() as usize) || !in_bounds(src, len, items.len()) {
        return TABLE_OOB;
    }
    t.elements_mut()[dst as usize..(dst + len) as usize]
        .copy_from_slice(&items[src as usize..(src + len) as usize]);
    OK
}

unsafe extern "C" fn elem_drop(vmctx: *mut u8, elem: u32) {
    // SAFETY: compiled code passes its own instance vmctx (module docs).
    let inst = unsafe { instance(vmctx) };
    inst.elements[elem as usize] = Vec::new();
}
