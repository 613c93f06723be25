//! Locals, globals, `select`, references and table access.

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::values::{BasicValue, BasicValueEnum};
use inkwell::IntPredicate;
use wasabi_runtime::vmcontext::{BuiltinIndex, TrapCode, VMTableDefinition};

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    pub(super) fn op_local_get(&mut self, i: u32) -> BResult<()> {
        let (slot, t) = self.locals[i as usize];
        let v = self.env.builder.build_load(self.llvm_type(t), slot, "")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_local_set(&mut self, i: u32) -> BResult<()> {
        let v = self.pop();
        self.env.builder.build_store(self.locals[i as usize].0, v)?;
        Ok(())
    }

    pub(super) fn op_local_tee(&mut self, i: u32) -> BResult<()> {
        let v = *self.stack.last().unwrap();
        self.env.builder.build_store(self.locals[i as usize].0, v)?;
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
        self.env.builder.build_store(p, v)?;
        Ok(())
    }

    /// `drop` keeps its operand alive through an empty side-effecting asm:
    /// otherwise LLVM deletes an unused load, and a load that should trap
    /// (out of bounds) silently would not.
    pub(super) fn op_drop(&mut self) -> BResult<()> {
        let v = self.pop();
        let is_const = match v {
            BasicValueEnum::IntValue(i) => i.is_const(),
            BasicValueEnum::FloatValue(f) => f.is_const(),
            BasicValueEnum::PointerValue(p) => p.is_const(),
            _ => true,
        };
        if is_const || v.as_instruction_value().is_none() {
            return Ok(());
        }
        let constraint = if v.is_float_value() { "x" } else { "r" };
        let fn_ty = self
            .env
            .ctx
            .void_type()
            .fn_type(&[v.get_type().into()], false);
        let sink = self.env.ctx.create_inline_asm(
            fn_ty,
            String::new(),
            constraint.into(),
            true,
            false,
            None,
            false,
        );
        self.env
            .builder
            .build_indirect_call(fn_ty, sink, &[v.into()], "")?;
        Ok(())
    }

    pub(super) fn op_select(&mut self) -> BResult<()> {
        let cond = self.pop_int();
        let b = self.pop();
        let a = self.pop();
        let c = self.env.builder.build_int_compare(
            IntPredicate::NE,
            cond,
            self.env.i32().const_zero(),
            "",
        )?;
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

    /// Address of element `index` of table `t`, trapping when out of bounds.
    fn table_element(
        &mut self,
        t: u32,
        index: inkwell::values::IntValue<'ctx>,
    ) -> BResult<inkwell::values::PointerValue<'ctx>> {
        let env = self.env;
        let def = self.table_definition(t)?;
        let len = env
            .load(env.i32(), def, VMTableDefinition::OFFSET_LENGTH, "len")?
            .into_int_value();
        let oob = env
            .builder
            .build_int_compare(IntPredicate::UGE, index, len, "")?;
        self.trap_if(oob, TrapCode::TableOutOfBounds)?;
        let base = env.load_ptr(def, VMTableDefinition::OFFSET_BASE, "elems")?;
        let index64 = env.builder.build_int_z_extend(index, env.i64(), "")?;
        let off = env
            .builder
            .build_int_mul(index64, env.i64().const_int(8, false), "")?;
        env.gep_dyn(base, off)
    }

    pub(super) fn op_table_get(&mut self, t: u32) -> BResult<()> {
        let index = self.pop_int();
        let p = self.table_element(t, index)?;
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
        let p = self.table_element(t, index)?;
        self.env.builder.build_store(p, v)?;
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

    pub(super) fn i32c(&self, v: u32) -> BasicValueEnum<'ctx> {
        self.env.i32().const_int(v as u64, false).into()
    }

    pub(super) fn op_table_grow(&mut self, t: u32) -> BResult<()> {
        let delta = self.pop();
        let init = self.pop();
        let r = self.env.call_builtin(
            self.vmctx,
            BuiltinIndex::TableGrow,
            &[
                self.vmctx.into(),
                self.i32c(t).into(),
                init.into(),
                delta.into(),
            ],
        )?;
        self.push(r.unwrap());
        Ok(())
    }

    pub(super) fn op_table_fill(&mut self, t: u32) -> BResult<()> {
        let len = self.pop();
        let val = self.pop();
        let dst = self.pop();
        let status = self
            .env
            .call_builtin(
                self.vmctx,
                BuiltinIndex::TableFill,
                &[
                    self.vmctx.into(),
                    self.i32c(t).into(),
                    dst.into(),
                    val.into(),
                    len.into(),
                ],
            )?
            .unwrap();
        self.trap_on_status(status.into_int_value())
    }

    pub(super) fn op_table_copy(&mut self, dst_t: u32, src_t: u32) -> BResult<()> {
        let len = self.pop();
        let src = self.pop();
        let dst = self.pop();
        let status = self
            .env
            .call_builtin(
                self.vmctx,
                BuiltinIndex::TableCopy,
                &[
                    self.vmctx.into(),
                    self.i32c(dst_t).into(),
                    self.i32c(src_t).into(),
                    dst.into(),
                    src.into(),
                    len.into(),
                ],
            )?
            .unwrap();
        self.trap_on_status(status.into_int_value())
    }

    pub(super) fn op_table_init(&mut self, elem: u32, t: u32) -> BResult<()> {
        let len = self.pop();
        let src = self.pop();
        let dst = self.pop();
        let status = self
            .env
            .call_builtin(
                self.vmctx,
                BuiltinIndex::TableInit,
                &[
                    self.vmctx.into(),
                    self.i32c(t).into(),
                    self.i32c(elem).into(),
                    dst.into(),
                    src.into(),
                    len.into(),
                ],
            )?
            .unwrap();
        self.trap_on_status(status.into_int_value())
    }

    pub(super) fn op_elem_drop(&mut self, elem: u32) -> BResult<()> {
        self.env.call_builtin(
            self.vmctx,
            BuiltinIndex::ElemDrop,
            &[self.vmctx.into(), self.i32c(elem).into()],
        )?;
        Ok(())
    }
}
