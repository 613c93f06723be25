//! Running one module in the oracle (wasmi) and in wasabi, and comparing.
//!
//! A case is: instantiate, call every exported function once in export
//! order with arguments from [`crate::gen::args_for`], then read every
//! exported memory, global and table. The oracle runs first, under a fuel
//! budget; wasabi then replays exactly the calls the oracle finished.
//!
//! What must stay true:
//! - wasabi never runs anything the oracle did not finish within its fuel
//!   (wasabi's regular and lazy modes have no fuel, and the metered modes
//!   get fuel that never runs out: a runaway loop would hang the worker);
//! - values are compared engine-neutrally ([`V`]); floats by bits, except
//!   that two NaNs both carrying the canonical payload are equal whatever
//!   their signs;
//! - traps are compared by kind after mapping both engines' codes onto
//!   [`TrapKind`] (wasmi has one "table out of bounds" for both of wasabi's
//!   `TableOutOfBounds` and `UndefinedElement`);
//! - stack exhaustion is compared loosely: both exhausted is equal and ends
//!   the comparison of the case (the depths differ, so later state may
//!   too); only one exhausted is an explained skip.

use crate::gen::{args_for, Ty};
use std::fmt;

/// A value, engine-neutral. Floats and v128 are bits; references only
/// null-ness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Ref { null: bool },
}

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            V::I32(v) => write!(f, "i32:{v}"),
            V::I64(v) => write!(f, "i64:{v}"),
            V::F32(b) => write!(f, "f32:{}({b:#010x})", f32::from_bits(b)),
            V::F64(b) => write!(f, "f64:{}({b:#018x})", f64::from_bits(b)),
            V::V128(b) => write!(f, "v128:{b:#034x}"),
            V::Ref { null: true } => write!(f, "ref:null"),
            V::Ref { null: false } => write!(f, "ref:non-null"),
        }
    }
}

fn f32_canonical_nan(b: u32) -> bool {
    b & 0x7fff_ffff == 0x7fc0_0000
}
fn f64_canonical_nan(b: u64) -> bool {
    b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000
}

/// Equal bits, or both canonical NaNs.
pub fn same_value(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::F32(x), V::F32(y)) => x == y || (f32_canonical_nan(*x) && f32_canonical_nan(*y)),
        (V::F64(x), V::F64(y)) => x == y || (f64_canonical_nan(*x) && f64_canonical_nan(*y)),
        _ => a == b,
    }
}

/// Trap kinds both engines can name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapKind {
    Unreachable,
    MemoryOutOfBounds,
    /// Table access or `call_indirect` index out of bounds.
    TableOutOfBounds,
    /// `call_indirect` of a null entry.
    IndirectCallToNull,
    BadSignature,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    StackOverflow,
    /// Anything else (a host error in wasabi, wasmi's resource errors).
    Other(String),
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TrapKind::Unreachable => "unreachable",
            TrapKind::MemoryOutOfBounds => "memory out of bounds",
            TrapKind::TableOutOfBounds => "table out of bounds",
            TrapKind::IndirectCallToNull => "indirect call to null",
            TrapKind::BadSignature => "bad signature",
            TrapKind::IntegerOverflow => "integer overflow",
            TrapKind::IntegerDivisionByZero => "integer divide by zero",
            TrapKind::BadConversionToInteger => "bad conversion to integer",
            TrapKind::StackOverflow => "stack exhausted",
            TrapKind::Other(m) => return write!(f, "other: {m}"),
        };
        f.write_str(s)
    }
}

/// What one instantiation or call did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Values(Vec<V>),
    Trap(TrapKind),
    /// The oracle ran out of fuel (never produced by wasabi).
    OutOfFuel,
    /// An error that is neither a value nor a trap (wasabi: a failed
    /// compile in lazy mode, a panic caught; wasmi: an internal error).
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Values(vs) => {
                f.write_str("[")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Outcome::Trap(k) => write!(f, "trap: {k}"),
            Outcome::OutOfFuel => f.write_str("out of fuel"),
            Outcome::Error(m) => write!(f, "error: {m}"),
        }
    }
}

