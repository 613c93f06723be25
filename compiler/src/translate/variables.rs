//! Locals, globals, `select`, references and table access.
//!
//! What must stay true: state a trap leaves visible to the host (globals and
//! table elements, like linear memory) is written with volatile stores, so
//! that LLVM keeps those writes in program order with the memory accesses
//! that may trap (see `memory.rs`).

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::values::{BasicValue, BasicValueEnum};
use wasabi_runtime::vmcontext::{BuiltinIndex, TrapCode, VMTableDefinition};

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    pub(super) fn op_local_get(&mut self, i: u32) -> BResult<()> {
        let (slot, t) = self.locals[i as usize];
        let v = self.env.builder.build_load(self.llvm_type(t), slot, "")?;
        if self.locals_in_memory {
            v.as_instruction_value()
                .expect("a load is an instruction")
                .set_volatile(true)
                .ok();
        }
        self.push(v);
        Ok(())
    }

    pub(super) fn op_local_set(&mut self, i: u32) -> BResult<()> {
        let v = self.pop();
        self.store_local(i, v)
    }

    pub(super) fn op_local_tee(&mut self, i: u32) -> BResult<()> {
        let v = *self.stack.last().unwrap();
        self.store_local(i, v)
    }

    fn store_local(&mut self, i: u32, v: BasicValueEnum<'ctx>) -> BResult<()> {
        let st = self.env.builder.build_store(self.locals[i as usize].0, v)?;
        // See `FuncTranslator::locals_in_memory`.
        st.set_volatile(self.locals_in_memory).ok();
        Ok(())
    }

    /// Address of global `g`'s storage.
    fn global_ptr(&self, g: u32) -> BResult<inkwell::values::PointerValue<'ctx>> {
        let (off, imported) = self.env.offsets.global(g);
        if imported {
            self.env.load_ptr(self.vmctx, off, "global_ptr")
        } else {
            self.env.gep(self.vmctx, off)
        }
    }

    pub(super) fn op_global_get(&mut self, g: u32) -> BResult<()> {
        let ty = self.env.info.globals[g as usize].content;
        let p = self.global_ptr(g)?;
        let v = self
            .env
            .builder
            .build_load(self.llvm_type(ty), p, "global")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_global_set(&mut self, g: u32) -> BResult<()> {
        let v = self.pop();
        let p = self.global_ptr(g)?;
        let st = self.env.builder.build_store(p, v)?;
        // Ordered with the (volatile) memory accesses around it: a global
        // set before a trapping access is visible after the trap, one after
        // it is not, whatever LLVM can prove about aliasing.
        st.set_volatile(true).ok();
        Ok(())
    }

    /// `drop` discards its operand. Nothing needs keeping alive: memory
    /// accesses are volatile (see `memory.rs`), and every other operator
    /// that can trap does so through an explicit branch.
    pub(super) fn op_drop(&mut self) -> BResult<()> {
        self.pop();
        Ok(())
    }

    pub(super) fn op_select(&mut self) -> BResult<()> {
        let c = self.pop_condition()?;
        let b = self.pop();
        let a = self.pop();
        let v = self.env.builder.build_select(c, a, b, "")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_ref_is_null(&mut self) -> BResult<()> {
        let r = self.pop().into_pointer_value();
        let is_null = self.env.builder.build_is_null(r, "")?;
        let v = self
            .env
            .builder
            .build_int_z_extend(is_null, self.env.i32(), "")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_ref_func(&mut self, f: u32) -> BResult<()> {
        let p = self.env.gep(self.vmctx, self.env.offsets.funcref(f))?;
        self.push(p);
        Ok(())
    }

    pub(super) fn op_table_get(&mut self, t: u32) -> BResult<()> {
        let index = self.pop_int();
        let p = self.table_element(t, index, TrapCode::TableOutOfBounds)?;
        let v = self
            .env
            .builder
            .build_load(self.env.ptr_type(), p, "elem")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_table_set(&mut self, t: u32) -> BResult<()> {
        let v = self.pop();
        let index = self.pop_int();
        let p = self.table_element(t, index, TrapCode::TableOutOfBounds)?;
        let st = self.env.builder.build_store(p, v)?;
        // Ordered with memory accesses, as `global.set` is.
        st.set_volatile(true).ok();
        Ok(())
    }

    pub(super) fn op_table_size(&mut self, t: u32) -> BResult<()> {
        let def = self.table_definition(t)?;
        let len = self
            .env
            .load(self.env.i32(), def, VMTableDefinition::OFFSET_LENGTH, "len")?;
        self.push(len);
        Ok(())
    }

    pub(super) fn op_table_grow(&mut self, t: u32) -> BResult<()> {
        let old = self.call_builtin_popping(BuiltinIndex::TableGrow, &[t], 2)?;
        self.push(old.expect("table.grow returns the old size"));
        Ok(())
    }

    pub(super) fn op_table_fill(&mut self, t: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::TableFill, &[t], 3)
    }

    pub(super) fn op_table_copy(&mut self, dst_t: u32, src_t: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::TableCopy, &[dst_t, src_t], 3)
    }

    pub(super) fn op_table_init(&mut self, elem: u32, t: u32) -> BResult<()> {
        self.call_checked_builtin(BuiltinIndex::TableInit, &[t, elem], 3)
    }

    pub(super) fn op_elem_drop(&mut self, elem: u32) -> BResult<()> {
        self.call_builtin_popping(BuiltinIndex::ElemDrop, &[elem], 0)?;
        Ok(())
    }
}
