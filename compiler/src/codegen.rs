//! LLVM set-up: target machines, the optimisation pipeline for each level,
//! and emission of relocatable objects.
//!
//! A [`Machine`] is a target machine with its code-generation pipeline,
//! built once and run on every module it emits
//! (`compiler/llvm/object_emitter.cpp` says why that is sound): lazy and
//! tiered compilation emit one small module per function, and building
//! the pipeline was a quarter of such a compilation.
//!
//! What must stay true: objects are position independent with the small
//! code model, which is what `wasabi_runtime::loader` relocates; and every
//! function emitted (wasm functions and trampolines) keeps a frame pointer
//! (`"frame-pointer"="all"`), so each of its frames starts with the record
//! `[fp] = caller's fp, [fp + 8] = return address` the runtime walks for
//! wasm backtraces (`wasabi_runtime::traps`).
//!
//! Developer knobs, for measuring compile time against code quality (not a
//! user interface): `WASABI_LLVM_PASSES` replaces the IR pipeline (a new-PM
//! pipeline string such as `function(sroa,instcombine,simplifycfg)`),
//! `WASABI_LLVM_CODEGEN=0..3` sets the code generator's level independently
//! of `-O`, and `WASABI_LLVM_ARGS` passes options to LLVM as `llc` takes
//! them (e.g. `-pass-remarks-missed=loop-vectorize`), overriding the few
//! wasabi sets by default ([`DEFAULT_LLVM_ARGS`]).

use crate::{CompileError, CompilerConfig, OptLevel, TargetCpu};
use inkwell::attributes::AttributeLoc;
use inkwell::module::Module;
use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use inkwell::OptimizationLevel;
use std::ffi::{c_char, CStr};
use std::sync::Once;

/// `-O1`, the JIT default: scalar clean-up, loop-invariant code motion, GVN
/// and the loop vectoriser, without the inliner and the rest of
/// `default<O2>`. Measured on this project's benchmarks (see the commit that
/// introduced it): 1.4-1.7x faster to compile than `default<O2>` (a 1.3 MB
/// module: 4.9 s against 8.1 s), with run time within ~10% on most programs
/// (better on stencils, worse on dense matrix loops, which want `-O3`/AOT).
/// `default<O1>` was no cheaper and made worse code, so it is not offered.
///
/// Loops are rotated and their induction variables simplified before
/// `wasabi-bounds-versioning` (see `crate::passes`), which needs their trip
/// counts; LICM, GVN and the vectoriser then work on its in-bounds copies.
///
/// Loops the vectoriser left scalar are then unrolled (`loop-unroll<O2>`):
/// k_lcs's dynamic-programming loop (a `max` chain through `cmov`) ran
/// 1.34x native at -O1 against 0.96x at -O3, the same loop instruction for
/// instruction as clang's but not unrolled; unrolled it runs 360-405 ms
/// against 460-535 ms (native 370 ms), for about 1-3 % more compile time
/// (regex_bench, json_bench).
///
/// `wasabi-unroll-and-jam`, after GVN and before the vectoriser, runs the
/// inner loops of four iterations of an outer loop together where the
/// versioning pass made the whole nest free of volatile accesses and the
/// inner loop shares a load between them (correlation's and covariance's
/// column walks: four independent sums, one load of `data[k][i]` for
/// four of `data[k][j]`): k_correlation 422 -> 160 ms, k_covariance 429 ->
/// 168 ms (native, clang -O2: 410 and 400 ms); and where the inner loop
/// updates accumulators in memory (k_syrk's `C[i][j] += a * A[j][k]`, k
/// outer: one load and store of `C[i][j]` for four updates, and four
/// loads from each line of `A`): k_syrk 384 -> 236 ms (native 410 ms).
/// The `default<On>` pipelines run it just before their vectoriser.
///
/// `vector-combine` right after the vectoriser folds the shuffles it
/// leaves around an interleaved group that is really contiguous: clang
/// unrolls k_mm2's `T[i][j] += a * B[k][j]` three times in the wasm, the
/// vectoriser widens the three accesses as a stride-3 group (a
/// `vpermt2pd` per vector on each load and store), and without the fold
/// the loop ran 1.29x native at -O1 against 0.77x at -O3, where
/// `default<O3>` runs the same pass. With it: 256-270 ms against 457-469 ms
/// (-O3: 218-295 ms), compile time unchanged within noise.
const JIT_PIPELINE: &str = jit_pipeline!("loop-unroll<O2>");

