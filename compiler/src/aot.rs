//! Ahead-of-time output: the objects of a whole module plus one *table
//! object* that a system linker combines with the runtime library.
//!
//! The table object defines the symbols in `vmcontext::symbols::AOT_*`:
//! pointer tables of the defined functions and of each type's trampolines
//! (one entry per type index, null where `TrampolinePlan` has none), and
//! the serialised module description. It also holds a pointer to the
//! ABI marker symbol (`wasabi_abi_<hash>`), which only a runtime built from
//! the same compiled-code contract defines: a mismatched object and runtime
//! fail at link time.

use crate::{env::ModuleEnv, CompileError, LlvmCompiler};
use inkwell::context::Context;
use inkwell::module::Linkage;
use inkwell::values::BasicValue;
use wasabi_runtime::code::TrampolinePlan;
use wasabi_runtime::module::ModuleInfo;
use wasabi_runtime::vmcontext::symbols;

impl LlvmCompiler {
    /// Compiles `info` for static linking: function batches in parallel,
    /// the trampolines, and the table object. `progress` is called with the
    /// number of batches done and the total.
    pub fn compile_aot(
        &self,
        info: &ModuleInfo,
        wasm: &[u8],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<Vec<u8>>, CompileError> {
        let mut objects = self.compile_all_with(info, wasm, progress)?;
        objects.push(self.compile_aot_tables(info)?);
        Ok(objects)
    }

    /// The table object described in the module docs.
    pub fn compile_aot_tables(&self, info: &ModuleInfo) -> Result<Vec<u8>, CompileError> {
        let ctx = Context::create();
        let env = ModuleEnv::new(&ctx, "wasabi_aot_tables", info);
        let ptr = env.ptr_type();
        let void_fn = ctx.void_type().fn_type(&[], false);
        // `None`: a null entry.
        let table = |name: &str, targets: Vec<Option<String>>| {
            let ptrs: Vec<_> = targets
                .iter()
                .map(|t| match t {
                    None => ptr.const_null(),
                    Some(t) => {
                        let f = env
                            .module
                            .get_function(t)
                            .unwrap_or_else(|| env.module.add_function(t, void_fn, None));
                        f.as_global_value().as_pointer_value()
                    }
                })
                .collect();
            let init = ptr.const_array(&ptrs);
            let g = env.module.add_global(init.get_type(), None, name);
            g.set_initializer(&init);
            g.set_constant(true);
        };
        table(
            symbols::AOT_FUNCS,
            (info.num_imported_funcs..info.functions.len() as u32)
                .map(|f| Some(symbols::func(f)))
                .collect(),
        );
        let plan = TrampolinePlan::new(info);
        table(
            symbols::AOT_ENTRY_TRAMPOLINES,
            (0..info.types.len() as u32)
                .map(|t| plan.entry_for(t).map(symbols::entry_trampoline))
                .collect(),
        );
        table(
            symbols::AOT_HOST_TRAMPOLINES,
            (0..info.types.len() as u32)
                .map(|t| plan.host_for(t).map(symbols::host_trampoline))
                .collect(),
        );

        let meta = info.to_bytes();
        let bytes = ctx.const_string(&meta, false);
        let g = env
            .module
            .add_global(bytes.get_type(), None, symbols::AOT_METADATA);
        g.set_initializer(&bytes);
        g.set_constant(true);
        let len = env.i64().const_int(meta.len() as u64, false);
        let g = env
            .module
            .add_global(env.i64(), None, symbols::AOT_METADATA_LEN);
        g.set_initializer(&len.as_basic_value_enum());
        g.set_constant(true);

        // A module may have no code at all; the section (and so its bounds
        // symbols) must still exist.
        let anchor = env
            .module
            .add_function("wasabi_aot_text_anchor", void_fn, None);
        anchor.set_section(Some(symbols::TEXT_SECTION));
        env.builder
            .position_at_end(ctx.append_basic_block(anchor, "entry"));
        env.builder.build_return(None)?;
        let start = env.module.add_global(env.i8(), None, "__start_wasabi_text");
        let stop = env.module.add_global(env.i8(), None, "__stop_wasabi_text");
        let bounds = ptr.const_array(&[start.as_pointer_value(), stop.as_pointer_value()]);
        let g = env
            .module
            .add_global(bounds.get_type(), None, symbols::AOT_TEXT_BOUNDS);
        g.set_initializer(&bounds);
        g.set_constant(true);

        let marker = env
            .module
            .add_global(env.i8(), None, &symbols::abi_marker());
        marker.set_linkage(Linkage::External);
        let r = env.module.add_global(ptr, None, "wasabi_aot_abi_ref");
        r.set_initializer(&marker.as_pointer_value());
        r.set_constant(true);

        let machine = crate::codegen::Machine::new(&self.config)?;
        crate::codegen::emit_object(&env.module, &machine, &self.config, false)
    }
}
