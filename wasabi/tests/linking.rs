//! Linking modules together through the library: `Linker::
//! instantiate_group` (cycles, the order of creation, an impossible cycle's
//! error), shared memories and tables seen from both sides. What a
//! cross-module call costs is measured by `bench/crosscall/run.py`.

use wasabi::{CompileMode, Config, Engine, Linker, Module, Store};

fn engines() -> Vec<Engine> {
    vec![
        Engine::new(Config::new().cache(false)),
        Engine::new(Config::new().cache(false).mode(CompileMode::Lazy)),
    ]
}

fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wat).expect("valid module")
}

const DOC: &str = r#"(module
  (import "runtime" "create_kernel" (func $create (param i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "handlers") 2 funcref)
  (elem (i32.const 0) $h0 $h1)
  (type $h (func (param i32) (result i32)))
  (func $h0 (param i32) (result i32) (i32.add (local.get 0) (i32.const 1000)))
  (func $h1 (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "call_by_index") (param i32 i32) (result i32)
    (call_indirect (type $h) (local.get 1) (local.get 0)))
  (func (export "run") (result i32) (call $create (i32.const 21))))"#;

const RUNTIME: &str = r#"(module
  (import "doc" "call_by_index" (func $back (param i32 i32) (result i32)))
  (import "doc" "memory" (memory 1))
  (import "doc" "handlers" (table 2 funcref))
  (type $h (func (param i32) (result i32)))
  (global $from_start (export "from_start") (mut i32) (i32.const 0))
  (func $start (global.set $from_start (call $back (i32.const 0) (i32.const 1))))
  (start $start)
  (func (export "create_kernel") (param i32) (result i32)
    ;; Through doc's function, and straight through doc's table.
    (i32.store (i32.const 64) (call $back (i32.const 1) (local.get 0)))
    (call_indirect (type $h) (i32.load (i32.const 64)) (i32.const 1))))"#;

#[test]
fn a_cycle_of_function_imports_links_and_starts_after_linking() {
    for engine in engines() {
        let doc = module(&engine, DOC);
        let runtime = module(&engine, RUNTIME);
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        // The runtime imports doc's memory and table: doc must be created
        // first, whatever order the group is given in.
        let insts = linker
            .instantiate_group(&mut store, &[("runtime", &runtime), ("doc", &doc)])
            .unwrap();
        // The start function called back into doc: h0(1) = 1001.
        let g = insts[0].get_global(&mut store, "from_start").unwrap();
        assert_eq!(g.get(&mut store).i32(), Some(1001));
        let run = insts[1]
            .get_typed_func::<(), i32>(&mut store, "run")
            .unwrap();
        // h1(21) = 42 stored in doc's memory by runtime, then h1(42) = 84.
        assert_eq!(run.call(&mut store, ()).unwrap(), 84);
        // The memory is one: what runtime stored, doc's export shows.
        let mem = insts[1].get_memory(&mut store, "memory").unwrap();
        assert_eq!(&mem.data(&store)[64..68], &42i32.to_le_bytes());
        // Both are defined in the linker now, under their names.
        assert!(linker.defines_module("doc") && linker.defines_module("runtime"));
    }
}

