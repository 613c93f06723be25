//! `wasabi-fuzz`: a differential fuzzer for wasabi and a hostile-input
//! (mutation) runner.
//!
//! - [`gen`]: valid modules from `wasm-smith`, configured for what wasabi
//!   compiles, and the arguments every export is called with;
//! - [`exec`]: the oracle (the `wasmi` interpreter, under fuel) and wasabi in
//!   each mode, compared call by call and then on exported state;
//! - [`shrink`]: greedy reduction of a mismatching module;
//! - [`case`]: one case end to end (generate or mutate, run, shrink, write
//!   the reproducer);
//! - [`driver`]: the coordinator and its re-executed worker processes, so
//!   that a crashing or hanging case is recorded with its input instead of
//!   ending the run.
//!
//! What must stay true: a run is a pure function of its seed and options
//! (case `S` is reproduced by `--seed S --cases 1`), and wasabi only ever
//! runs code the oracle finished within its fuel.

pub mod case;
pub mod driver;
pub mod exec;
pub mod gen;
pub mod shrink;
