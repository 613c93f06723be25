//! The spec-script (`.wast`) runner behind `wasabi wast` and the spec test
//! suite.
//!
//! Each script runs in a fresh [`Store`] with a [`Linker`] holding the
//! `spectest` host module and every instance the script registers.
//! Every directive is an assertion that passes or fails; a failure records
//! its line and why. Nothing here panics on a bad script or a bad result:
//! whatever the module under test does, the runner reports and continues.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::HashMap;
use wasabi::{
    Engine, Error, Extern, FuncType, Global, GlobalType, Instance, Linker, Memory, MemoryType,
    Module, Store, Table, TableType, Trap, TrapCode, Val, ValType,
};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Turns module bytes (and a name for messages) into a module: how the
/// runner compiles, so one script can be run in every execution mode.
pub type Compile<'a> = dyn Fn(&[u8], &str) -> Result<Module, Error> + 'a;

/// One failed directive.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the directive.
    pub line: usize,
    pub message: String,
}

/// The outcome of one script.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<Failure>,
    /// Directives not run, with the reason (e.g. threads).
    pub skipped: Vec<(usize, String)>,
}

/// Runs a script's text, compiling with `engine`. `Err` only when the
/// script itself does not parse.
pub fn run_script(engine: &Engine, name: &str, text: &str) -> Result<Report, Error> {
    run_script_with(
        engine,
        &|bytes, name| Module::with_name(engine, bytes, name),
        name,
        text,
    )
}

/// Runs a script's text, compiling every module with `compile`.
pub fn run_script_with(
    engine: &Engine,
    compile: &Compile<'_>,
    name: &str,
    text: &str,
) -> Result<Report, Error> {
    // The spec's names.wast deliberately uses bidi and zero-width characters.
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf =
        ParseBuffer::new_with_lexer(lexer).map_err(|e| Error::Text(format!("{name}: {e}")))?;
    let wast: Wast = parser::parse(&buf).map_err(|e| {
        let mut e = e;
        e.set_path(name.as_ref());
        e.set_text(text);
        Error::Text(e.to_string())
    })?;
    let mut runner = Runner::new(engine, compile);
    let mut report = Report::default();
    for directive in wast.directives {
        let line = directive.span().linecol_in(text).0 + 1;
        match runner.directive(directive) {
            Outcome::Pass => report.passed += 1,
            Outcome::Fail(message) => report.failures.push(Failure { line, message }),
            Outcome::Skip(why) => report.skipped.push((line, why)),
        }
    }
    Ok(report)
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

use Outcome::{Fail, Pass, Skip};

struct Runner<'e> {
    compile: &'e Compile<'e>,
    store: Store<()>,
    /// `spectest` and every registered instance, by module name.
    linker: Linker<()>,
    named: HashMap<String, Instance>,
    current: Option<Instance>,
    modules: usize,
}

/// Defines the spec suite's `spectest` host module.
fn spectest(store: &mut Store<()>, linker: &mut Linker<()>) -> Result<(), Error> {
    let prints: [(&str, &[ValType]); 7] = [
        ("print", &[]),
        ("print_i32", &[ValType::I32]),
        ("print_i64", &[ValType::I64]),
        ("print_f32", &[ValType::F32]),
        ("print_f64", &[ValType::F64]),
        ("print_i32_f32", &[ValType::I32, ValType::F32]),
        ("print_f64_f64", &[ValType::F64, ValType::F64]),
    ];
    for (name, params) in prints {
        linker.func_new(
            "spectest",
            name,
            FuncType::new(params, []),
            |_, _, _| Ok(()),
        )?;
    }
    let globals = [
        ("global_i32", Val::I32(666)),
        ("global_i64", Val::I64(666)),
        ("global_f32", Val::f32(666.6)),
        ("global_f64", Val::f64(666.6)),
    ];
    for (name, v) in globals {
        let ty = GlobalType {
            content: v.ty(),
            mutable: false,
        };
        let g = Global::new(&mut *store, ty, v)?;
        linker.define("spectest", name, g)?;
    }
    let table = TableType {
        element: ValType::FuncRef,
        minimum: 10,
        maximum: Some(20),
    };
    let t = Table::new(&mut *store, table, Val::FuncRef(None))?;
    linker.define("spectest", "table", t)?;
    let memory = MemoryType {
        minimum: 1,
        maximum: Some(2),
        memory64: false,
        shared: false,
    };
    let m = Memory::new(&mut *store, memory)?;
    linker.define("spectest", "memory", m)?;
    Ok(())
}

