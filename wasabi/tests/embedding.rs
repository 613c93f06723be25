//! The embedding API as a user meets it: the issue's example, host state,
//! re-entrant calls, and every misuse ending in a clean error or a panic
//! with a message.

use wasabi::{
    Caller, Engine, Error, Func, Global, GlobalType, Instance, Linker, Memory, MemoryType, Module,
    Store, TrapCode, Val, ValType,
};

#[test]
fn two_modules_linked_by_name_with_host_state() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::default();
    let math = Module::new(
        &engine,
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#,
    )?;
    let app = Module::new(
        &engine,
        r#"(module
      (import "math" "add" (func $add (param i32 i32) (result i32)))
      (import "host" "log" (func $log (param i32)))
      (func (export "run") (param i32) (result i32)
        (call $log (call $add (local.get 0) (i32.const 1))) (i32.const 7)))"#,
    )?;
    let mut store = Store::new(&engine, Vec::<i32>::new());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "log", |mut caller: Caller<'_, Vec<i32>>, x: i32| {
        caller.data_mut().push(x)
    })?;
    let m = linker.instantiate(&mut store, &math)?;
    linker.instance(&mut store, "math", m)?;
    let inst = linker.instantiate(&mut store, &app)?;
    let run = inst.get_typed_func::<i32, i32>(&mut store, "run")?;
    assert_eq!(run.call(&mut store, 41)?, 7);
    assert_eq!(store.data(), &vec![42]);
    Ok(())
}

/// Runs `f`, which must panic, and returns the panic message.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

const ADD: &str = r#"(module
  (memory (export "memory") 1)
  (global (export "g") (mut i32) (i32.const 5))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

#[test]
fn a_handle_used_with_another_store_panics_with_a_message() {
    let engine = Engine::default();
    let module = Module::new(&engine, ADD).unwrap();
    let mut a = Store::new(&engine, ());
    let inst = Instance::new(&mut a, &module, &[]).unwrap();
    let add = inst.get_func(&mut a, "add").unwrap();
    let mem = inst.get_memory(&mut a, "memory").unwrap();
    let g = inst.get_global(&mut a, "g").unwrap();

    // A second store whose objects sit at the same indices: a raw-index
    // handle would silently use them. It must be refused.
    let mut b = Store::new(&engine, ());
    let _ = Instance::new(&mut b, &module, &[]).unwrap();
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = add.call_vec(&mut b, &[Val::I32(1), Val::I32(2)]);
    }));
    assert!(
        msg.contains("used with a Store it does not belong to"),
        "{msg}"
    );
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = mem.data(&b);
    }));
    assert!(msg.contains("Memory was used with a Store"), "{msg}");
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = g.get(&mut b);
    }));
    assert!(msg.contains("Global was used with a Store"), "{msg}");

    // A handle of a dropped store is refused by any other store.
    let mut c = Store::new(&engine, ());
    let inst_c = Instance::new(&mut c, &module, &[]).unwrap();
    let add_c = inst_c.get_func(&mut c, "add").unwrap();
    drop(c);
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = add_c.call_vec(&mut b, &[Val::I32(1), Val::I32(2)]);
    }));
    assert!(msg.contains("does not belong to"), "{msg}");

    // Importing a foreign store's function is refused too.
    let user = Module::new(
        &engine,
        r#"(module (import "m" "add" (func (param i32 i32) (result i32))))"#,
    )
    .unwrap();
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = Instance::new(&mut b, &user, &[add.into()]);
    }));
    assert!(
        msg.contains("import `m::add` belongs to another Store"),
        "{msg}"
    );
    let mut linker = Linker::new(&engine);
    linker.define("m", "add", add).unwrap();
    let msg = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = linker.instantiate(&mut b, &user);
    }));
    assert!(msg.contains("belongs to another Store"), "{msg}");

    // The right store still works after all that.
    assert_eq!(
        add.call_vec(&mut a, &[Val::I32(1), Val::I32(2)]).unwrap(),
        vec![Val::I32(3)]
    );
}

