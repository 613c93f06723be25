//! Lazy compilation: what is compiled when, calls of every shape through
//! the resolver, traps and compile failures, and several threads racing to
//! compile the same function.

use std::sync::Arc;
use wasabi::internals::compiler::LlvmCompiler;
use wasabi::internals::runtime::{CodeGenerator, CompiledModule, ModuleInfo};
use wasabi::{CompileMode, Config, Engine, Extern, Instance, Module, Store, Val};

fn lazy() -> Engine {
    Engine::new(Config::new().mode(CompileMode::Lazy))
}

fn compiled(m: &Module) -> usize {
    m.lazy_stats().expect("lazy module").compiled
}

const THREE: &str = r#"
(module
  (func $main (export "main") (result i32) (call $used))
  (func $used (result i32) (i32.const 42))
  (func $unused (export "unused") (result i32) (i32.const 7)))
"#;

#[test]
fn only_called_functions_are_compiled() {
    let m = compile(&lazy(), THREE.as_bytes(), "three").unwrap();
    assert_eq!(m.lazy_stats().unwrap().total, 3);
    assert_eq!(compiled(&m), 0, "nothing is compiled before the first call");
    let mut store = Store::default();
    let inst = Instance::new(&mut store, &m, &[]).unwrap();
    assert_eq!(compiled(&m), 0, "instantiation compiles nothing");
    let main = inst.get_func(&mut store, "main").unwrap();
    assert_eq!(main.call_vec(&mut store, &[]).unwrap(), vec![Val::I32(42)]);
    assert_eq!(compiled(&m), 2, "main and the function it calls");
    assert!(
        m.compiled().lazy_ready_at(2).is_none(),
        "the uncalled function is never compiled"
    );
    assert_eq!(main.call_vec(&mut store, &[]).unwrap(), vec![Val::I32(42)]);
    assert_eq!(compiled(&m), 2, "a second call compiles nothing");

    // A second instance gets the compiled code straight away.
    let inst2 = Instance::new(&mut store, &m, &[]).unwrap();
    assert_eq!(
        inst2
            .get_func(&mut store, "main")
            .unwrap()
            .call_vec(&mut store, &[])
            .unwrap(),
        vec![Val::I32(42)]
    );
    assert_eq!(compiled(&m), 2);
    assert_eq!(
        inst2
            .get_func(&mut store, "unused")
            .unwrap()
            .call_vec(&mut store, &[])
            .unwrap(),
        vec![Val::I32(7)]
    );
    assert_eq!(compiled(&m), 3);
    // ... and the first instance sees that compilation too.
    assert_eq!(
        inst.get_func(&mut store, "unused")
            .unwrap()
            .call_vec(&mut store, &[])
            .unwrap(),
        vec![Val::I32(7)]
    );
    assert_eq!(compiled(&m), 3);
}

/// Many parameters (some on the stack), floats and multi-value
/// results (an sret pointer), through direct calls, call_indirect and from
/// the host: the resolver must pass all of them through untouched.
const SHAPES: &str = r#"
(module
  (type $big (func (param i64 i32 i64 i32 i64 i32 i64 i32 f64 f32 f64 f32 f64 f32 f64 f32 f64 f32 i64 i64)
                   (result i64 f64 i32 f32 i64 i64 i64 i64 i64 i32)))
  (table funcref (elem $big))
  (func $big (export "big") (type $big)
    ;; weighted sums so a shuffled argument changes the result
    (i64.add (i64.add (local.get 0) (i64.mul (local.get 2) (i64.const 3)))
             (i64.add (i64.mul (local.get 4) (i64.const 5)) (i64.mul (local.get 6) (i64.const 7))))
    (f64.add (f64.add (local.get 8) (f64.mul (local.get 10) (f64.const 3)))
             (f64.add (f64.mul (local.get 12) (f64.const 5)) (f64.add (f64.mul (local.get 14) (f64.const 7))
                                                                   (f64.mul (local.get 16) (f64.const 11)))))
    (i32.add (i32.add (local.get 1) (i32.mul (local.get 3) (i32.const 3)))
             (i32.add (i32.mul (local.get 5) (i32.const 5)) (i32.mul (local.get 7) (i32.const 7))))
    (f32.add (f32.add (local.get 9) (f32.mul (local.get 11) (f32.const 3)))
             (f32.add (f32.mul (local.get 13) (f32.const 5)) (f32.add (f32.mul (local.get 15) (f32.const 7))
                                                                   (f32.mul (local.get 17) (f32.const 11)))))
    (local.get 18)
    (local.get 19)
    ;; more integer results than return registers: an sret pointer
    (local.get 0) (local.get 2) (local.get 4) (local.get 7))
  (func $args (param $k i32) (result i64 f64 i32 f32 i64 i64 i64 i64 i64 i32)
    (i64.const 1) (i32.const 2) (i64.const 3) (i32.const 4) (i64.const 5) (i32.const 6) (i64.const 7) (i32.const 8)
    (f64.const 1.5) (f32.const 2.5) (f64.const 3.5) (f32.const 4.5) (f64.const 5.5) (f32.const 6.5)
    (f64.const 7.5) (f32.const 8.5) (f64.const 9.5) (f32.const 10.5)
    (i64.const 100) (i64.const 200)
    (if (param i64 i32 i64 i32 i64 i32 i64 i32 f64 f32 f64 f32 f64 f32 f64 f32 f64 f32 i64 i64)
        (result i64 f64 i32 f32 i64 i64 i64 i64 i64 i32) (local.get $k)
      (then (call_indirect (type $big) (i32.const 0)))
      (else (call $big))))
  (func (export "direct") (result i64 f64 i32 f32 i64 i64 i64 i64 i64 i32) (call $args (i32.const 0)))
  (func (export "indirect") (result i64 f64 i32 f32 i64 i64 i64 i64 i64 i32) (call $args (i32.const 1))))
