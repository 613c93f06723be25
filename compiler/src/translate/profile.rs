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
//! code arrives do not ask again.
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
//! at its next call. Once the builtin has the loop's OSR entry (an optimised variant
//! of the function, `symbols::func_osr`, whose entry block loads every
//! local from a buffer and branches straight to that loop's header) it
//! returns its address; the baseline code writes its locals into a buffer,
//! calls the entry and returns what it returns. The baseline frame stays
//! below the optimised one until the function returns (one frame, once).
//!
//! **Loop nests.** Branching into an inner loop's header from the entry
//! block enters every enclosing loop in its middle: their cycles become
//! irreducible, the inner loop's start values come from the buffer, and
//! LLVM optimises little (matmul's kernel, entered at its innermost loop:
//! "could not determine number of loop iterations", scalar, 3-4x slower
//! than at `-O1`). So a loop nested in OSR loops asks for the entry at
//! the outermost of them (its nest's *root*); the runtime compiles it and,
//! once it is ready, answers `OSR_ROOT_READY`: the baseline code sets a
//! local flag to that loop's number, and every OSR loop header checks the
//! flag for its own number on every visit: the root's header then asks for
//! its entry and takes it there, where the nest starts afresh. A root whose
//! header is not reached again soon after (one pass around a long inner
//! loop; `lazy::OSR_ROOT_PATIENCE`) gets `OSR_TRY_INNER`: the activation's
//! level goes one loop further in (a local), and the nested loop asks for
//! that loop's entry the same way, down to its own.
//!
//! What must stay true: OSR loops are numbered in the order the translator
//! meets them, identically in the baseline and in the variant (the rule
//! depends only on the wasm); counters are per instance and only ever
//! written by code of that instance (plain loads and stores: a lost update
//! only delays a tier-up); the builtins may be called more than once for a
//! function or loop and must not care.

