//! A compiled module: its description plus loaded native code, and the
//! interface through which the runtime asks a code generator for code.
//!
//! What must stay true: every defined function has a code pointer (in lazy
//! mode, its thunk until it is compiled; see [`crate::lazy`]) before an
//! instance is made, and trampolines exist exactly as [`TrampolinePlan`]
//! says: an entry trampoline for the signature of every function (imported
//! or defined), a host trampoline for that of every imported function, one
//! per distinct signature, so that no unused or repeated type costs any
//! compilation. The runtime never depends on the compiler crate; it sees it
//! only through [`CodeGenerator`].

use crate::lazy::{LazyCode, LazyStats};
use crate::loader::{load, LoadError, LoadedObject};
use crate::module::ModuleInfo;
use crate::types::FuncType;
use crate::vmcontext::symbols;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Something that turns wasm into relocatable objects following the
/// contract in `vmcontext`: the LLVM compiler itself, or one module opened
/// in it (`wasabi_compiler_abi::ModuleSession`, in process or in the
/// `wasabi` command's compiler plugin), which is given that module's
/// description and bytes on every call and refuses any other.
pub trait CodeGenerator: Send + Sync {
    /// Compiles every defined function and every type's trampolines;
    /// returns one or more ELF relocatable objects.
    fn compile_module(&self, module: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String>;

    /// Compiles the one defined function `func_index` (imports included in
    /// the numbering) into an ELF object defining `symbols::func(index)`
    /// and nothing the loader cannot resolve (lazy compilation).
    fn compile_function(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
    ) -> Result<Vec<u8>, String>;

    /// Compiles the trampolines of [`TrampolinePlan::new`] into one object.
    fn compile_trampolines(&self, module: &ModuleInfo) -> Result<Vec<u8>, String>;

    /// Compiles the defined functions `funcs` into one object defining
    /// `symbols::func(f)` for each (tiered mode's optimising tier, which
    /// recompiles hot functions in batches). By default, one function.
    fn compile_batch(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        funcs: &[u32],
    ) -> Result<Vec<u8>, String> {
        match funcs {
            [f] => self.compile_function(module, wasm, *f),
            _ => Err("this code generator compiles one function at a time".into()),
        }
    }

    /// Compiles the on-stack-replacement entry of defined function
    /// `func_index` at its OSR loop `loop_index` into an object defining
    /// `symbols::func_osr(func_index, loop_index)` (tiered mode's
    /// optimising tier). A generator without OSR says so; the function
    /// then stays in baseline code until its next call.
    fn compile_osr(
        &self,
        module: &ModuleInfo,
        wasm: &[u8],
        func_index: u32,
        loop_index: u32,
    ) -> Result<Vec<u8>, String> {
        let _ = (module, wasm, func_index, loop_index);
        Err("this code generator has no on-stack replacement".into())
    }
}

/// Which trampolines a module has: the one contract between the code
/// generator, which compiles them, and [`CompiledModule`], which finds them.
///
/// Types are deduplicated by structure: the trampolines of type `t` are
/// those of `canonical[t]`, the first type index with the same signature,
/// and are named after it (`symbols::entry_trampoline(canonical[t])`).
/// Work is linear in the size of the type section.
#[derive(Clone, Debug)]
pub struct TrampolinePlan {
    /// For each type index, the first type index with the same signature.
    pub canonical: Vec<u32>,
    /// Canonical type indices with an entry trampoline (the signatures of
    /// all functions, imported and defined), ascending.
    pub entry: Vec<u32>,
    /// Canonical type indices with a host trampoline (the signatures of
    /// imported functions), ascending.
    pub host: Vec<u32>,
}

impl TrampolinePlan {
    pub fn new(info: &ModuleInfo) -> TrampolinePlan {
        let mut first: HashMap<&FuncType, u32> = HashMap::with_capacity(info.types.len());
        let canonical: Vec<u32> = (0..info.types.len() as u32)
            .map(|t| *first.entry(&info.types[t as usize]).or_insert(t))
            .collect();
        let signatures = |funcs: &[u32]| {
            let mut v: Vec<u32> = funcs.iter().map(|&t| canonical[t as usize]).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let entry = signatures(&info.functions);
        let host = signatures(&info.functions[..info.num_imported_funcs as usize]);
        TrampolinePlan {
            canonical,
            entry,
            host,
        }
    }

    /// The type index naming the entry trampoline of type `t`, if it has one.
    pub fn entry_for(&self, t: u32) -> Option<u32> {
        let c = self.canonical[t as usize];
        self.entry.binary_search(&c).is_ok().then_some(c)
    }

    /// The type index naming the host trampoline of type `t`, if it has one.
    pub fn host_for(&self, t: u32) -> Option<u32> {
        let c = self.canonical[t as usize];
        self.host.binary_search(&c).is_ok().then_some(c)
    }
}

/// Where the symbols of an AOT table object are in memory.
pub struct AotTables {
    /// `AOT_METADATA` and the value of `AOT_METADATA_LEN`.
    pub metadata: *const u8,
    pub metadata_len: usize,
    /// `AOT_FUNCS`, `AOT_ENTRY_TRAMPOLINES`, `AOT_HOST_TRAMPOLINES`.
    pub funcs: *const usize,
    pub entry_trampolines: *const usize,
    pub host_trampolines: *const usize,
    /// `AOT_TEXT_BOUNDS`: start and end of `wasabi_text`.
    pub text_bounds: *const usize,
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
    /// Per type index: its trampolines, 0 where [`TrampolinePlan`] has none.
    entry_trampolines: Vec<usize>,
    host_trampolines: Vec<usize>,
    /// Thunks, compiled-on-demand code and their bookkeeping, in lazy mode.
    lazy: Option<LazyCode>,
}

impl Drop for CompiledModule {
    fn drop(&mut self) {
        if let Some((start, _)) = self.static_code {
            crate::traps::unregister_code(start);
        }
    }
}

impl CompiledModule {
    /// The entry trampoline (host to wasm) for type index `t`:
    /// `extern "C" fn(callee_vmctx, code, values: *mut u128)`; 0 when no
    /// function of the module has that signature (see [`TrampolinePlan`]).
    pub fn entry_trampoline(&self, t: u32) -> usize {
        self.entry_trampolines[t as usize]
    }

