//! Lazy compilation: a defined function is compiled the first time it is
//! called, and never if it is never called.
//!
//! # How a first call reaches the compiler
//!
//! Every call to a wasm function (direct `call`, `call_indirect`, a funcref
//! call from the host through an entry trampoline) loads `code` from the
//! callee's [`VMFuncRef`](crate::vmcontext::VMFuncRef). A lazily compiled
//! module therefore only needs something callable to put there before the
//! function exists. That is a per-function *thunk*, 16 bytes in an
//! executable page owned by the [`CompiledModule`](crate::CompiledModule):
//!
//! ```text
//! thunk_k:  49 BA <imm64>     mov r10, &records[k]     ; LazyFunc {state, func_index}
//!           FF 25 <disp32>    jmp qword [rip + slot_k]  ; slot_k: resolver, later the code
//! ```
//!
//! `slot_k` (in a read-write page right after the thunks) first holds the
//! address of the one universal resolver, `wasabi_lazy_trampoline`, written
//! in assembly below. It saves every argument register of the x86-64 SysV
//! convention (rdi, rsi, rdx, rcx, r8, r9, xmm0-xmm7, and rax), calls
//! [`wasabi_lazy_resolve`] with the record from r10 (and its own frame
//! pointer, where the backtrace of a failed compilation starts: the
//! resolver keeps a frame record like compiled code), restores everything,
//! puts the stack pointer back exactly where the caller left it and jumps
//! to the code it got back (through r11). The callee then runs as if it had
//! been called directly: same argument registers, same return address, same
//! stack arguments; only r10 and r11 differ, which no caller may rely on.
//!
//! This is the PLT's `_dl_runtime_resolve` trick, and it beats generating a
//! stub per signature: the resolver never needs to know how the function's
//! parameters and results are passed, so multi-value results (LLVM's hidden
//! sret pointer, which shifts vmctx from rdi to rsi), parameters spilled to
//! the stack and v128 values all work without a line of signature-specific
//! code, and the runtime needs no compiler at instantiation time to build
//! stubs. r10 is free to carry the record: it is caller-saved and never an
//! argument register in the C convention compiled wasm uses.
//!
//! # What the resolver does
//!
//! [`wasabi_lazy_resolve`] compiles the function at most once per module
//! (`OnceLock` per function: two threads calling it first at the same time
//! compile it once, the second waits), loads the object (kept alive by the
//! module, so the code lives as long as any instance can call it), then
//! publishes the code: a release store into `slot_k` (so copies of the thunk
//! pointer, e.g. in another instance that imported the function, now jump
//! straight to the code) and into `funcrefs[f].code` of every live instance
//! of the module (so their callers no longer go through the thunk at all),
//! and into every import slot of another module's instance registered as
//! holding this function's thunk (`LazyCode::attach_import`: so a
//! cross-module call costs what an intra-module one does).
//! Instances register their vmctx with the module when they are created and
//! unregister when dropped (import slots likewise, and also when the slot is
//! pointed at another function); creation picks the compiled code directly
//! for functions already compiled (e.g. by an earlier instance).
//!
//! Compilation runs on the caller's thread when it has at least
//! [`COMPILE_STACK`] bytes of stack left, otherwise on a helper thread with
//! a large stack (the first call may happen deep in a wasm recursion).
//! A compile failure (or a panic in the code generator) never panics or
//! aborts the process: the error is recorded as the pending host error and
//! a `HostError` trap is raised, so the embedder sees
//! "lazy compilation of `module::func` failed: ...". The failure is
//! remembered: every later call of that function traps the same way.
//!
//! With a [`FunctionCache`] (the embedder's code cache), a first
//! compilation is first looked up there, and what is compiled is stored,
//! so a later run of the same module starts with the code this one
//! compiled. In tiered mode that includes the optimising tier's batches: a
//! function optimised in an earlier run starts in optimised code.
//!
//! # Tiered mode
//!
//! With a [`Tiering`], the lazy generator makes *baseline* code that counts
//! its executions and calls the `TierUp` builtin when hot
//! (`CompiledModule::request_tier_up`). That claims the function once and
//! recompiles it with the tiering's optimizer, normally on the background
//! compile thread ([`in_background`]), then publishes it like a first
//! compilation. Queued functions go busiest first, and one that has gone
//! idle in the queue is dropped and asks again if it turns hot again
//! (`LazyState::rank_tier_ups`). Publication always writes the best code
//! there is (optimised, else baseline) under the instances lock, so a baseline
//! publication that comes late cannot undo a tier-up. Both objects stay
//! loaded for the module's life: frames that started in baseline code
//! finish there. When the background thread has nothing else to do it
//! compiles baseline code ahead of first calls ([`crate::speculate`]
//! gives the order), exactly as a first call would, so the call finds it
//! ready (or waits for that compilation instead of starting its own).
//!
//! What must stay true: a thunk's record, the resolver's module state and
//! the loaded code outlive every instance of the module (the instances hold
//! the `Arc<CompiledModule>` that owns them all); the resolver owns nothing
//! on its stack when it raises a trap.

use crate::code::CodeGenerator;
use crate::code_arena::CodeArena;
use crate::loader::{LoadError, LoadedObject};
use crate::module::ModuleInfo;
use crate::traps::{self, RawTrap};
use crate::vmcontext::{symbols, TrapCode, VMFuncRef, VMOffsets};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Most functions the optimising tier compiles as one LLVM module.
const TIER_UP_BATCH: usize = 16;

/// Most wasm body bytes of a tier-up batch (beyond its first function). A
/// batch is one job of the background thread, and an OSR entry asked for
/// while it compiles waits for it: lzss's nine printf functions (11 KB)
/// took 400 ms, while a module per function costs only about 5 % more
/// than one per batch (LLVM instructions per wasm byte, measured at -O0:
/// its per-module work is small next to instruction selection and
/// register allocation), except for tiny functions, where the fixed cost
/// is most of it ([`AHEAD_BATCH`]).
const TIER_UP_BATCH_BYTES: usize = 4 * 1024;

/// Most functions the background thread compiles ahead of their first
/// calls in one object (`LazyState::compile_ahead`), and most wasm body
/// bytes in such a batch beyond its first function. A small function's
/// baseline compilation is mostly fixed cost (an LLVM module, the code
/// generation pipeline's set-up and tear-down, an object file, a
/// mapping: about 0.25 ms for a 4-byte body), paid once per batch;
/// bounded in bytes, a batch still holds up an OSR entry asked for
/// meanwhile by about a millisecond at most.
const AHEAD_BATCH: usize = 8;
const AHEAD_BATCH_BYTES: usize = 1024;

/// Developer knob: with `WASABI_TIER_LOG=1` in the environment, tiered
/// mode reports each compilation on stderr, stamped with the milliseconds
/// since the process's first lazy module was made (what ran when, and how
/// long a hot function waited for its optimised code).
fn tier_log() -> Option<Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    *START.get_or_init(|| {
        std::env::var_os("WASABI_TIER_LOG")
            .is_some_and(|v| v == "1")
            .then(Instant::now)
    })
}

macro_rules! tier_log {
    ($($arg:tt)*) => {
        if let Some(start) = tier_log() {
            // Not `eprintln!`, which panics when stderr is gone (a closed
            // pipe), here maybe inside a builtin called from wasm code.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "[tier {:9.3} ms] {}",
                start.elapsed().as_secs_f64() * 1e3,
                format_args!($($arg)*)
            );
        }
    };
}

/// What the `TierUpLoop` builtin returns to a loop that asked for the
/// entry of an enclosing loop (its *target*) when that entry is ready: the
/// baseline code then sets a flag the target's header checks, and takes
/// the entry there (never a code address).
pub const OSR_TARGET_READY: usize = 1;

/// Marks a loop with an enclosing target in `TierUpLoop`'s loop argument.
pub const OSR_NESTED: u32 = 0x8000_0000;

/// The loop argument of `TierUpLoop` for OSR loop `l` asking for the
/// entry of OSR loop `target` (itself, or a loop enclosing it): `l` itself
/// when it is its own target, else both packed (`l <= 0xffff`,
/// `target <= 0x7fff`; the baseline code packs it the same way, at run
/// time, and asks only for targets that fit).
pub fn osr_loop_arg(l: u32, target: u32) -> u32 {
    match l != target && l <= 0xffff && target <= 0x7fff {
        true => OSR_NESTED | target << 16 | l,
        false => l,
    }
}

/// `(loop, target)` from an [`osr_loop_arg`].
pub(crate) fn decode_osr_loop_arg(arg: u32) -> (u32, u32) {
    match arg & OSR_NESTED != 0 {
        true => (arg & 0xffff, (arg >> 16) & 0x7fff),
        false => (arg, arg),
    }
}

/// What a loop asking for an enclosing loop's entry is to do (see
/// `CompiledModule::osr_entry`).
pub(crate) enum Nested {
    /// Nothing yet: the target's entry is being compiled (or failed: the
    /// activation then stays in baseline code).
    Wait,
    /// Compile the target's entry (claimed now): on the background thread
    /// when `true`.
    CompileTarget(bool),
    /// The target's entry is ready: go to the target's header.
    TargetReady,
}

/// Stack the compiler may need; with less left, compile on a helper thread.
pub const COMPILE_STACK: usize = 2 << 20;
/// Stack size of the helper thread.
const HELPER_STACK: usize = 32 << 20;

/// What a thunk passes to the resolver: which function of which module.
#[repr(C)]
pub struct LazyFunc {
    state: *const LazyState,
    func_index: u32,
}

