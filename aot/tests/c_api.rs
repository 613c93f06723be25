//! A C program links against a library made by `wasabi aot --shared` and
//! calls the module through `wasabi.h`: the shared-library half of AOT, as a
//! C user sees it.

use std::path::Path;
use std::process::Command;

const MODULE: &str = r#"
(module
  ;; A library gets the same imports as an executable (here Wasabi's ABI).
  (import "wasabi" "last_error" (func $last_error (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "err_len") (result i32) (call $last_error (i32.const 0) (i32.const 0)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "div") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "scale") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 2.5))))
"#;

const PROGRAM: &str = r#"
#include <stdio.h>
#include <string.h>
#include "wasabi.h"
int main(void) {
    wasabi_instance *i = wasabi_instantiate();
    if (!i) return 2;
    uint64_t args[2] = {25, 0}, res[1] = {0};
    if (wasabi_call(i, "fib", args, 1, res, 1) != 0) return 3;
    printf("fib(25) = %llu\n", (unsigned long long)res[0]);
    double x = 4.0; uint64_t bits; memcpy(&bits, &x, 8);
    if (wasabi_call(i, "scale", &bits, 1, res, 1) != 0) return 4;
    memcpy(&x, &res[0], 8);
    printf("scale(4) = %g\n", x);
    args[0] = 7; args[1] = 0;
    printf("div(7, 0) -> %d\n", wasabi_call(i, "div", args, 2, res, 1));
    printf("missing -> %d\n", wasabi_call(i, "nope", args, 0, res, 1));
    if (wasabi_call(i, "err_len", args, 0, res, 1) != 0) return 5;
    printf("err_len = %llu\n", (unsigned long long)res[0]);
    wasabi_instance_free(i);
    return 0;
}
"#;

#[test]
fn c_program_calls_an_aot_shared_library() {
    let dir = std::env::temp_dir().join(format!("wasabi-c-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let so = dir.join("libfib.so");
    let engine = wasabi::Engine::default();
    wasabi_aot::build(
        &engine,
        MODULE.as_bytes(),
        &wasabi_aot::AotOptions {
            output: so.clone(),
            shared: true,
            progress: false,
            bundle: wasabi_aot::Bundle::default(),
        },
    )
    .expect("aot --shared");
    let c = dir.join("main.c");
    std::fs::write(&c, PROGRAM).unwrap();
    let header_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/aot-main");
    let exe = dir.join("main");
    let st = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .arg("-I")
        .arg(&header_dir)
        .arg(&so)
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .status()
        .expect("run cc");
    assert!(st.success(), "cc failed");
    let out = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "program failed: {stdout}{stderr}");
    assert_eq!(
        stdout,
        "fib(25) = 75025\nscale(4) = 10\ndiv(7, 0) -> -1\nmissing -> -1\nerr_len = 0\n"
    );
    assert!(
        stderr.contains("integer divide by zero"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("no exported function `nope`"),
        "stderr: {stderr}"
    );
}