impl Outcome {
    /// A short tag for signatures and classification.
    pub fn tag(&self) -> String {
        match self {
            Outcome::Values(_) => "values".into(),
            Outcome::Trap(TrapKind::Other(_)) => "trap(other)".into(),
            Outcome::Trap(k) => format!("trap({k})"),
            Outcome::OutOfFuel => "fuel".into(),
            Outcome::Error(_) => "error".into(),
        }
    }
    fn is_stack(&self) -> bool {
        matches!(self, Outcome::Trap(TrapKind::StackOverflow))
    }
}

fn same_outcome(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Outcome::Values(x), Outcome::Values(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// One exported function call of the script.
#[derive(Clone, Debug)]
pub struct Call {
    pub export: String,
    pub args: Vec<V>,
    pub outcome: Outcome,
}

/// Exported state after the calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub memories: Vec<(String, Vec<u8>)>,
    pub globals: Vec<(String, V)>,
    /// Size and null-ness of every element.
    pub tables: Vec<(String, Vec<bool>)>,
}

/// What the oracle did with a module.
#[derive(Clone, Debug)]
pub struct OracleRun {
    pub instantiate: Outcome,
    pub calls: Vec<Call>,
    /// Present when every call finished and none exhausted the stack, so
    /// the final state is comparable.
    pub state: Option<State>,
    /// Why the comparison stops early, if it does.
    pub stop: Option<Stop>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The oracle ran out of fuel on the last call (or in the start function).
    Fuel,
    /// The oracle exhausted its stack on the last call.
    Stack,
    /// The oracle's resource limiter refused a growth or allocation.
    Limit,
}

// ---------------------------------------------------------------- oracle

/// A resource limiter that records whether it ever refused.
struct Limiter {
    hit: bool,
}

const ORACLE_MAX_MEMORY: usize = 256 << 20;
const ORACLE_MAX_TABLE: usize = 1 << 20;

impl Limiter {
    /// Growth to `desired` is allowed within the declared `maximum` and the
    /// oracle's own `cap`; refusing for the cap is remembered in `hit`.
    fn allow(&mut self, desired: usize, maximum: Option<usize>, cap: usize) -> bool {
        if maximum.is_some_and(|m| desired > m) {
            return false;
        }
        if desired > cap {
            self.hit = true;
            return false;
        }
        true
    }
}

impl wasmi::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.allow(desired, maximum, ORACLE_MAX_MEMORY))
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.allow(desired, maximum, ORACLE_MAX_TABLE))
    }
    fn instances(&self) -> usize {
        10
    }
    fn tables(&self) -> usize {
        100
    }
    fn memories(&self) -> usize {
        10
    }
}

