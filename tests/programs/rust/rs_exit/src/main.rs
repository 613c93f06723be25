use std::io::Write;
fn main() {
    let code: i32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    println!("rs_exit: exiting with {code}");
    std::io::stdout().flush().unwrap();
    std::process::exit(code);
}
