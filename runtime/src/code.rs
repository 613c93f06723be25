//! A compiled module: its description plus loaded native code, and the
//! interface through which the runtime asks a code generator for code.
//!
//! What must stay true: every defined function has a code pointer, and every
//! type has an entry and a host trampoline, before an instance is made. The
//! runtime never depends on the compiler crate; it sees it only through
//! [`CodeGenerator`].

use crate::loader::{load_object, LoadError, LoadedObject};
use crate::module::ModuleInfo;
use crate::vmcontext::symbols;
use std::sync::Arc;

/// Something that turns wasm into relocatable objects following the
/// contract in `vmcontext` (the LLVM compiler; later a cache or AOT image).
pub trait CodeGenerator: Send + Sync {
    /// Compiles every defined function and every type's trampolines;
    /// returns one or more ELF relocatable objects.
    fn compile_module(&self, module: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String>;
}

/// A module ready to instantiate: description + code.
pub struct CompiledModule {
    pub info: Arc<ModuleInfo>,
    /// Name for messages (file name or `$name` from a script).
    pub name: String,
    objects: Vec<LoadedObject>,
    /// For code linked ahead of time: the bounds of its code, and what keeps
    /// it mapped (e.g. a loaded shared library).
    static_code: Option<(usize, usize)>,
    _keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
    /// Code of each defined function (index - num_imported_funcs).
    pub(crate) func_code: Vec<usize>,
    pub(crate) entry_trampolines: Vec<usize>,
    pub(crate) host_trampolines: Vec<usize>,
}

impl Drop for CompiledModule {
    fn drop(&mut self) {
        if let Some((start, _)) = self.static_code {
            crate::traps::unregister_code(start);
        }
    }
}

impl CompiledModule {
    /// Loads objects and finds every function and trampoline in them.
    pub fn load(
        info: Arc<ModuleInfo>,
        name: String,
        objects: &[Vec<u8>],
    ) -> Result<CompiledModule, LoadError> {
        let loaded: Vec<LoadedObject> = objects
            .iter()
            .map(|o| load_object(o))
            .collect::<Result<_, _>>()?;
        let find = |sym: &str| -> Result<usize, LoadError> {
            loaded
                .iter()
                .find_map(|o| o.symbol(sym))
                .ok_or_else(|| LoadError(format!("compiled code lacks symbol `{sym}`")))
        };
        let func_code = (info.num_imported_funcs..info.functions.len() as u32)
            .map(|i| find(&symbols::func(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let entry_trampolines = (0..info.types.len() as u32)
            .map(|t| find(&symbols::entry_trampoline(t)))
            .collect::<Result<_, _>>()?;
        let host_trampolines = (0..info.types.len() as u32)
            .map(|t| find(&symbols::host_trampoline(t)))
            .collect::<Result<_, _>>()?;
        Ok(CompiledModule {
            info,
            name,
            objects: loaded,
            static_code: None,
            _keep_alive: None,
            func_code,
            entry_trampolines,
            host_trampolines,
        })
    }

    /// A module whose code was linked ahead of time (an AOT executable or a
    /// shared library): code pointers come from the AOT tables, and
    /// `code_range` (all of `wasabi_text`) is registered for the trap
    /// handler. `keep_alive` holds whatever keeps the code mapped.
    ///
    /// # Safety
    /// The pointers must be code compiled for `info` under the same contract.
    pub unsafe fn from_static(
        info: Arc<ModuleInfo>,
        name: String,
        func_code: Vec<usize>,
        entry_trampolines: Vec<usize>,
        host_trampolines: Vec<usize>,
        code_range: (usize, usize),
        keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> CompiledModule {
        crate::traps::register_code(code_range.0, code_range.1);
        CompiledModule {
            info,
            name,
            objects: Vec::new(),
            static_code: Some(code_range),
            _keep_alive: keep_alive,
            func_code,
            entry_trampolines,
            host_trampolines,
        }
    }

    /// The function index whose code contains `pc`.
    pub fn func_at_pc(&self, pc: usize) -> Option<u32> {
        if let Some((start, end)) = self.static_code {
            if pc < start || pc >= end {
                return None;
            }
            // No symbol sizes here: the function starting closest below pc.
            let (k, _) = self
                .func_code
                .iter()
                .enumerate()
                .filter(|(_, &a)| a <= pc)
                .max_by_key(|(_, &a)| a)?;
            return Some(self.info.num_imported_funcs + k as u32);
        }
        for o in &self.objects {
            let (start, end) = o.code_range();
            if pc < start || pc >= end {
                continue;
            }
            for s in o.symbols() {
                if pc >= s.address && pc < s.address + s.size.max(1) {
                    if let Some(i) = symbols::parse_func(&s.name) {
                        return Some(i);
                    }
                }
            }
        }
        None
    }

    /// Total bytes of executable code.
    pub fn code_size(&self) -> usize {
        self.objects
            .iter()
            .map(|o| o.code_range().1 - o.code_range().0)
            .sum()
    }
}