"#;

#[test]
fn every_call_shape_passes_through_the_resolver() {
    let expect = vec![
        Val::I64(1 + 9 + 25 + 49),
        Val::F64((1.5f64 + 10.5 + 27.5 + 52.5 + 104.5).to_bits()),
        Val::I32(2 + 12 + 30 + 56),
        Val::F32((2.5f32 + 13.5 + 32.5 + 59.5 + 115.5).to_bits()),
        Val::I64(100),
        Val::I64(200),
        Val::I64(1),
        Val::I64(3),
        Val::I64(5),
        Val::I32(8),
    ];
    for (export, first) in [("direct", true), ("indirect", true), ("direct", false)] {
        // `first`: a fresh module, so `$big` is compiled by this very call.
        let m = compile(&lazy(), SHAPES.as_bytes(), "shapes").unwrap();
        let mut store = Store::default();
        let inst = Instance::new(&mut store, &m, &[]).unwrap();
        if !first {
            inst.get_func(&mut store, "indirect")
                .unwrap()
                .call_vec(&mut store, &[])
                .unwrap();
        }
        let r = inst
            .get_func(&mut store, export)
            .unwrap()
            .call_vec(&mut store, &[])
            .unwrap();
        assert_eq!(r, expect, "{export} (first call: {first})");
    }
    // From the host, straight into the thunk.
    let m = compile(&lazy(), SHAPES.as_bytes(), "shapes").unwrap();
    let mut store = Store::default();
    let inst = Instance::new(&mut store, &m, &[]).unwrap();
    let mut args: Vec<Val> = Vec::new();
    for i in 0..4 {
        args.push(Val::I64(2 * i + 1));
        args.push(Val::I32(2 * i as i32 + 2));
    }
    for i in 0..5 {
        args.push(Val::F64((1.5 + 2.0 * i as f64).to_bits()));
        args.push(Val::F32((2.5 + 2.0 * i as f32).to_bits()));
    }
    args.push(Val::I64(100));
    args.push(Val::I64(200));
    let r = inst
        .get_func(&mut store, "big")
        .unwrap()
        .call_vec(&mut store, &args)
        .unwrap();
    assert_eq!(r, expect);
    assert_eq!(compiled(&m), 1);
}

#[test]
fn traps_name_the_function_as_in_regular_mode() {
    let wat = r#"
    (module
      (memory 1)
      (func $explicit (export "explicit") (unreachable))
      (func $fault (export "fault") (result i32) (i32.load (i32.const 70000)))
      (func $deep (export "deep") (param i32) (result i32)
        (if (result i32) (local.get 0)
          (then (call $deep (i32.sub (local.get 0) (i32.const 1))))
          (else (call $fault)))))
    "#;
    let run = |engine: Engine, export: &str, arg: Option<i32>| {
        let m = compile(&engine, wat.as_bytes(), "traps").unwrap();
        let mut store = Store::default();
        let inst = Instance::new(&mut store, &m, &[]).unwrap();
        let args: Vec<Val> = arg.into_iter().map(Val::I32).collect();
        inst.get_func(&mut store, export)
            .unwrap()
            .call_vec(&mut store, &args)
            .unwrap_err()
            .to_string()
    };
    for (export, arg) in [("explicit", None), ("fault", None), ("deep", Some(1000))] {
        let regular = run(Engine::default(), export, arg);
        let lazy = run(lazy(), export, arg);
        assert!(regular.contains("in function traps::"), "{regular}");
        assert_eq!(lazy, regular, "{export}");
    }
}

