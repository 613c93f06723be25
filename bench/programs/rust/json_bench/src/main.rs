//! json_bench: serde_json round trip.
//!
//! Builds a deterministic document of ~N records (strings with escapes,
//! integers, exactly-representable floats, optional fields, nested vectors
//! and maps), then repeatedly: serializes it (compact and pretty), parses it
//! back into typed structs and into an untyped `serde_json::Value`,
//! re-serializes the Value and parses that again.  Every parsed copy must
//! equal the original; a hash of the compact JSON is printed.  Exits 1 on a
//! mismatch.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const RECORDS: usize = 15_000;
const REPS: usize = 6;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Address {
    street: String,
    city: String,
    zip: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Kind {
    Person,
    Company { employees: u32 },
    Robot(u16),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Record {
    id: u64,
    name: String,
    active: bool,
    score: f64,
    balance: i64,
    tags: Vec<String>,
    address: Option<Address>,
    kind: Kind,
    attrs: BTreeMap<String, i32>,
    history: Vec<f64>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 11) % n
    }
}

const SYL: &[&str] = &["ka", "lo", "mi", "ne", "su", "ta", "ri", "wo", "zé", "pü", "\"q\"", "a\\b", "\t", "日本"];

fn word(r: &mut Rng, n: u64) -> String {
    let mut s = String::new();
    for _ in 0..1 + r.below(n) {
        s.push_str(SYL[r.below(SYL.len() as u64) as usize]);
    }
    s
}

fn build() -> Vec<Record> {
    let mut r = Rng(0x2545F4914F6CDD1D);
    (0..RECORDS)
        .map(|i| Record {
            id: i as u64 * 7919 + r.below(1000),
            name: word(&mut r, 6),
            active: r.below(2) == 0,
            score: (r.below(1 << 20) as f64) / 1024.0 - 512.0,
            balance: r.below(1 << 40) as i64 - (1 << 39),
            tags: (0..r.below(5)).map(|_| word(&mut r, 3)).collect(),
            address: if r.below(3) == 0 {
                None
            } else {
                Some(Address { street: word(&mut r, 5), city: word(&mut r, 3), zip: r.below(100000) as u32 })
            },
            kind: match r.below(3) {
                0 => Kind::Person,
                1 => Kind::Company { employees: r.below(10000) as u32 },
                _ => Kind::Robot(r.below(65536) as u16),
            },
            attrs: (0..r.below(6)).map(|_| (word(&mut r, 2), r.below(2000) as i32 - 1000)).collect(),
            history: (0..r.below(8)).map(|_| r.below(1 << 16) as f64 / 256.0).collect(),
        })
        .collect()
}

fn fnv(s: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in s {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h
}

fn main() {
    let mut doc = build();
    let mut ok = true;
    let mut hash = 0u64;
    let mut bytes = 0usize;
    for rep in 0..REPS {
        // perturb a little each rep so nothing can be cached across reps
        doc[rep].balance += rep as i64;
        let compact = serde_json::to_string(&doc).unwrap();
        let pretty = serde_json::to_string_pretty(&doc).unwrap();
        bytes += compact.len() + pretty.len();
        let a: Vec<Record> = serde_json::from_str(&compact).unwrap();
        let b: Vec<Record> = serde_json::from_str(&pretty).unwrap();
        let v: serde_json::Value = serde_json::from_str(&compact).unwrap();
        let again = serde_json::to_string(&v).unwrap();
        let c: Vec<Record> = serde_json::from_str(&again).unwrap();
        if a != doc || b != doc || c != doc {
            println!("FAIL: round trip mismatch in rep {rep}");
            ok = false;
        }
        hash ^= fnv(compact.as_bytes()).rotate_left(rep as u32);
    }
    println!("json_bench records={RECORDS} reps={REPS} bytes={bytes} hash={hash:016x}");
    if !ok {
        std::process::exit(1);
    }
    println!("OK");
}
