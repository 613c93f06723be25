//! Two jobs:
//! - Builds Wasabi's C++ LLVM pass (`llvm/bounds_versioning.cpp`, see
//!   `src/passes.rs`) against the LLVM that inkwell links: headers and flags
//!   from `llvm-config` in `$LLVM_SYS_191_PREFIX/bin` (the variable
//!   llvm-sys reads too), else `llvm-config-19`, else `llvm-config`.
//! - Derives the compiler's build id: a hash of the sources that decide what
//!   code it generates (this crate's and the runtime's, which defines the
//!   compiled-code contract) and the crate version. It is part of the
//!   compiler's fingerprint, so cached code made by another build of the
//!   compiler is never reused (see `LlvmCompiler::fingerprint`).

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

fn llvm_config() -> String {
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    if let Ok(prefix) = std::env::var("LLVM_SYS_191_PREFIX") {
        let p = Path::new(&prefix).join("bin/llvm-config");
        if p.exists() {
            return p.to_string_lossy().into_owned();
        }
    }
    for name in ["llvm-config-19", "llvm-config"] {
        if std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!("llvm-config for LLVM 19 not found: set LLVM_SYS_191_PREFIX (e.g. /usr/lib/llvm-19)");
}

fn build_llvm_pass() {
    let config = llvm_config();
    let out = std::process::Command::new(&config)
        .arg("--cxxflags")
        .output()
        .unwrap_or_else(|e| panic!("running {config} --cxxflags: {e}"));
    let flags = String::from_utf8(out.stdout).expect("llvm-config prints UTF-8");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("llvm/bounds_versioning.cpp")
        .warnings(false);
    for flag in flags.split_whitespace() {
        // Keep the ABI-relevant flags; the warning and optimisation choices
        // are ours.
        if flag.starts_with("-I")
            || flag.starts_with("-D")
            || flag.starts_with("-std=")
            || flag.starts_with("-f")
        {
            build.flag(flag);
        }
    }
    build.compile("wasabi_llvm_passes");
}

fn main() {
    build_llvm_pass();
    let mut all = Vec::new();
    for dir in ["src", "llvm", "../runtime/src"] {
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
        feed(p.to_string_lossy().as_bytes());
        feed(&std::fs::read(p).unwrap_or_default());
    }
    println!("cargo:rustc-env=WASABI_COMPILER_BUILD_ID={h:016x}");
}
