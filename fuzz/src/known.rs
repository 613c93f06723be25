//! Known mismatch classes: bugs already understood (and being fixed
//! elsewhere), recognised by a rule so that the fuzzer's "unexplained"
//! count means something. `fuzz/KNOWN.md` describes each class, its rule
//! and its reproducer under `fuzz/known/`.
//!
//! What must stay true: a rule only ever claims a mismatch it can check
//! from the evidence of the case itself; a rule that must re-run the case
//! says so (see [`MEMORY_TRAP_LOST`]). `--strict` turns every rule off.

use crate::exec::Mismatch;

/// Out-of-bounds memory accesses whose trap vanishes, or whose neighbouring
/// in-bounds stores are lost or reordered (issue 10, item 1).
///
/// Rule: the oracle trapped with "memory out of bounds" exactly where the
/// two engines first differ (wasabi did not trap there, or trapped
/// otherwise); or the first difference comes after such a trap and goes
/// away when the calls that trapped out of bounds in the oracle are left
/// out of the script of both engines (the re-run is done by the caller,
/// see `case::classify`).
pub const MEMORY_TRAP_LOST: &str = "memory-trap-lost";

/// The first half of [`MEMORY_TRAP_LOST`]'s rule, decidable from the
/// mismatch alone.
pub fn direct(m: &Mismatch) -> Option<&'static str> {
    let sig = m.signature.as_str();
    if sig.starts_with("call:trap(memory out of bounds)->")
        || sig.starts_with("instantiate:trap(memory out of bounds)->")
    {
        return Some(MEMORY_TRAP_LOST);
    }
    None
}

/// Whether the second half of the rule applies: a call-result or state
/// difference after an oracle out-of-bounds trap.
pub fn needs_exclusion_check(m: &Mismatch) -> bool {
    m.oracle_memory_trap_before
        && (m.signature.starts_with("call:") || m.signature.starts_with("state:"))
}

/// The stage a worker reports before a call the oracle ended with an
/// out-of-bounds memory trap (see `exec::run_compiled`).
pub const EXPECTS_MEMORY_TRAP: &str = "expect=trap(memory out of bounds)";

/// The known class of a case that hung in wasabi, from the stage it hung
/// in: a call the oracle finished by trapping out of bounds. wasabi has no
/// fuel, so a lost trap that skips into a loop hangs instead of returning.
pub fn hang(stage: &str) -> Option<&'static str> {
    stage
        .contains(EXPECTS_MEMORY_TRAP)
        .then_some(MEMORY_TRAP_LOST)
}
