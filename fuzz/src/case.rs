//! One test case, start to finish: generate (and, in mutation mode,
//! mutate), run the oracle, run every wasabi mode, classify what differs,
//! shrink it, and write the reproducer.
//!
//! What must stay true: a case's outcome depends only on its seed and the
//! options; a panic anywhere in wasabi is caught here and reported as a
//! crash of the case (signals are the worker process's business: see
//! `driver.rs`); every unexplained mismatch leaves `mismatch-<seed>.wasm`
//! and `.txt` in the output directory.

use crate::exec::{
    oracle_validate, run_compiled, run_oracle, run_wasabi, Mismatch, OracleRun, Outcome, TrapKind,
    Verdict, Wasabi,
};
use crate::gen::{generate, Limits, Rng};
use crate::known;
use crate::shrink::shrink;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options shared by every case of a run.
#[derive(Clone, Debug)]
pub struct Options {
    pub fuel: u64,
    pub out: PathBuf,
    /// Treat known classes as unexplained.
    pub strict: bool,
    pub shrink: bool,
    pub shrink_budget: Duration,
    /// Also write reproducers of known classes (as `known-<class>-<seed>`).
    pub keep_known: bool,
}

/// The engines a worker builds once.
pub struct Engines {
    pub oracle: wasmi::Engine,
    pub modes: Vec<Wasabi>,
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Mutation mode: every mode rejected the module cleanly.
    Rejected,
    Skip(String),
    /// Some mode differs from the oracle. `class` is the known class, or
    /// `None` when unexplained.
    Mismatch {
        class: Option<String>,
        modes: Vec<String>,
    },
    /// wasabi panicked (caught).
    Crash {
        mode: String,
        message: String,
    },
}

pub struct Report {
    pub status: Status,
    /// Wall time of the oracle (`wasmi`) and of each mode.
    pub times: Vec<(String, Duration)>,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// The known class of `m` (mode `w`, module `wasm`, case `seed`), if any.
pub fn classify(
    m: &Mismatch,
    w: &Wasabi,
    oracle_engine: &wasmi::Engine,
    oracle: &OracleRun,
    wasm: &[u8],
    seed: u64,
    opts: &Options,
) -> Option<String> {
    if opts.strict {
        return None;
    }
    if let Some(c) = known::direct(m) {
        return Some(c.into());
    }
    if known::needs_exclusion_check(m) {
        let exclude: Vec<String> = oracle
            .calls
            .iter()
            .filter(|c| c.outcome == Outcome::Trap(TrapKind::MemoryOutOfBounds))
            .map(|c| c.export.clone())
            .collect();
        let Ok(again) = run_oracle(oracle_engine, wasm, seed, opts.fuel, &exclude) else {
            return None;
        };
        let v = catch_unwind(AssertUnwindSafe(|| {
            run_wasabi(w, wasm, &again, &mut |_| {})
        }));
        if let Ok(Verdict::Same | Verdict::Skip(_)) = v {
            return Some(known::MEMORY_TRAP_LOST.into());
        }
    }
    None
}

/// Runs mode `w` on `wasm` and returns its mismatch and class, if any (a
/// panic counts as no mismatch: shrinking must not chase crashes).
///
/// Unless `allow_memory_traps`, a module whose oracle run traps out of
/// bounds is refused without running wasabi: wasabi may lose that trap
/// (the known class) and run on into a loop the oracle never entered.
fn check(
    w: &Wasabi,
    eng: &Engines,
    wasm: &[u8],
    seed: u64,
    opts: &Options,
    allow_memory_traps: bool,
) -> Option<(Mismatch, Option<String>)> {
    let oracle = run_oracle(&eng.oracle, wasm, seed, opts.fuel, &[]).ok()?;
    if !allow_memory_traps && has_memory_trap(&oracle) {
        return None;
    }
    let v = catch_unwind(AssertUnwindSafe(|| {
        run_wasabi(w, wasm, &oracle, &mut |_| {})
    }))
    .ok()?;
    let Verdict::Differ(m) = v else {
        return None;
    };
    let class = classify(&m, w, &eng.oracle, &oracle, wasm, seed, opts);
    Some((*m, class))
}

fn has_memory_trap(o: &OracleRun) -> bool {
    let oob = Outcome::Trap(TrapKind::MemoryOutOfBounds);
    o.instantiate == oob || o.calls.iter().any(|c| c.outcome == oob)
}

fn describe_oracle(o: &OracleRun) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "instantiate: {}", o.instantiate);
    for (i, c) in o.calls.iter().enumerate() {
        let args: Vec<String> = c.args.iter().map(|v| v.to_string()).collect();
        let _ = writeln!(
            s,
            "call {i} `{}`({}) -> {}",
            c.export,
            args.join(", "),
            c.outcome
        );
    }
    if let Some(stop) = o.stop {
        let _ = writeln!(s, "stopped: {stop:?}");
    }
    s
}

