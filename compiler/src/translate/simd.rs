//! The 128-bit SIMD instructions (`simd` and `relaxed-simd`): dispatch and
//! the helpers every family shares. The families live in `simd/`:
//! [`memory`] (loads and stores, splat, zero, lane and extending forms),
//! [`lanes`] (constants, shuffles, splats, lane access, bitwise operations
//! and the boolean reductions), [`integer`] (integer arithmetic and
//! comparisons), [`float`] (float arithmetic, comparisons and conversions)
//! and [`relaxed`].
//!
//! A `v128` is an LLVM `<4 x i32>` wherever it travels (locals, phis,
//! params, results, globals: `ModuleEnv::val_type`), so it lives in an XMM
//! register; each operator bitcasts it to the lane shape it works on
//! (`<16 x i8>` ... `<2 x double>`) and back, which costs nothing.
//!
//! Everything is target-independent LLVM IR (generic vector operations and
//! intrinsics such as `llvm.sadd.sat`, `llvm.fptosi.sat`, `llvm.minimum`),
//! so the same code is right on generic x86-64 (SSE2) and uses SSSE3,
//! SSE4.1 and AVX2 instructions when `target_cpu` has them.
//!
//! What must stay true:
//! - Every SIMD operator has a handler: [`SimdOps`] implements wasmparser's
//!   `VisitSimdOperator`, a trait without default methods, and [`translate`]
//!   is generated from the same operator list (`for_each_visit_simd_operator`),
//!   so a new operator in wasmparser is a build error here, never a run-time
//!   "unsupported".
//! - Memory accesses are volatile with alignment 1, exactly like scalar ones
//!   (see `translate/memory.rs`): the access is the bounds check.
//! - Lane semantics are wasm's, not LLVM's: shift counts are taken modulo the
//!   lane width, `swizzle` gives 0 for indices >= 16, integer `abs` of MIN is
//!   MIN, float `min`/`max` propagate NaN and order -0 below +0, float results
//!   whose NaN LLVM could fold through unquieted are quieted (`quiet_nans`).
//! - Relaxed SIMD is deterministic (see `simd/relaxed.rs` and `docs/simd.md`):
//!   each relaxed operator gives the result of its strict counterpart, and
//!   `relaxed_madd`/`relaxed_nmadd` are fused (one rounding) on every CPU.

mod float;
mod integer;
mod lanes;
mod memory;
mod relaxed;

use super::FuncTranslator;
use crate::env::BResult;
use inkwell::types::{BasicTypeEnum, VectorType};
use inkwell::values::{BasicValueEnum, IntValue, VectorValue};
use inkwell::FloatPredicate;
use wasmparser::{MemArg, Operator, VisitOperator, VisitSimdOperator, V128};

/// The lane interpretation of a `v128`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    I8x16,
    I16x8,
    I32x4,
    I64x2,
    F32x4,
    F64x2,
}

impl Shape {
    pub fn lanes(self) -> u32 {
        match self {
            Shape::I8x16 => 16,
            Shape::I16x8 => 8,
            Shape::I32x4 | Shape::F32x4 => 4,
            Shape::I64x2 | Shape::F64x2 => 2,
        }
    }

    pub fn lane_bits(self) -> u32 {
        128 / self.lanes()
    }

    /// The integer shape with lanes of the same width.
    pub fn int(self) -> Shape {
        match self {
            Shape::F32x4 => Shape::I32x4,
            Shape::F64x2 => Shape::I64x2,
            s => s,
        }
    }

    /// The integer shape with lanes twice as wide (and half as many).
    pub fn wider(self) -> Shape {
        match self {
            Shape::I8x16 => Shape::I16x8,
            Shape::I16x8 => Shape::I32x4,
            Shape::I32x4 => Shape::I64x2,
            s => unreachable!("no integer shape wider than {s:?}"),
        }
    }
}

/// Translates `op` if it is a SIMD operator; `None` for any other operator.
pub(super) fn translate(
    t: &mut FuncTranslator<'_, '_, '_>,
    op: &Operator<'_>,
) -> Option<BResult<()>> {
    let mut v = SimdOps(t);
    macro_rules! dispatch {
        ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
            match op {
                $( Operator::$op $({ $($arg),* })? => Some(VisitSimdOperator::$visit(&mut v $($(, $arg.clone())*)?)), )*
                _ => None,
            }
        };
    }
    wasmparser::for_each_visit_simd_operator!(dispatch)
}

/// The translator seen as a wasmparser visitor of SIMD operators.
pub(crate) struct SimdOps<'t, 'ctx, 'a, 'e>(&'t mut FuncTranslator<'ctx, 'a, 'e>);

/// `VisitSimdOperator` requires `VisitOperator`; [`translate`] only ever
/// calls the SIMD methods, the rest are translated by the scalar families.
impl<'a> VisitOperator<'a> for SimdOps<'_, '_, '_, '_> {
    type Output = BResult<()>;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = Self::Output>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(not_simd);
}