use super::FuncTranslator;
use crate::env::{BResult, ModuleEnv};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, FunctionType};
use inkwell::values::{BasicValue, BasicValueEnum, IntValue, PointerValue};
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
        let due = self.expect_false(due)?;
        let call = self.append_block("tier_up");
        let cont = self.append_block("counted");
        env.builder.build_conditional_branch(due, call, cont)?;
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

    /// Counts an iteration of a loop (`osr`: if it is an OSR loop, the OSR
    /// numbers of its enclosing OSR loops, outermost first, and its own)
    /// towards the function's next call asking for optimised code. At an
    /// OSR loop, also counts this activation's iterations and asks for the
    /// loop's OSR entry once they show the activation is long-running.
    /// Emits nothing outside the baseline tier.
    pub(super) fn count_iteration(&mut self, osr: Option<Vec<u32>>) -> BResult<()> {
        let Some(threshold) = self.env.instrument.tier_up_after else {
            return Ok(());
        };
        let env = self.env;
        let counter = env.gep(self.vmctx, env.offsets.call_count(self.func_index))?;
        increment_i32(env, counter, "count")?;
        let idx = env.i32().const_int(self.func_index as u64, false);
        let Some(nest) = osr else {
            return Ok(());
        };
        let l = *nest.last().expect("a nest ends with its loop");
        // This activation's iterations, from 0 at its entry.
        let slot = self.entry_slot(|t| &mut t.osr_iterations, "osr_iterations")?;
        let it = increment_i32(env, slot, "iterations")?;
        // it >= after and (it - after) % interval == 0
        let after = env.i32().const_int(osr_after(threshold) as u64, false);
        let reached =
            env.builder
                .build_int_compare(IntPredicate::UGE, it, after, "long_running")?;
        let since = env.builder.build_int_sub(it, after, "")?;
        let phase =
            env.builder
                .build_and(since, env.i32().const_int(OSR_POLL_INTERVAL - 1, false), "")?;
        let on_beat =
            env.builder
                .build_int_compare(IntPredicate::EQ, phase, env.i32().const_zero(), "")?;
        let osr_due = env.builder.build_and(reached, on_beat, "osr_due")?;
        // Also go when a loop nested in this one found its entry ready.
        let go = self.entry_slot(|t| &mut t.osr_go, "osr_go")?;
        let v = env
            .builder
            .build_load(env.i32(), go, "go")?
            .into_int_value();
        let mine = env.i32().const_int(l as u64 + 1, false);
        let here = env
            .builder
            .build_int_compare(IntPredicate::EQ, v, mine, "go_here")?;
        let osr_due = env.builder.build_or(osr_due, here, "osr_due")?;
        let osr_due = self.expect_false(osr_due)?;
        let ask = self.append_block("osr_ask");
        let cont = self.append_block("osr_counted");
        env.builder.build_conditional_branch(osr_due, ask, cont)?;
        env.builder.position_at_end(ask);
        // Where to enter: the loop `level` levels below the nest's root
        // (the root first; one level further in each time the runtime says
        // the target's header is not coming), this loop itself at the end.
        // Taking its own entry, a target clears the go flag.
        let level_slot = self.entry_slot(|t| &mut t.osr_level, "osr_level")?;
        let level = env
            .builder
            .build_load(env.i32(), level_slot, "level")?
            .into_int_value();
        let target_of = |i: usize| -> (u64, u64) {
            let t = nest[i];
            (
                wasabi_runtime::lazy::osr_loop_arg(l, t) as u64,
                t as u64 + 1,
            )
        };
        let (arg0, go0) = target_of(nest.len() - 1);
        let mut arg = env.i32().const_int(arg0, false);
        let mut go_value = env.i32().const_int(go0, false);
        for i in (0..nest.len() - 1).rev() {
            let (a, g) = target_of(i);
            let at = env.builder.build_int_compare(
                IntPredicate::EQ,
                level,
                env.i32().const_int(i as u64, false),
                "",
            )?;
            arg = env
                .builder
                .build_select(at, env.i32().const_int(a, false), arg, "osr_arg")?
                .into_int_value();
            go_value = env
                .builder
                .build_select(at, env.i32().const_int(g, false), go_value, "osr_go")?
                .into_int_value();
        }
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
        let inner = self.append_block("osr_try_inner");
        env.builder.build_switch(
            code,
            jump,
            &[
                (env.i64().const_zero(), cont),
                (
                    env.i64()
                        .const_int(wasabi_runtime::lazy::OSR_ROOT_READY as u64, false),
                    ready,
                ),
                (
                    env.i64()
                        .const_int(wasabi_runtime::lazy::OSR_TRY_INNER as u64, false),
                    inner,
                ),
            ],
        )?;
        env.builder.position_at_end(ready);
        env.builder.build_store(go, go_value)?;
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(inner);
        let next = env
            .builder
            .build_int_add(level, env.i32().const_int(1, false), "")?;
        env.builder.build_store(level_slot, next)?;
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(jump);
        env.builder.build_store(go, env.i32().const_zero())?;
        self.enter_osr(entry)?;
        env.builder.position_at_end(cont);
        Ok(())
    }

    /// The i32 local slot `field` holds, made (zero at the function's
    /// entry) on first use.
    fn entry_slot(
        &mut self,
        field: impl Fn(&mut Self) -> &mut Option<PointerValue<'ctx>>,
        name: &str,
    ) -> BResult<PointerValue<'ctx>> {
        if let Some(slot) = *field(self) {
            return Ok(slot);
        }
        let env = self.env;
        let slot = self.in_entry(|| {
            let slot = env.builder.build_alloca(env.i32(), name)?;
            env.builder.build_store(slot, env.i32().const_zero())?;
            Ok(slot)
        })?;
        *field(self) = Some(slot);
        Ok(slot)
    }

    /// Hands this activation over to the OSR entry `entry`: writes every
    /// local into a buffer, calls the entry and returns its results.
    fn enter_osr(&mut self, entry: PointerValue<'ctx>) -> BResult<()> {
        let env = self.env;
        let n = self.locals.len() as u32;
        let buf_ty = env.ctx.i128_type().array_type(n.max(1));
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
        // The entry reads the store's fuel, as a callee would.
        self.fuel_to_store()?;
        let ty = osr_type(env, self.function.get_type());
        let r = env.builder.build_indirect_call(
            ty,
            entry,
            &[self.vmctx.into(), values.into()],
            "osr",
        )?;
        match r.try_as_basic_value().basic() {
            Some(v) => env.builder.build_return(Some(&v))?,
            None => env.builder.build_return(None)?,
        };
        Ok(())
    }
}
