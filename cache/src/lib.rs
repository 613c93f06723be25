//! On-disk cache of compiled code.
//!
//! Not implemented yet. The design (see `../shared/DESIGN.md` and
//! ARCHITECTURE.md) keys entries by a hash of the wasm bytes, the wasabi and
//! LLVM versions, the target and the tunables, and stores the object bytes the
//! compiler already produces, so a cache hit is a load through
//! `wasabi_runtime::loader` with no compilation.