// SAFETY: a record is immutable after creation and only read (by the
// resolver); the state it points to is Sync and outlives it (both are owned
// by the same `LazyCode`).
unsafe impl Send for LazyFunc {}
// SAFETY: as for `Send`.
unsafe impl Sync for LazyFunc {}

/// A lazily compiled function: its object (shared by the functions of a
/// batch) and where its code is.
#[derive(Clone)]
struct LoadedFunc {
    object: Arc<LoadedObject>,
    code: usize,
    /// When compilation finished (the function's first instruction runs
    /// right after).
    ready: Instant,
    /// The object is first-compilation code from the cache, which may hold
    /// other functions' code too (a batch compiled ahead of first calls):
    /// see [`LazyState::adopt_batch_mates`].
    from_cache: bool,
}

/// A compilation's outcome: the loaded code, or why there is none.
type Compiled = Result<LoadedFunc, String>;

/// Counters of a lazily compiled module.
#[derive(Clone, Copy, Debug)]
pub struct LazyStats {
    /// Defined functions compiled so far.
    pub compiled: usize,
    /// Defined functions in the module.
    pub total: usize,
    /// Time first calls spent compiling and loading functions (summed over
    /// threads).
    pub compile_time: Duration,
    /// Wasm body bytes of the compiled functions, and of all of them.
    pub compiled_bytes: usize,
    pub total_bytes: usize,
    /// Whether the module is tiered; then `compiled` counts baseline code.
    pub tiered: bool,
    /// Of `compiled`, how many were loaded from the code cache (compiled by
    /// an earlier run) instead of compiled.
    pub cached: usize,
    /// Tiered mode: functions recompiled by the optimising tier (and
    /// published), and the time that took on the background thread.
    pub optimized: usize,
    pub optimize_time: Duration,
    /// Tiered mode: times a queued function went idle before its turn and
    /// was dropped from the queue (it asks again if it turns hot again).
    pub idle_dropped: usize,
    /// Tiered mode: on-stack-replacement entries compiled (hot loops of
    /// running functions moved into optimised code).
    pub osr_entries: usize,
    /// Tiered mode: on-stack-replacement entries loaded from the code
    /// cache (an earlier run compiled them) instead.
    pub osr_cached: usize,
    /// Tiered mode: of `compiled`, how many the background thread compiled
    /// ahead of their first call (`crate::speculate`), and the time that
    /// took there (not in `compile_time`, which is the callers' time).
    pub ahead: usize,
    pub ahead_time: Duration,
    /// Tiered mode: the objects those `ahead` functions were compiled into
    /// (small functions are compiled ahead in batches, one object each).
    pub ahead_objects: usize,
}

/// A persistent home for the objects of lazily compiled functions: the
/// embedder's code cache, for one module and one code generator (the
/// lazy generator: the only code in lazy mode, the baseline in tiered
/// mode), keyed by function index. An entry must be an object the
/// generator made for that function of exactly that module (it may define
/// others too: functions compiled ahead of their first calls share one
/// object per batch, stored under each).
pub trait FunctionCache: Send + Sync {
    /// The object stored for function `func_index`, if any (already
    /// checked to be whole and undamaged).
    fn get(&self, func_index: u32) -> Option<Vec<u8>>;
    /// Stores the object holding function `func_index` (best effort).
    fn put(&self, func_index: u32, object: &[u8]);
    /// Tiered mode: the optimising tier's object holding function
    /// `func_index` (a tier-up batch: it may define others too), if any.
    fn get_optimized(&self, func_index: u32) -> Option<Vec<u8>> {
        let _ = func_index;
        None
    }
    /// Tiered mode: stores the optimising tier's object holding
    /// `func_index` (best effort).
    fn put_optimized(&self, func_index: u32, object: &[u8]) {
        let _ = (func_index, object);
    }
    /// Tiered mode: the optimising tier's object holding the on-stack
    /// replacement entry of function `func_index` at its OSR loop `l`
    /// (`symbols::func_osr`; it may enter at other loops too), if any.
    fn get_osr(&self, func_index: u32, l: u32) -> Option<Vec<u8>> {
        let _ = (func_index, l);
        None
    }
    /// Tiered mode: stores the object holding the OSR entry of
    /// `func_index` at loop `l` (best effort).
    fn put_osr(&self, func_index: u32, l: u32, object: &[u8]) {
        let _ = (func_index, l, object);
    }
}

/// Tiered compilation's settings (see `CompiledModule::load_lazy`).
pub struct Tiering {
    /// Recompiles hot functions (the lazy generator makes the baseline).
    pub optimizer: Arc<dyn CodeGenerator>,
    /// Recompile on the background thread (normal), or on the thread that
    /// found the function hot, before it goes on (deterministic: for tests).
    pub background: bool,
}

/// Tiered mode: an OSR entry, claimed (`entry` is `None` while it is
/// being compiled) or compiled, and when baseline code last asked for it.
struct OsrSlot {
    entry: Option<Compiled>,
    asked: Instant,
    /// The time between the last two asks (the loop's poll period).
    period: Duration,
}

impl OsrSlot {
    fn new() -> OsrSlot {
        let now = Instant::now();
        OsrSlot {
            entry: None,
            asked: now,
            period: Duration::ZERO,
        }
    }

    fn ask(&mut self) {
        let now = Instant::now();
        self.period = now.saturating_duration_since(self.asked);
        self.asked = now;
    }

    /// Whether the loop seems to have stopped asking: no ask for four poll
    /// periods (the asking activation polls every 1,024 iterations) and
    /// [`OSR_STALE`]. Such an entry is not compiled when its turn comes
    /// (matmul's initialisation nest, over by then, cost 130 ms of the
    /// background thread); a later ask claims it again.
    fn stale(&self) -> bool {
        self.entry.is_none() && self.asked.elapsed() > OSR_STALE.max(self.period * 4)
    }
}

/// See [`OsrSlot::stale`].
const OSR_STALE: Duration = Duration::from_millis(10);

/// Tiered mode: a function claimed for recompilation, waiting for the
/// background thread, and how busy it was when last looked at.
struct QueuedTierUp {
    f: u32,
    /// Its executions since it asked ([`LazyState::executions_since_ask`])
    /// at the last look that judged it, and when that was (at first: when
    /// it asked, with none).
    seen: u64,
    seen_at: Instant,
    /// Executions per millisecond over the window ending at the last look
    /// that judged it (before any: over the time since it asked).
    rate: f64,
}

/// What [`QueuedTierUp::look`] found.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Still worth recompiling (or too soon to tell).
    Busy,
    /// Ran fewer than [`TIER_UP_MIN_RATE`] executions per millisecond over
    /// a window of at least [`TIER_UP_WINDOW`].
    Idle { rate: f64, window: Duration },
}

/// Shortest window over which a queued function can be judged idle:
/// shorter ones say too little.
const TIER_UP_WINDOW: Duration = Duration::from_millis(10);

/// Fewest executions (calls and loop iterations) per millisecond for which
/// a queued function is still worth its recompilation. Idle by this
/// measure, lzss's `printf_core` (9 KB, 145 ms to optimise), hot while the
/// program makes its input, no longer holds up the background thread once
/// that is done. (1, 10 and 30 per millisecond measured the same on
/// regex_bench, json_bench and manyfuncs; 100 dropped functions
/// manyfuncs still needed: 1.43 s -> 1.55 s.)
const TIER_UP_MIN_RATE: f64 = 1.0;

impl QueuedTierUp {
    fn new(f: u32) -> QueuedTierUp {
        QueuedTierUp {
            f,
            // The count restarts from `i32::MIN` just after it asked.
            seen: 0,
            seen_at: Instant::now(),
            rate: f64::INFINITY,
        }
    }

    /// Updates the entry's rate from `executions` (since it asked) seen
    /// at `now`, and judges it once its window is [`TIER_UP_WINDOW`] long
    /// (then the next window starts).
    fn look(&mut self, executions: u64, now: Instant) -> Verdict {
        let window = now.saturating_duration_since(self.seen_at);
        let ms = window.as_secs_f64() * 1e3;
        let rate = executions.saturating_sub(self.seen) as f64 / ms.max(1.0);
        if window < TIER_UP_WINDOW {
            // Too soon to judge: a function that has just asked is ranked
            // by what it did since; others keep their last rate.
            if self.rate.is_infinite() {
                self.rate = rate;
            }
            return Verdict::Busy;
        }
        if rate < TIER_UP_MIN_RATE {
            return Verdict::Idle { rate, window };
        }
        self.seen = executions;
        self.seen_at = now;
        self.rate = rate;
        Verdict::Busy
    }
}

