//! Wasabi's own ABI (`wasabi` imports) driven from small text-format
//! guests: loading, placing functions in the caller's table, calls both
//! ways, copying between memories, and every failure path returning its
//! code and message without trapping the caller.

use wasabi::{Engine, Instance, Linker, Module, Store, TrapCode};
use wasabi_abi::wasabi_ext::{
    ERR_BOUNDS, ERR_HANDLE, ERR_INVALID, ERR_LINK, ERR_NOT_FOUND, ERR_TRAP,
};
use wasabi_abi::{Host, WasiCtx};

/// The caller: imports the whole ABI, exports its memory, a growable table
/// and a function the plugin calls back (`twice`), and `call_i32`, which
/// calls table entry `i` as `(i32) -> i32`, and `call_f64`, as `(f64) -> f64`.
const CALLER: &str = r#"(module
  (import "wasabi" "module_load" (func $load (param i32 i32) (result i32)))
  (import "wasabi" "module_func" (func $func (param i32 i32 i32) (result i32)))
  (import "wasabi" "memory_copy" (func $copy (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasabi" "last_error" (func $err (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table (export "__indirect_function_table") 1 funcref)
  (type $i2i (func (param i32) (result i32)))
  (type $f2f (func (param f64) (result f64)))
  (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "load") (param i32 i32) (result i32) (call $load (local.get 0) (local.get 1)))
  (func (export "func") (param i32 i32 i32) (result i32)
    (call $func (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32 i32 i32) (result i32)
    (call $copy (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "err") (param i32 i32) (result i32) (call $err (local.get 0) (local.get 1)))
  (func (export "call_i32") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 1) (local.get 0)))
  (func (export "call_f64") (param i32 f64) (result f64)
    (call_indirect (type $f2f) (local.get 1) (local.get 0))))"#;

/// A plugin: its own memory holding "plugin data" at 16, a counter, and
/// `bump` calling back the loader's `twice` (import `env`).
const PLUGIN: &str = r#"(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "plugin data")
  (global $n (mut i32) (i32.const 0))
  (func (export "inc") (param i32) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "bump") (param i32) (result i32) (call $twice (local.get 0)))
  (func (export "count") (param i32) (result i32) (global.get $n))
  (global (export "g") i32 (i32.const 5)))"#;

struct Guest {
    store: Store<Host>,
    caller: Instance,
}

impl Guest {
    fn new() -> Guest {
        let engine = Engine::default();
        let mut store = Store::new(&engine, Host::new(WasiCtx::builder().build().unwrap()));
        let mut linker = Linker::new(&engine);
        Host::add_to_linker(&mut linker).unwrap();
        let module = Module::new(&engine, CALLER).unwrap();
        let caller = linker.instantiate(&mut store, &module).unwrap();
        Guest { store, caller }
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        let m = self.caller.get_memory(&mut self.store, "memory").unwrap();
        m.write(&mut self.store, at, bytes).unwrap();
    }

    fn get(&mut self, at: usize, len: usize) -> Vec<u8> {
        let m = self.caller.get_memory(&mut self.store, "memory").unwrap();
        let mut buf = vec![0; len];
        m.read(&self.store, at, &mut buf).unwrap();
        buf
    }

    fn call<P: wasabi::WasmTyList, R: wasabi::WasmTyList>(&mut self, name: &str, p: P) -> R {
        self.try_call(name, p).unwrap()
    }

    fn try_call<P: wasabi::WasmTyList, R: wasabi::WasmTyList>(
        &mut self,
        name: &str,
        p: P,
    ) -> wasabi::Result<R> {
        let f = self
            .caller
            .get_typed_func::<P, R>(&mut self.store, name)
            .unwrap();
        f.call(&mut self.store, p)
    }

    /// Loads `module` (placed at 4096 in the caller's memory).
    fn load(&mut self, module: &[u8]) -> i32 {
        self.put(4096, module);
        self.call("load", (4096, module.len() as i32))
    }

    /// `module_func(handle, name)` with the name placed at 1024.
    fn func(&mut self, handle: i32, name: &str) -> i32 {
        self.put(1024, name.as_bytes());
        self.call("func", (handle, 1024, name.len() as i32))
    }