/// The `-O1` pipeline with `$unroll` as its unrolling after the vectoriser
/// (one spelling for [`JIT_PIPELINE`] and [`JIT_OSR_PIPELINE`]).
macro_rules! jit_pipeline {
    ($unroll:literal) => {
        concat!(
            "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,",
            "loop(loop-rotate,indvars),wasabi-bounds-versioning,loop-mssa(licm),gvn,",
            "wasabi-unroll-and-jam,loop-vectorize,",
            "vector-combine,instcombine<no-verify-fixpoint>,",
            $unroll,
            ",instcombine<no-verify-fixpoint>,simplifycfg)"
        )
    };
}
use jit_pipeline;

/// `-O1` for an OSR variant (`translate::profile`): [`JIT_PIPELINE`] with
/// its unrolling after the vectoriser told not to unroll partially
/// (`no-partial`; loops are still unrolled whole, and k_lcs's loop,
/// whose trip count is only known at run time, still is). A
/// variant entered in a nest holds one copy of the nest per enclosing
/// loop, and the activation waits in baseline code for its compilation:
/// partial unrolling of every copy made matmul's kernel entry take 198
/// instead of 131 ms. Without any unrolling, k_lcs's DP loop (a `max`
/// chain the vectoriser leaves scalar, entered by OSR) lost what the
/// unrolling is for: tiered steady state 449 ms against 374 ms. Bench
/// engines, 3 repetitions, execution in ms (full unrolling / none / this):
/// matmul tiered 505 / 440 / 437, k_mm2 383 / 359 / 368, k_lcs tiered
/// 528 / 566 / 481, k_lcs steady 374 / 449 / 375, matmul steady 251 /
/// 263 / 252. Functions recompiled whole keep the full pipeline.
const JIT_OSR_PIPELINE: &str = jit_pipeline!("loop-unroll<O2;no-partial>");

/// `-O2`/`-O3`: loops are rotated and versioned first (as in
/// [`JIT_PIPELINE`]), then LLVM's `default<On>` pipeline optimises the
/// in-bounds copies with everything it has. Versioning only at the
/// vectoriser's start (as before) came too late: by then InstCombine has
/// turned the widened wasm induction variables into masked 64-bit
/// arithmetic (`and iv, 0xfffffff0`) whose trip count ScalarEvolution
/// cannot compute, so the hot loops of stencils were never versioned and
/// ran with volatile accesses (k_jacobi1d: 2.4x native). Loops that only
/// become candidates after inlining are still versioned there.
const O2_PIPELINE: &str =
    "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,\
     loop(loop-rotate,indvars),wasabi-bounds-versioning),default<O2>";
const O3_PIPELINE: &str =
    "function(sroa,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,\
     loop(loop-rotate,indvars),wasabi-bounds-versioning),default<O3>";

/// LLVM options wasabi sets unless `WASABI_LLVM_ARGS` names them itself.
///
/// `-x86-cmov-converter=false`: the x86 back end otherwise turns a
/// conditional move on a loop-carried dependency back into a branch,
/// betting that the branch predicts well. In wasm kernels the condition is
/// usually data (a DP maximum, a comparison of sequence letters): k_lcs's
/// `max(prev[j], cur[j-1])`, unrolled by `-O3`, became branches that
/// mispredicted and ran at 2.0x native against 1.1x with the moves kept
/// (measured across the kernel suite and the other C benchmarks: no
/// program slower beyond noise).
const DEFAULT_LLVM_ARGS: &[(&str, &str)] = &[("x86-cmov-converter", "-x86-cmov-converter=false")];

/// Target features added to the host's own when compiling for it.
///
/// `+prefer-no-gather`: LLVM takes gathers as fast on every AVX-512 CPU
/// and vectorises strided loads (a matrix walked down a column) into
/// `vgatherqpd`. On this project's machine (AMD Zen 4) a gather is slower
/// than the scalar loads it replaces, and on Intel CPUs with the Gather
/// Data Sampling microcode fix it is much slower. Measured on a quiet
/// machine, AOT, five interleaved runs: k_syrk, whose inner loop walks
/// `A[j][k]` down a column, 0.39-0.44 s with gathers against 0.38-0.41 s
/// without (native 0.37 s); the other kernels with gathers (k_correlation,
/// k_covariance, k_fdtd2d, k_seidel2d) unchanged within noise, and the SIMD
/// programs have none. Wasm has no gather instruction of its own, so only
/// LLVM's choice changes.
const HOST_TUNING: &str = "+prefer-no-gather";

pub(crate) fn init_llvm() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        Target::initialize_x86(&InitializationConfig::default());
        let user = std::env::var("WASABI_LLVM_ARGS").unwrap_or_default();
        // One parse: an option given twice is an error to LLVM.
        let mut args: Vec<&str> = DEFAULT_LLVM_ARGS
            .iter()
            .filter(|(name, _)| !user.contains(name))
            .map(|(_, arg)| *arg)
            .collect();
        args.extend(user.split_whitespace());
        parse_llvm_args(&args.join(" "));
    });
}