/// A compile/instantiate failure, classified for the assertions.
enum ModuleFailure {
    Malformed(String),
    Invalid(String),
    Unsupported(String),
    Link(String),
    Trap(Trap),
    Other(String),
}

impl<'e> Runner<'e> {
    fn new(engine: &Engine, compile: &'e Compile<'e>) -> Self {
        let mut store = Store::new(engine, ());
        if engine.config().consume_fuel {
            // Scripts test semantics, not budgets: fuel that never runs out.
            store
                .set_fuel(u64::MAX)
                .expect("fuel is enabled on this engine");
        }
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        spectest(&mut store, &mut linker).expect("the spectest module can be defined");
        Runner {
            compile,
            store,
            linker,
            named: HashMap::new(),
            current: None,
            modules: 0,
        }
    }

    fn compile(&mut self, bytes: &[u8]) -> Result<Module, ModuleFailure> {
        self.modules += 1;
        match (self.compile)(bytes, &format!("module{}", self.modules)) {
            Ok(m) => Ok(m),
            // wasmparser reports decoding errors and validation errors
            // alike; the spec's malformed messages are about encoding.
            Err(Error::Module(e)) => Err(ModuleFailure::Invalid(e.to_string())),
            Err(Error::Text(e)) => Err(ModuleFailure::Malformed(e)),
            Err(Error::Unsupported(w)) => Err(ModuleFailure::Unsupported(w)),
            Err(e) => Err(ModuleFailure::Other(e.to_string())),
        }
    }

    fn instantiate(&mut self, bytes: &[u8]) -> Result<Instance, ModuleFailure> {
        let m = self.compile(bytes)?;
        match self.linker.instantiate(&mut self.store, &m) {
            Ok(i) => Ok(i),
            Err(Error::Link(e)) => Err(ModuleFailure::Link(e.to_string())),
            Err(Error::Trap(t)) => Err(ModuleFailure::Trap(t)),
            Err(e) => Err(ModuleFailure::Other(e.to_string())),
        }
    }

    fn describe(f: &ModuleFailure) -> String {
        match f {
            ModuleFailure::Malformed(m) => format!("malformed: {m}"),
            ModuleFailure::Invalid(m) => format!("invalid: {m}"),
            ModuleFailure::Unsupported(m) => format!("unsupported: {m}"),
            ModuleFailure::Link(m) => format!("link error: {m}"),
            ModuleFailure::Trap(t) => format!("trap: {t}"),
            ModuleFailure::Other(m) => m.clone(),
        }
    }