fn wat_of(wasm: &[u8]) -> String {
    wasmprinter::print_bytes(wasm).unwrap_or_else(|e| format!("(cannot print: {e})"))
}

/// A differential case: generated module, every mode against the oracle.
pub fn diff_case(
    seed: u64,
    eng: &Engines,
    opts: &Options,
    stage: &mut dyn FnMut(&str, &str),
    inflight: &mut dyn FnMut(&[u8]),
) -> Report {
    let mut times = Vec::new();
    let limits = Limits::for_seed(seed);
    stage("generate", "");
    let Some(wasm) = generate(seed, &limits) else {
        return Report {
            status: Status::Skip("generator".into()),
            times,
        };
    };
    inflight(&wasm);
    stage("wasmi", "");
    let t = Instant::now();
    let oracle = match run_oracle(&eng.oracle, &wasm, seed, opts.fuel, &[]) {
        Ok(o) => o,
        Err(_) => {
            return Report {
                status: Status::Skip("oracle-rejected".into()),
                times,
            }
        }
    };
    times.push(("wasmi".into(), t.elapsed()));
    let mut mismatches = Vec::new();
    let mut skip = None;
    for w in &eng.modes {
        let name = w.mode.name();
        let t = Instant::now();
        let v = catch_unwind(AssertUnwindSafe(|| {
            run_wasabi(w, &wasm, &oracle, &mut |s| stage(&name, s))
        }));
        times.push((name.clone(), t.elapsed()));
        match v {
            Err(p) => {
                let message = panic_message(p);
                write_crash(opts, seed, &wasm, &name, &message);
                return Report {
                    status: Status::Crash {
                        mode: name,
                        message,
                    },
                    times,
                };
            }
            Ok(Verdict::Same) => {}
            Ok(Verdict::Skip(r)) => {
                skip.get_or_insert(r);
            }
            Ok(Verdict::Differ(m)) => {
                stage(&name, "classify");
                let class = classify(&m, w, &eng.oracle, &oracle, &wasm, seed, opts);
                mismatches.push((w, *m, class));
            }
        }
    }
    if mismatches.is_empty() {
        return Report {
            status: match skip {
                Some(r) => Status::Skip(r.into()),
                None => Status::Ok,
            },
            times,
        };
    }
    // The case is known only if every mode's mismatch is.
    let class = if mismatches.iter().all(|(_, _, c)| c.is_some()) {
        mismatches[0].2.clone()
    } else {
        None
    };
    let modes: Vec<String> = mismatches.iter().map(|(_, m, _)| m.mode.clone()).collect();
    if class.is_none() || opts.keep_known {
        let base = match &class {
            None => format!("mismatch-{seed}"),
            Some(c) => format!("known-{c}-{seed}"),
        };
        // Write the unshrunk case first: shrinking may crash the worker.
        let mut txt = String::new();
        let _ = writeln!(txt, "case seed {seed}, generated with {limits:?}");
        let _ = writeln!(
            txt,
            "reproduce: wasabi-fuzz --seed {seed} --cases 1 --modes {}\n",
            modes.join(",")
        );
        for (_, m, c) in &mismatches {
            let _ = writeln!(
                txt,
                "{m}\nclass:     {}\n",
                c.as_deref().unwrap_or("unexplained")
            );
        }
        let _ = writeln!(
            txt,
            "wasmi's run of the original module:\n{}",
            describe_oracle(&oracle)
        );
        let _ = std::fs::write(opts.out.join(format!("{base}.wasm")), &wasm);
        let _ = std::fs::write(opts.out.join(format!("{base}.txt")), &txt);
        // Known mismatches are kept as they are: shrinking them means
        // running wasabi on modules whose out-of-bounds traps it loses,
        // which can hang it.
        if opts.shrink && class.is_none() {
            stage(&mismatches[0].1.mode, "shrink");
            // Shrink against the first unexplained mode (or the first mode).
            let (w, m, c) = mismatches
                .iter()
                .find(|(_, _, c)| c.is_none())
                .unwrap_or(&mismatches[0]);
            let allow_memory_traps = has_memory_trap(&oracle);
            let mut pred = |cand: &[u8]| match check(w, eng, cand, seed, opts, allow_memory_traps) {
                Some((m2, c2)) => m2.signature == m.signature && c2 == *c,
                None => false,
            };
            let s = shrink(seed, limits, wasm.clone(), &mut pred, opts.shrink_budget);
            let _ = writeln!(
                txt,
                "shrunk {} -> {} bytes in {} attempts (mode {}):",
                wasm.len(),
                s.wasm.len(),
                s.attempts,
                w.mode.name()
            );
            for step in &s.steps {
                let _ = writeln!(txt, "  {step}");
            }
            if let Ok(o) = run_oracle(&eng.oracle, &s.wasm, seed, opts.fuel, &[]) {
                if let Some((m2, _)) = check(w, eng, &s.wasm, seed, opts, allow_memory_traps) {
                    let _ = writeln!(txt, "\nthe shrunk module:\n{m2}");
                }
                let _ = writeln!(
                    txt,
                    "\nwasmi's run of the shrunk module:\n{}",
                    describe_oracle(&o)
                );
            }
            let _ = writeln!(txt, "{}", wat_of(&s.wasm));
            let _ = std::fs::write(opts.out.join(format!("{base}.wasm")), &s.wasm);
            let _ = std::fs::write(opts.out.join(format!("{base}.orig.wasm")), &wasm);
            let _ = std::fs::write(opts.out.join(format!("{base}.txt")), &txt);
        }
    }
    Report {
        status: Status::Mismatch { class, modes },
        times,
    }
}

