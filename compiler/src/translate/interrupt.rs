//! Fuel metering and epoch checks: what lets a host bound a guest's work
//! or stop it from another thread.
//!
//! Both are off unless the engine asks for them (`Instrumentation`); when
//! off, nothing here emits any code, so the default code is unchanged.
//!
//! **Fuel.** Each operator costs one unit (structural ones, `nop` and `drop`
//! cost nothing). The translator adds the costs of straight-line code at
//! compile time and subtracts the sum from a local counter at each control
//! operator (so a block costs one subtraction, not one per operator). The
//! counter is an `alloca` that `mem2reg` turns into a register: it is
//! loaded from `VMRuntimeLimits::fuel` on entry, written back before every
//! call (the callee, or a host function, uses the store's value), reloaded
//! after it, and written back before returns and traps.
//!
//! **Epochs.** A check loads the engine's epoch counter and the store's
//! deadline (volatile loads: another thread changes them, and a loop must
//! see the change) and traps with `DeadlineExceeded` once the counter has
//! reached the deadline. The `Trap` builtin turns that into `Interrupted`
//! when the host asked for an interruption. The entry of a function that
//! makes calls checks every time; a loop header only counts down a
//! register and checks every
//! [`EPOCH_LOOP_INTERVAL`] iterations: two volatile loads in a hot inner
//! loop cost a third of its speed, a decrement almost nothing, and a few
//! thousand iterations of one function's loop take microseconds.
//!
//! What must stay true: both checks run at every loop header (the epoch's
//! at least every [`EPOCH_LOOP_INTERVAL`] iterations) and at the entry of
//! every function that makes calls, so any unbounded execution passes one:
//! it repeats a loop, or a cycle of calls, and every function on a cycle
//! makes a call. A function with neither loops nor calls runs a bounded
//! number of operators and is not checked at all. A trap block writes the
//! counter back (`emit_trap_call`), so after a trap the store's fuel is
//! exact up to the operators of the current straight-line stretch.

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;
use wasabi_runtime::vmcontext::{TrapCode, VMRuntimeLimits, VMCTX_OFFSET_LIMITS};
use wasmparser::Operator;

/// The per-function state of the instrumentation.
#[derive(Default)]
pub(crate) struct Meter<'ctx> {
    /// The store's `VMRuntimeLimits`, loaded in the entry block.
    pub limits: Option<PointerValue<'ctx>>,
    /// The local fuel counter (when metering fuel).
    pub fuel: Option<PointerValue<'ctx>>,
    /// Cost of the operators translated since the last subtraction.
    pub pending: u64,
    /// The engine's epoch counter (when checking epochs).
    pub epoch_counter: Option<PointerValue<'ctx>>,
    /// Loop iterations left before loop headers check the epoch again.
    pub epoch_countdown: Option<PointerValue<'ctx>>,
}

/// How many loop iterations (of the loops of one function activation) may
/// pass between two epoch checks. Bounds the delay of an interruption to
/// this many iterations of a loop with no call in it.
pub(crate) const EPOCH_LOOP_INTERVAL: u64 = 1024;

/// What an operator costs in fuel.
pub(crate) fn fuel_cost(op: &Operator<'_>) -> u64 {
    use Operator::*;
    match op {
        Nop | Drop | Block { .. } | Loop { .. } | Else | End | Unreachable | Return => 0,
        _ => 1,
    }
}