macro_rules! not_simd {
    ($(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
                $($(let _ = $arg;)*)?
                unreachable!(concat!("scalar operator ", stringify!($op), " given to the SIMD visitor"))
            }
        )*
    };
}
use not_simd;

use Shape::*;

impl<'a> VisitSimdOperator<'a> for SimdOps<'_, '_, '_, '_> {
    // ---- memory ----------------------------------------------------------
    fn visit_v128_load(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load(m)
    }
    fn visit_v128_load8x8_s(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I16x8, true)
    }
    fn visit_v128_load8x8_u(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I16x8, false)
    }
    fn visit_v128_load16x4_s(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I32x4, true)
    }
    fn visit_v128_load16x4_u(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I32x4, false)
    }
    fn visit_v128_load32x2_s(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I64x2, true)
    }
    fn visit_v128_load32x2_u(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_extend(m, I64x2, false)
    }
    fn visit_v128_load8_splat(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_splat(m, I8x16)
    }
    fn visit_v128_load16_splat(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_splat(m, I16x8)
    }
    fn visit_v128_load32_splat(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_splat(m, I32x4)
    }
    fn visit_v128_load64_splat(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_splat(m, I64x2)
    }
    fn visit_v128_load32_zero(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_zero(m, I32x4)
    }
    fn visit_v128_load64_zero(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_load_zero(m, I64x2)
    }
    fn visit_v128_store(&mut self, m: MemArg) -> Self::Output {
        self.0.v128_store(m)
    }
    fn visit_v128_load8_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_load_lane(m, I8x16, lane)
    }
    fn visit_v128_load16_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_load_lane(m, I16x8, lane)
    }
    fn visit_v128_load32_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_load_lane(m, I32x4, lane)
    }
    fn visit_v128_load64_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_load_lane(m, I64x2, lane)
    }
    fn visit_v128_store8_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_store_lane(m, I8x16, lane)
    }
    fn visit_v128_store16_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_store_lane(m, I16x8, lane)
    }
    fn visit_v128_store32_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_store_lane(m, I32x4, lane)
    }
    fn visit_v128_store64_lane(&mut self, m: MemArg, lane: u8) -> Self::Output {
        self.0.v128_store_lane(m, I64x2, lane)
    }

    // ---- lanes -----------------------------------------------------------
    fn visit_v128_const(&mut self, value: V128) -> Self::Output {
        self.0.v128_const(value)
    }
    fn visit_i8x16_shuffle(&mut self, lanes: [u8; 16]) -> Self::Output {
        self.0.i8x16_shuffle(lanes)
    }
    fn visit_i8x16_extract_lane_s(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I8x16, lane, true)
    }
    fn visit_i8x16_extract_lane_u(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I8x16, lane, false)
    }
    fn visit_i8x16_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(I8x16, lane)
    }
    fn visit_i16x8_extract_lane_s(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I16x8, lane, true)
    }
    fn visit_i16x8_extract_lane_u(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I16x8, lane, false)
    }
    fn visit_i16x8_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(I16x8, lane)
    }
    fn visit_i32x4_extract_lane(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I32x4, lane, false)
    }
    fn visit_i32x4_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(I32x4, lane)
    }
    fn visit_i64x2_extract_lane(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(I64x2, lane, false)
    }
    fn visit_i64x2_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(I64x2, lane)
    }
    fn visit_f32x4_extract_lane(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(F32x4, lane, false)
    }
    fn visit_f32x4_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(F32x4, lane)
    }
    fn visit_f64x2_extract_lane(&mut self, lane: u8) -> Self::Output {
        self.0.extract_lane(F64x2, lane, false)
    }
    fn visit_f64x2_replace_lane(&mut self, lane: u8) -> Self::Output {
        self.0.replace_lane(F64x2, lane)
    }
    fn visit_i8x16_swizzle(&mut self) -> Self::Output {
        self.0.i8x16_swizzle()
    }
    fn visit_i8x16_splat(&mut self) -> Self::Output {
        self.0.splat(I8x16)
    }
    fn visit_i16x8_splat(&mut self) -> Self::Output {
        self.0.splat(I16x8)
    }
    fn visit_i32x4_splat(&mut self) -> Self::Output {
        self.0.splat(I32x4)
    }
    fn visit_i64x2_splat(&mut self) -> Self::Output {
        self.0.splat(I64x2)
    }
    fn visit_f32x4_splat(&mut self) -> Self::Output {
        self.0.splat(F32x4)
    }
    fn visit_f64x2_splat(&mut self) -> Self::Output {
        self.0.splat(F64x2)
    }

    // ---- integer comparisons ---------------------------------------------
    fn visit_i8x16_eq(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::EQ)
    }
    fn visit_i8x16_ne(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::NE)
    }
    fn visit_i8x16_lt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::SLT)
    }
    fn visit_i8x16_lt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::ULT)
    }
    fn visit_i8x16_gt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::SGT)
    }
    fn visit_i8x16_gt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::UGT)
    }
    fn visit_i8x16_le_s(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::SLE)
    }
    fn visit_i8x16_le_u(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::ULE)
    }
    fn visit_i8x16_ge_s(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::SGE)
    }
    fn visit_i8x16_ge_u(&mut self) -> Self::Output {
        self.0.v_icmp(I8x16, IntPredicate::UGE)
    }
    fn visit_i16x8_eq(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::EQ)
    }
    fn visit_i16x8_ne(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::NE)
    }
    fn visit_i16x8_lt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::SLT)
    }
    fn visit_i16x8_lt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::ULT)
    }
    fn visit_i16x8_gt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::SGT)
    }
    fn visit_i16x8_gt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::UGT)
    }
    fn visit_i16x8_le_s(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::SLE)
    }
    fn visit_i16x8_le_u(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::ULE)
    }
    fn visit_i16x8_ge_s(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::SGE)
    }
    fn visit_i16x8_ge_u(&mut self) -> Self::Output {
        self.0.v_icmp(I16x8, IntPredicate::UGE)
    }
    fn visit_i32x4_eq(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::EQ)
    }
    fn visit_i32x4_ne(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::NE)
    }
    fn visit_i32x4_lt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::SLT)
    }
    fn visit_i32x4_lt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::ULT)
    }
    fn visit_i32x4_gt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::SGT)
    }
    fn visit_i32x4_gt_u(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::UGT)
    }
    fn visit_i32x4_le_s(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::SLE)
    }
    fn visit_i32x4_le_u(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::ULE)
    }
    fn visit_i32x4_ge_s(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::SGE)
    }
    fn visit_i32x4_ge_u(&mut self) -> Self::Output {
        self.0.v_icmp(I32x4, IntPredicate::UGE)
    }
    fn visit_i64x2_eq(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::EQ)
    }
    fn visit_i64x2_ne(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::NE)
    }
    fn visit_i64x2_lt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::SLT)
    }
    fn visit_i64x2_gt_s(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::SGT)
    }
    fn visit_i64x2_le_s(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::SLE)
    }
    fn visit_i64x2_ge_s(&mut self) -> Self::Output {
        self.0.v_icmp(I64x2, IntPredicate::SGE)
    }

    // ---- float comparisons -----------------------------------------------
    fn visit_f32x4_eq(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::OEQ)
    }
    fn visit_f32x4_ne(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::UNE)
    }
    fn visit_f32x4_lt(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::OLT)
    }
    fn visit_f32x4_gt(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::OGT)
    }
    fn visit_f32x4_le(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::OLE)
    }
    fn visit_f32x4_ge(&mut self) -> Self::Output {
        self.0.v_fcmp(F32x4, FloatPredicate::OGE)
    }
    fn visit_f64x2_eq(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::OEQ)
    }
    fn visit_f64x2_ne(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::UNE)
    }
    fn visit_f64x2_lt(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::OLT)
    }
    fn visit_f64x2_gt(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::OGT)
    }
    fn visit_f64x2_le(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::OLE)
    }
    fn visit_f64x2_ge(&mut self) -> Self::Output {
        self.0.v_fcmp(F64x2, FloatPredicate::OGE)
    }

    // ---- bitwise and boolean ---------------------------------------------
    fn visit_v128_not(&mut self) -> Self::Output {
        self.0.v128_not()
    }
    fn visit_v128_and(&mut self) -> Self::Output {
        self.0.bitwise(Bitwise::And)
    }
    fn visit_v128_andnot(&mut self) -> Self::Output {
        self.0.bitwise(Bitwise::AndNot)
    }
    fn visit_v128_or(&mut self) -> Self::Output {
        self.0.bitwise(Bitwise::Or)
    }
    fn visit_v128_xor(&mut self) -> Self::Output {
        self.0.bitwise(Bitwise::Xor)
    }
    fn visit_v128_bitselect(&mut self) -> Self::Output {
        self.0.v128_bitselect()
    }
    fn visit_v128_any_true(&mut self) -> Self::Output {
        self.0.v128_any_true()
    }
    fn visit_i8x16_all_true(&mut self) -> Self::Output {
        self.0.all_true(I8x16)
    }
    fn visit_i16x8_all_true(&mut self) -> Self::Output {
        self.0.all_true(I16x8)
    }
    fn visit_i32x4_all_true(&mut self) -> Self::Output {
        self.0.all_true(I32x4)
    }
    fn visit_i64x2_all_true(&mut self) -> Self::Output {
        self.0.all_true(I64x2)
    }
    fn visit_i8x16_bitmask(&mut self) -> Self::Output {
        self.0.bitmask(I8x16)
    }
    fn visit_i16x8_bitmask(&mut self) -> Self::Output {
        self.0.bitmask(I16x8)
    }
    fn visit_i32x4_bitmask(&mut self) -> Self::Output {
        self.0.bitmask(I32x4)
    }
    fn visit_i64x2_bitmask(&mut self) -> Self::Output {
        self.0.bitmask(I64x2)
    }

    // ---- integer arithmetic ----------------------------------------------
    fn visit_i8x16_abs(&mut self) -> Self::Output {
        self.0.iabs(I8x16)
    }
    fn visit_i8x16_neg(&mut self) -> Self::Output {
        self.0.ineg(I8x16)
    }
    fn visit_i8x16_popcnt(&mut self) -> Self::Output {
        self.0.unary_intrinsic(I8x16, "llvm.ctpop")
    }
    fn visit_i8x16_narrow_i16x8_s(&mut self) -> Self::Output {
        self.0.narrow(I16x8, true)
    }
    fn visit_i8x16_narrow_i16x8_u(&mut self) -> Self::Output {
        self.0.narrow(I16x8, false)
    }
    fn visit_i8x16_shl(&mut self) -> Self::Output {
        self.0.shift(I8x16, Shift::Shl)
    }
    fn visit_i8x16_shr_s(&mut self) -> Self::Output {
        self.0.shift(I8x16, Shift::ShrS)
    }
    fn visit_i8x16_shr_u(&mut self) -> Self::Output {
        self.0.shift(I8x16, Shift::ShrU)
    }
    fn visit_i8x16_add(&mut self) -> Self::Output {
        self.0.v_ibin(I8x16, IBin::Add)
    }
    fn visit_i8x16_add_sat_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.sadd.sat")
    }
    fn visit_i8x16_add_sat_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.uadd.sat")
    }
    fn visit_i8x16_sub(&mut self) -> Self::Output {
        self.0.v_ibin(I8x16, IBin::Sub)
    }
    fn visit_i8x16_sub_sat_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.ssub.sat")
    }
    fn visit_i8x16_sub_sat_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.usub.sat")
    }
    fn visit_i8x16_min_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.smin")
    }
    fn visit_i8x16_min_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.umin")
    }
    fn visit_i8x16_max_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.smax")
    }
    fn visit_i8x16_max_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I8x16, "llvm.umax")
    }
    fn visit_i8x16_avgr_u(&mut self) -> Self::Output {
        self.0.avgr_u(I8x16)
    }
    fn visit_i16x8_extadd_pairwise_i8x16_s(&mut self) -> Self::Output {
        self.0.extadd_pairwise(I8x16, true)
    }
    fn visit_i16x8_extadd_pairwise_i8x16_u(&mut self) -> Self::Output {
        self.0.extadd_pairwise(I8x16, false)
    }
    fn visit_i16x8_abs(&mut self) -> Self::Output {
        self.0.iabs(I16x8)
    }
    fn visit_i16x8_neg(&mut self) -> Self::Output {
        self.0.ineg(I16x8)
    }
    fn visit_i16x8_q15mulr_sat_s(&mut self) -> Self::Output {
        self.0.q15mulr_sat_s()
    }
    fn visit_i16x8_narrow_i32x4_s(&mut self) -> Self::Output {
        self.0.narrow(I32x4, true)
    }
    fn visit_i16x8_narrow_i32x4_u(&mut self) -> Self::Output {
        self.0.narrow(I32x4, false)
    }
    fn visit_i16x8_extend_low_i8x16_s(&mut self) -> Self::Output {
        self.0.extend(I8x16, Half::Low, true)
    }
    fn visit_i16x8_extend_high_i8x16_s(&mut self) -> Self::Output {
        self.0.extend(I8x16, Half::High, true)
    }
    fn visit_i16x8_extend_low_i8x16_u(&mut self) -> Self::Output {
        self.0.extend(I8x16, Half::Low, false)
    }
    fn visit_i16x8_extend_high_i8x16_u(&mut self) -> Self::Output {
        self.0.extend(I8x16, Half::High, false)
    }
    fn visit_i16x8_shl(&mut self) -> Self::Output {
        self.0.shift(I16x8, Shift::Shl)
    }
    fn visit_i16x8_shr_s(&mut self) -> Self::Output {
        self.0.shift(I16x8, Shift::ShrS)
    }
    fn visit_i16x8_shr_u(&mut self) -> Self::Output {
        self.0.shift(I16x8, Shift::ShrU)
    }
    fn visit_i16x8_add(&mut self) -> Self::Output {
        self.0.v_ibin(I16x8, IBin::Add)
    }
    fn visit_i16x8_add_sat_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.sadd.sat")
    }
    fn visit_i16x8_add_sat_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.uadd.sat")
    }
    fn visit_i16x8_sub(&mut self) -> Self::Output {
        self.0.v_ibin(I16x8, IBin::Sub)
    }
    fn visit_i16x8_sub_sat_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.ssub.sat")
    }
    fn visit_i16x8_sub_sat_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.usub.sat")
    }
    fn visit_i16x8_mul(&mut self) -> Self::Output {
        self.0.v_ibin(I16x8, IBin::Mul)
    }
    fn visit_i16x8_min_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.smin")
    }
    fn visit_i16x8_min_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.umin")
    }
    fn visit_i16x8_max_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.smax")
    }
    fn visit_i16x8_max_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I16x8, "llvm.umax")
    }
    fn visit_i16x8_avgr_u(&mut self) -> Self::Output {
        self.0.avgr_u(I16x8)
    }
    fn visit_i16x8_extmul_low_i8x16_s(&mut self) -> Self::Output {
        self.0.extmul(I8x16, Half::Low, true)
    }
    fn visit_i16x8_extmul_high_i8x16_s(&mut self) -> Self::Output {
        self.0.extmul(I8x16, Half::High, true)
    }
    fn visit_i16x8_extmul_low_i8x16_u(&mut self) -> Self::Output {
        self.0.extmul(I8x16, Half::Low, false)
    }
    fn visit_i16x8_extmul_high_i8x16_u(&mut self) -> Self::Output {
        self.0.extmul(I8x16, Half::High, false)
    }
    fn visit_i32x4_extadd_pairwise_i16x8_s(&mut self) -> Self::Output {
        self.0.extadd_pairwise(I16x8, true)
    }
    fn visit_i32x4_extadd_pairwise_i16x8_u(&mut self) -> Self::Output {
        self.0.extadd_pairwise(I16x8, false)
    }
    fn visit_i32x4_abs(&mut self) -> Self::Output {
        self.0.iabs(I32x4)
    }
    fn visit_i32x4_neg(&mut self) -> Self::Output {
        self.0.ineg(I32x4)
    }
    fn visit_i32x4_extend_low_i16x8_s(&mut self) -> Self::Output {
        self.0.extend(I16x8, Half::Low, true)
    }
    fn visit_i32x4_extend_high_i16x8_s(&mut self) -> Self::Output {
        self.0.extend(I16x8, Half::High, true)
    }
    fn visit_i32x4_extend_low_i16x8_u(&mut self) -> Self::Output {
        self.0.extend(I16x8, Half::Low, false)
    }
    fn visit_i32x4_extend_high_i16x8_u(&mut self) -> Self::Output {
        self.0.extend(I16x8, Half::High, false)
    }
    fn visit_i32x4_shl(&mut self) -> Self::Output {
        self.0.shift(I32x4, Shift::Shl)
    }
    fn visit_i32x4_shr_s(&mut self) -> Self::Output {
        self.0.shift(I32x4, Shift::ShrS)
    }
    fn visit_i32x4_shr_u(&mut self) -> Self::Output {
        self.0.shift(I32x4, Shift::ShrU)
    }
    fn visit_i32x4_add(&mut self) -> Self::Output {
        self.0.v_ibin(I32x4, IBin::Add)
    }
    fn visit_i32x4_sub(&mut self) -> Self::Output {
        self.0.v_ibin(I32x4, IBin::Sub)
    }
    fn visit_i32x4_mul(&mut self) -> Self::Output {
        self.0.v_ibin(I32x4, IBin::Mul)
    }
    fn visit_i32x4_min_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I32x4, "llvm.smin")
    }
    fn visit_i32x4_min_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I32x4, "llvm.umin")
    }
    fn visit_i32x4_max_s(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I32x4, "llvm.smax")
    }
    fn visit_i32x4_max_u(&mut self) -> Self::Output {
        self.0.binary_intrinsic(I32x4, "llvm.umax")
    }
    fn visit_i32x4_dot_i16x8_s(&mut self) -> Self::Output {
        self.0.i32x4_dot_i16x8_s()
    }
    fn visit_i32x4_extmul_low_i16x8_s(&mut self) -> Self::Output {
        self.0.extmul(I16x8, Half::Low, true)
    }
    fn visit_i32x4_extmul_high_i16x8_s(&mut self) -> Self::Output {
        self.0.extmul(I16x8, Half::High, true)
    }
    fn visit_i32x4_extmul_low_i16x8_u(&mut self) -> Self::Output {
        self.0.extmul(I16x8, Half::Low, false)
    }
    fn visit_i32x4_extmul_high_i16x8_u(&mut self) -> Self::Output {
        self.0.extmul(I16x8, Half::High, false)
    }
    fn visit_i64x2_abs(&mut self) -> Self::Output {
        self.0.iabs(I64x2)
    }
    fn visit_i64x2_neg(&mut self) -> Self::Output {
        self.0.ineg(I64x2)
    }
    fn visit_i64x2_extend_low_i32x4_s(&mut self) -> Self::Output {
        self.0.extend(I32x4, Half::Low, true)
    }
    fn visit_i64x2_extend_high_i32x4_s(&mut self) -> Self::Output {
        self.0.extend(I32x4, Half::High, true)
    }
    fn visit_i64x2_extend_low_i32x4_u(&mut self) -> Self::Output {
        self.0.extend(I32x4, Half::Low, false)
    }
    fn visit_i64x2_extend_high_i32x4_u(&mut self) -> Self::Output {
        self.0.extend(I32x4, Half::High, false)
    }
    fn visit_i64x2_shl(&mut self) -> Self::Output {
        self.0.shift(I64x2, Shift::Shl)
    }
    fn visit_i64x2_shr_s(&mut self) -> Self::Output {
        self.0.shift(I64x2, Shift::ShrS)
    }
    fn visit_i64x2_shr_u(&mut self) -> Self::Output {
        self.0.shift(I64x2, Shift::ShrU)
    }
    fn visit_i64x2_add(&mut self) -> Self::Output {
        self.0.v_ibin(I64x2, IBin::Add)
    }
    fn visit_i64x2_sub(&mut self) -> Self::Output {
        self.0.v_ibin(I64x2, IBin::Sub)
    }
    fn visit_i64x2_mul(&mut self) -> Self::Output {
        self.0.v_ibin(I64x2, IBin::Mul)
    }
    fn visit_i64x2_extmul_low_i32x4_s(&mut self) -> Self::Output {
        self.0.extmul(I32x4, Half::Low, true)
    }
    fn visit_i64x2_extmul_high_i32x4_s(&mut self) -> Self::Output {
        self.0.extmul(I32x4, Half::High, true)
    }
    fn visit_i64x2_extmul_low_i32x4_u(&mut self) -> Self::Output {
        self.0.extmul(I32x4, Half::Low, false)
    }
    fn visit_i64x2_extmul_high_i32x4_u(&mut self) -> Self::Output {
        self.0.extmul(I32x4, Half::High, false)
    }

    // ---- float arithmetic ------------------------------------------------
    fn visit_f32x4_ceil(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Ceil)
    }
    fn visit_f32x4_floor(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Floor)
    }
    fn visit_f32x4_trunc(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Trunc)
    }
    fn visit_f32x4_nearest(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Nearest)
    }
    fn visit_f32x4_abs(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Abs)
    }
    fn visit_f32x4_neg(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Neg)
    }
    fn visit_f32x4_sqrt(&mut self) -> Self::Output {
        self.0.funary(F32x4, FUn::Sqrt)
    }
    fn visit_f32x4_add(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Add)
    }
    fn visit_f32x4_sub(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Sub)
    }
    fn visit_f32x4_mul(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Mul)
    }
    fn visit_f32x4_div(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Div)
    }
    fn visit_f32x4_min(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Min)
    }
    fn visit_f32x4_max(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Max)
    }
    fn visit_f32x4_pmin(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::PMin)
    }
    fn visit_f32x4_pmax(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::PMax)
    }
    fn visit_f64x2_ceil(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Ceil)
    }
    fn visit_f64x2_floor(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Floor)
    }
    fn visit_f64x2_trunc(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Trunc)
    }
    fn visit_f64x2_nearest(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Nearest)
    }
    fn visit_f64x2_abs(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Abs)
    }
    fn visit_f64x2_neg(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Neg)
    }
    fn visit_f64x2_sqrt(&mut self) -> Self::Output {
        self.0.funary(F64x2, FUn::Sqrt)
    }
    fn visit_f64x2_add(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Add)
    }
    fn visit_f64x2_sub(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Sub)
    }
    fn visit_f64x2_mul(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Mul)
    }
    fn visit_f64x2_div(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Div)
    }
    fn visit_f64x2_min(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Min)
    }
    fn visit_f64x2_max(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Max)
    }
    fn visit_f64x2_pmin(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::PMin)
    }
    fn visit_f64x2_pmax(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::PMax)
    }

    // ---- conversions -----------------------------------------------------
    fn visit_i32x4_trunc_sat_f32x4_s(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F32x4, true)
    }
    fn visit_i32x4_trunc_sat_f32x4_u(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F32x4, false)
    }
    fn visit_f32x4_convert_i32x4_s(&mut self) -> Self::Output {
        self.0.f32x4_convert_i32x4(true)
    }
    fn visit_f32x4_convert_i32x4_u(&mut self) -> Self::Output {
        self.0.f32x4_convert_i32x4(false)
    }
    fn visit_i32x4_trunc_sat_f64x2_s_zero(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F64x2, true)
    }
    fn visit_i32x4_trunc_sat_f64x2_u_zero(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F64x2, false)
    }
    fn visit_f64x2_convert_low_i32x4_s(&mut self) -> Self::Output {
        self.0.f64x2_convert_low_i32x4(true)
    }
    fn visit_f64x2_convert_low_i32x4_u(&mut self) -> Self::Output {
        self.0.f64x2_convert_low_i32x4(false)
    }
    fn visit_f32x4_demote_f64x2_zero(&mut self) -> Self::Output {
        self.0.f32x4_demote_f64x2_zero()
    }
    fn visit_f64x2_promote_low_f32x4(&mut self) -> Self::Output {
        self.0.f64x2_promote_low_f32x4()
    }

    // ---- relaxed SIMD (deterministic; see simd/relaxed.rs) ---------------
    fn visit_i8x16_relaxed_swizzle(&mut self) -> Self::Output {
        self.0.i8x16_swizzle()
    }
    fn visit_i32x4_relaxed_trunc_f32x4_s(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F32x4, true)
    }
    fn visit_i32x4_relaxed_trunc_f32x4_u(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F32x4, false)
    }
    fn visit_i32x4_relaxed_trunc_f64x2_s_zero(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F64x2, true)
    }
    fn visit_i32x4_relaxed_trunc_f64x2_u_zero(&mut self) -> Self::Output {
        self.0.v_trunc_sat(F64x2, false)
    }
    fn visit_f32x4_relaxed_madd(&mut self) -> Self::Output {
        self.0.relaxed_madd(F32x4, false)
    }
    fn visit_f32x4_relaxed_nmadd(&mut self) -> Self::Output {
        self.0.relaxed_madd(F32x4, true)
    }
    fn visit_f64x2_relaxed_madd(&mut self) -> Self::Output {
        self.0.relaxed_madd(F64x2, false)
    }
    fn visit_f64x2_relaxed_nmadd(&mut self) -> Self::Output {
        self.0.relaxed_madd(F64x2, true)
    }
    fn visit_i8x16_relaxed_laneselect(&mut self) -> Self::Output {
        self.0.v128_bitselect()
    }
    fn visit_i16x8_relaxed_laneselect(&mut self) -> Self::Output {
        self.0.v128_bitselect()
    }
    fn visit_i32x4_relaxed_laneselect(&mut self) -> Self::Output {
        self.0.v128_bitselect()
    }
    fn visit_i64x2_relaxed_laneselect(&mut self) -> Self::Output {
        self.0.v128_bitselect()
    }
    fn visit_f32x4_relaxed_min(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Min)
    }
    fn visit_f32x4_relaxed_max(&mut self) -> Self::Output {
        self.0.v_fbin(F32x4, FBin::Max)
    }
    fn visit_f64x2_relaxed_min(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Min)
    }
    fn visit_f64x2_relaxed_max(&mut self) -> Self::Output {
        self.0.v_fbin(F64x2, FBin::Max)
    }
    fn visit_i16x8_relaxed_q15mulr_s(&mut self) -> Self::Output {
        self.0.q15mulr_sat_s()
    }
    fn visit_i16x8_relaxed_dot_i8x16_i7x16_s(&mut self) -> Self::Output {
        self.0.relaxed_dot_i8x16_i7x16_s()
    }
    fn visit_i32x4_relaxed_dot_i8x16_i7x16_add_s(&mut self) -> Self::Output {
        self.0.relaxed_dot_i8x16_i7x16_add_s()
    }
}

