//! Lane-wise float arithmetic, comparisons and conversions.
//!
//! What must stay true (as for scalars, `translate/numeric.rs`):
//! - `min`/`max` propagate NaN and order -0 below +0 (`llvm.minimum` /
//!   `llvm.maximum`), with a NaN result quieted; `pmin`/`pmax` are the
//!   spec's `b < a ? b : a` / `a < b ? b : a`, which return the first
//!   operand when either is NaN.
//! - `nearest` rounds half to even (`llvm.roundeven`); the rounding
//!   operators quiet a NaN themselves (LLVM's expansion without SSE4.1
//!   does not).
//! - float-to-int conversions saturate (NaN is 0), the `_zero` forms fill
//!   the upper lanes with 0 (`v_trunc_sat` says how, with SSE2's
//!   conversions and explicit fix-ups).
//! - A NaN that LLVM could pass through unquieted by folding an identity
//!   (`x * 1.0`, `x + -0.0`, `demote(promote(x))`) is quieted explicitly.
//! - Comparisons give all-ones / all-zeros integer lanes; `ne` is true for
//!   NaN operands (unordered), the others false.

use super::Shape;
use crate::env::BResult;
use crate::translate::FuncTranslator;
use inkwell::values::{BasicValue, InstructionOpcode, VectorValue};
use inkwell::FloatPredicate;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FBin {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    PMin,
    PMax,
}

#[derive(Clone, Copy)]
pub(crate) enum FUn {
    Ceil,
    Floor,
    Trunc,
    Nearest,
    Abs,
    Neg,
    Sqrt,
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    pub(super) fn v_fbin(&mut self, s: Shape, op: FBin) -> BResult<()> {
        let y = self.pop_vec(s)?;
        let x = self.pop_vec(s)?;
        let b = &self.env.builder;
        let v = match op {
            FBin::Add => b.build_float_add(x, y, "")?,
            FBin::Sub => b.build_float_sub(x, y, "")?,
            FBin::Mul => b.build_float_mul(x, y, "")?,
            FBin::Div => b.build_float_div(x, y, "")?,
            FBin::Min | FBin::Max => {
                let name = if op == FBin::Min {
                    "llvm.minimum"
                } else {
                    "llvm.maximum"
                };
                let ty = self.vec_type(s).into();
                let m = self
                    .call_intrinsic(name, &[ty], &[x.into(), y.into()])?
                    .into_vector_value();
                // llvm.minimum returns a NaN operand as it is; wasm wants it
                // quieted, which `x + y` does for any NaN input.
                let b = &self.env.builder;
                let any_nan = b.build_float_compare(FloatPredicate::UNO, x, y, "")?;
                let quiet = b.build_float_add(x, y, "")?;
                b.build_select(any_nan, quiet, m, "")?.into_vector_value()
            }
            FBin::PMin => {
                let lt = b.build_float_compare(FloatPredicate::OLT, y, x, "")?;
                b.build_select(lt, y, x, "")?.into_vector_value()
            }
            FBin::PMax => {
                let lt = b.build_float_compare(FloatPredicate::OLT, x, y, "")?;
                b.build_select(lt, y, x, "")?.into_vector_value()
            }
        };
        // LLVM folds `x * 1.0`, `x - 0.0`, `x / 1.0` ... to `x`: with a
        // constant operand, quiet what could be a signalling NaN passed
        // through (see `quiet_nans`).
        let arith = matches!(op, FBin::Add | FBin::Sub | FBin::Mul | FBin::Div);
        let v = if arith && (x.is_const() || y.is_const()) {
            self.quiet_nans(v, s)?
        } else {
            v
        };
        self.push_vec(v)
    }

    pub(super) fn funary(&mut self, s: Shape, op: FUn) -> BResult<()> {
        let x = self.pop_vec(s)?;
        let name = match op {
            FUn::Neg => {
                let v = self.env.builder.build_float_neg(x, "")?;
                return self.push_vec(v);
            }
            FUn::Abs => "llvm.fabs",
            FUn::Sqrt => "llvm.sqrt",
            FUn::Ceil => "llvm.ceil",
            FUn::Floor => "llvm.floor",
            FUn::Trunc => "llvm.trunc",
            FUn::Nearest => "llvm.roundeven",
        };
        let ty = self.vec_type(s).into();
        let v = self
            .call_intrinsic(name, &[ty], &[x.into()])?
            .into_vector_value();
        // Without SSE4.1 (generic x86-64) LLVM expands vector rounding as
        // "x if |x| is too large to have a fraction, else convert", which
        // returns a signalling NaN unquieted; `roundps` would quiet it.
        let v = if matches!(op, FUn::Ceil | FUn::Floor | FUn::Trunc | FUn::Nearest) {
            self.quiet_nans(v, s)?
        } else {
            v
        };
        self.push_vec(v)
    }

    pub(super) fn v_fcmp(&mut self, s: Shape, pred: FloatPredicate) -> BResult<()> {
        let y = self.pop_vec(s)?;
        let x = self.pop_vec(s)?;
        let c = self.env.builder.build_float_compare(pred, x, y, "")?;
        let v = self.mask_of(c, s)?;
        self.push_vec(v)
    }

