//! Builds Wasabi's C++ LLVM code (`llvm/bounds_versioning.cpp`, the
//! passes, see `src/passes.rs`; `llvm/object_emitter.cpp`, see
//! `src/codegen.rs`) against the LLVM that inkwell links: headers and flags
//! from `llvm-config` in `$LLVM_SYS_191_PREFIX/bin` (the variable llvm-sys
//! reads too), else `llvm-config-19`, else `llvm-config`. (The compiler's
//! build id, part of every cache fingerprint, is derived by
//! `abi/build.rs`, which needs no LLVM.)

use std::path::Path;

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
        .file("llvm/object_emitter.cpp")
        // Nothing of the pass is exported from what links it: its copies of
        // LLVM's templates would otherwise be exported to interpose on
        // libLLVM's, which keeps libLLVM needed by any program that merely
        // has this crate in its link (the `wasabi` binary, in a workspace
        // build that turns on `wasabi/compiler`; see `cli/tests/plugin.rs`).
        .flag("-fvisibility=hidden")
        .flag("-fvisibility-inlines-hidden")
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
    // The pass's source: without this line, Cargo (told of an environment
    // variable to watch) would rebuild it only when that variable changed.
    println!("cargo:rerun-if-changed=llvm/bounds_versioning.cpp");
    println!("cargo:rerun-if-changed=llvm/object_emitter.cpp");
    build_llvm_pass();
}
