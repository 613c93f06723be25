//! Lane-wise integer arithmetic and comparisons: add/sub/mul, saturating
//! add/sub, min/max, abs/neg, shifts, averages, narrowing and widening
//! (extend, extended multiply, pairwise add), dot product and `q15mulr`.
//!
//! What must stay true (where LLVM's semantics differ from wasm's):
//! - A shift count is the scalar operand modulo the lane width (LLVM: poison
//!   for counts >= the width).
//! - `abs` of MIN is MIN (`llvm.abs` with `is_int_min_poison = false`).
//! - Results wider than a lane are computed in wider lanes and then
//!   saturated or truncated explicitly (`avgr_u`, `q15mulr_sat_s`,
//!   `narrow`), never left to overflow in the narrow type.
//! - Comparisons give all-ones / all-zeros lanes (a sign extension of the
//!   `<n x i1>` result).

use super::{Half, Shape};
use crate::env::BResult;
use crate::translate::FuncTranslator;
use inkwell::IntPredicate;

#[derive(Clone, Copy)]
pub(crate) enum IBin {
    Add,
    Sub,
    Mul,
}

#[derive(Clone, Copy)]
pub(crate) enum Shift {
    Shl,
    ShrS,
    ShrU,
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    pub(super) fn v_ibin(&mut self, s: Shape, op: IBin) -> BResult<()> {
        let y = self.pop_vec(s)?;
        let x = self.pop_vec(s)?;
        let b = &self.env.builder;
        let v = match op {
            IBin::Add => b.build_int_add(x, y, "")?,
            IBin::Sub => b.build_int_sub(x, y, "")?,
            IBin::Mul => b.build_int_mul(x, y, "")?,
        };
        self.push_vec(v)
    }

    pub(super) fn v_icmp(&mut self, s: Shape, pred: IntPredicate) -> BResult<()> {
        let y = self.pop_vec(s)?;
        let x = self.pop_vec(s)?;
        let c = self.env.builder.build_int_compare(pred, x, y, "")?;
        let v = self.mask_of(c, s)?;
        self.push_vec(v)
    }

    pub(super) fn iabs(&mut self, s: Shape) -> BResult<()> {
        let x = self.pop_vec(s)?;
        let poison_on_min = self.env.ctx.bool_type().const_zero();
        let ty = self.vec_type(s).into();
        let v = self.call_intrinsic("llvm.abs", &[ty], &[x.into(), poison_on_min.into()])?;
        self.push_vec(v.into_vector_value())
    }

    pub(super) fn ineg(&mut self, s: Shape) -> BResult<()> {
        let x = self.pop_vec(s)?;
        let v = self.env.builder.build_int_neg(x, "")?;
        self.push_vec(v)
    }

    /// `[v, count] -> [v shifted]`, the count modulo the lane width.
    pub(super) fn shift(&mut self, s: Shape, op: Shift) -> BResult<()> {
        let count = self.pop_int();
        let v = self.pop_vec(s)?;
        let b = &self.env.builder;
        let count = b.build_and(
            count,
            self.env.i32().const_int(s.lane_bits() as u64 - 1, false),
            "",
        )?;
        let lane_ty = self.lane_type(s).into_int_type();
        let count = b.build_int_cast_sign_flag(count, lane_ty, false, "")?;
        let counts = self.splat_value(count.into(), s)?;
        let b = &self.env.builder;
        let v = match op {
            Shift::Shl => b.build_left_shift(v, counts, "")?,
            Shift::ShrS => b.build_right_shift(v, counts, true, "")?,
            Shift::ShrU => b.build_right_shift(v, counts, false, "")?,
        };
        self.push_vec(v)
    }

    /// `avgr_u`: `(a + b + 1) / 2` computed without overflow.
    pub(super) fn avgr_u(&mut self, s: Shape) -> BResult<()> {
        let y = self.pop_vec(s)?;
        let x = self.pop_vec(s)?;
        let wide = self.int_type(s.lane_bits() * 2).vec_type(s.lanes());
        let xw = self.extend_to(x, wide, false)?;
        let yw = self.extend_to(y, wide, false)?;
        let b = &self.env.builder;
        let one = self.const_splat(wide, 1);
        let sum = b.build_int_add(xw, yw, "")?;
        let sum = b.build_int_add(sum, one, "")?;
        let half = b.build_right_shift(sum, one, false, "")?;
        let v = b.build_int_truncate(half, self.vec_type(s), "")?;
        self.push_vec(v)
    }

    /// `narrow_{s,u}`: the lanes of both operands (first, then second),
    /// each saturated to the signed or unsigned range of half its width.
    pub(super) fn narrow(&mut self, from: Shape, signed: bool) -> BResult<()> {
        let y = self.pop_vec(from)?;
        let x = self.pop_vec(from)?;
        let n = from.lanes();
        let both = self.shuffle(x, y, 0..2 * n)?;
        let bits = from.lane_bits() / 2;
        let (lo, hi) = if signed {
            ((-1i64 << (bits - 1)) as u64, (1u64 << (bits - 1)) - 1)
        } else {
            (0, (1u64 << bits) - 1)
        };
        let wide_ty = both.get_type();
        let lo = self.const_splat(wide_ty, lo);
        let hi = self.const_splat(wide_ty, hi);
        let clamped = self
            .call_intrinsic("llvm.smax", &[wide_ty.into()], &[both.into(), lo.into()])?
            .into_vector_value();
        let clamped = self
            .call_intrinsic("llvm.smin", &[wide_ty.into()], &[clamped.into(), hi.into()])?
            .into_vector_value();
        let narrow = self.int_type(bits).vec_type(2 * n);
        let v = self.env.builder.build_int_truncate(clamped, narrow, "")?;
        self.push_vec(v)
    }

