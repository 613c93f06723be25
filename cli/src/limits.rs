//! `--fuel`, `--timeout`, `--max-memory`, `--max-table-elements` and
//! `--max-wasm-stack`: how `wasabi run` bounds a guest.
//!
//! What must stay true: a flag that needs instrumented code (fuel, timeout)
//! turns that instrumentation on in the engine's config, so the code the
//! limit relies on is always there; without these flags the code is the
//! same as before (no checks, no cost).

use anyhow::{anyhow, Result};
use std::time::Duration;
use wasabi::{Config, Engine, Store, StoreLimits};

/// The limit flags shared by the commands that run wasm.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LimitOpts {
    /// Stop the guest with "interrupted: out of fuel" after about N wasm
    /// operators. Compiles fuel counting into the code, which costs speed
    /// (about 9 % with --timeout on the benchmarks).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Stop the guest with "interrupted: deadline exceeded" after this much
    /// wall-clock time: `500ms`, `2s`, `1.5m`, `1h` (a bare number is
    /// seconds). Compiles epoch checks into the code (about 4 % on the
    /// benchmarks).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Largest size of any one linear memory, in bytes (`64MiB`, `1G`,
    /// `65536`): `memory.grow` beyond it returns -1, and a module that needs
    /// more from the start is refused.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_memory: Option<usize>,
    /// Largest number of elements of any one table.
    #[arg(long, value_name = "N")]
    pub max_table_elements: Option<u64>,
    /// Native stack wasm may use before "call stack exhausted", in bytes
    /// (default 4MiB; capped by the thread's real stack).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_wasm_stack: Option<usize>,
}

impl LimitOpts {
    /// Adds what the limits need to an engine configuration.
    pub fn configure(&self, mut config: Config) -> Config {
        if self.fuel.is_some() {
            config = config.consume_fuel(true);
        }
        if self.timeout.is_some() {
            config = config.epoch_interruption(true);
        }
        if let Some(bytes) = self.max_wasm_stack {
            config = config.max_wasm_stack(bytes);
        }
        config
    }

    /// Applies the limits to a fresh store, and starts the timeout's clock:
    /// a detached thread that advances the engine's epoch once the time is
    /// up (the process exits without waiting for it).
    pub fn apply<T>(&self, store: &mut Store<T>, engine: &Engine) -> Result<()> {
        if let Some(fuel) = self.fuel {
            store.set_fuel(fuel).map_err(|e| anyhow!("{e}"))?;
        }
        store.set_limits(StoreLimits {
            max_memory_bytes: self.max_memory,
            max_table_elements: self.max_table_elements,
        });
        if let Some(timeout) = self.timeout {
            store.set_epoch_deadline(1);
            let engine = engine.clone();
            std::thread::Builder::new()
                .name("wasabi-timeout".into())
                .spawn(move || {
                    std::thread::sleep(timeout);
                    engine.increment_epoch();
                })
                .map_err(|e| anyhow!("cannot start the timeout thread: {e}"))?;
        }
        Ok(())
    }
}

/// Parses `500ms`, `2s`, `1.5m`, `1h`, `250us`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 500ms, 2s, 1m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "ns" => n / 1e9,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(format!(
                "unknown time unit `{u}` in `{s}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// Parses a byte count: `65536`, `64K`/`64KiB`, `16M`/`16MiB`, `1G`/`1GiB`
/// (binary multiples; `KB`, `MB`, `GB` are accepted as the same).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size in bytes (try 65536, 64KiB, 16MiB, 1GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => return Err(format!("unknown size unit `{u}` in `{s}` (use K, M, G)")),
    };
    n.checked_mul(mult)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("16M"), Ok(16 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1.5G").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
