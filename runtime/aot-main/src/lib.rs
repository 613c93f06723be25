//! The runtime half of an AOT executable (or shared library).
//!
//! `wasabi aot` links the compiled module's objects with this crate, built
//! as a static library (it carries the runtime and the WASI ABI, and no
//! LLVM). The objects define the tables named in
//! `wasabi_runtime::vmcontext::symbols::AOT_*`; [`linked_module`] turns them
//! into a `CompiledModule`, and [`wasabi_aot_main`] runs it as a command
//! (WASI, or an Emscripten program's `main`, detected as `wasabi run`
//! detects it) exactly as `wasabi run` would.
//!
//! The program's other modules (preloads, path imports, split parts) and
//! those it loads at run time (Wasabi's ABI, `dlopen`) come precompiled in
//! the executable (`bundle`); the main module is linked with them by
//! `wasabi::Program`, as `wasabi run` links files.
//!
//! The C API (see `wasabi.h` beside this crate) is for shared libraries:
//! `wasabi_aot_run` runs the module as a command; `wasabi_instantiate`,
//! `wasabi_call` and `wasabi_instance_free` call its exports.

#![deny(clippy::undocumented_unsafe_blocks)]

mod bundle;

use std::ffi::{c_char, c_int, CStr};
use std::sync::{Arc, OnceLock};
use wasabi::internals::runtime::code::AotTables;
use wasabi::internals::runtime::CompiledModule;
use wasabi::{Engine, Instance, Module, Store, Val, ValType};
use wasabi_abi::command::{command_linker, link_error, run_linked_command, CommandOptions};
use wasabi_abi::{detect, AbiChoice, Host};

extern "C" {
    static wasabi_aot_funcs: [usize; 0];
    static wasabi_aot_entry_trampolines: [usize; 0];
    static wasabi_aot_host_trampolines: [usize; 0];
    static wasabi_aot_metadata: [u8; 0];
    static wasabi_aot_metadata_len: u64;
    static wasabi_aot_text_bounds: [usize; 2];
}

/// The module linked into this executable or library. (Every entry point
/// starts here, so this also makes the bundled modules loadable.)
pub fn linked_module() -> Result<Module, String> {
    static MODULE: OnceLock<Result<Module, String>> = OnceLock::new();
    bundle::install();
    MODULE
        // SAFETY: the AOT table object linked into this binary defines these
        // symbols with these types (`compiler/src/aot.rs`), under the same
        // contract as this runtime (the ABI marker made the link succeed).
        .get_or_init(|| unsafe {
            let tables = AotTables {
                metadata: std::ptr::addr_of!(wasabi_aot_metadata) as *const u8,
                metadata_len: wasabi_aot_metadata_len as usize,
                funcs: std::ptr::addr_of!(wasabi_aot_funcs) as *const usize,
                entry_trampolines: std::ptr::addr_of!(wasabi_aot_entry_trampolines) as *const usize,
                host_trampolines: std::ptr::addr_of!(wasabi_aot_host_trampolines) as *const usize,
                text_bounds: std::ptr::addr_of!(wasabi_aot_text_bounds) as *const usize,
            };
            CompiledModule::from_aot_tables(&tables, program_name(), None)
                .map(|m| Module::from_compiled(Arc::new(m)))
        })
        .clone()
}

fn program_name() -> String {
    std::env::args()
        .next()
        .map(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(a)
        })
        .unwrap_or_else(|| "module".into())
}

const USAGE: &str = "\
usage: PROGRAM [--dir HOST[::GUEST]]... [--env K=V]... [--abi auto|wasi|emscripten]
               [--trap-unknown-imports] [--invoke NAME] [--wasabi-stats] [--] [ARGS...]
A WebAssembly module compiled ahead of time by wasabi. Leading --dir and
--env options preopen directories and set environment variables for the
module; --abi, --trap-unknown-imports and --invoke (call export NAME with
ARGS and print its results, instead of running the program) are as for
`wasabi run`; --wasabi-stats lists, at exit, the program's other modules
and whether each was loaded. Everything else (or everything after --) is
passed to the module.";

