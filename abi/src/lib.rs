//! Host ABIs for Wasabi: the functions a module imports from its host.
//!
//! Each ABI registers its functions into a [`wasabi::Linker`] under its
//! import module name(s); instantiating through the linker then binds
//! exactly what the module imports, and anything nobody defines is a link
//! error naming the module, the field and the expected type (see
//! `wasabi::Linker::instantiate`).
//!
//! Where things live:
//! - [`wasi`]: WASI preview 1 (`wasi_snapshot_preview1`),
//!   [`wasi::add_to_linker`]. Its module docs say where each group of
//!   functions lives.
//! - [`wasabi_ext`]: Wasabi's own ABI (`wasabi`): loading another module
//!   at run time and calling it through the caller's table, copying bytes
//!   between instances' memories.
//! - [`emscripten`]: Emscripten's JS-mode host ABI (module `env`, and the
//!   legalised forms of its WASI imports), generated from the module's
//!   imports, and its start-up sequence ([`emscripten::run_main`]).
//! - [`detect`]: which ABI a module was built for ([`detect::detect`]).
//! - [`Host`]: a command's store data, one field per ABI.
//! - [`command`]: running a module as a command (WASI `_start` or
//!   Emscripten `main`), shared by `wasabi run` and AOT executables.
//!
//! Adding an ABI: a module with an `add_to_linker` taking the linker and a
//! getter for the ABI's state in the store's data, a field in [`Host`],
//! and a line in [`Host::add_to_linker`] (every command) or
//! [`command::command_linker`] (chosen per module).
//!
//! What must stay true:
//! - A host function's type is exactly the type the ABI defines; the
//!   linker refuses an import declared with another type, so the runtime
//!   never calls a host function with arguments of the wrong types.
//! - Host functions never panic on guest input and never touch memory
//!   outside the caller's linear memory: every guest pointer is
//!   bounds-checked (see [`wasi`]'s guest-memory helper).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod command;
pub mod detect;
pub mod emscripten;
mod host;
pub mod wasabi_ext;
pub mod wasi;

pub use detect::{Abi, AbiChoice};
pub use host::Host;
pub use wasi::{Exit, Output, OutputBuffer, Stdin, WasiCtx, WasiCtxBuilder};
