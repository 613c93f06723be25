//! SIMD loads and stores: whole vectors, extending loads, splat and zero
//! loads, single-lane loads and stores.
//!
//! What must stay true: like every wasm memory access (made by
//! `memory_load`/`memory_store` in `translate/memory.rs`), each access is
//! one volatile LLVM load or store
//! with alignment 1 at `base + zext(addr) + offset`, of exactly the bytes
//! the instruction reads or writes (8 for `load8x8_s`, 1 for
//! `load8_lane`...), so an access that is out of bounds faults on the guard
//! pages exactly where the spec says and nothing is written before it.

use super::Shape;
use crate::env::BResult;
use crate::translate::FuncTranslator;
use inkwell::types::BasicTypeEnum;
use inkwell::values::BasicValueEnum;
use wasmparser::MemArg;

impl<'ctx> FuncTranslator<'ctx, '_, '_> {
    /// Pops an address and loads a value of type `ty` from it.
    fn simd_load(&mut self, m: &MemArg, ty: BasicTypeEnum<'ctx>) -> BResult<BasicValueEnum<'ctx>> {
        let addr = self.pop_int();
        self.memory_load(addr, m, ty)
    }

    pub(super) fn v128_load(&mut self, m: MemArg) -> BResult<()> {
        let ty = self.vec_type(Shape::I32x4).into();
        let v = self.simd_load(&m, ty)?;
        self.push_vec(v.into_vector_value())
    }

    /// `v128.loadNxM_{s,u}`: loads 64 bits, extends each lane to `to`.
    pub(super) fn v128_load_extend(&mut self, m: MemArg, to: Shape, signed: bool) -> BResult<()> {
        let narrow_bits = to.lane_bits() / 2;
        let narrow = self.int_type(narrow_bits).vec_type(to.lanes());
        let v = self.simd_load(&m, narrow.into())?.into_vector_value();
        let v = self.extend_to(v, self.vec_type(to), signed)?;
        self.push_vec(v)
    }

    pub(super) fn v128_load_splat(&mut self, m: MemArg, s: Shape) -> BResult<()> {
        let x = self.simd_load(&m, self.lane_type(s))?;
        let v = self.splat_value(x, s)?;
        self.push_vec(v)
    }

    /// `v128.load32_zero` / `load64_zero`: one lane loaded, the rest zero.
    pub(super) fn v128_load_zero(&mut self, m: MemArg, s: Shape) -> BResult<()> {
        let x = self.simd_load(&m, self.lane_type(s))?;
        let zero = self.vec_type(s).const_zero();
        let v = self
            .env
            .builder
            .build_insert_element(zero, x, self.env.i32().const_zero(), "")?;
        self.push_vec(v)
    }

    pub(super) fn v128_store(&mut self, m: MemArg) -> BResult<()> {
        let v = self.pop();
        let addr = self.pop_int();
        self.memory_store(addr, &m, v)
    }

    /// `v128.loadN_lane`: `[addr, v] -> [v with lane replaced]`.
    pub(super) fn v128_load_lane(&mut self, m: MemArg, s: Shape, lane: u8) -> BResult<()> {
        let v = self.pop_vec(s)?;
        let x = self.simd_load(&m, self.lane_type(s))?;
        let idx = self.env.i32().const_int(lane as u64, false);
        let v = self.env.builder.build_insert_element(v, x, idx, "")?;
        self.push_vec(v)
    }

    /// `v128.storeN_lane`: `[addr, v] -> []`, stores one lane.
    pub(super) fn v128_store_lane(&mut self, m: MemArg, s: Shape, lane: u8) -> BResult<()> {
        let v = self.pop_vec(s)?;
        let addr = self.pop_int();
        let idx = self.env.i32().const_int(lane as u64, false);
        let x = self.env.builder.build_extract_element(v, idx, "")?;
        self.memory_store(addr, &m, x)
    }
}
