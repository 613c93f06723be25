//! `core::arch::wasm32` SIMD kernels (built with `+simd128` for
//! wasm32-wasip1) and, natively, scalar twins that compute the same results
//! lane by lane: the corpus compares the wasm output with the native one byte
//! for byte. Every kernel is exact (integers, or float operations IEEE rounds
//! the same in either form), and covers an operator family: saturating u8
//! arithmetic, i16 dot products, compares + bitmask, shuffles and swizzle,
//! narrowing and extending, popcount, q15 multiplication, shifts taken modulo
//! the lane width, f32 sqrt/min/max, saturating float-to-int conversion,
//! f64 rounding, and the boolean reductions.

#[cfg(target_arch = "wasm32")]
mod k {
    use core::arch::wasm32::*;

    pub const PATH: &str = "simd128";

    fn ld(s: &[u8], i: usize) -> v128 {
        assert!(i + 16 <= s.len());
        // SAFETY: the assert keeps the 16 bytes read inside `s`; v128_load
        // has no alignment requirement.
        unsafe { v128_load(s.as_ptr().add(i) as *const v128) }
    }
    fn st(s: &mut [u8], i: usize, v: v128) {
        assert!(i + 16 <= s.len());
        // SAFETY: the assert keeps the 16 bytes written inside `s`.
        unsafe { v128_store(s.as_mut_ptr().add(i) as *mut v128, v) }
    }
    fn bytes(v: v128) -> [u8; 16] {
        let mut b = [0u8; 16];
        st(&mut b, 0, v);
        b
    }

    /// out = min(avgr(a +sat 37, b), 230) -sat(signed) 3, and |a - b|.
    pub fn pixels(a: &[u8], b: &[u8], out: &mut [u8], diff: &mut [u8]) {
        let (k, lim, three) = (u8x16_splat(37), u8x16_splat(230), i8x16_splat(3));
        for i in (0..a.len()).step_by(16) {
            let (x, y) = (ld(a, i), ld(b, i));
            let v = u8x16_min(u8x16_avgr(u8x16_add_sat(x, k), y), lim);
            st(out, i, i8x16_sub_sat(v, three));
            st(diff, i, u8x16_sub_sat(u8x16_max(x, y), u8x16_min(x, y)));
        }
    }

