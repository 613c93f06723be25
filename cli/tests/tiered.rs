//! `wasabi run`: tiered by default; reports its tier-ups, and exits
//! cleanly when the program ends while the background thread is
//! recompiling (as does `wasabi wast`).

use std::process::Command;

fn wasabi() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasabi"))
}

/// A large function turns hot on the last call `_start` makes, so the
/// process exits while its recompilation (hundreds of milliseconds) runs.
fn exits_mid_tier_up() -> String {
    let mut wat = String::from("(module\n(func $big (param $x i32) (result i32)\n");
    for i in 0..4000 {
        wat += &format!(
            "(local.set $x (i32.xor (i32.mul (local.get $x) (i32.const {})) (i32.const {i})))\n",
            2 * i + 1
        );
    }
    wat += "(local.get $x))
(func (export \"_start\") (local $n i32)
  (loop $l
    (drop (call $big (local.get $n)))
    (local.set $n (i32.add (local.get $n) (i32.const 1)))
    (br_if $l (i32.lt_u (local.get $n) (i32.const 1000))))))";
    wat
}

/// A fresh directory `wasabi-NAME-PID` holding `text` as `m.wat`: the
/// directory (for removal) and the module's path.
fn scratch_module(name: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("wasabi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("m.wat");
    std::fs::write(&m, text).unwrap();
    (dir, m)
}

#[test]
fn exiting_during_a_background_recompilation_is_clean() {
    let (dir, m) = scratch_module("tiered", &exits_mid_tier_up());
    // Each run must end with exit 0 and its report, without waiting for
    // the recompilation nobody will use (the CLI leaves with `_exit`).
    for _ in 0..3 {
        let o = wasabi()
            .args(["run", "--mode", "tiered", "--no-cache", "--stats"])
            .arg(&m)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{:?}\n{stderr}", o.status);
        assert!(stderr.contains("stats: mode: tiered"), "{stderr}");
        assert!(stderr.contains("stats: tier-up:"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A script whose last command keeps the main thread busy while the
/// background thread recompiles `$big`, hot since the command before: 48
/// loops over every load type, which the optimising tier vectorises,
/// reaching parts of LLVM (vector value types) that no baseline
/// compilation reached before.
fn exits_mid_vector_tier_up() -> String {
    let loads = [
        ("i32", "i32.load8_u", 1),
        ("i32", "i32.load16_s", 2),
        ("i32", "i32.load", 4),
        ("i64", "i64.load", 8),
        ("f32", "f32.load", 4),
        ("f64", "f64.load", 8),
        ("i64", "i64.load32_u", 4),
        ("i64", "i64.load8_s", 1),
    ];
    let mut big = String::new();
    for r in 0..6 {
        for (k, (ty, load, size)) in loads.iter().enumerate() {
            big += &format!(
                "(local.set $i (i32.const 0))
                 (block $d{r}_{k} (loop $l{r}_{k}
                   (br_if $d{r}_{k} (i32.ge_u (local.get $i) (local.get $n)))
                   ({ty}.store offset={out} (i32.mul (local.get $i) (i32.const {size}))
                     ({ty}.add ({load} offset={inp} (i32.mul (local.get $i) (i32.const {size})))
                               ({ty}.const {r})))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br $l{r}_{k})))\n",
                out = 4096 * (r + 1),
                inp = 1024 * r,
            );
        }
    }
    format!(
        r#"(module (memory 1)
  (func $big (param $n i32) (local $i i32) {big})
  (func (export "warm") (local $k i32)
    (loop $l (call $big (i32.const 0))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 1000)))))
  (func (export "spin") (param $n i32) (local $x i32)
    (loop $l (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $x) (local.get $n))))))
(invoke "warm")
(invoke "spin" (i32.const 30000000))
"#
    )
}