    fn directive(&mut self, d: WastDirective<'_>) -> Outcome {
        match d {
            WastDirective::Module(mut q) => {
                let name = q.name().map(|n| n.name().to_string());
                let bytes = match q.encode() {
                    Ok(b) => b,
                    Err(e) => return Fail(format!("module does not encode: {e}")),
                };
                match self.instantiate(&bytes) {
                    Ok(i) => {
                        self.current = Some(i);
                        if let Some(n) = name {
                            self.named.insert(n, i);
                        }
                        Pass
                    }
                    Err(f) => {
                        self.current = None;
                        Fail(format!("module failed: {}", Self::describe(&f)))
                    }
                }
            }
            WastDirective::Register { name, module, .. } => {
                let inst = match module {
                    Some(id) => self.named.get(id.name()).copied(),
                    None => self.current,
                };
                match inst {
                    Some(i) => match self.linker.instance(&mut self.store, name, i) {
                        Ok(_) => Pass,
                        Err(e) => Fail(format!("register: {e}")),
                    },
                    None => Fail("register: no such module".into()),
                }
            }
            WastDirective::Invoke(inv) => match self.invoke(&inv) {
                Ok(Ok(_)) => Pass,
                Ok(Err(t)) => Fail(format!("unexpected trap: {t}")),
                Err(e) => Fail(e),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let got = match self.execute(exec) {
                    Ok(Ok(v)) => v,
                    Ok(Err(t)) => return Fail(format!("expected results, got trap: {t}")),
                    Err(e) => return Fail(e),
                };
                if got.len() != results.len() {
                    return Fail(format!(
                        "expected {} results, got {}",
                        results.len(),
                        got.len()
                    ));
                }
                for (i, (g, want)) in got.iter().zip(&results).enumerate() {
                    let WastRet::Core(want) = want else {
                        return Skip("component values".into());
                    };
                    if !matches_ret(g, want) {
                        return Fail(format!("result {i}: expected {want:?}, got {g}"));
                    }
                }
                Pass
            }
            WastDirective::AssertTrap { exec, message, .. } => match self.execute(exec) {
                Ok(Ok(v)) => Fail(format!("expected trap `{message}`, got {v:?}")),
                Ok(Err(t)) => {
                    let got = t.message();
                    if got.contains(message) || message.contains(got.as_str()) {
                        Pass
                    } else {
                        Fail(format!("expected trap `{message}`, got `{got}`"))
                    }
                }
                Err(e) => Fail(e),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(Ok(v)) => Fail(format!("expected `{message}`, got {v:?}")),
                Ok(Err(t)) if t.code == TrapCode::StackOverflow => Pass,
                Ok(Err(t)) => Fail(format!("expected `{message}`, got `{t}`")),
                Err(e) => Fail(e),
            },
            WastDirective::AssertMalformed {
                module, message, ..
            } => self.assert_rejected(module, message, true),
            WastDirective::AssertInvalid {
                module, message, ..
            } => self.assert_rejected(module, message, false),
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let bytes = match module.encode() {
                    Ok(b) => b,
                    Err(e) => return Fail(format!("module does not encode: {e}")),
                };
                match self.instantiate(&bytes) {
                    Ok(_) => Fail(format!(
                        "expected link failure `{message}`, module instantiated"
                    )),
                    Err(ModuleFailure::Link(_)) => Pass,
                    Err(f) => Fail(format!(
                        "expected link failure `{message}`, got {}",
                        Self::describe(&f)
                    )),
                }
            }
            WastDirective::ModuleDefinition(_) | WastDirective::ModuleInstance { .. } => {
                Skip("module definitions/instances (not in core 2.0)".into())
            }
            other => Skip(format!(
                "directive not supported: {:?}",
                std::mem::discriminant(&other)
            )),
        }
    }

    fn assert_rejected(
        &mut self,
        mut module: QuoteWat<'_>,
        message: &str,
        malformed: bool,
    ) -> Outcome {
        let bytes = match module.encode() {
            // A text-level error: the text parser rejected it, as it should.
            Err(_) => return Pass,
            Ok(b) => b,
        };
        match self.compile(&bytes) {
            Ok(_) => Fail(format!(
                "expected {} module (`{message}`), but it compiled",
                if malformed {
                    "a malformed"
                } else {
                    "an invalid"
                }
            )),
            Err(ModuleFailure::Invalid(_)) | Err(ModuleFailure::Malformed(_)) => Pass,
            Err(f) => Fail(format!(
                "expected rejection `{message}`, got {}",
                Self::describe(&f)
            )),
        }
    }

    fn instance_for(&self, id: Option<wast::token::Id<'_>>) -> Result<Instance, String> {
        match id {
            Some(id) => self
                .named
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no module named ${}", id.name())),
            None => self.current.ok_or_else(|| "no current module".to_string()),
        }
    }

    fn invoke(&mut self, inv: &WastInvoke<'_>) -> Result<Result<Vec<Val>, Trap>, String> {
        let inst = self.instance_for(inv.module)?;
        let func = inst
            .get_func(&mut self.store, inv.name)
            .ok_or_else(|| format!("no exported function `{}`", inv.name))?;
        let mut args = Vec::new();
        for a in &inv.args {
            let WastArg::Core(a) = a else {
                return Err("component arguments".into());
            };
            args.push(arg_val(a).ok_or_else(|| format!("unsupported argument {a:?}"))?);
        }
        match func.call_vec(&mut self.store, &args) {
            Ok(v) => Ok(Ok(v)),
            Err(Error::Trap(t)) => Ok(Err(t)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<Val>, Trap>, String> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(&inv),
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance_for(module)?;
                match inst.get_export(&mut self.store, global) {
                    Some(Extern::Global(g)) => Ok(Ok(vec![g.get(&mut self.store)])),
                    _ => Err(format!("no exported global `{global}`")),
                }
            }
            WastExecute::Wat(mut w) => {
                let bytes = w.encode().map_err(|e| e.to_string())?;
                match self.instantiate(&bytes) {
                    Ok(_) => Ok(Ok(vec![])),
                    Err(ModuleFailure::Trap(t)) => Ok(Err(t)),
                    Err(f) => Err(Self::describe(&f)),
                }
            }
        }
    }
}

