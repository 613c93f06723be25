//! A `v128` crosses the embedding API intact: typed and untyped calls into
//! wasm, host functions called from wasm (more v128 arguments than vector
//! registers, several results), and globals read and written by the host,
//! in every compile mode and at every level, on this CPU and on baseline
//! x86-64. The bit patterns include signalling NaN lanes, which any float
//! move on the way would quiet.

use wasabi::{
    Caller, CompileMode, Config, Engine, Global, GlobalType, Linker, Module, OptLevel, Store,
    TargetCpu, Val, ValType,
};

fn configs() -> Vec<Config> {
    let mut v: Vec<Config> = [OptLevel::O0, OptLevel::O1, OptLevel::O3]
        .into_iter()
        .map(|o| Config::new().opt_level(o).cache(false))
        .collect();
    v.push(Config::new().mode(CompileMode::Lazy));
    v.push(Config::new().target_cpu(TargetCpu::Generic).cache(false));
    v
}

/// Lanes: an f32 signalling NaN, an f64 signalling NaN's high half, -0.0, 1.
const A: u128 = 0x0000_0001_8000_0000_7ff4_0000_7fa0_0001;
const B: u128 = 0xffff_ffff_0000_0000_1234_5678_9abc_def0;

const WAT: &str = r#"(module
  (import "host" "mix" (func $mix (param v128 i32 v128 v128 v128 v128 v128 v128 v128 v128 v128)
    (result v128 f64 v128)))
  (global (export "g") (mut v128) (v128.const i64x2 0 0))
  (func (export "swap") (param v128 v128) (result v128 v128) (local.get 1) (local.get 0))
  (func (export "xor") (param v128 v128) (result v128) (v128.xor (local.get 0) (local.get 1)))
  (func (export "via_host") (param v128 v128) (result v128 f64 v128)
    (call $mix (local.get 0) (i32.const 3) (local.get 1) (local.get 1) (local.get 1)
      (local.get 1) (local.get 1) (local.get 1) (local.get 1) (local.get 1) (local.get 0)))
  (func (export "bump") (global.set 0 (i64x2.add (global.get 0) (v128.const i64x2 1 2)))))"#;

#[test]
fn v128_values_cross_every_boundary_intact() {
    for config in configs() {
        let what = format!("{config:?}");
        let engine = Engine::new(config);
        let module = Module::new(&engine, WAT).unwrap();
        let mut store = Store::new(&engine, Vec::<u128>::new());
        let mut linker = Linker::new(&engine);
        linker
            .func_wrap(
                "host",
                "mix",
                |mut caller: Caller<'_, Vec<u128>>,
                 a: u128,
                 n: i32,
                 b: u128,
                 c: u128,
                 d: u128,
                 e: u128,
                 f: u128,
                 g: u128,
                 h: u128,
                 i: u128,
                 last: u128| {
                    caller.data_mut().extend([a, b, c, d, e, f, g, h, i, last]);
                    (b, f64::from_bits(0x7ff4_0000_0000_0001), a ^ n as u128)
                },
            )
            .unwrap();
        let inst = linker.instantiate(&mut store, &module).unwrap();

        let swap = inst
            .get_typed_func::<(u128, u128), (u128, u128)>(&mut store, "swap")
            .unwrap();
        assert_eq!(swap.call(&mut store, (A, B)).unwrap(), (B, A), "{what}");

        let xor = inst.get_func(&mut store, "xor").unwrap();
        let r = xor
            .call_vec(&mut store, &[Val::V128(A), Val::V128(B)])
            .unwrap();
        assert_eq!(r, [Val::V128(A ^ B)], "{what}");

        let via = inst.get_func(&mut store, "via_host").unwrap();
        let r = via
            .call_vec(&mut store, &[Val::V128(A), Val::V128(B)])
            .unwrap();
        assert_eq!(
            r,
            [
                Val::V128(B),
                Val::F64(0x7ff4_0000_0000_0001),
                Val::V128(A ^ 3)
            ],
            "{what}"
        );
        let mut expected = vec![A];
        expected.extend([B; 8]);
        expected.push(A);
        assert_eq!(store.data(), &expected, "{what}");

        let g = inst.get_global(&mut store, "g").unwrap();
        g.set(&mut store, Val::V128(A)).unwrap();
        let bump = inst.get_typed_func::<(), ()>(&mut store, "bump").unwrap();
        bump.call(&mut store, ()).unwrap();
        let lo = (A as u64).wrapping_add(1) as u128;
        let hi = ((A >> 64) as u64).wrapping_add(2) as u128;
        assert_eq!(g.get(&mut store), Val::V128(lo | hi << 64), "{what}");

        // A host-made global of type v128, imported.
        let ty = GlobalType {
            content: ValType::V128,
            mutable: false,
        };
        let hg = Global::new(&mut store, ty, Val::V128(B)).unwrap();
        let reader = Module::new(
            &engine,
            r#"(module (import "h" "g" (global v128))
                 (func (export "read") (result v128) (global.get 0)))"#,
        )
        .unwrap();
        let mut l2 = Linker::new(&engine);
        l2.define("h", "g", hg).unwrap();
        let i2 = l2.instantiate(&mut store, &reader).unwrap();
        let read = i2.get_typed_func::<(), u128>(&mut store, "read").unwrap();
        assert_eq!(read.call(&mut store, ()).unwrap(), B, "{what}");
    }
}
