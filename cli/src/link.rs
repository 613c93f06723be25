//! `wasabi run`'s linking of several modules (`docs/linking.md`): the
//! `--preload NAME=PATH` flags, and `--stats` lines for the parts of the
//! program. The linking itself is `wasabi::Program`'s.
//!
//! What must stay true: a bad `--preload` (no `=`, a missing or invalid
//! file, a name given twice) is a set-up error naming the flag, before
//! anything runs.

use anyhow::{anyhow, Result};
use wasabi::{Engine, Program};

/// A program with every `--preload NAME=PATH` loaded and compiled.
pub fn program(engine: &Engine, preloads: &[String]) -> Result<Program> {
    let mut program = Program::new(engine);
    for p in preloads {
        let (name, path) = p
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            .ok_or_else(|| anyhow!("--preload `{p}`: expected NAME=PATH"))?;
        program
            .preload(name, path)
            .map_err(|e| anyhow!("--preload {name}={path}: {e}"))?;
    }
    Ok(program)
}

/// `--stats` lines for every part of the program but the main module.
pub fn print_stats(program: &Program) {
    for p in program.parts() {
        if p.loaded {
            eprintln!(
                "stats: part {} ({}): loaded, functions compiled: {} / {}",
                p.path.display(),
                p.kind,
                p.functions_compiled,
                p.functions
            );
        } else {
            eprintln!(
                "stats: part {} ({}): never loaded (not read, nothing compiled)",
                p.path.display(),
                p.kind
            );
        }
    }
}
