//! Runs LLVM optimisation pipelines, with Wasabi's own pass available.
//!
//! The pass is C++ (`compiler/llvm/bounds_versioning.cpp`, built by
//! `build.rs` against the same LLVM 19 that inkwell links): LLVM's C API
//! cannot define passes. It versions loops whose memory accesses can be
//! bounded before the loop runs, so that the in-bounds copy uses plain
//! accesses LLVM can optimise and vectorise, while every access that might
//! trap stays volatile (see `translate/memory.rs` for why accesses are
//! volatile, and the C++ file for the argument that the check is sound).
//!
//! The same file holds `wasabi-unroll-and-jam`, which unrolls and jams the
//! loop nests the versioning pass made free of volatile accesses and marked
//! (correlation's column walks: the inner loops of four outer iterations
//! run together and share their loads; syrk's accumulators in memory: one
//! load and store of `C[i][j]` for four updates).
//!
//! What must stay true: the passes' names in pipeline strings are
//! `wasabi-bounds-versioning` and `wasabi-unroll-and-jam`, and they rely on
//! the metadata the translator attaches
//! (`translate::memory::MEM_KIND`/`MEMBASE_KIND`).

use crate::CompileError;
use inkwell::module::Module;
use inkwell::targets::TargetMachine;
use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};

/// Loops versioned by `wasabi-bounds-versioning` in this process so far.
static VERSIONED_LOOPS: AtomicU64 = AtomicU64::new(0);

/// Loop nests unrolled and jammed by `wasabi-unroll-and-jam` so far.
static JAMMED_NESTS: AtomicU64 = AtomicU64::new(0);

/// How many loops this process has given an in-bounds copy with plain
/// memory accesses (for statistics and tests).
pub fn versioned_loops() -> u64 {
    VERSIONED_LOOPS.load(Ordering::Relaxed)
}

/// How many loop nests this process has unrolled and jammed (for tests).
pub fn jammed_nests() -> u64 {
    JAMMED_NESTS.load(Ordering::Relaxed)
}

extern "C" {
    fn wasabi_run_passes(
        m: inkwell::llvm_sys::prelude::LLVMModuleRef,
        passes: *const c_char,
        tm: inkwell::llvm_sys::target_machine::LLVMTargetMachineRef,
        version_at_vectorizer_start: c_int,
        versioned: *mut c_uint,
        jammed: *mut c_uint,
    ) -> *mut c_char;
    fn wasabi_dispose_message(message: *mut c_char);
}

/// Runs the new-pass-manager pipeline `passes` over `module`. With
/// `version_loops`, the `default<On>` pipelines also run the bounds
/// versioning pass, then unroll-and-jam, just before the loop vectoriser (a
/// custom pipeline string names them where it wants them instead).
pub(crate) fn run_passes(
    module: &Module<'_>,
    passes: &str,
    tm: &TargetMachine,
    version_loops: bool,
) -> Result<(), CompileError> {
    let passes = CString::new(passes)
        .map_err(|_| CompileError::Llvm("a pass pipeline contains a NUL byte".into()))?;
    let mut versioned: c_uint = 0;
    let mut jammed: c_uint = 0;
    // SAFETY: `module` and `tm` are live LLVM objects owned by the caller for
    // the whole call, `passes` is a NUL-terminated string and `versioned`
    // and `jammed` are locals that outlive it. The function returns null or
    // a string it allocated with `strdup`, which is read once and freed by
    // its own deallocator.
    unsafe {
        let err = wasabi_run_passes(
            module.as_mut_ptr(),
            passes.as_ptr(),
            tm.as_mut_ptr(),
            c_int::from(version_loops),
            &mut versioned,
            &mut jammed,
        );
        VERSIONED_LOOPS.fetch_add(u64::from(versioned), Ordering::Relaxed);
        JAMMED_NESTS.fetch_add(u64::from(jammed), Ordering::Relaxed);
        if err.is_null() {
            return Ok(());
        }
        let msg = CStr::from_ptr(err).to_string_lossy().into_owned();
        wasabi_dispose_message(err);
        Err(CompileError::Llvm(msg))
    }
}