    /// The host trampoline (wasm to host) for type index `t`; it has the
    /// wasm signature of `t` and expects a [`crate::vmcontext::VMHostContext`]
    /// as its vmctx. 0 when no imported function has that signature.
    pub fn host_trampoline(&self, t: u32) -> usize {
        self.host_trampolines[t as usize]
    }

    /// Loads objects (ELF objects, or images made by
    /// [`crate::loader::link_image`]) and finds every function and
    /// trampoline in them.
    pub fn load<O: AsRef<[u8]>>(
        info: Arc<ModuleInfo>,
        name: String,
        objects: &[O],
    ) -> Result<CompiledModule, LoadError> {
        Self::load_parts(info, name, objects, true)
    }

    /// As [`CompiledModule::load`], for objects that are slices of `file`
    /// (mapped): `offsets[i]` is where `objects[i]` begins in it. Images
    /// that begin at a page boundary of the file are mapped from it rather
    /// than copied (see [`crate::loader::load_image`]). The file must not change while the
    /// module lives.
    pub fn load_from_file(
        info: Arc<ModuleInfo>,
        name: String,
        objects: &[&[u8]],
        file: &std::fs::File,
        offsets: &[u64],
    ) -> Result<CompiledModule, LoadError> {
        if offsets.len() != objects.len() {
            return Err(LoadError("one file offset per object expected".into()));
        }
        let loaded = objects
            .iter()
            .zip(offsets)
            .map(|(o, &at)| load(o, Some((file, at))))
            .collect::<Result<_, _>>()?;
        Self::from_loaded(info, name, loaded, true)
    }

    /// Loads objects; finds the trampolines, and the functions if `funcs`.
    fn load_parts<O: AsRef<[u8]>>(
        info: Arc<ModuleInfo>,
        name: String,
        objects: &[O],
        funcs: bool,
    ) -> Result<CompiledModule, LoadError> {
        let loaded: Vec<LoadedObject> = objects
            .iter()
            .map(|o| load(o.as_ref(), None))
            .collect::<Result<_, _>>()?;
        Self::from_loaded(info, name, loaded, funcs)
    }