/// Passes `args` (whitespace-separated) to LLVM's command-line parser, as
/// `llc` would take them: the `WASABI_LLVM_ARGS` developer knob, e.g.
/// `-pass-remarks-missed=loop-vectorize` to see why a loop was not
/// vectorised.
fn parse_llvm_args(args: &str) {
    let owned: Vec<std::ffi::CString> = std::iter::once("wasabi")
        .chain(args.split_whitespace())
        .filter_map(|a| std::ffi::CString::new(a).ok())
        .collect();
    let ptrs: Vec<*const std::ffi::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    // SAFETY: `ptrs` holds `ptrs.len()` pointers to NUL-terminated strings
    // owned by `owned`, which outlives the call; LLVM copies what it keeps.
    // It runs once, before any other LLVM use (inside `init_llvm`'s `Once`).
    unsafe {
        inkwell::llvm_sys::support::LLVMParseCommandLineOptions(
            ptrs.len() as i32,
            ptrs.as_ptr(),
            c"wasabi developer options".as_ptr(),
        );
    }
}

pub(crate) fn target_machine(config: &CompilerConfig) -> Result<TargetMachine, CompileError> {
    init_llvm();
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| CompileError::Llvm(e.to_string()))?;
    let (cpu, features) = match config.target_cpu {
        TargetCpu::Native => (
            TargetMachine::get_host_cpu_name().to_string(),
            format!(
                "{},{HOST_TUNING}",
                TargetMachine::get_host_cpu_features().to_string_lossy()
            ),
        ),
        TargetCpu::Generic => ("x86-64".to_string(), String::new()),
    };
    let level = match std::env::var("WASABI_LLVM_CODEGEN").ok().as_deref() {
        Some("0") => OptimizationLevel::None,
        Some("1") => OptimizationLevel::Less,
        Some("2") => OptimizationLevel::Default,
        Some("3") => OptimizationLevel::Aggressive,
        _ => match config.opt_level {
            OptLevel::O0 => OptimizationLevel::None,
            // The JIT pipeline keeps the full instruction selector: it costs
            // little more than `Less` and makes better code.
            OptLevel::O1 | OptLevel::O2 => OptimizationLevel::Default,
            OptLevel::O3 => OptimizationLevel::Aggressive,
        },
    };
    target
        .create_target_machine(
            &triple,
            &cpu,
            &features,
            level,
            RelocMode::PIC,
            CodeModel::Small,
        )
        .ok_or_else(|| CompileError::Llvm("cannot create a target machine".into()))
}

/// The C++ side of [`ObjectEmitter`] (`compiler/llvm/object_emitter.cpp`).
#[repr(C)]
struct RawObjectEmitter {
    _opaque: [u8; 0],
}

extern "C" {
    fn wasabi_object_emitter_new(
        tm: inkwell::llvm_sys::target_machine::LLVMTargetMachineRef,
        error: *mut *mut c_char,
    ) -> *mut RawObjectEmitter;
    fn wasabi_object_emitter_emit(
        emitter: *mut RawObjectEmitter,
        m: inkwell::llvm_sys::prelude::LLVMModuleRef,
        data: *mut *const c_char,
        len: *mut usize,
    );
    fn wasabi_object_emitter_dispose(emitter: *mut RawObjectEmitter);
    fn wasabi_dispose_message(message: *mut c_char);
}

/// A code-generation pipeline writing ELF objects, built for one target
/// machine. Owned by the [`Machine`] that holds that target machine, and
/// dropped before it.
struct ObjectEmitter(*mut RawObjectEmitter);

impl ObjectEmitter {
    fn new(tm: &TargetMachine) -> Result<ObjectEmitter, CompileError> {
        let mut error = std::ptr::null_mut();
        // SAFETY: `tm` is a live target machine; the function returns a
        // new emitter, or null and a message allocated with `strdup` that
        // is read once and freed by its own deallocator.
        unsafe {
            let raw = wasabi_object_emitter_new(tm.as_mut_ptr(), &mut error);
            if raw.is_null() {
                let msg = CStr::from_ptr(error).to_string_lossy().into_owned();
                wasabi_dispose_message(error);
                return Err(CompileError::Llvm(msg));
            }
            Ok(ObjectEmitter(raw))
        }
    }

    /// Runs the pipeline on `module` (which has the target machine's triple
    /// and data layout) and returns the object's bytes.
    fn emit(&mut self, module: &Module<'_>) -> Vec<u8> {
        let mut data = std::ptr::null();
        let mut len = 0;
        // SAFETY: the emitter is live and used by this thread only (`&mut
        // self`; a `Machine` is neither Send nor Sync); `module` is a live
        // module for the whole call. The bytes stay valid until the next
        // call on this emitter, and are copied before this one returns.
        unsafe {
            wasabi_object_emitter_emit(self.0, module.as_mut_ptr(), &mut data, &mut len);
            std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec()
        }
    }
}

