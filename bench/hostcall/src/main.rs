//! Host-call overhead: how long one call of a `Linker::func_wrap` import
//! takes from wasm, next to a call to another instance's function and an
//! indirect call within the module, and the host calling a typed wasm
//! function. Prints one line per kind: `kind ns_per_call`.
//!
//! Usage: `wasabi-bench-hostcall [N]` (default 20,000,000 calls per kind;
//! the best of 5 runs is reported).

use std::time::Instant;
use wasabi::{Engine, Linker, Module, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = Engine::default();
    let calls = Module::from_file(&engine, dir.join("calls.wat"))?;
    let other = Module::from_file(&engine, dir.join("other.wat"))?;
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker.func_wrap("host", "inc", |x: i32| x + 1)?;
    linker.module(&mut store, "other", &other)?;
    let instance = linker.instantiate(&mut store, &calls)?;
    for kind in ["host_loop", "import_loop", "local_loop"] {
        let f = instance.get_typed_func::<i32, i32>(&mut store, kind)?;
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                let r = f.call(&mut store, n).expect("no trap");
                assert_eq!(r, n);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!("{kind} {:.2}", best * 1e9 / n as f64);
    }
    // The host calling into wasm: a typed call per iteration.
    let inc = instance.get_typed_func::<i32, i32>(&mut store, "inc")?;
    let m = n / 10;
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            let mut acc = 0;
            for _ in 0..m {
                acc = inc.call(&mut store, acc).expect("no trap");
            }
            assert_eq!(acc, m);
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    println!("host_to_wasm {:.2}", best * 1e9 / m as f64);
    Ok(())
}
