//! Control flow and calls: blocks, loops, ifs, branches, returns, direct and
//! indirect calls.
//!
//! Merge points are phis created when a frame opens; each branch adds its
//! values as incoming. A frame whose end nobody reaches leaves the code after
//! it unreachable.

use super::{Frame, FrameKind, FuncTranslator, Shared};
use crate::env::BResult;
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, PointerValue};
use inkwell::IntPredicate;
use wasabi_runtime::types::FuncType;
use wasabi_runtime::vmcontext::{TrapCode, VMFuncRef};
use wasmparser::{BlockType, BrTable};

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// Pushes a frame whose end is `next` (with `end_phis` for its results).
    /// Branches go to `next` too, except for a loop, whose branches go to
    /// `loop_header` (with phis for its params).
    fn open_frame(
        &mut self,
        kind: FrameKind,
        (params, results): (Vec<wasabi_runtime::ValType>, Vec<wasabi_runtime::ValType>),
        next: inkwell::basic_block::BasicBlock<'ctx>,
        end_phis: Vec<inkwell::values::PhiValue<'ctx>>,
        loop_header: Option<(
            inkwell::basic_block::BasicBlock<'ctx>,
            Vec<inkwell::values::PhiValue<'ctx>>,
        )>,
    ) {
        let height = self.stack.len() - params.len();
        let (br_target, br_phis) = loop_header.unwrap_or_else(|| (next, end_phis.clone()));
        let start = self.op_offset;
        let position = self.control.len();
        let mut frame = Frame {
            kind,
            br_target,
            next,
            br_phis,
            end_phis,
            height,
            params,
            results,
            else_block: None,
            else_params: Vec::new(),
            next_reached: false,
            osr_loop: None,
            osr_run: None,
            osr_bookkeeping: Vec::new(),
            osr_encloses: false,
            start,
            shared: false,
        };
        // A copy of an OSR variant (see `translate_osr_copies`).
        match self.osr_copy.frames.get(position) {
            Some(Some((at, Shared::Whole(shared)))) if *at == start => {
                // Enclosing the nest: every branch goes to the first copy's
                // blocks, and its own `next` is never used. The code
                // continues in its own blocks (which nothing reaches before
                // the copy's entry).
                for phi in &frame.end_phis {
                    phi.as_instruction().erase_from_basic_block();
                }
                // SAFETY: `next` was appended by the caller just now and
                // nothing refers to it: its phis are gone, and no branch
                // targets it yet (the frame is not on the stack).
                unsafe { next.delete().expect("unreferenced block") };
                frame.br_target = shared.br_target;
                frame.br_phis = shared.br_phis.clone();
                frame.next = shared.next;
                frame.end_phis = shared.end_phis.clone();
                frame.shared = true;
            }
            // An enclosing loop: back edges go to the copy entered there.
            Some(Some((at, Shared::Header(header, phis)))) if *at == start => {
                frame.br_target = *header;
                frame.br_phis = phis.clone();
            }
            _ => {}
        }
        if start == self.osr_copy.entry_start && position == self.osr_copy.frames.len() {
            self.osr_copy.entered = true;
        }
        self.control.push(frame);
    }

    /// Phis at the start of `bb`, leaving the builder where it was.
    fn phis_at(
        &self,
        bb: inkwell::basic_block::BasicBlock<'ctx>,
        types: &[wasabi_runtime::ValType],
    ) -> BResult<Vec<inkwell::values::PhiValue<'ctx>>> {
        let here = self.current_block();
        self.env.builder.position_at_end(bb);
        let phis = self.make_phis(types)?;
        self.env.builder.position_at_end(here);
        Ok(phis)
    }

    pub(super) fn op_unreachable(&mut self) -> BResult<()> {
        self.emit_trap_call(
            self.env
                .i32()
                .const_int(TrapCode::Unreachable as u64, false),
        )?;
        self.reachable = false;
        Ok(())
    }

    pub(super) fn op_block(&mut self, bt: BlockType) -> BResult<()> {
        let (params, results) = self.block_types(bt);
        let next = self.append_block("block_end");
        let phis = self.phis_at(next, &results)?;
        self.open_frame(FrameKind::Block, (params, results), next, phis, None);
        Ok(())
    }

    pub(super) fn op_loop(&mut self, bt: BlockType) -> BResult<()> {
        let (params, results) = self.block_types(bt);
        let header = self.append_block("loop");
        let next = self.append_block("loop_end");
        let header_phis = self.phis_at(header, &params)?;
        let end_phis = self.phis_at(next, &results)?;
        let here = self.current_block();
        let args = self.popn(params.len());
        for (phi, v) in header_phis.iter().zip(&args) {
            phi.add_incoming(&[(v, here)]);
        }
        // Only locals are live at the header of a loop without params
        // entered with an empty operand stack: there, code can switch tier.
        let is_osr_loop = params.is_empty() && self.stack.is_empty();
        let run_start = match is_osr_loop {
            true => self.start_loop_run()?,
            false => None,
        };
        self.env.builder.build_unconditional_branch(header)?;
        self.env.builder.position_at_end(header);
        // Every iteration passes here: the place to stop a runaway loop.
        self.check_interrupts()?;
        let osr_loop = is_osr_loop.then(|| {
            self.osr_loops += 1;
            self.osr_loops - 1
        });
        if let Some(l) = osr_loop.filter(|_| self.osr_target.is_some()) {
            let enclosing = self.control.iter().filter(|f| f.kind == FrameKind::Loop);
            let enclosing = enclosing.map(|f| f.start).collect();
            self.osr_met.push((l, header, enclosing));
        }
        if osr_loop.is_some() && osr_loop == self.osr_target {
            self.osr_found = Some(super::OsrTarget {
                header,
                frames: self.control.clone(),
                start: self.op_offset,
            });
        }
        // Baseline tier: its enclosing OSR loops, outermost first, and
        // itself, each with where its current run started (see `profile`).
        let nest = osr_loop.zip(run_start).map(|(l, start)| {
            let outer = self
                .control
                .iter()
                .filter_map(|f| f.osr_loop.zip(f.osr_run));
            outer.chain([(l, start)]).collect::<Vec<_>>()
        });
        if nest.is_some() {
            // Its enclosing OSR loops' runs now have a loop nested in them.
            for f in self.control.iter_mut().filter(|f| f.osr_run.is_some()) {
                f.osr_encloses = true;
            }
        }
        let bookkeeping = self.count_iteration(nest)?;
        for phi in &header_phis {
            self.push(phi.as_basic_value());
        }
        self.open_frame(
            FrameKind::Loop,
            (params, results),
            next,
            end_phis,
            Some((header, header_phis)),
        );
        if let Some(frame) = self.control.last_mut() {
            frame.osr_loop = osr_loop;
            frame.osr_run = run_start;
            frame.osr_bookkeeping = bookkeeping;
        }
        Ok(())
    }

    pub(super) fn op_if(&mut self, bt: BlockType) -> BResult<()> {
        let (params, results) = self.block_types(bt);
        let cond = self.pop_condition()?;
        let then_bb = self.append_block("then");
        let else_bb = self.append_block("else");
        let next = self.append_block("if_end");
        let phis = self.phis_at(next, &results)?;
        self.env
            .builder
            .build_conditional_branch(cond, then_bb, else_bb)?;
        self.env.builder.position_at_end(then_bb);
        let else_params = self.peekn(params.len()).to_vec();
        self.open_frame(FrameKind::If, (params, results), next, phis, None);
        let f = self.control.last_mut().unwrap();
        f.else_block = Some(else_bb);
        f.else_params = else_params;
        Ok(())
    }

    /// Sends the top-of-stack results of the current frame to its `next`
    /// block, if the current point is reachable.
    pub(super) fn fall_through_to_end(&mut self) -> BResult<()> {
        if !self.reachable {
            return Ok(());
        }
        let frame = self.control.last().unwrap();
        let n = frame.results.len();
        let values = self.peekn(n).to_vec();
        let here = self.current_block();
        let frame = self.control.last_mut().unwrap();
        for (phi, v) in frame.end_phis.iter().zip(&values) {
            phi.add_incoming(&[(v, here)]);
        }
        frame.next_reached = true;
        let next = frame.next;
        self.env.builder.build_unconditional_branch(next)?;
        Ok(())
    }

    pub(super) fn op_else(&mut self) -> BResult<()> {
        self.fall_through_to_end()?;
        let frame = self.control.last_mut().unwrap();
        frame.kind = FrameKind::Else;
        let else_bb = frame.else_block.take().expect("else without if");
        let params = std::mem::take(&mut frame.else_params);
        let height = frame.height;
        self.stack.truncate(height);
        self.stack.extend(params);
        self.env.builder.position_at_end(else_bb);
        self.reachable = true;
        self.dead_depth = 0;
        Ok(())
    }

    pub(super) fn op_end(&mut self) -> BResult<()> {
        self.fall_through_to_end()?;
        let mut frame = self.control.pop().unwrap();
        // An `if` without `else`: the false edge passes the params through.
        if let Some(else_bb) = frame.else_block.take() {
            self.env.builder.position_at_end(else_bb);
            for (phi, v) in frame.end_phis.iter().zip(&frame.else_params) {
                phi.add_incoming(&[(v, else_bb)]);
            }
            self.env.builder.build_unconditional_branch(frame.next)?;
            frame.next_reached = true;
        }
        self.stack.truncate(frame.height);
        self.dead_depth = 0;
        if !frame.osr_encloses {
            // No loop nested in it reads this loop's `last` and `visits`:
            // its header need not keep them (users first).
            for i in frame.osr_bookkeeping.iter().rev() {
                i.erase_from_basic_block();
            }
        }
        if frame.kind == FrameKind::Function {
            self.env.builder.position_at_end(frame.next);
            if !frame.next_reached {
                self.env.builder.build_unreachable()?;
                return Ok(());
            }
            let vals: Vec<BasicValueEnum> =
                frame.end_phis.iter().map(|p| p.as_basic_value()).collect();
            self.fuel_to_store()?;
            self.build_return(&vals, &frame.results)?;
            return Ok(());
        }
        if frame.next_reached {
            self.env.builder.position_at_end(frame.next);
            for phi in &frame.end_phis {
                self.push(phi.as_basic_value());
            }
            self.reachable = true;
        } else {
            // Nothing reaches the end: drop the block, the rest is dead.
            for phi in &frame.end_phis {
                phi.as_instruction().erase_from_basic_block();
            }
            unsafe { frame.next.delete().expect("unreferenced block") };
            self.reachable = false;
        }
        Ok(())
    }

    fn build_return(
        &self,
        vals: &[BasicValueEnum<'ctx>],
        types: &[wasabi_runtime::ValType],
    ) -> BResult<()> {
        match vals.len() {
            0 => {
                self.env.builder.build_return(None)?;
            }
            1 => {
                self.env.builder.build_return(Some(&vals[0]))?;
            }
            _ => {
                let fields = vals
                    .iter()
                    .zip(types)
                    .map(|(v, t)| self.env.result_field_of(*v, *t))
                    .collect::<BResult<Vec<_>>>()?;
                self.env.builder.build_aggregate_return(&fields)?;
            }
        }
        Ok(())
    }

    /// Adds the branch values for frame `depth` as incoming from the current
    /// block and returns the target block.
    fn branch_args(&mut self, depth: u32) -> inkwell::basic_block::BasicBlock<'ctx> {
        let idx = self.control.len() - 1 - depth as usize;
        let frame = &self.control[idx];
        let n = if frame.kind == FrameKind::Loop {
            frame.params.len()
        } else {
            frame.results.len()
        };
        let values = self.peekn(n).to_vec();
        let here = self.current_block();
        let frame = &mut self.control[idx];
        for (phi, v) in frame.br_phis.iter().zip(&values) {
            phi.add_incoming(&[(v, here)]);
        }
        if frame.kind != FrameKind::Loop {
            frame.next_reached = true;
        }
        frame.br_target
    }

    pub(super) fn op_br(&mut self, depth: u32) -> BResult<()> {
        let target = self.branch_args(depth);
        self.env.builder.build_unconditional_branch(target)?;
        self.reachable = false;
        Ok(())
    }

    pub(super) fn op_br_if(&mut self, depth: u32) -> BResult<()> {
        let cond = self.pop_condition()?;
        let target = self.branch_args(depth);
        let cont = self.append_block("br_if_cont");
        self.env
            .builder
            .build_conditional_branch(cond, target, cont)?;
        self.env.builder.position_at_end(cont);
        Ok(())
    }

    pub(super) fn op_br_table(&mut self, table: &BrTable<'_>) -> BResult<()> {
        let index = self.pop_int();
        let targets: Vec<u32> = table.targets().collect::<Result<_, _>>()?;
        let default = table.default();
        let switch_bb = self.current_block();
        // One edge block per distinct target, so each target's phis get
        // exactly one incoming per predecessor.
        let mut edge_for: std::collections::HashMap<u32, inkwell::basic_block::BasicBlock<'ctx>> =
            std::collections::HashMap::new();
        let mut all: Vec<u32> = targets.clone();
        all.push(default);
        for &d in &all {
            if edge_for.contains_key(&d) {
                continue;
            }
            let edge = self.append_block("br_table_edge");
            self.env.builder.position_at_end(edge);
            let target = self.branch_args(d);
            self.env.builder.build_unconditional_branch(target)?;
            edge_for.insert(d, edge);
        }
        // The switch gets a block of its own: the fast instruction selector
        // (the baseline tier) cannot select a `switch` and hands the whole
        // block that ends with one to the full selector. (The optimising
        // pipelines merge the two blocks again.)
        self.env.builder.position_at_end(switch_bb);
        let dispatch = self.append_block("br_table");
        self.env.builder.build_unconditional_branch(dispatch)?;
        self.env.builder.position_at_end(dispatch);
        let cases: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, d)| (self.env.i32().const_int(i as u64, false), edge_for[d]))
            .collect();
        self.env
            .builder
            .build_switch(index, edge_for[&default], &cases)?;
        self.reachable = false;
        Ok(())
    }

    // ---- calls -----------------------------------------------------------

    /// Emits a call with the wasm calling convention and pushes its results.
    fn emit_call(
        &mut self,
        ty: &FuncType,
        code: PointerValue<'ctx>,
        callee_vmctx: PointerValue<'ctx>,
    ) -> BResult<()> {
        self.makes_calls = true;
        let args = self.popn(ty.params.len());
        let mut call_args: Vec<BasicMetadataValueEnum> = vec![callee_vmctx.into()];
        call_args.extend(args.iter().map(|a| BasicMetadataValueEnum::from(*a)));
        let fn_type = self.env.func_type(ty);
        // The callee (or a host function) uses the store's fuel.
        self.fuel_to_store()?;
        let call = self
            .env
            .builder
            .build_indirect_call(fn_type, code, &call_args, "")?;
        self.fuel_from_store()?;
        match ty.results.len() {
            0 => {}
            1 => self.push(call.try_as_basic_value().basic().unwrap()),
            n => {
                let agg = call
                    .try_as_basic_value()
                    .basic()
                    .unwrap()
                    .into_struct_value();
                for (i, t) in ty.results.iter().enumerate().take(n) {
                    let v = self.env.builder.build_extract_value(agg, i as u32, "")?;
                    let v = self.env.result_field_value(v, *t)?;
                    self.push(v);
                }
            }
        }
        Ok(())
    }

    pub(super) fn op_call(&mut self, f: u32) -> BResult<()> {
        let ty = self.env.info.func_type(f).clone();
        let slot = self.env.offsets.funcref(f);
        let code = self
            .env
            .load_ptr(self.vmctx, slot + VMFuncRef::OFFSET_CODE, "callee")?;
        let callee_vmctx = if self.env.info.is_imported_func(f) {
            self.env
                .load_ptr(self.vmctx, slot + VMFuncRef::OFFSET_VMCTX, "callee_vmctx")?
        } else {
            self.vmctx
        };
        self.emit_call(&ty, code, callee_vmctx)
    }

    pub(super) fn op_call_indirect(&mut self, type_index: u32, table: u32) -> BResult<()> {
        let env = self.env;
        let ty = env.info.types[type_index as usize].clone();
        let index = self.pop_int();
        let slot = self.table_element(table, index, TrapCode::UndefinedElement)?;
        let funcref = env
            .builder
            .build_load(env.ptr_type(), slot, "funcref")?
            .into_pointer_value();
        let is_null = env.builder.build_is_null(funcref, "")?;
        self.trap_if(is_null, TrapCode::UninitializedElement)?;
        let actual = env
            .load(env.i32(), funcref, VMFuncRef::OFFSET_TYPE_ID, "type_id")?
            .into_int_value();
        let expected = env
            .load(
                env.i32(),
                self.vmctx,
                env.offsets.type_id(type_index),
                "expected_type",
            )?
            .into_int_value();
        let mismatch = env
            .builder
            .build_int_compare(IntPredicate::NE, actual, expected, "")?;
        self.trap_if(mismatch, TrapCode::BadSignature)?;
        let code = env.load_ptr(funcref, VMFuncRef::OFFSET_CODE, "code")?;
        let callee_vmctx = env.load_ptr(funcref, VMFuncRef::OFFSET_VMCTX, "callee_vmctx")?;
        self.emit_call(&ty, code, callee_vmctx)
    }
}
