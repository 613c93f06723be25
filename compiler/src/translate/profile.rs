//! Execution counters of the baseline tier of tiered compilation, and
//! on-stack replacement (OSR) from baseline into optimised code.
//!
//! **Counting.** With `CompilerConfig::tier_up_after = Some(n)`, every
//! function adds one to its counter in the instance's vmctx
//! (`VMOffsets::call_count`) on entry and at each loop header. Only the
//! entry asks: when a call finds the count at `n` or more, it calls the
//! `TierUp` builtin (which queues the function for the background thread
//! and returns at once; the new code is used from the function's next call
//! on) and sets the count to `i32::MIN`, so the calls before the optimised
//! code arrives do not ask again. It goes on counting from there: the
//! runtime reads how busy a queued function still is (`i32::MIN` plus its
//! executions since it asked) to rank the queue, and sets the count back to
//! zero when it drops a function gone idle, which then asks again once hot.
//!
//! The count that makes a function hot grows with its size
//! ([`hot_after`]): recompiling costs LLVM time in proportion to the
//! body, and the optimising tier is the background thread's whole work.
//! regex_bench's large functions, each just past 1,000 executions, kept
//! it busy for seconds (99 functions recompiled), while the hot small
//! ones waited in the queue; scaled, its whole run takes 11 % less (2.8 s
//! against 3.15 s, a quiet machine, 2 runs each; no benchmark program
//! got slower beyond the noise of tiered runs).
//!
//! Loop iterations count, so a function called a few times whose loops
//! make it hot is recompiled at its next call; but they never ask
//! themselves: optimised code for the function would only serve its next
//! call, and the function whose loops got it hot is often one that is
//! never called again (`main`). Its recompilation delayed the OSR entry of
//! the activation that is running (lzss: `main` first, 150 ms, then the
//! entry), which is what actually moves the work to optimised code.
//!
//! **On-stack replacement.** A function called once whose loop runs hot
//! (a kernel inlined into `main`) would never reach its next call. So at
//! the header of an *OSR loop* (a loop without parameters entered with an
//! empty operand stack: only the locals are live there) the baseline code
//! also counts the iterations of *this activation* (a local, from 0 at
//! entry) and calls `TierUpLoop` when they reach [`osr_after`]`(n)` and
//! every 1,024 after: only a long-running activation asks for an OSR
//! entry; a function that is merely called often gets its optimised code
//! at its next call.
//!
//! The header's fast path is one comparison, of the count with the next
//! count to poll at (a local, `osr_next`); everything else is out of
//! line. Baseline code is where a tiered program spends its first hundreds
//! of milliseconds, and a tight loop's header was most of its work:
//! comparing there with `after` and the interval, and keeping every
//! loop's run (below), made whole programs in baseline code alone 8-30 %
//! slower than with only the function's counter (fannkuch 1.85 s against
//! 1.43 s). With the fast path, and compares folded into their branches
//! (`FuncTranslator::branch_unlikely`), baseline code alone runs 4-11 %
//! faster (fannkuch 1.72-1.83 s -> 1.53-1.64 s, sort 1.35 -> 1.23-1.28 s,
//! lzss 1.08-1.23 -> 1.04-1.18 s).
//!
//! Once the builtin has the loop's OSR entry (an optimised variant
//! of the function, `symbols::func_osr`, whose entry block loads every
//! local from a buffer and branches straight to that loop's header) it
//! returns its address; the baseline code writes its locals (and the
//! loop's number) into a buffer, calls the entry and returns what it
//! returns. One variant also enters at the function's other top-level
//! OSR loops and at the loops beside each loop of the target's nest
//! (`FuncTranslator::enter_at_osr_loops`). The baseline frame stays
//! below the optimised one until the function returns (one frame, once).
//!
//! **Loop nests.** The loop that has run long is often not the one to
//! enter at. A loop whose runs are short (k_lcs's row loop, 12,500
//! iterations) inside one that runs long (the loop over rows) never gets
//! long itself; and the activation's count may have grown in loops whose
//! runs are over (k_lcs's string generation, before the DP). So each OSR
//! loop keeps its *current run* in locals (set at its entry: the
//! activation's count then, and its header's visits since), and a poll
//! asks for the entry of the *target*: the outermost loop of the nest
//! (the enclosing OSR loops and this one) whose run has itself reached
//! [`osr_after`] and, for an enclosing loop, whose header has come back at
//! most every `OSR_TARGET_PERIOD` iterations on average (so it comes again
//! soon: a loop in the first pass of a long body does not). No loop
//! qualifies: no ask. The outermost, because an entry into a nested loop
//! costs a copy of the nest per enclosing loop (below). Only loops nested
//! in a loop read its run's last pass and visits, so the header of a loop
//! with no OSR loop inside (the innermost, tightest ones) does not keep
//! them: the translator erases those instructions at the loop's `end`.
//!
//! For an enclosing target, once its entry is ready the runtime answers
//! `OSR_TARGET_READY`: the baseline code sets a local flag to the target's
//! number and polls at the next iteration, and from then on every OSR loop
//! header leaves its fast path and checks the flag for its own number;
//! the target's header then asks for its entry and takes it. The others
//! still ask on their usual beats: the target's loop may have been on its
//! last lap, and a loop that runs long after it needs an entry of its own
//! (which the same compilation usually holds).
//!
//! An entry at a nested loop gives the optimiser reducible code: branching
//! from the entry block straight into it would enter every enclosing loop
//! in its middle, and LLVM optimises little in irreducible cycles
//! (matmul's kernel, entered at its innermost loop: scalar, 3-4x slower).
//! The variant instead holds a copy of the body per enclosing loop, each
//! entered only at a loop header, that continue into one another
//! (`FuncTranslator::translate_osr_copies`).
//!
//! What must stay true: OSR loops are numbered in the order the translator
//! meets them, identically in the baseline and in every copy of the variant
//! (the rule depends only on the wasm); counters are per instance, written
//! by code of that instance and, to re-arm a dropped tier-up, by the
//! runtime (plain loads and stores: a lost update only delays a tier-up,
//! and a function that lost its re-arm stays in baseline code); a negative
//! count means the function has asked; the builtins may be called more than once for a
//! function or loop and must not care; a loop's header keeps its run's
//! last pass and visits whenever an OSR loop is opened inside it (they are
//! erased only from loops with none).

