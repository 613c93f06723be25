//! One test case, start to finish: generate (and, in mutation mode,
//! mutate), run the oracle, run every wasabi mode, shrink what differs,
//! and write the reproducer.
//!
//! What must stay true: a case's outcome depends only on its seed and the
//! options; a panic anywhere in wasabi is caught here and reported as a
//! crash of the case (signals are the worker process's business: see
//! `driver.rs`); every mismatch leaves `mismatch-<seed>.wasm` (or
//! `mutant-<seed>.wasm`) and `.txt` in the output directory.

use crate::exec::{
    oracle_validate, run_compiled, run_oracle, run_wasabi, Mismatch, OracleRun, Verdict, Wasabi,
};
use crate::gen::{generate, Limits, Rng};
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
    pub shrink: bool,
    pub shrink_budget: Duration,
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
    /// Some mode differs from the oracle (in mutation mode: or does not
    /// reject cleanly).
    Mismatch {
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

/// Runs mode `w` on `wasm` and returns its mismatch, if any (a panic
/// counts as no mismatch: shrinking must not chase crashes).
fn check(w: &Wasabi, eng: &Engines, wasm: &[u8], seed: u64, opts: &Options) -> Option<Mismatch> {
    let oracle = run_oracle(&eng.oracle, wasm, seed, opts.fuel).ok()?;
    let v = catch_unwind(AssertUnwindSafe(|| {
        run_wasabi(w, wasm, &oracle, &mut |_| {})
    }))
    .ok()?;
    match v {
        Verdict::Differ(m) => Some(*m),
        _ => None,
    }
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
    let oracle = match run_oracle(&eng.oracle, &wasm, seed, opts.fuel) {
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
            Ok(Verdict::Differ(m)) => mismatches.push((w, *m)),
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
    let modes: Vec<String> = mismatches.iter().map(|(_, m)| m.mode.clone()).collect();
    let base = format!("mismatch-{seed}");
    // Write the unshrunk case first: shrinking may crash the worker.
    let mut txt = String::new();
    let _ = writeln!(txt, "case seed {seed}, generated with {limits:?}");
    let _ = writeln!(
        txt,
        "reproduce: wasabi-fuzz --seed {seed} --cases 1 --modes {}\n",
        modes.join(",")
    );
    for (_, m) in &mismatches {
        let _ = writeln!(txt, "{m}\n");
    }
    let _ = writeln!(
        txt,
        "wasmi's run of the original module:\n{}",
        describe_oracle(&oracle)
    );
    let _ = std::fs::write(opts.out.join(format!("{base}.wasm")), &wasm);
    let _ = std::fs::write(opts.out.join(format!("{base}.txt")), &txt);
    if opts.shrink {
        // Shrink against the first mode that differs.
        let (w, m) = &mismatches[0];
        let name = w.mode.name();
        let mut pred = |cand: &[u8]| {
            check(w, eng, cand, seed, opts).is_some_and(|m2| m2.signature == m.signature)
        };
        // One stage line per attempt: the coordinator's silence limit
        // applies to each attempt, not to the whole shrink.
        let mut attempt = |n: usize| stage(&name, &format!("shrink {n}"));
        let s = shrink(
            seed,
            limits,
            wasm.clone(),
            &mut pred,
            &mut attempt,
            opts.shrink_budget,
        );
        let _ = writeln!(
            txt,
            "shrunk {} -> {} bytes in {} attempts (mode {name}):",
            wasm.len(),
            s.wasm.len(),
            s.attempts,
        );
        for step in &s.steps {
            let _ = writeln!(txt, "  {step}");
        }
        if let Ok(o) = run_oracle(&eng.oracle, &s.wasm, seed, opts.fuel) {
            if let Some(m2) = check(w, eng, &s.wasm, seed, opts) {
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
    Report {
        status: Status::Mismatch { modes },
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
/// cleanly or run it exactly as the oracle does (see [`judge_mutant`]).
pub fn mutate_case(
    seed: u64,
    eng: &Engines,
    opts: &Options,
    stage: &mut dyn FnMut(&str, &str),
    inflight: &mut dyn FnMut(&[u8]),
) -> Report {
    let limits = Limits::for_seed(seed);
    stage("generate", "");
    let Some(base) = generate(seed, &limits) else {
        return Report {
            status: Status::Skip("generator".into()),
            times: Vec::new(),
        };
    };
    let mut rng = Rng::new(seed ^ 0x6d75_7461_7465);
    let wasm = mutate(&base, &mut rng);
    inflight(&wasm);
    judge_mutant(seed, &wasm, eng, opts, stage)
}

/// Judges one (possibly malformed) module `wasm` of mutation case `seed`
/// in every mode. Clean outcomes:
///
/// - wasabi and wasmi both reject it (wasabi with `Error::Module` at an
///   offset within the input, or `Error::Text`): [`Status::Rejected`];
/// - wasmi accepts it and wasabi reports `Error::Unsupported` (a SIMD
///   instruction: wasabi validates SIMD but does not compile it yet), at
///   compile time or, in lazy mode, when the function is first called:
///   [`Status::Skip`] `unsupported`;
/// - both accept it and wasabi runs it as wasmi does: [`Status::Ok`] (or a
///   skip the comparison explains).
///
/// Anything else is a mismatch: one engine accepts what the other rejects
/// (wasabi's `Unsupported` counts as accepting: its validator passed the
/// module), an error offset past the end, another kind of error, or a run
/// that differs.
pub fn judge_mutant(
    seed: u64,
    wasm: &[u8],
    eng: &Engines,
    opts: &Options,
    stage: &mut dyn FnMut(&str, &str),
) -> Report {
    let mut times = Vec::new();
    stage("wasmi", "");
    let t = Instant::now();
    // `None`: wasmi panicked on it, so it cannot judge this module.
    let Some(oracle_module) = oracle_validate(&eng.oracle, wasm) else {
        return mutate_without_oracle(seed, eng, wasm, times, stage, opts);
    };
    let oracle = match &oracle_module {
        Ok(_) => run_oracle(&eng.oracle, wasm, seed, opts.fuel).ok(),
        Err(_) => None,
    };
    times.push(("wasmi".into(), t.elapsed()));
    let mut finding: Option<(String, String)> = None; // (mode, text)
    let mut skip = None;
    let mut accepted = false;
    for w in &eng.modes {
        let name = w.mode.name();
        let t = Instant::now();
        stage(&name, "compile");
        let compiled = catch_unwind(AssertUnwindSafe(|| w.compile(wasm)));
        let result = match compiled {
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
            Ok(Err(wasabi::Error::Text(_))) => None,
            Ok(Err(wasabi::Error::Unsupported(what))) => match &oracle_module {
                Ok(()) => {
                    skip.get_or_insert("unsupported");
                    None
                }
                Err(e) => Some(format!(
                    "wasabi validates it (then: unsupported: {what}), wasmi rejects: {e}"
                )),
            },
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
                                write_crash(opts, seed, wasm, &name, &message);
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
                            Ok(Verdict::Differ(m)) => Some(m.to_string()),
                        }
                    }
                }
            }
        };
        times.push((name.clone(), t.elapsed()));
        if let Some(text) = result {
            finding = Some((name, text));
            break;
        }
    }
    let Some((mode, text)) = finding else {
        return Report {
            status: match skip {
                Some(r) => Status::Skip(r.into()),
                None if !accepted => Status::Rejected,
                None => Status::Ok,
            },
            times,
        };
    };
    let limits = Limits::for_seed(seed);
    let _ = std::fs::write(opts.out.join(format!("mutant-{seed}.wasm")), wasm);
    let _ = std::fs::write(
        opts.out.join(format!("mutant-{seed}.txt")),
        format!(
            "mutation case seed {seed} (base generated with {limits:?})\nreproduce: wasabi-fuzz mutate --seed {seed} --cases 1 --modes {mode}\nmode {mode}:\n{text}\n",
        ),
    );
    Report {
        status: Status::Mismatch { modes: vec![mode] },
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
                    status: Status::Mismatch { modes: vec![name] },
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
