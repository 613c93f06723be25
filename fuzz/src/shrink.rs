//! Greedy reduction of a mismatching module.
//!
//! Given a predicate "this module still shows the mismatch" (same mode,
//! same signature), [`shrink`] applies
//! reductions and keeps each one the predicate accepts, until a full pass
//! changes nothing or the budget is spent:
//!
//! 1. re-generate the case from the same seed with smaller limits (shorter
//!    wasm-smith input, fewer functions, instructions, globals, types,
//!    segments), which often yields a much smaller module with the same
//!    bug;
//! 2. delete the start function;
//! 3. delete exports, one at a time (an unexported function is not called);
//! 4. replace function bodies, one at a time, with `unreachable`.
//!
//! What must stay true: every candidate is a valid module (the edits keep
//! index spaces intact: bodies are replaced, never removed), and the
//! result is always a module the predicate accepted (or the input).

use crate::gen::{generate, Limits};
use std::time::{Duration, Instant};

/// One section: its id and its content bytes.
type Section = (u8, Vec<u8>);

fn sections(wasm: &[u8]) -> Option<Vec<Section>> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.ok()?;
        if let Some((id, range)) = payload.as_section() {
            out.push((id, wasm[range.start as usize..range.end as usize].to_vec()));
        }
    }
    Some(out)
}

fn assemble(sections: &[Section]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    for (id, data) in sections {
        out.push(*id);
        leb(&mut out, data.len() as u32);
        out.extend_from_slice(data);
    }
    out
}

fn leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

const EXPORT: u8 = 7;
const START: u8 = 8;
const CODE: u8 = 10;

/// The module without its `i`th export.
fn drop_export(wasm: &[u8], i: usize) -> Option<Vec<u8>> {
    let mut secs = sections(wasm)?;
    let sec = secs.iter_mut().find(|(id, _)| *id == EXPORT)?;
    let reader =
        wasmparser::ExportSectionReader::new(wasmparser::BinaryReader::new(&sec.1, 0)).ok()?;
    let exports: Vec<_> = reader.into_iter().collect::<Result<_, _>>().ok()?;
    if i >= exports.len() {
        return None;
    }
    let mut new = wasm_encoder::ExportSection::new();
    for (j, e) in exports.iter().enumerate() {
        if j == i {
            continue;
        }
        let kind = match e.kind {
            wasmparser::ExternalKind::Func => wasm_encoder::ExportKind::Func,
            wasmparser::ExternalKind::Table => wasm_encoder::ExportKind::Table,
            wasmparser::ExternalKind::Memory => wasm_encoder::ExportKind::Memory,
            wasmparser::ExternalKind::Global => wasm_encoder::ExportKind::Global,
            _ => return None,
        };
        new.export(e.name, kind, e.index);
    }
    use wasm_encoder::Encode;
    let mut data = Vec::new();
    new.encode(&mut data);
    // `Encode` writes the section's size prefix too: strip it.
    let mut r = wasmparser::BinaryReader::new(&data, 0);
    let len = r.read_var_u32().ok()? as usize;
    sec.1 = data[data.len() - len..].to_vec();
    Some(assemble(&secs))
}

fn export_count(wasm: &[u8]) -> usize {
    sections(wasm)
        .and_then(|s| {
            let (_, d) = s.into_iter().find(|(id, _)| *id == EXPORT)?;
            wasmparser::ExportSectionReader::new(wasmparser::BinaryReader::new(&d, 0))
                .ok()
                .map(|r| r.count() as usize)
        })
        .unwrap_or(0)
}

fn urange(r: std::ops::Range<u64>) -> std::ops::Range<usize> {
    r.start as usize..r.end as usize
}

const UNREACHABLE_BODY: &[u8] = &[0x00, 0x00, 0x0b];

/// The module with function body `i` (among defined functions) replaced by
/// `unreachable`; `None` if it already is, or there is no such body.
fn stub_body(wasm: &[u8], i: usize) -> Option<Vec<u8>> {
    let mut secs = sections(wasm)?;
    let sec = secs.iter_mut().find(|(id, _)| *id == CODE)?;
    let reader =
        wasmparser::CodeSectionReader::new(wasmparser::BinaryReader::new(&sec.1, 0)).ok()?;
    let bodies: Vec<_> = reader.into_iter().collect::<Result<_, _>>().ok()?;
    let target = bodies.get(i)?;
    if &sec.1[urange(target.range())] == UNREACHABLE_BODY {
        return None;
    }
    let mut new = wasm_encoder::CodeSection::new();
    for (j, b) in bodies.iter().enumerate() {
        if j == i {
            new.raw(UNREACHABLE_BODY);
        } else {
            new.raw(&sec.1[urange(b.range())]);
        }
    }
    use wasm_encoder::Encode;
    let mut data = Vec::new();
    new.encode(&mut data);
    let mut r = wasmparser::BinaryReader::new(&data, 0);
    let len = r.read_var_u32().ok()? as usize;
    sec.1 = data[data.len() - len..].to_vec();
    Some(assemble(&secs))
}

fn body_count(wasm: &[u8]) -> usize {
    sections(wasm)
        .and_then(|s| {
            let (_, d) = s.into_iter().find(|(id, _)| *id == CODE)?;
            wasmparser::CodeSectionReader::new(wasmparser::BinaryReader::new(&d, 0))
                .ok()
                .map(|r| r.count() as usize)
        })
        .unwrap_or(0)
}

fn drop_start(wasm: &[u8]) -> Option<Vec<u8>> {
    let mut secs = sections(wasm)?;
    let before = secs.len();
    secs.retain(|(id, _)| *id != START);
    (secs.len() != before).then(|| assemble(&secs))
}