    /// sum of a[i] * b[i] through i32x4.dot_i16x8_s
    pub fn dot(a: &[i16], b: &[i16]) -> i64 {
        let mut total = 0i64;
        for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
            let va = i16x8(ca[0], ca[1], ca[2], ca[3], ca[4], ca[5], ca[6], ca[7]);
            let vb = i16x8(cb[0], cb[1], cb[2], cb[3], cb[4], cb[5], cb[6], cb[7]);
            let d = i32x4_dot_i16x8(va, vb);
            total += (0..4).map(|l| lane32(d, l) as i64).sum::<i64>();
        }
        total
    }
    fn lane32(v: v128, l: usize) -> i32 {
        match l {
            0 => i32x4_extract_lane::<0>(v),
            1 => i32x4_extract_lane::<1>(v),
            2 => i32x4_extract_lane::<2>(v),
            _ => i32x4_extract_lane::<3>(v),
        }
    }

    /// count of `c` and a hash of the positions, via eq + bitmask
    pub fn find(hay: &[u8], c: u8) -> (u32, u64) {
        let (mut n, mut h) = (0u32, 0u64);
        let vc = u8x16_splat(c);
        for i in (0..hay.len()).step_by(16) {
            let mut m = u8x16_bitmask(u8x16_eq(ld(hay, i), vc)) as u32;
            n += m.count_ones();
            while m != 0 {
                h = h
                    .wrapping_mul(31)
                    .wrapping_add((i as u32 + m.trailing_zeros()) as u64);
                m &= m - 1;
            }
        }
        (n, h)
    }

    /// reverse each 16 bytes (shuffle) and look up through a swizzle table
    /// whose indices go past 15 (those lanes are 0)
    pub fn shuffles(a: &[u8], out: &mut [u8]) {
        let idx = u8x16(0, 17, 2, 200, 4, 5, 16, 7, 15, 9, 31, 11, 12, 128, 14, 1);
        for i in (0..a.len()).step_by(16) {
            let x = ld(a, i);
            let r = i8x16_shuffle::<15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0>(x, x);
            let m = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(x, r);
            st(out, i, v128_xor(i8x16_swizzle(m, idx), r));
        }
    }

    /// i16 -> u8 saturating narrow, u8 -> u16 extend, popcount, q15 multiply,
    /// shifts by counts >= the lane width; returns a hash
    pub fn lanes(a: &[u8], w: &[i16]) -> u64 {
        let mut h = 0u64;
        for (i, c) in w.chunks_exact(16).enumerate() {
            let v0 = i16x8(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
            let v1 = i16x8(c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]);
            let n = u8x16_narrow_i16x8(v0, v1);
            let x = ld(a, i * 16);
            let e = u16x8_extend_high_u8x16(x);
            let p = i8x16_popcnt(x);
            let q = i16x8_q15mulr_sat(v0, v1);
            let s = v128_or(i16x8_shr(v0, 19), u16x8_shr(v1, 35));
            let l = i32x4_shl(u32x4_extend_low_u16x8(e), 33);
            let em = i32x4_extmul_low_i16x8(v0, v1);
            for v in [n, e, p, q, s, l, em, u16x8_extadd_pairwise_u8x16(x)] {
                for b in bytes(v) {
                    h = (h ^ b as u64).wrapping_mul(0x100000001b3);
                }
            }
        }
        h
    }

    /// f32: sqrt of perfect squares, min/max, products; then saturating
    /// truncation of awkward values (NaN, infinities, out of range)
    pub fn floats(xs: &[f32], out: &mut [i32]) {
        for (i, c) in xs.chunks_exact(4).enumerate() {
            let v = f32x4(c[0], c[1], c[2], c[3]);
            let r = f32x4_sqrt(f32x4_mul(v, v));
            let m = f32x4_add(
                f32x4_min(r, f32x4_splat(1000.0)),
                f32x4_max(v, f32x4_splat(-3.5)),
            );
            let t = i32x4_trunc_sat_f32x4(f32x4_mul(m, f32x4_splat(1.0e6)));
            for l in 0..4 {
                out[i * 4 + l] = lane32(t, l);
            }
        }
    }

    pub fn round_f64(xs: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for c in xs.chunks_exact(2) {
            let v = f64x2(c[0], c[1]);
            for r in [
                f64x2_nearest(v),
                f64x2_floor(v),
                f64x2_ceil(v),
                f64x2_trunc(v),
            ] {
                out.push(f64x2_extract_lane::<0>(r));
                out.push(f64x2_extract_lane::<1>(r));
            }
        }
        out
    }

    /// (any lane non-zero, all i8 lanes non-zero, all i32 lanes non-zero)
    pub fn bools(a: &[u8]) -> (u32, u32, u32) {
        let (mut any, mut all8, mut all32) = (0, 0, 0);
        for i in (0..a.len()).step_by(16) {
            let x = v128_and(ld(a, i), u8x16_splat(0x81));
            any += v128_any_true(x) as u32;
            all8 += i8x16_all_true(x) as u32;
            all32 += i32x4_all_true(x) as u32;
        }
        (any, all8, all32)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod k {
    pub const PATH: &str = "scalar";

    pub fn pixels(a: &[u8], b: &[u8], out: &mut [u8], diff: &mut [u8]) {
        for i in 0..a.len() {
            let s = a[i].saturating_add(37) as u32;
            let v = ((s + b[i] as u32 + 1) >> 1).min(230) as u8;
            out[i] = (v as i8).saturating_sub(3) as u8;
            diff[i] = a[i].abs_diff(b[i]);
        }
    }

    pub fn dot(a: &[i16], b: &[i16]) -> i64 {
        let mut total = 0i64;
        for (ca, cb) in a.chunks_exact(2).zip(b.chunks_exact(2)) {
            // one i32 lane: two products added with wrap-around
            let l = (ca[0] as i32 * cb[0] as i32).wrapping_add(ca[1] as i32 * cb[1] as i32);
            total += l as i64;
        }
        total
    }

    pub fn find(hay: &[u8], c: u8) -> (u32, u64) {
        let (mut n, mut h) = (0u32, 0u64);
        for (i, &b) in hay.iter().enumerate() {
            if b == c {
                n += 1;
                h = h.wrapping_mul(31).wrapping_add(i as u64);
            }
        }
        (n, h)
    }

    pub fn shuffles(a: &[u8], out: &mut [u8]) {
        let idx: [u8; 16] = [0, 17, 2, 200, 4, 5, 16, 7, 15, 9, 31, 11, 12, 128, 14, 1];
        for i in (0..a.len()).step_by(16) {
            let x = &a[i..i + 16];
            let r: Vec<u8> = (0..16).map(|j| x[15 - j]).collect();
            let m: Vec<u8> = (0..16)
                .map(|j| if j % 2 == 0 { x[j / 2] } else { r[j / 2] })
                .collect();
            for j in 0..16 {
                let s = idx[j] as usize;
                out[i + j] = if s < 16 { m[s] } else { 0 } ^ r[j];
            }
        }
    }

    fn fnv(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h = (*h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }

    pub fn lanes(a: &[u8], w: &[i16]) -> u64 {
        let mut h = 0u64;
        for (i, c) in w.chunks_exact(16).enumerate() {
            let x = &a[i * 16..i * 16 + 16];
            let n: Vec<u8> = c.iter().map(|&v| v.clamp(0, 255) as u8).collect();
            fnv(&mut h, &n);
            let e: Vec<u8> = x[8..]
                .iter()
                .flat_map(|&b| (b as u16).to_le_bytes())
                .collect();
            fnv(&mut h, &e);
            let p: Vec<u8> = x.iter().map(|b| b.count_ones() as u8).collect();
            fnv(&mut h, &p);
            let q: Vec<u8> = (0..8)
                .flat_map(|j| {
                    let r = ((c[j] as i32 * c[j + 8] as i32 + 0x4000) >> 15).clamp(-32768, 32767);
                    (r as i16).to_le_bytes()
                })
                .collect();
            fnv(&mut h, &q);
            let s: Vec<u8> = (0..8)
                .flat_map(|j| {
                    ((c[j] >> (19 % 16)) | ((c[j + 8] as u16 >> (35 % 16)) as i16)).to_le_bytes()
                })
                .collect();
            fnv(&mut h, &s);
            let l: Vec<u8> = x[8..12]
                .iter()
                .flat_map(|&b| ((b as u32) << (33 % 32)).to_le_bytes())
                .collect();
            fnv(&mut h, &l);
            let em: Vec<u8> = (0..4)
                .flat_map(|j| (c[j] as i32 * c[j + 8] as i32).to_le_bytes())
                .collect();
            fnv(&mut h, &em);
            let ea: Vec<u8> = (0..8)
                .flat_map(|j| (x[2 * j] as u16 + x[2 * j + 1] as u16).to_le_bytes())
                .collect();
            fnv(&mut h, &ea);
        }
        h
    }

    /// wasm's f32 min/max: NaN propagates, -0 < +0 (no NaN or zero pairs
    /// reach these here, but keep the semantics honest)
    fn wmin(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if a == b {
            if a.is_sign_negative() {
                a
            } else {
                b
            }
        } else {
            a.min(b)
        }
    }
    fn wmax(a: f32, b: f32) -> f32 {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if a == b {
            if a.is_sign_positive() {
                a
            } else {
                b
            }
        } else {
            a.max(b)
        }
    }

    pub fn floats(xs: &[f32], out: &mut [i32]) {
        for (i, &v) in xs.iter().enumerate() {
            let r = (v * v).sqrt();
            let m = wmin(r, 1000.0) + wmax(v, -3.5);
            out[i] = (m * 1.0e6) as i32; // `as` saturates and maps NaN to 0, like trunc_sat
        }
    }

    pub fn round_f64(xs: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for c in xs.chunks_exact(2) {
            for f in [f64::round_ties_even, f64::floor, f64::ceil, f64::trunc] {
                out.push(f(c[0]));
                out.push(f(c[1]));
            }
        }
        out
    }

    pub fn bools(a: &[u8]) -> (u32, u32, u32) {
        let (mut any, mut all8, mut all32) = (0, 0, 0);
        for c in a.chunks_exact(16) {
            let x: Vec<u8> = c.iter().map(|b| b & 0x81).collect();
            any += x.iter().any(|&b| b != 0) as u32;
            all8 += x.iter().all(|&b| b != 0) as u32;
            all32 += x.chunks_exact(4).all(|w| w.iter().any(|&b| b != 0)) as u32;
        }
        (any, all8, all32)
    }
}

struct Rng(u32);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

const N: usize = 4096;

fn main() {
    println!("rs_simd: core::arch::wasm32 kernels, n = {N}");
    let mut rng = Rng(0x9e3779b9);
    let a: Vec<u8> = (0..N).map(|_| rng.next() as u8).collect();
    let b: Vec<u8> = (0..N).map(|_| (rng.next() >> 8) as u8).collect();
    // bytes of text-like data: mostly letters, some spaces
    let text: Vec<u8> = (0..N)
        .map(|_| match rng.next() % 7 {
            0 => b' ',
            r => b'a' + (r as u8 * 3 + (rng.next() % 5) as u8),
        })
        .collect();
    let w: Vec<i16> = (0..N)
        .map(|_| (rng.next() % 40001) as i16 - 20000)
        .collect();
    let v: Vec<i16> = (0..N).map(|_| (rng.next() % 601) as i16 - 300).collect();
    let wide: Vec<i16> = (0..N).map(|_| (rng.next() % 1024) as i16 - 300).collect();

    let (mut out, mut diff) = (vec![0u8; N], vec![0u8; N]);
    k::pixels(&a, &b, &mut out, &mut diff);
    println!(
        "pixels: out fnv {:016x}, diff fnv {:016x}",
        fnv(&out),
        fnv(&diff)
    );

    println!("dot: w.v = {}, w.w = {}", k::dot(&w, &v), k::dot(&w, &w));
    // extreme lanes: (-32768 * -32768) * 2 wraps to i32::MIN in one lane
    let ext = [-32768i16, -32768, 32767, 32767, -32768, 32767, 0, 1];
    println!("dot: extremes = {}", k::dot(&ext, &ext));

    for c in [b' ', b'e', b'q'] {
        let (n, h) = k::find(&text, c);
        println!(
            "find {:?}: {} times, positions hash {:016x}",
            c as char, n, h
        );
    }

    let mut sh = vec![0u8; N];
    k::shuffles(&a, &mut sh);
    println!("shuffles: fnv {:016x}", fnv(&sh));

    println!("lanes: hash {:016x}", k::lanes(&a, &wide));
    let mut ext_w = wide.clone();
    ext_w[..16].copy_from_slice(&[
        -32768, 32767, -1, 0, 255, 256, -300, 1000, -32768, 32767, 32767, 2, -2, 128, 127, -128,
    ]);
    println!("lanes (extremes): hash {:016x}", k::lanes(&a, &ext_w));

    let mut xs: Vec<f32> = (0..1024)
        .map(|i| ((rng.next() % 4001) as f32 - 2000.0) * if i % 3 == 0 { 0.5 } else { 1.0 })
        .collect();
    xs[..8].copy_from_slice(&[
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.0e9,
        -3.0e9,
        -0.0,
        0.0,
        2147.4836,
    ]);
    let mut ints = vec![0i32; xs.len()];
    k::floats(&xs, &mut ints);
    println!("floats: first 8 {:?}", &ints[..8]);
    let sum: i64 = ints.iter().map(|&x| x as i64).sum();
    println!(
        "floats: sum {}, fnv {:016x}",
        sum,
        fnv(&ints
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>())
    );

    let ds: Vec<f64> = [
        0.5,
        1.5,
        2.5,
        -0.5,
        -1.5,
        -2.5,
        2.4999999999999996,
        -7.7,
        1e300,
        -0.0,
        4503599627370497.0,
        0.49999999999999994,
    ]
    .to_vec();
    let r = k::round_f64(&ds);
    println!("round f64: {:?}", r);

    println!("bools (any, all8, all32): {:?}", k::bools(&a));
    let ones = vec![0xffu8; 64];
    println!("bools on 0xff: {:?}", k::bools(&ones));
    // the path is printed to stderr only: stdout is the same on every path
    eprintln!("rs_simd: {} path", k::PATH);
}
