//! The compiled-code cache and precompiled modules through the library:
//! `Config::cache_dir`, `Module::cache_outcome`, `Module::serialize` and
//! `Module::deserialize`.

mod common;

use wasabi::{CacheOutcome, CompileMode, Config, Engine, Error, Instance, Module, OptLevel, Store};

const WAT: &str = r#"(module (func (export "twice") (param i32) (result i32)
  (i32.mul (local.get 0) (i32.const 2))))"#;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wasabi-lib-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn twice(engine: &Engine, module: &Module, x: i32) -> i32 {
    let mut store = Store::new(engine, ());
    let inst = Instance::new(&mut store, module, &[]).unwrap();
    let f = inst
        .get_typed_func::<i32, i32>(&mut store, "twice")
        .unwrap();
    f.call(&mut store, x).unwrap()
}

#[test]
fn modules_come_from_the_cache_the_second_time() {
    let dir = scratch("hits");
    let engine = Engine::new(Config::new().cache_dir(&dir));
    let first = Module::new(&engine, WAT).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
    let second = Module::new(&engine, WAT).unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(twice(&engine, &second, 21), 42);
    // Another engine with other settings does not share the entry.
    let o3 = Engine::new(Config::new().cache_dir(&dir).opt_level(OptLevel::O3));
    assert_eq!(
        Module::new(&o3, WAT).unwrap().cache_outcome(),
        CacheOutcome::Miss
    );
    let off = Engine::new(Config::new().cache(false));
    assert_eq!(
        Module::new(&off, WAT).unwrap().cache_outcome(),
        CacheOutcome::NotUsed
    );
    assert_eq!(engine.cache().unwrap().stats().entries, 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serialize_and_deserialize() {
    let engine = Engine::new(Config::new().cache(false));
    let module = Module::new(&engine, WAT).unwrap();
    let bytes = module.serialize(&engine).unwrap();
    // SAFETY: bytes made just above by this process.
    let back = unsafe { Module::deserialize(&engine, &bytes) }.unwrap();
    assert_eq!(twice(&engine, &back, 5), 10);

    // Made for other settings: refused before any code is loaded.
    let o3 = Engine::new(Config::new().cache(false).opt_level(OptLevel::O3));
    // SAFETY: as above; refused anyway.
    let e = unsafe { Module::deserialize(&o3, &bytes) }.unwrap_err();
    assert!(matches!(e, Error::Load(_)), "{e}");
    assert!(e.to_string().contains("compiled for another"), "{e}");
    // Damaged: refused.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    // SAFETY: as above; refused anyway.
    let e = unsafe { Module::deserialize(&engine, &bad) }.unwrap_err();
    assert!(e.to_string().contains("corrupt"), "{e}");
    // SAFETY: as above; refused anyway.
    let e = unsafe { Module::deserialize(&engine, b"\0asm\x01\0\0\0") }.unwrap_err();
    assert!(
        e.to_string().contains("not a wasabi compiled-code file"),
        "{e}"
    );
}

/// Tiered mode caches the optimising tier's code too: a function that was
/// hot in one run starts the next run in optimised code, with no baseline
/// and no recompilation, and computes the same results.
#[test]
fn tiered_runs_start_with_the_code_earlier_runs_optimised() {
    let dir = scratch("tiered");
    let engine = || {
        Engine::new(
            Config::new()
                .cache_dir(&dir)
                .mode(CompileMode::Tiered)
                .tier_up_after(5)
                .tier_up_in_background(false),
        )
    };
    let run = |engine: &Engine| {
        let module = Module::new(engine, WAT).unwrap();
        // One instance: execution counters are per instance.
        let mut store = Store::new(engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let f = inst
            .get_typed_func::<i32, i32>(&mut store, "twice")
            .unwrap();
        for x in 0..20 {
            assert_eq!(f.call(&mut store, x).unwrap(), 2 * x);
        }
        module.lazy_stats().unwrap()
    };
    // First run: baseline, then recompiled once hot (on this thread).
    let first = run(&engine());
    assert_eq!((first.cached, first.optimized), (0, 1), "{first:?}");
    // Second run: the optimised code from the start, nothing compiled.
    let second = run(&engine());
    assert_eq!(second.compiled, 1, "{second:?}");
    assert_eq!(second.cached, 1, "{second:?}");
    assert_eq!(second.optimized, 0, "no recompilation: {second:?}");
    // With the cache off, the same module tiers up again.
    let off = Engine::new(
        Config::new()
            .cache(false)
            .mode(CompileMode::Tiered)
            .tier_up_after(5)
            .tier_up_in_background(false),
    );
    let third = run(&off);
    assert_eq!((third.cached, third.optimized), (0, 1), "{third:?}");
}

/// Tiered mode caches on-stack-replacement entries too: a loop that ran
/// long in one run enters optimised code in the next without compiling
/// it again (an OSR entry is a whole optimised compilation of its
/// function, which kept regex_bench's warm runs in baseline code for
/// half a second), and the entry computes the same result.
#[test]
fn tiered_runs_enter_hot_loops_with_code_earlier_runs_compiled() {
    const LOOP: &str = r#"(module
      (func (export "sum") (param $n i32) (result i64) (local $i i32) (local $acc i64)
        (loop $next
          (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $acc)))"#;
    let dir = scratch("tiered-osr");
    let run = |cache: bool| {
        let config = Config::new()
            .mode(CompileMode::Tiered)
            .tier_up_after(50)
            .tier_up_in_background(false);
        let config = match cache {
            true => config.cache_dir(&dir),
            false => config.cache(false),
        };
        let engine = Engine::new(config);
        let module = Module::new(&engine, LOOP).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let sum = inst.get_typed_func::<i32, i64>(&mut store, "sum").unwrap();
        let n = 100_000;
        // One call: the loop, not the function, turns hot.
        assert_eq!(
            sum.call(&mut store, n).unwrap(),
            (n as i64 - 1) * n as i64 / 2
        );
        module.lazy_stats().unwrap()
    };
    let first = run(true);
    assert_eq!((first.osr_entries, first.osr_cached), (1, 0), "{first:?}");
    let second = run(true);
    assert_eq!(
        (second.osr_entries, second.osr_cached),
        (0, 1),
        "{second:?}"
    );
    // Without the cache the entry is compiled again.
    let off = run(false);
    assert_eq!((off.osr_entries, off.osr_cached), (1, 0), "{off:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A hit takes the module's description from the cache entry instead of
/// parsing the wasm again: it must describe the module exactly as parsing
/// does (imports, exports, names in traps), and the module must run.
#[test]
fn a_hit_describes_the_module_as_parsing_does() {
    const NAMED: &str = r#"(module $m
      (import "env" "f" (func $imported (param i32)))
      (memory (export "mem") 1 2)
      (global (export "g") (mut i64) (i64.const 7))
      (table (export "t") 3 funcref)
      (data (i32.const 16) "hello")
      (func $twice (export "twice") (param i32) (result i32)
        (i32.mul (local.get 0) (i32.const 2)))
      (func $boom (export "boom") unreachable))"#;
    let dir = scratch("describe");
    let engine = Engine::new(Config::new().cache_dir(&dir));
    let first = Module::new(&engine, NAMED).unwrap();
    let second = Module::new(&engine, NAMED).unwrap();
    assert_eq!(
        (first.cache_outcome(), second.cache_outcome()),
        (CacheOutcome::Miss, CacheOutcome::Hit)
    );
    let describe = |m: &Module| {
        let imports: Vec<String> = m
            .imports()
            .map(|i| format!("{}::{} {}", i.module, i.name, i.ty))
            .collect();
        let exports: Vec<String> = m
            .exports()
            .map(|e| format!("{} {}", e.name, e.ty))
            .collect();
        let info = m.info();
        let names: Vec<String> = (0..info.functions.len() as u32)
            .map(|f| info.func_display_name(f))
            .collect();
        (
            imports,
            exports,
            names,
            info.data.len(),
            info.function_bodies.clone(),
        )
    };
    assert_eq!(describe(&first), describe(&second));
    assert_eq!(describe(&second).2, ["imported", "twice", "boom"]);

    // Lazy mode keeps the description too (validated once, then read from
    // the cache): the same description, and, with every entry damaged,
    // everything is refused, parsed and compiled again.
    let lazy = Engine::new(Config::new().cache_dir(&dir).mode(CompileMode::Lazy));
    let before = engine.cache().unwrap().stats().entries;
    let first_lazy = Module::new(&lazy, NAMED).unwrap();
    let after = engine.cache().unwrap().stats().entries;
    assert_eq!(after, before + 2, "the description and the trampolines");
    let second_lazy = Module::new(&lazy, NAMED).unwrap();
    assert_eq!(describe(&first_lazy), describe(&first));
    assert_eq!(describe(&second_lazy), describe(&first));
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, bytes).unwrap();
    }
    let damaged = Module::new(&lazy, NAMED).unwrap();
    assert_eq!(describe(&damaged), describe(&first));
    assert_eq!(engine.cache().unwrap().stats().entries, 3, "rewritten");
    // (The regular-mode entry was damaged too, and is refused when used.)
    let regular = Module::new(&engine, NAMED).unwrap();
    assert_eq!(regular.cache_outcome(), CacheOutcome::Replaced);
    assert_eq!(describe(&regular), describe(&first));
    let _ = std::fs::remove_dir_all(dir);
}

/// `Module::from_shared_bytes` takes binary and text alike, and shares the
/// cache with `Module::new`.
#[test]
fn shared_bytes_compile_and_hit_the_cache() {
    let dir = scratch("shared");
    let engine = Engine::new(Config::new().cache_dir(&dir));
    let text: std::sync::Arc<[u8]> = WAT.as_bytes().into();
    let m = Module::from_shared_bytes(&engine, text, "m").unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Miss);
    assert_eq!(twice(&engine, &m, 4), 8);
    let binary: std::sync::Arc<[u8]> = wat::parse_str(WAT).unwrap().into();
    let m = Module::from_shared_bytes(&engine, binary, "m").unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(twice(&engine, &m, 5), 10);
    let _ = std::fs::remove_dir_all(dir);
}

/// Creates `dir` and writes 100,000 patterned bytes to `dir/m.wasm`: its
/// path and the bytes.
fn patterned_file(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("m.wasm");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// `read_shared` reads a file whole into shared memory, including files
/// whose size is not known up front (procfs reports 0).
#[test]
fn read_shared_reads_whole_files() {
    let dir = scratch("read");
    let (path, bytes) = patterned_file(&dir);
    assert_eq!(&*wasabi::read_shared(&path).unwrap(), &bytes[..]);
    std::fs::write(&path, b"").unwrap();
    assert!(wasabi::read_shared(&path).unwrap().is_empty());
    let status = wasabi::read_shared(std::path::Path::new("/proc/self/status")).unwrap();
    assert!(status.starts_with(b"Name:"), "{:?}", &status[..16]);
    assert!(wasabi::read_shared(&dir.join("missing")).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

/// `Module::from_file` maps the file (`ModuleBytes::map_file`): a miss
/// compiles and stores the code, a hit comes from the cache, a damaged
/// entry is still refused and replaced, and lazy mode, text files and bad
/// files behave as when the bytes were read.
#[test]
fn mapped_module_files_use_the_cache_as_read_ones_did() {
    let dir = scratch("mapped");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("twice.wasm");
    let binary = wat::parse_str(WAT).unwrap();
    std::fs::write(&path, &binary).unwrap();
    let engine = Engine::new(Config::new().cache_dir(dir.join("cache")));
    let m = Module::from_file(&engine, &path).unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Miss);
    assert_eq!(m.name(), "twice");
    let m = Module::from_file(&engine, &path).unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(twice(&engine, &m, 21), 42);
    // The same key as the bytes given in memory.
    let shared = Module::from_shared_bytes(&engine, binary.clone().into(), "m").unwrap();
    assert_eq!(shared.cache_outcome(), CacheOutcome::Hit);
    // A module mapped from a file serializes like any other.
    let cwasm = m.serialize(&engine).unwrap();
    // SAFETY: bytes made just above by this process.
    let back = unsafe { Module::deserialize(&engine, &cwasm) }.unwrap();
    assert_eq!(twice(&engine, &back, 3), 6);

    // Every byte of the entry damaged: refused, recompiled, replaced.
    let entries: Vec<_> = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut entry = std::fs::read(&entries[0]).unwrap();
    let n = entry.len();
    entry[n - 3] ^= 0x10;
    std::fs::write(&entries[0], &entry).unwrap();
    let m = Module::from_file(&engine, &path).unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Replaced);
    assert_eq!(twice(&engine, &m, 7), 14);
    assert_eq!(
        Module::from_file(&engine, &path).unwrap().cache_outcome(),
        CacheOutcome::Hit
    );

    // Lazy mode compiles from a copy of the mapped bytes.
    let lazy = Engine::new(
        Config::new()
            .cache_dir(dir.join("cache"))
            .mode(CompileMode::Lazy),
    );
    let m = Module::from_file(&lazy, &path).unwrap();
    assert_eq!(twice(&lazy, &m, 8), 16);

    // Text files are mapped too, and converted.
    let wat = dir.join("text.wat");
    std::fs::write(&wat, WAT).unwrap();
    let m = Module::from_file(&engine, &wat).unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Hit);

    // A truncated module: a clear error naming the problem, no panic.
    std::fs::write(&path, &binary[..binary.len() - 3]).unwrap();
    let e = Module::from_file(&engine, &path).unwrap_err();
    assert!(matches!(e, Error::Module(_)), "{e}");
    // An empty file is not mapped (there is nothing to map): invalid.
    std::fs::write(&path, b"").unwrap();
    assert!(Module::from_file(&engine, &path).is_err());
    // A missing one names the path.
    let e = Module::from_file(&engine, dir.join("missing.wasm")).unwrap_err();
    assert!(e.to_string().contains("missing.wasm"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `ModuleBytes::map_file` maps regular files and reads the rest (procfs
/// files report size 0; pipes cannot be mapped).
#[test]
fn module_bytes_map_files_and_read_the_rest() {
    let dir = scratch("map-file");
    let (path, bytes) = patterned_file(&dir);
    let mapped = wasabi::ModuleBytes::map_file(&path).unwrap();
    assert!(mapped.is_mapped());
    assert_eq!(&*mapped, &bytes[..]);
    assert_eq!(&*mapped.shared(), &bytes[..]);
    let status = wasabi::ModuleBytes::map_file(std::path::Path::new("/proc/self/status")).unwrap();
    assert!(!status.is_mapped());
    assert!(status.starts_with(b"Name:"));
    std::fs::write(&path, b"").unwrap();
    assert!(wasabi::ModuleBytes::map_file(&path).unwrap().is_empty());
    assert!(wasabi::ModuleBytes::map_file(&dir.join("missing")).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

/// Compiles in process and counts the modules opened in it.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicUsize);

impl Counting {
    fn opened(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl wasabi::internals::compiler_abi::Backend for Counting {
    fn open(
        &self,
        info: &std::sync::Arc<wasabi::internals::runtime::ModuleInfo>,
        wasm: &std::sync::Arc<[u8]>,
    ) -> Result<
        std::sync::Arc<dyn wasabi::internals::compiler_abi::ModuleCompiler>,
        wasabi::internals::compiler_abi::Failure,
    > {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        wasabi::internals::compiler::InProcess.open(info, wasm)
    }

    fn versioned_loops(&self) -> u64 {
        0
    }
}

/// The cache key does not depend on what compiles (the `wasabi` command's
/// plugin and the library's in-process compiler share entries), a hit never
/// opens the module in the compiler (so the command never loads its plugin),
/// and a module is opened once for all it compiles, both tiers included.
#[test]
fn backends_share_the_cache_and_open_a_module_once() {
    use std::sync::Arc;
    use wasabi::internals::compiler_abi::Backend;
    let dir = scratch("backends");
    for mode in [CompileMode::Regular, CompileMode::Lazy] {
        let config = Config::new().cache_dir(&dir).mode(mode);
        let first = Engine::new(config.clone());
        let m = Module::new(&first, WAT).unwrap();
        assert_eq!(twice(&first, &m, 4), 8);
        let counting = Arc::new(Counting::default());
        let backend: Arc<dyn Backend> = counting.clone();
        let second = Engine::with_backend(config, backend);
        let m = Module::new(&second, WAT).unwrap();
        if mode == CompileMode::Regular {
            assert_eq!(m.cache_outcome(), CacheOutcome::Hit);
        }
        assert_eq!(twice(&second, &m, 21), 42);
        assert_eq!(counting.opened(), 0, "{mode:?}: a hit compiles nothing");
        assert_eq!(
            m.lazy_stats().map_or(0, |s| s.cached),
            m.lazy_stats().map_or(0, |s| s.compiled)
        );
    }
    // Without a cache: one module opened for the trampolines, the baseline
    // code and the optimised code.
    let counting = Arc::new(Counting::default());
    let backend: Arc<dyn Backend> = counting.clone();
    let engine = Engine::with_backend(
        Config::new()
            .cache(false)
            .mode(CompileMode::Tiered)
            .tier_up_after(5)
            .tier_up_in_background(false),
        backend,
    );
    let module = Module::new(&engine, WAT).unwrap();
    let mut store = Store::new(&engine, ());
    let inst = Instance::new(&mut store, &module, &[]).unwrap();
    let f = inst
        .get_typed_func::<i32, i32>(&mut store, "twice")
        .unwrap();
    for x in 0..20 {
        assert_eq!(f.call(&mut store, x).unwrap(), 2 * x);
    }
    let stats = module.lazy_stats().unwrap();
    assert_eq!((stats.compiled, stats.optimized), (1, 1), "{stats:?}");
    assert_eq!(counting.opened(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// A backend that cannot compile (say, a missing plugin) is an error, raised
/// after validation.
#[test]
fn an_engine_whose_backend_fails_reports_it() {
    use std::sync::Arc;
    use wasabi::internals::compiler_abi::{Backend, Failure, ModuleCompiler};
    struct Missing;
    impl Backend for Missing {
        fn open(
            &self,
            _: &Arc<wasabi::internals::runtime::ModuleInfo>,
            _: &Arc<[u8]>,
        ) -> Result<Arc<dyn ModuleCompiler>, Failure> {
            Err(Failure::other("no compiler here"))
        }
        fn versioned_loops(&self) -> u64 {
            0
        }
    }
    for mode in [CompileMode::Regular, CompileMode::Lazy] {
        let engine = Engine::with_backend(Config::new().cache(false).mode(mode), Arc::new(Missing));
        match Module::new(&engine, WAT) {
            Err(Error::Compile(e)) => assert!(e.contains("no compiler here"), "{e}"),
            other => panic!("{mode:?}: {other:?}"),
        }
        // Invalid modules are still reported as such.
        match Module::new(&engine, "(module (func (result i32)))") {
            Err(Error::Module(_)) => {}
            other => panic!("{mode:?}: {other:?}"),
        }
    }
}

/// Whether `dir` is on a file system mounted `noexec`.
fn noexec(dir: &std::path::Path) -> bool {
    let dir = dir.canonicalize().unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && dir.starts_with(f[1])).then(|| (f[1].len(), f[3].to_string()))
        })
        .max()
        .is_some_and(|(_, opts)| opts.split(',').any(|o| o == "noexec"))
}

/// The regular-mode cache stores objects linked once and for all
/// (`loader::link_image`), each at a page boundary of the entry; a hit maps
/// their code from the entry. Loaded any way (from the ELF object, from the
/// image copied, from the image mapped from a file), the code is the same
/// bytes with the same symbols; a damaged image is refused, never mapped.
#[test]
fn linked_images_load_as_their_objects_do() {
    use wasabi::internals::runtime::loader::{is_image, link_image, load_image, load_object};
    use wasabi_cache::{decode, Kind, PAGE};
    let engine = Engine::new(Config::new().cache(false));
    let cwasm = engine.precompile_module(WAT).unwrap();
    let c = decode(&cwasm, Kind::Precompiled, None).unwrap();
    assert!(!c.objects.is_empty());
    let dir = scratch("images");
    std::fs::create_dir_all(&dir).unwrap();
    for elf in &c.objects {
        assert!(!is_image(elf));
        let image = link_image(elf).unwrap();
        assert!(is_image(&image));
        let from_elf = load_object(elf).unwrap();
        let copied = load_image(&image, None).unwrap();
        // In a file: at a page boundary (mapped) and not (copied).
        let path = dir.join("image");
        let mut file_bytes = vec![0u8; PAGE];
        file_bytes.extend_from_slice(&image);
        std::fs::write(&path, &file_bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mapped = load_image(&file_bytes[PAGE..], Some((&file, PAGE as u64))).unwrap();
        let unaligned = load_image(&file_bytes[PAGE..], Some((&file, 8))).unwrap();
        // Each load starts the code at its own cache line of the page
        // (`loader::next_code_colour`): compare from the first symbol to
        // the end of the last.
        let code = |o: &wasabi::internals::runtime::loader::LoadedObject| {
            let start = o.symbols().iter().map(|s| s.address).min().unwrap();
            let end = o
                .symbols()
                .iter()
                .map(|s| s.address + s.size)
                .max()
                .unwrap();
            assert!(o.code_range().0 <= start && end <= o.code_range().1);
            // SAFETY: the symbols lie in the object's code range, mapped
            // readable while it lives.
            let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
            let symbols: Vec<(String, usize, usize)> = o
                .symbols()
                .iter()
                .map(|s| (s.name.clone(), s.address - start, s.size))
                .collect();
            (bytes.to_vec(), symbols)
        };
        let expected = code(&from_elf);
        assert!(!expected.1.is_empty());
        for (how, o) in [
            ("copied", &copied),
            ("mapped", &mapped),
            ("unaligned", &unaligned),
        ] {
            assert!(code(o) == expected, "{how}: not the ELF object's code");
        }
        // Mapped means mapped: the code's pages are the file's (unless its
        // mount forbids running code from files: then copied).
        let backing = |o: &wasabi::internals::runtime::loader::LoadedObject| {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            let pc = o.code_range().0;
            let line = maps
                .lines()
                .find(|l| {
                    let (a, b) = l
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .split_once('-')
                        .unwrap();
                    let a = usize::from_str_radix(a, 16).unwrap();
                    let b = usize::from_str_radix(b, 16).unwrap();
                    a <= pc && pc < b
                })
                .unwrap();
            line.split_whitespace().nth(5).unwrap_or("").to_string()
        };
        if !noexec(&dir) {
            assert_eq!(backing(&mapped), path.to_str().unwrap());
        }
        assert_eq!(backing(&copied), "");
        assert_eq!(backing(&unaligned), "");
        // Damaged images: refused with an error, whatever is cut or changed.
        for cut in [0, 8, 64, image.len() - PAGE, image.len() - 1] {
            assert!(load_image(&image[..cut], None).is_err(), "cut at {cut}");
        }
        let mut bad = image.clone();
        bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load_image(&bad, None).is_err());
        let mut bad = image.clone();
        bad[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(load_image(&bad, None).is_err());
    }

    // The cache stores images, page-aligned; a hit runs them.
    let engine = Engine::new(Config::new().cache_dir(dir.join("cache")));
    assert_eq!(
        Module::new(&engine, WAT).unwrap().cache_outcome(),
        CacheOutcome::Miss
    );
    let entries: Vec<_> = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    let entry = decode(&entries[0], Kind::CacheEntry, None).unwrap();
    assert!(!entry.objects.is_empty());
    for o in &entry.objects {
        assert!(is_image(o));
        assert_eq!(
            (o.as_ptr() as usize - entries[0].as_ptr() as usize) % PAGE,
            0
        );
    }
    let m = Module::new(&engine, WAT).unwrap();
    assert_eq!(m.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(twice(&engine, &m, 50), 100);
    // A cwasm made from the hit holds the images, and loads.
    let cwasm = m.serialize(&engine).unwrap();
    // SAFETY: made just above by this process.
    let back = unsafe { Module::deserialize(&engine, &cwasm) }.unwrap();
    assert_eq!(twice(&engine, &back, 6), 12);
    let _ = std::fs::remove_dir_all(dir);
}

/// Tiered mode compiles small functions ahead of their first calls in
/// batches, one object each, and the cache stores that object under each
/// of them. A later run loads each batch once: the first of its functions
/// looked up brings the others (before, each function loaded its own copy
/// of the whole batch, and a warm run of the 4 MB start-up module spent
/// 7 % longer than before batching).
#[test]
fn a_batch_compiled_ahead_is_loaded_from_the_cache_once() {
    let dir = scratch("ahead-batches");
    let wat = common::small_functions(20);
    let run = || {
        let engine = Engine::new(
            Config::new()
                .cache_dir(&dir)
                .mode(CompileMode::Tiered)
                .tier_up_after(1_000_000)
                .tier_up_in_background(true),
        );
        let module = Module::new(&engine, &wat).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        // Nothing is called until the background thread has them all.
        let stats = common::wait_for_stats(&module, |s| s.compiled == 20);
        common::check_small_functions(&mut store, &inst, 20);
        stats
    };
    let cold = run();
    assert_eq!(
        (cold.cached, cold.ahead, cold.ahead_objects),
        (0, 20, 3),
        "{cold:?}"
    );
    let warm = run();
    assert_eq!((warm.compiled, warm.cached), (20, 20), "{warm:?}");
    assert_eq!(warm.ahead_objects, 3, "one load per batch: {warm:?}");
}