use super::FuncTranslator;
use crate::env::{BResult, ModuleEnv};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, FunctionType};
use inkwell::values::{BasicValue, BasicValueEnum, InstructionValue, IntValue, PointerValue};
use inkwell::IntPredicate;
use wasabi_runtime::types::ValType;
use wasabi_runtime::vmcontext::{BuiltinIndex, VM_VAL_ALIGN, VM_VAL_SIZE};

/// After [`osr_after`], how often (in iterations) a long-running OSR loop
/// asks again whether its optimised entry is ready.
const OSR_POLL_INTERVAL: u64 = 1024;

/// How many times the function's tier-up threshold one activation must
/// iterate its OSR loops before it asks for an OSR entry.
const OSR_FACTOR: u32 = 16;

/// Iterations of OSR loops after which one activation asks for an OSR
/// entry. An OSR entry is a whole optimised compilation of the function
/// for one loop; asking as soon as the function is hot (when its next call
/// will run optimised code anyway) flooded the background thread with them
/// (regex_bench: 131 asked, each 10-50 ms, queued before the tier-ups).
fn osr_after(tier_up_after: u32) -> u32 {
    tier_up_after.saturating_mul(OSR_FACTOR)
}

/// The activation's iteration count at which its OSR loops first poll:
/// [`osr_after`], or one interval on when that is 0 (the count starts at
/// 1, so it would never equal 0).
fn first_poll(tier_up_after: u32) -> u32 {
    match osr_after(tier_up_after) {
        0 => OSR_POLL_INTERVAL as u32,
        after => after,
    }
}

/// Most iterations of the activation (its loops' iterations, nested ones
/// included) one iteration of an enclosing loop may take, on average in
/// its current run, for a nested loop to ask for that loop's entry: the
/// wait for its header once the entry is ready stays short next to the
/// compilation (some 10-30 ms of baseline code, against 50-400 ms), while
/// an entry further in would cost one more copy of the nest.
const OSR_TARGET_PERIOD: u32 = 1 << 21;

/// Body bytes per step of [`hot_after`]'s scale.
const HOT_BYTES_STEP: u64 = 512;

