fn main() {
    println!("cargo:rerun-if-changed=src/traps.c");
    cc::Build::new()
        .file("src/traps.c")
        .flag_if_supported("-fno-omit-frame-pointer")
        .compile("wasabi_traps");
}
