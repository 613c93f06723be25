//! Many modules as one program.
//!
//! - [`group`]: modules that import each other, instantiated together
//!   ([`crate::Linker::instantiate_group`]).
//! - [`program`]: a main module plus module files: preloaded by name,
//!   imported by relative path, or the parts of a split program
//!   ([`Program`]).
//! - [`files`]: where the module files come from: the host file system or
//!   another source, such as an AOT executable's bundled modules
//!   ([`ModuleFiles`]).
//! - [`dylink`]: side modules (`dylink.0`) loaded by the guest's `dlopen`
//!   into the main module's memory and table.
//! - [`split`]: split programs (binaryen `wasm-split`, Dioxus naming), each
//!   part loaded on the first call of one of its split points.
//!
//! A function imported from another module is called exactly like one of
//! the importer's own: compiled code loads `code` and `vmctx` from the
//! callee's `VMFuncRef` slot and calls it (see `runtime/src/vmcontext.rs`);
//! an import's slot holds a copy of the exporter's, so a cross-module call
//! is one indirect call with no host code in between.

pub(crate) mod dylink;
pub(crate) mod files;
pub(crate) mod group;
pub(crate) mod program;
pub(crate) mod split;

pub use dylink::side_module_needs;
pub use files::{normalize_lexically, HostFiles, ModuleFiles};
pub use program::{is_path_import, program_files, PartStats, Program, ProgramFiles};
