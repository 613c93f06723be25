//! Process structure: a coordinator and re-executed workers.
//!
//! The coordinator (`wasabi-fuzz`, `wasabi-fuzz mutate`) never runs a case
//! itself. It hands out batches of consecutive seeds to up to `--jobs`
//! worker processes (`wasabi-fuzz worker ...`, this same binary), reads
//! their line protocol, keeps the counts, and prints progress and the final
//! line. A worker runs its batch in-process (panics are caught per case)
//! and reports on stdout, one line per event:
//!
//! ```text
//! begin <seed>
//! stage <seed> <mode> <what>       (before compile, instantiate, each call, ...)
//! time <mode> <microseconds>
//! end <seed> ok | rejected | skip <reason> | mismatch <modes> | crash <mode>
//! done
//! ```
//!
//! Before each case the worker writes its module to `inflight-<slot>.wasm`
//! in the output directory. A worker that dies between `begin` and `end`
//! (a signal, an abort) has crashed on that seed: the coordinator keeps the
//! in-flight module as `crash-<seed>.wasm` with a `.txt` naming the stage
//! and the exit status, and restarts the rest of the batch in a new
//! worker. A worker silent for longer than `--case-timeout` is killed and
//! the case recorded as `hang-<seed>`; so is one that spends longer than
//! `--call-timeout` in a single call or instantiation (the oracle finished
//! it within its fuel, so wasabi needs milliseconds).
//!
//! What must stay true: every seed of the run is either reported by a
//! worker or recorded as a crash or hang; nothing a case does can stop the
//! coordinator.

use crate::case::{diff_case, mutate_case, Engines, Options, Status};
use crate::exec::{oracle_engine, Mode, Wasabi};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct RunArgs {
    pub cases: Option<u64>,
    pub duration: Option<Duration>,
    pub seed: u64,
    pub modes: Vec<Mode>,
    pub jobs: usize,
    pub mutate: bool,
    pub batch: u64,
    pub case_timeout: Duration,
    /// Silence allowed while wasabi runs one call (the oracle finished it
    /// within its fuel, so this is far more than it needs).
    pub call_timeout: Duration,
    pub opts: Options,
    /// Print progress lines to stderr.
    pub progress: bool,
}

/// The counts of a run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub cases: u64,
    pub ok: u64,
    /// Mutation mode: cases every mode rejected cleanly.
    pub rejected: u64,
    pub mismatches: u64,
    pub skipped: BTreeMap<String, u64>,
    pub crashes: u64,
    pub hangs: u64,
    /// Per mode (and `wasmi`): total time and number of timed cases.
    pub times: BTreeMap<String, (Duration, u64)>,
    pub elapsed: Duration,
    /// Seeds of mismatches, crashes and hangs.
    pub bad_seeds: Vec<u64>,
}