/// Executions that make a function of `body_len` wasm bytes hot: the
/// configured threshold times the whole [`HOT_BYTES_STEP`]s in the body,
/// at least once (under 1 KB: the threshold; a 5 KB function: ten times).
/// OSR loops are not scaled ([`osr_after`]): an activation that runs long
/// is worth its entry at any size.
pub(crate) fn hot_after(tier_up_after: u32, body_len: u64) -> u32 {
    let steps = (body_len / HOT_BYTES_STEP).clamp(1, 1 << 16) as u32;
    tier_up_after.saturating_mul(steps).min(i32::MAX as u32)
}

/// Baseline tier: the locals of an OSR loop's current run (from its
/// entry to its exit): where it started and where its header last passed,
/// in units of the activation's iteration count, and how many times its
/// header has passed.
#[derive(Clone, Copy)]
pub(crate) struct LoopRun<'ctx> {
    pub start: PointerValue<'ctx>,
    pub last: PointerValue<'ctx>,
    /// How many times its header has passed in this run.
    pub visits: PointerValue<'ctx>,
}

/// Adds one to the i32 at `ptr` and returns the new value.
fn increment_i32<'ctx>(
    env: &ModuleEnv<'ctx, '_>,
    ptr: PointerValue<'ctx>,
    name: &str,
) -> BResult<IntValue<'ctx>> {
    let v = env
        .builder
        .build_load(env.i32(), ptr, name)?
        .into_int_value();
    let v = env
        .builder
        .build_int_add(v, env.i32().const_int(1, false), name)?;
    env.builder.build_store(ptr, v)?;
    Ok(v)
}

/// The type of an OSR entry of a function of type `f`: `(vmctx, locals)`
/// and the function's results.
pub(super) fn osr_type<'ctx>(
    env: &ModuleEnv<'ctx, '_>,
    f: FunctionType<'ctx>,
) -> FunctionType<'ctx> {
    let params: [BasicMetadataTypeEnum; 2] = [env.ptr_type().into(), env.ptr_type().into()];
    match f.get_return_type() {
        Some(r) => r.fn_type(&params, false),
        None => env.ctx.void_type().fn_type(&params, false),
    }
}

/// The slot of local `i` in an OSR buffer.
fn osr_slot<'ctx>(
    env: &ModuleEnv<'ctx, '_>,
    values: PointerValue<'ctx>,
    i: usize,
) -> BResult<PointerValue<'ctx>> {
    env.gep(values, i as u32 * VM_VAL_SIZE)
}

/// Loads which OSR loop the activation enters at: an i32 in the slot
/// after the `num_locals` locals of an OSR buffer (see `enter_osr`).
pub(super) fn load_osr_loop<'ctx>(
    env: &ModuleEnv<'ctx, '_>,
    values: PointerValue<'ctx>,
    num_locals: usize,
) -> BResult<IntValue<'ctx>> {
    let p = osr_slot(env, values, num_locals)?;
    Ok(env
        .builder
        .build_load(env.i32(), p, "osr_loop")?
        .into_int_value())
}