/// Smaller limits to try, most aggressive first.
fn smaller(l: &Limits) -> Vec<Limits> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut Limits)| {
        let mut c = *l;
        f(&mut c);
        if c != *l {
            out.push(c);
        }
    };
    push(&|c| c.input_len = (c.input_len / 2).max(16));
    push(&|c| c.max_funcs = (c.max_funcs / 2).max(1));
    push(&|c| c.max_instructions = (c.max_instructions / 2).max(1));
    push(&|c| c.input_len = (c.input_len * 3 / 4).max(16));
    push(&|c| c.max_funcs = c.max_funcs.saturating_sub(1).max(1));
    push(&|c| c.max_instructions = (c.max_instructions * 3 / 4).max(1));
    push(&|c| c.max_globals /= 2);
    push(&|c| c.max_types = (c.max_types / 2).max(1));
    push(&|c| c.max_data_segments /= 2);
    push(&|c| c.max_element_segments /= 2);
    push(&|c| c.export_everything = false);
    out
}

/// What shrinking did.
pub struct Shrunk {
    pub wasm: Vec<u8>,
    pub limits: Limits,
    pub steps: Vec<String>,
    pub attempts: usize,
}

/// Greedily reduces `wasm` (case `seed`, generated with `limits`) while
/// `still_fails` holds, within `budget` wall time. `attempt` is told the
/// number of each attempt before it runs (the worker reports it, so that
/// the coordinator's silence limit applies per attempt, not to the whole
/// budget).
pub fn shrink(
    seed: u64,
    limits: Limits,
    wasm: Vec<u8>,
    still_fails: &mut dyn FnMut(&[u8]) -> bool,
    attempt: &mut dyn FnMut(usize),
    budget: Duration,
) -> Shrunk {
    let deadline = Instant::now() + budget;
    let mut best = Shrunk {
        wasm,
        limits,
        steps: Vec::new(),
        attempts: 0,
    };
    let mut try_it = |best: &mut Shrunk, cand: Vec<u8>, what: String| -> bool {
        best.attempts += 1;
        attempt(best.attempts);
        if still_fails(&cand) {
            best.wasm = cand;
            best.steps.push(what);
            true
        } else {
            false
        }
    };
    // 1. Re-generation with smaller limits, only while it makes the module smaller.
    let mut progress = true;
    while progress && Instant::now() < deadline {
        progress = false;
        for l in smaller(&best.limits) {
            if Instant::now() >= deadline {
                break;
            }
            let Some(cand) = generate(seed, &l) else {
                continue;
            };
            if cand.len() >= best.wasm.len() {
                continue;
            }
            if try_it(&mut best, cand, format!("regenerate with {l:?}")) {
                best.limits = l;
                progress = true;
                break;
            }
        }
    }
    // 2-4. Edits of the module itself.
    if Instant::now() < deadline {
        if let Some(cand) = drop_start(&best.wasm) {
            try_it(&mut best, cand, "drop the start function".into());
        }
    }
    let mut i = export_count(&best.wasm);
    while i > 0 && Instant::now() < deadline {
        i -= 1;
        if let Some(cand) = drop_export(&best.wasm, i) {
            try_it(&mut best, cand, format!("drop export #{i}"));
        }
    }
    for i in 0..body_count(&best.wasm) {
        if Instant::now() >= deadline {
            break;
        }
        if let Some(cand) = stub_body(&best.wasm, i) {
            try_it(
                &mut best,
                cand,
                format!("stub body of defined function #{i}"),
            );
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_modules_valid_and_do_what_they_say() {
        let wasm = wat::parse_str(
            r#"(module
              (func $a (export "a") (result i32) i32.const 1)
              (func $b (export "b") (result i32) i32.const 2)
              (func $s)
              (start $s))"#,
        )
        .unwrap();
        assert_eq!(export_count(&wasm), 2);
        let one = drop_export(&wasm, 0).unwrap();
        wasmparser::validate(&one).unwrap();
        assert_eq!(export_count(&one), 1);
        let text = format!("{:?}", sections(&one).unwrap());
        assert!(!text.contains("[1, 97"), "export `a` gone: {text}");
        let stubbed = stub_body(&wasm, 1).unwrap();
        wasmparser::validate(&stubbed).unwrap();
        assert!(stub_body(&stubbed, 1).is_none());
        assert_eq!(body_count(&stubbed), 3);
        let nostart = drop_start(&wasm).unwrap();
        wasmparser::validate(&nostart).unwrap();
        assert!(drop_start(&nostart).is_none());
    }

    #[test]
    fn shrinking_keeps_only_what_the_predicate_needs() {
        let wasm = wat::parse_str(
            r#"(module
              (func (export "a") (result i32) i32.const 1)
              (func (export "bad") (result i32) i32.const 2)
              (func (export "c") (result i32) i32.const 3))"#,
        )
        .unwrap();
        // "Fails" while an export named `bad` remains.
        let mut pred = |w: &[u8]| String::from_utf8_lossy(w).contains("bad");
        let limits = Limits::for_seed(1);
        let mut reported = vec![];
        let s = shrink(
            1,
            limits,
            wasm,
            &mut pred,
            &mut |n| reported.push(n),
            Duration::from_secs(10),
        );
        assert_eq!(export_count(&s.wasm), 1, "{:?}", s.steps);
        assert!(String::from_utf8_lossy(&s.wasm).contains("bad"));
        // Every attempt is reported, in order, before it runs.
        assert!(s.attempts >= 3, "{}", s.attempts);
        assert_eq!(reported, (1..=s.attempts).collect::<Vec<_>>());
    }
}