/// Everything the resolver needs, at a stable address (boxed).
struct LazyState {
    info: Arc<ModuleInfo>,
    name: String,
    wasm: Arc<[u8]>,
    generator: Arc<dyn CodeGenerator>,
    /// Tiered mode: the optimising tier (`generator` is the baseline).
    tiering: Option<Tiering>,
    offsets: VMOffsets,
    /// One per defined function.
    funcs: Box<[OnceLock<Result<LoadedFunc, String>>]>,
    /// Tiered mode, per defined function: whether its optimised code was
    /// asked for, and the code once compiled (or why it could not be).
    tier_up_requested: Box<[AtomicBool]>,
    optimized: Box<[OnceLock<Result<LoadedFunc, String>>]>,
    optimized_count: AtomicUsize,
    optimize_nanos: AtomicU64,
    idle_dropped: AtomicUsize,
    /// Tiered mode: functions claimed for recompilation, not yet taken by
    /// a drain.
    tier_queue: Mutex<Vec<QueuedTierUp>>,
    /// Tiered mode: on-stack-replacement entries by (function, OSR loop):
    /// `None` while being compiled.
    osr: Mutex<HashMap<(u32, u32), OsrSlot>>,
    osr_count: AtomicUsize,
    /// OSR entries loaded from the cache.
    osr_cached: AtomicUsize,
    /// `slot_k` of each thunk (in the thunk mapping).
    slots: *const AtomicUsize,
    /// Where compiled code is published: the vmctx of every live instance
    /// of the module, and import slots of other modules' instances.
    instances: Mutex<Attached>,
    compiled: AtomicUsize,
    compiled_bytes: AtomicUsize,
    compile_nanos: AtomicU64,
    /// Where first compilations are looked up and stored, if anywhere.
    cache: Option<Arc<dyn FunctionCache>>,
    /// First compilations served by `cache`.
    cached: AtomicUsize,
    /// Tiered mode with a background thread: whether that thread was set
    /// to compile baseline code ahead of first calls (`crate::speculate`),
    /// what it compiles next, and the functions and time it compiled that
    /// way.
    ahead_started: AtomicBool,
    ahead_queue: Mutex<crate::speculate::AheadQueue>,
    ahead: AtomicUsize,
    ahead_nanos: AtomicU64,
    ahead_objects: AtomicUsize,
    /// Where every object compiled or loaded for the module goes: packed
    /// side by side (see `crate::code_arena`).
    code: CodeArena,
}

/// What [`LazyState::publish`] writes a function's code into, besides its
/// thunk slot.
#[derive(Default)]
struct Attached {
    /// vmctx of every live instance of the module.
    vmctxs: Vec<usize>,
    /// `(slot, k)`: the `VMFuncRef` import slot, in another module's
    /// instance, of defined function `k` of this module, registered while
    /// it still held the thunk (`LazyCode::attach_import`).
    import_slots: Vec<(usize, usize)>,
}

// SAFETY: the raw pointer is to the thunk mapping's slots, owned next to the
// state (by the same `LazyCode`) and only accessed atomically; every other
// field is Send and Sync.
unsafe impl Send for LazyState {}
// SAFETY: as for `Send`.
unsafe impl Sync for LazyState {}

impl LazyState {
    fn defined(&self, f: u32) -> usize {
        (f - self.info.num_imported_funcs) as usize
    }

    /// The code of function `f`, compiling it if needed.
    fn ensure_compiled(&self, f: u32) -> Result<usize, String> {
        let k = self.defined(f);
        let mut compiled_here = false;
        let r = self.funcs[k].get_or_init(|| {
            compiled_here = true;
            self.compile(f, false)
        });
        match r {
            Ok(lf) => {
                if compiled_here {
                    self.publish(f);
                    self.adopt_batch_mates(f);
                }
                Ok(lf.code)
            }
            Err(e) => Err(e.clone()),
        }
    }

    /// Compiles `f` for its first call (the baseline tier, in tiered mode),
    /// or loads what an earlier run stored in the cache; `ahead` when the
    /// background thread does so before that call ([`Self::compile_ahead`]).
    fn compile(&self, f: u32, ahead: bool) -> Result<LoadedFunc, String> {
        let t = Instant::now();
        let lf = match self.cached_first_code(f) {
            Some(lf) => {
                self.cached.fetch_add(1, Ordering::Relaxed);
                lf
            }
            None => self.compile_with(&*self.generator, f)?,
        };
        if !ahead && self.ahead_started.load(Ordering::Relaxed) {
            // The program runs here now: its callees are next.
            let k = self.defined(f);
            let mut queue = self.ahead_queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.hint_callees(&self.info, &self.wasm, k);
        }
        let nanos = lf.ready.saturating_duration_since(t).as_nanos() as u64;
        self.count_first_compilation(f, ahead, false, nanos);
        Ok(lf)
    }

    /// Counts the first compilation of `f` (`ahead` of its first call or
    /// at it), which took `nanos` (its share, when `batched` with others
    /// into one object, counted by the caller), in the statistics and the
    /// tier log.
    fn count_first_compilation(&self, f: u32, ahead: bool, batched: bool, nanos: u64) {
        self.compiled.fetch_add(1, Ordering::Relaxed);
        let body = &self.info.function_bodies[self.defined(f)];
        self.compiled_bytes.fetch_add(body.len(), Ordering::Relaxed);
        match ahead {
            true => {
                self.ahead.fetch_add(1, Ordering::Relaxed);
                self.ahead_nanos.fetch_add(nanos, Ordering::Relaxed);
                if !batched {
                    self.ahead_objects.fetch_add(1, Ordering::Relaxed);
                }
            }
            false => {
                self.compile_nanos.fetch_add(nanos, Ordering::Relaxed);
            }
        }
        tier_log!(
            "{} {} ({} bytes): {:.3} ms",
            if ahead {
                "ahead of the first call of"
            } else {
                "first call of"
            },
            self.info.func_display_name(f),
            body.len(),
            nanos as f64 / 1e6
        );
    }

    /// Tiered mode, on the background thread when it has nothing else to
    /// do: compiles the baseline code of the next functions the
    /// [`crate::speculate::AheadQueue`] names that are not compiled yet
    /// (and not too large), as their first calls would, and publishes it:
    /// up to [`AHEAD_BATCH`] functions and [`AHEAD_BATCH_BYTES`] in one
    /// object ([`Self::compile_ahead_together`]). Returns whether there may
    /// be more to do.
    fn compile_ahead(&self) -> bool {
        let mut batch: Vec<usize> = Vec::new();
        let mut bytes = 0;
        {
            let mut queue = self.ahead_queue.lock().unwrap_or_else(|e| e.into_inner());
            while batch.len() < AHEAD_BATCH {
                let next = queue.next(&self.info, &self.wasm, |k| {
                    self.info.function_bodies[k].len() <= crate::speculate::MAX_SPECULATIVE_BODY
                        && self.funcs[k].get().is_none()
                        && !batch.contains(&k)
                });
                let Some(k) = next else {
                    break;
                };
                let len = self.info.function_bodies[k].len();
                if !batch.is_empty() && bytes + len > AHEAD_BATCH_BYTES {
                    queue.put_back(k);
                    break;
                }
                bytes += len;
                batch.push(k);
            }
        }
        if batch.is_empty() {
            return false;
        }
        let funcs: Vec<u32> = batch
            .iter()
            .map(|&k| self.info.num_imported_funcs + k as u32)
            .collect();
        // What an earlier run stored is loaded, not compiled again.
        let mut missing = Vec::with_capacity(funcs.len());
        for f in funcs {
            if self.funcs[self.defined(f)].get().is_some() {
                // A batch-mate's cache entry brought it.
                continue;
            }
            let t = Instant::now();
            match self.cached_first_code(f) {
                Some(lf) => {
                    let nanos = lf.ready.saturating_duration_since(t).as_nanos() as u64;
                    if self.funcs[self.defined(f)].set(Ok(lf)).is_ok() {
                        self.cached.fetch_add(1, Ordering::Relaxed);
                        self.count_first_compilation(f, true, false, nanos);
                        self.publish(f);
                        self.adopt_batch_mates(f);
                    }
                }
                None => missing.push(f),
            }
        }
        let mut claimed = Vec::with_capacity(missing.len());
        self.claim_and_compile_ahead(&missing, &mut claimed);
        true
    }

    /// Claims the first compilation of each function of `rest` whose code
    /// is not compiled yet (holding its `funcs` slot's initialisation, so
    /// that a first call of it meanwhile waits for this compilation instead
    /// of compiling it again: the program runs just behind the background
    /// thread), one nested frame per function, then, innermost, compiles
    /// all it claimed ([`Self::compile_ahead_together`]); each frame then
    /// stores and publishes its function's code.
    fn claim_and_compile_ahead(&self, rest: &[u32], claimed: &mut Vec<(u32, Option<Compiled>)>) {
        let Some((&f, tail)) = rest.split_first() else {
            self.compile_ahead_together(claimed);
            return;
        };
        let k = self.defined(f);
        let mut mine = false;
        let r = self.funcs[k].get_or_init(|| {
            mine = true;
            claimed.push((f, None));
            self.claim_and_compile_ahead(tail, claimed);
            claimed
                .iter_mut()
                .find(|(g, _)| *g == f)
                .and_then(|(_, c)| c.take())
                .unwrap_or_else(|| Err("the batch compiled ahead lost a function".into()))
        });
        if !mine {
            self.claim_and_compile_ahead(tail, claimed);
        } else if r.is_ok() {
            self.publish(f);
        }
    }

    /// Compiles the functions `claimed` (none in the cache, their slots'
    /// initialisation held by [`Self::claim_and_compile_ahead`]) into one
    /// object, whose fixed cost (an LLVM module, the code generation
    /// pipeline's set-up, an object file, a mapping), which dominates
    /// small functions, is then paid once; the cache stores the object
    /// under each of them. When the batch does not compile or load, each
    /// is compiled alone, as its first call would, so an error is the one
    /// that function makes.
    fn compile_ahead_together(&self, claimed: &mut [(u32, Option<Compiled>)]) {
        let funcs: Vec<u32> = claimed.iter().map(|&(f, _)| f).collect();
        let together = match funcs.len() {
            0 => return,
            1 => None,
            n => {
                let t = Instant::now();
                with_compile_stack(|| self.generator.compile_batch(&self.info, &self.wasm, &funcs))
                    .and_then(|bytes| {
                        let object =
                            Arc::new(self.code.load_object(&bytes).map_err(|e| e.to_string())?);
                        let ready = Instant::now();
                        let code = funcs
                            .iter()
                            .map(|&f| object.symbol(&symbols::func(f)))
                            .collect::<Option<Vec<usize>>>()
                            .ok_or("a function is missing from the batch's object")?;
                        let nanos = ready.saturating_duration_since(t).as_nanos() as u64 / n as u64;
                        Ok::<_, String>((bytes, object, code, ready, nanos))
                    })
                    .ok()
            }
        };
        let Some((bytes, object, code, ready, nanos)) = together else {
            for (f, c) in claimed.iter_mut() {
                *c = Some(self.compile(*f, true));
            }
            return;
        };
        self.ahead_objects.fetch_add(1, Ordering::Relaxed);
        for ((f, c), code) in claimed.iter_mut().zip(code) {
            if let Some(cache) = &self.cache {
                cache.put(*f, &bytes);
            }
            self.count_first_compilation(*f, true, true, nanos);
            *c = Some(Ok(LoadedFunc {
                object: object.clone(),
                code,
                ready,
                from_cache: false,
            }));
        }
    }

