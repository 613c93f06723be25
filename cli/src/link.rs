//! `wasabi run`'s linking of several modules (`docs/linking.md`): the
//! `--preload NAME=PATH` flags, and `--stats` lines for the parts of the
//! program. The linking itself is `wasabi::Program`'s.
//!
//! What must stay true: a bad `--preload` (no `=`, a missing or invalid
//! file, a name given twice) is a set-up error naming the flag, before
//! anything runs.

use anyhow::{anyhow, Result};
use std::path::PathBuf;
use wasabi::{Engine, Program};

/// A program with every `--preload NAME=PATH` loaded and compiled.
pub fn program(engine: &Engine, preloads: &[String]) -> Result<Program> {
    let mut program = Program::new(engine);
    for (name, path) in preload_flags(preloads)? {
        program
            .preload(&name, &path)
            .map_err(|e| anyhow!("--preload {name}={}: {e}", path.display()))?;
    }
    Ok(program)
}

/// The `(NAME, PATH)` of each `--preload NAME=PATH`.
pub fn preload_flags(preloads: &[String]) -> Result<Vec<(String, PathBuf)>> {
    preloads
        .iter()
        .map(|p| {
            p.split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .map(|(n, p)| (n.to_string(), PathBuf::from(p)))
                .ok_or_else(|| anyhow!("--preload `{p}`: expected NAME=PATH"))
        })
        .collect()
}

/// `--stats` lines for every part of the program but the main module.
pub fn print_stats(program: &Program) {
    for p in program.parts() {
        eprintln!("stats: {p}");
    }
}
