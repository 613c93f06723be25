//! LLVM set-up: target machines, the optimisation pipeline for each level,
//! and emission of relocatable objects.
//!
//! What must stay true: objects are position independent with the small
//! code model, which is what `wasabi_runtime::loader` relocates.

use crate::{CompileError, CompilerConfig, OptLevel, TargetCpu};
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use inkwell::OptimizationLevel;
use std::sync::Once;

pub(crate) fn init_llvm() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        Target::initialize_x86(&InitializationConfig::default());
    });
}

pub(crate) fn target_machine(config: &CompilerConfig) -> Result<TargetMachine, CompileError> {
    init_llvm();
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| CompileError::Llvm(e.to_string()))?;
    let (cpu, features) = match config.target_cpu {
        TargetCpu::Native => (
            TargetMachine::get_host_cpu_name().to_string(),
            TargetMachine::get_host_cpu_features().to_string(),
        ),
        TargetCpu::Generic => ("x86-64".to_string(), String::new()),
    };
    let level = match config.opt_level {
        OptLevel::O0 => OptimizationLevel::None,
        OptLevel::O1 => OptimizationLevel::Less,
        OptLevel::O2 => OptimizationLevel::Default,
        OptLevel::O3 => OptimizationLevel::Aggressive,
    };
    target
        .create_target_machine(
            &triple,
            &cpu,
            &features,
            level,
            RelocMode::PIC,
            CodeModel::Small,
        )
        .ok_or_else(|| CompileError::Llvm("cannot create a target machine".into()))
}

/// Verifies, optimises and emits `module` as an ELF relocatable object.
pub(crate) fn emit_object(
    module: &Module<'_>,
    tm: &TargetMachine,
    config: &CompilerConfig,
) -> Result<Vec<u8>, CompileError> {
    module.set_triple(&tm.get_triple());
    module.set_data_layout(&tm.get_target_data().get_data_layout());
    module
        .verify()
        .map_err(|e| CompileError::Llvm(format!("generated IR is invalid (a wasabi bug): {e}")))?;
    let passes = match config.opt_level {
        OptLevel::O0 => "function(mem2reg)",
        OptLevel::O1 => "default<O1>",
        OptLevel::O2 => "default<O2>",
        OptLevel::O3 => "default<O3>",
    };
    module
        .run_passes(passes, tm, PassBuilderOptions::create())
        .map_err(|e| CompileError::Llvm(e.to_string()))?;
    let buf = tm
        .write_to_memory_buffer(module, FileType::Object)
        .map_err(|e| CompileError::Llvm(e.to_string()))?;
    Ok(buf.as_slice().to_vec())
}