    /// Finds the trampolines, and the functions if `funcs`, in objects
    /// loaded.
    fn from_loaded(
        info: Arc<ModuleInfo>,
        name: String,
        loaded: Vec<LoadedObject>,
        funcs: bool,
    ) -> Result<CompiledModule, LoadError> {
        // Functions by the index in their symbol's name, everything else
        // (the trampolines) in one map: linear, however many symbols there
        // are, and no name formatted per function (a warm start of a
        // 13,500-function module spent 2 ms formatting and hashing them).
        let imported = info.num_imported_funcs as usize;
        let mut func_code = vec![
            0usize;
            if funcs {
                info.functions.len() - imported
            } else {
                0
            }
        ];
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for s in loaded.iter().flat_map(|o| o.symbols()) {
            match symbols::parse_func(&s.name) {
                Some(i)
                    if (i as usize) >= imported && (i as usize) - imported < func_code.len() =>
                {
                    func_code[i as usize - imported] = s.address
                }
                Some(_) => {}
                None => {
                    by_name.insert(s.name.as_str(), s.address);
                }
            }
        }
        if let Some(i) = func_code.iter().position(|&a| a == 0) {
            return Err(LoadError(format!(
                "compiled code lacks symbol `{}`",
                symbols::func((i + imported) as u32)
            )));
        }
        let find = |sym: &str| -> Result<usize, LoadError> {
            by_name
                .get(sym)
                .copied()
                .ok_or_else(|| LoadError(format!("compiled code lacks symbol `{sym}`")))
        };
        let plan = TrampolinePlan::new(&info);
        let per_type = |which: fn(&TrampolinePlan, u32) -> Option<u32>, name: fn(u32) -> String| {
            (0..info.types.len() as u32)
                .map(|t| which(&plan, t).map_or(Ok(0), |c| find(&name(c))))
                .collect::<Result<Vec<usize>, LoadError>>()
        };
        let entry_trampolines = per_type(TrampolinePlan::entry_for, symbols::entry_trampoline)?;
        let host_trampolines = per_type(TrampolinePlan::host_for, symbols::host_trampoline)?;
        Ok(CompiledModule {
            info,
            name,
            objects: loaded,
            static_code: None,
            _keep_alive: None,
            func_code,
            entry_trampolines,
            host_trampolines,
            lazy: None,
        })
    }

    /// A module whose functions are compiled on first call by `generator`
    /// (see [`crate::lazy`]); with `tiering`, tiered: `generator` makes
    /// counting baseline code and hot functions are recompiled by the
    /// tiering's optimizer. `trampolines` is the object of
    /// [`CodeGenerator::compile_trampolines`]; `wasm` the module's bytes
    /// (kept for compiling bodies later).
    pub fn load_lazy(
        info: Arc<ModuleInfo>,
        name: String,
        wasm: Arc<[u8]>,
        generator: Arc<dyn CodeGenerator>,
        tiering: Option<crate::lazy::Tiering>,
        trampolines: &[u8],
    ) -> Result<CompiledModule, LoadError> {
        let mut module =
            CompiledModule::load_parts(info.clone(), name.clone(), &[trampolines], false)?;
        let lazy = LazyCode::new(info, name, wasm, generator, tiering)?;
        module.func_code = lazy.thunks();
        module.lazy = Some(lazy);
        Ok(module)
    }

    /// A lazy module's first compilations go through `cache` from now on
    /// (call before the module runs; nothing for a module compiled up
    /// front).
    pub fn with_function_cache(mut self, cache: Arc<dyn crate::lazy::FunctionCache>) -> Self {
        if let Some(lazy) = &mut self.lazy {
            lazy.set_cache(cache);
        }
        self
    }

    /// Tiered mode: the baseline code of `func_index` ran hot; recompiles
    /// it with the optimising tier on the background thread (once) and
    /// points every caller at the new code. Called by the `TierUp` builtin.
    pub fn request_tier_up(self: &Arc<Self>, func_index: u32) {
        let Some(lazy) = &self.lazy else {
            return;
        };
        let Some(background) = lazy.claim_tier_up(func_index) else {
            return;
        };
        if !lazy.enqueue_tier_up(func_index) {
            // A drain is scheduled and will take it.
            return;
        }
        match background {
            true => self.drain_in_background(),
            false => lazy.drain_tier_ups(),
        }
    }

    /// Schedules a tier-up batch on the background thread, one batch per
    /// job (OSR entries asked for meanwhile go first), and the next batch
    /// after it while functions remain queued.
    fn drain_in_background(self: &Arc<Self>) {
        let module = self.clone();
        crate::lazy::in_background(
            Box::new(move || {
                if module.lazy.as_ref().is_some_and(|lazy| lazy.drain_batch()) {
                    module.drain_in_background();
                }
            }),
            crate::lazy::Priority::Normal,
        );
    }

