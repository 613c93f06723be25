//! Wasm backtraces: every trap records the wasm frames it happened under,
//! innermost first, across nested activations (host calls wasm, which calls
//! the host, which calls wasm again). Each test checks the exact sequence of
//! function indices, in regular and lazy mode.
//!
//! The embedding API does not expose backtraces yet, so wasm is called here
//! the way `Store::call` does it, but through `traps::catch_traps` directly,
//! to see the `RawTrap`.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wasabi::{
    CodeGenerator, CompileMode, CompiledModule, CompilerConfig, Engine, Extern, Func, FuncType,
    LlvmCompiler, ModuleInfo, Store, StoreConfig, TrapCode,
};
use wasabi_runtime::instance::Instance;
use wasabi_runtime::traps::{self, RawTrap, MAX_BACKTRACE};

fn engines() -> [Engine; 2] {
    [
        Engine::new(CompilerConfig::default()),
        Engine::new(CompilerConfig::default()).with_mode(CompileMode::Lazy),
    ]
}

/// Calls export `name` (no parameters) of `inst` under `catch_traps`.
fn raw_call(inst: &Instance, name: &str) -> Result<(), RawTrap> {
    let Some(Extern::Func(Func::Wasm { funcref, ty })) = inst.get_export(name) else {
        panic!("no exported wasm function {name}");
    };
    assert!(ty.params.is_empty());
    let info = &inst.module.info;
    let t = info.functions[info.export(name).unwrap().index as usize];
    let entry: unsafe extern "C" fn(*mut u8, *mut u8, *mut u128) =
        unsafe { std::mem::transmute(inst.module.entry_trampoline(t)) };
    let fr = unsafe { &*funcref };
    let (code, vmctx) = (fr.code.load(Ordering::Acquire), fr.vmctx);
    let mut values = vec![0u128; ty.results.len().max(1)];
    let values = values.as_mut_ptr();
    traps::catch_traps(|| unsafe { entry(vmctx, code, values) })
}

/// The function index of each backtrace entry, skipping trampolines.
fn funcs(m: &CompiledModule, trap: &RawTrap) -> Vec<u32> {
    trap.backtrace
        .iter()
        .filter_map(|&pc| m.func_at_pc(pc))
        .collect()
}

/// Instantiates `wat` and calls `noop` once through `Store::call`, which
/// sets the store's stack limit for the raw calls that follow.
fn setup(
    engine: &Engine,
    wat: &str,
    config: StoreConfig,
    imports: &[Extern],
) -> (Store, Arc<CompiledModule>, wasabi::InstanceHandle) {
    let m = engine.compile(wat.as_bytes(), "bt").unwrap();
    let mut store = Store::new(config);
    let inst = store.instantiate(&m, imports).unwrap();
    store.call(&inst.get_func("noop").unwrap(), &[]).unwrap();
    (store, m, inst)
}

/// `$f0 -> $f1 -> $f2`, with calls both in tail position and not.
const UNREACHABLE: &str = r#"
(module
  (func (export "noop"))
  (func $f1 (export "f1") (call $f2) (drop (i32.const 1)))
  (func $f2 (export "f2") (call $f3))
  (func $f3 unreachable))
"#;

