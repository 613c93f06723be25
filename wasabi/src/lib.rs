//! Wasabi: a WebAssembly compiler and runtime that compiles wasm to native
//! code through LLVM. This crate is its embedding API.
//!
//! The shape is the one Rust users of wasm runtimes know:
//!
//! - an [`Engine`] compiles; a [`Module`] is compiled code, shareable;
//! - a [`Store<T>`] owns every instance, memory, table, global and function,
//!   plus your data `T`;
//! - a [`Linker<T>`] resolves imports by `(module, name)`: host functions
//!   from closures, other instances' exports, host ABIs such as WASI;
//! - a host function gets a [`Caller<'_, T>`]: your data, the caller's
//!   exports (its memory), and the right to call back into wasm;
//! - [`TypedFunc`] calls with Rust types checked once; [`Func::call`] with
//!   dynamic [`Val`]s;
//! - a trap is an [`Error::Trap`] carrying its kind and every wasm frame.
//!
//! # A complete example
//!
//! Two modules linked by name, a host function with state, a typed call,
//! and a trap with its backtrace:
//!
//! ```
//! use wasabi::{Caller, Engine, Linker, Module, Store, TrapCode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::default();
//! let math = Module::new(&engine, r#"(module
//!   (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add)
//!   (func $div (export "div") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.div_s))"#)?;
//! let app = Module::new(&engine, r#"(module
//!   (import "math" "add" (func $add (param i32 i32) (result i32)))
//!   (import "math" "div" (func $div (param i32 i32) (result i32)))
//!   (import "host" "log" (func $log (param i32)))
//!   (func (export "run") (param i32) (result i32)
//!     (call $log (call $add (local.get 0) (i32.const 1)))
//!     (i32.const 7))
//!   (func $ratio (export "ratio") (param i32 i32) (result i32)
//!     (call $div (local.get 0) (local.get 1))))"#)?;
//!
//! // The store's data is what host functions see: here, a log.
//! let mut store = Store::new(&engine, Vec::<i32>::new());
//! let mut linker = Linker::new(&engine);
//! linker.func_wrap("host", "log", |mut caller: Caller<'_, Vec<i32>>, x: i32| {
//!     caller.data_mut().push(x)
//! })?;
//! let m = linker.instantiate(&mut store, &math)?;
//! linker.instance(&mut store, "math", m)?;
//! let inst = linker.instantiate(&mut store, &app)?;
//!
//! let run = inst.get_typed_func::<i32, i32>(&mut store, "run")?;
//! assert_eq!(run.call(&mut store, 41)?, 7);
//! assert_eq!(store.data(), &vec![42]);
//!
//! // A trap names its kind and every wasm frame, innermost first.
//! let ratio = inst.get_typed_func::<(i32, i32), i32>(&mut store, "ratio")?;
//! let err = ratio.call(&mut store, (1, 0)).unwrap_err();
//! let trap = err.as_trap().expect("a trap");
//! assert_eq!(trap.code, TrapCode::IntegerDivisionByZero);
//! assert_eq!(trap.frames[0].func_name, "div");
//! println!("{trap}");
//! # Ok(())
//! # }
//! ```
//!
//! # Handles and stores
//!
//! [`Func`], [`Memory`], [`Table`], [`Global`] and [`Instance`] are small
//! `Copy` handles: a store id and an index. Every method takes the store
//! (anything implementing [`AsContext`]/[`AsContextMut`]: `&Store<T>`,
//! `&mut Store<T>`, a [`Caller`]) and checks that the handle belongs to
//! it; using a handle with another store panics with a clear message. A
//! handle cannot outlive its store's objects in any harmful way: without
//! the store there is nothing to use it with.
//!
//! # Host functions calling back into wasm
//!
//! ```
//! use wasabi::{Caller, Engine, Linker, Module, Store, Val};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::default();
//! let module = Module::new(&engine, r#"(module
//!   (import "host" "twice" (func $twice (param i32) (result i32)))
//!   (func (export "inc") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
//!   (func (export "go") (param i32) (result i32) local.get 0 call $twice))"#)?;
//! let mut linker = Linker::new(&engine);
//! linker.func_wrap("host", "twice", |mut caller: Caller<'_, ()>, x: i32| -> Result<i32, wasabi::Error> {
//!     let inc = caller.get_export("inc").and_then(|e| e.into_func()).unwrap();
//!     let inc = inc.typed::<i32, i32>(&caller)?;
//!     let once = inc.call(&mut caller, x)?;
//!     inc.call(&mut caller, once)
//! })?;
//! let mut store = Store::new(&engine, ());
//! let instance = linker.instantiate(&mut store, &module)?;
//! let go = instance.get_func(&mut store, "go").unwrap();
//! assert_eq!(go.call_vec(&mut store, &[Val::I32(40)])?, vec![Val::I32(42)]);
//! # Ok(())
//! # }
//! ```
//!
//! # Guest memory
//!
//! [`Memory::bytes`], [`Memory::read_utf8`] and [`Memory::read_c_string`]
//! read what a guest pointer points at, checked against the memory's size;
//! [`GuestAlloc`] copies a buffer or a C string into a guest through its own
//! `malloc` (see the `guest` module's example).
//!
//! # Features
//!
//! - `compiler` (default): compile with LLVM, in this process
//!   ([`Engine::new`]). Without it the crate links no LLVM and runs code
//!   compiled ahead of time ([`Module::from_compiled`]), precompiled modules
//!   ([`Module::deserialize`]), or code from a compiler reached another way
//!   ([`Engine::with_backend`]: the `wasabi` command's plugin).
//! - `wat` (default): accept the text format wherever a module is.

#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod engine;
mod error;
mod externals;
mod func;
mod guest;
mod instance;
mod link;
mod linker;
mod module;
#[cfg(feature = "wat")]
mod session;
mod store;
mod values;

pub use engine::{CompileMode, Config, Engine, OptLevel, TargetCpu};
pub use error::{Error, FrameInfo, HostError, LinkError, Result, Trap, TrapCode};
pub use externals::{Extern, Global, Memory, Table};
pub use func::{Caller, Func, IntoFunc, TypedFunc, WasmRet, WithCaller};
pub use guest::GuestAlloc;
pub use instance::Instance;
pub use link::{
    is_path_import, normalize_lexically, program_files, side_module_needs, HostFiles, ModuleFiles,
    PartStats, Program, ProgramFiles,
};
pub use linker::Linker;
pub use module::{
    module_name, read_shared, wat_to_wasm, CacheOutcome, CompileTimings, ExportType, ExternType,
    ImportType, Module, ModuleBytes,
};
#[cfg(feature = "wat")]
pub use session::{open_parens, replace_func, Defined, EntityKind, Session, SessionStats};
pub use store::{
    AsContext, AsContextMut, InterruptHandle, Store, StoreContext, StoreContextMut, StoreLimits,
};
pub use values::{ExternRef, Val, WasmTy, WasmTyList};
pub use wasabi_runtime::module::{GlobalType, MemoryType, TableType};
pub use wasabi_runtime::{FuncType, ValType};

/// The layers under this API, for tools built on wasabi itself (the CLI,
/// the AOT driver, the spec-script runner). Not needed to embed wasabi.
#[doc(hidden)]
pub mod internals {
    #[cfg(feature = "compiler")]
    pub use wasabi_compiler as compiler;
    pub use wasabi_compiler_abi as compiler_abi;
    pub use wasabi_runtime as runtime;
}