    /// Tiered mode: claims the recompilation of `f` (false when it was
    /// claimed before, or the module is not tiered).
    fn claim_tier_up(&self, f: u32) -> bool {
        self.tiering.is_some()
            && !self.tier_up_requested[self.defined(f)].swap(true, Ordering::SeqCst)
    }

    /// Queues claimed function `f` for recompilation; true when the queue
    /// was empty (then the caller schedules [`Self::drain_tier_ups`]; a
    /// drain already scheduled or running takes `f` otherwise).
    fn enqueue_tier_up(&self, f: u32) -> bool {
        let mut queue = self.tier_queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(QueuedTierUp::new(f));
        tier_log!(
            "hot: {} ({} bytes), {} queued",
            self.info.func_display_name(f),
            self.info.function_bodies[self.defined(f)].len(),
            queue.len()
        );
        queue.len() == 1
    }

    /// Recompiles the next queued functions with the optimising tier, a
    /// batch of up to [`TIER_UP_BATCH`] functions and
    /// [`TIER_UP_BATCH_BYTES`] in one LLVM module (one
    /// module per function cost 2x on programs with many small hot
    /// functions), and publishes the batch as soon as it is loaded. A
    /// batch that fails is retried function by function; a function that
    /// fails alone keeps its baseline code (correct, only slower). Returns
    /// whether more functions are queued: the caller then drains again
    /// (the background thread as a new job, so that OSR entries asked for
    /// meanwhile go first).
    fn drain_batch(&self) -> bool {
        let Some(Tiering { optimizer, .. }) = &self.tiering else {
            return false;
        };
        {
            let (batch, more): (Vec<u32>, bool) = {
                let instances = self.instances.lock().unwrap_or_else(|e| e.into_inner());
                let mut queue = self.tier_queue.lock().unwrap_or_else(|e| e.into_inner());
                if self.tiering.as_ref().is_some_and(|t| t.background) {
                    self.rank_tier_ups(&instances.vmctxs, &mut queue, Instant::now());
                }
                drop(instances);
                let mut n = 0;
                let mut bytes = 0;
                for q in queue.iter().take(TIER_UP_BATCH) {
                    bytes += self.info.function_bodies[self.defined(q.f)].len();
                    if n > 0 && bytes > TIER_UP_BATCH_BYTES {
                        break;
                    }
                    n += 1;
                }
                let batch = queue.drain(..n).map(|q| q.f).collect();
                (batch, !queue.is_empty())
            };
            if batch.is_empty() {
                return false;
            }
            let t = Instant::now();
            let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let bytes = optimizer.compile_batch(&self.info, &self.wasm, &batch)?;
                let object = self.code.load_object(&bytes).map_err(|e| e.to_string())?;
                Ok::<_, String>((bytes, object))
            }))
            .unwrap_or_else(|_| Err("the optimising tier panicked".into()));
            let results: Vec<(u32, Compiled)> = match compiled {
                Ok((bytes, object)) => {
                    // The next run starts each of these with this code.
                    if let Some(cache) = &self.cache {
                        for &f in &batch {
                            cache.put_optimized(f, &bytes);
                        }
                    }
                    let object = Arc::new(object);
                    let ready = Instant::now();
                    batch
                        .iter()
                        .map(|&f| {
                            let sym = symbols::func(f);
                            let r = match object.symbol(&sym) {
                                Some(code) => Ok(LoadedFunc {
                                    object: object.clone(),
                                    code,
                                    ready,
                                    from_cache: false,
                                }),
                                None => Err(format!("compiled code lacks symbol `{sym}`")),
                            };
                            (f, r)
                        })
                        .collect()
                }
                Err(_) if batch.len() > 1 => batch
                    .iter()
                    .map(|&f| (f, self.compile_with(&**optimizer, f)))
                    .collect(),
                Err(e) => vec![(batch[0], Err(e))],
            };
            self.optimize_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            tier_log!(
                "optimised {} functions ({} bytes) in {:.3} ms: {}",
                batch.len(),
                batch
                    .iter()
                    .map(|&f| self.info.function_bodies[self.defined(f)].len())
                    .sum::<usize>(),
                t.elapsed().as_secs_f64() * 1e3,
                batch
                    .iter()
                    .map(|&f| self.info.func_display_name(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (f, r) in results {
                let ok = r.is_ok();
                if self.optimized[self.defined(f)].set(r).is_ok() && ok {
                    self.optimized_count.fetch_add(1, Ordering::Relaxed);
                    self.publish(f);
                }
            }
            more
        }
    }

    /// How many times the baseline code of `f` counted an execution (a
    /// call or a loop iteration) since it asked for its optimised code,
    /// over the instances at `vmctxs` (each restarts its count at
    /// `i32::MIN` once it has asked; one that has not asked adds nothing).
    fn executions_since_ask(&self, vmctxs: &[usize], f: u32) -> u64 {
        let offset = self.offsets.call_count(f) as usize;
        vmctxs
            .iter()
            .map(|&vmctx| {
                // SAFETY: the caller holds the instances lock, so `vmctx`
                // is a live instance's (see `publish`), laid out by
                // `self.offsets`; the counter is an aligned `u32` written
                // only by compiled code (plain stores) and by
                // `rearm_tier_up` (atomic ones): reading it atomically
                // sees one of them.
                let count = unsafe { &*((vmctx + offset) as *const AtomicU32) };
                let count = count.load(Ordering::Relaxed) as i32;
                match count < 0 {
                    true => (count as i64 - i32::MIN as i64) as u64,
                    false => 0,
                }
            })
            .sum()
    }

    /// Orders the tier-up queue (held by the caller, with the instances
    /// lock, so `vmctxs` are live) by [`QueuedTierUp::look`]'s verdicts,
    /// the most executions per millisecond per body byte first (what a
    /// recompilation gains per millisecond of the background thread it
    /// costs), and drops the functions it found idle, giving them back
    /// their counters so they ask again once they turn hot again. HotSpot's
    /// tiered compilation policy chooses the same way: the busiest method
    /// first, and stale ones out of the queue.
    ///
    /// The first-come-first-served queue this replaces compiled functions
    /// whose phase of the program was long over: regex_bench's queue held
    /// functions 585 ms on average (up to 1.4 s) while the background
    /// thread went through them in order, the parsers and automaton
    /// builders ahead of the search loops that run to the end.
    fn rank_tier_ups(&self, vmctxs: &[usize], queue: &mut Vec<QueuedTierUp>, now: Instant) {
        queue.retain_mut(|q| {
            let executions = self.executions_since_ask(vmctxs, q.f);
            match q.look(executions, now) {
                Verdict::Busy => true,
                Verdict::Idle { rate, window } => {
                    tier_log!(
                        "not optimised: {} ({rate:.2} executions/ms over {:.0} ms), asks again when hot",
                        self.info.func_display_name(q.f),
                        window.as_secs_f64() * 1e3
                    );
                    self.rearm_tier_up(vmctxs, q.f);
                    self.idle_dropped.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        });
        let priority = |q: &QueuedTierUp| {
            // Plus a fixed part, so the tiniest bodies do not outrank
            // everything by their size alone.
            q.rate / (self.info.function_bodies[self.defined(q.f)].len() + 256) as f64
        };
        queue.sort_by(|a, b| priority(b).total_cmp(&priority(a)));
    }

    /// Gives queued function `f` back its counters (zero, in every
    /// instance at `vmctxs`, which the caller holds the instances lock
    /// for) and its claim, so its baseline code asks again once it has
    /// run hot again.
    fn rearm_tier_up(&self, vmctxs: &[usize], f: u32) {
        // The claim first: with the counts still negative, the function
        // cannot ask (and find it claimed) before they are reset.
        self.tier_up_requested[self.defined(f)].store(false, Ordering::SeqCst);
        let offset = self.offsets.call_count(f) as usize;
        for &vmctx in vmctxs {
            // SAFETY: as in `executions_since_ask`. An increment by the
            // function's own code running at this moment may overwrite
            // the zero: the count then stays far below the threshold and
            // the function is not recompiled, as when a plain increment
            // is lost (see `translate::profile`).
            unsafe { &*((vmctx + offset) as *const AtomicU32) }.store(0, Ordering::Relaxed);
        }
    }

    /// The OSR entry of `f` at loop `l` if it is ready. Claims its
    /// compilation on the first ask: `Some(background)` then says where to
    /// run [`Self::compile_osr`]; `None` when there is nothing to do.
    fn osr_entry(&self, f: u32, l: u32) -> (Option<usize>, Option<bool>) {
        let Some(tiering) = &self.tiering else {
            return (None, None);
        };
        let mut osr = self.osr.lock().unwrap_or_else(|e| e.into_inner());
        match osr.get_mut(&(f, l)) {
            Some(OsrSlot {
                entry: Some(Ok(lf)),
                ..
            }) => (Some(lf.code), None),
            Some(slot) => {
                slot.ask();
                (None, None)
            }
            None => {
                if let Some(lf) = self.cached_osr(f, l) {
                    let code = lf.code;
                    self.install_osr(&mut osr, f, l, Ok(lf));
                    return (Some(code), None);
                }
                osr.insert((f, l), OsrSlot::new());
                tier_log!(
                    "hot loop {l} of {}: OSR entry asked for",
                    self.info.func_display_name(f)
                );
                (None, Some(tiering.background))
            }
        }
    }

    /// A loop of `f` asks for the entry of the enclosing loop `target`:
    /// what it is to do (claims the target's entry on the first ask).
    fn nested_osr(&self, f: u32, target: u32) -> Nested {
        let Some(tiering) = &self.tiering else {
            return Nested::Wait;
        };
        let mut osr = self.osr.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match osr.get_mut(&(f, target)) {
            Some(slot) => {
                slot.ask();
                slot
            }
            None => {
                if let Some(lf) = self.cached_osr(f, target) {
                    self.install_osr(&mut osr, f, target, Ok(lf));
                    return Nested::TargetReady;
                }
                osr.insert((f, target), OsrSlot::new());
                tier_log!(
                    "hot loop {target} of {} (asked from a loop nested in it): OSR entry asked for",
                    self.info.func_display_name(f)
                );
                return Nested::CompileTarget(tiering.background);
            }
        };
        match &slot.entry {
            Some(Ok(_)) => Nested::TargetReady,
            None | Some(Err(_)) => Nested::Wait,
        }
    }

    /// Compiles the OSR entry of `f` at loop `l` (claimed by `osr_entry`).
    fn compile_osr(&self, f: u32, l: u32) {
        let Some(Tiering { optimizer, .. }) = &self.tiering else {
            return;
        };
        {
            let mut osr = self.osr.lock().unwrap_or_else(|e| e.into_inner());
            if osr.get(&(f, l)).is_some_and(|s| s.entry.is_some()) {
                // Compiled meanwhile, with the entry of another loop.
                return;
            }
            if osr.get(&(f, l)).is_some_and(OsrSlot::stale) {
                osr.remove(&(f, l));
                tier_log!(
                    "OSR entry of {} at loop {l}: not compiled, no longer asked for",
                    self.info.func_display_name(f)
                );
                return;
            }
        }
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let fail = |e: String| {
                format!(
                    "on-stack replacement of {}::{} failed: {e}",
                    self.name,
                    self.info.func_display_name(f)
                )
            };
            let object = optimizer
                .compile_osr(&self.info, &self.wasm, f, l)
                .map_err(fail)?;
            let lf = self
                .load_func(&object, &symbols::func_osr(f, l))
                .map_err(fail)?;
            if let Some(cache) = &self.cache {
                // Under every loop it enters at: the next run may ask
                // for any of them first.
                for s in lf.object.symbols() {
                    if let Some(other) = symbols::parse_func_osr(&s.name, f) {
                        cache.put_osr(f, other, &object);
                    }
                }
            }
            Ok(lf)
        }))
        .unwrap_or_else(|_| Err("the optimising tier panicked".into()));
        tier_log!(
            "OSR entry of {} at loop {l}: {:.3} ms{}",
            self.info.func_display_name(f),
            t.elapsed().as_secs_f64() * 1e3,
            if r.is_ok() { "" } else { " (failed)" }
        );
        if r.is_ok() {
            self.osr_count.fetch_add(1, Ordering::Relaxed);
            self.optimize_nanos
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        let mut osr = self.osr.lock().unwrap_or_else(|e| e.into_inner());
        self.install_osr(&mut osr, f, l, r);
    }

    /// Makes `r` the OSR entry of `f` at loop `l`, and, when it loaded, its
    /// object's entries at `f`'s other loops (aliases, see
    /// `symbols::func_osr`) those loops' entries where they have none.
    fn install_osr(&self, osr: &mut HashMap<(u32, u32), OsrSlot>, f: u32, l: u32, r: Compiled) {
        if let Ok(lf) = &r {
            for s in lf.object.symbols() {
                let Some(other) = symbols::parse_func_osr(&s.name, f).filter(|&o| o != l) else {
                    continue;
                };
                let slot = osr.entry((f, other)).or_insert_with(OsrSlot::new);
                if slot.entry.is_none() {
                    slot.entry = Some(Ok(LoadedFunc {
                        object: lf.object.clone(),
                        code: s.address,
                        ready: lf.ready,
                        from_cache: false,
                    }));
                }
            }
        }
        osr.entry((f, l)).or_insert_with(OsrSlot::new).entry = Some(r);
    }

    /// Tiered mode: the OSR entry of `f` at loop `l` from an object an
    /// earlier run cached, if one loads (else the loop's entry is compiled).
    fn cached_osr(&self, f: u32, l: u32) -> Option<LoadedFunc> {
        self.tiering.as_ref()?;
        let bytes = self.cache.as_ref()?.get_osr(f, l)?;
        let lf = self.load_func(&bytes, &symbols::func_osr(f, l)).ok()?;
        self.osr_cached.fetch_add(1, Ordering::Relaxed);
        tier_log!(
            "hot loop {l} of {}: OSR entry loaded from the cache",
            self.info.func_display_name(f)
        );
        Some(lf)
    }

    /// The best code of `f` so far: optimised, else baseline.
    fn best_code(&self, k: usize) -> Option<usize> {
        match (self.optimized[k].get(), self.funcs[k].get()) {
            (Some(Ok(lf)), _) | (_, Some(Ok(lf))) => Some(lf.code),
            _ => None,
        }
    }

    /// Tiered mode: `f`'s optimised code, already loaded (a batch-mate was
    /// found in the cache) or from an object an earlier run cached. Every
    /// function that object defines gets its optimised code at once (and
    /// is never queued for a tier-up), so the batch is loaded once.
    fn cached_optimized(&self, f: u32) -> Option<LoadedFunc> {
        self.tiering.as_ref()?;
        let k = self.defined(f);
        if let Some(Ok(lf)) = self.optimized[k].get() {
            return Some(lf.clone());
        }
        let bytes = self.cache.as_ref()?.get_optimized(f)?;
        let object = Arc::new(self.code.load_object(&bytes).ok()?);
        let ready = Instant::now();
        for (g, code) in self.defined_funcs_in(&object) {
            let lf = LoadedFunc {
                object: object.clone(),
                code,
                ready,
                from_cache: false,
            };
            let j = self.defined(g);
            self.tier_up_requested[j].store(true, Ordering::SeqCst);
            if self.optimized[j].set(Ok(lf)).is_ok() && g != f {
                // Already running in baseline code elsewhere: switch it.
                if self.funcs[j].get().is_some() {
                    self.publish(g);
                }
            }
        }
        match self.optimized[k].get() {
            Some(Ok(lf)) => Some(lf.clone()),
            _ => None,
        }
    }

    /// The functions of this module that `object` defines, with where
    /// each one's code is (a batch's object defines several).
    fn defined_funcs_in<'o>(
        &self,
        object: &'o LoadedObject,
    ) -> impl Iterator<Item = (u32, usize)> + 'o {
        let defined = self.info.num_imported_funcs..self.info.functions.len() as u32;
        object.symbols().iter().filter_map(move |sym| {
            symbols::parse_func(&sym.name)
                .filter(|g| defined.contains(g))
                .map(|g| (g, sym.address))
        })
    }

    /// What an earlier run left for `f`'s first code, if anything: in
    /// tiered mode, optimised code beats baseline.
    fn cached_first_code(&self, f: u32) -> Option<LoadedFunc> {
        self.cached_optimized(f).or_else(|| self.cached_code(f))
    }

    /// `f`'s code from the cache, if it holds a loadable object for it (one
    /// that does not load is recompiled and replaced).
    fn cached_code(&self, f: u32) -> Option<LoadedFunc> {
        let object = self.cache.as_ref()?.get(f)?;
        let lf = self.load_func(&object, &symbols::func(f)).ok()?;
        Some(LoadedFunc {
            from_cache: true,
            ..lf
        })
    }

    /// Loads a compiled object into the module's arena and finds the code
    /// of `sym` in it.
    fn load_func(&self, object: &[u8], sym: &str) -> Result<LoadedFunc, String> {
        let object = self.code.load_object(object).map_err(|e| e.to_string())?;
        let code = object
            .symbol(sym)
            .ok_or_else(|| format!("compiled code lacks symbol `{sym}`"))?;
        Ok(LoadedFunc {
            object: Arc::new(object),
            code,
            ready: Instant::now(),
            from_cache: false,
        })
    }

    /// `f`'s first code came from the cache in an object that may hold
    /// other functions' first code too (a batch compiled ahead of first
    /// calls): each of them not compiled yet takes its code from that
    /// object now, as it would from its own entry (the same object) at its
    /// first call, so one lookup and one load serve the whole batch. Never
    /// called while holding a function's first-compilation slot (it may
    /// wait for another's).
    fn adopt_batch_mates(&self, f: u32) {
        let Some(Ok(lf)) = self.funcs[self.defined(f)].get() else {
            return;
        };
        if !lf.from_cache {
            return;
        }
        for (g, code) in self.defined_funcs_in(&lf.object).filter(|&(g, _)| g != f) {
            let k = self.defined(g);
            if self.funcs[k].get().is_some() {
                continue;
            }
            let mate = LoadedFunc {
                object: lf.object.clone(),
                code,
                ready: Instant::now(),
                from_cache: true,
            };
            if self.funcs[k].set(Ok(mate)).is_ok() {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.compiled.fetch_add(1, Ordering::Relaxed);
                self.compiled_bytes
                    .fetch_add(self.info.function_bodies[k].len(), Ordering::Relaxed);
                tier_log!(
                    "{} loaded from the cache with {}",
                    self.info.func_display_name(g),
                    self.info.func_display_name(f)
                );
                self.publish(g);
            }
        }
    }

    fn compile_with(&self, generator: &dyn CodeGenerator, f: u32) -> Result<LoadedFunc, String> {
        let fail = |e: String| {
            format!(
                "lazy compilation of {}::{} failed: {e}",
                self.name,
                self.info.func_display_name(f)
            )
        };
        let object = with_compile_stack(|| generator.compile_function(&self.info, &self.wasm, f))
            .map_err(fail)?;
        let lf = self.load_func(&object, &symbols::func(f)).map_err(fail)?;
        // Only the lazy generator's code is cached (the cache is keyed for
        // it); a loadable object only.
        if std::ptr::addr_eq(generator, &*self.generator) {
            if let Some(cache) = &self.cache {
                cache.put(f, &object);
            }
        }
        Ok(lf)
    }

    /// Points the thunk and every live instance's funcref at the best code
    /// of `f`. Under the instances lock, so a late baseline publication
    /// cannot overwrite the optimised code.
    fn publish(&self, f: u32) {
        let k = self.defined(f);
        let instances = self.instances.lock().unwrap_or_else(|e| e.into_inner());
        let Some(code) = self.best_code(k) else {
            return;
        };
        // SAFETY: `k` is a defined function of this module, so slot `k` is
        // in the thunk mapping, which lives as long as this state.
        unsafe { (*self.slots.add(k)).store(code, Ordering::Release) };
        for &vmctx in instances.vmctxs.iter() {
            let fr = (vmctx + self.offsets.funcref(f) as usize) as *const VMFuncRef;
            // SAFETY: `vmctx` is registered, so its instance is alive (it
            // detaches, under this lock, before freeing the vmctx), and the
            // vmctx was laid out by `self.offsets`.
            unsafe { (*fr).code.store(code as *mut u8, Ordering::Release) };
        }
        for &(slot, _) in instances.import_slots.iter().filter(|&&(_, j)| j == k) {
            // SAFETY: a registered import slot lives in the vmctx of a live
            // instance (which detaches it, under this lock, before freeing
            // the vmctx or pointing the slot elsewhere).
            unsafe {
                (*(slot as *const VMFuncRef))
                    .code
                    .store(code as *mut u8, Ordering::Release)
            };
        }
    }
}

