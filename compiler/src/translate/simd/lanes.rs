//! Constants, shuffles, splats, lane access, bitwise operations and the
//! boolean reductions (`any_true`, `all_true`, `bitmask`).
//!
//! What must stay true: `swizzle` yields 0 in every lane whose index is 16
//! or more (LLVM's `extractelement` with such an index is poison, so the
//! index is masked before and the lane zeroed after); narrow lanes are
//! truncated from and extended to `i32` as the spec says (`extract_lane_s`
//! sign-extends, `_u` zero-extends, `replace_lane` keeps the low bits).

use super::Shape;
use crate::env::BResult;
use crate::translate::FuncTranslator;
use inkwell::types::VectorType;
use inkwell::values::BasicValueEnum;
use inkwell::IntPredicate;
use wasmparser::V128;

#[derive(Clone, Copy)]
pub(crate) enum Bitwise {
    And,
    AndNot,
    Or,
    Xor,
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    pub(super) fn v128_const(&mut self, value: V128) -> BResult<()> {
        let bytes = value.bytes();
        let lo = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
        let i64t = self.env.i64();
        let v = VectorType::const_vector(&[i64t.const_int(lo, false), i64t.const_int(hi, false)]);
        self.push_vec(v)
    }

    pub(super) fn i8x16_shuffle(&mut self, lanes: [u8; 16]) -> BResult<()> {
        let b = self.pop_vec(Shape::I8x16)?;
        let a = self.pop_vec(Shape::I8x16)?;
        let v = self.shuffle(a, b, lanes.iter().map(|l| *l as u32))?;
        self.push_vec(v)
    }

    /// `i8x16.swizzle` (and the deterministic `relaxed_swizzle`): lane `i`
    /// is `a[s[i]]` when `s[i] < 16`, else 0.
    pub(super) fn i8x16_swizzle(&mut self) -> BResult<()> {
        let s = self.pop_vec(Shape::I8x16)?;
        let a = self.pop_vec(Shape::I8x16)?;
        let b = &self.env.builder;
        let i32t = self.env.i32();
        // Extracting each lane at a masked variable index lets the x86
        // backend select one `pshufb` where SSSE3 is available.
        let idx = b.build_and(s, self.splat_const(Shape::I8x16, 15), "")?;
        let mut r = self.vec_type(Shape::I8x16).get_poison();
        for i in 0..16u64 {
            let lane = i32t.const_int(i, false);
            let j = b.build_extract_element(idx, lane, "")?.into_int_value();
            let x = b.build_extract_element(a, j, "")?;
            r = b.build_insert_element(r, x, lane, "")?;
        }
        let in_range =
            b.build_int_compare(IntPredicate::ULT, s, self.splat_const(Shape::I8x16, 16), "")?;
        let zero = self.vec_type(Shape::I8x16).const_zero();
        let v = b.build_select(in_range, r, zero, "")?.into_vector_value();
        self.push_vec(v)
    }

    pub(super) fn splat(&mut self, s: Shape) -> BResult<()> {
        let x = self.pop();
        let x: BasicValueEnum = match s {
            Shape::I8x16 | Shape::I16x8 => self
                .env
                .builder
                .build_int_truncate(x.into_int_value(), self.lane_type(s).into_int_type(), "")?
                .into(),
            _ => x,
        };
        let v = self.splat_value(x, s)?;
        self.push_vec(v)
    }

    pub(super) fn extract_lane(&mut self, s: Shape, lane: u8, signed: bool) -> BResult<()> {
        let v = self.pop_vec(s)?;
        let b = &self.env.builder;
        let idx = self.env.i32().const_int(lane as u64, false);
        let x = b.build_extract_element(v, idx, "")?;
        let x: BasicValueEnum = match s {
            Shape::I8x16 | Shape::I16x8 if signed => b
                .build_int_s_extend(x.into_int_value(), self.env.i32(), "")?
                .into(),
            Shape::I8x16 | Shape::I16x8 => b
                .build_int_z_extend(x.into_int_value(), self.env.i32(), "")?
                .into(),
            _ => x,
        };
        self.push(x);
        Ok(())
    }

