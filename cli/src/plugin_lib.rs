//! The compiler plugin, `libwasabi_compiler_plugin.so`: Wasabi's LLVM code
//! generator as a shared object, which the `wasabi` binary loads only when
//! it compiles (`plugin.rs`), so a warm start never loads LLVM. It exports
//! one C function, the entry of `wasabi_compiler_abi::plugin`'s ABI; the
//! server behind it is `wasabi_compiler::plugin`.
//!
//! This is the `wasabi-cli` package's library, built (as a `cdylib`) with
//! its binary by any cargo command that builds the binary. What must stay
//! true: the binary never refers to this library (it would link LLVM); it
//! is an `rlib` too only so that cargo builds it whenever it builds the
//! binary.

use wasabi_compiler_abi::plugin::PluginV1;

/// The plugin's entry point ([`wasabi_compiler_abi::plugin::ENTRY_SYMBOL`]).
#[no_mangle]
pub extern "C" fn wasabi_compiler_plugin_v1() -> *const PluginV1 {
    wasabi_compiler::plugin::entry()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_has_the_contract_s_name_and_passes_the_check() {
        assert_eq!(
            wasabi_compiler_abi::plugin::ENTRY_SYMBOL,
            "wasabi_compiler_plugin_v1"
        );
        // SAFETY: the entry returns a pointer to a static table.
        let table = unsafe { &*super::wasabi_compiler_plugin_v1() };
        table.check().unwrap();
    }
}
