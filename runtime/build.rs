//! Builds the trap helper (traps.c) and derives the ABI hash: a hash of the
//! compiled-code contract's source (vmcontext.rs) and the crate version. AOT
//! objects reference a symbol named after it, so an object and a runtime
//! built from different contracts fail to link instead of misbehaving.

fn main() {
    println!("cargo:rerun-if-changed=src/traps.c");
    println!("cargo:rerun-if-changed=src/vmcontext.rs");
    cc::Build::new()
        .file("src/traps.c")
        .flag_if_supported("-fno-omit-frame-pointer")
        .compile("wasabi_traps");

    let contract = std::fs::read("src/vmcontext.rs").expect("read vmcontext.rs");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for b in contract.iter().chain(env!("CARGO_PKG_VERSION").as_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    println!("cargo:rustc-env=WASABI_ABI_HASH={h:016x}");
}