/// Delegates to LLVM but fails (or panics) for one function.
struct Failing {
    inner: LlvmCompiler,
    fail: u32,
    panic: bool,
}

impl CodeGenerator for Failing {
    fn compile_module(&self, m: &ModuleInfo, wasm: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.inner.compile_module(m, wasm)
    }
    fn compile_function(&self, m: &ModuleInfo, wasm: &[u8], f: u32) -> Result<Vec<u8>, String> {
        if f == self.fail {
            if self.panic {
                panic!("generator bug");
            }
            return Err("no code for you".into());
        }
        CodeGenerator::compile_function(&self.inner, m, wasm, f)
    }
    fn compile_trampolines(&self, m: &ModuleInfo) -> Result<Vec<u8>, String> {
        CodeGenerator::compile_trampolines(&self.inner, m)
    }
}

#[test]
fn a_compile_failure_is_a_trap() {
    let wasm = wasabi::wat_to_wasm(THREE.as_bytes()).unwrap().into_owned();
    for panic in [false, true] {
        let info = Arc::new(ModuleInfo::parse(&wasm).unwrap());
        let gen = Failing {
            inner: LlvmCompiler::default(),
            fail: 1,
            panic,
        };
        let tramps = CodeGenerator::compile_trampolines(&gen, &info).unwrap();
        let m = Module::from_compiled(Arc::new(
            CompiledModule::load_lazy(
                info,
                "three".into(),
                Arc::from(&wasm[..]),
                Arc::new(gen),
                None,
                &tramps,
            )
            .unwrap(),
        ));
        let mut store = Store::default();
        let inst = Instance::new(&mut store, &m, &[]).unwrap();
        let main = inst.get_func(&mut store, "main").unwrap();
        for _ in 0..2 {
            let err = main.call_vec(&mut store, &[]).unwrap_err();
            let trap = err.as_trap().expect("a trap");
            assert_eq!(trap.code, wasabi::TrapCode::HostError);
            let msg = trap.to_string();
            assert!(msg.contains("lazy compilation of three::"), "{msg}");
            let why = if panic {
                "generator bug"
            } else {
                "no code for you"
            };
            assert!(msg.contains(why), "{msg}");
        }
        // The other functions still work.
        assert_eq!(
            inst.get_func(&mut store, "unused")
                .unwrap()
                .call_vec(&mut store, &[])
                .unwrap(),
            vec![Val::I32(7)]
        );
    }
}

#[test]
fn imported_lazy_functions_work_before_and_after_compilation() {
    let a = compile(&lazy(), br#"(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))"#, "a").unwrap();
    let b = compile(&lazy(),
            br#"(module (import "a" "f" (func $f (param i32) (result i32)))
                  (func (export "g") (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1))))"#,
            "b",
        )
        .unwrap();
    let mut store = Store::default();
    let ia = Instance::new(&mut store, &a, &[]).unwrap();
    // b copies a's funcref while `f` is still a thunk.
    let f = ia.get_func(&mut store, "f").unwrap();
    let ib = Instance::new(&mut store, &b, &[Extern::Func(f)]).unwrap();
    let g = ib.get_func(&mut store, "g").unwrap();
    for x in 0..3 {
        assert_eq!(
            g.call_vec(&mut store, &[Val::I32(x)]).unwrap(),
            vec![Val::I32(3 * x + 1)]
        );
    }
    assert_eq!(compiled(&a), 1);
    assert_eq!(compiled(&b), 1);
    // A later importer copies the compiled code.
    let ib2 = Instance::new(&mut store, &b, &[Extern::Func(f)]).unwrap();
    assert_eq!(
        ib2.get_func(&mut store, "g")
            .unwrap()
            .call_vec(&mut store, &[Val::I32(5)])
            .unwrap(),
        vec![Val::I32(16)]
    );
    assert_eq!(compiled(&b), 1);
}

#[test]
fn threads_racing_on_a_first_call_compile_once() {
    let wat = r#"
    (module
      (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func (export "start") (param i32) (result i32) (call $fib (local.get 0))))
    "#;
    for _ in 0..5 {
        let m = compile(&lazy(), wat.as_bytes(), "fib").unwrap();
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut store = Store::default();
                    let inst = Instance::new(&mut store, &m, &[]).unwrap();
                    let start = inst.get_func(&mut store, "start").unwrap();
                    barrier.wait();
                    assert_eq!(
                        start.call_vec(&mut store, &[Val::I32(20)]).unwrap(),
                        vec![Val::I32(6765)]
                    );
                });
            }
        });
        assert_eq!(
            compiled(&m),
            2,
            "each function compiled once, whatever the interleaving"
        );
    }
}

