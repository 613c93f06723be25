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

/// The compiler crashes (SIGSEGV) on a constant trapping operation: a
/// division by a constant zero, `INT_MIN / -1` of constants, or a
/// truncation of an out-of-range or NaN float constant, folded by LLVM to
/// poison (issue 10, item 2; another helper is fixing it).
///
/// Rule: the worker died of a signal while compiling (stage `compile`), and
/// the module contains such an operation with its operands written as
/// constants right before it ([`has_constant_trapping_op`]). Constants
/// that only become constant after folding are not recognised; such
/// crashes stay unexplained.
pub const CONST_TRAP_CRASH: &str = "const-trap-fold";

/// The known class of a worker that died in `stage` on module `wasm`.
pub fn crash(stage: &str, wasm: &[u8]) -> Option<&'static str> {
    (stage.split(' ').nth(1) == Some("compile") && has_constant_trapping_op(wasm))
        .then_some(CONST_TRAP_CRASH)
}

/// Whether some function body applies a trapping operator to operands that
/// are constants written just before it.
pub fn has_constant_trapping_op(wasm: &[u8]) -> bool {
    use wasmparser::{Operator as O, Parser, Payload};
    #[derive(Clone, Copy, PartialEq)]
    enum C {
        I(i64),
        F32(f32),
        F64(f64),
        Other,
    }
    fn f_trunc_traps(x: f64, lo: f64, hi: f64) -> bool {
        // Traps unless lo < trunc(x) < hi.
        x.is_nan() || x.trunc() <= lo || x.trunc() >= hi
    }
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let Ok(mut ops) = body.get_operators_reader() else {
            continue;
        };
        let (mut a, mut b) = (C::Other, C::Other); // the two operators before
        while !ops.eof() {
            let Ok(op) = ops.read() else {
                break;
            };
            let hit = match &op {
                O::I32DivU | O::I32RemU | O::I32RemS | O::I64DivU | O::I64RemU | O::I64RemS => {
                    b == C::I(0)
                }
                O::I32DivS => b == C::I(0) || (a == C::I(i32::MIN as i64) && b == C::I(-1)),
                O::I64DivS => b == C::I(0) || (a == C::I(i64::MIN) && b == C::I(-1)),
                O::I32TruncF32S => {
                    matches!(b, C::F32(x) if f_trunc_traps(x as f64, -2147483649.0, 2147483648.0))
                }
                O::I32TruncF32U => {
                    matches!(b, C::F32(x) if f_trunc_traps(x as f64, -1.0, 4294967296.0))
                }
                O::I32TruncF64S => {
                    matches!(b, C::F64(x) if f_trunc_traps(x, -2147483649.0, 2147483648.0))
                }
                O::I32TruncF64U => matches!(b, C::F64(x) if f_trunc_traps(x, -1.0, 4294967296.0)),
                O::I64TruncF32S | O::I64TruncF64S => match b {
                    C::F32(x) => {
                        f_trunc_traps(x as f64, -9223372036854777856.0, 9223372036854775808.0)
                    }
                    C::F64(x) => f_trunc_traps(x, -9223372036854777856.0, 9223372036854775808.0),
                    _ => false,
                },
                O::I64TruncF32U | O::I64TruncF64U => match b {
                    C::F32(x) => f_trunc_traps(x as f64, -1.0, 18446744073709551616.0),
                    C::F64(x) => f_trunc_traps(x, -1.0, 18446744073709551616.0),
                    _ => false,
                },
                _ => false,
            };
            if hit {
                return true;
            }
            a = b;
            b = match op {
                O::I32Const { value } => C::I(value as i64),
                O::I64Const { value } => C::I(value),
                O::F32Const { value } => C::F32(f32::from_bits(value.bits())),
                O::F64Const { value } => C::F64(f64::from_bits(value.bits())),
                _ => C::Other,
            };
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(body: &str) -> bool {
        has_constant_trapping_op(&wat::parse_str(format!("(module (func {body} drop))")).unwrap())
    }

    #[test]
    fn constant_trapping_operations_are_recognised() {
        assert!(has("i32.const 1 i32.const 0 i32.div_u"));
        assert!(has("i64.const 1 i64.const 0 i64.rem_s"));
        assert!(has("i32.const 0x80000000 i32.const -1 i32.div_s"));
        assert!(has("f32.const -22741820000 i32.trunc_f32_s"));
        assert!(has("f64.const nan i64.trunc_f64_u"));
        assert!(has("f32.const -1 i32.trunc_f32_u"));
        // Not trapping, or not constant.
        assert!(!has("i32.const 1 i32.const 2 i32.div_u"));
        assert!(!has("i32.const 0x80000000 i32.const -1 i32.rem_s"));
        assert!(!has("f32.const -0.5 i32.trunc_f32_u"));
        assert!(!has("f64.const 2147483647.9 i32.trunc_f64_s"));
        assert!(!has("f32.const nan i32.trunc_sat_f32_s"));
        assert!(!has("i32.const 1 global.get 0 i32.div_u"));
    }

    #[test]
    fn the_crash_rule_needs_the_compile_stage() {
        let wasm = wat::parse_str("(module (func (result i32) i32.const 1 i32.const 0 i32.div_s))")
            .unwrap();
        assert_eq!(crash("regular-O1 compile", &wasm), Some(CONST_TRAP_CRASH));
        assert_eq!(crash("regular-O1 call 0 \"f\" expect=values", &wasm), None);
        let fine = wat::parse_str("(module (func (result i32) i32.const 1))").unwrap();
        assert_eq!(crash("regular-O1 compile", &fine), None);
    }
}