    fn last_error(&mut self) -> String {
        let n: i32 = self.call("err", (2048, 1000));
        String::from_utf8(self.get(2048, n.min(1000) as usize)).unwrap()
    }
}

fn plugin() -> Vec<u8> {
    wat::parse_str(PLUGIN).unwrap()
}

#[test]
fn loaded_functions_are_called_through_the_table_and_call_back() {
    let mut g = Guest::new();
    let h = g.load(&plugin());
    assert_eq!(h, 1, "first handle: {}", g.last_error());
    let inc = g.func(h, "inc");
    assert_eq!(inc, 1, "appended after the table's one element");
    assert_eq!(g.call::<_, i32>("call_i32", (inc, 41)), 42);
    assert_eq!(g.call::<_, i32>("call_i32", (inc, -1)), 0);
    // The plugin calls the caller's export `twice` through its `env` import.
    let bump = g.func(h, "bump");
    assert_eq!(g.call::<_, i32>("call_i32", (bump, 21)), 42);
    // The plugin's state is its own, and kept between calls.
    let count = g.func(h, "count");
    assert_eq!(g.call::<_, i32>("call_i32", (count, 0)), 2);
    // The same function again: the same index, the table does not grow.
    assert_eq!(g.func(h, "inc"), inc);
    let table = g
        .caller
        .get_table(&mut g.store, "__indirect_function_table")
        .unwrap();
    assert_eq!(table.size(&g.store), 4);
    // A second load is a separate instance with its own state.
    let h2 = g.load(&plugin());
    assert_eq!(h2, 2);
    let count2 = g.func(h2, "count");
    assert_eq!(g.call::<_, i32>("call_i32", (count2, 0)), 0);
    assert_eq!(g.store.data().ext.loaded().len(), 2);
}

#[test]
fn a_call_with_the_wrong_signature_traps_instead_of_running() {
    let mut g = Guest::new();
    let h = g.load(&plugin());
    let inc = g.func(h, "inc");
    let e = g
        .try_call::<_, f64>("call_f64", (inc, 1.0))
        .expect_err("an (i32)->i32 function called as (f64)->f64");
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::BadSignature));
    // The caller is still usable.
    assert_eq!(g.call::<_, i32>("call_i32", (inc, 1)), 2);
}

#[test]
fn memory_copy_moves_bytes_between_instances_and_checks_ranges() {
    let mut g = Guest::new();
    let h = g.load(&plugin());
    // Plugin -> caller.
    assert_eq!(g.call::<_, i32>("copy", (0, 100, h, 16, 11)), 0);
    assert_eq!(g.get(100, 11), b"plugin data");
    // Caller -> plugin, then back, to see it landed in the plugin.
    g.put(200, b"from caller");
    assert_eq!(g.call::<_, i32>("copy", (h, 300, 0, 200, 11)), 0);
    assert_eq!(g.call::<_, i32>("copy", (0, 400, h, 300, 11)), 0);
    assert_eq!(g.get(400, 11), b"from caller");
    // Within one memory, overlapping: a move.
    g.put(500, b"abcdef");
    assert_eq!(g.call::<_, i32>("copy", (0, 502, 0, 500, 6)), 0);
    assert_eq!(g.get(500, 8), b"ababcdef");
    // Out of bounds, on either side: nothing copied, a code and a message.
    let page = 65536;
    assert_eq!(
        g.call::<_, i32>("copy", (0, page - 4, h, 16, 11)),
        ERR_BOUNDS
    );
    assert!(
        g.last_error().contains("outside the memory"),
        "{}",
        g.last_error()
    );
    assert_eq!(g.call::<_, i32>("copy", (0, 0, h, -1, 2)), ERR_BOUNDS);
    assert_eq!(g.call::<_, i32>("copy", (0, 0, 0, 10, -1)), ERR_BOUNDS);
    assert_eq!(g.call::<_, i32>("copy", (0, 0, 7, 0, 1)), ERR_HANDLE);
    assert!(g.last_error().contains("handle 7"), "{}", g.last_error());
    assert_eq!(g.call::<_, i32>("copy", (0, 0, -1, 0, 1)), ERR_HANDLE);
}

