//! Derives the code generator's *build*: a hash of the sources that decide
//! what code it generates (the compiler's, its C++ pass, the runtime's,
//! which defines the compiled-code contract, and this crate's, which
//! defines the plugin ABI) and the crate version, plus the LLVM version the
//! compiler is built against (from `llvm-config`, found as
//! `compiler/build.rs` finds it; "unknown" in a build without LLVM, which
//! compiles nothing) and the target triple. It is part of every cache
//! fingerprint, and a plugin of another build is refused (`plugin`), so
//! nothing compiled by another build of the compiler is ever used. Needs no
//! LLVM: the `wasabi` binary and code without a compiler depend on it.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `llvm-config --version` of the LLVM the compiler crate builds against.
fn llvm_version() -> String {
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    let mut candidates = Vec::new();
    if let Ok(prefix) = std::env::var("LLVM_SYS_191_PREFIX") {
        candidates.push(
            Path::new(&prefix)
                .join("bin/llvm-config")
                .to_string_lossy()
                .into_owned(),
        );
    }
    candidates.extend(["llvm-config-19".to_string(), "llvm-config".to_string()]);
    for c in candidates {
        if let Ok(out) = std::process::Command::new(&c).arg("--version").output() {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && v.starts_with("19.") {
                return v;
            }
        }
    }
    "unknown".into()
}

fn main() {
    let mut all = Vec::new();
    for dir in ["src", "../src", "../llvm", "../../runtime/src"] {
        println!("cargo:rerun-if-changed={dir}");
        files(Path::new(dir), &mut all);
    }
    all.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(env!("CARGO_PKG_VERSION").as_bytes());
    for p in &all {
        // Relative to this crate, so every checkout of the same sources
        // agrees.
        feed(p.to_string_lossy().as_bytes());
        feed(&std::fs::read(p).unwrap_or_default());
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    println!(
        "cargo:rustc-env=WASABI_COMPILER_BUILD=wasabi-compiler {} build {h:016x}; llvm {}; target {target}",
        env!("CARGO_PKG_VERSION"),
        llvm_version(),
    );
}
