//! Translation of one wasm function body into LLVM IR.
//!
//! The translator walks the operators once, keeping the wasm operand stack as
//! a stack of SSA values and the control stack as [`Frame`]s whose merge
//! points are phi nodes. Locals are allocas that `mem2reg`/`sroa` promote
//! (from -O1 on; -O0 leaves them in memory, see `codegen::emit_object`).
//! The work is split by operator family, as WAVM does: [`control`] (blocks,
//! branches, calls), [`variables`] (locals, globals, references, tables),
//! [`memory`] (loads, stores, bulk memory), [`numeric`] (scalar
//! arithmetic) and [`simd`] (every 128-bit SIMD and relaxed-SIMD operator). [`interrupt`] adds fuel metering and epoch checks when the
//! engine asks for them.
//!
//! What must stay true:
//! - The input was validated, so stack underflow or type confusion here is a
//!   translator bug and panics rather than being reported as a user error.
//! - After an unconditional branch the code up to the matching `else`/`end`
//!   is unreachable: it is skipped, only its nesting is counted.
//! - Every trap goes through [`FuncTranslator::trap_if`], which calls the
//!   `Trap` builtin with this function's index, so a trap names its function.
//! - Work is linear in the size of the body: locals are allocas that LLVM
//!   promotes, except in functions so large that promotion would be
//!   quadratic ([`LOCALS_PROMOTION_LIMIT`]).

mod control;
mod interrupt;
mod memory;
mod numeric;
mod profile;
mod simd;
mod variables;

use std::collections::HashMap;

use inkwell::basic_block::BasicBlock;
use inkwell::types::BasicTypeEnum;
use inkwell::values::{
    BasicValueEnum, FunctionValue, InstructionOpcode, InstructionValue, IntValue, PhiValue,
    PointerValue,
};
use inkwell::IntPredicate;
use wasabi_runtime::types::ValType;
use wasabi_runtime::vmcontext::{
    symbols, BuiltinIndex, TrapCode, VMRuntimeLimits, VMTableDefinition, VMCTX_OFFSET_LIMITS,
    VM_TABLE_ELEMENT_SIZE,
};
use wasmparser::{BlockType, FunctionBody, Operator};

use crate::env::{BResult, ModuleEnv};
use crate::CompileError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FrameKind {
    Function,
    Block,
    Loop,
    If,
    Else,
}

/// One entry of the control stack.
#[derive(Clone)]
pub(crate) struct Frame<'ctx> {
    pub kind: FrameKind,
    /// Where `br` to this frame goes: the loop header, or `next`.
    pub br_target: BasicBlock<'ctx>,
    /// The block after `end`.
    pub next: BasicBlock<'ctx>,
    /// Phis receiving branch values at `br_target` (loop params or results).
    pub br_phis: Vec<PhiValue<'ctx>>,
    /// Phis receiving the results at `next`.
    pub end_phis: Vec<PhiValue<'ctx>>,
    /// Operand-stack height below this frame's params.
    pub height: usize,
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
    /// For `if`: the else block and the params to start it with.
    pub else_block: Option<BasicBlock<'ctx>>,
    pub else_params: Vec<BasicValueEnum<'ctx>>,
    /// Whether anything reaches `next`.
    pub next_reached: bool,
    /// A loop's OSR number, if it is an OSR loop (see `profile`).
    pub osr_loop: Option<u32>,
    /// Baseline tier, an OSR loop: the locals of its current run.
    pub osr_run: Option<profile::LoopRun<'ctx>>,
    /// Baseline tier, an OSR loop: the instructions at its header that
    /// keep its run's `last` and `visits`, which only a loop nested in it
    /// reads; erased at its `end` unless [`Self::osr_encloses`].
    pub osr_bookkeeping: Vec<InstructionValue<'ctx>>,
    /// Baseline tier: whether an OSR loop has been opened inside this one.
    pub osr_encloses: bool,
    /// Byte offset of the operator that opened the frame: the same frame
    /// in every copy of an OSR variant.
    pub start: usize,
    /// In a copy of an OSR variant: whether the frame's blocks are those of
    /// the first copy ([`Shared::Whole`]).
    pub shared: bool,
}

/// What a frame of a copy of an OSR variant takes from an earlier copy
/// (see [`FuncTranslator::translate_osr_copies`]).
#[derive(Clone)]
pub(crate) enum Shared<'ctx> {
    /// Every block: a frame enclosing the nest's outermost loop, whose
    /// end leaves the copy for the first one.
    Whole(Frame<'ctx>),
    /// Where `br` goes (with its phis): an enclosing loop, whose back
    /// edges go to its header in the copy entered there.
    Header(BasicBlock<'ctx>, Vec<PhiValue<'ctx>>),
}

/// OSR variant: the target loop, as the translator met it.
pub(crate) struct OsrTarget<'ctx> {
    pub header: BasicBlock<'ctx>,
    /// The control stack at its header: the frames enclosing it.
    pub frames: Vec<Frame<'ctx>>,
    /// Byte offset of its `loop` operator.
    pub start: usize,
}

/// How one copy of an OSR variant's body is translated.
#[derive(Default)]
pub(crate) struct OsrCopy<'ctx> {
    /// What the frames at these positions of the control stack share
    /// (matched by their start offset).
    pub frames: Vec<Option<(usize, Shared<'ctx>)>>,
    /// Start offset of the loop whose header enters this copy.
    pub entry_start: usize,
    /// Whether translation has passed that header.
    pub entered: bool,
    /// Whether control has left the copy: the rest is not translated.
    pub finished: bool,
}

