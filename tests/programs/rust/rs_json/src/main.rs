//! serde + serde_json round trip of a generated structure.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Circle { r: f64 },
    Rect { w: u32, h: u32 },
    Poly(Vec<(i32, i32)>),
    Empty,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Item {
    id: u64,
    name: String,
    tags: Vec<String>,
    score: f64,
    active: bool,
    parent: Option<u64>,
    shape: Shape,
    attrs: BTreeMap<String, i64>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Doc {
    version: u32,
    title: String,
    items: Vec<Item>,
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
    let mut rng = Rng(0x2545F4914F6CDD1D);
    let syll = ["ka", "lo", "mi", "ne", "ru", "ta", "wa", "zé", "ß", "\"q\"", "\\", "\n", "日本"];
    let mut items = Vec::new();
    for id in 0..3000u64 {
        let name: String = (0..1 + rng.below(4)).map(|_| syll[rng.below(syll.len() as u64) as usize]).collect();
        let tags = (0..rng.below(4)).map(|i| format!("t{}-{}", i, rng.below(100))).collect();
        let score = (rng.below(2_000_000) as f64 - 1_000_000.0) / 1024.0 + 1.0 / 3.0;
        let shape = match rng.below(4) {
            0 => Shape::Circle { r: rng.below(1000) as f64 * 0.1 },
            1 => Shape::Rect { w: rng.below(500) as u32, h: rng.below(500) as u32 },
            2 => Shape::Poly((0..rng.below(5)).map(|_| (rng.below(200) as i32 - 100, rng.below(200) as i32 - 100)).collect()),
            _ => Shape::Empty,
        };
        let mut attrs = BTreeMap::new();
        for _ in 0..rng.below(3) {
            attrs.insert(format!("k{}", rng.below(10)), rng.next() as i64);
        }
        items.push(Item {
            id,
            name,
            tags,
            score,
            active: rng.below(2) == 0,
            parent: if id > 0 && rng.below(3) == 0 { Some(rng.below(id)) } else { None },
            shape,
            attrs,
        });
    }
    let doc = Doc { version: 7, title: "wasabi json test ✓".into(), items };

    let compact = serde_json::to_string(&doc).unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    println!("items: {}", doc.items.len());
    println!("compact: {} bytes, fnv1a {:016x}", compact.len(), fnv1a(compact.as_bytes()));
    println!("pretty: {} bytes, fnv1a {:016x}", pretty.len(), fnv1a(pretty.as_bytes()));
    let back: Doc = serde_json::from_str(&compact).unwrap();
    println!("round trip (compact) equal: {}", back == doc);
    let back2: Doc = serde_json::from_str(&pretty).unwrap();
    println!("round trip (pretty) equal: {}", back2 == doc);

    // untyped access
    let v: serde_json::Value = serde_json::from_str(&compact).unwrap();
    let arr = v["items"].as_array().unwrap();
    let active = arr.iter().filter(|i| i["active"].as_bool() == Some(true)).count();
    let circles = arr.iter().filter(|i| i["shape"].get("Circle").is_some()).count();
    let total_score: f64 = arr.iter().map(|i| i["score"].as_f64().unwrap()).sum();
    println!("active: {active}, circles: {circles}, total score: {total_score:.6}");
    println!("first item: {}", serde_json::to_string(&arr[0]).unwrap());
    println!("title: {}", v["title"]);
    let err = serde_json::from_str::<Doc>("{\"version\": 1, \"title\": 5}").unwrap_err();
    println!("expected error: {err}");
}