/// The wasmi engine configured to accept what wasabi's validator accepts
/// (`wasabi_runtime::module::supported_features`: WebAssembly 2.0, SIMD
/// included, plus extended constant expressions and relaxed SIMD), with
/// fuel; memory64 is off because its crate feature is not enabled. Relaxed
/// SIMD is comparable: wasmi's choices are wasabi's deterministic ones (the
/// strict counterparts, fused multiply-add, both dot operands signed; see
/// `docs/simd.md`). Generated modules use no extended constants (see
/// `gen.rs`); mutants can, and must not differ merely because the oracle
/// rejects them.
pub fn oracle_engine() -> wasmi::Engine {
    let mut c = wasmi::Config::default();
    c.consume_fuel(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        .wasm_tail_call(false)
        .wasm_extended_const(true)
        .wasm_multi_memory(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .compilation_mode(wasmi::CompilationMode::Eager);
    wasmi::Engine::new(&c)
}

fn oracle_trap(e: &wasmi::Error) -> Outcome {
    use wasmi::TrapCode as W;
    let Some(code) = e.as_trap_code() else {
        // Segment initialisation at instantiation fails with wasmi's own
        // errors, not trap codes; the spec calls both traps.
        let msg = e.to_string();
        if msg.starts_with("out of bounds table access") {
            return Outcome::Trap(TrapKind::TableOutOfBounds);
        }
        if msg.starts_with("out of bounds memory access") {
            return Outcome::Trap(TrapKind::MemoryOutOfBounds);
        }
        return Outcome::Error(msg);
    };
    Outcome::Trap(match code {
        W::UnreachableCodeReached => TrapKind::Unreachable,
        W::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        W::TableOutOfBounds => TrapKind::TableOutOfBounds,
        W::IndirectCallToNull => TrapKind::IndirectCallToNull,
        W::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        W::IntegerOverflow => TrapKind::IntegerOverflow,
        W::BadConversionToInteger => TrapKind::BadConversionToInteger,
        W::StackOverflow => TrapKind::StackOverflow,
        W::BadSignature => TrapKind::BadSignature,
        W::OutOfFuel => return Outcome::OutOfFuel,
        other => TrapKind::Other(format!("{other:?}")),
    })
}

fn ty_of_wasmi(t: &wasmi::ValType) -> Ty {
    match t {
        wasmi::ValType::I32 => Ty::I32,
        wasmi::ValType::I64 => Ty::I64,
        wasmi::ValType::F32 => Ty::F32,
        wasmi::ValType::F64 => Ty::F64,
        wasmi::ValType::V128 => Ty::V128,
        wasmi::ValType::FuncRef => Ty::FuncRef,
        wasmi::ValType::ExternRef => Ty::ExternRef,
    }
}

fn to_wasmi(v: &V, t: Ty) -> wasmi::Val {
    match (*v, t) {
        (V::I32(x), _) => wasmi::Val::I32(x),
        (V::I64(x), _) => wasmi::Val::I64(x),
        (V::F32(b), _) => wasmi::Val::F32(wasmi::F32::from_bits(b)),
        (V::F64(b), _) => wasmi::Val::F64(wasmi::F64::from_bits(b)),
        (V::V128(b), _) => wasmi::Val::V128(wasmi::V128::from(b)),
        (V::Ref { .. }, Ty::FuncRef) => wasmi::Val::FuncRef(wasmi::Nullable::Null),
        (V::Ref { .. }, _) => wasmi::Val::ExternRef(wasmi::Nullable::Null),
    }
}

fn from_wasmi(v: &wasmi::Val) -> V {
    match v {
        wasmi::Val::I32(x) => V::I32(*x),
        wasmi::Val::I64(x) => V::I64(*x),
        wasmi::Val::F32(x) => V::F32(x.to_bits()),
        wasmi::Val::F64(x) => V::F64(x.to_bits()),
        wasmi::Val::FuncRef(r) => V::Ref { null: r.is_null() },
        wasmi::Val::ExternRef(r) => V::Ref { null: r.is_null() },
        wasmi::Val::V128(x) => V::V128(x.as_u128()),
    }
}

/// Why the oracle did not run a module at all.
#[derive(Debug)]
pub enum OracleRefused {
    /// wasmi rejected the module (its validator, or an unsupported feature).
    Invalid(String),
    /// wasmi panicked (a bug of the oracle, not of wasabi).
    Panic,
}

/// Runs `wasm` in wasmi: instantiate, call each exported function in
/// export order, read the exported state. `fuel` bounds each call (and the
/// start function) separately.
///
/// A panic inside wasmi (it has a few on malformed input) is caught and
/// reported as [`OracleRefused::Panic`].
pub fn run_oracle(
    engine: &wasmi::Engine,
    wasm: &[u8],
    seed: u64,
    fuel: u64,
) -> Result<OracleRun, OracleRefused> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_oracle_inner(engine, wasm, seed, fuel)
    }))
    .unwrap_or(Err(OracleRefused::Panic))
}

/// Validates `wasm` with wasmi; a panic counts as "cannot say" (`None`).
pub fn oracle_validate(engine: &wasmi::Engine, wasm: &[u8]) -> Option<Result<(), String>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wasmi::Module::new(engine, wasm)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }))
    .ok()
}

