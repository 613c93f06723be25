//! The `wasabi-fuzz` command: argument parsing for the coordinator
//! (`wasabi-fuzz`, `wasabi-fuzz mutate`), its workers (`wasabi-fuzz
//! worker`, internal) and `wasabi-fuzz check FILE...`, which re-runs stored
//! reproducers. See `fuzz/README.md`.

use std::path::PathBuf;
use std::time::Duration;
use wasabi_fuzz::case::{classify, Engines, Options};
use wasabi_fuzz::driver::{coordinate, default_out, parse_duration, worker, RunArgs, WorkerArgs};
use wasabi_fuzz::exec::{
    oracle_engine, run_oracle, run_wasabi, Mode, Verdict, Wasabi, DEFAULT_MODES,
};

const USAGE: &str = "\
usage:
  wasabi-fuzz [mutate] [--cases N | --duration 10m] [--seed S] [--modes LIST]
              [--out DIR] [--jobs J] [--fuel F] [--strict] [--no-shrink]
              [--keep-known] [--shrink-budget 60s] [--case-timeout 20s]
              [--call-timeout 3s]
              [--batch B] [--quiet]
  wasabi-fuzz check FILE.wasm... [--seed S] [--modes LIST] [--fuel F] [--strict]
  wasabi-fuzz wat FILE.wasm...     (print as text)

modes: regular-O0..regular-O3, lazy-O0..lazy-O3, metered-O0..metered-O3 (fuel and
       epoch checks compiled in, fuel that never runs out), aot
       (default regular-O0,regular-O1,regular-O3,lazy-O1; mutate: regular-O1)
Prints `N cases, M mismatches, K skipped (...)` and exits 1 if any mismatch
is unexplained or any case crashed or hung. Reproducers go to DIR
(default ./fuzz-out).";

/// Native stack of the thread running cases.
const WORKER_STACK: usize = 512 << 20;

struct Flags {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

const SWITCHES: &[&str] = &[
    "--strict",
    "--no-shrink",
    "--keep-known",
    "--mutate",
    "--quiet",
    "--help",
    "-h",
];

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, String> {
        let mut f = Flags {
            values: vec![],
            switches: vec![],
            positional: vec![],
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if SWITCHES.contains(&a.as_str()) {
                f.switches.push(a.clone());
            } else if let Some((k, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
                f.values.push((k.to_string(), v.to_string()));
            } else if a.starts_with("--") {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                f.values.push((a.clone(), v.clone()));
            } else {
                f.positional.push(a.clone());
            }
        }
        Ok(f)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn has(&self, k: &str) -> bool {
        self.switches.iter().any(|s| s == k)
    }
    fn num(&self, k: &str) -> Result<Option<u64>, String> {
        self.get(k)
            .map(|v| v.parse().map_err(|_| format!("{k}: not a number: {v}")))
            .transpose()
    }
    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        for (k, _) in &self.values {
            if !known.contains(&k.as_str()) {
                return Err(format!("unknown option {k}"));
            }
        }
        Ok(())
    }
}

fn modes(list: &str) -> Result<Vec<Mode>, String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(Mode::parse)
        .collect()
}

