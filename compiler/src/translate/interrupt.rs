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
//! counter is an `alloca` that `mem2reg` turns into a register (from -O1
//! on): it is
//! loaded from `VMRuntimeLimits::fuel` on entry, written back before every
//! call (the callee, or a host function, uses the store's value), reloaded
//! after it, and written back before returns and traps.
//!
//! **Epochs.** A loop header's check is one volatile byte load from the
//! store's poll word (`VMRuntimeLimits::poll`, loaded once in the entry
//! block), whose value is ignored: the host stops the store by making that
//! page unreadable, and the signal handler turns the fault into the trap
//! (`wasabi_runtime::interrupt`). No compare, no branch, no counter kept
//! across a loop. A function entry needs nothing more than its stack check
//! (`FuncTranslator::emit_stack_check`): to stop the store the host also
//! raises the stack limit to `usize::MAX`, and the failed check calls the
//! `StackLimitHit` builtin, which raises the trap.
//!
//! What must stay true: both kinds of checks run at every loop header and
//! at the entry of every function that makes calls (the stack check is
//! emitted there whatever the configuration), so any unbounded execution
//! passes one: it repeats a loop, or a cycle of calls, and every function
//! on a cycle makes a call. One exception, bounded: the bounds-versioning
//! pass (`crate::passes`) drops the poll (marked `!wasabi.poll`) from the
//! in-bounds copy of an innermost loop without calls, and runs that copy
//! only for fewer than 2^16 iterations, so the time between two polls stays
//! bounded; the fuel check stays in every copy. A function with neither loops nor calls runs a
//! bounded number of operators and is not checked at all. A trap block
//! writes the counter back (`emit_trap_call`), so after a trap the store's
//! fuel is exact up to the operators of the current straight-line stretch.

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::values::PointerValue;
use inkwell::IntPredicate;
use wasabi_runtime::vmcontext::{TrapCode, VMRuntimeLimits, VMCTX_OFFSET_LIMITS};
use wasmparser::Operator;

/// Metadata kind of an epoch poll load (an empty node).
pub(crate) const POLL_KIND: &str = "wasabi.poll";

/// The per-function state of the instrumentation.
#[derive(Default)]
pub(crate) struct Meter<'ctx> {
    /// The store's `VMRuntimeLimits`, loaded in the entry block.
    pub limits: Option<PointerValue<'ctx>>,
    /// The local fuel counter (when metering fuel).
    pub fuel: Option<PointerValue<'ctx>>,
    /// Cost of the operators translated since the last subtraction.
    pub pending: u64,
    /// The store's poll word (when checking epochs).
    pub poll: Option<PointerValue<'ctx>>,
}

impl<'ctx> Meter<'ctx> {
    /// The same counters, for another copy of the body in the same
    /// function (an OSR variant's), with nothing pending.
    pub fn shared(&self) -> Meter<'ctx> {
        Meter {
            limits: self.limits,
            fuel: self.fuel,
            pending: 0,
            poll: self.poll,
        }
    }
}

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
        let (limits, fuel, poll) = self.in_entry(|| {
            let limits = env.load_ptr(vmctx, VMCTX_OFFSET_LIMITS, "limits")?;
            let fuel = if inst.fuel {
                let slot = env.builder.build_alloca(env.i64(), "fuel")?;
                let v = env.load(env.i64(), limits, VMRuntimeLimits::OFFSET_FUEL, "fuel0")?;
                env.builder.build_store(slot, v)?;
                Some(slot)
            } else {
                None
            };
            let poll = match inst.epoch {
                true => Some(env.load_ptr(limits, VMRuntimeLimits::OFFSET_POLL, "poll")?),
                false => None,
            };
            Ok((limits, fuel, poll))
        })?;
        self.meter = Meter {
            limits: Some(limits),
            fuel,
            pending: 0,
            poll,
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

    /// The checks of a loop header: fuel, and the epoch's poll.
    pub(super) fn check_interrupts(&mut self) -> BResult<()> {
        self.check_fuel()?;
        if let Some(poll) = self.meter.poll {
            let env = self.env;
            let byte = env.builder.build_load(env.i8(), poll, "poll")?;
            let load = byte
                .into_int_value()
                .as_instruction()
                .expect("a load is an instruction");
            load.set_volatile(true).expect("a load can be volatile");
            // Marked for the bounds-versioning pass, which drops it from
            // short loops' in-bounds copies (see the module docs).
            env.mark(load, POLL_KIND);
        }
        Ok(())
    }

    /// Traps when fuel is below zero (loop headers, and the entries of
    /// functions that make calls).
    pub(super) fn check_fuel(&mut self) -> BResult<()> {
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
        Ok(())
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
