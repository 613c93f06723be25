//! Wasabi's own ABI from Rust: loads the C plugin (c/plugins/abi_plugin.c)
//! at run time, calls its functions through function pointers, and lets it
//! call back. Natively the plugin is a shared library opened with dlopen,
//! which gives the expected output. argv[1]: the plugin's directory.

use std::sync::atomic::{AtomicI32, Ordering};

static COUNTER: AtomicI32 = AtomicI32::new(0);

/// Called back by the plugin (its import `env.host_counter`).
#[no_mangle]
pub extern "C" fn host_counter(by: i32) -> i32 {
    COUNTER.fetch_add(by, Ordering::Relaxed) + by
}

#[cfg(target_arch = "wasm32")]
mod abi {
    #[link(wasm_import_module = "wasabi")]
    extern "C" {
        fn module_load(bytes: *const u8, len: usize) -> i32;
        fn module_func(handle: i32, name: *const u8, len: usize) -> i32;
    }
    pub const SUFFIX: &str = ".wasm";

    /// A handle for the module in the file at `path`.
    pub fn open(path: &str) -> Result<i32, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
        // SAFETY: the host reads exactly bytes[..len] of this module's memory.
        let h = unsafe { module_load(bytes.as_ptr(), bytes.len()) };
        if h < 0 {
            Err(format!("module_load: code {h}"))
        } else {
            Ok(h)
        }
    }

    /// The function pointer (a table index) of export `name`.
    pub fn func(handle: i32, name: &str) -> Result<usize, i32> {
        // SAFETY: the host reads exactly name[..len].
        let i = unsafe { module_func(handle, name.as_ptr(), name.len()) };
        if i < 0 {
            Err(i)
        } else {
            Ok(i as usize)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod abi {
    use std::ffi::{c_char, c_int, c_void, CString};
    extern "C" {
        fn dlopen(path: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    }
    const RTLD_NOW: c_int = 2;
    pub const SUFFIX: &str = ".so";
    static mut HANDLES: Vec<usize> = Vec::new();

    pub fn open(path: &str) -> Result<i32, String> {
        let c = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: a valid C string; the handle is only used with dlsym.
        let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW) };
        if h.is_null() {
            return Err(format!("dlopen {path} failed"));
        }
        // SAFETY: single-threaded program.
        unsafe {
            let handles = &mut *std::ptr::addr_of_mut!(HANDLES);
            handles.push(h as usize);
            Ok(handles.len() as i32)
        }
    }

    pub fn func(handle: i32, name: &str) -> Result<usize, i32> {
        // SAFETY: single-threaded program.
        let handles = unsafe { &*std::ptr::addr_of!(HANDLES) };
        let Some(&h) = usize::try_from(handle - 1).ok().and_then(|i| handles.get(i)) else {
            return Err(-6);
        };
        let c = CString::new(name).map_err(|_| -1)?;
        // SAFETY: a live dlopen handle and a valid C string.
        let f = unsafe { dlsym(h as *mut c_void, c.as_ptr()) };
        if f.is_null() {
            Err(-4)
        } else {
            Ok(f as usize)
        }
    }
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: rs_abi_host DIR");
    let h = match abi::open(&format!("{dir}/abi_plugin{}", abi::SUFFIX)) {
        Ok(h) => h,
        Err(e) => {
            println!("load failed: {e}");
            std::process::exit(1);
        }
    };
    println!("load: ok");
    // SAFETY: each pointer is the plugin's function of exactly this type (a
    // wrong type would trap in wasm, not run).
    let (add, hypot2, bump, calls) = unsafe {
        (
            std::mem::transmute::<usize, extern "C" fn(i32, i32) -> i32>(abi::func(h, "add").unwrap()),
            std::mem::transmute::<usize, extern "C" fn(f64, f64) -> f64>(abi::func(h, "hypot2").unwrap()),
            std::mem::transmute::<usize, extern "C" fn(i32) -> i32>(abi::func(h, "bump").unwrap()),
            std::mem::transmute::<usize, extern "C" fn() -> i32>(abi::func(h, "calls").unwrap()),
        )
    };
    println!("add(2, 40) = {}", add(2, 40));
    let total = (1..=100).fold(0, |acc, i| add(acc, i));
    println!("fold add 1..=100 = {total}");
    println!("hypot2(1.5, 2) = {:.4}", hypot2(1.5, 2.0));
    let (b1, b2) = (bump(3), bump(4));
    println!("bump(3) = {b1}, bump(4) = {b2}, counter = {}", COUNTER.load(Ordering::Relaxed));
    println!("plugin calls: {}", calls());
    println!("missing export: {:?}", abi::func(h, "nope").err());
    println!("bad handle: {:?}", abi::func(42, "add").err());
}