/// Runs the code generator with enough stack, turning panics into errors.
fn with_compile_stack<F>(f: F) -> Result<Vec<u8>, String>
where
    F: FnOnce() -> Result<Vec<u8>, String> + Send,
{
    fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("code generator panicked: {msg}")
    }
    let enough = traps::thread_stack_low()
        .is_some_and(|low| traps::current_sp().saturating_sub(low) >= COMPILE_STACK);
    if enough {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|p| Err(panic_message(p)));
    }
    std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("wasabi-lazy-compile".into())
            .stack_size(HELPER_STACK)
            .spawn_scoped(s, f)
        {
            Ok(h) => h.join().unwrap_or_else(|p| Err(panic_message(p))),
            Err(e) => Err(format!("cannot start a compile thread: {e}")),
        }
    })
}

/// Called by `wasabi_lazy_trampoline` with the thunk's record; returns the
/// function's code or raises a `HostError` trap.
///
/// `fp` is the resolver's frame pointer: its frame record holds the return
/// address into the wasm caller, where a trap's backtrace starts.
unsafe extern "C" fn wasabi_lazy_resolve(record: *const LazyFunc, fp: *const u8) -> *const u8 {
    // Everything that owns memory lives and dies inside `resolve`.
    match resolve(record) {
        Some(code) => code as *const u8,
        // SAFETY: the resolver runs on behalf of a wasm call under
        // `catch_traps`; nothing on this frame or the resolver's owns
        // anything; `fp` is the resolver's live frame.
        None => unsafe { traps::raise(RawTrap::new(TrapCode::HostError), fp) },
    }
}

