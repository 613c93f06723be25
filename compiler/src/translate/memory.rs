//! Loads, stores, `memory.size`/`grow` and bulk memory.
//!
//! What must stay true:
//! - The effective address is `zext(addr) + offset` in 64 bits, never a sign
//!   extension, and is added to the memory base with no bounds check: the
//!   runtime's 8 GiB reservation makes every such address either valid or a
//!   guaranteed fault (see `wasabi_runtime::memory`).
//! - Every load and store is `volatile`. With guard pages the access *is* the
//!   bounds check, so it must execute exactly as the program orders it, and
//!   LLVM treats a plain access as free of side effects: it deletes loads
//!   whose value is dead or computable without them (`x * 0`, `x == x`),
//!   merges adjacent stores into one wider store that faults as a whole, and
//!   reorders or vectorises accesses across one another, so a trap would lose
//!   earlier stores or keep later ones. Volatile accesses are never removed,
//!   merged, widened or reordered among themselves, which is exactly wasm's
//!   trap semantics; LLVM still optimises the address arithmetic around them.
//!   Loops whose addresses can be bounded before they run get a copy with
//!   plain accesses from the bounds-versioning pass (`crate::passes`).
//!   `tests/hostile/trap-exact-memory.wast` holds the cases.
//! - Every linear-memory access, scalar or SIMD, is made by `memory_load` or
//!   `memory_store`, which give it the properties above and `!wasabi.mem`
//!   metadata; the load of each memory's base carries `!wasabi.membase`
//!   (where that memory's length lives). The bounds-versioning pass (`crate::passes`) relies on
//!   both: it gives plain accesses to loops it can prove in bounds, and must
//!   recognise every access that can trap.

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::types::BasicTypeEnum;
use inkwell::values::{BasicValue, BasicValueEnum, InstructionValue, IntValue, PointerValue};
use wasabi_runtime::vmcontext::{BuiltinIndex, VMMemoryDefinition, WASM_PAGE_SHIFT};

/// Metadata kind of a linear-memory load or store (an empty node).
pub(crate) const MEM_KIND: &str = "wasabi.mem";
/// Metadata kind of the load of a memory's base: `!{i64 d, i64 l}`, where
/// the memory's `*mut VMMemoryDefinition` is at the base slot's address plus
/// `d`, and its length at that definition plus `l`.
pub(crate) const MEMBASE_KIND: &str = "wasabi.membase";
use wasmparser::{MemArg, Operator};

pub(super) fn is_load_or_store(op: &Operator<'_>) -> bool {
    use Operator::*;
    matches!(
        op,
        I32Load { .. }
            | I64Load { .. }
            | F32Load { .. }
            | F64Load { .. }
            | I32Load8S { .. }
            | I32Load8U { .. }
            | I32Load16S { .. }
            | I32Load16U { .. }
            | I64Load8S { .. }
            | I64Load8U { .. }
            | I64Load16S { .. }
            | I64Load16U { .. }
            | I64Load32S { .. }
            | I64Load32U { .. }
            | I32Store { .. }
            | I64Store { .. }
            | F32Store { .. }
            | F64Store { .. }
            | I32Store8 { .. }
            | I32Store16 { .. }
            | I64Store8 { .. }
            | I64Store16 { .. }
            | I64Store32 { .. }
    )
}

