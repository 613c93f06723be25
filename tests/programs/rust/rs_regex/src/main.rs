//! regex crate over generated text.
use regex::Regex;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x100000001b3);
    }
    h
}

fn main() {
    let mut rng = Rng(88172645463325252);
    let users = ["alice", "bob", "carol", "dave", "eve", "mallory", "трент", "佐藤"];
    let levels = ["INFO", "WARN", "ERROR", "DEBUG"];
    let mut text = String::new();
    for i in 0..20000u64 {
        let ip = format!("{}.{}.{}.{}", 10 + rng.below(200), rng.below(256), rng.below(256), rng.below(256));
        let lvl = levels[rng.below(4) as usize];
        let user = users[rng.below(users.len() as u64) as usize];
        let d = format!("2024-{:02}-{:02}T{:02}:{:02}:{:02}Z", 1 + rng.below(12), 1 + rng.below(28), rng.below(24), rng.below(60), rng.below(60));
        let code = [200, 201, 301, 404, 500, 503][rng.below(6) as usize];
        let email = if rng.below(5) == 0 { format!(" contact={}{}@example.org", user, rng.below(100)) } else { String::new() };
        text.push_str(&format!("{d} {lvl:<5} [{i:05}] {ip} user={user} status={code} took={}ms{email}\n", rng.below(5000)));
    }
    println!("text: {} bytes, {} lines", text.len(), text.lines().count());

    let pats: &[(&str, &str)] = &[
        ("errors", r"(?m)^\S+ ERROR "),
        ("ipv4", r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b"),
        ("email", r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-z]{2,}"),
        ("5xx", r"status=5\d\d"),
        ("slow", r"took=(?:[4-9]\d{3})ms"),
        ("unicode user", r"user=\p{Cyrillic}+|user=\p{Han}+"),
        ("date in march", r"2024-03-(0[1-9]|[12]\d)T"),
        ("word boundary", r"(?i)\bDEBUG\b"),
    ];
    for (name, p) in pats {
        let re = Regex::new(p).unwrap();
        let n = re.find_iter(&text).count();
        println!("{name:>14}: {n} matches");
    }

    // captures: sum of first octets, per-user counts
    let re = Regex::new(r"user=(?P<user>\w+) status=(?P<code>\d+) took=(?P<ms>\d+)ms").unwrap();
    let mut total_ms: u64 = 0;
    let mut per_user = std::collections::BTreeMap::new();
    for c in re.captures_iter(&text) {
        total_ms += c["ms"].parse::<u64>().unwrap();
        *per_user.entry(c["user"].to_string()).or_insert(0u32) += 1;
    }
    println!("captures: total_ms={total_ms}");
    for (u, n) in &per_user {
        println!("  user {u}: {n}");
    }

    // replace_all and split
    let ipre = Regex::new(r"\b(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}\b").unwrap();
    let redacted = ipre.replace_all(&text, "$1.$2.x.x");
    println!("redacted: {} bytes, fnv1a {:016x}", redacted.len(), fnv1a(redacted.as_bytes()));
    let splitter = Regex::new(r"[\s=\[\]]+").unwrap();
    let tokens = splitter.split(&text).filter(|s| !s.is_empty()).count();
    println!("tokens: {tokens}");
    let first = Regex::new(r"(?m)^.*ERROR.*$").unwrap().find(&text).map(|m| m.as_str().to_string());
    println!("first error line: {}", first.unwrap_or_default());
    println!("invalid pattern error: {}", Regex::new(r"(unclosed").is_err());
}
