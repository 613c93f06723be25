//! Link flags for Wasabi's ABI: on wasm32, a growable exported table (for
//! the functions `module_func` places) and the export the plugin imports
//! back (`env.host_counter`); natively, the same symbol exported to the
//! dlopen()ed plugin.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg=--export-table");
        println!("cargo:rustc-link-arg=--growable-table");
        println!("cargo:rustc-link-arg=--export=host_counter");
    } else {
        println!("cargo:rustc-link-arg=-rdynamic");
    }
}