/// How a value is extended after a narrow load.
#[derive(Clone, Copy)]
enum Ext {
    None,
    Signed,
    Unsigned,
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// The base of memory `m`, loaded once in the entry block.
    fn memory_base(&mut self, m: u32) -> BResult<PointerValue<'ctx>> {
        if let Some(b) = self.memory_bases.get(&m) {
            return Ok(*b);
        }
        let off = self.env.offsets.memory_base(m);
        let b = self.in_entry(|| self.env.load_ptr(self.vmctx, off, "membase"))?;
        if let Some(load) = b.as_instruction_value() {
            let env = self.env;
            let def = i64::from(env.offsets.memory_definition(m)) - i64::from(off);
            let len = i64::from(VMMemoryDefinition::OFFSET_LENGTH);
            let node = env.ctx.metadata_node(&[
                env.i64().const_int(def as u64, true).into(),
                env.i64().const_int(len as u64, true).into(),
            ]);
            load.set_metadata(node, env.ctx.get_kind_id(MEMBASE_KIND))
                .expect("a load takes metadata");
        }
        self.memory_bases.insert(m, b);
        Ok(b)
    }

    /// Makes `i`, a load or store of linear memory, what every such access
    /// must be (see the module docs): alignment 1, volatile, and marked.
    fn mark_memory_access(&self, i: InstructionValue<'ctx>) {
        i.set_alignment(1).ok();
        // Volatile: the access is the bounds check.
        i.set_volatile(true).ok();
        self.env.mark(i, MEM_KIND);
    }

    /// Loads a `ty` from linear memory at `addr + memarg.offset`. Every
    /// load of linear memory, scalar or vector, is made here, so none can
    /// miss what the module docs require of it.
    pub(super) fn memory_load(
        &mut self,
        addr: IntValue<'ctx>,
        memarg: &MemArg,
        ty: BasicTypeEnum<'ctx>,
    ) -> BResult<BasicValueEnum<'ctx>> {
        let p = self.effective_address(addr, memarg)?;
        let v = self.env.builder.build_load(ty, p, "")?;
        let i = v
            .as_instruction_value()
            .expect("a load from a computed address is an instruction");
        self.mark_memory_access(i);
        Ok(v)
    }

    /// Stores `v` to linear memory at `addr + memarg.offset`; like
    /// [`Self::memory_load`], the one place stores are made.
    pub(super) fn memory_store(
        &mut self,
        addr: IntValue<'ctx>,
        memarg: &MemArg,
        v: BasicValueEnum<'ctx>,
    ) -> BResult<()> {
        let p = self.effective_address(addr, memarg)?;
        let st = self.env.builder.build_store(p, v)?;
        self.mark_memory_access(st);
        Ok(())
    }

    /// The host address of `addr + memarg.offset` in memory `memarg.memory`.
    fn effective_address(
        &mut self,
        addr: IntValue<'ctx>,
        memarg: &MemArg,
    ) -> BResult<PointerValue<'ctx>> {
        let env = self.env;
        let wasmparser::MemArgTarget::Memory(mem) = memarg.target else {
            return Err(crate::CompileError::Unsupported("GC array accesses".into()));
        };
        let base = self.memory_base(mem)?;
        let addr64 = env.builder.build_int_z_extend(addr, env.i64(), "addr")?;
        let ea = if memarg.offset != 0 {
            env.builder
                .build_int_add(addr64, env.i64().const_int(memarg.offset, false), "ea")?
        } else {
            addr64
        };
        // Not `inbounds`: the address may lie in the guard region.
        Ok(unsafe { env.builder.build_gep(env.i8(), base, &[ea], "")? })
    }

    fn load(
        &mut self,
        memarg: &MemArg,
        mem_ty: BasicTypeEnum<'ctx>,
        ext: Ext,
        result: BasicTypeEnum<'ctx>,
    ) -> BResult<()> {
        let addr = self.pop_int();
        let v = self.memory_load(addr, memarg, mem_ty)?;
        let v: BasicValueEnum = match ext {
            Ext::None => v,
            Ext::Signed => self
                .env
                .builder
                .build_int_s_extend(v.into_int_value(), result.into_int_type(), "")?
                .into(),
            Ext::Unsigned => self
                .env
                .builder
                .build_int_z_extend(v.into_int_value(), result.into_int_type(), "")?
                .into(),
        };
        self.push(v);
        Ok(())
    }

    fn store(
        &mut self,
        memarg: &MemArg,
        narrow: Option<inkwell::types::IntType<'ctx>>,
    ) -> BResult<()> {
        let v = self.pop();
        let addr = self.pop_int();
        let v: BasicValueEnum = match narrow {
            Some(t) => self
                .env
                .builder
                .build_int_truncate(v.into_int_value(), t, "")?
                .into(),
            None => v,
        };
        self.memory_store(addr, memarg, v)
    }

    pub(super) fn op_load_store(&mut self, op: Operator<'_>) -> BResult<()> {
        use Operator::*;
        let c = self.env.ctx;
        let (i8t, i16t, i32t, i64t) = (c.i8_type(), c.i16_type(), c.i32_type(), c.i64_type());
        let (f32t, f64t) = (c.f32_type(), c.f64_type());
        match op {
            I32Load { memarg } => self.load(&memarg, i32t.into(), Ext::None, i32t.into()),
            I64Load { memarg } => self.load(&memarg, i64t.into(), Ext::None, i64t.into()),
            F32Load { memarg } => self.load(&memarg, f32t.into(), Ext::None, f32t.into()),
            F64Load { memarg } => self.load(&memarg, f64t.into(), Ext::None, f64t.into()),
            I32Load8S { memarg } => self.load(&memarg, i8t.into(), Ext::Signed, i32t.into()),
            I32Load8U { memarg } => self.load(&memarg, i8t.into(), Ext::Unsigned, i32t.into()),
            I32Load16S { memarg } => self.load(&memarg, i16t.into(), Ext::Signed, i32t.into()),
            I32Load16U { memarg } => self.load(&memarg, i16t.into(), Ext::Unsigned, i32t.into()),
            I64Load8S { memarg } => self.load(&memarg, i8t.into(), Ext::Signed, i64t.into()),
            I64Load8U { memarg } => self.load(&memarg, i8t.into(), Ext::Unsigned, i64t.into()),
            I64Load16S { memarg } => self.load(&memarg, i16t.into(), Ext::Signed, i64t.into()),
            I64Load16U { memarg } => self.load(&memarg, i16t.into(), Ext::Unsigned, i64t.into()),
            I64Load32S { memarg } => self.load(&memarg, i32t.into(), Ext::Signed, i64t.into()),
            I64Load32U { memarg } => self.load(&memarg, i32t.into(), Ext::Unsigned, i64t.into()),
            I32Store { memarg }
            | I64Store { memarg }
            | F32Store { memarg }
            | F64Store { memarg } => self.store(&memarg, None),
            I32Store8 { memarg } | I64Store8 { memarg } => self.store(&memarg, Some(i8t)),
            I32Store16 { memarg } | I64Store16 { memarg } => self.store(&memarg, Some(i16t)),
            I64Store32 { memarg } => self.store(&memarg, Some(i32t)),
            _ => unreachable!("not a load or store"),
        }
    }

    pub(super) fn op_memory_size(&mut self, m: u32) -> BResult<()> {
        let env = self.env;
        let def = env.load_ptr(self.vmctx, env.offsets.memory_definition(m), "memdef")?;
        let len = env
            .load(env.i64(), def, VMMemoryDefinition::OFFSET_LENGTH, "memlen")?
            .into_int_value();
        let pages = env.builder.build_right_shift(
            len,
            env.i64().const_int(WASM_PAGE_SHIFT as u64, false),
            false,
            "",
        )?;
        let pages = env.builder.build_int_truncate(pages, env.i32(), "pages")?;
        self.push(pages);
        Ok(())
    }

    pub(super) fn op_memory_grow(&mut self, m: u32) -> BResult<()> {
        let old = self.call_builtin_popping(BuiltinIndex::MemoryGrow, &[m], 1)?;
        self.push(old.expect("memory.grow returns the old size"));
        Ok(())
    }

    pub(super) fn op_memory_fill(&mut self, m: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::MemoryFill, &[m], 3)
    }

    pub(super) fn op_memory_copy(&mut self, dst_m: u32, src_m: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::MemoryCopy, &[dst_m, src_m], 3)
    }

    pub(super) fn op_memory_init(&mut self, data: u32, m: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::MemoryInit, &[m, data], 3)
    }

    pub(super) fn op_data_drop(&mut self, data: u32) -> BResult<()> {
        self.call_builtin_popping(BuiltinIndex::DataDrop, &[data], 0)?;
        Ok(())
    }
}