fn run_oracle_inner(
    engine: &wasmi::Engine,
    wasm: &[u8],
    seed: u64,
    fuel: u64,
) -> Result<OracleRun, OracleRefused> {
    let module =
        wasmi::Module::new(engine, wasm).map_err(|e| OracleRefused::Invalid(e.to_string()))?;
    let mut store = wasmi::Store::new(engine, Limiter { hit: false });
    store.limiter(|l| l as &mut dyn wasmi::ResourceLimiter);
    store.set_fuel(fuel).expect("fuel is enabled");
    let linker = wasmi::Linker::<Limiter>::new(engine);
    let mut run = OracleRun {
        instantiate: Outcome::Values(vec![]),
        calls: vec![],
        state: None,
        stop: None,
    };
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(i) => i,
        Err(e) => {
            run.instantiate = oracle_trap(&e);
            run.stop = match &run.instantiate {
                _ if store.data().hit => Some(Stop::Limit),
                Outcome::OutOfFuel => Some(Stop::Fuel),
                Outcome::Trap(TrapKind::StackOverflow) => Some(Stop::Stack),
                _ => None,
            };
            return Ok(run);
        }
    };
    if store.data().hit {
        run.stop = Some(Stop::Limit);
        return Ok(run);
    }
    let exports: Vec<(String, wasmi::ExternType)> = module
        .exports()
        .map(|e| (e.name().to_string(), e.ty().clone()))
        .collect();
    for (name, ty) in &exports {
        let wasmi::ExternType::Func(fty) = ty else {
            continue;
        };
        let params: Vec<Ty> = fty.params().iter().map(ty_of_wasmi).collect();
        let args = args_for(seed, name, &params);
        let inputs: Vec<wasmi::Val> = args
            .iter()
            .zip(&params)
            .map(|(v, t)| to_wasmi(v, *t))
            .collect();
        let mut outputs: Vec<wasmi::Val> = fty
            .results()
            .iter()
            .map(|t| wasmi::Val::default_for_ty(*t))
            .collect();
        store.set_fuel(fuel).expect("fuel is enabled");
        let func = instance.get_func(&store, name).expect("exported function");
        let outcome = match func.call(&mut store, &inputs, &mut outputs) {
            Ok(()) => Outcome::Values(outputs.iter().map(from_wasmi).collect()),
            Err(e) => oracle_trap(&e),
        };
        let stop = if store.data().hit {
            Some(Stop::Limit)
        } else if outcome == Outcome::OutOfFuel {
            Some(Stop::Fuel)
        } else if outcome.is_stack() {
            Some(Stop::Stack)
        } else {
            None
        };
        run.calls.push(Call {
            export: name.clone(),
            args,
            outcome,
        });
        if stop.is_some() {
            run.stop = stop;
            return Ok(run);
        }
    }
    let mut state = State::default();
    for (name, ty) in &exports {
        match ty {
            wasmi::ExternType::Memory(_) => {
                let m = instance.get_memory(&store, name).unwrap();
                state.memories.push((name.clone(), m.data(&store).to_vec()));
            }
            wasmi::ExternType::Global(_) => {
                let g = instance.get_global(&store, name).unwrap();
                state
                    .globals
                    .push((name.clone(), from_wasmi(&g.get(&store))));
            }
            wasmi::ExternType::Table(_) => {
                let t = instance.get_table(&store, name).unwrap();
                let n = t.size(&store);
                let elems = (0..n)
                    .map(|i| match t.get(&store, i) {
                        Some(wasmi::Ref::Func(f)) => f.is_null(),
                        Some(wasmi::Ref::Extern(e)) => e.is_null(),
                        None => true,
                    })
                    .collect();
                state.tables.push((name.clone(), elems));
            }
            wasmi::ExternType::Func(_) => {}
        }
    }
    run.state = Some(state);
    Ok(run)
}

// ---------------------------------------------------------------- wasabi

/// A wasabi configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Regular(wasabi::OptLevel),
    Lazy(wasabi::OptLevel),
    /// Regular mode with fuel metering and epoch checks compiled in (and
    /// fuel that never runs out): the instrumentation must not change what
    /// a program computes.
    Metered(wasabi::OptLevel),
    /// Compiled ahead of time into a shared library (at -O3) and loaded.
    Aot,
}

impl Mode {
    pub fn name(&self) -> String {
        let o = |l: &wasabi::OptLevel| format!("{l:?}");
        match self {
            Mode::Regular(l) => format!("regular-{}", o(l)),
            Mode::Lazy(l) => format!("lazy-{}", o(l)),
            Mode::Metered(l) => format!("metered-{}", o(l)),
            Mode::Aot => "aot".into(),
        }
    }

    pub fn parse(s: &str) -> Result<Mode, String> {
        if s == "aot" {
            return Ok(Mode::Aot);
        }
        let (kind, level) = s
            .split_once('-')
            .ok_or_else(|| format!("unknown mode `{s}` (e.g. regular-O1, lazy-O1, aot)"))?;
        let level: wasabi::OptLevel = level.parse()?;
        match kind {
            "regular" => Ok(Mode::Regular(level)),
            "lazy" => Ok(Mode::Lazy(level)),
            "metered" => Ok(Mode::Metered(level)),
            _ => Err(format!(
                "unknown mode `{s}` (e.g. regular-O1, lazy-O1, metered-O1, aot)"
            )),
        }
    }