    /// `i32x4.trunc_sat_f32x4_{s,u}` and `i32x4.trunc_sat_f64x2_{s,u}_zero`
    /// (and their deterministic relaxed forms).
    ///
    /// LLVM 19 turns `llvm.fpto[su]i.sat` on vectors into one scalar
    /// conversion per lane on x86. These are SSE2's `cvttps2dq` /
    /// `cvttpd2dq` (baseline x86-64, so any `target_cpu`) with the lanes
    /// they get wrong fixed up: they give `0x80000000` for NaN and for
    /// anything out of the i32 range, so NaN lanes are zeroed before and
    /// lanes at or above 2^31 saturated after; the unsigned forms convert
    /// `x - 2^31` where `x >= 2^31` and set the top bit back.
    pub(super) fn v_trunc_sat(&mut self, from: Shape, signed: bool) -> BResult<()> {
        let x = self.pop_vec(from)?;
        let fty = x.get_type();
        let b = &self.env.builder;
        let splat_f = |c: f64| {
            let lane = fty.get_element_type().into_float_type().const_float(c);
            inkwell::types::VectorType::const_vector(&vec![lane; fty.get_size() as usize])
        };
        let zero = fty.const_zero();
        let two31 = splat_f(2147483648.0);
        // NaN -> 0; for the unsigned forms negative -> 0 as well.
        let x = if signed {
            let ordered = b.build_float_compare(FloatPredicate::ORD, x, x, "")?;
            b.build_select(ordered, x, zero, "")?.into_vector_value()
        } else {
            let positive = b.build_float_compare(FloatPredicate::OGT, x, zero, "")?;
            b.build_select(positive, x, zero, "")?.into_vector_value()
        };
        // x >= 2^31: the signed forms saturate it, the unsigned ones
        // convert it less 2^31.
        let big = b.build_float_compare(FloatPredicate::OGE, x, two31, "")?;
        let x_in = if signed {
            x
        } else {
            let less = b.build_float_sub(x, two31, "")?;
            b.build_select(big, less, x, "")?.into_vector_value()
        };
        let (name, n) = if from == Shape::F32x4 {
            ("llvm.x86.sse2.cvttps2dq", 4)
        } else {
            ("llvm.x86.sse2.cvttpd2dq", 2)
        };
        // Both return <4 x i32>; cvttpd2dq zeroes the upper two lanes.
        let r = self
            .call_intrinsic(name, &[], &[x_in.into()])?
            .into_vector_value();
        // The per-lane conditions, widened to 4 lanes (false above `n`).
        let widen = |t: &Self, c: VectorValue<'ctx>| -> BResult<VectorValue<'ctx>> {
            if n == 4 {
                Ok(c)
            } else {
                let f = c.get_type().const_zero();
                t.shuffle(c, f, 0..4)
            }
        };
        let big4 = widen(self, big)?;
        let b = &self.env.builder;
        let r = if signed {
            let max = self.splat_const(Shape::I32x4, 0x7fff_ffff);
            b.build_select(big4, max, r, "")?.into_vector_value()
        } else {
            let top = self.splat_const(Shape::I32x4, 0x8000_0000);
            let with_top = b.build_xor(r, top, "")?;
            let r = b.build_select(big4, with_top, r, "")?.into_vector_value();
            let over = b.build_float_compare(FloatPredicate::OGE, x, splat_f(4294967296.0), "")?;
            let over4 = widen(self, over)?;
            let all = self.splat_const(Shape::I32x4, 0xffff_ffff);
            self.env
                .builder
                .build_select(over4, all, r, "")?
                .into_vector_value()
        };
        self.push_vec(r)
    }

    pub(super) fn f32x4_convert_i32x4(&mut self, signed: bool) -> BResult<()> {
        let x = self.pop_vec(Shape::I32x4)?;
        let b = &self.env.builder;
        let to = self.vec_type(Shape::F32x4);
        let v = if signed {
            b.build_signed_int_to_float(x, to, "")?
        } else {
            b.build_unsigned_int_to_float(x, to, "")?
        };
        self.push_vec(v)
    }

    pub(super) fn f64x2_convert_low_i32x4(&mut self, signed: bool) -> BResult<()> {
        let x = self.pop_vec(Shape::I32x4)?;
        let low = self.shuffle(x, x, 0..2)?;
        let b = &self.env.builder;
        let to = self.vec_type(Shape::F64x2);
        let v = if signed {
            b.build_signed_int_to_float(low, to, "")?
        } else {
            b.build_unsigned_int_to_float(low, to, "")?
        };
        self.push_vec(v)
    }

    pub(super) fn f32x4_demote_f64x2_zero(&mut self) -> BResult<()> {
        let x = self.pop_vec(Shape::F64x2)?;
        let f32x2 = self.env.ctx.f32_type().vec_type(2);
        let v = self.env.builder.build_float_trunc(x, f32x2, "")?;
        let v = self.shuffle(v, f32x2.const_zero(), 0..4)?;
        // LLVM folds demote(promote(x)) to x, skipping NaN quieting.
        let v = if of_fpext(x) {
            self.quiet_nans(v, Shape::F32x4)?
        } else {
            v
        };
        self.push_vec(v)
    }

    pub(super) fn f64x2_promote_low_f32x4(&mut self) -> BResult<()> {
        let x = self.pop_vec(Shape::F32x4)?;
        let low = self.shuffle(x, x, 0..2)?;
        let v = self
            .env
            .builder
            .build_float_ext(low, self.vec_type(Shape::F64x2), "")?;
        self.push_vec(v)
    }
}

/// Whether `v` was computed by an `fpext` (possibly through a bitcast).
fn of_fpext(v: VectorValue<'_>) -> bool {
    let mut i = v.as_instruction();
    while let Some(inst) = i {
        match inst.get_opcode() {
            InstructionOpcode::FPExt => return true,
            InstructionOpcode::BitCast => {
                i = inst
                    .get_operand(0)
                    .and_then(|o| o.value())
                    .and_then(|o| o.as_instruction_value());
            }
            _ => return false,
        }
    }
    false
}
