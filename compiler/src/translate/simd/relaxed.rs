//! Relaxed SIMD, deterministically.
//!
//! The relaxed-simd proposal lets each of its operators return one of a
//! few results (the x86, Arm or exact behaviour). Wasabi always returns
//! the same one, whatever the CPU, the optimisation level or the mode, so a
//! program behaves the same under `--target-cpu native` and `generic`, in
//! the JIT, lazily and ahead of time (see `docs/simd.md`):
//!
//! | operator                       | wasabi's result                          |
//! |--------------------------------|------------------------------------------|
//! | `i8x16.relaxed_swizzle`        | `i8x16.swizzle` (0 for indices >= 16)    |
//! | `i32x4.relaxed_trunc_*`        | the `trunc_sat` forms (NaN -> 0, saturating) |
//! | `*.relaxed_laneselect`         | `v128.bitselect` (bit by bit)            |
//! | `f32x4/f64x2.relaxed_min/max`  | `min`/`max` (NaN-propagating, -0 < +0)   |
//! | `i16x8.relaxed_q15mulr_s`      | `i16x8.q15mulr_sat_s`                    |
//! | `relaxed_dot_i8x16_i7x16_s`    | both operands signed, pair sums wrapping to 16 bits |
//! | `relaxed_dot_i8x16_i7x16_add_s` | that, widened pairwise (signed) to 32 bits, plus the addend |
//! | `relaxed_madd` / `relaxed_nmadd` | fused: `fma(a, b, c)` / `fma(-a, b, c)`, one rounding |
//!
//! The operators with a strict counterpart are dispatched straight to it
//! (see `simd.rs`); the three without one live here.
//!
//! What must stay true: `relaxed_madd` is `llvm.fma`, never `fmuladd` (which
//! LLVM may split into two roundings on a CPU without FMA): the fused
//! result on every CPU, a `vfmadd` instruction where there is one and the
//! `fma`/`fmaf` libcall elsewhere.

use super::Shape;
use crate::env::BResult;
use crate::translate::FuncTranslator;

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// `relaxed_madd`: `a * b + c` with one rounding; `relaxed_nmadd`:
    /// `-(a * b) + c`, the same as `fma(-a, b, c)`.
    pub(super) fn relaxed_madd(&mut self, s: Shape, negate: bool) -> BResult<()> {
        let c = self.pop_vec(s)?;
        let b = self.pop_vec(s)?;
        let a = self.pop_vec(s)?;
        let a = if negate {
            self.env.builder.build_float_neg(a, "")?
        } else {
            a
        };
        let ty = self.vec_type(s).into();
        let v = self
            .call_intrinsic("llvm.fma", &[ty], &[a.into(), b.into(), c.into()])?
            .into_vector_value();
        self.push_vec(v)
    }

    /// `i16x8.relaxed_dot_i8x16_i7x16_s`: lane `i` is
    /// `a[2i]*b[2i] + a[2i+1]*b[2i+1]`, both signed, wrapping to 16 bits
    /// (only `2 * (-128 * -128)` wraps, and the second operand is meant to
    /// be 7-bit).
    pub(super) fn relaxed_dot_i8x16_i7x16_s(&mut self) -> BResult<()> {
        let y = self.pop_vec(Shape::I8x16)?;
        let x = self.pop_vec(Shape::I8x16)?;
        let v = self.dot_pairs(x, y, Shape::I16x8)?;
        self.push_vec(v)
    }

    /// `i32x4.relaxed_dot_i8x16_i7x16_add_s`: the proposal's definition,
    /// `i16x8.relaxed_dot_i8x16_i7x16_s` (pair sums wrapping to 16 bits),
    /// then `i32x4.extadd_pairwise_i16x8_s`, then `i32x4.add` of `c`.
    pub(super) fn relaxed_dot_i8x16_i7x16_add_s(&mut self) -> BResult<()> {
        let c = self.pop_vec(Shape::I32x4)?;
        let y = self.pop_vec(Shape::I8x16)?;
        let x = self.pop_vec(Shape::I8x16)?;
        let pairs = self.dot_pairs(x, y, Shape::I16x8)?;
        let i32x4 = self.vec_type(Shape::I32x4);
        let even = self.shuffle(pairs, pairs, (0..8).step_by(2))?;
        let odd = self.shuffle(pairs, pairs, (1..8).step_by(2))?;
        let even = self.extend_to(even, i32x4, true)?;
        let odd = self.extend_to(odd, i32x4, true)?;
        let b = &self.env.builder;
        let quads = b.build_int_add(even, odd, "")?;
        let v = b.build_int_add(quads, c, "")?;
        self.push_vec(v)
    }
}
