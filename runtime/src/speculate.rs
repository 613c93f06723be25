//! Tiered mode's speculative baseline compilation: the order in which the
//! background compile thread, when it has nothing else to do, compiles the
//! baseline code of functions before their first call.
//!
//! Why. In tiered mode every function is compiled on its first call, on the
//! calling thread: the program stops while LLVM works (110-150 ms per
//! benchmark program of ~25 KB, most of it for functions that run once,
//! such as `printf_core`). Meanwhile the background thread, which only
//! recompiles functions that turned hot, is idle, and the second core with
//! it. Compiling ahead of the program on that core turns those stops into
//! lookups.
//!
//! First come the callees of the function the program compiled last at
//! its first call (it runs there now, so it calls them soon). Then the order is a breadth-first walk of the static call graph (direct
//! `call` instructions, and `ref.func`) from the roots a
//! program starts at: the start function (it runs at instantiation), then
//! the exported functions together (`_start` for a WASI command). Functions reached only
//! through tables come last, in element-segment order, then everything
//! else. So what the program calls soonest tends to be compiled first.
//!
//! What must stay true: this is only an order. Compiling a function early
//! must mean the same as compiling it at its first call (same code, same
//! errors, remembered the same way), so a wrong guess costs only time on
//! the background thread; the order never includes an imported function.

use crate::module::{ConstOp, ExportKind, ModuleInfo};
use std::collections::VecDeque;

/// Largest body (wasm bytes) compiled speculatively: a compilation cannot
/// be interrupted, and one in progress when the process exits delays the
/// exit until it is done (the job in progress always finishes: see
/// `lazy::in_background`). At -O0 LLVM spends about 6 µs per body byte,
/// so this bounds the delay to some 100 ms; larger functions are compiled
/// at their first call as before.
pub(crate) const MAX_SPECULATIVE_BODY: usize = 16 * 1024;

/// Most hints an [`AheadQueue`] keeps (the oldest go first).
const MAX_HINTS: usize = 256;

/// What the background thread compiles next: the callees of the functions
/// the program compiled most recently at their first call (it is running
/// there now, so it calls them soon: most recent first), then
/// [`compile_order`] (made on first use).
#[derive(Default)]
pub(crate) struct AheadQueue {
    order: Option<Vec<usize>>,
    next: usize,
    /// Defined functions, the next to compile last.
    hints: Vec<usize>,
}

impl AheadQueue {
    /// Defined function `k` was compiled at its first call: its direct
    /// callees go first, in the order its body names them.
    pub(crate) fn hint_callees(&mut self, info: &ModuleInfo, wasm: &[u8], k: usize) {
        let imported = info.num_imported_funcs;
        let callees = direct_callees(&wasm[info.function_bodies[k].clone()]);
        let defined = callees
            .iter()
            .rev()
            .filter_map(|&f| f.checked_sub(imported).map(|k| k as usize))
            .filter(|&k| k < info.function_bodies.len());
        self.hints.extend(defined);
        if self.hints.len() > MAX_HINTS {
            self.hints.drain(..self.hints.len() - MAX_HINTS);
        }
    }

    /// Returns `k`, taken by [`Self::next`] but not compiled now: it comes
    /// next again.
    pub(crate) fn put_back(&mut self, k: usize) {
        self.hints.push(k);
    }

    /// The next defined function for which `wanted` holds (not compiled
    /// yet, not too large), if any.
    pub(crate) fn next(
        &mut self,
        info: &ModuleInfo,
        wasm: &[u8],
        wanted: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        while let Some(k) = self.hints.pop() {
            if wanted(k) {
                return Some(k);
            }
        }
        let order = self.order.get_or_insert_with(|| compile_order(info, wasm));
        while let Some(&k) = order.get(self.next) {
            self.next += 1;
            if wanted(k) {
                return Some(k);
            }
        }
        None
    }
}