fn is_extern_heap(h: &HeapType<'_>) -> bool {
    matches!(
        h,
        HeapType::Abstract {
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
            ..
        }
    )
}

/// A spec-script argument as a value (`None` for kinds wasabi cannot
/// pass yet). Shared with the REPL, which accepts the same syntax.
pub fn arg_val(a: &WastArgCore<'_>) -> Option<Val> {
    Some(match a {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(f) => Val::F32(f.bits),
        WastArgCore::F64(f) => Val::F64(f.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(h) if is_extern_heap(h) => Val::ExternRef(None),
        WastArgCore::RefNull(_) => Val::FuncRef(None),
        WastArgCore::RefExtern(n) => Val::ExternRef(Some(wasabi::ExternRef(*n as u64))),
        _ => return None,
    })
}

fn f32_matches(bits: u32, p: &NanPattern<wast::token::F32>) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(bits: u64, p: &NanPattern<wast::token::F64>) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
        NanPattern::Value(v) => v.bits == bits,
    }
}

/// Whether the lanes of a `v128` match a pattern of any lane shape; float
/// lanes each match a value or a NaN pattern (`nan:canonical` and
/// `nan:arithmetic` are per lane).
fn v128_matches(v: u128, p: &V128Pattern) -> bool {
    let bytes = v.to_le_bytes();
    // Lane `i` of width `N` bytes, as little-endian bits.
    fn lane<const N: usize>(bytes: &[u8; 16], i: usize) -> [u8; N] {
        bytes[i * N..(i + 1) * N]
            .try_into()
            .expect("lane inside the vector")
    }
    match p {
        V128Pattern::I8x16(w) => (0..16).all(|i| lane::<1>(&bytes, i)[0] as i8 == w[i]),
        V128Pattern::I16x8(w) => (0..8).all(|i| i16::from_le_bytes(lane(&bytes, i)) == w[i]),
        V128Pattern::I32x4(w) => (0..4).all(|i| i32::from_le_bytes(lane(&bytes, i)) == w[i]),
        V128Pattern::I64x2(w) => (0..2).all(|i| i64::from_le_bytes(lane(&bytes, i)) == w[i]),
        V128Pattern::F32x4(w) => {
            (0..4).all(|i| f32_matches(u32::from_le_bytes(lane(&bytes, i)), &w[i]))
        }
        V128Pattern::F64x2(w) => {
            (0..2).all(|i| f64_matches(u64::from_le_bytes(lane(&bytes, i)), &w[i]))
        }
    }
}