fn write_crash(opts: &Options, seed: u64, wasm: &[u8], mode: &str, message: &str) {
    let _ = std::fs::write(opts.out.join(format!("crash-{seed}.wasm")), wasm);
    let _ = std::fs::write(
        opts.out.join(format!("crash-{seed}.txt")),
        format!("case seed {seed}: wasabi panicked in mode {mode}:\n{message}\n"),
    );
}

/// Applies 1 (half the time) to 4 random byte-level mutations: flip a bit, overwrite a
/// byte with an interesting value, insert random bytes, delete a range,
/// duplicate a range, or truncate.
pub fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = base.to_vec();
    let n = if rng.chance(1, 2) { 1 } else { rng.range(2, 4) };
    for _ in 0..n {
        if b.is_empty() {
            b.push(rng.next_u64() as u8);
            continue;
        }
        let len = b.len() as u64;
        let at = rng.below(len) as usize;
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => {
                const VALUES: &[u8] = &[0x00, 0xff, 0x7f, 0x80, 0x40, 0x01, 0x0b, 0x41];
                b[at] = VALUES[rng.below(VALUES.len() as u64) as usize];
            }
            2 => b[at] = rng.next_u64() as u8,
            3 => {
                let k = rng.range(1, 8) as usize;
                let bytes = rng.bytes(k);
                b.splice(at..at, bytes);
            }
            4 => {
                let k = (rng.range(1, 16) as usize).min(b.len() - at);
                b.drain(at..at + k);
            }
            5 => {
                let k = (rng.range(1, 32) as usize).min(b.len() - at);
                let chunk = b[at..at + k].to_vec();
                let to = rng.below(b.len() as u64 + 1) as usize;
                b.splice(to..to, chunk);
            }
            _ => b.truncate(at),
        }
    }
    b
}

