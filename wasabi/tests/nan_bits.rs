//! NaN payloads survive calls: `f32.const`/`f64.const`, `reinterpret`,
//! `neg`/`abs`/`copysign` and plain moves are bit-exact in the spec, and
//! results crossing from wasm to the host (one value, or several through a
//! struct return) must keep every bit, signalling NaNs included.
//! Regression: the fuzzer (seed 10040216) saw a signalling f64 NaN returned
//! as the sixth of six results come back quieted.

use wasabi::{CompileMode, Config, Engine, Instance, Module, OptLevel, Store, Val};

const SNAN64: u64 = 0xfff7_ffff_ffff_ffff;
const SNAN32: u32 = 0xffbf_ffff;

fn configs() -> Vec<Config> {
    let mut v: Vec<Config> = [OptLevel::O0, OptLevel::O1, OptLevel::O3]
        .into_iter()
        .map(|o| Config::new().opt_level(o))
        .collect();
    v.push(Config::new().mode(CompileMode::Lazy));
    v
}

#[test]
fn signalling_nans_keep_their_bits_through_results() {
    let wat = r#"(module
      (func (export "one") (result f64) f64.const -nan:0x7ffffffffffff)
      (func (export "one32") (result f32) f32.const -nan:0x3fffff)
      (func (export "two") (result i32 f64) i32.const 1 f64.const -nan:0x7ffffffffffff)
      (func (export "six") (result i64 i64 i64 f64 f32 f64)
        i64.const 1 i64.const 2 i64.const 3 f64.const 1 f32.const -nan:0x3fffff
        f64.const -nan:0x7ffffffffffff)
      (func (export "via_call") (result i64)
        (call 3) (i64.reinterpret_f64) (return)))"#;
    for config in configs() {
        let what = format!("{config:?}");
        let engine = Engine::new(config);
        let module = Module::new(&engine, wat).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = Instance::new(&mut store, &module, &[]).unwrap();
        let call = |store: &mut Store<()>, name: &str| {
            let f = inst.get_func(&mut *store, name).unwrap();
            f.call_vec(&mut *store, &[]).unwrap()
        };
        assert_eq!(call(&mut store, "one"), [Val::F64(SNAN64)], "{what}");
        assert_eq!(call(&mut store, "one32"), [Val::F32(SNAN32)], "{what}");
        assert_eq!(call(&mut store, "two")[1], Val::F64(SNAN64), "{what}");
        let six = call(&mut store, "six");
        assert_eq!(six[4], Val::F32(SNAN32), "{what}");
        assert_eq!(six[5], Val::F64(SNAN64), "{what}");
        assert_eq!(
            call(&mut store, "via_call"),
            [Val::I64(SNAN64 as i64)],
            "{what}"
        );
    }
}
