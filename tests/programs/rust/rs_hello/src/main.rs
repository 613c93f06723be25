fn main() {
    println!("Hello from Rust on WASI!");
    let v: Vec<u64> = (1..=10).map(|x| x * x).collect();
    println!("squares: {:?}", v);
    println!("sum: {}", v.iter().sum::<u64>());
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("args: {:?}", args);
    match std::env::var("RS_HELLO_NAME") {
        Ok(n) => println!("RS_HELLO_NAME={n}"),
        Err(_) => println!("RS_HELLO_NAME unset"),
    }
    eprintln!("(this line goes to stderr)");
}