    pub fn engine(&self) -> wasabi::Engine {
        let (mode, level) = match *self {
            Mode::Regular(l) => (wasabi::CompileMode::Regular, l),
            Mode::Lazy(l) => (wasabi::CompileMode::Lazy, l),
            Mode::Metered(l) => (wasabi::CompileMode::Regular, l),
            Mode::Aot => (wasabi::CompileMode::Regular, wasabi::OptLevel::O3),
        };
        let metered = matches!(self, Mode::Metered(_));
        wasabi::Engine::new(
            wasabi::Config::default()
                .mode(mode)
                .opt_level(level)
                .consume_fuel(metered)
                .epoch_interruption(metered)
                // Millions of one-off modules: caching them would only
                // write files.
                .cache(false),
        )
    }
}

/// The default modes of a differential run.
pub const DEFAULT_MODES: &str = "regular-O0,regular-O1,regular-O3,lazy-O1";

/// A wasabi engine for one mode, created once per worker.
pub struct Wasabi {
    pub mode: Mode,
    pub engine: wasabi::Engine,
}

impl Wasabi {
    pub fn new(mode: Mode) -> Wasabi {
        Wasabi {
            mode,
            engine: mode.engine(),
        }
    }

    /// Validates and compiles.
    pub fn compile(&self, wasm: &[u8]) -> Result<wasabi::Module, wasabi::Error> {
        match self.mode {
            Mode::Aot => wasabi_aot::build_and_load_shared(&self.engine, wasm),
            _ => wasabi::Module::new(&self.engine, wasm),
        }
    }
}

/// Whether `e` is lazy mode's way of saying `Error::Unsupported`: the
/// function's compilation on first call failed with "unsupported" (a
/// host-error trap whose message says so, see `runtime/src/lazy.rs`).
/// Regular mode reports the same thing as `Error::Unsupported` at compile
/// time.
pub fn is_lazy_unsupported(e: &wasabi::Error) -> bool {
    match e {
        wasabi::Error::Trap(t) if t.code == wasabi::TrapCode::HostError => {
            // "lazy compilation of m::f failed: in function 1 (f): unsupported: ..."
            let msg = t.to_string();
            msg.contains("lazy compilation of") && msg.contains(": unsupported: ")
        }
        _ => false,
    }
}

fn wasabi_outcome(e: wasabi::Error) -> Outcome {
    use wasabi::TrapCode as C;
    match e {
        wasabi::Error::Trap(t) => Outcome::Trap(match t.code {
            C::Unreachable => TrapKind::Unreachable,
            C::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
            C::TableOutOfBounds | C::UndefinedElement => TrapKind::TableOutOfBounds,
            C::UninitializedElement => TrapKind::IndirectCallToNull,
            C::BadSignature => TrapKind::BadSignature,
            C::IntegerOverflow => TrapKind::IntegerOverflow,
            C::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
            C::BadConversionToInteger => TrapKind::BadConversionToInteger,
            C::StackOverflow => TrapKind::StackOverflow,
            _ => TrapKind::Other(t.to_string()),
        }),
        other => Outcome::Error(other.to_string()),
    }
}

fn to_wasabi(v: &V, t: wasabi::ValType) -> wasabi::Val {
    match *v {
        V::I32(x) => wasabi::Val::I32(x),
        V::I64(x) => wasabi::Val::I64(x),
        V::F32(b) => wasabi::Val::F32(b),
        V::F64(b) => wasabi::Val::F64(b),
        V::V128(b) => wasabi::Val::V128(b),
        V::Ref { .. } => wasabi::Val::default_for(t),
    }
}

fn from_wasabi(v: &wasabi::Val) -> V {
    match v {
        wasabi::Val::I32(x) => V::I32(*x),
        wasabi::Val::I64(x) => V::I64(*x),
        wasabi::Val::F32(b) => V::F32(*b),
        wasabi::Val::F64(b) => V::F64(*b),
        wasabi::Val::FuncRef(f) => V::Ref { null: f.is_none() },
        wasabi::Val::ExternRef(e) => V::Ref { null: e.is_none() },
        wasabi::Val::V128(b) => V::V128(*b),
    }
}

