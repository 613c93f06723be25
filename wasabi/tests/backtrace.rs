//! Wasm backtraces: every trap carries the wasm frames it happened under,
//! innermost first, across nested activations (host calls wasm, which calls
//! the host, which calls wasm again). Each test checks the exact sequence of
//! function indices, in regular and lazy mode, through the public API.

use std::sync::{Arc, Mutex};
use wasabi::internals::compiler::LlvmCompiler;
use wasabi::internals::runtime::{CodeGenerator, CompiledModule, ModuleInfo};
use wasabi::{
    Caller, CompileMode, Config, Engine, Error, Instance, Linker, Module, Store, Trap, TrapCode,
    Val,
};

fn engines() -> [Engine; 2] {
    [
        Engine::default(),
        Engine::new(Config::new().mode(CompileMode::Lazy)),
    ]
}

/// Calls export `name` (no parameters) and returns its trap.
fn trap_of(store: &mut Store<()>, inst: Instance, name: &str) -> Trap {
    let f = inst.get_func(&mut *store, name).expect("export");
    let err = f.call_vec(store, &[]).expect_err("a trap");
    err.into_trap().expect("a trap")
}

fn funcs(trap: &Trap) -> Vec<u32> {
    trap.frames.iter().map(|f| f.func_index).collect()
}

fn instance(engine: &Engine, wat: &str, store: &mut Store<()>) -> Instance {
    let m = Module::with_name(engine, wat, "bt").unwrap();
    Instance::new(store, &m, &[]).unwrap()
}

/// `$f1 -> $f2 -> $f3`, with calls both in tail position and not.
const UNREACHABLE: &str = r#"
(module
  (func (export "noop"))
  (func $f1 (export "f1") (call $f2) (drop (i32.const 1)))
  (func $f2 (export "f2") (call $f3))
  (func $f3 unreachable))
"#;

#[test]
fn explicit_trap_lists_every_frame() {
    for engine in engines() {
        let mut store = Store::new(&engine, ());
        let inst = instance(&engine, UNREACHABLE, &mut store);
        let trap = trap_of(&mut store, inst, "f1");
        assert_eq!(trap.code, TrapCode::Unreachable);
        assert_eq!(funcs(&trap), [3, 2, 1], "{:?}", engine.config().mode);
        assert_eq!(trap.frames[0].module, "bt");
        assert_eq!(trap.frames[1].func_name, "f2");
        // Called one level deeper in, one frame less.
        assert_eq!(funcs(&trap_of(&mut store, inst, "f2")), [3, 2]);
        // Printed as peers do: the innermost frame, then the backtrace.
        let shown = trap.to_string();
        assert!(
            shown.starts_with("wasm trap: unreachable, in function bt::f3"),
            "{shown}"
        );
        assert!(
            shown.contains("wasm backtrace:\n    0: bt::f3\n    1: bt::f2\n    2: bt::f1"),
            "{shown}"
        );
    }
}

const FAULT: &str = r#"
(module
  (memory 1)
  (func (export "noop"))
  (func $f1 (export "f1") (result i32) (i32.add (call $f2) (i32.const 1)))
  (func $f2 (result i32) (i32.add (call $f3) (i32.const 1)))
  (func $f3 (result i32) (i32.load (i32.const -16))))
"#;

#[test]
fn a_fault_lists_the_faulting_function_first() {
    for engine in engines() {
        let mut store = Store::new(&engine, ());
        let inst = instance(&engine, FAULT, &mut store);
        let trap = trap_of(&mut store, inst, "f1");
        assert_eq!(trap.code, TrapCode::MemoryOutOfBounds);
        assert_eq!(funcs(&trap), [3, 2, 1], "{:?}", engine.config().mode);
    }
}

const RECURSE: &str = r#"
(module
  (func (export "noop"))
  (func $f1 (export "f1") (call $f2))
  (func $f2 (call $f3))
  (func $f3 (call $f3)))
"#;

#[test]
fn stack_overflow_lists_every_frame() {
    for engine in engines() {
        let small = Engine::new(engine.config().clone().max_wasm_stack(12 << 10));
        let mut store = Store::new(&small, ());
        let inst = instance(&small, RECURSE, &mut store);
        let trap = trap_of(&mut store, inst, "f1");
        assert_eq!(trap.code, TrapCode::StackOverflow);
        assert_eq!(trap.frames_cut, 0, "a 12 KiB stack holds < 1024 frames");
        let f = funcs(&trap);
        let recursion = f.iter().take_while(|&&i| i == 3).count();
        assert!(recursion > 10, "{recursion} recursive frames");
        assert_eq!(f[recursion..], [2, 1], "{:?}", engine.config().mode);
    }
}