#[test]
fn wrong_argument_types_are_errors_not_traps() {
    let engine = Engine::default();
    let module = Module::new(&engine, ADD).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let add = inst.get_func(&mut store, "add").unwrap();
    let err = add
        .call_vec(&mut store, &[Val::I32(1), Val::I64(2)])
        .unwrap_err();
    assert!(matches!(err, Error::Type(_)), "{err}");
    assert!(
        err.to_string()
            .contains("expects parameters (i32 i32), given (i32 i64)"),
        "{err}"
    );
    let err = add.call_vec(&mut store, &[Val::I32(1)]).unwrap_err();
    assert!(matches!(err, Error::Type(_)), "{err}");
    let mut one = [Val::I32(0); 2];
    let err = add
        .call(&mut store, &[Val::I32(1), Val::I32(2)], &mut one)
        .unwrap_err();
    assert!(matches!(err, Error::Type(_)), "{err}");

    let err = inst
        .get_typed_func::<(i64, i64), i64>(&mut store, "add")
        .err()
        .expect("wrong static type");
    assert!(matches!(err, Error::Type(_)), "{err}");
    assert!(
        err.to_string()
            .contains("(func (param i32 i32) (result i32))"),
        "{err}"
    );
    assert!(matches!(
        inst.get_typed_func::<(), ()>(&mut store, "nope"),
        Err(Error::NotFound(_))
    ));

    let g = inst.get_global(&mut store, "g").unwrap();
    assert!(matches!(
        g.set(&mut store, Val::I64(1)),
        Err(Error::Type(_))
    ));
    g.set(&mut store, Val::I32(9)).unwrap();
    assert_eq!(g.get(&mut store), Val::I32(9));
    let imm = Global::new(
        &mut store,
        GlobalType {
            content: ValType::I32,
            mutable: false,
        },
        Val::I32(1),
    )
    .unwrap();
    let err = imm.set(&mut store, Val::I32(2)).unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[test]
fn a_missing_or_mistyped_import_names_module_field_and_type() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module (import "env" "f" (func (param i32) (result i64))) (import "env" "mem" (memory 2)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    let Error::Link(link) = &err else {
        panic!("{err}")
    };
    assert_eq!((link.module.as_str(), link.field.as_str()), ("env", "f"));
    assert!(
        err.to_string()
            .contains("unknown import `env::f` (func (param i32) (result i64))"),
        "{err}"
    );
    linker.func_wrap("env", "f", |x: i32| x).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert!(
        err.to_string().contains(
            "import `env::f` has type (func (param i32) (result i64)), but `env::f` is defined as (func (param i32) (result i32))"
        ),
        "{err}"
    );
    let mut linker = Linker::new(&engine);
    linker.func_wrap("env", "f", |x: i32| x as i64).unwrap();
    let small = Memory::new(
        &mut store,
        MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
        },
    )
    .unwrap();
    linker.define("env", "mem", small).unwrap();
    let err = linker.instantiate(&mut store, &module).unwrap_err();
    assert!(
        err.to_string()
            .contains("import `env::mem` has type (memory 2)"),
        "{err}"
    );
    // Defining a name twice is an error unless shadowing is allowed.
    assert!(linker.func_wrap("env", "f", |x: i32| x as i64).is_err());
}

#[test]
fn host_functions_keep_state_read_memory_and_reenter_wasm() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "visit" (func $visit (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello")
          (func (export "fact") (param i32) (result i32)
            (if (result i32) (i32.le_s (local.get 0) (i32.const 1))
              (then (i32.const 1))
              (else (i32.mul (local.get 0) (call $visit (i32.sub (local.get 0) (i32.const 1)) (i32.const 0))))))
          (func (export "greet") (result i32) (call $visit (i32.const 16) (i32.const 5))))"#,
    )
    .unwrap();
    struct State {
        calls: u32,
        seen: Vec<String>,
    }
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap(
            "host",
            "visit",
            |mut caller: Caller<'_, State>, a: i32, len: i32| -> Result<i32, Error> {
                caller.data_mut().calls += 1;
                if len > 0 {
                    // Read a string out of the caller's memory.
                    let mem = caller.get_export("memory").unwrap().into_memory().unwrap();
                    let (bytes, state) = mem.data_and_store_mut(&mut caller);
                    let s = String::from_utf8_lossy(&bytes[a as usize..(a + len) as usize]);
                    state.seen.push(s.into_owned());
                    return Ok(len);
                }
                // Call back into the same instance: recursion through the host.
                let fact = caller.get_export("fact").unwrap().into_func().unwrap();
                let fact = fact.typed::<i32, i32>(&caller)?;
                fact.call(&mut caller, a)
            },
        )
        .unwrap();
    let mut store = Store::new(
        &engine,
        State {
            calls: 0,
            seen: Vec::new(),
        },
    );
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let fact = inst.get_typed_func::<i32, i32>(&mut store, "fact").unwrap();
    assert_eq!(fact.call(&mut store, 6).unwrap(), 720);
    assert_eq!(store.data().calls, 5);
    let greet = inst.get_typed_func::<(), i32>(&mut store, "greet").unwrap();
    assert_eq!(greet.call(&mut store, ()).unwrap(), 5);
    assert_eq!(store.data().seen, vec!["hello".to_string()]);
}