/// Where wasabi and the oracle first differ.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub mode: String,
    /// `compile`, `instantiate`, `call <n> <export>`, or `state <what> <name>`.
    pub at: String,
    pub expected: String,
    pub got: String,
    /// A stable summary for shrinking and classification:
    /// `<where-kind>:<expected-tag>-><got-tag>`.
    pub signature: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mode:      {}", self.mode)?;
        writeln!(f, "at:        {}", self.at)?;
        writeln!(f, "signature: {}", self.signature)?;
        writeln!(f, "wasmi:     {}", self.expected)?;
        write!(f, "wasabi:    {}", self.got)
    }
}

/// The result of comparing one mode against the oracle.
#[derive(Clone, Debug)]
pub enum Verdict {
    Same,
    /// Equal up to a point past which the engines may legitimately differ.
    Skip(&'static str),
    Differ(Box<Mismatch>),
}

/// Compiles and runs `wasm` in wasabi's `mode`, replaying the oracle's
/// script and comparing as it goes. `stage` is told what is about to
/// happen (for crash reports).
pub fn run_wasabi(
    w: &Wasabi,
    wasm: &[u8],
    oracle: &OracleRun,
    stage: &mut dyn FnMut(&str),
) -> Verdict {
    let mode = w.mode.name();
    let differ = |at: String, kind: &str, exp: &Outcome, got: &Outcome| {
        Verdict::Differ(Box::new(Mismatch {
            mode: mode.clone(),
            signature: format!("{kind}:{}->{}", exp.tag(), got.tag()),
            at,
            expected: exp.to_string(),
            got: got.to_string(),
        }))
    };
    stage("compile");
    let module = match w.compile(wasm) {
        Ok(m) => m,
        Err(wasabi::Error::Unsupported(_)) => return Verdict::Skip("unsupported"),
        Err(e) => {
            let got = Outcome::Error(format!("rejected: {e}"));
            return differ("compile".into(), "compile", &Outcome::Values(vec![]), &got);
        }
    };
    run_compiled(w, &module, oracle, stage)
}

/// Like [`run_wasabi`], for a module already compiled by `w`.
pub fn run_compiled(
    w: &Wasabi,
    module: &wasabi::Module,
    oracle: &OracleRun,
    stage: &mut dyn FnMut(&str),
) -> Verdict {
    let mode = w.mode.name();
    let differ = |at: String, kind: &str, exp: &Outcome, got: &Outcome| {
        Verdict::Differ(Box::new(Mismatch {
            mode: mode.clone(),
            signature: format!("{kind}:{}->{}", exp.tag(), got.tag()),
            at,
            expected: exp.to_string(),
            got: got.to_string(),
        }))
    };
    // Never run wasabi where the oracle did not finish: a start function
    // that ran out of fuel may loop forever.
    if oracle.calls.is_empty() {
        match (&oracle.instantiate, oracle.stop) {
            (_, Some(Stop::Limit)) => return Verdict::Skip("oracle-limit"),
            (Outcome::OutOfFuel, _) => return Verdict::Skip("timeout"),
            _ => {}
        }
    }
    stage(&format!("instantiate expect={}", oracle.instantiate.tag()));
    let mut store = wasabi::Store::new(&w.engine, ());
    if w.engine.config().consume_fuel {
        store.set_fuel(u64::MAX).expect("a metered engine");
    }
    let inst = match wasabi::Instance::new(&mut store, module, &[]) {
        Ok(i) => i,
        Err(e) if is_lazy_unsupported(&e) => return Verdict::Skip("unsupported"),
        Err(e) => {
            let got = wasabi_outcome(e);
            return match (oracle.instantiate.is_stack(), got.is_stack()) {
                (true, true) => Verdict::Same,
                (true, false) | (false, true) => Verdict::Skip("stack"),
                _ if same_outcome(&oracle.instantiate, &got) => Verdict::Same,
                _ => differ(
                    "instantiate".into(),
                    "instantiate",
                    &oracle.instantiate,
                    &got,
                ),
            };
        }
    };
    if oracle.instantiate != Outcome::Values(vec![]) {
        if oracle.instantiate.is_stack() {
            return Verdict::Skip("stack");
        }
        return differ(
            "instantiate".into(),
            "instantiate",
            &oracle.instantiate,
            &Outcome::Values(vec![]),
        );
    }
    for (n, call) in oracle.calls.iter().enumerate() {
        if call.outcome == Outcome::OutOfFuel {
            return Verdict::Skip("timeout");
        }
        // The export name is escaped: it may hold any character.
        stage(&format!(
            "call {n} {:?} expect={}",
            call.export,
            call.outcome.tag()
        ));
        let func = inst
            .get_func(&mut store, &call.export)
            .expect("the oracle found this export");
        let ty = func.ty(&store);
        let args: Vec<wasabi::Val> = call
            .args
            .iter()
            .zip(&ty.params)
            .map(|(v, t)| to_wasabi(v, *t))
            .collect();
        let got = match func.call_vec(&mut store, &args) {
            Ok(vals) => Outcome::Values(vals.iter().map(from_wasabi).collect()),
            Err(e) if is_lazy_unsupported(&e) => return Verdict::Skip("unsupported"),
            Err(e) => wasabi_outcome(e),
        };
        let at = format!("call {n} `{}`({})", call.export, {
            let a: Vec<String> = call.args.iter().map(|v| v.to_string()).collect();
            a.join(", ")
        });
        match (call.outcome.is_stack(), got.is_stack()) {
            (true, true) => return Verdict::Same,
            (true, false) | (false, true) => return Verdict::Skip("stack"),
            _ => {}
        }
        if !same_outcome(&call.outcome, &got) {
            return differ(at, "call", &call.outcome, &got);
        }
    }
    match oracle.stop {
        Some(Stop::Fuel) => return Verdict::Skip("timeout"),
        Some(Stop::Limit) => return Verdict::Skip("oracle-limit"),
        Some(Stop::Stack) => return Verdict::Same,
        None => {}
    }
    let Some(expected) = &oracle.state else {
        return Verdict::Same;
    };
    stage("state");
    for (name, bytes) in &expected.memories {
        let m = inst.get_memory(&mut store, name).expect("exported memory");
        let data = m.data(&store);
        if data != bytes.as_slice() {
            let got = if data.len() != bytes.len() {
                format!("{} bytes (wasmi: {})", data.len(), bytes.len())
            } else {
                let first = data.iter().zip(bytes).position(|(a, b)| a != b).unwrap();
                let end = (first + 16).min(data.len());
                let diffs = data.iter().zip(bytes).filter(|(a, b)| a != b).count();
                format!(
                    "{diffs} bytes differ, first at {first:#x}: wasabi {:02x?} wasmi {:02x?}",
                    &data[first..end],
                    &bytes[first..end]
                )
            };
            return Verdict::Differ(Box::new(Mismatch {
                mode,
                at: format!("state memory `{name}`"),
                expected: format!("{} bytes", bytes.len()),
                got,
                signature: "state:memory".into(),
            }));
        }
    }
    for (name, v) in &expected.globals {
        let g = inst.get_global(&mut store, name).expect("exported global");
        let got = from_wasabi(&g.get(&mut store));
        if !same_value(v, &got) {
            return Verdict::Differ(Box::new(Mismatch {
                mode,
                at: format!("state global `{name}`"),
                expected: v.to_string(),
                got: got.to_string(),
                signature: "state:global".into(),
            }));
        }
    }
    for (name, elems) in &expected.tables {
        let t = inst.get_table(&mut store, name).expect("exported table");
        let n = t.size(&store);
        let got: Vec<bool> = (0..n)
            .map(|i| match t.get(&mut store, i) {
                Some(v) => from_wasabi(&v) == V::Ref { null: true },
                None => true,
            })
            .collect();
        if &got != elems {
            return Verdict::Differ(Box::new(Mismatch {
                mode,
                at: format!("state table `{name}`"),
                expected: format!("size {}, non-null at {:?}", elems.len(), non_null(elems)),
                got: format!("size {}, non-null at {:?}", got.len(), non_null(&got)),
                signature: "state:table".into(),
            }));
        }
    }
    Verdict::Same
}

fn non_null(e: &[bool]) -> Vec<usize> {
    e.iter()
        .enumerate()
        .filter(|(_, n)| !**n)
        .map(|(i, _)| i)
        .take(20)
        .collect()
}