fn compile(engine: &Engine, bytes: &[u8], name: &str) -> wasabi::Result<Module> {
    Module::with_name(engine, bytes, name)
}

/// The object of one small lazily compiled function (`THREE`'s function 1).
fn small_object() -> Vec<u8> {
    let wasm = wasabi::wat_to_wasm(THREE.as_bytes()).unwrap().into_owned();
    let info = ModuleInfo::parse(&wasm).unwrap();
    let gen = LlvmCompiler::default();
    CodeGenerator::compile_function(&gen, &info, &wasm, 1).unwrap()
}

/// Objects loaded one by one into mappings of their own (lazily compiled
/// functions where the kernel gives no code arena) must not all start
/// their code at the same offset of a page:
/// there the first bytes of every function share the same sets of the
/// instruction cache (and of the branch predictors), and a program of many
/// small functions ran 1.3x slower per function than the same code laid
/// out side by side (manyfuncs in tiered mode).
#[test]
fn functions_loaded_one_by_one_start_at_different_cache_lines() {
    use wasabi::internals::runtime::loader::load_object;
    use wasabi::internals::runtime::vmcontext::symbols;
    let object = small_object();
    let offsets: std::collections::HashSet<usize> = (0..8)
        .map(|_| {
            let loaded = load_object(&object).unwrap();
            let code = loaded.symbol(&symbols::func(1)).unwrap();
            (code % 4096) / 64
        })
        .collect();
    // (Other tests load code meanwhile, so two loads here may still meet.)
    assert!(
        offsets.len() >= 5,
        "8 loads of one function started at only {} different cache lines of a page",
        offsets.len()
    );
}

/// Lazy and tiered mode load every object into the module's code arena,
/// side by side: one mapping (and at least three pages) per object spread
/// a program's hot functions one per page, and manyfuncs' optimised code
/// ran ~30 % slower that way than the same machine code in one object.
#[test]
fn objects_in_a_code_arena_are_packed_side_by_side() {
    use wasabi::internals::runtime::code_arena::CodeArena;
    use wasabi::internals::runtime::vmcontext::symbols;
    let object = small_object();
    let arena = CodeArena::new();
    let loaded: Vec<_> = (0..16)
        .map(|_| arena.load_object(&object).unwrap())
        .collect();
    let code: Vec<usize> = loaded
        .iter()
        .map(|l| l.symbol(&symbols::func(1)).unwrap())
        .collect();
    assert!(
        code.windows(2).all(|w| w[0] < w[1]),
        "objects laid out in the order loaded: {code:x?}"
    );
    assert!(
        code.iter().all(|c| c % 64 == 0),
        "each object starts a cache line: {code:x?}"
    );
    let pages: std::collections::HashSet<usize> = code.iter().map(|c| c / 4096).collect();
    assert!(
        pages.len() <= 4,
        "16 small objects spread over {} pages",
        pages.len()
    );
}

/// The arena's code is never writable where it runs, and no writable view
/// of it exists in the process (bytes reach it through its file); an
/// object keeps its chunk mapped after the arena is gone.
#[test]
fn code_arena_is_never_writable_and_outlives_its_arena() {
    use wasabi::internals::runtime::code_arena::CodeArena;
    use wasabi::internals::runtime::vmcontext::symbols;
    let object = small_object();
    let arena = CodeArena::new();
    let loaded = arena.load_object(&object).unwrap();
    let code = loaded.symbol(&symbols::func(1)).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut found = false;
    for line in maps.lines().filter(|l| l.contains("memfd:wasabi-code")) {
        let mut fields = line.split_whitespace();
        let range = fields.next().unwrap();
        let perms = fields.next().unwrap();
        assert!(!perms.contains('w'), "a writable view of code: {line}");
        let (lo, hi) = range.split_once('-').unwrap();
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).unwrap(),
            usize::from_str_radix(hi, 16).unwrap(),
        );
        if (lo..hi).contains(&code) {
            assert_eq!(perms, "r-xs", "the code's mapping: {line}");
            found = true;
        }
    }
    assert!(
        found,
        "no arena mapping holds the code at {code:#x}:\n{maps}"
    );
    // SAFETY (test): `code` is in a read+execute mapping `loaded` keeps.
    let first = unsafe { std::ptr::read_volatile(code as *const u8) };
    drop(arena);
    // SAFETY (test): as above; the arena is gone, `loaded` is not.
    let again = unsafe { std::ptr::read_volatile(code as *const u8) };
    assert_eq!(first, again);
    assert!(
        first != 0,
        "the function's first byte was written: {first:#x}"
    );
}
