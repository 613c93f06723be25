//! Integer and floating-point arithmetic, comparisons and conversions, with
//! exact wasm semantics.
//!
//! What must stay true (each is a place where LLVM's own semantics differ
//! from wasm's and a check or a different intrinsic is needed):
//! - Shift and rotate counts are taken modulo the bit width (LLVM: poison).
//! - Division traps on zero and signed `MIN / -1`; `rem_s` of `MIN % -1` is 0
//!   (LLVM: undefined behaviour for all three).
//! - `clz`/`ctz` of 0 is the bit width (`is_zero_poison = false`).
//! - `min`/`max` propagate NaN and order -0 below +0 (`llvm.minimum`).
//! - `nearest` rounds half to even (`llvm.roundeven`).
//! - Trapping float-to-int conversions trap on NaN ("invalid conversion")
//!   and out-of-range values ("integer overflow"); the saturating ones use
//!   `llvm.fpto[su]i.sat`.
//! - A trapping operation on constants that would trap becomes a plain trap
//!   (see `FuncTranslator::trap_if`) before the operation itself is built
//!   where it is reachable: LLVM folds it to poison. Constants are read only
//!   through [`float_constant`], which refuses poison.

use super::FuncTranslator;
use crate::env::BResult;
use crate::CompileError;
use inkwell::types::{BasicTypeEnum, FloatType, IntType};
use inkwell::values::{BasicValueEnum, FloatValue, IntValue};
use inkwell::{FloatPredicate, IntPredicate};
use wasabi_runtime::vmcontext::TrapCode;
use wasmparser::Operator;

#[derive(Clone, Copy)]
enum IBin {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Shl,
    ShrS,
    ShrU,
    Rotl,
    Rotr,
    DivS,
    DivU,
    RemS,
    RemU,
}

#[derive(Clone, Copy)]
enum FBin {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Copysign,
}

#[derive(Clone, Copy)]
enum FUn {
    Abs,
    Neg,
    Sqrt,
    Ceil,
    Floor,
    Trunc,
    Nearest,
}