impl Drop for ObjectEmitter {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `wasabi_object_emitter_new` and is
        // disposed of once; its target machine is still alive (a `Machine`
        // drops its emitter first).
        unsafe { wasabi_object_emitter_dispose(self.0) }
    }
}

/// A target machine and its object emitter. Not `Send`: the emitter's
/// pipeline must stay on one thread (the compiler keeps one `Machine` per
/// thread and configuration, see `with_machine`).
pub(crate) struct Machine {
    /// Declared first, so dropped first: its passes point into `tm`.
    emitter: std::cell::RefCell<ObjectEmitter>,
    pub(crate) tm: TargetMachine,
}

impl Machine {
    pub(crate) fn new(config: &CompilerConfig) -> Result<Machine, CompileError> {
        let tm = target_machine(config)?;
        let emitter = std::cell::RefCell::new(ObjectEmitter::new(&tm)?);
        Ok(Machine { emitter, tm })
    }
}

/// Verifies, optimises and emits `module` as an ELF relocatable object;
/// `osr_variant` when it holds an OSR variant (`translate::profile`).
pub(crate) fn emit_object(
    module: &Module<'_>,
    machine: &Machine,
    config: &CompilerConfig,
    osr_variant: bool,
) -> Result<Vec<u8>, CompileError> {
    let tm = &machine.tm;
    keep_frame_pointers(module);
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module
        .verify()
        .map_err(|e| CompileError::Llvm(format!("generated IR is invalid (a wasabi bug): {e}")))?;
    let passes = std::env::var("WASABI_LLVM_PASSES").ok();
    let passes = passes.as_deref().or(match config.opt_level {
        // -O0 (the baseline tier of tiered mode, trampolines) runs no IR
        // pass: locals stay in their stack slots. Promoting them to
        // registers (`mem2reg`, run here until then) made code slower to
        // compile and slower to run: the fast instruction selector and
        // register allocator turn every phi into copies and spill every
        // value live across a block, while a local in memory is an operand
        // folded into the instruction that uses it. Whole programs in
        // baseline code alone (no tier-up): sort 2.18 s -> 1.37 s,
        // fannkuch 3.37 s -> 1.79 s.
        OptLevel::O0 => None,
        OptLevel::O1 if osr_variant => Some(JIT_OSR_PIPELINE),
        OptLevel::O1 => Some(JIT_PIPELINE),
        OptLevel::O2 => Some(O2_PIPELINE),
        OptLevel::O3 => Some(O3_PIPELINE),
    });
    if let Some(passes) = passes {
        crate::passes::run_passes(module, passes, tm, true)?;
    }
    Ok(machine.emitter.borrow_mut().emit(module))
}