#[test]
fn a_cycle_through_three_modules_and_a_self_import() {
    let engine = Engine::new(Config::new().cache(false));
    let a = module(
        &engine,
        r#"(module (import "c" "f" (func $f (param i32) (result i32)))
             (import "a" "own" (func $own (result i32)))
             (func (export "own") (result i32) (i32.const 5))
             (func (export "g") (param i32) (result i32)
               (i32.add (call $own) (call $f (local.get 0)))))"#,
    );
    let b = module(
        &engine,
        r#"(module (import "a" "g" (func $g (param i32) (result i32)))
             (func (export "h") (param i32) (result i32)
               (if (result i32) (local.get 0)
                 (then (call $g (i32.sub (local.get 0) (i32.const 1))))
                 (else (i32.const 0)))))"#,
    );
    let c = module(
        &engine,
        r#"(module (import "b" "h" (func $h (param i32) (result i32)))
             ;; Re-exports b's h as its own: a's import resolves through it.
             (export "f" (func $h)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let insts = linker
        .instantiate_group(&mut store, &[("a", &a), ("b", &b), ("c", &c)])
        .unwrap();
    let g = insts[0]
        .get_typed_func::<i32, i32>(&mut store, "g")
        .unwrap();
    // g(n) = 5 + h(n) ; h(n) = n ? g(n-1) : 0  => g(3) = 5 * 4
    assert_eq!(g.call(&mut store, 3).unwrap(), 20);
}

#[test]
fn a_cycle_of_global_imports_is_an_error_before_anything_is_created() {
    let engine = Engine::new(Config::new().cache(false));
    let a = module(
        &engine,
        r#"(module (import "b" "gb" (global i32)) (global (export "ga") i32 (i32.const 1)))"#,
    );
    let b = module(
        &engine,
        r#"(module (import "a" "ga" (global i32)) (global (export "gb") i32 (i32.const 2)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker
        .instantiate_group(&mut store, &[("a", &a), ("b", &b)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cycle"), "{err}");
    assert!(err.contains("`a` imports (global i32) `b::gb`"), "{err}");
    assert!(!linker.defines_module("a"));
}

#[test]
fn a_group_import_of_the_wrong_type_or_a_missing_export_is_refused() {
    let engine = Engine::new(Config::new().cache(false));
    let a = module(&engine, r#"(module (import "b" "f" (func (param i64))))"#);
    let b = module(
        &engine,
        r#"(module (import "a" "x" (func)) (func (export "f") (param i32)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker
        .instantiate_group(&mut store, &[("a", &a), ("b", &b)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("b::f"), "{err}");
    assert!(err.contains("i64") && err.contains("i32"), "{err}");
    let a = module(&engine, r#"(module (import "b" "f" (func (param i32))))"#);
    let err = linker
        .instantiate_group(&mut store, &[("a", &a), ("b", &b)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("module `a` exports no `x`"), "{err}");
}

#[test]
fn a_function_re_exported_around_a_cycle_is_defined_by_nobody() {
    let engine = Engine::new(Config::new().cache(false));
    let a = module(
        &engine,
        r#"(module (import "b" "f" (func $f)) (export "f" (func $f)))"#,
    );
    let b = module(
        &engine,
        r#"(module (import "a" "f" (func $f)) (export "f" (func $f)))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker
        .instantiate_group(&mut store, &[("a", &a), ("b", &b)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("re-exported around a cycle"), "{err}");
}

#[test]
fn a_module_linked_by_name_shares_memory_and_table_without_copies() {
    for engine in engines() {
        let lib = module(
            &engine,
            r#"(module (memory (export "memory") 1)
                 (table (export "table") 1 funcref) (elem (i32.const 0) $seven)
                 (type $t (func (result i32)))
                 (func $seven (result i32) (i32.const 7))
                 (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
                 (func (export "call0") (result i32) (call_indirect (type $t) (i32.const 0))))"#,
        );
        let app = module(
            &engine,
            r#"(module (import "lib" "memory" (memory 1))
                 (import "lib" "table" (table 1 funcref))
                 (import "lib" "peek" (func $peek (param i32) (result i32)))
                 (import "lib" "call0" (func $call0 (result i32)))
                 (type $t (func (result i32)))
                 (func $nine (result i32) (i32.const 9))
                 (elem declare func $nine)
                 (func (export "go") (result i32)
                   (i32.store (i32.const 8) (i32.const 1234))
                   ;; lib's table entry, called from here:
                   (i32.add (call_indirect (type $t) (i32.const 0))
                     ;; our function put in lib's table, called by lib:
                     (block (result i32)
                       (table.set (i32.const 0) (ref.func $nine))
                       (i32.mul (call $call0) (call $peek (i32.const 8)))))))"#,
        );
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new(&engine);
        let lib_inst = linker.module(&mut store, "lib", &lib).unwrap();
        let inst = linker.instantiate(&mut store, &app).unwrap();
        let go = inst.get_typed_func::<(), i32>(&mut store, "go").unwrap();
        assert_eq!(go.call(&mut store, ()).unwrap(), 7 + 9 * 1234);
        let mem = lib_inst.get_memory(&mut store, "memory").unwrap();
        assert_eq!(&mem.data(&store)[8..12], &1234i32.to_le_bytes());
    }
}

#[test]
fn a_lazy_import_slot_follows_its_function_and_not_a_replaced_one() {
    let engine = Engine::new(Config::new().cache(false).mode(CompileMode::Lazy));
    let lib = module(
        &engine,
        r#"(module (func $f (export "f") (result i32) i32.const 1)
             (func (export "call_f") (result i32) call $f))"#,
    );
    let other = module(
        &engine,
        r#"(module (func (export "g") (result i32) i32.const 2))"#,
    );
    let app = module(
        &engine,
        r#"(module (import "lib" "f" (func $f (result i32)))
             (func (export "go") (result i32) call $f))"#,
    );
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let lib1 = linker.module(&mut store, "lib", &lib).unwrap();
    // app's import slot holds f's thunk (f is not compiled yet), so it is
    // registered for f's code.
    let app = linker.instantiate(&mut store, &app).unwrap();
    let other = Linker::new(&engine)
        .instantiate(&mut store, &other)
        .unwrap();
    let f = lib1.get_func(&mut store, "f").unwrap();
    let g = other.get_func(&mut store, "g").unwrap();
    wasabi::replace_func(&mut store, f, g).unwrap();
    // Another instance of lib compiles f: its code must not land in app's
    // slot, which now denotes g.
    let lib2 = Linker::new(&engine).instantiate(&mut store, &lib).unwrap();
    let call_f = lib2
        .get_typed_func::<(), i32>(&mut store, "call_f")
        .unwrap();
    assert_eq!(call_f.call(&mut store, ()).unwrap(), 1);
    let go = app.get_typed_func::<(), i32>(&mut store, "go").unwrap();
    assert_eq!(go.call(&mut store, ()).unwrap(), 2);
}
