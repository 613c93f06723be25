use std::io::Write;
fn main() {
    println!("rs_panic: before the panic");
    std::io::stdout().flush().unwrap();
    let v: Vec<u32> = std::env::args().skip(1).map(|a| a.parse().unwrap_or(0)).collect();
    let depth = v.first().copied().unwrap_or(3);
    recurse(depth);
    println!("rs_panic: not reached");
}
fn recurse(n: u32) {
    if n == 0 {
        panic!("deliberate panic: the answer is {}", 42);
    }
    recurse(n - 1);
}