/// Whether control may leave the straight-line stretch at `op`: pending
/// fuel is subtracted before it is translated.
pub(crate) fn ends_stretch(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        Block { .. }
            | Loop { .. }
            | If { .. }
            | Else
            | End
            | Br { .. }
            | BrIf { .. }
            | BrTable { .. }
            | Return
            | Call { .. }
            | CallIndirect { .. }
            | Unreachable
    )
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// Sets up the instrumentation in the entry block (the limits pointer,
    /// the fuel counter). The entry checks come later, at the end of the
    /// entry block, and only in functions that make calls (see
    /// `FuncTranslator::translate`).
    pub(super) fn begin_instrumentation(&mut self) -> BResult<()> {
        let inst = self.env.instrument;
        if !inst.fuel && !inst.epoch {
            return Ok(());
        }
        let env = self.env;
        let vmctx = self.vmctx;
        let (limits, fuel, counter) = self.in_entry(|| {
            let limits = env.load_ptr(vmctx, VMCTX_OFFSET_LIMITS, "limits")?;
            let fuel = if inst.fuel {
                let slot = env.builder.build_alloca(env.i64(), "fuel")?;
                let v = env.load(env.i64(), limits, VMRuntimeLimits::OFFSET_FUEL, "fuel0")?;
                env.builder.build_store(slot, v)?;
                Some(slot)
            } else {
                None
            };
            let counter = if inst.epoch {
                let ptr =
                    env.load_ptr(limits, VMRuntimeLimits::OFFSET_EPOCH_COUNTER, "epoch_ctr")?;
                let countdown = env.builder.build_alloca(env.i32(), "epoch_countdown")?;
                env.builder
                    .build_store(countdown, env.i32().const_int(EPOCH_LOOP_INTERVAL, false))?;
                Some((ptr, countdown))
            } else {
                None
            };
            Ok((limits, fuel, counter))
        })?;
        self.meter = Meter {
            limits: Some(limits),
            fuel,
            pending: 0,
            epoch_counter: counter.map(|c| c.0),
            epoch_countdown: counter.map(|c| c.1),
        };
        Ok(())
    }

    /// Adds the cost of `op`, and subtracts what is pending when `op` ends
    /// a straight-line stretch. Called before `op` is translated, in
    /// reachable code.
    pub(super) fn meter_operator(&mut self, op: &Operator<'_>) -> BResult<()> {
        if self.meter.fuel.is_none() {
            return Ok(());
        }
        self.meter.pending += fuel_cost(op);
        if ends_stretch(op) {
            self.flush_fuel()?;
        }
        Ok(())
    }

    /// Subtracts the pending cost from the local counter.
    fn flush_fuel(&mut self) -> BResult<()> {
        let Some(slot) = self.meter.fuel else {
            return Ok(());
        };
        let n = std::mem::take(&mut self.meter.pending);
        if n == 0 {
            return Ok(());
        }
        let env = self.env;
        let v = env
            .builder
            .build_load(env.i64(), slot, "fuel")?
            .into_int_value();
        let v = env
            .builder
            .build_int_sub(v, env.i64().const_int(n, false), "fuel")?;
        env.builder.build_store(slot, v)?;
        Ok(())
    }

    /// Forgets pending cost of code that turned out unreachable.
    pub(super) fn meter_unreachable(&mut self) {
        self.meter.pending = 0;
    }

    /// The fuel and epoch checks: traps when fuel is below zero or the
    /// epoch deadline is reached. At a loop header (`in_loop`) the epoch is
    /// checked only every [`EPOCH_LOOP_INTERVAL`] iterations.
    pub(super) fn check_interrupts(&mut self, in_loop: bool) -> BResult<()> {
        let env = self.env;
        if let Some(slot) = self.meter.fuel {
            let v = env
                .builder
                .build_load(env.i64(), slot, "fuel")?
                .into_int_value();
            let out = env.builder.build_int_compare(
                IntPredicate::SLT,
                v,
                env.i64().const_zero(),
                "out_of_fuel",
            )?;
            self.trap_if(out, TrapCode::OutOfFuel)?;
        }
        match (self.meter.epoch_countdown, in_loop) {
            (None, _) => Ok(()),
            (Some(_), false) => self.check_epoch(),
            (Some(countdown), true) => {
                let c = env
                    .builder
                    .build_load(env.i32(), countdown, "countdown")?
                    .into_int_value();
                let c = env
                    .builder
                    .build_int_sub(c, env.i32().const_int(1, false), "countdown")?;
                env.builder.build_store(countdown, c)?;
                let due = env.builder.build_int_compare(
                    IntPredicate::SLT,
                    c,
                    env.i32().const_zero(),
                    "epoch_due",
                )?;
                let due = self.expect_false(due)?;
                let poll = self.append_block("epoch_poll");
                let cont = self.append_block("epoch_ok");
                env.builder.build_conditional_branch(due, poll, cont)?;
                env.builder.position_at_end(poll);
                env.builder
                    .build_store(countdown, env.i32().const_int(EPOCH_LOOP_INTERVAL, false))?;
                self.check_epoch()?;
                env.builder.build_unconditional_branch(cont)?;
                env.builder.position_at_end(cont);
                Ok(())
            }
        }
    }

    /// Traps when the engine's epoch has reached the store's deadline.
    fn check_epoch(&mut self) -> BResult<()> {
        let env = self.env;
        if let (Some(counter), Some(limits)) = (self.meter.epoch_counter, self.meter.limits) {
            let now = self.volatile_load_i64(counter, "epoch")?;
            let deadline_ptr = env.gep(limits, VMRuntimeLimits::OFFSET_EPOCH_DEADLINE)?;
            let deadline = self.volatile_load_i64(deadline_ptr, "deadline")?;
            let reached = env.builder.build_int_compare(
                IntPredicate::UGE,
                now,
                deadline,
                "deadline_reached",
            )?;
            self.trap_if(reached, TrapCode::DeadlineExceeded)?;
        }
        Ok(())
    }

    fn volatile_load_i64(&self, p: PointerValue<'ctx>, name: &str) -> BResult<IntValue<'ctx>> {
        let v = self.env.builder.build_load(self.env.i64(), p, name)?;
        use inkwell::values::AnyValue;
        v.as_any_value_enum()
            .into_int_value()
            .as_instruction()
            .expect("a load is an instruction")
            .set_volatile(true)
            .ok();
        Ok(v.into_int_value())
    }

    /// Writes the local fuel counter back to the store (before calls,
    /// returns and traps).
    pub(super) fn fuel_to_store(&self) -> BResult<()> {
        if let (Some(slot), Some(limits)) = (self.meter.fuel, self.meter.limits) {
            let env = self.env;
            let v = env.builder.build_load(env.i64(), slot, "fuel")?;
            let p = env.gep(limits, VMRuntimeLimits::OFFSET_FUEL)?;
            env.builder.build_store(p, v)?;
        }
        Ok(())
    }

    /// Reloads the local fuel counter from the store (after calls).
    pub(super) fn fuel_from_store(&self) -> BResult<()> {
        if let (Some(slot), Some(limits)) = (self.meter.fuel, self.meter.limits) {
            let env = self.env;
            let v = env.load(env.i64(), limits, VMRuntimeLimits::OFFSET_FUEL, "fuel")?;
            env.builder.build_store(slot, v)?;
        }
        Ok(())
    }
}