/// Whether a result matches a spec-script expectation (NaN patterns,
/// `v128` lanes, reference kinds, `either`). Shared with the REPL.
pub fn matches_ret(got: &Val, want: &WastRetCore<'_>) -> bool {
    match (got, want) {
        (Val::I32(g), WastRetCore::I32(w)) => g == w,
        (Val::I64(g), WastRetCore::I64(w)) => g == w,
        (Val::F32(g), WastRetCore::F32(p)) => f32_matches(*g, p),
        (Val::F64(g), WastRetCore::F64(p)) => f64_matches(*g, p),
        (Val::V128(g), WastRetCore::V128(p)) => v128_matches(*g, p),
        (Val::FuncRef(g), WastRetCore::RefNull(h)) => {
            g.is_none() && !h.as_ref().is_some_and(is_extern_heap)
        }
        (Val::ExternRef(g), WastRetCore::RefNull(h)) => {
            g.is_none() && h.as_ref().is_none_or(is_extern_heap)
        }
        (Val::ExternRef(g), WastRetCore::RefExtern(None)) => g.is_some(),
        (Val::ExternRef(g), WastRetCore::RefExtern(Some(n))) => {
            *g == Some(wasabi::ExternRef(*n as u64))
        }
        (Val::FuncRef(g), WastRetCore::RefFunc(_)) => g.is_some(),
        (g, WastRetCore::Either(alts)) => alts.iter().any(|w| matches_ret(g, w)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a one-function script returning `result` (a v128 constant
    /// written in the text format) against `expected` (a pattern).
    fn check(result: &str, expected: &str) -> Report {
        let script = format!(
            "(module (func (export \"f\") (result v128) (v128.const {result})))\n\
             (assert_return (invoke \"f\") (v128.const {expected}))"
        );
        run_script(&Engine::default(), "v128.wast", &script).expect("the script parses")
    }

    #[test]
    fn v128_results_are_compared_lane_by_lane_in_every_shape() {
        let same = [
            (
                "i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -1",
                "i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -1",
            ),
            (
                "i16x8 1 2 3 4 5 6 7 -8",
                "i8x16 1 0 2 0 3 0 4 0 5 0 6 0 7 0 -8 -1",
            ),
            ("i32x4 1 2 3 -4", "i16x8 1 0 2 0 3 0 -4 -1"),
            ("i64x2 1 -2", "i32x4 1 0 -2 -1"),
            (
                "f32x4 nan 1 -0 nan:0x600000",
                "f32x4 nan:canonical 1 -0 nan:arithmetic",
            ),
            ("f64x2 -nan:0x8000000000001 0", "f64x2 nan:arithmetic 0"),
        ];
        for (r, e) in same {
            let rep = check(r, e);
            assert_eq!(
                (rep.passed, rep.failures.len()),
                (2, 0),
                "{r} vs {e}: {rep:?}"
            );
        }
        let differ = [
            (
                "i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
                "i8x16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 17",
            ),
            ("i64x2 1 2", "i64x2 2 1"),
            // -0 is not +0
            ("f32x4 0 0 0 -0", "f32x4 0 0 0 0"),
            // an arithmetic NaN that is not canonical, in one lane only
            ("f32x4 1 nan:0x400001 1 1", "f32x4 1 nan:canonical 1 1"),
            // a signalling NaN is not arithmetic
            ("f64x2 0 nan:0x1", "f64x2 0 nan:arithmetic"),
        ];
        for (r, e) in differ {
            let rep = check(r, e);
            assert_eq!(
                (rep.passed, rep.failures.len()),
                (1, 1),
                "{r} vs {e}: {rep:?}"
            );
        }
    }

    #[test]
    fn v128_arguments_reach_the_function_with_all_bits() {
        let script = "(module (func (export \"id\") (param v128) (result v128) (local.get 0)))\n\
            (assert_return (invoke \"id\" (v128.const f32x4 nan:0x1 -0 1 2)) (v128.const i32x4 0x7f800001 0x80000000 0x3f800000 0x40000000))";
        let rep = run_script(&Engine::default(), "arg.wast", script).unwrap();
        assert_eq!((rep.passed, rep.failures.len()), (2, 0), "{rep:?}");
    }
}