#[test]
fn explicit_trap_lists_the_callers() {
    for engine in engines() {
        let (_store, m, inst) = setup(&engine, UNREACHABLE, StoreConfig::default(), &[]);
        let trap = raw_call(&inst, "f1").unwrap_err();
        assert_eq!(trap.code, TrapCode::Unreachable);
        assert_eq!(trap.func_index, Some(3), "the trapping function");
        assert_eq!(funcs(&m, &trap), [2, 1], "{:?} mode", engine.mode);
        assert_eq!(trap.backtrace_cut, 0);
        // Called one level deeper in, one frame less.
        let trap = raw_call(&inst, "f2").unwrap_err();
        assert_eq!(funcs(&m, &trap), [2]);
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
fn fault_lists_the_faulting_function_first() {
    for engine in engines() {
        let (_store, m, inst) = setup(&engine, FAULT, StoreConfig::default(), &[]);
        let trap = raw_call(&inst, "f1").unwrap_err();
        assert_eq!(trap.code, TrapCode::MemoryOutOfBounds);
        assert_eq!(trap.func_index, None);
        assert_eq!(
            trap.backtrace.first().copied(),
            trap.pc,
            "faulting pc first"
        );
        assert_eq!(funcs(&m, &trap), [3, 2, 1], "{:?} mode", engine.mode);
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
        let config = StoreConfig {
            max_wasm_stack: 12 << 10,
        };
        let (_store, m, inst) = setup(&engine, RECURSE, config, &[]);
        let trap = raw_call(&inst, "f1").unwrap_err();
        assert_eq!(trap.code, TrapCode::StackOverflow);
        assert_eq!(trap.func_index, Some(3));
        assert_eq!(trap.backtrace_cut, 0, "a 12 KiB stack holds < 1024 frames");
        let f = funcs(&m, &trap);
        let recursion = f.iter().take_while(|&&i| i == 3).count();
        assert!(recursion > 10, "{recursion} recursive frames");
        assert_eq!(f[recursion..], [2, 1], "{:?} mode", engine.mode);
    }
}

#[test]
fn deep_backtraces_are_cut_and_counted() {
    for engine in engines() {
        let (_store, m, inst) = setup(&engine, RECURSE, StoreConfig::default(), &[]);
        let trap = raw_call(&inst, "f1").unwrap_err();
        assert_eq!(trap.code, TrapCode::StackOverflow);
        assert_eq!(trap.backtrace.len(), MAX_BACKTRACE);
        // 4 MiB of 16-byte or larger frames: far more than recorded.
        assert!(trap.backtrace_cut > 10_000, "{} cut", trap.backtrace_cut);
        assert!(funcs(&m, &trap).iter().all(|&f| f == 3));
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

thread_local! {
    static INNER: RefCell<Option<RawTrap>> = const { RefCell::new(None) };
}

#[test]
fn nested_activations_are_walked_outwards() {
    for engine in engines() {
        let h = Func::host(FuncType::new(vec![], vec![]), |caller, _, _| {
            let inst = caller.instance().expect("called from wasm");
            let trap = raw_call(inst, "inner").unwrap_err();
            INNER.with(|i| *i.borrow_mut() = Some(trap));
            Err("inner call trapped".into())
        });
        let (_store, m, inst) = setup(&engine, NESTED, StoreConfig::default(), &[Extern::Func(h)]);
        let outer = raw_call(&inst, "outer").unwrap_err();
        let inner = INNER.with(|i| i.borrow_mut().take()).expect("h ran");
        let mode = engine.mode;

        assert_eq!(inner.code, TrapCode::Unreachable);
        assert_eq!(inner.func_index, Some(6));
        assert_eq!(funcs(&m, &inner), [5, 4, 3, 2], "inner, {mode:?} mode");

        assert_eq!(outer.code, TrapCode::HostError);
        assert_eq!(outer.func_index, None);
        assert_eq!(funcs(&m, &outer), [3, 2], "outer, {mode:?} mode");
        assert_eq!(
            m.func_at_pc(outer.backtrace[0]),
            Some(3),
            "a host error starts at the host function's wasm caller"
        );
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
fn failed_lazy_compilation_starts_at_the_caller() {
    let wasm = wat::parse_str(UNREACHABLE).unwrap();
    let info = Arc::new(ModuleInfo::parse(&wasm).unwrap());
    let gen = Failing {
        inner: LlvmCompiler::default(),
        fail: 3,
    };
    let tramps = CodeGenerator::compile_trampolines(&gen, &info).unwrap();
    let m = Arc::new(
        CompiledModule::load_lazy(
            info,
            "bt".into(),
            Arc::from(&wasm[..]),
            Arc::new(gen),
            &tramps,
        )
        .unwrap(),
    );
    let mut store = Store::default();
    let inst = store.instantiate(&m, &[]).unwrap();
    store.call(&inst.get_func("noop").unwrap(), &[]).unwrap();
    let trap = raw_call(&inst, "f1").unwrap_err();
    assert_eq!(trap.code, TrapCode::HostError);
    assert_eq!(
        funcs(&m, &trap),
        [2, 1],
        "the caller of the failed function"
    );
}

#[test]
fn each_trap_records_only_its_own_frames() {
    for engine in engines() {
        let (_store, m, inst) = setup(&engine, RECURSE, StoreConfig::default(), &[]);
        let deep = raw_call(&inst, "f1").unwrap_err();
        assert_eq!(deep.backtrace.len(), MAX_BACKTRACE);
        let (_store2, m2, inst2) = setup(&engine, FAULT, StoreConfig::default(), &[]);
        let trap = raw_call(&inst2, "f1").unwrap_err();
        // The faulting pc, f2, f1 and the entry trampoline f1 returns to.
        assert_eq!(trap.backtrace.len(), 4, "{:?} mode", engine.mode);
        assert_eq!(trap.backtrace_cut, 0);
        assert_eq!(funcs(&m2, &trap), [3, 2, 1]);
        drop(m);
    }
}

/// Frame pointers move the host trampoline's spill array: it must still be
/// aligned for the `u128` reads of the dispatcher (a misaligned read is a
/// panic in debug builds, i.e. an abort inside the host call).
const HOST_VALUES: &str = r#"
(module
  (import "host" "add" (func $add (param i32 i64 f64) (result i64)))
  (func (export "noop"))
  (func (export "run") (result i64)
    (call $add (i32.const 1) (i64.const 2) (f64.const 3))))
"#;

#[test]
fn host_calls_pass_values_through_an_aligned_array() {
    use wasabi::{Val, ValType};
    for engine in engines() {
        let ty = FuncType::new(
            vec![ValType::I32, ValType::I64, ValType::F64],
            vec![ValType::I64],
        );
        let add = Func::host(ty, |_, args, results| {
            let (Val::I32(a), Val::I64(b), Val::F64(c)) = (&args[0], &args[1], &args[2]) else {
                panic!("argument types");
            };
            results[0] = Val::I64(*a as i64 + b + f64::from_bits(*c) as i64);
            Ok(())
        });
        let (mut store, _m, inst) = setup(
            &engine,
            HOST_VALUES,
            StoreConfig::default(),
            &[Extern::Func(add)],
        );
        let run = inst.get_func("run").unwrap();
        assert_eq!(store.call(&run, &[]).unwrap(), vec![Val::I64(6)]);
    }
}
