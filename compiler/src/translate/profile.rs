//! Execution counters of the baseline tier of tiered compilation.
//!
//! With `CompilerConfig::tier_up_after = Some(n)`, every function adds one
//! to its counter in the instance's vmctx (`VMOffsets::call_count`) on
//! entry and at each loop header, and calls the `TierUp` builtin when the
//! counter reaches `n`, exactly then (the builtin asks for the optimised
//! code of the function on a background thread and returns at once; the
//! new code is used from the function's next call on). Counting loop
//! iterations too means a function called once whose loop runs hot is
//! recompiled as well, ready for its next call.
//!
//! What must stay true: counters are per instance and only ever written by
//! code of that instance (plain loads and stores: a lost update between two
//! threads only delays a tier-up); `TierUp` may be called more than once for
//! a function (another instance, or the counter wrapping) and must not care.

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::IntPredicate;
use wasabi_runtime::vmcontext::BuiltinIndex;

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// Counts one execution (an entry or a loop iteration) of this
    /// function, asking for its optimised code when the count reaches the
    /// threshold. Emits nothing outside the baseline tier.
    pub(super) fn count_execution(&mut self) -> BResult<()> {
        let Some(threshold) = self.env.instrument.tier_up_after else {
            return Ok(());
        };
        let env = self.env;
        let counter = env.gep(self.vmctx, env.offsets.call_count(self.func_index))?;
        let n = env
            .builder
            .build_load(env.i32(), counter, "count")?
            .into_int_value();
        let n = env
            .builder
            .build_int_add(n, env.i32().const_int(1, false), "count")?;
        env.builder.build_store(counter, n)?;
        let due = env.builder.build_int_compare(
            IntPredicate::EQ,
            n,
            env.i32().const_int(threshold as u64, false),
            "tier_up_due",
        )?;
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
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(cont);
        Ok(())
    }
}
