//! Per-signature trampolines between the host's uniform calling convention
//! (arguments and results in a `u128` array) and the wasm one.
//!
//! - Entry: `extern "C" fn(callee_vmctx, code, values: *mut u128)` loads the
//!   arguments from `values`, calls `code`, stores the results back.
//! - Host: has the wasm signature; spills the arguments into a stack array,
//!   calls `VMHostContext.dispatch(ctx, array, fp)` and on a non-zero status
//!   calls `VMHostContext.raise(fp)`, which does not return; `fp` is the
//!   trampoline's own frame pointer, where a backtrace leaves wasm.
//!
//! Which types get which trampoline is decided by
//! `wasabi_runtime::code::TrampolinePlan` (only signatures in use, once
//! each); the functions here build one trampoline for one type index.

use crate::env::{BResult, ModuleEnv};
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum};
use inkwell::IntPredicate;
use wasabi_runtime::vmcontext::{symbols, VMHostContext, VM_VAL_ALIGN, VM_VAL_SIZE};

const SLOT: u32 = VM_VAL_SIZE;

pub(crate) fn build_entry(env: &ModuleEnv<'_, '_>, t: u32) -> BResult<()> {
    let ty = &env.info.types[t as usize];
    let p = env.ptr_type();
    let fty = env
        .ctx
        .void_type()
        .fn_type(&[p.into(), p.into(), p.into()], false);
    let f = env
        .module
        .add_function(&symbols::entry_trampoline(t), fty, None);
    f.set_section(Some(symbols::TEXT_SECTION));
    let bb = env.ctx.append_basic_block(f, "entry");
    env.builder.position_at_end(bb);
    let callee_vmctx = f.get_nth_param(0).unwrap().into_pointer_value();
    let code = f.get_nth_param(1).unwrap().into_pointer_value();
    let values = f.get_nth_param(2).unwrap().into_pointer_value();
    let mut args: Vec<BasicMetadataValueEnum> = vec![callee_vmctx.into()];
    for (i, vt) in ty.params.iter().enumerate() {
        args.push(
            env.load(env.val_type(*vt), values, i as u32 * SLOT, "arg")?
                .into(),
        );
    }
    let call = env
        .builder
        .build_indirect_call(env.func_type(ty), code, &args, "")?;
    let results: Vec<BasicValueEnum> = match ty.results.len() {
        0 => vec![],
        1 => vec![call.try_as_basic_value().basic().unwrap()],
        n => {
            let agg = call
                .try_as_basic_value()
                .basic()
                .unwrap()
                .into_struct_value();
            (0..n)
                .map(|i| env.builder.build_extract_value(agg, i as u32, ""))
                .collect::<Result<_, _>>()?
        }
    };
    for (i, v) in results.iter().enumerate() {
        let slot = env.gep(values, i as u32 * SLOT)?;
        env.builder.build_store(slot, *v)?;
    }
    env.builder.build_return(None)?;
    Ok(())
}

pub(crate) fn build_host(env: &ModuleEnv<'_, '_>, t: u32) -> BResult<()> {
    let ty = &env.info.types[t as usize];
    let f = env
        .module
        .add_function(&symbols::host_trampoline(t), env.func_type(ty), None);
    f.set_section(Some(symbols::TEXT_SECTION));
    let bb = env.ctx.append_basic_block(f, "entry");
    env.builder.position_at_end(bb);
    let ctx = f.get_nth_param(0).unwrap().into_pointer_value();
    let n = ty.params.len().max(ty.results.len()).max(1) as u32;
    let array_ty = env.ctx.i128_type().array_type(n);
    let values = env.builder.build_alloca(array_ty, "values")?;
    // The runtime reads the slots as `VMVal`s: give the array their
    // alignment, whatever the data layout says about i128.
    values
        .as_instruction()
        .expect("an alloca")
        .set_alignment(VM_VAL_ALIGN)
        .map_err(|e| crate::CompileError::Llvm(e.to_string()))?;
    for i in 0..ty.params.len() as u32 {
        let slot = env.gep(values, i * SLOT)?;
        // Zero the slot first so narrow values are zero-extended.
        env.builder
            .build_store(slot, env.ctx.i128_type().const_zero())?;
        env.builder
            .build_store(slot, f.get_nth_param(i + 1).unwrap())?;
    }
    let dispatch = env.load_ptr(ctx, VMHostContext::OFFSET_DISPATCH, "dispatch")?;
    let p = env.ptr_type();
    let dispatch_ty = env.i32().fn_type(&[p.into(), p.into(), p.into()], false);
    let fp = env.frame_address()?;
    let status = env
        .builder
        .build_indirect_call(
            dispatch_ty,
            dispatch,
            &[ctx.into(), values.into(), fp.into()],
            "status",
        )?
        .try_as_basic_value()
        .basic()
        .unwrap()
        .into_int_value();
    let failed =
        env.builder
            .build_int_compare(IntPredicate::NE, status, env.i32().const_zero(), "")?;
    let raise_bb = env.ctx.append_basic_block(f, "raise");
    let ok_bb = env.ctx.append_basic_block(f, "ok");
    env.builder
        .build_conditional_branch(failed, raise_bb, ok_bb)?;
    env.builder.position_at_end(raise_bb);
    let raise = env.load_ptr(ctx, VMHostContext::OFFSET_RAISE, "raise")?;
    let call = env.builder.build_indirect_call(
        env.ctx.void_type().fn_type(&[p.into()], false),
        raise,
        &[fp.into()],
        "",
    )?;
    call.add_attribute(
        inkwell::attributes::AttributeLoc::Function,
        env.enum_attr("noreturn"),
    );
    env.builder.build_unreachable()?;
    env.builder.position_at_end(ok_bb);
    // Several results travel as a struct whose floats are integers
    // (`ModuleEnv::results_struct`); the slots hold the same bits.
    let field_type = |vt| match ty.results.len() {
        1 => env.val_type(vt),
        _ => env.result_field_type(vt),
    };
    let results: Vec<BasicValueEnum> = ty
        .results
        .iter()
        .enumerate()
        .map(|(i, vt)| env.load(field_type(*vt), values, i as u32 * SLOT, "result"))
        .collect::<Result<_, _>>()?;
    match results.len() {
        0 => env.builder.build_return(None)?,
        1 => env.builder.build_return(Some(&results[0]))?,
        _ => env.builder.build_aggregate_return(&results)?,
    };
    Ok(())
}
