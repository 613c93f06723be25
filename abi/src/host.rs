//! [`Host`]: the store data of a command (`wasabi run`, AOT executables,
//! the program corpus): every host ABI's state in one value, and the one
//! call that registers them all.
//!
//! What must stay true: every ABI a command offers is registered by
//! [`Host::add_to_linker`], so `wasabi run`, AOT executables and the test
//! corpus offer the same imports.

use crate::wasabi_ext::{self, WasabiExt};
use crate::wasi::{self, WasiCtx};
use wasabi::Linker;

/// The host side of a running command.
pub struct Host {
    /// WASI preview 1: args, environment, stdio, preopened directories.
    pub wasi: WasiCtx,
    /// Wasabi's own ABI: the modules the guest loaded.
    pub ext: WasabiExt,
}

impl Host {
    /// A host over `wasi`, with nothing loaded yet.
    pub fn new(wasi: WasiCtx) -> Host {
        Host {
            wasi,
            ext: WasabiExt::default(),
        }
    }

    /// Registers WASI and Wasabi's ABI.
    pub fn add_to_linker(linker: &mut Linker<Host>) -> wasabi::Result<()> {
        wasi::add_to_linker(linker, |h: &mut Host| &mut h.wasi)?;
        wasabi_ext::add_to_linker(
            linker,
            |h: &mut Host| &mut h.wasi,
            |h: &mut Host| &mut h.ext,
        )
    }
}