use float::{FBin, FUn};
use inkwell::IntPredicate;
use integer::{IBin, Shift};
use lanes::Bitwise;

/// Which half of a vector a widening operation reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Half {
    Low,
    High,
}

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// The LLVM vector type of `s`.
    fn vec_type(&self, s: Shape) -> VectorType<'ctx> {
        let c = self.env.ctx;
        match s {
            Shape::I8x16 => c.i8_type().vec_type(16),
            Shape::I16x8 => c.i16_type().vec_type(8),
            Shape::I32x4 => c.i32_type().vec_type(4),
            Shape::I64x2 => c.i64_type().vec_type(2),
            Shape::F32x4 => c.f32_type().vec_type(4),
            Shape::F64x2 => c.f64_type().vec_type(2),
        }
    }

    /// The integer type of `bits` bits (1 to 128).
    fn int_type(&self, bits: u32) -> inkwell::types::IntType<'ctx> {
        let bits = std::num::NonZeroU32::new(bits).expect("a non-zero width");
        self.env
            .ctx
            .custom_width_int_type(bits)
            .expect("a width LLVM supports")
    }

    /// The type of one lane of `s`.
    fn lane_type(&self, s: Shape) -> BasicTypeEnum<'ctx> {
        self.vec_type(s).get_element_type()
    }

    /// `v` (any 128-bit vector) seen as shape `s`.
    fn as_shape(&self, v: BasicValueEnum<'ctx>, s: Shape) -> BResult<VectorValue<'ctx>> {
        let ty = self.vec_type(s);
        if v.get_type() == ty.into() {
            return Ok(v.into_vector_value());
        }
        Ok(self
            .env
            .builder
            .build_bit_cast(v, ty, "")?
            .into_vector_value())
    }

    /// Pops a `v128` as shape `s`.
    fn pop_vec(&mut self, s: Shape) -> BResult<VectorValue<'ctx>> {
        let v = self.pop();
        self.as_shape(v, s)
    }

    /// Pushes a 128-bit vector as a `v128` (the canonical `<4 x i32>`).
    fn push_vec(&mut self, v: VectorValue<'ctx>) -> BResult<()> {
        let v = self.as_shape(v.into(), Shape::I32x4)?;
        self.push(v);
        Ok(())
    }

    /// A constant `<n x i32>` of lane indices, for `shufflevector`.
    fn lane_indices(&self, idx: impl IntoIterator<Item = u32>) -> VectorValue<'ctx> {
        let i32t = self.env.i32();
        let lanes: Vec<IntValue<'ctx>> = idx
            .into_iter()
            .map(|i| i32t.const_int(i as u64, false))
            .collect();
        VectorType::const_vector(&lanes)
    }

    /// `shufflevector a, b, idx`.
    fn shuffle(
        &self,
        a: VectorValue<'ctx>,
        b: VectorValue<'ctx>,
        idx: impl IntoIterator<Item = u32>,
    ) -> BResult<VectorValue<'ctx>> {
        let mask = self.lane_indices(idx);
        Ok(self.env.builder.build_shuffle_vector(a, b, mask, "")?)
    }

    /// The low or high half of `v`'s lanes, as a vector of half as many.
    fn half(&self, v: VectorValue<'ctx>, half: Half) -> BResult<VectorValue<'ctx>> {
        let n = v.get_type().get_size() / 2;
        let start = match half {
            Half::Low => 0,
            Half::High => n,
        };
        self.shuffle(v, v, start..start + n)
    }

    /// Integer vector `v` extended lane-wise to `to`.
    fn extend_to(
        &self,
        v: VectorValue<'ctx>,
        to: VectorType<'ctx>,
        signed: bool,
    ) -> BResult<VectorValue<'ctx>> {
        let b = &self.env.builder;
        Ok(if signed {
            b.build_int_s_extend(v, to, "")?
        } else {
            b.build_int_z_extend(v, to, "")?
        })
    }

    /// Scalar `x` in every lane of shape `s` (already of the lane type).
    fn splat_value(&self, x: BasicValueEnum<'ctx>, s: Shape) -> BResult<VectorValue<'ctx>> {
        let ty = self.vec_type(s);
        let b = &self.env.builder;
        let one = b.build_insert_element(ty.get_poison(), x, self.env.i32().const_zero(), "")?;
        self.shuffle(
            one,
            ty.get_poison(),
            std::iter::repeat_n(0, s.lanes() as usize),
        )
    }

    /// A constant integer in every lane of integer shape `s`.
    fn splat_const(&self, s: Shape, x: u64) -> VectorValue<'ctx> {
        self.const_splat(self.vec_type(s), x)
    }

    /// A constant integer (truncated to the lane width) in every lane of
    /// integer vector type `ty`.
    fn const_splat(&self, ty: VectorType<'ctx>, x: u64) -> VectorValue<'ctx> {
        let lane_ty = ty.get_element_type().into_int_type();
        let bits = lane_ty.get_bit_width();
        let x = if bits < 64 {
            x & ((1u64 << bits) - 1)
        } else {
            x
        };
        let lane = lane_ty.const_int(x, false);
        VectorType::const_vector(&vec![lane; ty.get_size() as usize])
    }

    /// A vector of booleans (`<n x i1>`) as wasm lane masks of shape `s`:
    /// all ones where true.
    fn mask_of(&self, b: VectorValue<'ctx>, s: Shape) -> BResult<VectorValue<'ctx>> {
        Ok(self
            .env
            .builder
            .build_int_s_extend(b, self.vec_type(s.int()), "")?)
    }

    /// Lane-wise: a NaN lane of float vector `x` with its quiet bit set.
    /// For results LLVM may have folded to one operand unchanged (`x * 1.0`,
    /// `demote(promote(x))`), which would let a signalling NaN through
    /// where wasm requires an arithmetic NaN.
    fn quiet_nans(&self, x: VectorValue<'ctx>, s: Shape) -> BResult<VectorValue<'ctx>> {
        let b = &self.env.builder;
        let quiet_bit = match s {
            Shape::F32x4 => 0x0040_0000u64,
            _ => 0x0008_0000_0000_0000u64,
        };
        let bits = self.as_shape(x.into(), s.int())?;
        let quieted = b.build_or(bits, self.splat_const(s.int(), quiet_bit), "")?;
        let quieted = self.as_shape(quieted.into(), s)?;
        let is_nan = b.build_float_compare(FloatPredicate::UNO, x, x, "")?;
        Ok(b.build_select(is_nan, quieted, x, "")?.into_vector_value())
    }

    fn unary_intrinsic(&mut self, s: Shape, name: &str) -> BResult<()> {
        let a = self.pop_vec(s)?;
        let ty = self.vec_type(s).into();
        let v = self.call_intrinsic(name, &[ty], &[a.into()])?;
        self.push_vec(v.into_vector_value())
    }

    fn binary_intrinsic(&mut self, s: Shape, name: &str) -> BResult<()> {
        let b = self.pop_vec(s)?;
        let a = self.pop_vec(s)?;
        let ty = self.vec_type(s).into();
        let v = self.call_intrinsic(name, &[ty], &[a.into(), b.into()])?;
        self.push_vec(v.into_vector_value())
    }
}
