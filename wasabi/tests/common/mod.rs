//! Helpers shared by the library's integration tests (each test file
//! includes this module with `mod common;`).

/// A module of `n` small exported functions, `f0` .. `f{n-1}`, each
/// `fi(x) = x * (i + 2) + i`: enough of them to fill several batches of
/// baseline code compiled ahead of first calls.
pub fn small_functions(n: i32) -> String {
    let mut wat = String::from("(module\n");
    for i in 0..n {
        wat += &format!(
            "(func (export \"f{i}\") (param i32) (result i32) \
             (i32.add (i32.mul (local.get 0) (i32.const {})) (i32.const {i})))\n",
            i + 2
        );
    }
    wat + ")"
}

/// What `fi(x)` of [`small_functions`] returns.
fn small_function_result(i: i32, x: i32) -> i32 {
    x * (i + 2) + i
}

/// Calls every function of [`small_functions`]`(n)` in `inst` and checks
/// what each returns.
pub fn check_small_functions(store: &mut wasabi::Store<()>, inst: &wasabi::Instance, n: i32) {
    for i in 0..n {
        let f = inst
            .get_typed_func::<i32, i32>(&mut *store, &format!("f{i}"))
            .unwrap();
        assert_eq!(
            f.call(&mut *store, 10).unwrap(),
            small_function_result(i, 10),
            "f{i}"
        );
    }
}

/// `module`'s lazy statistics once `done` holds for them (the background
/// thread works meanwhile), or after a minute, whatever they are then.
pub fn wait_for_stats(
    module: &wasabi::Module,
    done: impl Fn(&wasabi_runtime::lazy::LazyStats) -> bool,
) -> wasabi_runtime::lazy::LazyStats {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = module.lazy_stats().unwrap();
        if done(&s) || std::time::Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
