//! Start-up benchmark program: prints a first line as soon as `main` runs,
//! then does a modest amount of work with clap, regex and serde_json and
//! prints a checksum. Large on purpose (thousands of functions); most of its
//! code is never called in one run, which is what lazy compilation exploits.

use clap::Parser;
use serde::{Deserialize, Serialize};

#[derive(Parser, Debug)]
#[command(name = "startup_app", about = "Lazy-compilation start-up benchmark")]
struct Args {
    /// Number of records to generate.
    #[arg(long, default_value_t = 2000)]
    records: usize,
    /// Pattern to search for.
    #[arg(long, default_value = r"(\w+)@(\w+)\.com")]
    pattern: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    id: usize,
    email: String,
    tags: Vec<String>,
}

fn main() {
    println!("ready");
    let args = Args::parse();
    let records: Vec<Record> = (0..args.records)
        .map(|i| Record { id: i, email: format!("user{i}@host{}.com", i % 7), tags: vec![format!("t{}", i % 5)] })
        .collect();
    let json = serde_json::to_string(&records).unwrap();
    let back: Vec<Record> = serde_json::from_str(&json).unwrap();
    let re = regex::Regex::new(&args.pattern).unwrap();
    let matches = back.iter().filter(|r| re.is_match(&r.email)).count();
    let sum: usize = back.iter().map(|r| r.id * r.tags.len()).sum();
    println!("json bytes {} matches {} checksum {}", json.len(), matches, sum);
}