/// Gives every function defined in `module` a frame pointer (see the module
/// docs): done here, where every object passes, so no function can miss it.
fn keep_frame_pointers(module: &Module<'_>) {
    let ctx = module.get_context();
    for f in module.get_functions() {
        if f.count_basic_blocks() > 0 {
            f.add_attribute(
                AttributeLoc::Function,
                ctx.create_string_attribute("frame-pointer", "all"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JIT pipeline's IR for the one function of `wat`.
    fn jit_ir(wat: &str) -> String {
        translated(wat, None, |module, tm| {
            crate::passes::run_passes(module, JIT_PIPELINE, tm, true).unwrap();
            module.print_to_string().to_string()
        })
    }

    /// Runs `f` on the translation of the one function of `wat` (its OSR
    /// variant at loop `osr`, if given), before any pass.
    fn translated<T>(
        wat: &str,
        osr: Option<u32>,
        f: impl FnOnce(&Module<'_>, &TargetMachine) -> T,
    ) -> T {
        translated_with(wat, osr, crate::env::Instrumentation::default(), f)
    }

    /// [`translated`], with `instrument` compiled in (the baseline tier's
    /// counters: `tier_up_after`).
    fn translated_with<T>(
        wat: &str,
        osr: Option<u32>,
        instrument: crate::env::Instrumentation,
        f: impl FnOnce(&Module<'_>, &TargetMachine) -> T,
    ) -> T {
        use wasmparser::{BinaryReader, FunctionBody};
        let wasm = wat::parse_str(wat).unwrap();
        let info = wasabi_runtime::module::ModuleInfo::parse(&wasm).unwrap();
        let ctx = inkwell::context::Context::create();
        let mut env = crate::env::ModuleEnv::new(&ctx, "test", &info);
        env.instrument = instrument;
        // The baseline tier (counters) compiles at -O0.
        env.optimizing = instrument.tier_up_after.is_none();
        let range = info.function_bodies[0].clone();
        let body = FunctionBody::new(BinaryReader::new(&wasm[range.clone()], range.start as u64));
        crate::translate::FuncTranslator::translate(&env, info.num_imported_funcs, &body, osr)
            .unwrap();
        let config = CompilerConfig::default();
        let tm = target_machine(&config).unwrap();
        env.module.set_triple(&tm.get_triple());
        env.module
            .set_data_layout(&tm.get_target_data().get_data_layout());
        f(&env.module, &tm)
    }

    /// The header of an OSR loop in baseline code: its fast path is one
    /// comparison (of the activation's count with the next poll), and
    /// only a loop with an OSR loop nested in it keeps its run's last pass
    /// and visits, the two things only a nested loop reads.
    #[test]
    fn baseline_loop_headers_keep_runs_only_for_loops_with_loops_inside() {
        // `$outer` holds `$inner`; `$alone` holds nothing.
        let wat = r#"(module
          (func (param $n i32) (result i32) (local $i i32) (local $j i32)
            (loop $outer (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (local.set $j (i32.const 0))
              (loop $inner (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
              (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
            (loop $alone (local.set $i (i32.sub (local.get $i) (i32.const 1)))
              (br_if $alone (i32.ne (local.get $i) (i32.const 0))))
            (local.get $j)))"#;
        let ir = baseline_ir(wat);
        // The three headers, each up to its fast path's branch.
        let is_header = |label: &str| {
            let digits = label.trim_start_matches("loop");
            digits.len() < label.len() && digits.chars().all(|c| c.is_ascii_digit())
        };
        let headers: Vec<&str> = ir
            .match_indices('\n')
            .map(|(at, _)| &ir[at + 1..])
            .filter(|block| block.split_once(':').is_some_and(|(l, _)| is_header(l)))
            .map(|block| &block[..block.find("br i1").expect("a conditional branch")])
            .collect();
        assert_eq!(headers.len(), 3, "{ir}");
        for header in &headers {
            assert_eq!(header.matches("icmp").count(), 1, "{header}");
            assert!(header.contains("icmp eq i32 %iterations"), "{header}");
        }
        let keeps_run = |header: &str| header.contains("%visits");
        assert!(keeps_run(headers[0]), "$outer: {}", headers[0]);
        assert!(!keeps_run(headers[1]), "$inner: {}", headers[1]);
        assert!(!keeps_run(headers[2]), "$alone: {}", headers[2]);
        // Baseline code (-O0) marks slow paths unlikely by branch weights,
        // not by `llvm.expect`, which keeps the fast instruction selector
        // from folding a compare into its branch.
        assert!(!ir.contains("llvm.expect"), "{ir}");
        assert!(
            ir.contains("!{!\"branch_weights\", i32 1, i32 2000}"),
            "{ir}"
        );
    }

    /// The verified baseline-tier IR (counters, threshold 1,000) of the
    /// one function of `wat`, before any pass.
    fn baseline_ir(wat: &str) -> String {
        let baseline = crate::env::Instrumentation {
            tier_up_after: Some(1000),
            ..Default::default()
        };
        translated_with(wat, None, baseline, |module, _| {
            module.verify().unwrap();
            module.print_to_string().to_string()
        })
    }

    /// The OSR variants' pipeline is the JIT pipeline without partial
    /// unrolling, and nothing else.
    #[test]
    fn the_osr_pipeline_is_the_jit_pipeline_without_partial_unrolling() {
        assert_eq!(
            JIT_PIPELINE.replace("loop-unroll<O2>", "loop-unroll<O2;no-partial>"),
            JIT_OSR_PIPELINE
        );
    }

    /// `if`, `br_if` and `select` on a comparison's result use the
    /// comparison itself, not a second comparison of the widened result
    /// with zero (the baseline tier compiles `icmp`, `zext`, `icmp ne 0`
    /// into six instructions and a jump; the comparison and the jump, two).
    #[test]
    fn conditions_made_by_comparisons_are_used_directly() {
        let ir = translated(
            r#"(module (func (param i32 i32) (result i32)
                (if (i32.lt_s (local.get 0) (local.get 1)) (then (return (i32.const 1))))
                (block (br_if 0 (i32.eqz (local.get 0))) (return (i32.const 2)))
                (select (i32.const 3) (i32.const 4)
                  (i64.ge_u (i64.const 1) (i64.extend_i32_u (local.get 1))))))"#,
            None,
            |module, _| module.print_to_string().to_string(),
        );
        for compare in ["icmp slt i32", "icmp eq i32", "icmp uge i64"] {
            assert!(ir.contains(compare), "{compare} in\n{ir}");
        }
        assert!(
            !ir.contains("icmp ne"),
            "a condition compared with zero:\n{ir}"
        );
        // A condition that is not a comparison is still compared with zero.
        let ir = translated(
            "(module (func (param i32) (result i32) (select (i32.const 3) (i32.const 4) (local.get 0))))",
            None,
            |module, _| module.print_to_string().to_string(),
        );
        assert!(ir.contains("icmp ne i32"), "{ir}");
    }

    /// Whether every wasm loop of `f` that runs is a natural loop of its
    /// own: each reachable loop header (a block the translator names
    /// `loop`) is the target of an edge that closes a cycle (a retreating
    /// edge of a depth-first walk from the entry) from a block it
    /// dominates. Entered in its middle, an enclosing loop's cycle is
    /// headed by the block where it was entered instead, merged with that
    /// loop's, and its own header heads nothing.
    fn loops_keep_their_headers(f: inkwell::values::FunctionValue<'_>) -> bool {
        use inkwell::basic_block::BasicBlock;
        let blocks: Vec<BasicBlock> = f.get_basic_blocks();
        let index = |b: BasicBlock| blocks.iter().position(|&x| x == b).unwrap();
        let succ: Vec<Vec<usize>> = blocks
            .iter()
            .map(|b| {
                let t = b.get_terminator().expect("terminated");
                (0..t.get_num_operands())
                    .filter_map(|i| t.get_operand(i).and_then(|o| o.block()))
                    .map(index)
                    .collect()
            })
            .collect();
        let n = blocks.len();
        // Depth-first walk: retreating edges and the reachable blocks.
        let (mut state, mut retreating) = (vec![0u8; n], Vec::new());
        let mut stack = vec![(0usize, 0usize)];
        state[0] = 1;
        while let Some(&mut (b, ref mut next)) = stack.last_mut() {
            match succ[b].get(*next) {
                Some(&s) => {
                    *next += 1;
                    match state[s] {
                        0 => {
                            state[s] = 1;
                            stack.push((s, 0));
                        }
                        1 => retreating.push((b, s)),
                        _ => {}
                    }
                }
                None => {
                    state[b] = 2;
                    stack.pop();
                }
            }
        }
        // Dominators of the reachable blocks, by iteration to a fixpoint.
        let reachable: Vec<bool> = state.iter().map(|&s| s != 0).collect();
        let mut dom: Vec<Vec<bool>> = (0..n)
            .map(|b| match b {
                0 => (0..n).map(|x| x == 0).collect(),
                _ => reachable.clone(),
            })
            .collect();
        let mut changed = true;
        while changed {
            changed = false;
            for b in 1..n {
                if !reachable[b] {
                    continue;
                }
                let mut d = reachable.clone();
                for p in (0..n).filter(|&p| reachable[p] && succ[p].contains(&b)) {
                    for x in 0..n {
                        d[x] &= dom[p][x];
                    }
                }
                d[b] = true;
                if d != dom[b] {
                    dom[b] = d;
                    changed = true;
                }
            }
        }
        let headers: Vec<usize> = retreating
            .iter()
            .filter(|&&(u, v)| dom[u][v])
            .map(|&(_, v)| v)
            .collect();
        (0..n).filter(|&b| reachable[b]).all(|b| {
            let name = blocks[b].get_name().to_str().unwrap();
            let header = name.starts_with("loop") && !name.starts_with("loop_end");
            !header || headers.contains(&b)
        })
    }

    /// An OSR entry inside a nest keeps every loop a loop: the variant
    /// holds a copy of the body per enclosing loop. Branching from the
    /// entry block into the inner loop entered the outer loops in their
    /// middle, and LLVM optimises little in such cycles (matmul's kernel:
    /// scalar, 3-4x slower).
    #[test]
    fn osr_entries_inside_nests_keep_every_loop_a_loop() {
        let wat = r#"(module (memory 1)
          (func (param $rows i32) (param $cols i32) (result i32)
            (local $i i32) (local $j i32) (local $k i32) (local $s i32)
            (loop $outer
              (local.set $j (i32.const 0))
              (block $skip
                (br_if $skip (i32.eqz (local.get $cols)))
                (loop $mid
                  (local.set $k (i32.const 0))
                  (loop $inner
                    (local.set $s (i32.add (local.get $s) (i32.load (local.get $k))))
                    (local.set $k (i32.add (local.get $k) (i32.const 4)))
                    (br_if $inner (i32.lt_u (local.get $k) (i32.const 64))))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br_if $mid (i32.lt_u (local.get $j) (local.get $cols)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $outer (i32.lt_u (local.get $i) (local.get $rows))))
            (local.get $s)))"#;
        // OSR loops are numbered in order: 0 outer, 1 mid, 2 inner.
        for osr in [None, Some(0), Some(1), Some(2)] {
            translated(wat, osr, |module, _| {
                let f = module.get_first_function().unwrap();
                let ir = module.print_to_string();
                assert!(loops_keep_their_headers(f), "entered at {osr:?}:\n{ir}");
            });
        }
    }

    /// Baseline code hands an activation over to optimised code through
    /// one block per function, however many OSR loops it has.
    #[test]
    fn baseline_functions_have_one_osr_transfer_whatever_their_loops() {
        // Six OSR loops (two nested) and four locals.
        let wat = r#"(module
          (func (param $n i32) (result i32) (local $i i32) (local $j i32) (local $k i64)
            (loop $a (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $a (i32.lt_u (local.get $i) (local.get $n))))
            (loop $b (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (loop $c (local.set $k (i64.add (local.get $k) (i64.const 1)))
                (br_if $c (i64.lt_u (local.get $k) (i64.const 9))))
              (br_if $b (i32.lt_u (local.get $j) (local.get $n))))
            (loop $d (local.set $i (i32.sub (local.get $i) (i32.const 1)))
              (loop $e (br_if $e (i32.eqz (local.get $i))))
              (br_if $d (i32.ne (local.get $i) (i32.const 0))))
            (loop $f (br_if $f (i32.gt_u (local.get $j) (i32.const 100))))
            (local.get $j)))"#;
        let ir = baseline_ir(wat);
        let count = |needle: &str| ir.matches(needle).count();
        // Every loop asks for its entry and branches to the one block
        // that hands the activation over, which writes the four locals
        // and the loop's number once.
        assert_eq!(count("call ptr %builtin"), 6, "{ir}");
        assert_eq!(count("\nosr_transfer:"), 1, "{ir}");
        assert_eq!(count("= alloca [5 x i128]"), 1, "{ir}");
        let transfer = &ir[ir.find("\nosr_transfer:").unwrap()..];
        let transfer = &transfer[..transfer.find("\n\n").unwrap_or(transfer.len())];
        assert_eq!(transfer.matches("store ").count(), 5, "{transfer}");
        assert!(transfer.contains("phi ptr"), "{transfer}");
    }

    /// An OSR variant also enters at the function's other top-level loops
    /// and at the target's siblings in its nest (loops enclosed only by
    /// loops of the target's nest), through aliases of the same code, and
    /// every loop still has its own header.
    #[test]
    fn osr_variants_enter_at_top_level_loops_and_siblings() {
        let wat = r#"(module
          (func (param $n i32) (result i32) (local $i i32) (local $j i32)
            (loop $t0 (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $t0 (i32.lt_u (local.get $i) (local.get $n))))
            (loop $o
              (loop $a (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                (br_if $a (i32.gt_u (local.get $i) (local.get $n))))
              (loop $b
                (loop $c (local.set $j (i32.add (local.get $j) (i32.const 3)))
                  (br_if $c (i32.lt_u (local.get $j) (local.get $i))))
                (br_if $b (i32.lt_u (local.get $j) (local.get $n))))
              (br_if $o (i32.lt_u (local.get $i) (local.get $n))))
            (loop $t1 (local.set $j (i32.sub (local.get $j) (i32.const 1)))
              (br_if $t1 (i32.ne (local.get $j) (i32.const 0))))
            (local.get $j)))"#;
        // OSR loops: 0 t0, 1 o, 2 a, 3 b, 4 c, 5 t1.
        for (target, mut entries) in [
            (0, vec![1, 5]),
            (1, vec![0, 5]),
            (2, vec![0, 1, 3, 5]),
            (3, vec![0, 1, 2, 5]),
            (4, vec![0, 1, 2, 3, 5]),
        ] {
            translated(wat, Some(target), |module, _| {
                let f = module.get_first_function().unwrap();
                let ir = module.print_to_string().to_string();
                assert!(loops_keep_their_headers(f), "entered at {target}:\n{ir}");
                let mut aliases: Vec<u32> = ir
                    .lines()
                    .filter(|l| l.contains(" = alias "))
                    .filter_map(|l| l.split("_osr_").nth(1)?.split(' ').next()?.parse().ok())
                    .collect();
                aliases.sort();
                entries.sort();
                assert_eq!(aliases, entries, "entered at {target}:\n{ir}");
            });
        }
    }

    /// A loop unrolled three times in the wasm (clang's form of k_mm2's
    /// `T[j] += a * B[j]`) is vectorised as a stride-3 group; the JIT
    /// pipeline must fold the shuffles around it, since every lane does the
    /// same thing (they made k_mm2 1.7x slower at -O1 than at -O3).
    #[test]
    fn jit_pipeline_leaves_no_shuffles_in_a_loop_unrolled_in_the_wasm() {
        let ir = jit_ir(
            r#"(module (memory 1)
              (func (param $t i32) (param $b i32) (param $a f64) (local $j i32)
                (loop $l
                  (f64.store (i32.add (local.get $t) (local.get $j))
                    (f64.add (f64.load (i32.add (local.get $t) (local.get $j)))
                      (f64.mul (local.get $a) (f64.load (i32.add (local.get $b) (local.get $j))))))
                  (f64.store offset=8 (i32.add (local.get $t) (local.get $j))
                    (f64.add (f64.load offset=8 (i32.add (local.get $t) (local.get $j)))
                      (f64.mul (local.get $a) (f64.load offset=8 (i32.add (local.get $b) (local.get $j))))))
                  (f64.store offset=16 (i32.add (local.get $t) (local.get $j))
                    (f64.add (f64.load offset=16 (i32.add (local.get $t) (local.get $j)))
                      (f64.mul (local.get $a) (f64.load offset=16 (i32.add (local.get $b) (local.get $j))))))
                  (br_if $l (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 24)))
                                    (i32.const 7200))))))"#,
        );
        let vector_muls = ir.lines().filter(|l| l.contains("fmul <")).count();
        assert!(vector_muls > 0, "the loop was not vectorised:\n{ir}");
        // Splats (an all-zero mask) are broadcasts of `a`, not permutes.
        let permutes = ir
            .lines()
            .filter(|l| l.contains("shufflevector") && !l.ends_with("zeroinitializer"))
            .count();
        assert_eq!(permutes, 0, "permutes left in the vector loop:\n{ir}");
    }

    /// Code for this machine keeps its features and adds the tuning of
    /// [`HOST_TUNING`] (without which k_syrk's column walk became AVX-512
    /// gathers, slower than scalar loads); code for a generic CPU gets none.
    #[test]
    fn host_code_prefers_no_gathers() {
        let host = CompilerConfig {
            target_cpu: TargetCpu::Native,
            ..Default::default()
        };
        let tm = target_machine(&host).unwrap();
        let features = tm.get_feature_string().to_str().unwrap().to_string();
        assert!(features.ends_with(",+prefer-no-gather"), "{features}");
        let own = TargetMachine::get_host_cpu_features();
        assert!(features.starts_with(own.to_str().unwrap()), "{features}");
        let cpu = tm.get_cpu().to_str().unwrap().to_string();
        assert_eq!(cpu, TargetMachine::get_host_cpu_name().to_str().unwrap());
        let generic = CompilerConfig {
            target_cpu: TargetCpu::Generic,
            ..Default::default()
        };
        let tm = target_machine(&generic).unwrap();
        assert_eq!(tm.get_feature_string().to_str().unwrap(), "");
    }

    /// The object of the one function of `wat`, translated afresh (in a
    /// context of its own) and emitted by `machine` at `config`'s level.
    fn object_of(wat: &str, machine: &Machine, config: &CompilerConfig) -> Vec<u8> {
        translated(wat, None, |module, _| {
            emit_object(module, machine, config, false).unwrap()
        })
    }

    /// A machine runs its one code-generation pipeline on every module it
    /// emits (`object_emitter.cpp`), so nothing it wrote before may show
    /// in what it writes next: each module, emitted by a machine that has
    /// emitted the others (twice over, so the same symbols come back),
    /// gives the bytes a machine of its own gives.
    #[test]
    fn a_reused_emitter_writes_what_a_fresh_one_does() {
        let wats = [
            r#"(module (memory 1)
                (func (param $n i32) (result f64) (local $s f64)
                  (loop $l
                    (local.set $s (f64.add (local.get $s)
                      (f64.load (i32.shl (local.get $n) (i32.const 3)))))
                    (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
                  (local.get $s)))"#,
            r#"(module (type $t (func (param i32) (result i32))) (table 2 funcref)
                (func (param $x i32) (result i32)
                  (if (result i32) (i32.eqz (local.get $x))
                    (then (i32.div_u (i32.const 7) (local.get $x)))
                    (else (call_indirect (type $t) (local.get $x) (i32.const 1))))))"#,
            r#"(module (global $g (mut i64) (i64.const 0))
                (func (param $a i64) (param $b i64)
                  (block $b0 (block $b1 (block $b2
                    (br_table $b0 $b1 $b2 (i32.wrap_i64 (local.get $a))))
                    (global.set $g (i64.rotl (local.get $a) (local.get $b))))
                    (global.set $g (i64.popcnt (local.get $b))))
                  (global.set $g (i64.add (global.get $g) (local.get $a)))))"#,
        ];
        for opt_level in [OptLevel::O0, OptLevel::O1] {
            let config = CompilerConfig {
                opt_level,
                ..Default::default()
            };
            let reused = Machine::new(&config).unwrap();
            for wat in wats.iter().chain(&wats) {
                let fresh = object_of(wat, &Machine::new(&config).unwrap(), &config);
                assert!(!fresh.is_empty());
                assert!(
                    object_of(wat, &reused, &config) == fresh,
                    "{opt_level:?}: a reused emitter wrote other bytes for\n{wat}"
                );
            }
        }
    }
}