fn resolve(record: *const LazyFunc) -> Option<usize> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `record` comes from a thunk of a module still in use (a
        // call through it is in progress); records and state live as long
        // as the module.
        let rec = unsafe { &*record };
        // SAFETY: as above.
        let state = unsafe { &*rec.state };
        state.ensure_compiled(rec.func_index)
    }));
    let err = match r {
        Ok(Ok(code)) => return Some(code),
        Ok(Err(e)) => e,
        Err(_) => "lazy compilation panicked".to_string(),
    };
    crate::instance::set_host_error(err.into());
    None
}

extern "C" {
    /// The universal resolver (see the module docs). Not callable from Rust:
    /// only thunks jump to it, with r10 holding a `*const LazyFunc`.
    fn wasabi_lazy_trampoline();
}

// Stack at entry (reached by `jmp` from a thunk, so as after a `call`):
// rsp = 8 mod 16. push rbp -> 0; 7 pushes -> 8; sub 136 -> 0: aligned for
// movdqa and for the call.
core::arch::global_asm!(
    ".pushsection .text.wasabi_lazy_trampoline,\"ax\",@progbits",
    ".globl wasabi_lazy_trampoline",
    ".hidden wasabi_lazy_trampoline",
    ".type wasabi_lazy_trampoline,@function",
    ".p2align 4",
    "wasabi_lazy_trampoline:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "push rdi",
    "push rsi",
    "push rdx",
    "push rcx",
    "push r8",
    "push r9",
    "push rax",
    "sub rsp, 136",
    "movdqa [rsp], xmm0",
    "movdqa [rsp + 16], xmm1",
    "movdqa [rsp + 32], xmm2",
    "movdqa [rsp + 48], xmm3",
    "movdqa [rsp + 64], xmm4",
    "movdqa [rsp + 80], xmm5",
    "movdqa [rsp + 96], xmm6",
    "movdqa [rsp + 112], xmm7",
    "mov rdi, r10",
    "mov rsi, rbp",
    "call {resolve}",
    "mov r11, rax",
    "movdqa xmm0, [rsp]",
    "movdqa xmm1, [rsp + 16]",
    "movdqa xmm2, [rsp + 32]",
    "movdqa xmm3, [rsp + 48]",
    "movdqa xmm4, [rsp + 64]",
    "movdqa xmm5, [rsp + 80]",
    "movdqa xmm6, [rsp + 96]",
    "movdqa xmm7, [rsp + 112]",
    "add rsp, 136",
    "pop rax",
    "pop r9",
    "pop r8",
    "pop rcx",
    "pop rdx",
    "pop rsi",
    "pop rdi",
    "pop rbp",
    ".cfi_def_cfa rsp, 8",
    "jmp r11",
    ".cfi_endproc",
    ".size wasabi_lazy_trampoline, . - wasabi_lazy_trampoline",
    ".popsection",
    resolve = sym wasabi_lazy_resolve,
);

const PAGE: usize = 4096;
const THUNK_SIZE: usize = 16;

/// The thunks of one module: code pages (read+execute) followed by their
/// slots (read+write).
struct ThunkPage {
    base: *mut u8,
    len: usize,
    code_len: usize,
}

// SAFETY: the mapping is owned by the page and, after `new`, only its slots
// are written, atomically (`LazyState::publish`).
unsafe impl Send for ThunkPage {}
// SAFETY: as for `Send`.
unsafe impl Sync for ThunkPage {}