/// Loads local `i` (of type `t`) from an OSR buffer.
pub(super) fn load_osr_local<'ctx>(
    env: &ModuleEnv<'ctx, '_>,
    values: PointerValue<'ctx>,
    i: usize,
    t: ValType,
) -> BResult<BasicValueEnum<'ctx>> {
    let p = osr_slot(env, values, i)?;
    Ok(env.builder.build_load(env.val_type(t), p, "osr_local")?)
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// Counts a call of this function and, when the count has reached its
    /// threshold ([`hot_after`]), asks for its optimised code (see the module docs). Emits
    /// nothing outside the baseline tier.
    pub(super) fn count_entry(&mut self) -> BResult<()> {
        let Some(threshold) = self.env.instrument.tier_up_after else {
            return Ok(());
        };
        let env = self.env;
        let counter = env.gep(self.vmctx, env.offsets.call_count(self.func_index))?;
        let n = increment_i32(env, counter, "count")?;
        let hot = hot_after(threshold, self.body_len);
        let threshold_v = env.i32().const_int(hot as u64, false);
        let due =
            env.builder
                .build_int_compare(IntPredicate::SGE, n, threshold_v, "tier_up_due")?;
        let call = self.append_block("tier_up");
        let cont = self.append_block("counted");
        self.branch_unlikely(due, call, cont)?;
        env.builder.position_at_end(call);
        let idx = env.i32().const_int(self.func_index as u64, false);
        env.call_builtin(
            self.vmctx,
            BuiltinIndex::TierUp,
            &[self.vmctx.into(), idx.into()],
        )?;
        // Asked once: the count restarts far below the threshold.
        env.builder
            .build_store(counter, env.i32().const_int(i32::MIN as u32 as u64, false))?;
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(cont);
        Ok(())
    }

    /// Baseline tier, at the entry of an OSR loop: the loop's run locals
    /// (made now), its start set to this activation's iteration count.
    /// `None` outside the baseline tier.
    pub(super) fn start_loop_run(&mut self) -> BResult<Option<LoopRun<'ctx>>> {
        if self.env.instrument.tier_up_after.is_none() {
            return Ok(None);
        }
        let env = self.env;
        let iterations = self.entry_slot(|t| &mut t.osr_iterations, "osr_iterations", 0)?;
        let run = self.in_entry(|| {
            let slot = |name| -> BResult<PointerValue<'ctx>> {
                let slot = env.builder.build_alloca(env.i32(), name)?;
                env.builder.build_store(slot, env.i32().const_zero())?;
                Ok(slot)
            };
            Ok(LoopRun {
                start: slot("osr_run_start")?,
                last: slot("osr_run_last")?,
                visits: slot("osr_run_visits")?,
            })
        })?;
        let now = env
            .builder
            .build_load(env.i32(), iterations, "iterations")?;
        env.builder.build_store(run.start, now)?;
        env.builder
            .build_store(run.visits, env.i32().const_zero())?;
        Ok(Some(run))
    }

    /// Counts an iteration of a loop towards the function's next call
    /// asking for optimised code. At an OSR loop (`osr`: the nest's OSR
    /// loops, outermost first and this one last, each with its run's
    /// locals from [`Self::start_loop_run`]) also counts this activation's
    /// iterations, and once they show it is long-running asks for the OSR
    /// entry of the innermost loop of the nest whose current run is long
    /// and whose header comes back (see the module docs). Emits nothing
    /// outside the baseline tier.
    pub(super) fn count_iteration(
        &mut self,
        osr: Option<Vec<(u32, LoopRun<'ctx>)>>,
    ) -> BResult<Vec<InstructionValue<'ctx>>> {
        let Some(threshold) = self.env.instrument.tier_up_after else {
            return Ok(Vec::new());
        };
        let env = self.env;
        let counter = env.gep(self.vmctx, env.offsets.call_count(self.func_index))?;
        increment_i32(env, counter, "count")?;
        let idx = env.i32().const_int(self.func_index as u64, false);
        let Some(mut nest) = osr else {
            return Ok(Vec::new());
        };
        let (l, own) = *nest.last().expect("a nest ends with its loop");
        // Only loops the builtin's argument can name (`osr_loop_arg`).
        nest.retain(|&(k, _)| k == l || (l <= 0xffff && k <= 0x7fff));
        let i32t = env.i32();
        let after = i32t.const_int(osr_after(threshold) as u64, false);
        // This activation's iterations, from 0 at its entry.
        let slot = self.entry_slot(|t| &mut t.osr_iterations, "osr_iterations", 0)?;
        let it = increment_i32(env, slot, "iterations")?;
        // The run's `last` and `visits`, for loops nested in this one
        // (erased at the loop's end if there are none).
        let mut bookkeeping = vec![env.builder.build_store(own.last, it)?];
        let visits = env
            .builder
            .build_load(i32t, own.visits, "visits")?
            .into_int_value();
        let more = env
            .builder
            .build_int_add(visits, i32t.const_int(1, false), "visits")?;
        bookkeeping.push(visits.as_instruction().expect("a load"));
        bookkeeping.push(more.as_instruction().expect("an add"));
        bookkeeping.push(env.builder.build_store(own.visits, more)?);
        // The fast path: one comparison. `next` is `after`, then every
        // `OSR_POLL_INTERVAL` iterations from there (`it >= after` and
        // `(it - after) % interval == 0`), or the next iteration while a
        // loop waits for its header to take a ready entry (`go`).
        let next_slot = self.entry_slot(
            |t| &mut t.osr_next,
            "osr_next",
            first_poll(threshold) as u64,
        )?;
        let next = env
            .builder
            .build_load(i32t, next_slot, "next")?
            .into_int_value();
        let due = env
            .builder
            .build_int_compare(IntPredicate::EQ, it, next, "osr_due")?;
        let poll = self.append_block("osr_poll");
        let ask = self.append_block("osr_ask");
        let cont = self.append_block("osr_counted");
        self.branch_unlikely(due, poll, cont)?;
        env.builder.position_at_end(poll);
        // A loop nested in an enclosing one found that loop's entry ready:
        // only its header goes on from here; the others poll again at the
        // next iteration.
        let go = self.entry_slot(|t| &mut t.osr_go, "osr_go", 0)?;
        let v = env.builder.build_load(i32t, go, "go")?.into_int_value();
        let mine = i32t.const_int(l as u64 + 1, false);
        let here = env
            .builder
            .build_int_compare(IntPredicate::EQ, v, mine, "go_here")?;
        let flagged =
            env.builder
                .build_int_compare(IntPredicate::NE, v, i32t.const_zero(), "go_set")?;
        let elsewhere =
            env.builder
                .build_and(flagged, env.builder.build_not(here, "")?, "go_elsewhere")?;
        let soon = env
            .builder
            .build_int_add(it, i32t.const_int(1, false), "")?;
        let beat = env
            .builder
            .build_int_add(it, i32t.const_int(OSR_POLL_INTERVAL, false), "")?;
        let then = env.builder.build_select(elsewhere, soon, beat, "next")?;
        env.builder.build_store(next_slot, then)?;
        // While waiting, a header still asks on the beats it would have
        // polled at anyway (`it >= after` and `(it - after) % interval ==
        // 0`): the target's header may never come again (its loop was on
        // its last lap), and a loop run long after it needs its own entry.
        let reached = env
            .builder
            .build_int_compare(IntPredicate::UGE, it, after, "")?;
        let phase = env.builder.build_and(
            env.builder.build_int_sub(it, after, "")?,
            i32t.const_int(OSR_POLL_INTERVAL - 1, false),
            "",
        )?;
        let at_zero =
            env.builder
                .build_int_compare(IntPredicate::EQ, phase, i32t.const_zero(), "")?;
        let on_beat = env.builder.build_and(reached, at_zero, "on_beat")?;
        let only_wait =
            env.builder
                .build_and(elsewhere, env.builder.build_not(on_beat, "")?, "")?;
        env.builder.build_conditional_branch(only_wait, cont, ask)?;
        env.builder.position_at_end(ask);
        // The target: this loop when its header was flagged, else the
        // outermost loop of the nest whose current run (nested loops'
        // iterations included) has itself reached `after` and, for an
        // enclosing loop, whose header comes back at most every
        // `OSR_TARGET_PERIOD` iterations (so it comes again soon). An
        // enclosing loop in the first iteration of its run, shorter than
        // that so far, is waited for (no ask yet); one whose iteration
        // under way is longer is passed over for the next loop in (a loop
        // around a long body, such as a kernel's repetitions). None (no
        // ask) when the activation's iterations were spent in runs now
        // over. The outermost: its entry needs the fewest copies of the
        // nest (see `FuncTranslator::translate_osr_copies`).
        let i64t = env.i64();
        let wide = |v: IntValue<'ctx>| env.builder.build_int_z_extend(v, i64t, "");
        let none = i32t.const_all_ones();
        let mut target = none;
        // Set by an enclosing loop in its first iteration, which may still
        // come back soon: then no loop further in is chosen (not yet).
        let mut wait = env.ctx.bool_type().const_zero();
        for &(k, run) in &nest {
            let load = |p, name| -> BResult<IntValue<'ctx>> {
                Ok(env.builder.build_load(i32t, p, name)?.into_int_value())
            };
            let started = load(run.start, "run_start")?;
            let length = env.builder.build_int_sub(it, started, "run")?;
            let long =
                env.builder
                    .build_int_compare(IntPredicate::UGE, length, after, "long_run")?;
            let period = i64t.const_int(OSR_TARGET_PERIOD as u64, false);
            let (good, undecided) = match k == l {
                true => (long, None),
                false => {
                    let last = load(run.last, "run_last")?;
                    let visits = load(run.visits, "run_visits")?;
                    // The iteration under way is not (yet) too long...
                    let current = wide(env.builder.build_int_sub(it, last, "")?)?;
                    let current =
                        env.builder
                            .build_int_compare(IntPredicate::ULE, current, period, "")?;
                    let live = env.builder.build_and(long, current, "")?;
                    // ...and the earlier ones took at most `period` on
                    // average: (last - start) / (visits - 1) <= period.
                    let again = env.builder.build_int_compare(
                        IntPredicate::UGE,
                        visits,
                        i32t.const_int(2, false),
                        "header_again",
                    )?;
                    let span = wide(env.builder.build_int_sub(last, started, "")?)?;
                    let laps = wide(env.builder.build_int_sub(
                        visits,
                        i32t.const_int(1, false),
                        "",
                    )?)?;
                    let bound = env.builder.build_int_mul(laps, period, "")?;
                    let often = env.builder.build_int_compare(
                        IntPredicate::ULE,
                        span,
                        bound,
                        "comes_often",
                    )?;
                    let good = env.builder.build_and(live, again, "")?;
                    let good = env.builder.build_and(good, often, "")?;
                    let first_lap = env.builder.build_not(again, "")?;
                    (good, Some(env.builder.build_and(live, first_lap, "")?))
                }
            };
            let none_yet = env
                .builder
                .build_int_compare(IntPredicate::EQ, target, none, "")?;
            let open = env
                .builder
                .build_and(none_yet, env.builder.build_not(wait, "")?, "")?;
            let take = env.builder.build_and(open, good, "")?;
            target = env
                .builder
                .build_select(take, i32t.const_int(k as u64, false), target, "osr_target")?
                .into_int_value();
            if let Some(undecided) = undecided {
                let stop = env.builder.build_and(open, undecided, "")?;
                wait = env.builder.build_or(wait, stop, "osr_wait")?;
            }
        }
        let target = env
            .builder
            .build_select(here, i32t.const_int(l as u64, false), target, "osr_target")?
            .into_int_value();
        let some = env
            .builder
            .build_int_compare(IntPredicate::NE, target, none, "has_target")?;
        let call = self.append_block("osr_call");
        env.builder.build_conditional_branch(some, call, cont)?;
        env.builder.position_at_end(call);
        // The builtin's argument (`osr_loop_arg`): this loop, or this loop
        // and the enclosing target.
        let own = env.builder.build_int_compare(
            IntPredicate::EQ,
            target,
            i32t.const_int(l as u64, false),
            "own",
        )?;
        let packed = env.builder.build_or(
            env.builder
                .build_left_shift(target, i32t.const_int(16, false), "")?,
            i32t.const_int((wasabi_runtime::lazy::OSR_NESTED | l) as u64, false),
            "",
        )?;
        let arg = env
            .builder
            .build_select(own, i32t.const_int(l as u64, false), packed, "osr_arg")?
            .into_int_value();
        let entry = env
            .call_builtin(
                self.vmctx,
                BuiltinIndex::TierUpLoop,
                &[self.vmctx.into(), idx.into(), arg.into()],
            )?
            .expect("TierUpLoop returns a pointer")
            .into_pointer_value();
        let code = env.builder.build_ptr_to_int(entry, env.i64(), "osr_code")?;
        let jump = self.append_block("osr");
        let ready = self.append_block("osr_target_ready");
        let some_code = self.append_block("osr_code");
        // Two branches, not a `switch`: the fast instruction selector
        // hands a switch to the slow one, once per OSR loop.
        let none = env.builder.build_int_compare(
            IntPredicate::EQ,
            code,
            env.i64().const_zero(),
            "no_entry",
        )?;
        env.builder
            .build_conditional_branch(none, cont, some_code)?;
        env.builder.position_at_end(some_code);
        let is_ready = env.builder.build_int_compare(
            IntPredicate::EQ,
            code,
            env.i64()
                .const_int(wasabi_runtime::lazy::OSR_TARGET_READY as u64, false),
            "target_ready",
        )?;
        env.builder
            .build_conditional_branch(is_ready, ready, jump)?;
        env.builder.position_at_end(ready);
        let flag = env
            .builder
            .build_int_add(target, i32t.const_int(1, false), "go")?;
        env.builder.build_store(go, flag)?;
        // `soon` (the next iteration) is the poll block's, which every
        // path here passes.
        env.builder.build_store(next_slot, soon)?;
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(jump);
        env.builder.build_store(go, i32t.const_zero())?;
        self.enter_osr(entry, l)?;
        env.builder.position_at_end(cont);
        Ok(bookkeeping)
    }

    /// The i32 local slot `field` holds, made (zero at the function's
    /// entry) on first use.
    fn entry_slot(
        &mut self,
        field: impl Fn(&mut Self) -> &mut Option<PointerValue<'ctx>>,
        name: &str,
        init: u64,
    ) -> BResult<PointerValue<'ctx>> {
        if let Some(slot) = *field(self) {
            return Ok(slot);
        }
        let env = self.env;
        let slot = self.in_entry(|| {
            let slot = env.builder.build_alloca(env.i32(), name)?;
            env.builder
                .build_store(slot, env.i32().const_int(init, false))?;
            Ok(slot)
        })?;
        *field(self) = Some(slot);
        Ok(slot)
    }

    /// Hands this activation over to the OSR entry `entry` at OSR loop
    /// `l`: branches to the function's one transfer block
    /// ([`Self::osr_transfer`]), which writes every local into a buffer,
    /// then `l` (an entry may serve several loops:
    /// `FuncTranslator::enter_at_osr_loops`), calls the entry and returns
    /// its results.
    fn enter_osr(&mut self, entry: PointerValue<'ctx>, l: u32) -> BResult<()> {
        let env = self.env;
        // The entry reads the store's fuel, as a callee would.
        self.fuel_to_store()?;
        let here = self.current_block();
        let transfer = self.osr_transfer()?;
        transfer.entry.add_incoming(&[(&entry, here)]);
        let l = env.i32().const_int(l as u64, false);
        transfer.l.add_incoming(&[(&l, here)]);
        env.builder.build_unconditional_branch(transfer.block)?;
        Ok(())
    }

    /// The function's OSR transfer block, made on first use. One per
    /// function rather than a copy of its stores per OSR loop: printf_core
    /// (44 locals, 55 OSR loops) had 2,400 of them, its baseline IR was
    /// 3.5x the size without counters and took 3.5x as long to compile,
    /// on the first call of every C program that prints. The block reads
    /// the locals from their slots, which hold their values wherever the
    /// activation branched from (the baseline tier keeps locals in memory;
    /// were they promoted, the promotion would make phis here).
    fn osr_transfer(&mut self) -> BResult<OsrTransfer<'ctx>> {
        if let Some(t) = self.osr_transfer {
            return Ok(t);
        }
        let env = self.env;
        let here = self.current_block();
        let block = self.append_block("osr_transfer");
        env.builder.position_at_end(block);
        let entry = env.builder.build_phi(env.ptr_type(), "osr_entry")?;
        let l = env.builder.build_phi(env.i32(), "osr_loop")?;
        let n = self.locals.len() as u32;
        let buf_ty = env.ctx.i128_type().array_type(n + 1);
        let values = self.in_entry(|| Ok(env.builder.build_alloca(buf_ty, "osr_locals")?))?;
        // The slots are accessed as VMVals (a v128 with align 16): give the
        // array that alignment, whatever the data layout says about i128.
        values
            .as_instruction()
            .expect("an alloca")
            .set_alignment(VM_VAL_ALIGN)
            .map_err(|e| crate::CompileError::Llvm(e.to_string()))?;
        for i in 0..self.locals.len() {
            let (slot, t) = self.locals[i];
            let v = env.builder.build_load(env.val_type(t), slot, "")?;
            if self.locals_in_memory {
                v.as_instruction_value()
                    .expect("a load is an instruction")
                    .set_volatile(true)
                    .ok();
            }
            env.builder.build_store(osr_slot(env, values, i)?, v)?;
        }
        let loop_slot = osr_slot(env, values, self.locals.len())?;
        env.builder.build_store(loop_slot, l.as_basic_value())?;
        let ty = osr_type(env, self.function.get_type());
        let r = env.builder.build_indirect_call(
            ty,
            entry.as_basic_value().into_pointer_value(),
            &[self.vmctx.into(), values.into()],
            "osr",
        )?;
        match r.try_as_basic_value().basic() {
            Some(v) => env.builder.build_return(Some(&v))?,
            None => env.builder.build_return(None)?,
        };
        env.builder.position_at_end(here);
        let t = OsrTransfer { block, entry, l };
        self.osr_transfer = Some(t);
        Ok(t)
    }
}

/// See [`FuncTranslator::osr_transfer`].
#[derive(Clone, Copy)]
pub(crate) struct OsrTransfer<'ctx> {
    pub block: inkwell::basic_block::BasicBlock<'ctx>,
    /// The OSR entry to call, and the loop it is to enter at.
    pub entry: inkwell::values::PhiValue<'ctx>,
    pub l: inkwell::values::PhiValue<'ctx>,
}