impl Summary {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// The final line: `N cases, M mismatches, K skipped (...); C crashes,
    /// H hangs`.
    pub fn line(&self) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rejected = if self.rejected > 0 {
            format!(" ({} rejected cleanly)", self.rejected)
        } else {
            String::new()
        };
        format!(
            "{} cases{rejected}, {} mismatches, {} skipped ({}); {} crashes, {} hangs",
            self.cases,
            self.mismatches,
            self.skipped_total(),
            list(&self.skipped),
            self.crashes,
            self.hangs,
        )
    }

    /// Cases per second of each engine alone (its time only).
    pub fn rates(&self) -> String {
        self.times
            .iter()
            .map(|(k, (d, n))| {
                let per = if d.as_secs_f64() > 0.0 {
                    *n as f64 / d.as_secs_f64()
                } else {
                    0.0
                };
                format!("{k}: {per:.1}/s")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn clean(&self) -> bool {
        self.mismatches == 0 && self.crashes == 0 && self.hangs == 0
    }
}

// ---------------------------------------------------------------- worker

/// What a worker process is asked to run.
pub struct WorkerArgs {
    pub from: u64,
    pub count: u64,
    /// Stop starting cases after this many milliseconds since the epoch.
    pub until_ms: Option<u64>,
    pub modes: Vec<Mode>,
    pub mutate: bool,
    pub slot: usize,
    pub opts: Options,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The worker's main loop (see the module docs for its protocol).
pub fn worker(args: WorkerArgs) {
    let eng = Engines {
        oracle: oracle_engine(),
        modes: args.modes.iter().map(|m| Wasabi::new(*m)).collect(),
    };
    let out = std::io::stdout();
    // A coordinator that went away leaves nobody to report to: stop.
    let say = |s: String| {
        let mut o = out.lock();
        if writeln!(o, "{s}").and_then(|_| o.flush()).is_err() {
            std::process::exit(3);
        }
    };
    let inflight_path = args.opts.out.join(format!("inflight-{}.wasm", args.slot));
    for seed in args.from..args.from.saturating_add(args.count) {
        if args.until_ms.is_some_and(|u| now_ms() >= u) {
            break;
        }
        say(format!("begin {seed}"));
        let mut stage = |mode: &str, what: &str| say(format!("stage {seed} {mode} {what}"));
        let mut inflight = |wasm: &[u8]| {
            let _ = std::fs::write(&inflight_path, wasm);
        };
        // Test hooks: die or hang as a bad case would (see tests/smoke.rs).
        if std::env::var("WASABI_FUZZ_ABORT_AT").is_ok_and(|s| s == seed.to_string()) {
            inflight(b"\0asm\x01\0\0\0");
            std::process::abort();
        }
        if std::env::var("WASABI_FUZZ_HANG_AT").is_ok_and(|s| s == seed.to_string()) {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let report = if args.mutate {
            mutate_case(seed, &eng, &args.opts, &mut stage, &mut inflight)
        } else {
            diff_case(seed, &eng, &args.opts, &mut stage, &mut inflight)
        };
        for (mode, d) in &report.times {
            say(format!("time {mode} {}", d.as_micros()));
        }
        say(match report.status {
            Status::Ok => format!("end {seed} ok"),
            Status::Rejected => format!("end {seed} rejected"),
            Status::Skip(r) => format!("end {seed} skip {r}"),
            Status::Mismatch { modes } => format!("end {seed} mismatch {}", modes.join(",")),
            Status::Crash { mode, .. } => format!("end {seed} crash {mode}"),
        });
    }
    let _ = std::fs::remove_file(&inflight_path);
    say("done".into());
}

// ---------------------------------------------------------------- coordinator

enum Msg {
    Line(String),
    Eof,
}

struct Running {
    child: Child,
    end: u64,
    current: Option<u64>,
    stage: String,
    last: Instant,
    hung: bool,
}

fn spawn(
    args: &RunArgs,
    slot: usize,
    from: u64,
    count: u64,
    until_ms: Option<u64>,
    tx: &mpsc::Sender<(usize, Msg)>,
) -> std::io::Result<Running> {
    let exe = std::env::current_exe()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.opts.out.join(format!("worker-{slot}.log")))?;
    let modes: Vec<String> = args.modes.iter().map(|m| m.name()).collect();
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .args(["--from", &from.to_string()])
        .args(["--count", &count.to_string()])
        .args(["--slot", &slot.to_string()])
        .args(["--modes", &modes.join(",")])
        .args(["--fuel", &args.opts.fuel.to_string()])
        .arg("--out")
        .arg(&args.opts.out)
        .args([
            "--shrink-budget",
            &format!("{}s", args.opts.shrink_budget.as_secs()),
        ]);
    if let Some(u) = until_ms {
        cmd.args(["--until-ms", &u.to_string()]);
    }
    if args.mutate {
        cmd.arg("--mutate");
    }
    if !args.opts.shrink {
        cmd.arg("--no-shrink");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send((slot, Msg::Line(l))).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send((slot, Msg::Eof));
    });
    Ok(Running {
        child,
        end: from + count,
        current: None,
        stage: String::new(),
        last: Instant::now(),
        hung: false,
    })
}

fn log_tail(args: &RunArgs, slot: usize) -> String {
    let text = std::fs::read_to_string(args.opts.out.join(format!("worker-{slot}.log")))
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn record_dead(args: &RunArgs, slot: usize, seed: u64, kind: &str, detail: &str) {
    let out = &args.opts.out;
    let _ = std::fs::copy(
        out.join(format!("inflight-{slot}.wasm")),
        out.join(format!("{kind}-{seed}.wasm")),
    );
    let what = if args.mutate { "mutate " } else { "" };
    let _ = std::fs::write(
        out.join(format!("{kind}-{seed}.txt")),
        format!(
            "case seed {seed}: {detail}\nreproduce: wasabi-fuzz {what}--seed {seed} --cases 1\n\nworker log (tail):\n{}\n",
            log_tail(args, slot)
        ),
    );
}

/// Runs the whole fuzzing campaign and returns its counts.
pub fn coordinate(args: &RunArgs) -> std::io::Result<Summary> {
    std::fs::create_dir_all(&args.opts.out)?;
    for slot in 0..args.jobs {
        let _ = std::fs::remove_file(args.opts.out.join(format!("worker-{slot}.log")));
    }
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + d);
    let until_ms = args.duration.map(|d| now_ms() + d.as_millis() as u64);
    let last_seed = match args.cases {
        Some(n) => args.seed.saturating_add(n),
        None => u64::MAX,
    };
    let mut next = args.seed;
    let mut pending: VecDeque<(u64, u64)> = VecDeque::new();
    let mut slots: Vec<Option<Running>> = (0..args.jobs).map(|_| None).collect();
    let (tx, rx) = mpsc::channel::<(usize, Msg)>();
    let mut sum = Summary::default();
    let mut last_progress = Instant::now();
    let mut failed_starts = 0;
    loop {
        let time_left = deadline.is_none_or(|d| Instant::now() < d);
        for (slot, r) in slots.iter_mut().enumerate() {
            if r.is_some() || !time_left {
                continue;
            }
            let range = pending.pop_front().or_else(|| {
                (next < last_seed).then(|| {
                    let n = args.batch.min(last_seed - next);
                    let from = next;
                    next += n;
                    (from, n)
                })
            });
            let Some((from, n)) = range else {
                continue;
            };
            *r = Some(spawn(args, slot, from, n, until_ms, &tx)?);
        }
        if slots.iter().all(|s| s.is_none()) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok((slot, Msg::Line(line))) => {
                let Some(r) = slots[slot].as_mut() else {
                    continue;
                };
                r.last = Instant::now();
                let mut w = line.split(' ');
                match w.next() {
                    Some("begin") => r.current = w.next().and_then(|s| s.parse().ok()),
                    Some("stage") => r.stage = w.skip(1).collect::<Vec<_>>().join(" "),
                    Some("time") => {
                        if let (Some(m), Some(us)) = (w.next(), w.next()) {
                            let e = sum.times.entry(m.to_string()).or_default();
                            e.0 += Duration::from_micros(us.parse().unwrap_or(0));
                            e.1 += 1;
                        }
                    }
                    Some("end") => {
                        let seed: u64 = w.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                        r.current = None;
                        sum.cases += 1;
                        match w.next() {
                            Some("ok") => sum.ok += 1,
                            Some("rejected") => sum.rejected += 1,
                            Some("skip") => {
                                *sum.skipped
                                    .entry(w.next().unwrap_or("?").into())
                                    .or_default() += 1
                            }
                            Some("mismatch") => {
                                sum.mismatches += 1;
                                sum.bad_seeds.push(seed);
                                if args.progress {
                                    eprintln!(
                                        "mismatch: seed {seed} ({}), see {}",
                                        w.next().unwrap_or(""),
                                        args.opts.out.display()
                                    );
                                }
                            }
                            Some("crash") => {
                                sum.crashes += 1;
                                sum.bad_seeds.push(seed);
                                if args.progress {
                                    eprintln!("crash (panic): seed {seed}");
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Ok((slot, Msg::Eof)) => {
                let Some(mut r) = slots[slot].take() else {
                    continue;
                };
                let status = r.child.wait()?;
                if let Some(seed) = r.current {
                    sum.cases += 1;
                    // The oracle itself aborted (wasmi 2.0 has SIMD bugs that
                    // panic inside its non-unwinding executor): the oracle's
                    // problem, as a caught oracle panic is. Wasabi never ran.
                    if !r.hung && r.stage.split(' ').next() == Some("wasmi") {
                        *sum.skipped.entry("oracle-crash".into()).or_default() += 1;
                        if seed + 1 < r.end {
                            pending.push_front((seed + 1, r.end - seed - 1));
                        }
                        continue;
                    }
                    sum.bad_seeds.push(seed);
                    if r.hung {
                        sum.hangs += 1;
                        record_dead(
                            args,
                            slot,
                            seed,
                            "hang",
                            &format!("no progress (stage: {})", r.stage),
                        );
                    } else {
                        sum.crashes += 1;
                        record_dead(
                            args,
                            slot,
                            seed,
                            "crash",
                            &format!("the worker died ({status}) at stage: {}", r.stage),
                        );
                    }
                    if args.progress {
                        eprintln!(
                            "{}: seed {seed} ({status}, stage {}), see {}",
                            if r.hung { "hang" } else { "crash" },
                            r.stage,
                            args.opts.out.display()
                        );
                    }
                    if seed + 1 < r.end {
                        pending.push_front((seed + 1, r.end - seed - 1));
                    }
                } else if !status.success() {
                    failed_starts += 1;
                    if failed_starts > 3 {
                        return Err(std::io::Error::other(format!(
                            "workers fail outside any case ({status}):\n{}",
                            log_tail(args, slot)
                        )));
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        for r in slots.iter_mut().flatten() {
            // A call the oracle finished within its fuel takes wasabi
            // milliseconds: one that runs for seconds is stuck.
            let in_call = matches!(r.stage.split(' ').nth(1), Some("call" | "instantiate"));
            let limit = if in_call {
                args.call_timeout.min(args.case_timeout)
            } else {
                args.case_timeout
            };
            if r.current.is_some() && !r.hung && r.last.elapsed() > limit {
                r.hung = true;
                let _ = r.child.kill();
            }
        }
        if args.progress && last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "[{:.0}s] {} cases ({:.1}/s), {} mismatches, {} skipped, {} crashes, {} hangs",
                secs,
                sum.cases,
                sum.cases as f64 / secs,
                sum.mismatches,
                sum.skipped_total(),
                sum.crashes,
                sum.hangs
            );
        }
    }
    sum.elapsed = start.elapsed();
    Ok(sum)
}

/// Parses `10m`, `90s`, `2h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration `{s}` (e.g. 90s, 10m, 2h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration `{s}` (e.g. 90s, 10m, 2h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The output directory a run uses unless told otherwise.
pub fn default_out() -> PathBuf {
    PathBuf::from("fuzz-out")
}
