//! The per-LLVM-module environment shared by every function translated into
//! it: LLVM types for wasm values and signatures, builtin declarations, and
//! helpers that read the vmctx through [`VMOffsets`].
//!
//! What must stay true: every vmctx access goes through an offset or size
//! from `wasabi_runtime::vmcontext`; no layout number is written here by
//! hand.

use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum, FunctionType};
use inkwell::values::{BasicValueEnum, FunctionValue, IntValue, PointerValue};
use inkwell::AddressSpace;
use wasabi_runtime::module::ModuleInfo;
use wasabi_runtime::types::{FuncType, ValType};
use wasabi_runtime::vmcontext::{AbiType, BuiltinIndex, VMOffsets, VMCTX_OFFSET_BUILTINS};

use crate::CompileError;

pub(crate) type BResult<T> = Result<T, CompileError>;

impl From<inkwell::builder::BuilderError> for CompileError {
    fn from(e: inkwell::builder::BuilderError) -> Self {
        CompileError::Llvm(e.to_string())
    }
}

/// Checks compiled into every function so that a host can bound or stop
/// a guest (see `translate::interrupt`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Instrumentation {
    /// Fuel metering.
    pub fuel: bool,
    /// Epoch deadline checks.
    pub epoch: bool,
    /// Execution counters of the baseline tier (`CompilerConfig::tier_up_after`).
    pub tier_up_after: Option<u32>,
}

/// One LLVM module being filled with functions of one wasm module.
pub(crate) struct ModuleEnv<'ctx, 'a> {
    pub ctx: &'ctx Context,
    pub module: Module<'ctx>,
    pub builder: Builder<'ctx>,
    pub info: &'a ModuleInfo,
    pub offsets: VMOffsets,
    pub instrument: Instrumentation,
    /// Whether an optimising pipeline (-O1 and up) will run over the
    /// module, rather than none (-O0: baseline code, trampolines).
    pub optimizing: bool,
}

impl<'ctx, 'a> ModuleEnv<'ctx, 'a> {
    pub fn new(ctx: &'ctx Context, name: &str, info: &'a ModuleInfo) -> Self {
        ModuleEnv {
            ctx,
            module: ctx.create_module(name),
            builder: ctx.create_builder(),
            info,
            offsets: VMOffsets::new(info),
            instrument: Instrumentation::default(),
            optimizing: true,
        }
    }