/// Wasabi's own leading options of an AOT executable.
#[derive(Clone, Debug, Default)]
pub struct AotArgs {
    pub command: CommandOptions,
    /// `--wasabi-stats`: print the program's parts at exit.
    pub stats: bool,
}

/// Splits wasabi's own leading options from the program's arguments.
pub fn parse_args(args: &[String]) -> Result<AotArgs, String> {
    let mut stats = false;
    let mut opts = CommandOptions {
        program: program_name(),
        ..Default::default()
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let value = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--" => {
                i += 1;
                break;
            }
            "--dir" => {
                opts.dirs.push(value(i)?);
                i += 2;
            }
            "--env" => {
                opts.env.push(value(i)?);
                i += 2;
            }
            "--abi" => {
                opts.abi = value(i)?.parse()?;
                i += 2;
            }
            "--trap-unknown-imports" => {
                opts.trap_unknown_imports = true;
                i += 1;
            }
            "--invoke" => {
                opts.invoke = Some(value(i)?);
                i += 2;
            }
            "--wasabi-stats" => {
                stats = true;
                i += 1;
            }
            "--wasabi-help" => return Err(USAGE.into()),
            _ if a.starts_with("--abi=") => {
                opts.abi = a["--abi=".len()..].parse()?;
                i += 1;
            }
            _ if a.starts_with("--dir=") => {
                opts.dirs.push(a["--dir=".len()..].to_string());
                i += 1;
            }
            _ if a.starts_with("--env=") => {
                opts.env.push(a["--env=".len()..].to_string());
                i += 1;
            }
            _ => break,
        }
    }
    opts.args = args[i..].to_vec();
    Ok(AotArgs {
        command: opts,
        stats,
    })
}

/// Runs the linked module as a command, linked with the bundled modules
/// (`bundle::program`); with `stats`, prints the program's parts at the
/// end as `wasabi run --stats` does.
fn run_program(opts: &CommandOptions, stats: bool) -> Result<u8, String> {
    let module = linked_module()?;
    let engine = Engine::default();
    let (program, main_path) =
        bundle::program(&engine, &program_name()).map_err(|e| e.to_string())?;
    let status = run_linked_command(&engine, &module, opts, |store, linker, module| {
        program.instantiate(store, linker, module, &main_path)
    });
    if stats {
        // Every part was compiled by `wasabi aot`; "loaded" is whether its
        // code was set up (mapped, relocated, instantiated) in this run.
        for p in program.parts() {
            let what = if p.loaded {
                format!("loaded, {} functions (precompiled)", p.functions)
            } else {
                "never loaded (precompiled; its code was not set up)".into()
            };
            eprintln!("stats: part {} ({}): {what}", p.path.display(), p.kind);
        }
    }
    status
}

/// The `main` of an AOT executable (the link step adds a C `main` that
/// calls this).
#[no_mangle]
pub extern "C" fn wasabi_aot_main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<u8, String> {
        let args = parse_args(&args)?;
        run_program(&args.command, args.stats)
    };
    match run() {
        Ok(status) => status as c_int,
        Err(e) => {
            eprintln!("wasabi: {e}");
            1
        }
    }
}

/// Runs the linked module as a WASI command with `argv` (argv[0] is the
/// program name) and inherited stdio. Returns its exit status.
///
/// # Safety
/// `argv` must hold `argc` valid C strings.
#[no_mangle]
pub unsafe extern "C" fn wasabi_aot_run(argc: c_int, argv: *const *const c_char) -> c_int {
    let args: Vec<String> = (0..argc as usize)
        .map(|i| CStr::from_ptr(*argv.add(i)).to_string_lossy().into_owned())
        .collect();
    let mut opts = CommandOptions {
        program: program_name(),
        ..Default::default()
    };
    if let Some((first, rest)) = args.split_first() {
        opts.program = first.clone();
        opts.args = rest.to_vec();
    }
    match run_program(&opts, false) {
        Ok(s) => s as c_int,
        Err(e) => {
            eprintln!("wasabi: {e}");
            1
        }
    }
}

/// An instance for the C API (`wasabi.h`).
pub struct CInstance {
    store: Store<Host>,
    instance: Instance,
}