    pub(super) fn replace_lane(&mut self, s: Shape, lane: u8) -> BResult<()> {
        let x = self.pop();
        let v = self.pop_vec(s)?;
        let b = &self.env.builder;
        let x: BasicValueEnum = match s {
            Shape::I8x16 | Shape::I16x8 => b
                .build_int_truncate(x.into_int_value(), self.lane_type(s).into_int_type(), "")?
                .into(),
            _ => x,
        };
        let idx = self.env.i32().const_int(lane as u64, false);
        let v = b.build_insert_element(v, x, idx, "")?;
        self.push_vec(v)
    }

    pub(super) fn v128_not(&mut self) -> BResult<()> {
        let a = self.pop_vec(Shape::I64x2)?;
        let v = self.env.builder.build_not(a, "")?;
        self.push_vec(v)
    }

    pub(super) fn bitwise(&mut self, op: Bitwise) -> BResult<()> {
        let y = self.pop_vec(Shape::I64x2)?;
        let x = self.pop_vec(Shape::I64x2)?;
        let b = &self.env.builder;
        let v = match op {
            Bitwise::And => b.build_and(x, y, "")?,
            Bitwise::AndNot => {
                let not_y = b.build_not(y, "")?;
                b.build_and(x, not_y, "")?
            }
            Bitwise::Or => b.build_or(x, y, "")?,
            Bitwise::Xor => b.build_xor(x, y, "")?,
        };
        self.push_vec(v)
    }

    /// `v128.bitselect` (and the deterministic `relaxed_laneselect`):
    /// bits of the first operand where the mask is 1, of the second where
    /// it is 0.
    pub(super) fn v128_bitselect(&mut self) -> BResult<()> {
        let c = self.pop_vec(Shape::I64x2)?;
        let y = self.pop_vec(Shape::I64x2)?;
        let x = self.pop_vec(Shape::I64x2)?;
        let b = &self.env.builder;
        let from_x = b.build_and(x, c, "")?;
        let not_c = b.build_not(c, "")?;
        let from_y = b.build_and(y, not_c, "")?;
        let v = b.build_or(from_x, from_y, "")?;
        self.push_vec(v)
    }

    pub(super) fn v128_any_true(&mut self) -> BResult<()> {
        let v = self.pop();
        let b = &self.env.builder;
        let i128t = self.env.ctx.i128_type();
        let bits = b.build_bit_cast(v, i128t, "")?.into_int_value();
        let any = b.build_int_compare(IntPredicate::NE, bits, i128t.const_zero(), "")?;
        let r = b.build_int_z_extend(any, self.env.i32(), "")?;
        self.push(r);
        Ok(())
    }

    pub(super) fn all_true(&mut self, s: Shape) -> BResult<()> {
        let v = self.pop_vec(s)?;
        let b = &self.env.builder;
        let zero = self.vec_type(s).const_zero();
        let nonzero = b.build_int_compare(IntPredicate::NE, v, zero, "")?;
        let all = self
            .call_intrinsic(
                "llvm.vector.reduce.and",
                &[nonzero.get_type().into()],
                &[nonzero.into()],
            )?
            .into_int_value();
        let r = self
            .env
            .builder
            .build_int_z_extend(all, self.env.i32(), "")?;
        self.push(r);
        Ok(())
    }

    /// `bitmask`: bit `i` of the result is the sign bit of lane `i`.
    pub(super) fn bitmask(&mut self, s: Shape) -> BResult<()> {
        let v = self.pop_vec(s)?;
        let b = &self.env.builder;
        let zero = self.vec_type(s).const_zero();
        let negative = b.build_int_compare(IntPredicate::SLT, v, zero, "")?;
        let bits = self.int_type(s.lanes());
        let mask = b.build_bit_cast(negative, bits, "")?.into_int_value();
        let r = b.build_int_z_extend(mask, self.env.i32(), "")?;
        self.push(r);
        Ok(())
    }
}
