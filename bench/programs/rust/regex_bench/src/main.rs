//! regex_bench: regex and string processing over generated log text.
//!
//! Generates a few MB of synthetic log lines (timestamps, hosts, HTTP
//! requests, e-mail addresses, IPv4 addresses, log levels) while counting
//! what it inserted, then runs several `regex` crate workloads over the text:
//! match counting, capture extraction, case-insensitive alternation,
//! replace_all, plus plain string work (split, word frequencies).  Every
//! regex result is checked against the generator's own counts; the program
//! exits 1 on a mismatch.

use regex::Regex;
use std::collections::HashMap;

const LINES: usize = 40_000;
const REPS: usize = 6;

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

#[derive(Default, Debug, PartialEq)]
struct Truth {
    emails: u64,
    ip_octet_sum: u64,
    ips: u64,
    ts_sum: u64,
    errors_warnings: u64,
    digits: u64,
}

const NAMES: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];
const DOMAINS: &[&str] = &["example", "wasabi", "mail", "corp"];
const TLDS: &[&str] = &["com", "org", "io", "net"];
const LEVELS: &[&str] = &["INFO", "DEBUG", "Error", "WARN", "warning", "trace"];
const PATHS: &[&str] = &["/api/v1/users", "/api/v1/orders", "/static/app.js", "/login", "/health"];
const WORDS: &[&str] = &["request", "served", "cache", "miss", "hit", "upstream", "timeout", "ok", "retry"];

fn push_num(s: &mut String, n: u64, width: usize, t: &mut Truth) {
    let v = format!("{:0width$}", n, width = width);
    t.digits += v.len() as u64;
    s.push_str(&v);
}

fn generate(seed: u64, t: &mut Truth) -> String {
    let mut r = Rng(seed);
    let mut s = String::with_capacity(LINES * 120);
    for _ in 0..LINES {
        let (y, mo, d, h, mi, se) = (2020 + r.below(5), 1 + r.below(12), 1 + r.below(28), r.below(24), r.below(60), r.below(60));
        push_num(&mut s, y, 4, t);
        s.push('-');
        push_num(&mut s, mo, 2, t);
        s.push('-');
        push_num(&mut s, d, 2, t);
        s.push('T');
        push_num(&mut s, h, 2, t);
        s.push(':');
        push_num(&mut s, mi, 2, t);
        s.push(':');
        push_num(&mut s, se, 2, t);
        s.push_str("Z ");
        t.ts_sum += y + mo + d + h + mi + se;
        let lvl = LEVELS[r.below(LEVELS.len() as u64) as usize];
        if lvl.eq_ignore_ascii_case("error") || lvl.to_ascii_lowercase().starts_with("warn") {
            t.errors_warnings += 1;
        }
        s.push_str(lvl);
        s.push_str(" host-");
        push_num(&mut s, r.below(64), 1, t);
        s.push_str(" GET ");
        let path = PATHS[r.below(PATHS.len() as u64) as usize];
        t.digits += path.bytes().filter(|b| b.is_ascii_digit()).count() as u64;
        s.push_str(path);
        s.push('/');
        push_num(&mut s, r.below(100000), 1, t);
        s.push(' ');
        for _ in 0..1 + r.below(4) {
            s.push_str(WORDS[r.below(WORDS.len() as u64) as usize]);
            s.push(' ');
        }
        if r.below(3) != 0 {
            s.push_str("user=");
            s.push_str(NAMES[r.below(NAMES.len() as u64) as usize]);
            if r.below(2) == 0 {
                s.push('.');
                s.push_str(NAMES[r.below(NAMES.len() as u64) as usize]);
            }
            s.push('@');
            s.push_str(DOMAINS[r.below(DOMAINS.len() as u64) as usize]);
            s.push('.');
            s.push_str(TLDS[r.below(TLDS.len() as u64) as usize]);
            s.push(' ');
            t.emails += 1;
        }
        if r.below(2) == 0 {
            s.push_str("ip=");
            for k in 0..4 {
                let o = r.below(256);
                t.ip_octet_sum += o;
                push_num(&mut s, o, 1, t);
                if k < 3 {
                    s.push('.');
                }
            }
            s.push(' ');
            t.ips += 1;
        }
        s.push_str("took=");
        push_num(&mut s, r.below(5000), 1, t);
        s.push_str("ms\n");
    }
    s
}

fn main() {
    let email = Regex::new(r"[a-z0-9._]+@[a-z0-9]+\.[a-z]{2,3}\b").unwrap();
    let ip = Regex::new(r"ip=(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})").unwrap();
    let ts = Regex::new(r"(?m)^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z").unwrap();
    let lvl = Regex::new(r"(?i)\b(error|warn(ing)?)\b").unwrap();
    let digits = Regex::new(r"\d+").unwrap();

    let mut ok = true;
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut total_bytes = 0usize;
    for rep in 0..REPS {
        let mut t = Truth::default();
        let text = generate(0x9E3779B97F4A7C15 ^ (rep as u64 + 1), &mut t);
        total_bytes += text.len();
        let mut got = Truth::default();
        got.emails = email.find_iter(&text).count() as u64;
        for c in ip.captures_iter(&text) {
            got.ips += 1;
            for k in 1..=4 {
                got.ip_octet_sum += c[k].parse::<u64>().unwrap();
            }
        }
        for c in ts.captures_iter(&text) {
            for k in 1..=6 {
                got.ts_sum += c[k].parse::<u64>().unwrap();
            }
        }
        got.errors_warnings = lvl.find_iter(&text).count() as u64;
        let replaced = digits.replace_all(&text, "#");
        got.digits = (text.len() - replaced.len() + digits.find_iter(&text).count()) as u64;
        if got != t {
            println!("FAIL rep {rep}: got {got:?} expected {t:?}");
            ok = false;
        }
        // plain string work: word frequencies over the replaced text
        let mut freq: HashMap<&str, u64> = HashMap::new();
        for line in replaced.lines() {
            for w in line.split(|c: char| c == ' ' || c == '/' || c == '=') {
                if !w.is_empty() {
                    *freq.entry(w).or_insert(0) += 1;
                }
            }
        }
        let mut top: Vec<(&str, u64)> = freq.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (w, n) in top.iter().take(20) {
            for b in w.bytes() {
                hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
            }
            hash = (hash ^ *n).wrapping_mul(0x100000001b3);
        }
    }
    println!("regex_bench reps={REPS} bytes={total_bytes} hash={hash:016x}");
    if !ok {
        std::process::exit(1);
    }
    println!("OK");
}