impl ThunkPage {
    fn new(records: &[LazyFunc]) -> Result<ThunkPage, LoadError> {
        let n = records.len();
        let code_len = (n * THUNK_SIZE).div_ceil(PAGE).max(1) * PAGE;
        let len = code_len + (n * 8).div_ceil(PAGE).max(1) * PAGE;
        let base = crate::loader::map_read_write(len)?;
        let page = ThunkPage {
            base,
            len,
            code_len,
        };
        let resolver = wasabi_lazy_trampoline as *const () as usize;
        for (k, rec) in records.iter().enumerate() {
            let thunk = page.thunk(k) as *mut u8;
            let slot = page.slot_addr(k);
            // SAFETY: thunk `k` and slot `k` lie inside the fresh read-write
            // mapping sized for `n` of each; nothing else uses it yet.
            unsafe {
                (slot as *mut usize).write(resolver);
                // mov r10, imm64
                thunk.write(0x49);
                thunk.add(1).write(0xBA);
                (thunk.add(2) as *mut u64).write_unaligned(rec as *const LazyFunc as u64);
                // jmp qword [rip + disp32], rip = thunk + 16
                thunk.add(10).write(0xFF);
                thunk.add(11).write(0x25);
                let disp = slot as i64 - (thunk as i64 + THUNK_SIZE as i64);
                (thunk.add(12) as *mut i32).write_unaligned(disp as i32);
            }
        }
        // SAFETY: the first `code_len` bytes of our own mapping, which only
        // the thunks just written occupy.
        if unsafe {
            libc::mprotect(
                base as *mut libc::c_void,
                code_len,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        } != 0
        {
            return Err(LoadError(format!(
                "mprotect failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(page)
    }

    fn thunk(&self, k: usize) -> usize {
        self.base as usize + k * THUNK_SIZE
    }

    fn slot_addr(&self, k: usize) -> usize {
        self.base as usize + self.code_len + k * 8
    }
}

impl Drop for ThunkPage {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the module owning it is being dropped, so
        // no instance can call a thunk any more.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// The lazy part of a [`CompiledModule`](crate::CompiledModule).
pub(crate) struct LazyCode {
    // Field order is drop order: nothing runs while a module is dropped, so
    // any order is safe; the state (and its code) goes first anyway.
    state: Box<LazyState>,
    _records: Box<[LazyFunc]>,
    thunks: ThunkPage,
}

impl LazyCode {
    pub(crate) fn new(
        info: Arc<ModuleInfo>,
        name: String,
        wasm: Arc<[u8]>,
        generator: Arc<dyn CodeGenerator>,
        tiering: Option<Tiering>,
    ) -> Result<LazyCode, LoadError> {
        let n = info.functions.len() - info.num_imported_funcs as usize;
        let mut state = Box::new(LazyState {
            offsets: VMOffsets::new(&info),
            info,
            name,
            wasm,
            generator,
            tiering,
            funcs: (0..n).map(|_| OnceLock::new()).collect(),
            tier_up_requested: (0..n).map(|_| AtomicBool::new(false)).collect(),
            optimized: (0..n).map(|_| OnceLock::new()).collect(),
            optimized_count: AtomicUsize::new(0),
            optimize_nanos: AtomicU64::new(0),
            idle_dropped: AtomicUsize::new(0),
            tier_queue: Mutex::new(Vec::new()),
            osr: Mutex::new(HashMap::new()),
            osr_count: AtomicUsize::new(0),
            osr_cached: AtomicUsize::new(0),
            slots: std::ptr::null(),
            instances: Mutex::new(Attached::default()),
            compiled: AtomicUsize::new(0),
            compiled_bytes: AtomicUsize::new(0),
            compile_nanos: AtomicU64::new(0),
            cache: None,
            cached: AtomicUsize::new(0),
            ahead_started: AtomicBool::new(false),
            ahead_queue: Mutex::default(),
            ahead: AtomicUsize::new(0),
            ahead_nanos: AtomicU64::new(0),
            ahead_objects: AtomicUsize::new(0),
            code: CodeArena::new(),
        });
        let sp: *const LazyState = &*state;
        let base = state.info.num_imported_funcs;
        let records: Box<[LazyFunc]> = (0..n as u32)
            .map(|k| LazyFunc {
                state: sp,
                func_index: base + k,
            })
            .collect();
        let thunks = ThunkPage::new(&records)?;
        state.slots = thunks.slot_addr(0) as *const AtomicUsize;
        Ok(LazyCode {
            state,
            _records: records,
            thunks,
        })
    }

    /// Makes first compilations go through `cache` (before any call).
    pub(crate) fn set_cache(&mut self, cache: Arc<dyn FunctionCache>) {
        self.state.cache = Some(cache);
    }

    /// The thunk of each defined function.
    pub(crate) fn thunks(&self) -> Vec<usize> {
        (0..self.state.funcs.len())
            .map(|k| self.thunks.thunk(k))
            .collect()
    }

    /// Registers a new instance and gives each defined function's current
    /// code (compiled or its thunk) to `write`, atomically with respect to
    /// publication.
    pub(crate) fn attach(&self, vmctx: usize, mut write: impl FnMut(usize, usize)) {
        let mut instances = self
            .state
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for k in 0..self.state.funcs.len() {
            let code = self
                .state
                .best_code(k)
                .unwrap_or_else(|| self.thunks.thunk(k));
            write(k, code);
        }
        instances.vmctxs.push(vmctx);
    }

    /// If `code` is the thunk of one of this module's functions, registers
    /// the import slot `slot` (of another module's instance) holding it,
    /// so the function's compiled code is published there too, and writes
    /// the best code there is into it now (it may have been compiled since
    /// `code` was read). Returns whether it registered.
    ///
    /// # Safety
    /// `slot` must be a `VMFuncRef` import slot of a live instance whose
    /// `vmctx` field is an instance of this module, and the caller must
    /// [`Self::detach_import`] it before the slot is freed or pointed at
    /// another function.
    pub(crate) unsafe fn attach_import(&self, slot: usize, code: usize) -> bool {
        let n = self.state.funcs.len();
        let base = self.thunks.thunk(0);
        if code < base || code >= base + n * THUNK_SIZE || !(code - base).is_multiple_of(THUNK_SIZE)
        {
            return false;
        }
        let k = (code - base) / THUNK_SIZE;
        let mut instances = self
            .state
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(best) = self.state.best_code(k) {
            (*(slot as *const VMFuncRef))
                .code
                .store(best as *mut u8, Ordering::Release);
        }
        instances.import_slots.push((slot, k));
        true
    }

    /// Undoes [`Self::attach_import`].
    pub(crate) fn detach_import(&self, slot: usize) {
        let mut instances = self
            .state
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        instances.import_slots.retain(|&(s, _)| s != slot);
    }

    pub(crate) fn detach(&self, vmctx: usize) {
        let mut instances = self
            .state
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        instances.vmctxs.retain(|&v| v != vmctx);
    }

    pub(crate) fn func_at_pc(&self, pc: usize) -> Option<u32> {
        let osr = self.state.osr.lock().unwrap_or_else(|e| e.into_inner());
        let in_osr = osr.iter().find_map(|(&(f, _), slot)| match &slot.entry {
            Some(Ok(lf)) => {
                let (start, end) = lf.object.code_range();
                (pc >= start && pc < end).then_some(f)
            }
            _ => None,
        });
        if in_osr.is_some() {
            return in_osr;
        }
        let tiers = self.state.funcs.iter().enumerate();
        tiers
            .chain(self.state.optimized.iter().enumerate())
            .find_map(|(k, cell)| match cell.get() {
                Some(Ok(lf)) => {
                    let (start, end) = lf.object.code_range();
                    if pc < start || pc >= end {
                        return None;
                    }
                    // A batch object holds several functions: the symbol
                    // around pc says which.
                    let named = lf.object.symbols().iter().find_map(|s| {
                        (pc >= s.address && pc < s.address + s.size.max(1))
                            .then(|| symbols::parse_func(&s.name))
                            .flatten()
                    });
                    Some(named.unwrap_or(self.state.info.num_imported_funcs + k as u32))
                }
                _ => None,
            })
    }

    pub(crate) fn code_size(&self) -> usize {
        let loaded = self
            .state
            .funcs
            .iter()
            .chain(self.state.optimized.iter())
            .filter_map(|c| c.get()?.as_ref().ok());
        // Objects shared by a batch count once.
        let mut seen = std::collections::HashSet::new();
        loaded
            .filter(|lf| seen.insert(Arc::as_ptr(&lf.object)))
            .map(|lf| lf.object.code_range().1 - lf.object.code_range().0)
            .sum()
    }

    pub(crate) fn stats(&self) -> LazyStats {
        LazyStats {
            compiled: self.state.compiled.load(Ordering::Relaxed),
            total: self.state.funcs.len(),
            compile_time: Duration::from_nanos(self.state.compile_nanos.load(Ordering::Relaxed)),
            compiled_bytes: self.state.compiled_bytes.load(Ordering::Relaxed),
            total_bytes: self
                .state
                .info
                .function_bodies
                .iter()
                .map(|r| r.len())
                .sum(),
            tiered: self.state.tiering.is_some(),
            cached: self.state.cached.load(Ordering::Relaxed),
            optimized: self.state.optimized_count.load(Ordering::Relaxed),
            osr_entries: self.state.osr_count.load(Ordering::Relaxed),
            osr_cached: self.state.osr_cached.load(Ordering::Relaxed),
            idle_dropped: self.state.idle_dropped.load(Ordering::Relaxed),
            optimize_time: Duration::from_nanos(self.state.optimize_nanos.load(Ordering::Relaxed)),
            ahead: self.state.ahead.load(Ordering::Relaxed),
            ahead_time: Duration::from_nanos(self.state.ahead_nanos.load(Ordering::Relaxed)),
            ahead_objects: self.state.ahead_objects.load(Ordering::Relaxed),
        }
    }

    /// Tiered mode with a background thread: true once, for the caller to
    /// start [`Self::compile_ahead`] there; false otherwise.
    pub(crate) fn start_ahead(&self) -> bool {
        self.state.tiering.as_ref().is_some_and(|t| t.background)
            && !self.state.ahead_started.swap(true, Ordering::SeqCst)
    }

    /// Compiles the next function ahead of its first call; whether there
    /// may be more (then the caller schedules another turn).
    pub(crate) fn compile_ahead(&self) -> bool {
        self.state.compile_ahead()
    }

    /// Tiered mode: claims the recompilation of `f` by the optimising tier;
    /// the caller then runs [`Self::tier_up`]. `Some(background)` when
    /// claimed: whether to run it on the background thread.
    pub(crate) fn claim_tier_up(&self, f: u32) -> Option<bool> {
        let background = self.state.tiering.as_ref()?.background;
        self.state.claim_tier_up(f).then_some(background)
    }

    /// Queues claimed function `f` for the optimising tier; true when the
    /// caller must schedule [`Self::drain_tier_ups`].
    pub(crate) fn enqueue_tier_up(&self, f: u32) -> bool {
        self.state.enqueue_tier_up(f)
    }

    /// Recompiles and publishes every queued function.
    pub(crate) fn drain_tier_ups(&self) {
        while self.state.drain_batch() {}
    }

    /// Recompiles and publishes the next batch of queued functions;
    /// whether more are queued (then the caller must drain again).
    pub(crate) fn drain_batch(&self) -> bool {
        self.state.drain_batch()
    }

    /// Tiered mode: the OSR entry of `f` at loop `l` if ready, and
    /// `Some(background)` when the caller must now run
    /// [`Self::compile_osr`] (it claimed it).
    pub(crate) fn osr_entry(&self, f: u32, l: u32) -> (Option<usize>, Option<bool>) {
        self.state.osr_entry(f, l)
    }

    /// A loop of `f` asks for the entry of the enclosing loop `target`: what it is to do.
    pub(crate) fn nested_osr(&self, f: u32, target: u32) -> Nested {
        self.state.nested_osr(f, target)
    }

    /// Compiles the OSR entry of `f` at loop `l`.
    pub(crate) fn compile_osr(&self, f: u32, l: u32) {
        self.state.compile_osr(f, l)
    }

    /// When function `f` finished compiling, if it has.
    pub(crate) fn ready_at(&self, f: u32) -> Option<Instant> {
        let k = f.checked_sub(self.state.info.num_imported_funcs)? as usize;
        match self.state.funcs.get(k)?.get() {
            Some(Ok(lf)) => Some(lf.ready),
            _ => None,
        }
    }

    /// Compiles function `f` now (as a first call would); for tests and
    /// warm-up.
    pub(crate) fn ensure_compiled(&self, f: u32) -> Result<usize, String> {
        let defined = self.state.info.num_imported_funcs..self.state.info.functions.len() as u32;
        if !defined.contains(&f) {
            return Err(format!("function {f} is not a defined function"));
        }
        self.state.ensure_compiled(f)
    }
}

/// A job for the background compile thread.
type Job = Box<dyn FnOnce() + Send>;

/// Held by the background thread while it runs a job.
static BACKGROUND_JOB: Mutex<()> = Mutex::new(());
/// Set when the process exits: the background thread takes no more jobs.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Set by the first [`stop_background_compilation`], which holds
/// [`BACKGROUND_JOB`] from then on.
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Runs at process exit, before C++ static destructors (registered before
/// `main`, so run after this): [`stop_background_compilation`]. Without
/// it, `exit` tears down LLVM's globals under a running compilation and
/// the process dies with SIGSEGV on its way out.
extern "C" fn stop_background_at_exit() {
    stop_background_compilation();
}

/// Stops tiered mode's background compilation for good: waits for the job
/// in progress and keeps the thread from starting another (later calls
/// return at once). For a program about to exit: the exit handler above
/// does the same, but not always first. `exit` runs the newest handlers
/// first, and LLVM registers the destructor of a function-local static
/// the first time a compilation reaches it, which may be during the very
/// compilation still running at exit; that destructor then runs before
/// the handler, under the compilation (a `wasabi wast` run ended with
/// SIGSEGV after its last line of output). Calling this before `exit`
/// leaves no compilation for any destructor to run under.
pub fn stop_background_compilation() {
    EXITING.store(true, Ordering::SeqCst);
    if STOPPED.swap(true, Ordering::SeqCst) {
        return;
    }
    let guard = BACKGROUND_JOB.lock().unwrap_or_else(|e| e.into_inner());
    // Held until the process is gone.
    std::mem::forget(guard);
}

/// How soon a background job runs (see [`in_background`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// OSR entries: an activation runs long in baseline code and nothing
    /// else gets it out.
    Urgent,
    /// Tier-ups: their functions' next calls are served by them.
    Normal,
    /// Baseline code ahead of first calls: only when nothing else waits.
    Idle,
}

/// The background compile thread's work, by [`Priority`].
#[derive(Default)]
struct Jobs {
    urgent: std::collections::VecDeque<Job>,
    normal: std::collections::VecDeque<Job>,
    idle: std::collections::VecDeque<Job>,
}

/// Runs `job` on the background compile thread (one per process, with a
/// large stack, started on first use). Tiered mode's recompilations go
/// here, so the program keeps running meanwhile. A job runs before every
/// job of a lower [`Priority`] not yet started, and in order among its
/// own: OSR entries are urgent (an activation is running long in baseline
/// code and nothing else gets it out), tier-ups are not (their functions'
/// next calls are served by them; a function that turned hot in its own
/// loops, like `main`, may never be called again), and baseline code
/// compiled ahead of first calls only fills idle time (one small batch per
/// job, so it delays the others by about a millisecond at most). When the
/// thread cannot be started the job runs here and now (an idle job is
/// dropped instead). At process exit the job in progress finishes first
/// and queued ones are dropped.
pub(crate) fn in_background(job: Job, priority: Priority) {
    type Queue = Arc<(Mutex<Jobs>, std::sync::Condvar)>;
    static QUEUE: OnceLock<Option<Queue>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        // SAFETY: registers a plain function with no preconditions.
        if unsafe { libc::atexit(stop_background_at_exit) } != 0 {
            return None;
        }
        let queue: Queue = Arc::default();
        let theirs = queue.clone();
        std::thread::Builder::new()
            .name("wasabi-tier-up".into())
            .stack_size(HELPER_STACK)
            .spawn(move || {
                let (jobs, ready) = &*theirs;
                loop {
                    let job = {
                        let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            let next = jobs.urgent.pop_front();
                            let next = next
                                .or_else(|| jobs.normal.pop_front())
                                .or_else(|| jobs.idle.pop_front());
                            if let Some(job) = next {
                                break job;
                            }
                            jobs = ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let _running = BACKGROUND_JOB.lock().unwrap_or_else(|e| e.into_inner());
                    if EXITING.load(Ordering::SeqCst) {
                        return;
                    }
                    job();
                }
            })
            .ok()
            .map(|_| queue)
    });
    match queue {
        Some(queue) => {
            let (jobs, ready) = &**queue;
            let mut jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match priority {
                Priority::Urgent => jobs.urgent.push_back(job),
                Priority::Normal => jobs.normal.push_back(job),
                Priority::Idle => jobs.idle.push_back(job),
            }
            ready.notify_one();
        }
        None if priority == Priority::Idle => {}
        None => job(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator the tests never get to call.
    struct Unused;

    impl CodeGenerator for Unused {
        fn compile_module(&self, _: &ModuleInfo, _: &[u8]) -> Result<Vec<Vec<u8>>, String> {
            Err("unused".into())
        }
        fn compile_function(&self, _: &ModuleInfo, _: &[u8], _: u32) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
        fn compile_trampolines(&self, _: &ModuleInfo) -> Result<Vec<u8>, String> {
            Err("unused".into())
        }
    }

    #[test]
    fn a_queued_function_is_judged_over_a_window_of_its_own() {
        let mut q = QueuedTierUp::new(0);
        let asked = q.seen_at;
        let ms = |n| asked + Duration::from_millis(n);
        // Too soon to judge, even with nothing done: ranked by what it did.
        assert_eq!(q.look(0, ms(5)), Verdict::Busy);
        assert_eq!(q.rate, 0.0);
        assert_eq!(
            q.look(300, ms(9)),
            Verdict::Busy,
            "the window is still open"
        );
        assert_eq!((q.seen, q.rate), (0, 0.0), "its verdict is kept");
        // Past the window: 400 executions over 20 ms.
        assert_eq!(q.look(400, ms(20)), Verdict::Busy);
        assert_eq!((q.seen, q.seen_at, q.rate), (400, ms(20), 20.0));
        // Then 15 more over the next 30 ms: idle.
        assert_eq!(
            q.look(415, ms(50)),
            Verdict::Idle {
                rate: 0.5,
                window: Duration::from_millis(30)
            }
        );
    }

    #[test]
    fn queued_tier_ups_go_busiest_first_and_idle_ones_ask_again() {
        // Three functions of one size (~240 bytes), and one ten times larger.
        let body = "(local.get 0) (i32.const 1) (i32.add) (i32.const 2) (i32.mul) (drop)";
        let small = format!("(func (param i32) {})", body.repeat(20));
        let wat = format!(
            "(module {} (func (param i32) {}))",
            small.repeat(3),
            body.repeat(200)
        );
        let wasm = wat::parse_str(&wat).unwrap();
        let info = Arc::new(ModuleInfo::parse(&wasm).unwrap());
        let tiering = Tiering {
            optimizer: Arc::new(Unused),
            background: true,
        };
        let code = LazyCode::new(
            info,
            "m".into(),
            wasm.into(),
            Arc::new(Unused),
            Some(tiering),
        )
        .unwrap();
        let state = &code.state;
        // A vmctx of this module's layout, counters at zero.
        let mut vmctx = vec![0u64; state.offsets.size() as usize / 8 + 1];
        let vmctxs = [vmctx.as_mut_ptr() as usize];
        let count = |f: u32| (vmctxs[0] + state.offsets.call_count(f) as usize) as *mut i32;
        for f in 0..4 {
            assert!(state.claim_tier_up(f));
            state.enqueue_tier_up(f);
            // As baseline code does once it has asked.
            // SAFETY: the counter lies inside `vmctx`, which outlives the test.
            unsafe { *count(f) = i32::MIN };
        }
        // Executions since each asked, 20 ms later: 0 (idle), 300, 1,000,
        // and 1,000 for the large one (a tenth as much per byte).
        for (f, n) in [(0, 0), (1, 300), (2, 1000), (3, 1000)] {
            // SAFETY: as above.
            unsafe { *count(f) = i32::MIN + n };
        }
        let later = Instant::now() + Duration::from_millis(20);
        let mut queue = std::mem::take(&mut *state.tier_queue.lock().unwrap());
        state.rank_tier_ups(&vmctxs, &mut queue, later);
        let order: Vec<u32> = queue.iter().map(|q| q.f).collect();
        assert_eq!(order, [2, 1, 3], "busiest per byte first, the idle one out");
        // The idle one is re-armed: its count restarts and it may ask again.
        // SAFETY: as above.
        assert_eq!(unsafe { *count(0) }, 0);
        assert!(state.claim_tier_up(0), "it can ask again");
        assert!(!state.claim_tier_up(2), "the ones still queued cannot");
        assert_eq!(code.stats().idle_dropped, 1);
    }
}
