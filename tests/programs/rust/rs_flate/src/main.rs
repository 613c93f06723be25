//! flate2 (miniz_oxide backend): compress + decompress, sizes and checksums.
use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::{Compression, Crc, GzBuilder};
use std::io::{Read, Write};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn crc(b: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(b);
    c.sum()
}

fn main() {
    let mut rng = Rng(0xDEADBEEFCAFEBABE);
    let words = ["lorem", "ipsum", "dolor", "sit", "amet", "wasm", "wasi", "llvm", "native", "runtime"];
    let mut data = Vec::new();
    while data.len() < 2 << 20 {
        let w = words[(rng.next() % words.len() as u64) as usize];
        data.extend_from_slice(w.as_bytes());
        data.push(if rng.next() % 12 == 0 { b'\n' } else { b' ' });
    }
    // plus a chunk of incompressible bytes
    for _ in 0..(64 * 1024 / 8) {
        data.extend_from_slice(&rng.next().to_le_bytes());
    }
    println!("input: {} bytes, crc32 {:08x}", data.len(), crc(&data));

    for level in [1u32, 6, 9] {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(&data).unwrap();
        let c = e.finish().unwrap();
        let mut d = Vec::new();
        DeflateDecoder::new(&c[..]).read_to_end(&mut d).unwrap();
        println!("deflate level {level}: {} bytes, crc32 {:08x}, round trip ok: {}", c.len(), crc(&c), d == data);
    }
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    // write in uneven chunks
    let mut off = 0;
    let mut step = 1;
    while off < data.len() {
        let end = (off + step).min(data.len());
        z.write_all(&data[off..end]).unwrap();
        off = end;
        step = step * 3 % 70001 + 1;
    }
    let zc = z.finish().unwrap();
    let mut zd = Vec::new();
    ZlibDecoder::new(&zc[..]).read_to_end(&mut zd).unwrap();
    println!("zlib default: {} bytes, crc32 {:08x}, round trip ok: {}", zc.len(), crc(&zc), zd == data);

    // gzip with a fixed header (mtime 0) so the output is reproducible
    let mut g = GzBuilder::new().filename("data.txt").mtime(0).write(Vec::new(), Compression::best());
    g.write_all(&data).unwrap();
    let gc = g.finish().unwrap();
    let mut gd = Vec::new();
    let mut dec = GzDecoder::new(&gc[..]);
    dec.read_to_end(&mut gd).unwrap();
    let name = dec.header().and_then(|h| h.filename()).map(|f| String::from_utf8_lossy(f).into_owned());
    println!("gzip best: {} bytes, crc32 {:08x}, round trip ok: {}, filename {:?}", gc.len(), crc(&gc), gd == data, name);
    let plain = GzEncoder::new(Vec::new(), Compression::fast());
    let empty = plain.finish().unwrap();
    println!("gzip of empty input: {} bytes", empty.len());

    // corrupt stream must give an error, not a crash
    let mut bad = zc.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let mut out = Vec::new();
    let r = ZlibDecoder::new(&bad[..]).read_to_end(&mut out);
    println!("corrupted zlib stream rejected: {}", r.is_err() || out != data);
}