    pub fn ptr_type(&self) -> inkwell::types::PointerType<'ctx> {
        self.ctx.ptr_type(AddressSpace::default())
    }

    pub fn i8(&self) -> inkwell::types::IntType<'ctx> {
        self.ctx.i8_type()
    }
    pub fn i32(&self) -> inkwell::types::IntType<'ctx> {
        self.ctx.i32_type()
    }
    pub fn i64(&self) -> inkwell::types::IntType<'ctx> {
        self.ctx.i64_type()
    }

    /// The LLVM type of a `v128` wherever it travels (locals, phis,
    /// params, results, globals): `<4 x i32>`, so it lives in an XMM
    /// register (an `i128` would be split over two general registers).
    /// SIMD operators bitcast it to the lane shape they need
    /// (`translate/simd.rs`).
    pub fn v128_type(&self) -> inkwell::types::VectorType<'ctx> {
        self.ctx.i32_type().vec_type(4)
    }

    /// The LLVM type of a wasm value type.
    pub fn val_type(&self, t: ValType) -> BasicTypeEnum<'ctx> {
        match t {
            ValType::I32 => self.ctx.i32_type().into(),
            ValType::I64 => self.ctx.i64_type().into(),
            ValType::F32 => self.ctx.f32_type().into(),
            ValType::F64 => self.ctx.f64_type().into(),
            ValType::V128 => self.v128_type().into(),
            ValType::FuncRef | ValType::ExternRef => self.ptr_type().into(),
        }
    }

    /// The native signature of a wasm function type: `(vmctx, params...)`
    /// returning nothing, the single result, or a struct of results.
    pub fn func_type(&self, ty: &FuncType) -> FunctionType<'ctx> {
        let mut params: Vec<BasicMetadataTypeEnum> = vec![self.ptr_type().into()];
        params.extend(
            ty.params
                .iter()
                .map(|t| BasicMetadataTypeEnum::from(self.val_type(*t))),
        );
        match ty.results.len() {
            0 => self.ctx.void_type().fn_type(&params, false),
            1 => self.val_type(ty.results[0]).fn_type(&params, false),
            _ => self.results_struct(ty).fn_type(&params, false),
        }
    }

    /// The struct a function with several results returns. Floats travel
    /// in it as integers of the same width: with three or more float fields
    /// the x86-64 convention returns one on the x87 stack, and loading a
    /// signalling NaN there quiets it (its bits must survive, as `f64.const`
    /// and `reinterpret` promise). See [`Self::result_field_of`].
    pub fn results_struct(&self, ty: &FuncType) -> inkwell::types::StructType<'ctx> {
        let fields: Vec<BasicTypeEnum> = ty
            .results
            .iter()
            .map(|t| self.result_field_type(*t))
            .collect();
        self.ctx.struct_type(&fields, false)
    }

    /// The type of a value of wasm type `t` as a field of a results struct.
    pub fn result_field_type(&self, t: ValType) -> BasicTypeEnum<'ctx> {
        match t {
            ValType::F32 => self.i32().into(),
            ValType::F64 => self.i64().into(),
            t => self.val_type(t),
        }
    }

    /// A value of wasm type `t` as a field of a results struct (floats as
    /// their bits).
    pub fn result_field_of(
        &self,
        v: BasicValueEnum<'ctx>,
        t: ValType,
    ) -> BResult<BasicValueEnum<'ctx>> {
        Ok(match t {
            ValType::F32 | ValType::F64 => {
                self.builder
                    .build_bit_cast(v, self.result_field_type(t), "bits")?
            }
            _ => v,
        })
    }

    /// The inverse of [`Self::result_field_of`].
    pub fn result_field_value(
        &self,
        v: BasicValueEnum<'ctx>,
        t: ValType,
    ) -> BResult<BasicValueEnum<'ctx>> {
        Ok(match t {
            ValType::F32 | ValType::F64 => self.builder.build_bit_cast(v, self.val_type(t), "")?,
            _ => v,
        })
    }

    /// The zero value of a wasm type.
    pub fn zero(&self, t: ValType) -> BasicValueEnum<'ctx> {
        match t {
            ValType::I32 => self.i32().const_zero().into(),
            ValType::I64 => self.i64().const_zero().into(),
            ValType::F32 => self.ctx.f32_type().const_zero().into(),
            ValType::F64 => self.ctx.f64_type().const_zero().into(),
            ValType::V128 => self.v128_type().const_zero().into(),
            ValType::FuncRef | ValType::ExternRef => self.ptr_type().const_null().into(),
        }
    }

    pub fn abi_type(&self, t: AbiType) -> BasicMetadataTypeEnum<'ctx> {
        match t {
            AbiType::I32 => self.i32().into(),
            AbiType::I64 => self.i64().into(),
            AbiType::Ptr => self.ptr_type().into(),
        }
    }

    pub fn builtin_type(&self, b: BuiltinIndex) -> FunctionType<'ctx> {
        let (params, ret) = b.signature();
        let params: Vec<BasicMetadataTypeEnum> = params.iter().map(|t| self.abi_type(*t)).collect();
        match ret {
            None => self.ctx.void_type().fn_type(&params, false),
            Some(AbiType::I32) => self.i32().fn_type(&params, false),
            Some(AbiType::I64) => self.i64().fn_type(&params, false),
            Some(AbiType::Ptr) => self.ptr_type().fn_type(&params, false),
        }
    }

    /// `base + offset` as a pointer.
    pub fn gep(&self, base: PointerValue<'ctx>, offset: u32) -> BResult<PointerValue<'ctx>> {
        if offset == 0 {
            return Ok(base);
        }
        let off = self.i64().const_int(offset as u64, false);
        Ok(unsafe {
            self.builder
                .build_in_bounds_gep(self.i8(), base, &[off], "")?
        })
    }

    /// `base + offset` with a dynamic offset.
    pub fn gep_dyn(
        &self,
        base: PointerValue<'ctx>,
        offset: IntValue<'ctx>,
    ) -> BResult<PointerValue<'ctx>> {
        Ok(unsafe {
            self.builder
                .build_in_bounds_gep(self.i8(), base, &[offset], "")?
        })
    }

    /// Loads a value of type `ty` at `base + offset`.
    pub fn load<T: BasicType<'ctx>>(
        &self,
        ty: T,
        base: PointerValue<'ctx>,
        offset: u32,
        name: &str,
    ) -> BResult<BasicValueEnum<'ctx>> {
        let p = self.gep(base, offset)?;
        Ok(self.builder.build_load(ty, p, name)?)
    }

    pub fn load_ptr(
        &self,
        base: PointerValue<'ctx>,
        offset: u32,
        name: &str,
    ) -> BResult<PointerValue<'ctx>> {
        Ok(self
            .load(self.ptr_type(), base, offset, name)?
            .into_pointer_value())
    }

    /// Calls builtin `b` through `vmctx.builtins`.
    pub fn call_builtin(
        &self,
        vmctx: PointerValue<'ctx>,
        b: BuiltinIndex,
        args: &[inkwell::values::BasicMetadataValueEnum<'ctx>],
    ) -> BResult<Option<BasicValueEnum<'ctx>>> {
        let table = self.load_ptr(vmctx, VMCTX_OFFSET_BUILTINS, "builtins")?;
        let f = self.load_ptr(table, b.offset(), "builtin")?;
        let call = self
            .builder
            .build_indirect_call(self.builtin_type(b), f, args, "")?;
        if b.noreturn() {
            call.add_attribute(AttributeLoc::Function, self.enum_attr("noreturn"));
            call.add_attribute(AttributeLoc::Function, self.enum_attr("cold"));
        }
        Ok(call.try_as_basic_value().basic())
    }

    /// This function's frame pointer (`llvm.frameaddress(0)`): where the
    /// frame record `{caller's fp, return address}` is, for backtraces.
    pub fn frame_address(&self) -> BResult<PointerValue<'ctx>> {
        let f = self.intrinsic("llvm.frameaddress", &[self.ptr_type().into()])?;
        let fp = self
            .builder
            .build_call(f, &[self.i32().const_zero().into()], "fp")?;
        Ok(fp
            .try_as_basic_value()
            .basic()
            .unwrap()
            .into_pointer_value())
    }

    pub fn enum_attr(&self, name: &str) -> Attribute {
        self.ctx
            .create_enum_attribute(Attribute::get_named_enum_kind_id(name), 0)
    }

    /// Attaches an empty metadata node of kind `kind` to `i`: the marks
    /// Wasabi's LLVM pass reads (`crate::passes`).
    pub fn mark(&self, i: inkwell::values::InstructionValue<'ctx>, kind: &str) {
        i.set_metadata(self.ctx.metadata_node(&[]), self.ctx.get_kind_id(kind))
            .expect("an instruction takes metadata");
    }

    /// Declares (or finds) an LLVM intrinsic overloaded on `types`.
    pub fn intrinsic(
        &self,
        name: &str,
        types: &[BasicTypeEnum<'ctx>],
    ) -> BResult<FunctionValue<'ctx>> {
        let i = inkwell::intrinsics::Intrinsic::find(name)
            .ok_or_else(|| CompileError::Llvm(format!("unknown intrinsic {name}")))?;
        i.get_declaration(&self.module, types)
            .ok_or_else(|| CompileError::Llvm(format!("cannot declare intrinsic {name}")))
    }
}