/// A mutation case: a generated module, mutated; wasabi must reject it
/// cleanly or run it exactly as the oracle does.
pub fn mutate_case(
    seed: u64,
    eng: &Engines,
    opts: &Options,
    stage: &mut dyn FnMut(&str, &str),
    inflight: &mut dyn FnMut(&[u8]),
) -> Report {
    let mut times = Vec::new();
    let limits = Limits::for_seed(seed);
    stage("generate", "");
    let Some(base) = generate(seed, &limits) else {
        return Report {
            status: Status::Skip("generator".into()),
            times,
        };
    };
    let mut rng = Rng::new(seed ^ 0x6d75_7461_7465);
    let wasm = mutate(&base, &mut rng);
    inflight(&wasm);
    stage("wasmi", "");
    let t = Instant::now();
    // `None`: wasmi panicked on it, so it cannot judge this module.
    let Some(oracle_module) = oracle_validate(&eng.oracle, &wasm) else {
        return mutate_without_oracle(seed, eng, &wasm, times, stage, opts);
    };
    let oracle = match &oracle_module {
        Ok(_) => run_oracle(&eng.oracle, &wasm, seed, opts.fuel, &[]).ok(),
        Err(_) => None,
    };
    times.push(("wasmi".into(), t.elapsed()));
    let mut finding: Option<(String, String, Option<String>)> = None; // (mode, text, class)
    let mut skip = None;
    let mut accepted = false;
    for w in &eng.modes {
        let name = w.mode.name();
        let t = Instant::now();
        stage(&name, "compile");
        let compiled = catch_unwind(AssertUnwindSafe(|| w.compile(&wasm)));
        let result = match compiled {
            Err(p) => {
                let message = panic_message(p);
                write_crash(opts, seed, &wasm, &name, &message);
                return Report {
                    status: Status::Crash {
                        mode: name,
                        message,
                    },
                    times,
                };
            }
            Ok(Err(wasabi::Error::Module(e))) => {
                if e.offset > wasm.len() {
                    Some(format!(
                        "error offset {:#x} past the end ({} bytes): {e}",
                        e.offset,
                        wasm.len()
                    ))
                } else if oracle_module.is_ok() {
                    Some(format!("wasabi rejects, wasmi accepts: {e}"))
                } else {
                    None
                }
            }
            Ok(Err(wasabi::Error::Text(_) | wasabi::Error::Unsupported(_))) => None,
            Ok(Err(e)) => Some(format!("not a clean rejection: {e:?}")),
            Ok(Ok(module)) => {
                accepted = true;
                match (&oracle_module, &oracle) {
                    (Err(e), _) => Some(format!("wasabi accepts, wasmi rejects: {e}")),
                    (Ok(_), None) => None,
                    (Ok(_), Some(o)) => {
                        let v = catch_unwind(AssertUnwindSafe(|| {
                            run_compiled(w, &module, o, &mut |s| stage(&name, s))
                        }));
                        match v {
                            Err(p) => {
                                let message = panic_message(p);
                                write_crash(opts, seed, &wasm, &name, &message);
                                return Report {
                                    status: Status::Crash {
                                        mode: name,
                                        message,
                                    },
                                    times,
                                };
                            }
                            Ok(Verdict::Same) => None,
                            Ok(Verdict::Skip(r)) => {
                                skip.get_or_insert(r);
                                None
                            }
                            Ok(Verdict::Differ(m)) => {
                                let class = classify(&m, w, &eng.oracle, o, &wasm, seed, opts);
                                finding = Some((name.clone(), m.to_string(), class));
                                None
                            }
                        }
                    }
                }
            }
        };
        times.push((name.clone(), t.elapsed()));
        if let Some(text) = result {
            finding = Some((name, text, None));
        }
        if finding.is_some() {
            break;
        }
    }
    let Some((mode, text, class)) = finding else {
        return Report {
            status: match skip {
                Some(r) => Status::Skip(r.into()),
                None if !accepted => Status::Rejected,
                None => Status::Ok,
            },
            times,
        };
    };
    if class.is_none() || opts.keep_known {
        let base = match &class {
            None => format!("mutant-{seed}"),
            Some(c) => format!("known-{c}-mutant-{seed}"),
        };
        let _ = std::fs::write(opts.out.join(format!("{base}.wasm")), &wasm);
        let _ = std::fs::write(
            opts.out.join(format!("{base}.txt")),
            format!(
                "mutation case seed {seed} (base generated with {limits:?})\nreproduce: wasabi-fuzz mutate --seed {seed} --cases 1 --modes {mode}\nmode {mode}:\n{text}\nclass: {}\n",
                class.as_deref().unwrap_or("unexplained")
            ),
        );
    }
    Report {
        status: Status::Mismatch {
            class,
            modes: vec![mode],
        },
        times,
    }
}

/// A mutant wasmi panics on: wasabi must still reject it cleanly or compile
/// it without crashing; nothing can be compared.
fn mutate_without_oracle(
    seed: u64,
    eng: &Engines,
    wasm: &[u8],
    times: Vec<(String, Duration)>,
    stage: &mut dyn FnMut(&str, &str),
    opts: &Options,
) -> Report {
    for w in &eng.modes {
        let name = w.mode.name();
        stage(&name, "compile");
        match catch_unwind(AssertUnwindSafe(|| w.compile(wasm))) {
            Err(p) => {
                let message = panic_message(p);
                write_crash(opts, seed, wasm, &name, &message);
                return Report {
                    status: Status::Crash {
                        mode: name,
                        message,
                    },
                    times,
                };
            }
            Ok(Ok(_)) => {
                return Report {
                    status: Status::Skip("oracle-panic".into()),
                    times,
                }
            }
            Ok(Err(
                wasabi::Error::Module(_) | wasabi::Error::Text(_) | wasabi::Error::Unsupported(_),
            )) => {}
            Ok(Err(e)) => {
                let _ = std::fs::write(opts.out.join(format!("mutant-{seed}.wasm")), wasm);
                let _ = std::fs::write(
                    opts.out.join(format!("mutant-{seed}.txt")),
                    format!("mode {name}: not a clean rejection: {e:?}\n"),
                );
                return Report {
                    status: Status::Mismatch {
                        class: None,
                        modes: vec![name],
                    },
                    times,
                };
            }
        }
    }
    Report {
        status: Status::Rejected,
        times,
    }
}
