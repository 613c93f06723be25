//! The compiler plugin: the `wasabi` binary does not link LLVM (its dynamic
//! section names no libLLVM; the plugin beside it does), a warm run never
//! loads the plugin, and a missing, foreign or mismatched plugin is a clear
//! error naming the path, raised only when something must be compiled.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE: &str = r#"(module
  (func $fib (export "fib") (param i64) (result i64)
    (if (result i64) (i64.lt_u (local.get 0) (i64.const 2))
      (then (local.get 0))
      (else (i64.add (call $fib (i64.sub (local.get 0) (i64.const 1)))
                     (call $fib (i64.sub (local.get 0) (i64.const 2))))))))"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasabi-cli-plugin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_wasabi"))
}

/// The plugin cargo built with the binary: in `deps/` (the copy next to
/// the binary is made by `cargo build`, not by `cargo test`, so it may be
/// from an earlier build; the binary tries both, see `src/plugin.rs`).
fn plugin() -> PathBuf {
    let dir = binary().parent().unwrap();
    let fresh = dir.join("deps").join("libwasabi_compiler_plugin.so");
    match fresh.exists() {
        true => fresh,
        false => dir.join("libwasabi_compiler_plugin.so"),
    }
}

/// The DT_NEEDED entries of an ELF file.
fn needed(path: &Path) -> Vec<String> {
    use object::elf::{FileHeader64, DT_NEEDED};
    use object::read::elf::{Dyn, FileHeader, SectionHeader};
    use object::Endianness;
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = FileHeader64::<Endianness>::parse(&*data).unwrap();
    let endian = header.endian().unwrap();
    let sections = header.sections(endian, &*data).unwrap();
    let mut out = Vec::new();
    for s in sections.iter() {
        let Some((entries, link)) = s.dynamic(endian, &*data).unwrap() else {
            continue;
        };
        let strings = sections.strings(endian, &*data, link).unwrap();
        for d in entries {
            if d.tag(endian) == DT_NEEDED {
                let name = d.string(endian, strings).unwrap();
                out.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    out
}

fn wasabi(dir: &Path) -> Command {
    let mut c = Command::new(binary());
    c.env("WASABI_CACHE_DIR", dir.join("cache"))
        .env_remove("WASABI_COMPILER_PLUGIN");
    c
}

fn fib(dir: &Path, extra: &[&str], plugin: Option<&Path>) -> Output {
    let module = dir.join("fib.wat");
    std::fs::write(&module, MODULE).unwrap();
    let mut c = wasabi(dir);
    c.arg("run")
        .args(extra)
        .arg("--invoke")
        .arg("fib")
        .arg(&module)
        .arg("20");
    if let Some(p) = plugin {
        c.env("WASABI_COMPILER_PLUGIN", p);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The regression test for the plugin as a whole: libLLVM is loaded with
/// the plugin, never with the binary.
#[test]
fn the_binary_needs_no_llvm_and_the_plugin_does() {
    let bin = needed(binary());
    assert!(bin.iter().any(|n| n.starts_with("libc.so")), "{bin:?}");
    assert!(
        !bin.iter().any(|n| n.contains("LLVM")),
        "the wasabi binary links LLVM: {bin:?}"
    );
    let plugin = needed(&plugin());
    assert!(plugin.iter().any(|n| n.contains("libLLVM")), "{plugin:?}");
}

/// `fib` with the dynamic loader naming every file it loads on stderr
/// (glibc's `LD_DEBUG=files`): whether the run loaded libLLVM.
fn loads_llvm(dir: &Path, extra: &[&str]) -> bool {
    let module = dir.join("fib.wat");
    std::fs::write(&module, MODULE).unwrap();
    let o = wasabi(dir)
        .env("LD_DEBUG", "files")
        .arg("run")
        .args(extra)
        .args(["--invoke", "fib"])
        .arg(&module)
        .arg("20")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("file=libc.so"),
        "LD_DEBUG=files is not glibc's: {e}"
    );
    e.contains("libLLVM")
}

#[test]
fn a_warm_run_never_loads_the_plugin() {
    let dir = scratch("warm");
    let missing = dir.join("no-such-plugin.so");
    for mode in ["regular", "lazy"] {
        let o = fib(&dir, &["--mode", mode], None);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "6765");
        // Everything it needs is cached now: no compiler wanted, none
        // loaded (not even on another thread, meanwhile).
        let o = fib(&dir, &["--mode", mode], Some(&missing));
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "6765");
        assert!(!loads_llvm(&dir, &["--mode", mode]), "{mode}");
    }
    // What a run that compiles looks like.
    assert!(loads_llvm(&dir, &["--no-cache"]));
}

#[test]
fn a_missing_plugin_is_an_error_naming_it_and_the_fix() {
    let dir = scratch("missing");
    let missing = dir.join("no-such-plugin.so");
    let o = fib(&dir, &["--no-cache"], Some(&missing));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&missing.display().to_string()), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    assert!(e.contains("WASABI_COMPILER_PLUGIN"), "{e}");
    assert!(e.contains("cargo build --release -p wasabi-cli"), "{e}");
}

#[test]
fn the_plugin_is_found_through_the_variable() {
    let dir = scratch("moved");
    let moved = dir.join("elsewhere.so");
    std::fs::copy(plugin(), &moved).unwrap();
    let o = fib(&dir, &["--no-cache"], Some(&moved));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "6765");
}

#[test]
fn foreign_files_are_refused() {
    let dir = scratch("foreign");
    // Not a shared object at all.
    let text = dir.join("text.so");
    std::fs::write(&text, "not a library").unwrap();
    let o = fib(&dir, &["--no-cache"], Some(&text));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("cannot load the compiler plugin"), "{e}");
    assert!(e.contains(&text.display().to_string()), "{e}");
    // A shared object that is not a plugin: the C library this test has
    // loaded.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let libc = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so"))
        .expect("libc is mapped");
    let o = fib(&dir, &["--no-cache"], Some(Path::new(libc)));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("is not a wasabi compiler plugin"), "{e}");
}

/// A plugin of another build (the same file with another build id in its
/// build string) is refused before anything is compiled with it.
#[test]
fn a_plugin_of_another_build_is_refused() {
    let dir = scratch("other-build");
    let build = wasabi_compiler_abi::BUILD;
    let id = build
        .split(' ')
        .skip_while(|w| *w != "build")
        .nth(1)
        .expect("a build id")
        .trim_end_matches(';');
    assert_eq!(id.len(), 16, "{build}");
    let other: String = id
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    let mut bytes = std::fs::read(plugin()).unwrap();
    let mut replaced = 0;
    let mut i = 0;
    while let Some(k) = bytes[i..]
        .windows(id.len())
        .position(|w| w == id.as_bytes())
    {
        bytes[i + k..i + k + id.len()].copy_from_slice(other.as_bytes());
        replaced += 1;
        i += k + id.len();
    }
    assert!(replaced > 0, "the plugin holds its build id");
    let patched = dir.join("other.so");
    std::fs::write(&patched, &bytes).unwrap();
    let o = fib(&dir, &["--no-cache"], Some(&patched));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("does not match this wasabi"), "{e}");
    assert!(e.contains("another build"), "{e}");
    assert!(e.contains(&other), "{e}");
}
