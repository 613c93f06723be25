//! Which host ABI a module was built for, from its import descriptors and
//! exports (and emscripten's `emscripten_metadata` custom section, which
//! older emcc releases emit), so `wasabi run app.wasm` picks the right one.
//!
//! The rule: a module is Emscripten output when it imports emscripten's
//! runtime functions from `env` (`emscripten_*`, `__syscall_*`,
//! `invoke_*`, `setTempRet0`, `__cxa_*` exceptions, ...), or carries the
//! metadata section, or exports `main`/`__main_argc_argv` and emscripten's
//! runtime exports (`stackAlloc`, `__wasm_call_ctors`,
//! `emscripten_stack_init`) but no `_start`. Anything else is WASI (a
//! module importing nothing is a WASI module too: it runs as a command).
//!
//! What must stay true: [`detect`] only reads the module; it explains its
//! answer ([`Detected::reasons`]) so an error can say why an ABI was
//! chosen.

use std::fmt;
use wasabi::internals::runtime::module::{ExportKind, ModuleInfo};

/// A host ABI a command can run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Abi {
    /// WASI preview 1: `_start`, `wasi_snapshot_preview1`.
    Wasi,
    /// Emscripten's JS-mode output: `main`, `env` and WASI.
    Emscripten,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::Wasi => "wasi",
            Abi::Emscripten => "emscripten",
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asked for (`--abi`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AbiChoice {
    /// Detect it from the module.
    #[default]
    Auto,
    /// This one, whatever the module looks like.
    Force(Abi),
}

impl std::str::FromStr for AbiChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AbiChoice::Auto),
            "wasi" => Ok(AbiChoice::Force(Abi::Wasi)),
            "emscripten" => Ok(AbiChoice::Force(Abi::Emscripten)),
            _ => Err(format!("unknown ABI `{s}` (use auto, wasi or emscripten)")),
        }
    }
}

/// The answer of [`detect`] and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    pub abi: Abi,
    /// What made it so, e.g. "imports `env::emscripten_memcpy_big`".
    pub reasons: Vec<String>,
}

impl fmt::Display for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.abi)?;
        if !self.reasons.is_empty() {
            write!(f, " ({})", self.reasons.join("; "))?;
        }
        Ok(())
    }
}

/// Whether `env::name` is one of emscripten's runtime imports.
pub fn is_emscripten_import(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "emscripten_",
        "_emscripten_",
        "__syscall_",
        "invoke_",
        "__cxa_",
        "_tzset_js",
        "_localtime_js",
        "_gmtime_js",
        "_mktime_js",
        "_timegm_js",
        "_munmap_js",
        "_mmap_js",
        "_dlopen_js",
    ];
    const NAMES: &[&str] = &[
        "setTempRet0",
        "getTempRet0",
        "__resumeException",
        "llvm_eh_typeid_for",
        "__assert_fail",
        "segfault",
        "alignfault",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// Whether `wasm` (a binary module) has a custom section named `name`.
pub fn has_custom_section(wasm: &[u8], name: &str) -> bool {
    fn leb(b: &[u8], at: &mut usize) -> Option<usize> {
        let mut v = 0usize;
        for shift in (0..35).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return false;
    }
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let Some(size) = leb(wasm, &mut at) else {
            return false;
        };
        let Some(end) = at.checked_add(size).filter(|&e| e <= wasm.len()) else {
            return false;
        };
        if id == 0 {
            let mut p = at;
            if let Some(len) = leb(wasm, &mut p) {
                if p.checked_add(len).is_some_and(|e| e <= end)
                    && &wasm[p..p + len] == name.as_bytes()
                {
                    return true;
                }
            }
        }
        at = end;
    }
    false
}

/// Decides the ABI of a module from its description and, when known, its
/// bytes (for the custom section).
pub fn detect(info: &ModuleInfo, wasm: Option<&[u8]>) -> Detected {
    let mut reasons = Vec::new();
    let env: Vec<&str> = info
        .imports
        .iter()
        .filter(|i| i.module == "env" && is_emscripten_import(&i.name))
        .map(|i| i.name.as_str())
        .collect();
    if let Some(first) = env.first() {
        let more = match env.len() {
            1 => String::new(),
            n => format!(" and {} more emscripten runtime functions", n - 1),
        };
        reasons.push(format!("imports `env::{first}`{more}"));
    }
    if wasm.is_some_and(|w| has_custom_section(w, "emscripten_metadata")) {
        reasons.push("has an `emscripten_metadata` section".into());
    }
    let exports_func = |n: &str| {
        info.exports
            .iter()
            .any(|e| e.name == n && matches!(e.kind, ExportKind::Func))
    };
    let has_main = exports_func("main") || exports_func("__main_argc_argv");
    let runtime_export = ["stackAlloc", "__wasm_call_ctors", "emscripten_stack_init"]
        .into_iter()
        .find(|n| exports_func(n));
    if has_main && !exports_func("_start") {
        if let Some(r) = runtime_export {
            reasons.push(format!("exports `main` and `{r}` but no `_start`"));
        }
    }
    if reasons.is_empty() {
        let why = if exports_func("_start") {
            "exports `_start`".to_string()
        } else if info.imports.iter().any(|i| i.module == crate::wasi::MODULE) {
            format!("imports from `{}`", crate::wasi::MODULE)
        } else {
            "no emscripten imports or exports".to_string()
        };
        return Detected {
            abi: Abi::Wasi,
            reasons: vec![why],
        };
    }
    Detected {
        abi: Abi::Emscripten,
        reasons,
    }
}