fn options(f: &Flags) -> Result<Options, String> {
    Ok(Options {
        fuel: f.num("--fuel")?.unwrap_or(500_000),
        out: f
            .get("--out")
            .map(PathBuf::from)
            .unwrap_or_else(default_out),
        strict: f.has("--strict"),
        shrink: !f.has("--no-shrink"),
        shrink_budget: f
            .get("--shrink-budget")
            .map(parse_duration)
            .transpose()?
            .unwrap_or(Duration::from_secs(60)),
        keep_known: f.has("--keep-known"),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match real_main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasabi-fuzz: {e}\n\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

fn real_main(args: &[String]) -> Result<i32, String> {
    let (cmd, rest) = match args.first().map(String::as_str) {
        Some(c @ ("mutate" | "worker" | "check" | "wat")) => (c, &args[1..]),
        _ => ("diff", args),
    };
    let f = Flags::parse(rest)?;
    if f.has("--help") || f.has("-h") {
        println!("{USAGE}");
        return Ok(0);
    }
    match cmd {
        "worker" => {
            f.check_known(&[
                "--from",
                "--count",
                "--slot",
                "--modes",
                "--fuel",
                "--out",
                "--until-ms",
                "--shrink-budget",
            ])?;
            let wargs = WorkerArgs {
                from: f.num("--from")?.unwrap_or(0),
                count: f.num("--count")?.unwrap_or(1),
                until_ms: f.num("--until-ms")?,
                modes: modes(f.get("--modes").unwrap_or(DEFAULT_MODES))?,
                mutate: f.has("--mutate"),
                slot: f.num("--slot")?.unwrap_or(0) as usize,
                opts: options(&f)?,
            };
            // The interpreter recurses on the native stack for deep wasm
            // recursion: give it room (wasabi bounds its own use).
            std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn(move || worker(wargs))
                .map_err(|e| e.to_string())?
                .join()
                .map_err(|_| "the worker thread panicked".to_string())?;
            Ok(0)
        }
        "check" => check(&f),
        "wat" => {
            for file in &f.positional {
                let wasm = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
                println!(
                    "{}",
                    wasmprinter::print_bytes(&wasm).map_err(|e| format!("{file}: {e}"))?
                );
            }
            Ok(0)
        }
        _ => {
            f.check_known(&[
                "--cases",
                "--duration",
                "--seed",
                "--modes",
                "--out",
                "--jobs",
                "--fuel",
                "--shrink-budget",
                "--case-timeout",
                "--call-timeout",
                "--batch",
            ])?;
            if !f.positional.is_empty() {
                return Err(format!("unexpected argument {}", f.positional[0]));
            }
            let mutate = cmd == "mutate";
            let duration = f.get("--duration").map(parse_duration).transpose()?;
            let cases = match (f.num("--cases")?, duration) {
                (None, None) => Some(1000),
                (c, _) => c,
            };
            let seed = match f.num("--seed")? {
                Some(s) => s,
                None => {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                        % 1_000_000_000
                        * 1000
                }
            };
            let default_modes = if mutate { "regular-O1" } else { DEFAULT_MODES };
            let run = RunArgs {
                cases,
                duration,
                seed,
                modes: modes(f.get("--modes").unwrap_or(default_modes))?,
                jobs: f.num("--jobs")?.unwrap_or(1).max(1) as usize,
                mutate,
                batch: f.num("--batch")?.unwrap_or(100).max(1),
                case_timeout: f
                    .get("--case-timeout")
                    .map(parse_duration)
                    .transpose()?
                    .unwrap_or(Duration::from_secs(20)),
                call_timeout: f
                    .get("--call-timeout")
                    .map(parse_duration)
                    .transpose()?
                    .unwrap_or(Duration::from_secs(3)),
                opts: options(&f)?,
                progress: !f.has("--quiet"),
            };
            let names: Vec<String> = run.modes.iter().map(|m| m.name()).collect();
            eprintln!(
                "wasabi-fuzz{}: seed {seed}, {}, modes {}, {} job(s), fuel {}, output {}",
                if mutate { " mutate" } else { "" },
                match (cases, duration) {
                    (Some(n), _) => format!("{n} cases"),
                    (None, Some(d)) => format!("for {d:?}"),
                    _ => unreachable!(),
                },
                names.join(","),
                run.jobs,
                run.opts.fuel,
                run.opts.out.display()
            );
            let sum = coordinate(&run).map_err(|e| e.to_string())?;
            eprintln!(
                "{:.1} s, {:.1} cases/s overall; per engine: {}",
                sum.elapsed.as_secs_f64(),
                sum.cases as f64 / sum.elapsed.as_secs_f64().max(1e-9),
                sum.rates()
            );
            println!("{}", sum.line());
            Ok(if sum.clean() { 0 } else { 1 })
        }
    }
}

/// Re-runs stored modules (reproducers) and says, per mode, whether they
/// still differ and how that is classified. The seed (for arguments) comes
/// from `--seed` or from a `-<digits>` in the file name.
fn check(f: &Flags) -> Result<i32, String> {
    f.check_known(&["--seed", "--modes", "--fuel"])?;
    let opts = Options {
        out: std::env::temp_dir(),
        ..options(f)?
    };
    let modes = modes(f.get("--modes").unwrap_or(DEFAULT_MODES))?;
    let eng = Engines {
        oracle: oracle_engine(),
        modes: modes.iter().map(|m| Wasabi::new(*m)).collect(),
    };
    let mut unexplained = 0;
    for file in &f.positional {
        let wasm = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let wasm = wasabi::wat_to_wasm(&wasm)
            .map_err(|e| format!("{file}: {e}"))?
            .into_owned();
        let seed = match f.num("--seed")? {
            Some(s) => s,
            None => seed_from_name(file).unwrap_or(0),
        };
        let oracle = run_oracle(&eng.oracle, &wasm, seed, opts.fuel, &[])
            .map_err(|e| format!("{file}: wasmi refuses it: {e:?}"))?;
        for w in &eng.modes {
            let v = run_wasabi(w, &wasm, &oracle, &mut |_| {});
            let line = match v {
                Verdict::Same => "same".to_string(),
                Verdict::Skip(r) => format!("skip ({r})"),
                Verdict::Differ(m) => {
                    let class = classify(&m, w, &eng.oracle, &oracle, &wasm, seed, &opts);
                    if class.is_none() {
                        unexplained += 1;
                    }
                    format!(
                        "DIFFERS, {}: {} ({}): wasmi {}, wasabi {}",
                        class.as_deref().unwrap_or("unexplained"),
                        m.at,
                        m.signature,
                        m.expected,
                        m.got
                    )
                }
            };
            println!("{file} [{}]: {line}", w.mode.name());
        }
    }
    Ok(if unexplained == 0 { 0 } else { 1 })
}

fn seed_from_name(path: &str) -> Option<u64> {
    let stem = std::path::Path::new(path).file_stem()?.to_str()?;
    let stem = stem.split('.').next()?;
    stem.rsplit('-').next()?.parse().ok()
}