/// Defined functions in the order to compile them ahead of their first
/// call, as indices into the defined functions (`func_index -
/// num_imported_funcs`); every defined function once.
pub(crate) fn compile_order(info: &ModuleInfo, wasm: &[u8]) -> Vec<usize> {
    let mut walk = Walk {
        info,
        wasm,
        seen: vec![false; info.function_bodies.len()],
        queue: VecDeque::new(),
        order: Vec::with_capacity(info.function_bodies.len()),
    };
    // The start function runs at instantiation, before any export.
    walk.from(info.start.into_iter());
    walk.from(
        info.exports
            .iter()
            .filter(|e| e.kind == ExportKind::Func)
            .map(|e| e.index),
    );
    let table_funcs = info
        .elements
        .iter()
        .flat_map(|e| e.items.iter())
        .flat_map(|item| item.0.iter())
        .filter_map(|op| match op {
            ConstOp::RefFunc(f) => Some(*f),
            _ => None,
        });
    walk.from(table_funcs);
    let imported = info.num_imported_funcs;
    walk.from((0..info.function_bodies.len() as u32).map(|k| imported + k));
    walk.order
}

/// A breadth-first walk of the static call graph (see [`compile_order`]).
struct Walk<'a> {
    info: &'a ModuleInfo,
    wasm: &'a [u8],
    /// Per defined function: whether it was queued.
    seen: Vec<bool>,
    queue: VecDeque<usize>,
    order: Vec<usize>,
}

impl Walk<'_> {
    fn visit(&mut self, f: u32) {
        let Some(k) = f.checked_sub(self.info.num_imported_funcs) else {
            return;
        };
        if let Some(seen @ false) = self.seen.get_mut(k as usize) {
            *seen = true;
            self.queue.push_back(k as usize);
        }
    }

    /// Appends `roots` and everything they reach to the order.
    fn from(&mut self, roots: impl Iterator<Item = u32>) {
        for f in roots {
            self.visit(f);
        }
        while let Some(k) = self.queue.pop_front() {
            self.order.push(k);
            let body = &self.wasm[self.info.function_bodies[k].clone()];
            for callee in direct_callees(body) {
                self.visit(callee);
            }
        }
    }
}

/// The functions a body names directly (`call`, `ref.func`),
/// in the order it names them. A body that does not decode (it was
/// validated, so this does not happen) names what was read before the
/// error.
fn direct_callees(body: &[u8]) -> Vec<u32> {
    use wasmparser::{BinaryReader, FunctionBody, Operator};
    let body = FunctionBody::new(BinaryReader::new(body, 0));
    let Ok(mut ops) = body.get_operators_reader() else {
        return Vec::new();
    };
    let mut callees = Vec::new();
    while !ops.eof() {
        match ops.read() {
            Ok(Operator::Call { function_index }) | Ok(Operator::RefFunc { function_index }) => {
                callees.push(function_index)
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    callees
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(wat: &str) -> Vec<usize> {
        let wasm = wat::parse_str(wat).unwrap();
        let info = ModuleInfo::parse(&wasm).unwrap();
        compile_order(&info, &wasm)
    }

    #[test]
    fn callees_follow_their_callers_breadth_first() {
        // Defined functions (after one import): 0 = $leaf, 1 = $mid,
        // 2 = $start, 3 = $table_only, 4 = $unreachable.
        let order = order_of(
            r#"(module
              (import "env" "f" (func $imp))
              (func $leaf)
              (func $mid (call $leaf) (call $imp))
              (func $start (export "_start") (call $mid) (call $leaf))
              (func $table_only)
              (func $unreachable)
              (table 1 funcref)
              (elem (i32.const 0) $table_only))"#,
        );
        assert_eq!(order, vec![2, 1, 0, 3, 4]);
    }

    #[test]
    fn callees_of_the_latest_first_call_come_first() {
        let wat = r#"(module
          (func $a (export "_start") (call $b))
          (func $b)
          (func $c (call $e) (call $d))
          (func $d)
          (func $e))"#;
        let wasm = wat::parse_str(wat).unwrap();
        let info = ModuleInfo::parse(&wasm).unwrap();
        let mut queue = AheadQueue::default();
        let all = |_| true;
        assert_eq!(queue.next(&info, &wasm, all), Some(0));
        queue.hint_callees(&info, &wasm, 2);
        assert_eq!(queue.next(&info, &wasm, all), Some(4));
        assert_eq!(queue.next(&info, &wasm, |k| k != 3), Some(1));
        assert_eq!(queue.next(&info, &wasm, all), Some(2));
    }

    #[test]
    fn the_start_function_comes_before_exports() {
        let order = order_of(
            r#"(module
              (func $a (export "a"))
              (func $b (call $c))
              (func $c)
              (start $b))"#,
        );
        assert_eq!(order, vec![1, 2, 0]);
    }
}