/// See `wasabi.h`.
#[no_mangle]
pub extern "C" fn wasabi_instantiate() -> *mut CInstance {
    let make = || -> Result<CInstance, String> {
        let module = linked_module()?;
        let ctx = CommandOptions {
            program: program_name(),
            ..Default::default()
        }
        .wasi_ctx()?;
        let engine = Engine::default();
        let mut store = Store::new(&engine, Host::new(ctx));
        // The same imports as the executable: WASI, Wasabi's ABI, and the
        // Emscripten ABI for emcc output; and the same bundled modules.
        let detected = detect::choose(AbiChoice::Auto, module.info(), None);
        let mut linker = command_linker(&engine, &module, detected.abi, false)
            .map_err(|e| link_error(e, &detected))?;
        let (program, main_path) =
            bundle::program(&engine, &program_name()).map_err(|e| e.to_string())?;
        let instance = program
            .instantiate(&mut store, &mut linker, &module, &main_path)
            .map_err(|e| link_error(e, &detected))?;
        Ok(CInstance { store, instance })
    };
    match make() {
        Ok(i) => Box::into_raw(Box::new(i)),
        Err(e) => {
            eprintln!("wasabi: {e}");
            std::ptr::null_mut()
        }
    }
}

/// A numeric value from its C form (`u64` bits); references cannot cross
/// the C API.
fn val_from_u64(raw: u64, t: ValType) -> Option<Val> {
    Some(match t {
        ValType::I32 => Val::I32(raw as u32 as i32),
        ValType::I64 => Val::I64(raw as i64),
        ValType::F32 => Val::F32(raw as u32),
        ValType::F64 => Val::F64(raw),
        _ => return None,
    })
}

fn val_to_u64(v: &Val) -> u64 {
    match *v {
        Val::I32(x) => x as u32 as u64,
        Val::I64(x) => x as u64,
        Val::F32(b) => b as u64,
        Val::F64(b) => b,
        _ => 0,
    }
}

/// See `wasabi.h`.
///
/// # Safety
/// `instance` must come from `wasabi_instantiate`; `name` must be a C
/// string; `args`/`results` must hold `nargs`/`nresults` values.
#[no_mangle]
pub unsafe extern "C" fn wasabi_call(
    instance: *mut CInstance,
    name: *const c_char,
    args: *const u64,
    nargs: usize,
    results: *mut u64,
    nresults: usize,
) -> c_int {
    // SAFETY: the caller passes null or a pointer from `wasabi_instantiate`.
    let Some(inst) = (unsafe { instance.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller passes a C string.
    let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
    let mut call = || -> Result<Vec<Val>, String> {
        let func = inst
            .instance
            .get_func(&mut inst.store, &name)
            .ok_or_else(|| format!("no exported function `{name}`"))?;
        let ty = func.ty(&inst.store);
        if ty.params.len() != nargs || ty.results.len() > nresults {
            return Err(format!("`{name}` has type {ty}; called with {nargs} arguments, room for {nresults} results"));
        }
        let raw = if nargs == 0 {
            &[][..]
        } else {
            // SAFETY: the caller passes `nargs` values at `args`.
            unsafe { std::slice::from_raw_parts(args, nargs) }
        };
        let vals = raw
            .iter()
            .zip(&ty.params)
            .map(|(a, t)| val_from_u64(*a, *t))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                format!("`{name}` has type {ty}: reference values cannot be passed from C")
            })?;
        func.call_vec(&mut inst.store, &vals)
            .map_err(|e| e.to_string())
    };
    match call() {
        Ok(vals) => {
            for (i, v) in vals.iter().enumerate() {
                // SAFETY: `i < ty.results.len() <= nresults`, checked above.
                unsafe { *results.add(i) = val_to_u64(v) };
            }
            0
        }
        Err(e) => {
            eprintln!("wasabi: {e}");
            -1
        }
    }
}

/// See `wasabi.h`.
///
/// # Safety
/// `instance` must come from `wasabi_instantiate` and not be used after.
#[no_mangle]
pub unsafe extern "C" fn wasabi_instance_free(instance: *mut CInstance) {
    if !instance.is_null() {
        drop(Box::from_raw(instance));
    }
}