    /// `extend_{low,high}_{s,u}` of shape `from` into lanes twice as wide.
    pub(super) fn extend(&mut self, from: Shape, half: Half, signed: bool) -> BResult<()> {
        let v = self.pop_vec(from)?;
        let h = self.half(v, half)?;
        let v = self.extend_to(h, self.vec_type(from.wider()), signed)?;
        self.push_vec(v)
    }

    /// `extmul_{low,high}_{s,u}`: widen both halves, then multiply (exact).
    pub(super) fn extmul(&mut self, from: Shape, half: Half, signed: bool) -> BResult<()> {
        let y = self.pop_vec(from)?;
        let x = self.pop_vec(from)?;
        let to = self.vec_type(from.wider());
        let xh = self.half(x, half)?;
        let xw = self.extend_to(xh, to, signed)?;
        let yh = self.half(y, half)?;
        let yw = self.extend_to(yh, to, signed)?;
        let v = self.env.builder.build_int_mul(xw, yw, "")?;
        self.push_vec(v)
    }

    /// The even and the odd lanes of `v`, each as a vector of half as many.
    fn even_odd(
        &self,
        v: inkwell::values::VectorValue<'ctx>,
    ) -> BResult<(
        inkwell::values::VectorValue<'ctx>,
        inkwell::values::VectorValue<'ctx>,
    )> {
        let n = v.get_type().get_size();
        let even = self.shuffle(v, v, (0..n).step_by(2))?;
        let odd = self.shuffle(v, v, (1..n).step_by(2))?;
        Ok((even, odd))
    }

    /// `extadd_pairwise_{s,u}`: lane `i` is `ext(v[2i]) + ext(v[2i+1])`.
    pub(super) fn extadd_pairwise(&mut self, from: Shape, signed: bool) -> BResult<()> {
        let v = self.pop_vec(from)?;
        let to = self.vec_type(from.wider());
        let (even, odd) = self.even_odd(v)?;
        let even = self.extend_to(even, to, signed)?;
        let odd = self.extend_to(odd, to, signed)?;
        let v = self.env.builder.build_int_add(even, odd, "")?;
        self.push_vec(v)
    }

    /// `i32x4.dot_i16x8_s`: lane `i` is `a[2i]*b[2i] + a[2i+1]*b[2i+1]`
    /// (signed, products exact, the sum wrapping: only
    /// `2 * (-32768 * -32768)` wraps). The shape is the one the x86 backend
    /// turns into one `pmaddwd`.
    pub(super) fn i32x4_dot_i16x8_s(&mut self) -> BResult<()> {
        let y = self.pop_vec(Shape::I16x8)?;
        let x = self.pop_vec(Shape::I16x8)?;
        let v = self.dot_pairs(x, y, Shape::I32x4)?;
        self.push_vec(v)
    }

    /// Signed pairwise dot product of two integer vectors into shape `to`
    /// (lanes twice as wide): `ext(x[2i])*ext(y[2i]) + ext(x[2i+1])*ext(y[2i+1])`.
    pub(super) fn dot_pairs(
        &self,
        x: inkwell::values::VectorValue<'ctx>,
        y: inkwell::values::VectorValue<'ctx>,
        to: Shape,
    ) -> BResult<inkwell::values::VectorValue<'ctx>> {
        let to = self.vec_type(to);
        let (xe, xo) = self.even_odd(x)?;
        let (ye, yo) = self.even_odd(y)?;
        let xe = self.extend_to(xe, to, true)?;
        let xo = self.extend_to(xo, to, true)?;
        let ye = self.extend_to(ye, to, true)?;
        let yo = self.extend_to(yo, to, true)?;
        let b = &self.env.builder;
        let pe = b.build_int_mul(xe, ye, "")?;
        let po = b.build_int_mul(xo, yo, "")?;
        Ok(b.build_int_add(pe, po, "")?)
    }

    /// `i16x8.q15mulr_sat_s`: `sat16((a * b + 0x4000) >> 15)`. Only
    /// `-32768 * -32768` leaves the i16 range (to 32768, saturated).
    pub(super) fn q15mulr_sat_s(&mut self) -> BResult<()> {
        let y = self.pop_vec(Shape::I16x8)?;
        let x = self.pop_vec(Shape::I16x8)?;
        let wide = self
            .vec_type(Shape::I32x4)
            .get_element_type()
            .into_int_type()
            .vec_type(8);
        let xw = self.extend_to(x, wide, true)?;
        let yw = self.extend_to(y, wide, true)?;
        let b = &self.env.builder;
        let p = b.build_int_mul(xw, yw, "")?;
        let p = b.build_int_add(p, self.const_splat(wide, 0x4000), "")?;
        let p = b.build_right_shift(p, self.const_splat(wide, 15), true, "")?;
        let max = self.const_splat(wide, 0x7fff);
        let p = self
            .call_intrinsic("llvm.smin", &[wide.into()], &[p.into(), max.into()])?
            .into_vector_value();
        let v = self
            .env
            .builder
            .build_int_truncate(p, self.vec_type(Shape::I16x8), "")?;
        self.push_vec(v)
    }
}