#[test]
fn failures_return_codes_with_messages_and_never_trap_the_caller() {
    let mut g = Guest::new();
    // Not a module.
    assert_eq!(g.load(b"\0asm\x02\0\0\0junk"), ERR_INVALID);
    assert!(g.last_error().contains("offset"), "{}", g.last_error());
    // An import nobody provides: module, field and type named.
    let needs =
        wat::parse_str(r#"(module (import "math" "sqrt" (func (param f64) (result f64))))"#)
            .unwrap();
    assert_eq!(g.load(&needs), ERR_LINK);
    let e = g.last_error();
    assert!(e.contains("math") && e.contains("sqrt"), "{e}");
    // A start function that traps.
    let traps = wat::parse_str(r#"(module (func $s unreachable) (start $s))"#).unwrap();
    assert_eq!(g.load(&traps), ERR_TRAP);
    assert!(g.last_error().contains("unreachable"), "{}", g.last_error());
    // Bytes outside the caller's memory.
    assert_eq!(g.call::<_, i32>("load", (65530, 100)), ERR_BOUNDS);
    // Lookups.
    let h = g.load(&plugin());
    assert_eq!(g.func(h, "nope"), ERR_NOT_FOUND);
    assert!(g.last_error().contains("`nope`"), "{}", g.last_error());
    assert_eq!(g.func(h, "g"), ERR_NOT_FOUND, "a global is not a function");
    assert_eq!(g.func(9, "inc"), ERR_HANDLE);
    g.put(1024, &[0xff, 0xfe]);
    assert_eq!(
        g.call::<_, i32>("func", (h, 1024, 2)),
        ERR_INVALID,
        "not UTF-8"
    );
    // Nothing loaded by a failure.
    assert_eq!(g.store.data().ext.loaded().len(), 1);
}

#[test]
fn last_error_copies_at_most_cap_bytes_and_returns_the_whole_length() {
    let mut g = Guest::new();
    assert_eq!(g.func(5, "x"), ERR_HANDLE);
    let whole = g.last_error();
    g.put(3000, b"XXXXXXXX");
    let n: i32 = g.call("err", (3000, 4));
    assert_eq!(n as usize, whole.len());
    assert_eq!(g.get(3000, 8), [&whole.as_bytes()[..4], b"XXXX"].concat());
    // A buffer outside memory: a code, not a trap.
    assert_eq!(g.call::<_, i32>("err", (65535, 100)), ERR_BOUNDS);
}

#[test]
fn a_caller_without_an_exported_table_is_told_how_to_link() {
    let engine = Engine::default();
    let mut store = Store::new(&engine, Host::new(WasiCtx::builder().build().unwrap()));
    let mut linker = Linker::new(&engine);
    Host::add_to_linker(&mut linker).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
          (import "wasabi" "module_load" (func $load (param i32 i32) (result i32)))
          (import "wasabi" "module_func" (func $func (param i32 i32 i32) (result i32)))
          (import "wasabi" "last_error" (func $err (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "inc")
          (func (export "go") (param i32 i32) (result i32)
            (drop (call $load (local.get 0) (local.get 1)))
            (call $func (i32.const 1) (i32.const 0) (i32.const 3)))
          (func (export "err") (result i32) (call $err (i32.const 100) (i32.const 500))))"#,
    )
    .unwrap();
    let caller = linker.instantiate(&mut store, &module).unwrap();
    let bytes =
        wat::parse_str(r#"(module (func (export "inc") (param i32) (result i32) local.get 0))"#)
            .unwrap();
    let mem = caller.get_memory(&mut store, "memory").unwrap();
    mem.write(&mut store, 1000, &bytes).unwrap();
    let go = caller
        .get_typed_func::<(i32, i32), i32>(&mut store, "go")
        .unwrap();
    assert_eq!(
        go.call(&mut store, (1000, bytes.len() as i32)).unwrap(),
        ERR_HANDLE
    );
    let err = caller.get_typed_func::<(), i32>(&mut store, "err").unwrap();
    let n = err.call(&mut store, ()).unwrap() as usize;
    let message = String::from_utf8(mem.data(&store)[100..100 + n].to_vec()).unwrap();
    assert!(
        message.contains("--export-table,--growable-table"),
        "{message}"
    );
}