/// `wast` leaves through `exit` and its handlers. LLVM's function-local
/// statics register their destructors when a compilation first reaches
/// them, after the plugin's exit hook, and ran before it under the
/// background thread's compilation: SIGSEGV or an LLVM error on the way
/// out (8 runs of 8 with a release build before the fix).
#[test]
fn wast_exiting_during_a_background_recompilation_is_clean() {
    let (dir, m) = scratch_module("tiered-wast", &exits_mid_vector_tier_up());
    let wast = dir.join("m.wast");
    std::fs::rename(&m, &wast).unwrap();
    for _ in 0..3 {
        let o = wasabi()
            .args(["wast", "--mode", "tiered"])
            .arg(&wast)
            .output()
            .unwrap();
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{:?}\n{out}", o.status);
        assert!(out.contains("3 passed, 0 failed"), "{out}");
        assert!(!out.contains("LLVM ERROR"), "{out}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `run` is tiered unless told otherwise.
#[test]
fn run_defaults_to_tiered() {
    let (dir, m) = scratch_module(
        "default-mode",
        r#"(module (func (export "id") (param i32) (result i32) (local.get 0)))"#,
    );
    let mode_of = |args: &[&str]| {
        let o = wasabi()
            .args(["run", "--no-cache", "--stats", "--invoke", "id"])
            .args(args)
            .arg(&m)
            .arg("7")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "7");
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("stats: mode: "))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(mode_of(&[]), "tiered");
    assert_eq!(mode_of(&["--mode", "regular"]), "regular");
    let _ = std::fs::remove_dir_all(dir);
}

/// `WASABI_TIER_LOG` writes to stderr from the resolver and the tier-up
/// builtins, called from wasm code; with stderr gone (a closed pipe) the
/// program must still run to its end (`eprintln!` panicked there: exit
/// status 101).
#[test]
fn tier_log_into_a_closed_pipe_does_not_stop_the_program() {
    let (dir, m) = scratch_module("tier-log", &exits_mid_tier_up());
    let mut child = wasabi()
        .env("WASABI_TIER_LOG", "1")
        .args(["run", "--no-cache"])
        .arg(&m)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("wasabi hung with stderr closed")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `WASABI_PERF_MAP=1` lists every loaded function in
/// `/tmp/perf-<pid>.map`, which `perf` reads only for anonymous
/// executable mappings. Regression: lazily compiled code went into the
/// code arena's `memfd` mappings, which `perf` showed as raw offsets into
/// `memfd:wasabi-code`. Checked on a live process: every listed function
/// lies in an anonymous mapping.
#[test]
fn perf_map_lists_lazy_code_where_perf_can_name_it() {
    let (dir, m) = scratch_module(
        "perf-map",
        r#"(module
             (func $spin (loop $l (br $l)))
             (func (export "_start") (call $spin)))"#,
    );
    let mut child = wasabi()
        .args(["run", "--mode", "lazy", "--no-cache", "--timeout", "60s"])
        .arg(&m)
        .env("WASABI_PERF_MAP", "1")
        .spawn()
        .unwrap();
    let map_file = std::path::PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // `$spin` is function 0: listed once its first call compiled it.
    let listed = loop {
        let text = std::fs::read_to_string(&map_file).unwrap_or_default();
        if text.lines().any(|l| l.ends_with(" wasabi_func_0")) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no perf map entry");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&map_file);
    let _ = std::fs::remove_dir_all(dir);
    // Each line of /proc/<pid>/maps: start-end perms offset dev inode [path].
    let mappings: Vec<(u64, u64, String)> = maps
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (a, b) = f[0].split_once('-').unwrap();
            let hex = |s| u64::from_str_radix(s, 16).unwrap();
            (hex(a), hex(b), f.get(5).copied().unwrap_or("").to_string())
        })
        .collect();
    let funcs: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains(" wasabi_func_"))
        .collect();
    assert!(!funcs.is_empty());
    for entry in funcs {
        let addr = u64::from_str_radix(entry.split(' ').next().unwrap(), 16).unwrap();
        let (_, _, path) = mappings
            .iter()
            .find(|(a, b, _)| (*a..*b).contains(&addr))
            .unwrap_or_else(|| panic!("{entry}: not mapped\n{maps}"));
        assert!(path.is_empty(), "{entry} is in `{path}`, not anonymous");
    }
}