/// The ABI to run with: the forced one, or what [`detect`] finds.
pub fn choose(choice: AbiChoice, info: &ModuleInfo, wasm: Option<&[u8]>) -> Detected {
    match choice {
        AbiChoice::Force(abi) => Detected {
            abi,
            reasons: vec!["chosen with --abi".into()],
        },
        AbiChoice::Auto => detect(info, wasm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasabi::{Engine, Module};

    fn module(wat: &str) -> Module {
        Module::new(&Engine::default(), wat).unwrap()
    }

    fn detect_wat(wat: &str, wasm: Option<&[u8]>) -> Detected {
        detect(module(wat).info(), wasm)
    }

    #[test]
    fn emscripten_imports_are_detected() {
        let d = detect_wat(
            r#"(module (import "env" "emscripten_memcpy_big" (func (param i32 i32 i32) (result i32)))
                   (import "env" "setTempRet0" (func (param i32)))
                   (memory (export "memory") 1) (func (export "main") (param i32 i32) (result i32) i32.const 0))"#,
            None,
        );
        assert_eq!(d.abi, Abi::Emscripten);
        assert!(d.reasons[0].contains("env::emscripten_memcpy_big"), "{d}");
        assert!(d.reasons[0].contains("1 more"), "{d}");
    }

    #[test]
    fn main_with_runtime_exports_and_no_start_is_emscripten() {
        let d = detect_wat(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                   (func (export "__wasm_call_ctors")) (func (export "main") (param i32 i32) (result i32) i32.const 0))"#,
            None,
        );
        assert_eq!(d.abi, Abi::Emscripten, "{d}");
        assert!(d.to_string().contains("__wasm_call_ctors"), "{d}");
    }

    #[test]
    fn wasi_commands_and_plain_modules_are_wasi() {
        let d = detect_wat(
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
                   (func (export "_start")) (func (export "main") (param i32 i32) (result i32) i32.const 0)
                   (func (export "__wasm_call_ctors")))"#,
            None,
        );
        assert_eq!(d.abi, Abi::Wasi, "{d}");
        assert_eq!(detect_wat("(module)", None).abi, Abi::Wasi);
        // `env` imports that are not emscripten's do not count.
        let d = detect_wat(r#"(module (import "env" "log" (func (param i32))))"#, None);
        assert_eq!(d.abi, Abi::Wasi, "{d}");
    }

    #[test]
    fn metadata_section_is_found() {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let name = b"emscripten_metadata";
        wasm.push(0);
        wasm.push((name.len() + 1 + 3) as u8);
        wasm.push(name.len() as u8);
        wasm.extend_from_slice(name);
        wasm.extend_from_slice(&[1, 2, 3]);
        assert!(has_custom_section(&wasm, "emscripten_metadata"));
        assert!(!has_custom_section(&wasm, "name"));
        // Truncated or garbage input is just "not found".
        assert!(!has_custom_section(
            &wasm[..wasm.len() - 2],
            "emscripten_metadata"
        ));
        assert!(!has_custom_section(
            b"\0asm\x01\0\0\0\0\xff\xff\xff\xff\xff\xff",
            "x"
        ));
        let d = detect_wat("(module)", Some(&wasm));
        assert_eq!(d.abi, Abi::Emscripten);
    }

    #[test]
    fn choice_parses_and_forces() {
        assert_eq!("auto".parse::<AbiChoice>().unwrap(), AbiChoice::Auto);
        assert_eq!(
            "emscripten".parse::<AbiChoice>().unwrap(),
            AbiChoice::Force(Abi::Emscripten)
        );
        assert!("js"
            .parse::<AbiChoice>()
            .unwrap_err()
            .contains("unknown ABI"));
        let d = choose(
            AbiChoice::Force(Abi::Emscripten),
            module("(module)").info(),
            None,
        );
        assert_eq!(d.abi, Abi::Emscripten);
    }
}