#[test]
fn a_trap_deep_in_reentrant_calls_and_host_errors_are_errors() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (import "host" "fail" (func $fail (param i32)))
          (func (export "bad") (param i32) (call $fail (local.get 0)))
          (func $div (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "fail", |x: i32| -> Result<(), String> {
            Err(format!("the host refuses {x}"))
        })
        .unwrap();
    let mut store = Store::new(&engine, ());
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let bad = inst.get_typed_func::<i32, ()>(&mut store, "bad").unwrap();
    let err = bad.call(&mut store, 3).unwrap_err();
    let trap = err.as_trap().expect("a host error traps");
    assert_eq!(trap.code, TrapCode::HostError);
    assert!(err.to_string().contains("the host refuses 3"), "{err}");
    let div = inst.get_typed_func::<i32, i32>(&mut store, "div").unwrap();
    let err = div.call(&mut store, 0).unwrap_err();
    assert_eq!(err.as_trap().unwrap().code, TrapCode::IntegerDivisionByZero);
    assert_eq!(err.as_trap().unwrap().frames[0].func_name, "div");
    // The store is still usable after traps.
    assert_eq!(div.call(&mut store, 1).unwrap(), 1);
}

#[test]
fn a_reactor_is_initialised_before_its_exports_run() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (global $ready (mut i32) (i32.const 0))
          (func (export "_initialize") (global.set $ready (i32.const 42)))
          (func (export "ready") (result i32) (global.get $ready)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Linker::new(&engine)
        .instantiate(&mut store, &module)
        .unwrap();
    let ready = inst.get_typed_func::<(), i32>(&mut store, "ready").unwrap();
    assert_eq!(ready.call(&mut store, ()).unwrap(), 42);
    // A command (exporting `_start`) is not initialised this way.
    let command = Module::new(
        &engine,
        r#"(module
          (global $ready (mut i32) (i32.const 0))
          (func (export "_initialize") (global.set $ready (i32.const 42)))
          (func (export "_start"))
          (func (export "ready") (result i32) (global.get $ready)))"#,
    )
    .unwrap();
    let inst = Instance::new(&mut store, &command, &[]).unwrap();
    let ready = inst.get_typed_func::<(), i32>(&mut store, "ready").unwrap();
    assert_eq!(ready.call(&mut store, ()).unwrap(), 0);
}

#[test]
fn tables_hold_functions_of_their_store_and_stores_move_between_threads() {
    let engine = Engine::default();
    let module = Module::new(
        &engine,
        r#"(module
          (type $t (func (param i32) (result i32)))
          (import "host" "double" (func $double (type $t)))
          (table (export "table") 2 funcref)
          (func $inc (export "inc") (type $t) (i32.add (local.get 0) (i32.const 1)))
          (func (export "call") (param i32 i32) (result i32)
            (call_indirect (type $t) (local.get 1) (local.get 0))))"#,
    )
    .unwrap();
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "double", |x: i32| x * 2).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = linker.instantiate(&mut store, &module).unwrap();
    let table = inst.get_table(&mut store, "table").unwrap();
    let inc = inst.get_func(&mut store, "inc").unwrap();
    table.set(&mut store, 0, Val::FuncRef(Some(inc))).unwrap();
    // A host function given as a funcref value goes through the same slot.
    let triple = Func::wrap(&mut store, |x: i32| x * 3);
    table.set(&mut store, 1, triple.into()).unwrap();
    assert!(matches!(
        table.set(&mut store, 1, Val::I32(0)),
        Err(Error::Type(_))
    ));
    assert!(table.set(&mut store, 5, Val::FuncRef(None)).is_err());

    // Store<T>: Send when T is: run the calls on another thread.
    let handle = std::thread::spawn(move || {
        let call = inst
            .get_typed_func::<(i32, i32), i32>(&mut store, "call")
            .unwrap();
        let a = call.call(&mut store, (0, 10)).unwrap();
        let b = call.call(&mut store, (1, 10)).unwrap();
        (
            a,
            b,
            table.get(&mut store, 0).and_then(|v| match v {
                Val::FuncRef(f) => f,
                _ => None,
            }) == Some(inc),
        )
    });
    assert_eq!(handle.join().unwrap(), (11, 30, true));
}
