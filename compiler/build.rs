//! Derives the compiler's build id: a hash of the sources that decide what
//! code it generates (this crate's and the runtime's, which defines the
//! compiled-code contract) and the crate version. It is part of the
//! compiler's fingerprint, so cached code made by another build of the
//! compiler is never reused (see `LlvmCompiler::fingerprint`).

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

fn main() {
    let mut all = Vec::new();
    for dir in ["src", "../runtime/src"] {
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