#[test]
fn deep_backtraces_are_cut_and_counted_and_do_not_leak_into_the_next_trap() {
    for engine in engines() {
        let mut store = Store::new(&engine, ());
        let inst = instance(&engine, RECURSE, &mut store);
        let trap = trap_of(&mut store, inst, "f1");
        assert_eq!(trap.code, TrapCode::StackOverflow);
        // 4 MiB of small frames: far more than recorded.
        assert!(trap.frames_cut > 10_000, "{} cut", trap.frames_cut);
        assert!(trap.frames.len() > 1000);
        assert!(funcs(&trap).iter().all(|&f| f == 3));
        assert!(trap.to_string().contains("more frames"));
        // The next trap on this thread has exactly its own frames.
        let inst2 = instance(&engine, FAULT, &mut store);
        assert_eq!(funcs(&trap_of(&mut store, inst2, "f1")), [3, 2, 1]);
    }
}

/// `outer: $f1 -> $f2 -> host h`; `h` calls `inner: $f3 -> $f4 -> $f5`,
/// which traps, and then fails itself.
const NESTED: &str = r#"
(module
  (import "host" "h" (func $h))
  (func (export "noop"))
  (func $f1 (export "outer") (call $f2) (drop (i32.const 1)))
  (func $f2 (call $h) (drop (i32.const 2)))
  (func $f3 (export "inner") (call $f4) (drop (i32.const 3)))
  (func $f4 (call $f5) (drop (i32.const 4)))
  (func $f5 unreachable))
"#;

#[test]
fn nested_activations_are_walked_outwards() {
    for engine in engines() {
        let inner_frames = Arc::new(Mutex::new(Vec::new()));
        let seen = inner_frames.clone();
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "h",
                move |mut caller: Caller<'_, ()>| -> Result<(), Error> {
                    let inner = caller.get_export("inner").unwrap().into_func().unwrap();
                    let err = inner.call_vec(&mut caller, &[]).unwrap_err();
                    *seen.lock().unwrap() = funcs(err.as_trap().unwrap());
                    Err(err)
                },
            )
            .unwrap();
        let m = Module::with_name(&engine, NESTED, "bt").unwrap();
        let mut store = Store::new(&engine, ());
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let outer = trap_of(&mut store, inst, "outer");
        let mode = engine.config().mode;
        // Inner: its own frames, then on through the host into the outer
        // activation.
        assert_eq!(
            *inner_frames.lock().unwrap(),
            [6, 5, 4, 3, 2],
            "inner, {mode:?}"
        );
        // Outer: a host error, starting at the host function's wasm caller.
        assert_eq!(outer.code, TrapCode::HostError);
        assert_eq!(funcs(&outer), [3, 2], "outer, {mode:?}");
    }
}

/// A code generator that cannot compile one function.
struct Failing {
    inner: LlvmCompiler,
    fail: u32,
}

impl CodeGenerator for Failing {
    fn compile_module(&self, m: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.inner.compile_module(m, wasm)
    }
    fn compile_function(&self, m: &ModuleInfo, wasm: &[u8], f: u32) -> Result<Vec<u8>, String> {
        if f == self.fail {
            return Err("no code for you".into());
        }
        CodeGenerator::compile_function(&self.inner, m, wasm, f)
    }
    fn compile_trampolines(&self, m: &ModuleInfo) -> Result<Vec<u8>, String> {
        CodeGenerator::compile_trampolines(&self.inner, m)
    }
}

#[test]
fn a_failed_lazy_compilation_starts_at_the_caller() {
    let wasm = wasabi::wat_to_wasm(UNREACHABLE.as_bytes())
        .unwrap()
        .into_owned();
    let info = Arc::new(ModuleInfo::parse(&wasm).unwrap());
    let gen = Failing {
        inner: LlvmCompiler::default(),
        fail: 3,
    };
    let tramps = CodeGenerator::compile_trampolines(&gen, &info).unwrap();
    let m = Module::from_compiled(Arc::new(
        CompiledModule::load_lazy(
            info,
            "bt".into(),
            Arc::from(&wasm[..]),
            Arc::new(gen),
            None,
            &tramps,
        )
        .unwrap(),
    ));
    let mut store = Store::new(&Engine::default(), ());
    let inst = Instance::new(&mut store, &m, &[]).unwrap();
    let trap = trap_of(&mut store, inst, "f1");
    assert_eq!(trap.code, TrapCode::HostError);
    assert_eq!(funcs(&trap), [2, 1], "the callers of the failed function");
}

/// Frame pointers move the host trampoline's spill array: it must still be
/// aligned for the `u128` reads of the dispatcher (a misaligned read is a
/// panic in debug builds, i.e. an abort inside the host call).
const HOST_VALUES: &str = r#"
(module
  (import "host" "add" (func $add (param i32 i64 f64) (result i64)))
  (func (export "run") (result i64)
    (call $add (i32.const 1) (i64.const 2) (f64.const 3))))
"#;

#[test]
fn host_calls_pass_values_through_an_aligned_array() {
    for engine in engines() {
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap("host", "add", |a: i32, b: i64, c: f64| {
                a as i64 + b + c as i64
            })
            .unwrap();
        let m = Module::new(&engine, HOST_VALUES).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = linker.instantiate(&mut store, &m).unwrap();
        let run = inst.get_func(&mut store, "run").unwrap();
        assert_eq!(run.call_vec(&mut store, &[]).unwrap(), vec![Val::I64(6)]);
    }
}