/// The value of `v` if it is a floating-point constant. Not inkwell's
/// `get_constant`, which reads any constant as a `ConstantFP`: a poison or
/// undef value (what LLVM folds a trapping operation on constants to) or a
/// constant expression would crash LLVM.
fn float_constant(v: FloatValue<'_>) -> Option<f64> {
    use inkwell::llvm_sys::core::{LLVMConstRealGetDouble, LLVMIsAConstantFP};
    use inkwell::values::AsValueRef;
    let r = v.as_value_ref();
    // SAFETY: `r` is a live value of this function's context; LLVMIsAConstantFP
    // only inspects its kind, and LLVMConstRealGetDouble is called only on a
    // value that is a ConstantFP, which is what it requires.
    unsafe {
        if LLVMIsAConstantFP(r).is_null() {
            return None;
        }
        let mut lossy = 0;
        Some(LLVMConstRealGetDouble(r, &mut lossy))
    }
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    fn bool_to_i32(&self, b: IntValue<'ctx>) -> BResult<IntValue<'ctx>> {
        Ok(self.env.builder.build_int_z_extend(b, self.env.i32(), "")?)
    }

    /// Calls an LLVM intrinsic overloaded on `types` (scalar and vector
    /// operators alike).
    pub(super) fn call_intrinsic(
        &self,
        name: &str,
        types: &[BasicTypeEnum<'ctx>],
        args: &[BasicValueEnum<'ctx>],
    ) -> BResult<BasicValueEnum<'ctx>> {
        let f = self.env.intrinsic(name, types)?;
        let args: Vec<_> = args.iter().map(|a| (*a).into()).collect();
        Ok(self
            .env
            .builder
            .build_call(f, &args, "")?
            .try_as_basic_value()
            .basic()
            .expect("the intrinsic returns a value"))
    }

    fn ibin(&mut self, op: IBin) -> BResult<()> {
        let (a, b) = self.pop2_int();
        let ty = a.get_type();
        let bits = ty.get_bit_width() as u64;
        let bld = &self.env.builder;
        let mask = |v: IntValue<'ctx>| bld.build_and(v, ty.const_int(bits - 1, false), "");
        let v = match op {
            IBin::Add => bld.build_int_add(a, b, "")?,
            IBin::Sub => bld.build_int_sub(a, b, "")?,
            IBin::Mul => bld.build_int_mul(a, b, "")?,
            IBin::And => bld.build_and(a, b, "")?,
            IBin::Or => bld.build_or(a, b, "")?,
            IBin::Xor => bld.build_xor(a, b, "")?,
            IBin::Shl => bld.build_left_shift(a, mask(b)?, "")?,
            IBin::ShrS => bld.build_right_shift(a, mask(b)?, true, "")?,
            IBin::ShrU => bld.build_right_shift(a, mask(b)?, false, "")?,
            IBin::Rotl | IBin::Rotr => {
                let name = if matches!(op, IBin::Rotl) {
                    "llvm.fshl"
                } else {
                    "llvm.fshr"
                };
                self.call_intrinsic(name, &[ty.into()], &[a.into(), a.into(), b.into()])?
                    .into_int_value()
            }
            IBin::DivS | IBin::DivU | IBin::RemS | IBin::RemU => {
                let zero = bld.build_int_compare(IntPredicate::EQ, b, ty.const_zero(), "")?;
                self.trap_if(zero, TrapCode::IntegerDivisionByZero)?;
                let bld = &self.env.builder;
                let min = ty.const_int(1u64 << (bits - 1), false);
                let minus_one = ty.const_all_ones();
                match op {
                    IBin::DivU => bld.build_int_unsigned_div(a, b, "")?,
                    IBin::RemU => bld.build_int_unsigned_rem(a, b, "")?,
                    IBin::DivS => {
                        let a_min = bld.build_int_compare(IntPredicate::EQ, a, min, "")?;
                        let b_m1 = bld.build_int_compare(IntPredicate::EQ, b, minus_one, "")?;
                        let ovf = bld.build_and(a_min, b_m1, "")?;
                        self.trap_if(ovf, TrapCode::IntegerOverflow)?;
                        self.env.builder.build_int_signed_div(a, b, "")?
                    }
                    _ => {
                        // MIN % -1 is 0 in wasm; divide by 1 instead of -1.
                        let b_m1 = bld.build_int_compare(IntPredicate::EQ, b, minus_one, "")?;
                        let safe_b = bld
                            .build_select(b_m1, ty.const_int(1, false), b, "")?
                            .into_int_value();
                        bld.build_int_signed_rem(a, safe_b, "")?
                    }
                }
            }
        };
        self.push(v);
        Ok(())
    }

    fn icmp(&mut self, pred: IntPredicate) -> BResult<()> {
        let (a, b) = self.pop2_int();
        let c = self.env.builder.build_int_compare(pred, a, b, "")?;
        let v = self.bool_to_i32(c)?;
        self.push(v);
        Ok(())
    }

    fn iunary_intrinsic(&mut self, name: &str, with_flag: bool) -> BResult<()> {
        let a = self.pop_int();
        let ty = a.get_type();
        let mut args: Vec<BasicValueEnum> = vec![a.into()];
        if with_flag {
            args.push(self.env.ctx.bool_type().const_zero().into());
        }
        let v = self.call_intrinsic(name, &[ty.into()], &args)?;
        self.push(v);
        Ok(())
    }

    fn eqz(&mut self) -> BResult<()> {
        let a = self.pop_int();
        let c = self.env.builder.build_int_compare(
            IntPredicate::EQ,
            a,
            a.get_type().const_zero(),
            "",
        )?;
        let v = self.bool_to_i32(c)?;
        self.push(v);
        Ok(())
    }

    /// Sign-extends the low `from` type of the top value back to its width.
    fn extend_s(&mut self, from: IntType<'ctx>) -> BResult<()> {
        let a = self.pop_int();
        let t = self.env.builder.build_int_truncate(a, from, "")?;
        let v = self.env.builder.build_int_s_extend(t, a.get_type(), "")?;
        self.push(v);
        Ok(())
    }

    fn pop_float(&mut self) -> FloatValue<'ctx> {
        self.pop().into_float_value()
    }

    fn fbin(&mut self, op: FBin) -> BResult<()> {
        let b = self.pop_float();
        let a = self.pop_float();
        let ty = a.get_type();
        let bld = &self.env.builder;
        let v: BasicValueEnum = match op {
            FBin::Add => bld.build_float_add(a, b, "")?.into(),
            FBin::Sub => bld.build_float_sub(a, b, "")?.into(),
            FBin::Mul => bld.build_float_mul(a, b, "")?.into(),
            FBin::Div => bld.build_float_div(a, b, "")?.into(),
            FBin::Min | FBin::Max => {
                // llvm.minimum/maximum return a NaN operand as it is; wasm
                // wants it quieted, which `a + b` does for any NaN input.
                let name = if matches!(op, FBin::Min) {
                    "llvm.minimum"
                } else {
                    "llvm.maximum"
                };
                let m = self.call_intrinsic(name, &[ty.into()], &[a.into(), b.into()])?;
                let bld = &self.env.builder;
                let any_nan = bld.build_float_compare(FloatPredicate::UNO, a, b, "")?;
                let quiet = bld.build_float_add(a, b, "")?;
                bld.build_select(any_nan, quiet, m.into_float_value(), "")?
            }
            FBin::Copysign => {
                self.call_intrinsic("llvm.copysign", &[ty.into()], &[a.into(), b.into()])?
            }
        };
        // LLVM folds `x - 0.0`, `x * 1.0`, `x / 1.0`, `x * -1.0` ... to `x`
        // or `-x`, which would pass a signalling NaN through unquieted;
        // setting the quiet bit of a NaN result restores wasm's arithmetic-NaN
        // rule.
        let identity_operand = |v: FloatValue<'ctx>| {
            float_constant(v).is_some_and(|c| c == 0.0 || c == 1.0 || c == -1.0)
        };
        let v = if matches!(op, FBin::Add | FBin::Sub | FBin::Mul | FBin::Div)
            && (identity_operand(a) || identity_operand(b))
        {
            self.quiet_nan(v.into_float_value())?.into()
        } else {
            v
        };
        self.push(v);
        Ok(())
    }

    /// `x` with the quiet bit set if it is a NaN (what `llvm.canonicalize`
    /// does, which the x86 backend of LLVM 19 cannot select).
    fn quiet_nan(&self, x: FloatValue<'ctx>) -> BResult<FloatValue<'ctx>> {
        let bld = &self.env.builder;
        let fty = x.get_type();
        let (ity, quiet_bit) = if fty == self.env.ctx.f32_type() {
            (self.env.i32(), 0x0040_0000u64)
        } else {
            (self.env.i64(), 0x0008_0000_0000_0000u64)
        };
        let bits = bld.build_bit_cast(x, ity, "")?.into_int_value();
        let quieted = bld.build_or(bits, ity.const_int(quiet_bit, false), "")?;
        let quieted = bld.build_bit_cast(quieted, fty, "")?.into_float_value();
        let is_nan = bld.build_float_compare(FloatPredicate::UNO, x, x, "")?;
        Ok(bld.build_select(is_nan, quieted, x, "")?.into_float_value())
    }

    fn fun(&mut self, op: FUn) -> BResult<()> {
        let a = self.pop_float();
        let ty = a.get_type();
        let name = match op {
            FUn::Neg => {
                let v = self.env.builder.build_float_neg(a, "")?;
                self.push(v);
                return Ok(());
            }
            FUn::Abs => "llvm.fabs",
            FUn::Sqrt => "llvm.sqrt",
            FUn::Ceil => "llvm.ceil",
            FUn::Floor => "llvm.floor",
            FUn::Trunc => "llvm.trunc",
            FUn::Nearest => "llvm.roundeven",
        };
        let v = self.call_intrinsic(name, &[ty.into()], &[a.into()])?;
        self.push(v);
        Ok(())
    }

    fn fcmp(&mut self, pred: FloatPredicate) -> BResult<()> {
        let b = self.pop_float();
        let a = self.pop_float();
        let c = self.env.builder.build_float_compare(pred, a, b, "")?;
        let v = self.bool_to_i32(c)?;
        self.push(v);
        Ok(())
    }

    /// Trapping float-to-int truncation. `lo`/`hi` are the exclusive bounds
    /// of the representable range (`lo_inclusive` when the bound itself is
    /// exactly representable and valid).
    fn trunc_trapping(&mut self, to: IntType<'ctx>, signed: bool) -> BResult<()> {
        let a = self.pop_float();
        let fty = a.get_type();
        let is_f32 = fty == self.env.ctx.f32_type();
        let bits = to.get_bit_width();
        // (lower bound, lower inclusive, upper bound exclusive)
        let (lo, lo_incl, hi): (f64, bool, f64) = match (signed, bits) {
            (true, 32) if is_f32 => (-2147483648.0, true, 2147483648.0),
            (true, 32) => (-2147483649.0, false, 2147483648.0),
            (true, _) => (-9223372036854775808.0, true, 9223372036854775808.0),
            (false, 32) => (-1.0, false, 4294967296.0),
            (false, _) => (-1.0, false, 18446744073709551616.0),
        };
        let bld = &self.env.builder;
        let is_nan = bld.build_float_compare(FloatPredicate::UNO, a, a, "")?;
        self.trap_if(is_nan, TrapCode::BadConversionToInteger)?;
        let bld = &self.env.builder;
        let lo_pred = if lo_incl {
            FloatPredicate::OGE
        } else {
            FloatPredicate::OGT
        };
        let above = bld.build_float_compare(lo_pred, a, fty.const_float(lo), "")?;
        let below = bld.build_float_compare(FloatPredicate::OLT, a, fty.const_float(hi), "")?;
        let ok = bld.build_and(above, below, "")?;
        let bad = bld.build_not(ok, "")?;
        self.trap_if(bad, TrapCode::IntegerOverflow)?;
        let bld = &self.env.builder;
        let v = if signed {
            bld.build_float_to_signed_int(a, to, "")?
        } else {
            bld.build_float_to_unsigned_int(a, to, "")?
        };
        self.push(v);
        Ok(())
    }

    fn trunc_sat(&mut self, to: IntType<'ctx>, signed: bool) -> BResult<()> {
        let a = self.pop_float();
        let name = if signed {
            "llvm.fptosi.sat"
        } else {
            "llvm.fptoui.sat"
        };
        let v = self.call_intrinsic(name, &[to.into(), a.get_type().into()], &[a.into()])?;
        self.push(v);
        Ok(())
    }

    fn int_to_float(&mut self, to: FloatType<'ctx>, signed: bool) -> BResult<()> {
        let a = self.pop_int();
        let v = if signed {
            self.env.builder.build_signed_int_to_float(a, to, "")?
        } else {
            self.env.builder.build_unsigned_int_to_float(a, to, "")?
        };
        self.push(v);
        Ok(())
    }

    fn bitcast(&mut self, to: BasicTypeEnum<'ctx>) -> BResult<()> {
        let a = self.pop();
        let v = self.env.builder.build_bit_cast(a, to, "")?;
        self.push(v);
        Ok(())
    }

    pub(super) fn op_numeric(&mut self, op: Operator<'_>) -> BResult<()> {
        use Operator::*;
        let c = self.env.ctx;
        let (i8t, i16t, i32t, i64t) = (c.i8_type(), c.i16_type(), c.i32_type(), c.i64_type());
        let (f32t, f64t) = (c.f32_type(), c.f64_type());
        match op {
            I32Const { value } => self.push(i32t.const_int(value as u32 as u64, false)),
            I64Const { value } => self.push(i64t.const_int(value as u64, false)),
            F32Const { value } => {
                let v = i32t.const_int(value.bits() as u64, false);
                let f = self.env.builder.build_bit_cast(v, f32t, "")?;
                self.push(f)
            }
            F64Const { value } => {
                let v = i64t.const_int(value.bits(), false);
                let f = self.env.builder.build_bit_cast(v, f64t, "")?;
                self.push(f)
            }

            I32Add | I64Add => return self.ibin(IBin::Add),
            I32Sub | I64Sub => return self.ibin(IBin::Sub),
            I32Mul | I64Mul => return self.ibin(IBin::Mul),
            I32And | I64And => return self.ibin(IBin::And),
            I32Or | I64Or => return self.ibin(IBin::Or),
            I32Xor | I64Xor => return self.ibin(IBin::Xor),
            I32Shl | I64Shl => return self.ibin(IBin::Shl),
            I32ShrS | I64ShrS => return self.ibin(IBin::ShrS),
            I32ShrU | I64ShrU => return self.ibin(IBin::ShrU),
            I32Rotl | I64Rotl => return self.ibin(IBin::Rotl),
            I32Rotr | I64Rotr => return self.ibin(IBin::Rotr),
            I32DivS | I64DivS => return self.ibin(IBin::DivS),
            I32DivU | I64DivU => return self.ibin(IBin::DivU),
            I32RemS | I64RemS => return self.ibin(IBin::RemS),
            I32RemU | I64RemU => return self.ibin(IBin::RemU),

            I32Eqz | I64Eqz => return self.eqz(),
            I32Eq | I64Eq => return self.icmp(IntPredicate::EQ),
            I32Ne | I64Ne => return self.icmp(IntPredicate::NE),
            I32LtS | I64LtS => return self.icmp(IntPredicate::SLT),
            I32LtU | I64LtU => return self.icmp(IntPredicate::ULT),
            I32GtS | I64GtS => return self.icmp(IntPredicate::SGT),
            I32GtU | I64GtU => return self.icmp(IntPredicate::UGT),
            I32LeS | I64LeS => return self.icmp(IntPredicate::SLE),
            I32LeU | I64LeU => return self.icmp(IntPredicate::ULE),
            I32GeS | I64GeS => return self.icmp(IntPredicate::SGE),
            I32GeU | I64GeU => return self.icmp(IntPredicate::UGE),

            I32Clz | I64Clz => return self.iunary_intrinsic("llvm.ctlz", true),
            I32Ctz | I64Ctz => return self.iunary_intrinsic("llvm.cttz", true),
            I32Popcnt | I64Popcnt => return self.iunary_intrinsic("llvm.ctpop", false),
            I32Extend8S | I64Extend8S => return self.extend_s(i8t),
            I32Extend16S | I64Extend16S => return self.extend_s(i16t),
            I64Extend32S => return self.extend_s(i32t),

            F32Add | F64Add => return self.fbin(FBin::Add),
            F32Sub | F64Sub => return self.fbin(FBin::Sub),
            F32Mul | F64Mul => return self.fbin(FBin::Mul),
            F32Div | F64Div => return self.fbin(FBin::Div),
            F32Min | F64Min => return self.fbin(FBin::Min),
            F32Max | F64Max => return self.fbin(FBin::Max),
            F32Copysign | F64Copysign => return self.fbin(FBin::Copysign),
            F32Abs | F64Abs => return self.fun(FUn::Abs),
            F32Neg | F64Neg => return self.fun(FUn::Neg),
            F32Sqrt | F64Sqrt => return self.fun(FUn::Sqrt),
            F32Ceil | F64Ceil => return self.fun(FUn::Ceil),
            F32Floor | F64Floor => return self.fun(FUn::Floor),
            F32Trunc | F64Trunc => return self.fun(FUn::Trunc),
            F32Nearest | F64Nearest => return self.fun(FUn::Nearest),

            F32Eq | F64Eq => return self.fcmp(FloatPredicate::OEQ),
            F32Ne | F64Ne => return self.fcmp(FloatPredicate::UNE),
            F32Lt | F64Lt => return self.fcmp(FloatPredicate::OLT),
            F32Gt | F64Gt => return self.fcmp(FloatPredicate::OGT),
            F32Le | F64Le => return self.fcmp(FloatPredicate::OLE),
            F32Ge | F64Ge => return self.fcmp(FloatPredicate::OGE),

            I32WrapI64 => {
                let a = self.pop_int();
                let v = self.env.builder.build_int_truncate(a, i32t, "")?;
                self.push(v)
            }
            I64ExtendI32S => {
                let a = self.pop_int();
                let v = self.env.builder.build_int_s_extend(a, i64t, "")?;
                self.push(v)
            }
            I64ExtendI32U => {
                let a = self.pop_int();
                let v = self.env.builder.build_int_z_extend(a, i64t, "")?;
                self.push(v)
            }
            I32TruncF32S | I32TruncF64S => return self.trunc_trapping(i32t, true),
            I32TruncF32U | I32TruncF64U => return self.trunc_trapping(i32t, false),
            I64TruncF32S | I64TruncF64S => return self.trunc_trapping(i64t, true),
            I64TruncF32U | I64TruncF64U => return self.trunc_trapping(i64t, false),
            I32TruncSatF32S | I32TruncSatF64S => return self.trunc_sat(i32t, true),
            I32TruncSatF32U | I32TruncSatF64U => return self.trunc_sat(i32t, false),
            I64TruncSatF32S | I64TruncSatF64S => return self.trunc_sat(i64t, true),
            I64TruncSatF32U | I64TruncSatF64U => return self.trunc_sat(i64t, false),
            F32ConvertI32S | F32ConvertI64S => return self.int_to_float(f32t, true),
            F32ConvertI32U | F32ConvertI64U => return self.int_to_float(f32t, false),
            F64ConvertI32S | F64ConvertI64S => return self.int_to_float(f64t, true),
            F64ConvertI32U | F64ConvertI64U => return self.int_to_float(f64t, false),
            F32DemoteF64 => {
                let a = self.pop_float();
                // LLVM folds demote(promote(x)) to x, skipping NaN quieting.
                let of_promote = a
                    .as_instruction()
                    .is_some_and(|i| i.get_opcode() == inkwell::values::InstructionOpcode::FPExt);
                let v = self.env.builder.build_float_trunc(a, f32t, "")?;
                let v = if of_promote { self.quiet_nan(v)? } else { v };
                self.push(v)
            }
            F64PromoteF32 => {
                let a = self.pop_float();
                let v = self.env.builder.build_float_ext(a, f64t, "")?;
                self.push(v)
            }
            I32ReinterpretF32 => return self.bitcast(i32t.into()),
            I64ReinterpretF64 => return self.bitcast(i64t.into()),
            F32ReinterpretI32 => return self.bitcast(f32t.into()),
            F64ReinterpretI64 => return self.bitcast(f64t.into()),

            other => {
                let name = format!("{other:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("").to_string();
                return Err(CompileError::Unsupported(format!(
                    "the instruction `{name}`"
                )));
            }
        }
        Ok(())
    }
}