pub(crate) struct FuncTranslator<'ctx, 'a, 'e> {
    pub env: &'e ModuleEnv<'ctx, 'a>,
    pub function: FunctionValue<'ctx>,
    pub func_index: u32,
    pub vmctx: PointerValue<'ctx>,
    pub entry: BasicBlock<'ctx>,
    pub locals: Vec<(PointerValue<'ctx>, ValType)>,
    pub stack: Vec<BasicValueEnum<'ctx>>,
    pub control: Vec<Frame<'ctx>>,
    /// False after an unconditional branch, until the next `else`/`end`.
    pub reachable: bool,
    /// Blocks opened inside unreachable code, still to be closed.
    pub dead_depth: u32,
    /// Memory bases, loaded once in the entry block (they never move).
    pub memory_bases: HashMap<u32, PointerValue<'ctx>>,
    /// One cold block per trap code.
    pub trap_blocks: HashMap<TrapCode, BasicBlock<'ctx>>,
    /// Whether the function calls anything (then it checks the stack limit).
    pub makes_calls: bool,
    /// Set by [`Self::trap_if`] when the trap is certain (its condition
    /// folded to `true`): the current operator finishes in a block nothing
    /// reaches, and the code after it is unreachable.
    pub certain_trap: bool,
    /// Whether locals stay in their stack slots (volatile accesses, which
    /// `mem2reg`/`sroa` leave alone) instead of being promoted to registers;
    /// see [`LOCALS_PROMOTION_LIMIT`].
    pub locals_in_memory: bool,
    /// Fuel and epoch instrumentation state (empty when off).
    pub meter: interrupt::Meter<'ctx>,
    /// On-stack replacement (see `profile`): OSR loops seen so far, the
    /// one this translation enters at (an OSR variant), and where it was
    /// found.
    pub osr_loops: u32,
    pub osr_target: Option<u32>,
    pub osr_found: Option<OsrTarget<'ctx>>,
    /// OSR variant: every OSR loop this copy met, with its header and the
    /// start offsets of the loops enclosing it (candidates for the
    /// variant's other entries: [`Self::enter_at_osr_loops`]).
    pub osr_met: Vec<(u32, BasicBlock<'ctx>, Vec<usize>)>,
    /// Baseline tier: this activation's count of OSR-loop iterations (a
    /// local slot, made at the first OSR loop).
    pub osr_iterations: Option<PointerValue<'ctx>>,
    /// Baseline tier: 1 + the OSR loop whose header is to take its ready
    /// entry (asked for by a loop nested in it), else 0 (`profile`). A
    /// local slot, made on first use.
    pub osr_go: Option<PointerValue<'ctx>>,
    /// Baseline tier: the activation's OSR-loop iteration count at which
    /// an OSR loop header next leaves its fast path (`profile`). A local
    /// slot, made at the first OSR loop.
    pub osr_next: Option<PointerValue<'ctx>>,
    /// Baseline tier: the block that hands the activation over to an OSR
    /// entry, shared by every OSR loop of the function, with its phis for
    /// the entry's address and the loop's number (`profile::enter_osr`).
    pub osr_transfer: Option<profile::OsrTransfer<'ctx>>,
    /// OSR variant: how this copy of the body shares frames (empty in the
    /// first copy).
    pub osr_copy: OsrCopy<'ctx>,
    /// Byte offset of the operator being translated.
    pub op_offset: usize,
    /// Wasm bytes of the function's body (its size scales the count that
    /// makes it hot: `profile::hot_after`).
    pub body_len: u64,
}

/// Above this product of a function's number of locals and its body size in
/// bytes, its locals are not promoted to SSA registers. LLVM's promotion is
/// quadratic in that product (for each local it scans a block from its start
/// to the local's first access): 50,000 locals used once each took minutes.
/// (about 1 s at this limit). Real functions are below it (1,000 locals in
/// a 100 KB body is 1e8); above it the function's code is slower, and it is
/// compiled alone with the fast instruction selector (see
/// `LlvmCompiler::compile_functions`), so compile time stays linear.
pub(crate) const LOCALS_PROMOTION_LIMIT: u64 = 1 << 30;

/// Branch weights of a branch to a trap or a slow path
/// ([`FuncTranslator::branch_unlikely`]): LLVM's own for
/// `__builtin_expect` (`-likely-branch-weight` and
/// `-unlikely-branch-weight`).
const UNLIKELY_WEIGHT: u64 = 1;
const LIKELY_WEIGHT: u64 = 2000;

/// Whether a function with `num_locals` locals (params included) and a body
/// of `body_len` bytes keeps its locals in memory.
pub(crate) fn locals_in_memory(num_locals: u64, body_len: u64) -> bool {
    num_locals.saturating_mul(body_len) > LOCALS_PROMOTION_LIMIT
}

impl<'ctx, 'a, 'e> FuncTranslator<'ctx, 'a, 'e> {
    /// Translates defined function `func_index` with the given body; with
    /// `osr = Some(l)`, its on-stack-replacement variant entered at OSR
    /// loop `l` (`symbols::func_osr`), whose parameters are the vmctx and
    /// the locals' values, one `VMVal` slot each.
    pub fn translate(
        env: &'e ModuleEnv<'ctx, 'a>,
        func_index: u32,
        body: &FunctionBody<'_>,
        osr: Option<u32>,
    ) -> BResult<()> {
        let ty = env.info.func_type(func_index).clone();
        let fn_type = env.func_type(&ty);
        let (name, fn_type) = match osr {
            None => (symbols::func(func_index), fn_type),
            Some(l) => (
                symbols::func_osr(func_index, l),
                profile::osr_type(env, fn_type),
            ),
        };
        let function = env.module.add_function(&name, fn_type, None);
        // WebAssembly 2.0 has no tail calls: a call in tail position must
        // still use stack, or runaway recursion loops forever instead of
        // trapping with "call stack exhausted".
        function.add_attribute(
            inkwell::attributes::AttributeLoc::Function,
            env.ctx
                .create_string_attribute("disable-tail-calls", "true"),
        );
        function.set_section(Some(symbols::TEXT_SECTION));
        let entry = env.ctx.append_basic_block(function, "entry");
        let body_bb = env.ctx.append_basic_block(function, "body");
        let ret_bb = env.ctx.append_basic_block(function, "return");
        env.builder.position_at_end(entry);

        // Locals: params, then declared locals, zero-initialised.
        let mut declared = Vec::new();
        let mut reader = body.get_locals_reader()?;
        for _ in 0..reader.get_count() {
            let (count, t) = reader.read()?;
            let t = ValType::from_wasmparser(t)
                .ok_or_else(|| CompileError::Unsupported("typed references".into()))?;
            declared.push((count, t));
        }
        let num_locals = ty.params.len() as u64 + declared.iter().map(|d| d.0 as u64).sum::<u64>();
        let body_len = body.range().end - body.range().start;
        let locals_in_memory = locals_in_memory(num_locals, body_len);
        let mut locals = Vec::new();
        if osr.is_some() {
            // Every local from the baseline frame's values.
            let values = function.get_nth_param(1).unwrap().into_pointer_value();
            let types = ty.params.iter().copied().chain(
                declared
                    .iter()
                    .flat_map(|&(count, t)| std::iter::repeat_n(t, count as usize)),
            );
            for (i, t) in types.enumerate() {
                let slot = env.builder.build_alloca(env.val_type(t), "local")?;
                let v = profile::load_osr_local(env, values, i, t)?;
                let st = env.builder.build_store(slot, v)?;
                st.set_volatile(locals_in_memory).ok();
                locals.push((slot, t));
            }
        } else {
            for (i, t) in ty.params.iter().enumerate() {
                let slot = env.builder.build_alloca(env.val_type(*t), "param")?;
                let st = env
                    .builder
                    .build_store(slot, function.get_nth_param(i as u32 + 1).unwrap())?;
                st.set_volatile(locals_in_memory).ok();
                locals.push((slot, *t));
            }
            for (count, t) in declared {
                for _ in 0..count {
                    let slot = env.builder.build_alloca(env.val_type(t), "local")?;
                    let st = env.builder.build_store(slot, env.zero(t))?;
                    st.set_volatile(locals_in_memory).ok();
                    locals.push((slot, t));
                }
            }
        }

        let mut t = FuncTranslator::new(env, function, func_index, entry, locals, osr);
        t.locals_in_memory = locals_in_memory;
        t.body_len = body_len;
        env.builder.position_at_end(ret_bb);
        let ret_phis = t.make_phis(&ty.results)?;
        t.control.push(Frame {
            kind: FrameKind::Function,
            br_target: ret_bb,
            next: ret_bb,
            br_phis: ret_phis.clone(),
            end_phis: ret_phis,
            height: 0,
            params: Vec::new(),
            results: ty.results.clone(),
            else_block: None,
            else_params: Vec::new(),
            next_reached: false,
            osr_loop: None,
            osr_run: None,
            osr_bookkeeping: Vec::new(),
            osr_encloses: false,
            start: 0,
            shared: false,
        });
        env.builder.position_at_end(body_bb);
        t.begin_instrumentation()?;
        t.translate_operators(body)?;
        let osr_entry = match osr {
            None => None,
            Some(l) => Some(t.translate_osr_copies(body).map_err(|e| match e {
                CompileError::Unsupported(_) => CompileError::Unsupported(format!(
                    "on-stack replacement at loop {l}: the function has no such loop"
                )),
                e => e,
            })?),
        };

        // Finish the entry block: stack check, then into the body.
        match entry.get_terminator() {
            Some(_) => unreachable!("entry block is terminated only here"),
            None => env.builder.position_at_end(entry),
        }
        if t.makes_calls {
            // Also the entry's epoch check (see `VMRuntimeLimits::stack_limit`):
            // only where recursion can start.
            t.emit_stack_check()?;
            t.check_fuel()?;
        }
        match osr_entry {
            None => {
                t.count_entry()?;
                env.builder.build_unconditional_branch(body_bb)?;
            }
            // The body from its start is unreachable (and deleted), but
            // for the other entries.
            Some((header, others)) => {
                t.enter_at_osr_loops(header, others)?;
            }
        }
        Ok(())
    }

    /// Ends an OSR variant's entry block: to the target's `header`, or to
    /// the header of one of the `others` (OSR loops and their headers,
    /// from `translate_osr_copies`) when the buffer names that loop (after
    /// the locals: `profile::load_osr_loop`). Each of those is entered only
    /// at its header, and every loop enclosing it sends its back edges to
    /// another copy, so the code stays reducible. Each gets its own symbol
    /// for the variant (an alias, `symbols::func_osr`): one compilation
    /// serves every phase of a function that runs in phases (a `main` that
    /// fills, computes, then checks) instead of one each.
    fn enter_at_osr_loops(
        &mut self,
        header: BasicBlock<'ctx>,
        others: Vec<(u32, BasicBlock<'ctx>)>,
    ) -> BResult<()> {
        let env = self.env;
        if others.is_empty() {
            env.builder.build_unconditional_branch(header)?;
            return Ok(());
        }
        let values = self.function.get_nth_param(1).unwrap().into_pointer_value();
        let l = profile::load_osr_loop(env, values, self.locals.len())?;
        let cases: Vec<_> = others
            .iter()
            .map(|&(l, h)| (env.i32().const_int(l as u64, false), h))
            .collect();
        env.builder.build_switch(l, header, &cases)?;
        for &(l, _) in &others {
            let name = std::ffi::CString::new(symbols::func_osr(self.func_index, l))
                .expect("symbol names have no NUL");
            // SAFETY: the module and the function are live LLVM objects of
            // the same context; the alias gets the function's own type and
            // address space 0 (the only one code lives in), and LLVM copies
            // the name.
            unsafe {
                use inkwell::llvm_sys::core::LLVMAddAlias2;
                use inkwell::types::AsTypeRef;
                use inkwell::values::AsValueRef;
                LLVMAddAlias2(
                    env.module.as_mut_ptr(),
                    self.function.get_type().as_type_ref(),
                    0,
                    self.function.as_value_ref(),
                    name.as_ptr(),
                );
            }
        }
        Ok(())
    }

    /// A translator of `function`'s body with nothing translated yet.
    fn new(
        env: &'e ModuleEnv<'ctx, 'a>,
        function: FunctionValue<'ctx>,
        func_index: u32,
        entry: BasicBlock<'ctx>,
        locals: Vec<(PointerValue<'ctx>, ValType)>,
        osr: Option<u32>,
    ) -> Self {
        FuncTranslator {
            env,
            function,
            func_index,
            vmctx: function.get_nth_param(0).unwrap().into_pointer_value(),
            entry,
            locals,
            stack: Vec::new(),
            control: Vec::new(),
            reachable: true,
            dead_depth: 0,
            memory_bases: HashMap::new(),
            trap_blocks: HashMap::new(),
            makes_calls: false,
            certain_trap: false,
            locals_in_memory: false,
            meter: interrupt::Meter::default(),
            osr_loops: 0,
            osr_target: osr,
            osr_found: None,
            osr_met: Vec::new(),
            osr_iterations: None,
            osr_go: None,
            osr_next: None,
            osr_transfer: None,
            osr_copy: OsrCopy::default(),
            op_offset: 0,
            body_len: 0,
        }
    }

    /// Translates the body's operators until the function's frame closes
    /// (or, in a copy of an OSR variant, control leaves the copy).
    fn translate_operators(&mut self, body: &FunctionBody<'_>) -> BResult<()> {
        let mut ops = body.get_operators_reader()?;
        while !self.control.is_empty() && !self.osr_copy.finished {
            let (op, offset) = ops.read_with_offset()?;
            self.op_offset = offset as usize;
            self.operator(op).map_err(|e| match e {
                CompileError::Unsupported(what) => {
                    CompileError::Unsupported(format!("{what} (at byte offset {offset:#x})"))
                }
                e => e,
            })?;
        }
        Ok(())
    }

    /// OSR variant: after the body's first translation (`self`), translates
    /// one more copy per loop enclosing the target loop and returns the
    /// header to enter at.
    ///
    /// Branching from the entry block straight into a loop nested in others
    /// would enter every enclosing loop in its middle: their cycles would
    /// merge into one headed at the entered loop, and LLVM optimises little
    /// there (matmul's kernel, entered at its innermost loop, ran scalar,
    /// 3-4x slower than at -O1). So with enclosing loops `L1 ⊃ … ⊃ Ld ⊃ T`
    /// the variant holds copies `X0 … Xd` of the body: `Xd` is entered at
    /// `T`'s header, and `Xj` (j < d) only at `L(j+1)`'s. In `Xj` a branch
    /// back to `Li` (i ≤ j) goes to `Li`'s header in `X(i-1)`, the copy
    /// entered there, so no `Li` is a cycle in `Xj`; and the frames
    /// enclosing `L1` (blocks, outside every loop of the nest) share the
    /// blocks of `X0`: leaving the innermost of them continues in `X0`,
    /// and the copy ends there. Every loop of every copy is thus entered
    /// only at its header. The cost: each copy holds the code from its
    /// entry loop to the end of `L1` (what precedes the entry in a copy
    /// is unreachable and deleted).
    ///
    /// Returns the target's header, and the variant's other entries with
    /// their headers: the OSR loops of copy `Xj` enclosed by exactly
    /// `L1` ... `Lj` (so the first copy's top-level loops, and the loops
    /// beside each loop of the nest, the nest's own loops included).
    #[allow(clippy::type_complexity)]
    fn translate_osr_copies(
        &mut self,
        body: &FunctionBody<'_>,
    ) -> BResult<(BasicBlock<'ctx>, Vec<(u32, BasicBlock<'ctx>)>)> {
        let Some(OsrTarget {
            mut header,
            frames,
            start: target_start,
        }) = self.osr_found.take()
        else {
            return Err(CompileError::Unsupported("no such loop".into()));
        };
        let target = self.osr_target;
        let loops: Vec<usize> = (0..frames.len())
            .filter(|&k| frames[k].kind == FrameKind::Loop)
            .collect();
        // The other entries of copy `j`: its OSR loops enclosed by exactly
        // the nest's `j` outermost loops, whose back edges leave the copy
        // (every other loop of the copy is a loop of its own in it).
        let nest: Vec<usize> = loops.iter().map(|&k| frames[k].start).collect();
        let entries_of = |met: Vec<(u32, BasicBlock<'ctx>, Vec<usize>)>, j: usize| {
            met.into_iter()
                .filter(|(l, _, enclosing)| Some(*l) != target && enclosing[..] == nest[..j])
                .map(|(l, h, _)| (l, h))
                .collect::<Vec<_>>()
        };
        let mut others = entries_of(std::mem::take(&mut self.osr_met), 0);
        // The control stack at the target's header in each copy so far.
        let mut snapshots = vec![frames.clone()];
        for j in 1..=loops.len() {
            // Copy `j` is entered at loop `L(j+1)` (the target when j = d).
            let (until, entry_start) = match loops.get(j) {
                Some(&k) => (k, frames[k].start),
                None => (frames.len(), target_start),
            };
            let mut shared: Vec<Option<(usize, Shared<'ctx>)>> = vec![None; until];
            for (k, f) in frames[..loops[0]].iter().enumerate() {
                shared[k] = Some((f.start, Shared::Whole(f.clone())));
            }
            for i in 0..j {
                let f = &snapshots[i][loops[i]];
                shared[loops[i]] = Some((f.start, Shared::Header(f.br_target, f.br_phis.clone())));
            }
            let Some((_, Shared::Whole(function))) = shared[0].clone() else {
                unreachable!("the function's frame encloses every loop");
            };
            let mut copy = FuncTranslator::new(
                self.env,
                self.function,
                self.func_index,
                self.entry,
                self.locals.clone(),
                self.osr_target,
            );
            copy.control.push(Frame {
                shared: true,
                ..function
            });
            copy.memory_bases = self.memory_bases.clone();
            copy.trap_blocks = self.trap_blocks.clone();
            copy.locals_in_memory = self.locals_in_memory;
            copy.meter = self.meter.shared();
            copy.body_len = self.body_len;
            copy.osr_copy = OsrCopy {
                frames: shared,
                entry_start,
                entered: false,
                finished: false,
            };
            let start = copy.append_block("osr_copy");
            self.env.builder.position_at_end(start);
            copy.translate_operators(body)?;
            self.makes_calls |= copy.makes_calls;
            self.memory_bases.extend(copy.memory_bases);
            let Some(found) = copy.osr_found else {
                return Err(CompileError::Unsupported("no such loop".into()));
            };
            header = found.header;
            snapshots.push(found.frames);
            others.extend(entries_of(copy.osr_met, j));
        }
        Ok((header, others))
    }

    // ---- operand stack ---------------------------------------------------

    pub fn push(&mut self, v: impl Into<BasicValueEnum<'ctx>>) {
        self.stack.push(v.into());
    }

    pub fn pop(&mut self) -> BasicValueEnum<'ctx> {
        self.stack
            .pop()
            .expect("operand stack underflow in validated code")
    }

    pub fn pop_int(&mut self) -> IntValue<'ctx> {
        self.pop().into_int_value()
    }

    /// Pops a wasm condition (an `i32`, true when non-zero) for a branch or
    /// a `select`, as an `i1`. A comparison's result (`zext i1 %c to i32`,
    /// how the translator makes `i32.eq`, `i64.lt_s`, `i32.eqz`...) gives
    /// `%c` itself rather than another comparison with zero: the fast
    /// instruction selector of the baseline tier then emits one `cmp` and
    /// a conditional jump where it emitted `setcc`, `movzx`, `test`,
    /// `setne`, `test` and the jump (the optimising pipelines fold either).
    /// The `zext` stays for any other use; unused, no selector emits it.
    pub fn pop_condition(&mut self) -> BResult<IntValue<'ctx>> {
        let v = self.pop_int();
        let compared = v
            .as_instruction()
            .filter(|i| i.get_opcode() == InstructionOpcode::ZExt)
            .and_then(|i| i.get_operand(0))
            .and_then(|o| o.value())
            .filter(|o| o.is_int_value())
            .map(|o| o.into_int_value())
            .filter(|c| c.get_type().get_bit_width() == 1);
        match compared {
            Some(c) => Ok(c),
            None => Ok(self.env.builder.build_int_compare(
                IntPredicate::NE,
                v,
                self.env.i32().const_zero(),
                "",
            )?),
        }
    }

    pub fn pop2_int(&mut self) -> (IntValue<'ctx>, IntValue<'ctx>) {
        let b = self.pop_int();
        let a = self.pop_int();
        (a, b)
    }

    pub fn popn(&mut self, n: usize) -> Vec<BasicValueEnum<'ctx>> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    pub fn peekn(&self, n: usize) -> &[BasicValueEnum<'ctx>] {
        &self.stack[self.stack.len() - n..]
    }

    // ---- helpers -----------------------------------------------------------

    pub fn block_types(&self, bt: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (
                vec![],
                vec![ValType::from_wasmparser(t).expect("validated")],
            ),
            BlockType::FuncType(i) => {
                let ft = &self.env.info.types[i as usize];
                (ft.params.clone(), ft.results.clone())
            }
        }
    }

    /// Creates phis for `types` at the builder's current position.
    pub fn make_phis(&self, types: &[ValType]) -> BResult<Vec<PhiValue<'ctx>>> {
        types
            .iter()
            .map(|t| Ok(self.env.builder.build_phi(self.env.val_type(*t), "")?))
            .collect()
    }

    pub fn current_block(&self) -> BasicBlock<'ctx> {
        self.env.builder.get_insert_block().unwrap()
    }

    pub fn append_block(&self, name: &str) -> BasicBlock<'ctx> {
        self.env.ctx.append_basic_block(self.function, name)
    }

    /// Runs `f` with the builder at the end of the (not yet terminated) entry
    /// block: for values computed once per call, like memory bases.
    pub fn in_entry<T>(&self, f: impl FnOnce() -> BResult<T>) -> BResult<T> {
        let here = self.current_block();
        self.env.builder.position_at_end(self.entry);
        let r = f();
        self.env.builder.position_at_end(here);
        r
    }

    /// Branches to a cold trap block when `cond` is true.
    ///
    /// A condition the builder already folded to a constant (the operands
    /// were constants) is decided here: `false` emits nothing, `true` jumps
    /// to the trap and makes the rest of the code unreachable. The operation
    /// the check guards must never be built reachable with operands that
    /// make it trap: LLVM folds `1 / 0` or `fptosi` of NaN to poison, which
    /// nothing downstream may see.
    pub fn trap_if(&mut self, cond: IntValue<'ctx>, code: TrapCode) -> BResult<()> {
        let known = if cond.is_const() {
            cond.get_zero_extended_constant()
        } else {
            None
        };
        if known == Some(0) {
            return Ok(());
        }
        let trap_bb = match self.trap_blocks.get(&code) {
            Some(bb) => *bb,
            None => {
                let here = self.current_block();
                let bb = self.append_block("trap");
                self.env.builder.position_at_end(bb);
                self.emit_trap_call(self.env.i32().const_int(code as u64, false))?;
                self.env.builder.position_at_end(here);
                self.trap_blocks.insert(code, bb);
                bb
            }
        };
        let cont = self.append_block("ok");
        if known.is_some() {
            // Certain: `cont` has no predecessor. The operator finishes
            // there and `operator` then closes it (see `certain_trap`).
            self.env.builder.build_unconditional_branch(trap_bb)?;
            self.certain_trap = true;
        } else {
            self.branch_unlikely(cond, trap_bb, cont)?;
        }
        self.env.builder.position_at_end(cont);
        Ok(())
    }

    /// Traps with the code in `status` when it is non-zero (for builtins
    /// that return a trap code).
    pub fn trap_on_status(&mut self, status: IntValue<'ctx>) -> BResult<()> {
        let failed = self.env.builder.build_int_compare(
            IntPredicate::NE,
            status,
            self.env.i32().const_zero(),
            "",
        )?;
        let bad = self.append_block("status_trap");
        let cont = self.append_block("ok");
        self.branch_unlikely(failed, bad, cont)?;
        self.env.builder.position_at_end(bad);
        self.emit_trap_call(status)?;
        self.env.builder.position_at_end(cont);
        Ok(())
    }

    /// Pops `operands` values and calls builtin `b` with `(vmctx,
    /// immediates..., operands...)`, the operands in stack order. Returns the
    /// builtin's result, if it has one.
    pub fn call_builtin_popping(
        &mut self,
        b: BuiltinIndex,
        immediates: &[u32],
        operands: usize,
    ) -> BResult<Option<BasicValueEnum<'ctx>>> {
        let popped = self.popn(operands);
        let mut args: Vec<inkwell::values::BasicMetadataValueEnum<'ctx>> = vec![self.vmctx.into()];
        for i in immediates {
            args.push(self.env.i32().const_int(*i as u64, false).into());
        }
        args.extend(
            popped
                .iter()
                .map(|v| inkwell::values::BasicMetadataValueEnum::from(*v)),
        );
        self.env.call_builtin(self.vmctx, b, &args)
    }

    /// Like [`Self::call_builtin_popping`] for builtins that return a trap
    /// code: traps with it when it is not zero.
    pub fn call_checked_builtin(
        &mut self,
        b: BuiltinIndex,
        immediates: &[u32],
        operands: usize,
    ) -> BResult<()> {
        let status = self
            .call_builtin_popping(b, immediates, operands)?
            .expect("builtin returns a status");
        self.trap_on_status(status.into_int_value())
    }

    /// Loads the `VMTableDefinition` pointer of table `t`.
    pub fn table_definition(&self, t: u32) -> BResult<PointerValue<'ctx>> {
        self.env
            .load_ptr(self.vmctx, self.env.offsets.table_definition(t), "table")
    }

    /// Address of element `index` of table `t`, trapping with `oob` when
    /// the index is out of bounds.
    pub fn table_element(
        &mut self,
        t: u32,
        index: IntValue<'ctx>,
        oob: TrapCode,
    ) -> BResult<PointerValue<'ctx>> {
        let env = self.env;
        let def = self.table_definition(t)?;
        let len = env
            .load(env.i32(), def, VMTableDefinition::OFFSET_LENGTH, "len")?
            .into_int_value();
        let out = env
            .builder
            .build_int_compare(IntPredicate::UGE, index, len, "")?;
        self.trap_if(out, oob)?;
        let base = env.load_ptr(def, VMTableDefinition::OFFSET_BASE, "elems")?;
        let index64 = env.builder.build_int_z_extend(index, env.i64(), "")?;
        let off = env.builder.build_int_mul(
            index64,
            env.i64().const_int(VM_TABLE_ELEMENT_SIZE as u64, false),
            "",
        )?;
        env.gep_dyn(base, off)
    }

    /// Branches to `unlikely` when `cond` holds, else to `likely`.
    ///
    /// Code for the optimising pipelines says so with `llvm.expect` around
    /// `cond`. At -O0 (baseline code, lazy -O0) no pass would lower that
    /// call, and the fast instruction selector cannot fold a compare into
    /// a branch through it: every check was a compare, a `setcc`, a `test`
    /// and a jump. There the branch takes the compare itself, with the
    /// same hint as branch weights (`!prof`, which costs nothing).
    ///
    /// (The -O1 pipeline runs no `lower-expect` either, so its code keeps
    /// the calls to the end and LLVM's block placement sees no weights;
    /// trap blocks are cold to it anyway, as they end in `unreachable`.
    /// Branch weights there left interp's hot function instruction for
    /// instruction the same, but moved it within its object, which alone
    /// made regular mode 30 % slower on it: a change of layout needs a
    /// benchmark that can tell layout from code.)
    pub(super) fn branch_unlikely(
        &self,
        cond: IntValue<'ctx>,
        unlikely: BasicBlock<'ctx>,
        likely: BasicBlock<'ctx>,
    ) -> BResult<()> {
        let env = self.env;
        let ctx = env.ctx;
        if env.optimizing {
            let bool_ty = ctx.bool_type();
            let expect = env.intrinsic("llvm.expect", &[bool_ty.into()])?;
            let hinted =
                env.builder
                    .build_call(expect, &[cond.into(), bool_ty.const_zero().into()], "")?;
            let hinted = hinted
                .try_as_basic_value()
                .basic()
                .unwrap()
                .into_int_value();
            env.builder
                .build_conditional_branch(hinted, unlikely, likely)?;
            return Ok(());
        }
        let br = env
            .builder
            .build_conditional_branch(cond, unlikely, likely)?;
        let weight = |w: u64| ctx.i32_type().const_int(w, false).into();
        let weights = ctx.metadata_node(&[
            ctx.metadata_string("branch_weights").into(),
            weight(UNLIKELY_WEIGHT),
            weight(LIKELY_WEIGHT),
        ]);
        br.set_metadata(weights, ctx.get_kind_id("prof"))
            .map_err(|e| CompileError::Llvm(e.to_string()))?;
        Ok(())
    }

    /// Calls the trap builtin (with this function's index and frame
    /// pointer, where the backtrace of its callers starts) and terminates
    /// the block.
    pub fn emit_trap_call(&self, code: IntValue<'ctx>) -> BResult<()> {
        self.fuel_to_store()?;
        let idx = self.env.i32().const_int(self.func_index as u64, false);
        let fp = self.env.frame_address()?;
        self.env.call_builtin(
            self.vmctx,
            BuiltinIndex::Trap,
            &[self.vmctx.into(), code.into(), idx.into(), fp.into()],
        )?;
        self.env.builder.build_unreachable()?;
        Ok(())
    }

    /// Traps with `StackOverflow` when the stack pointer is below the limit.
    ///
    /// The stack pointer checked is the frame address (the frame pointer
    /// every function keeps, see `codegen`) less the bytes of the
    /// function's local slots: the stack pointer after the prologue, or
    /// below it, but for spill slots beyond the locals, which the reserve
    /// the host keeps below the limit covers
    /// (`wasabi_runtime::traps::compute_stack_limit`). Not
    /// `llvm.stacksave`: the fast instruction selector of the baseline
    /// tier cannot select it, and hands every function's entry to the full
    /// selector (3,000 one-line functions compiled lazily at -O0: 8 % less
    /// time with the frame address).
    fn emit_stack_check(&mut self) -> BResult<()> {
        let env = self.env;
        let limits = env.load_ptr(self.vmctx, VMCTX_OFFSET_LIMITS, "limits")?;
        let limit = env
            .load(
                env.i64(),
                limits,
                VMRuntimeLimits::OFFSET_STACK_LIMIT,
                "stack_limit",
            )?
            .into_int_value();
        // Volatile: another thread lowers it to stop the store, and a check
        // inlined into a loop must read it again each time.
        limit
            .as_instruction()
            .expect("a load is an instruction")
            .set_volatile(true)
            .expect("a load can be volatile");
        let locals_bytes: u64 = self
            .locals
            .iter()
            .map(|&(_, t)| match t {
                ValType::I32 | ValType::F32 => 4,
                ValType::V128 => 16,
                _ => 8,
            })
            .sum();
        let fp = env.frame_address()?;
        let fp_int = env.builder.build_ptr_to_int(fp, env.i64(), "")?;
        let sp_int =
            env.builder
                .build_int_sub(fp_int, env.i64().const_int(locals_bytes, false), "sp")?;
        let over = env
            .builder
            .build_int_compare(IntPredicate::ULT, sp_int, limit, "")?;
        // The entry block ends with this branch; the caller's `br body`
        // goes in the continuation block.
        let hit = self.append_block("stack_limit_hit");
        let cont = self.append_block("stack_ok");
        self.branch_unlikely(over, hit, cont)?;
        env.builder.position_at_end(hit);
        // Raises StackOverflow or a pending interruption, or returns.
        let idx = env.i32().const_int(self.func_index as u64, false);
        let sp = env.builder.build_int_to_ptr(sp_int, env.ptr_type(), "")?;
        env.call_builtin(
            self.vmctx,
            BuiltinIndex::StackLimitHit,
            &[self.vmctx.into(), idx.into(), fp.into(), sp.into()],
        )?;
        env.builder.build_unconditional_branch(cont)?;
        env.builder.position_at_end(cont);
        Ok(())
    }

    /// Translates one operator.
    fn operator(&mut self, op: Operator<'_>) -> BResult<()> {
        if self.leaves_osr_copy(&op) {
            // Control leaves this copy of an OSR variant for the previous
            // one, whose blocks the frame shares (see `translate_osr_copies`).
            if self.reachable {
                self.meter_operator(&op)?;
                self.fall_through_to_end()?;
            }
            self.osr_copy.finished = true;
            return Ok(());
        }
        if !self.reachable {
            return self.dead_operator(op);
        }
        self.meter_operator(&op)?;
        self.live_operator(op)?;
        if std::mem::take(&mut self.certain_trap) {
            // The operator trapped unconditionally: what it built after the
            // trap sits in a block nothing reaches (its values may be
            // poison). Close that block; what follows is dead code, as after
            // `unreachable`.
            self.env.builder.build_unreachable()?;
            self.reachable = false;
        }
        if !self.reachable {
            self.meter_unreachable();
        }
        Ok(())
    }

    /// Whether `op` closes (or, for `else`, leaves the first arm of) a
    /// shared frame after this copy's entry: where a copy of an OSR
    /// variant ends.
    fn leaves_osr_copy(&self, op: &Operator<'_>) -> bool {
        self.osr_copy.entered
            && self.dead_depth == 0
            && matches!(op, Operator::Else | Operator::End)
            && self.control.last().is_some_and(|f| f.shared)
    }

    /// Translates one operator in reachable code.
    fn live_operator(&mut self, op: Operator<'_>) -> BResult<()> {
        use Operator::*;
        match op {
            // control
            Unreachable => self.op_unreachable(),
            Nop => Ok(()),
            Block { blockty } => self.op_block(blockty),
            Loop { blockty } => self.op_loop(blockty),
            If { blockty } => self.op_if(blockty),
            Else => self.op_else(),
            End => self.op_end(),
            Br { relative_depth } => self.op_br(relative_depth),
            BrIf { relative_depth } => self.op_br_if(relative_depth),
            BrTable { targets } => self.op_br_table(&targets),
            Return => self.op_br(self.control.len() as u32 - 1),
            Call { function_index } => self.op_call(function_index),
            CallIndirect {
                type_index,
                table_index,
            } => self.op_call_indirect(type_index, table_index),
            Drop => self.op_drop(),
            Select | TypedSelect { .. } => self.op_select(),
            // variables and references
            LocalGet { local_index } => self.op_local_get(local_index),
            LocalSet { local_index } => self.op_local_set(local_index),
            LocalTee { local_index } => self.op_local_tee(local_index),
            GlobalGet { global_index } => self.op_global_get(global_index),
            GlobalSet { global_index } => self.op_global_set(global_index),
            RefNull { .. } => {
                self.push(self.env.ptr_type().const_null());
                Ok(())
            }
            RefIsNull => self.op_ref_is_null(),
            RefFunc { function_index } => self.op_ref_func(function_index),
            TableGet { table } => self.op_table_get(table),
            TableSet { table } => self.op_table_set(table),
            TableSize { table } => self.op_table_size(table),
            TableGrow { table } => self.op_table_grow(table),
            TableFill { table } => self.op_table_fill(table),
            TableCopy {
                dst_table,
                src_table,
            } => self.op_table_copy(dst_table, src_table),
            TableInit { elem_index, table } => self.op_table_init(elem_index, table),
            ElemDrop { elem_index } => self.op_elem_drop(elem_index),
            // memory
            MemorySize { mem } => self.op_memory_size(mem),
            MemoryGrow { mem } => self.op_memory_grow(mem),
            MemoryFill { mem } => self.op_memory_fill(mem),
            MemoryCopy { dst_mem, src_mem } => self.op_memory_copy(dst_mem, src_mem),
            MemoryInit { data_index, mem } => self.op_memory_init(data_index, mem),
            DataDrop { data_index } => self.op_data_drop(data_index),
            op if memory::is_load_or_store(&op) => self.op_load_store(op),
            // SIMD (`simd.rs` handles every one of them), then scalar numeric
            op => match simd::translate(self, &op) {
                Some(done) => done,
                None => self.op_numeric(op),
            },
        }
    }

    /// Skips an operator in unreachable code, tracking only nesting.
    fn dead_operator(&mut self, op: Operator<'_>) -> BResult<()> {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.dead_depth += 1;
                Ok(())
            }
            Operator::Else if self.dead_depth == 0 => self.op_else(),
            Operator::End if self.dead_depth == 0 => self.op_end(),
            Operator::End => {
                self.dead_depth -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn llvm_type(&self, t: ValType) -> BasicTypeEnum<'ctx> {
        self.env.val_type(t)
    }
}
