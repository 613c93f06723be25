//! Builds the AOT runtime library (`wasabi-aot-main`, a static library with
//! the runtime and WASI but no LLVM) and places it in OUT_DIR, where
//! `src/lib.rs` embeds it with `include_bytes!`. An installed `wasabi` thus
//! carries the exact runtime its AOT objects were compiled for, and needs no
//! source tree to link an executable.
//!
//! It is a nested `cargo build` with its own target directory (so it never
//! waits on the outer build's lock), offline (the outer build has already
//! fetched every dependency).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // The manifest dir is read when the script runs, not baked in when it
    // is compiled: cargo reuses one compiled build script for every checkout
    // of this workspace sharing a target dir (its fingerprint holds no
    // absolute path), so a baked-in path can name a checkout long gone.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).parent().unwrap().to_path_buf();
    for dir in [
        "runtime/src",
        "runtime/build.rs",
        "runtime/aot-main/src",
        "runtime/aot-main/Cargo.toml",
        "abi/src",
        "wasabi/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = out.join("aot-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--offline",
            "--quiet",
            "-p",
            "wasabi-aot-main",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo to build the AOT runtime library");
    assert!(
        status.success(),
        "building the AOT runtime library (wasabi-aot-main) failed"
    );
    std::fs::copy(
        target_dir.join("release/libwasabi_aot_main.a"),
        out.join("libwasabi_aot_main.a"),
    )
    .expect("copy libwasabi_aot_main.a");
}
