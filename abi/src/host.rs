//! [`Host`]: the store data of a command (`wasabi run`, AOT executables,
//! the program corpus): every host ABI's state in one value, and the one
//! call that registers them all.
//!
//! What must stay true: `wasabi run`, AOT executables and the test corpus
//! offer the same imports: WASI and Wasabi's ABI through
//! [`Host::add_to_linker`], plus the Emscripten ABI when
//! `crate::command::command_linker` chooses it.

use crate::emscripten::EmscriptenState;
use crate::wasabi_ext::{self, WasabiExt};
use crate::wasi::{self, WasiCtx};
use wasabi::Linker;

/// The host side of a running command.
pub struct Host {
    /// WASI preview 1: args, environment, stdio, preopened directories.
    pub wasi: WasiCtx,
    /// Wasabi's own ABI: the modules the guest loaded.
    pub ext: WasabiExt,
    /// The Emscripten ABI's own state (its files and stdio are WASI's).
    pub emscripten: EmscriptenState,
}

impl Host {
    /// A host over `wasi`, with nothing loaded yet.
    pub fn new(wasi: WasiCtx) -> Host {
        Host {
            wasi,
            ext: WasabiExt::default(),
            emscripten: EmscriptenState::new(),
        }
    }

    /// The getter `crate::emscripten::add_to_linker` takes.
    pub fn emscripten_parts(&mut self) -> (&mut WasiCtx, &mut EmscriptenState) {
        (&mut self.wasi, &mut self.emscripten)
    }

    /// Registers WASI and Wasabi's ABI (every command gets both; the
    /// Emscripten ABI depends on the module: `crate::command::command_linker`).
    pub fn add_to_linker(linker: &mut Linker<Host>) -> wasabi::Result<()> {
        wasi::add_to_linker(linker, |h: &mut Host| &mut h.wasi)?;
        wasabi_ext::add_to_linker(
            linker,
            |h: &mut Host| &mut h.wasi,
            |h: &mut Host| &mut h.ext,
        )
    }
}
