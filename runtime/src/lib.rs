//! Wasabi's runtime: everything needed to run compiled WebAssembly, and
//! nothing that needs LLVM (an AOT executable links this crate alone).
//!
//! Where things live:
//! - [`module`]: the module description parsed from wasm bytes.
//! - [`vmcontext`]: the compiled-code contract (vmctx layout, builtins,
//!   trap codes, symbol names). Read this first.
//! - [`loader`]: maps compiled ELF objects into executable memory.
//! - [`code`]: a compiled module (description + loaded code) and the
//!   [`code::CodeGenerator`] trait through which the runtime asks for code.
//! - [`lazy`]: compiling functions on first call (thunks and the resolver).
//! - [`store`]: the untyped store (owner of everything, indices as
//!   handles), instantiation, calling into wasm, host-function dispatch.
//! - [`instance`]: one instance's vmctx and what it points at.
//! - [`memory`], [`table`]: linear memories and tables.
//! - [`traps`]: signal handling and trap propagation.
//! - [`interrupt`]: epochs, interrupt requests and the poll pages through
//!   which compiled code notices them.
//! - [`builtins`]: the helpers compiled code calls.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod builtins;
pub mod code;
pub mod code_arena;
pub mod instance;
pub mod interrupt;
pub mod lazy;
pub mod loader;
pub mod memory;
pub mod module;
mod speculate;
pub mod store;
pub mod table;
pub mod traps;
pub mod types;
pub mod vmcontext;

pub use code::{CodeGenerator, CompiledModule};
pub use instance::Instance;
pub use module::{ModuleError, ModuleInfo};
pub use store::{
    FrameInfo, HostError, HostFunc, InstantiationError, InterruptHandle, RawExport, RawImport,
    StoreConfig, StoreId, StoreOpaque, Trap,
};
pub use types::{ExternRef, FuncType, SigId, Val, ValType};
pub use vmcontext::TrapCode;