    /// Tiered mode with a background thread: sets that thread, when it
    /// has nothing else to do, to compile baseline code ahead of first
    /// calls (`crate::speculate`), one small batch per job. Once per module
    /// (instantiation calls it); nothing in other modes. A job holds the
    /// module weakly: the work stops when the module is dropped.
    pub fn compile_ahead_in_background(self: &Arc<Self>) {
        if self.lazy.as_ref().is_some_and(|lazy| lazy.start_ahead()) {
            Self::next_ahead(Arc::downgrade(self));
        }
    }

    fn next_ahead(module: std::sync::Weak<Self>) {
        crate::lazy::in_background(
            Box::new(move || {
                let Some(strong) = module.upgrade() else {
                    return;
                };
                let more = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    strong
                        .lazy
                        .as_ref()
                        .is_some_and(|lazy| lazy.compile_ahead())
                }))
                .unwrap_or(false);
                drop(strong);
                if more {
                    Self::next_ahead(module);
                }
            }),
            crate::lazy::Priority::Idle,
        );
    }

    /// Tiered mode: the baseline code of `func_index` has run long in its
    /// OSR loop given by `arg` ([`crate::lazy::osr_loop_arg`]: the loop
    /// and its target, the loop whose entry it asks for: itself or one
    /// enclosing it). Asks for that OSR entry (not for the whole function's
    /// optimised code: only a next call could use that, and that call asks
    /// itself; see `translate::profile`). Returns the entry once it is
    /// ready, else 0; to a loop asking for an enclosing target,
    /// [`crate::lazy::OSR_TARGET_READY`] once it is ready (the baseline
    /// code then takes the entry at the target's header).
    /// Called by the `TierUpLoop` builtin.
    pub fn osr_entry(self: &Arc<Self>, func_index: u32, arg: u32) -> usize {
        use crate::lazy::Nested;
        let Some(lazy) = &self.lazy else {
            return 0;
        };
        let (l, target) = crate::lazy::decode_osr_loop_arg(arg);
        if l != target {
            match lazy.nested_osr(func_index, target) {
                Nested::Wait => return 0,
                Nested::TargetReady => return crate::lazy::OSR_TARGET_READY,
                Nested::CompileTarget(background) => {
                    self.compile_osr(func_index, target, background);
                    return match lazy.osr_entry(func_index, target).0 {
                        Some(_) => crate::lazy::OSR_TARGET_READY,
                        None => 0,
                    };
                }
            }
        }
        match lazy.osr_entry(func_index, l) {
            (Some(code), _) => code,
            (None, Some(background)) => {
                self.compile_osr(func_index, l, background);
                lazy.osr_entry(func_index, l).0.unwrap_or(0)
            }
            (None, None) => 0,
        }
    }

    /// Compiles the OSR entry of `func_index` at loop `l` (claimed), on the
    /// background thread or now.
    fn compile_osr(self: &Arc<Self>, func_index: u32, l: u32, background: bool) {
        let Some(lazy) = &self.lazy else {
            return;
        };
        match background {
            true => {
                let module = self.clone();
                crate::lazy::in_background(
                    Box::new(move || {
                        if let Some(lazy) = &module.lazy {
                            lazy.compile_osr(func_index, l);
                        }
                    }),
                    crate::lazy::Priority::Urgent,
                );
            }
            false => lazy.compile_osr(func_index, l),
        }
    }

    /// Whether functions are compiled on first call.
    pub fn is_lazy(&self) -> bool {
        self.lazy.is_some()
    }

    /// Compilation counters of a lazy module (`None` in regular mode, where
    /// everything was compiled up front).
    pub fn lazy_stats(&self) -> Option<LazyStats> {
        self.lazy.as_ref().map(|l| l.stats())
    }

    /// In lazy mode, when function `func_index` finished compiling (its
    /// first instruction ran right after), if it has been called.
    pub fn lazy_ready_at(&self, func_index: u32) -> Option<Instant> {
        self.lazy.as_ref()?.ready_at(func_index)
    }

    /// In lazy mode, compiles `func_index` now if it is not yet (as its
    /// first call would). Regular modules: nothing to do.
    pub fn ensure_compiled(&self, func_index: u32) -> Result<(), String> {
        match &self.lazy {
            Some(l) => l.ensure_compiled(func_index).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Gives each defined function's current code to `write(k, code)` (`k`
    /// = index - num_imported_funcs) and, in lazy mode, registers the
    /// instance's vmctx so later compilations are published into it.
    pub(crate) fn attach_instance(&self, vmctx: *mut u8, mut write: impl FnMut(usize, usize)) {
        match &self.lazy {
            Some(l) => l.attach(vmctx as usize, write),
            None => {
                for (k, &code) in self.func_code.iter().enumerate() {
                    write(k, code);
                }
            }
        }
    }

    /// In lazy mode, when `code` is one of this module's thunks, registers
    /// the import slot `slot` (of another module's instance) so the
    /// function's code is published there once compiled: a cross-module
    /// call then costs what an intra-module one does. Returns whether it
    /// registered (never outside lazy mode).
    ///
    /// # Safety
    /// As for `LazyCode::attach_import`: `slot` is a live import slot whose
    /// `vmctx` is an instance of this module, detached with
    /// [`Self::detach_import`] before it is freed or repointed.
    pub(crate) unsafe fn attach_import(&self, slot: usize, code: usize) -> bool {
        match &self.lazy {
            Some(l) => l.attach_import(slot, code),
            None => false,
        }
    }

    /// Undoes [`Self::attach_import`].
    pub(crate) fn detach_import(&self, slot: usize) {
        if let Some(l) = &self.lazy {
            l.detach_import(slot);
        }
    }

    /// Undoes [`Self::attach_instance`] (before the vmctx is freed).
    pub(crate) fn detach_instance(&self, vmctx: *mut u8) {
        if let Some(l) = &self.lazy {
            l.detach(vmctx as usize);
        }
    }

    /// A module whose code was linked ahead of time (an AOT executable or a
    /// shared library): code pointers come from the AOT tables, and
    /// `code_range` (all of `wasabi_text`) is registered for the trap
    /// handler. `keep_alive` holds whatever keeps the code mapped.
    ///
    /// # Safety
    /// The pointers must be code compiled for `info` under the same contract.
    unsafe fn from_static(
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
            lazy: None,
        }
    }

    /// A module linked ahead of time, from the tables its AOT table object
    /// defines (see `vmcontext::symbols::AOT_*`). This is the one place that
    /// knows their layout: executables and shared libraries only locate them.
    ///
    /// # Safety
    /// `tables` must point at the tables of one AOT table object compiled
    /// under this contract, mapped for as long as the module lives (held by
    /// `keep_alive` if need be).
    pub unsafe fn from_aot_tables(
        tables: &AotTables,
        name: String,
        keep_alive: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Result<CompiledModule, String> {
        // SAFETY: per the contract, the metadata table holds
        // `metadata_len` bytes, mapped as long as the module lives.
        let meta = unsafe { std::slice::from_raw_parts(tables.metadata, tables.metadata_len) };
        let info = ModuleInfo::from_bytes(meta)?;
        // SAFETY: an AOT table object compiled for this module holds one
        // pointer per defined function (funcs) and per type (trampolines).
        let table =
            |p: *const usize, n: usize| unsafe { std::slice::from_raw_parts(p, n) }.to_vec();
        let funcs = table(tables.funcs, info.num_defined_funcs() as usize);
        // One entry per type index, null where the module has no trampoline.
        let entry = table(tables.entry_trampolines, info.types.len());
        let host = table(tables.host_trampolines, info.types.len());
        // SAFETY: `AOT_TEXT_BOUNDS` is two pointers.
        let bounds = unsafe { (*tables.text_bounds, *tables.text_bounds.add(1)) };
        // SAFETY: the pointers come from the AOT tables of code compiled
        // for `info` under this contract (this function's contract).
        Ok(unsafe {
            Self::from_static(Arc::new(info), name, funcs, entry, host, bounds, keep_alive)
        })
    }

    /// The function index whose code contains `pc`.
    pub fn func_at_pc(&self, pc: usize) -> Option<u32> {
        if let Some(f) = self.lazy.as_ref().and_then(|l| l.func_at_pc(pc)) {
            return Some(f);
        }
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

    /// Total bytes of executable code (loaded so far, in lazy mode).
    pub fn code_size(&self) -> usize {
        self.objects
            .iter()
            .map(|o| o.code_range().1 - o.code_range().0)
            .sum::<usize>()
            + self.lazy.as_ref().map_or(0, |l| l.code_size())
    }
}
