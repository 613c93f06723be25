//! On-disk cache of compiled code.
//!
//! Not implemented yet. The plan: key entries by a hash of the wasm bytes,
//! the wasabi and LLVM versions, the target and its CPU features and every
//! setting that changes code; store the object bytes the compiler already
//! produces, checked before any byte of them runs, so a cache hit is a load
//! through `wasabi_runtime::loader` with no compilation.
