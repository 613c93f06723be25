//! simd_mandel: Mandelbrot iteration counts in f32x4 SIMD, written once over
//! a tiny vector module: `core::arch::wasm32` on wasm32 (built with
//! `-C target-feature=+simd128`) and the equivalent SSE2 intrinsics
//! (`core::arch::x86_64`) natively, so both sides run the same 128-bit code.
//!
//! Four pixels per vector: z = z² + c with mul/add/sub only (no FMA, so every
//! engine rounds identically), an `active` lane mask from a `<=` compare
//! ANDed with the previous one, iteration counts kept by subtracting the mask
//! from i32 lanes, and the loop leaving when no lane is active (bitmask).
//! Several views (a full view and zooms into the boundary) are rendered.
//! Self-check: a scalar twin recomputes rows of every view and must agree
//! exactly; the total and a hash of all counts are the reference values.

#[cfg(target_arch = "wasm32")]
mod v {
    use core::arch::wasm32::*;
    pub type F = v128;
    pub type I = v128;
    pub fn splat(x: f32) -> F {
        f32x4_splat(x)
    }
    pub fn new(a: f32, b: f32, c: f32, d: f32) -> F {
        f32x4(a, b, c, d)
    }
    pub fn add(a: F, b: F) -> F {
        f32x4_add(a, b)
    }
    pub fn sub(a: F, b: F) -> F {
        f32x4_sub(a, b)
    }
    pub fn mul(a: F, b: F) -> F {
        f32x4_mul(a, b)
    }
    /// all-ones lanes where a <= b, as an integer mask
    pub fn le(a: F, b: F) -> I {
        f32x4_le(a, b)
    }
    pub fn and(a: I, b: I) -> I {
        v128_and(a, b)
    }
    pub fn izero() -> I {
        i32x4_splat(0)
    }
    pub fn ione() -> I {
        i32x4_splat(-1)
    }
    pub fn isub(a: I, b: I) -> I {
        i32x4_sub(a, b)
    }
    pub fn any(a: I) -> bool {
        i32x4_bitmask(a) != 0
    }
    pub fn lanes(a: I) -> [i32; 4] {
        [
            i32x4_extract_lane::<0>(a),
            i32x4_extract_lane::<1>(a),
            i32x4_extract_lane::<2>(a),
            i32x4_extract_lane::<3>(a),
        ]
    }
}

#[cfg(target_arch = "x86_64")]
mod v {
    use core::arch::x86_64::*;
    pub type F = __m128;
    pub type I = __m128i;
    pub fn splat(x: f32) -> F {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_set1_ps(x) }
    }
    pub fn new(a: f32, b: f32, c: f32, d: f32) -> F {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_setr_ps(a, b, c, d) }
    }
    pub fn add(a: F, b: F) -> F {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_add_ps(a, b) }
    }
    pub fn sub(a: F, b: F) -> F {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_sub_ps(a, b) }
    }
    pub fn mul(a: F, b: F) -> F {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_mul_ps(a, b) }
    }
    pub fn le(a: F, b: F) -> I {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_castps_si128(_mm_cmple_ps(a, b)) }
    }
    pub fn and(a: I, b: I) -> I {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_and_si128(a, b) }
    }
    pub fn izero() -> I {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_setzero_si128() }
    }
    pub fn ione() -> I {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_set1_epi32(-1) }
    }
    pub fn isub(a: I, b: I) -> I {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_sub_epi32(a, b) }
    }
    pub fn any(a: I) -> bool {
        // SAFETY: SSE and SSE2 are part of the x86-64 baseline.
        unsafe { _mm_movemask_ps(_mm_castsi128_ps(a)) != 0 }
    }
    pub fn lanes(a: I) -> [i32; 4] {
        let mut out = [0i32; 4];
        // SAFETY: `out` is 16 writable bytes; storeu has no alignment need;
        // SSE2 is part of the x86-64 baseline.
        unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, a) };
        out
    }
}

const W: usize = 640;
const H: usize = 480;
const MAX_IT: i32 = 1000;
/// (centre x, centre y, width of the view)
const VIEWS: [(f32, f32, f32); 6] = [
    (-0.75, 0.0, 3.0),
    (-0.745, 0.113, 0.02),
    (-1.25066, 0.02012, 0.0017),
    (-0.1011, 0.9563, 0.01),
    (0.2820, 0.0110, 0.004),
    (-1.7687, 0.0017, 0.012),
];
const EXPECTED_TOTAL: u64 = 620428102;
const EXPECTED_HASH: u64 = 0xcb6a669fbb3c3969;

fn coords(view: (f32, f32, f32), x: usize, y: usize) -> (f32, f32) {
    let (cx, cy, w) = view;
    let step = w / W as f32;
    (
        cx - 0.5 * w + step * x as f32,
        cy - 0.5 * w * (H as f32 / W as f32) + step * y as f32,
    )
}

fn row_simd(view: (f32, f32, f32), y: usize, out: &mut [i32]) {
    let four = v::splat(4.0);
    for x in (0..W).step_by(4) {
        let c: [(f32, f32); 4] = std::array::from_fn(|l| coords(view, x + l, y));
        let (cr, ci) = (
            v::new(c[0].0, c[1].0, c[2].0, c[3].0),
            v::new(c[0].1, c[1].1, c[2].1, c[3].1),
        );
        let (mut zr, mut zi) = (v::splat(0.0), v::splat(0.0));
        let (mut count, mut active) = (v::izero(), v::ione());
        for _ in 0..MAX_IT {
            let (zr2, zi2) = (v::mul(zr, zr), v::mul(zi, zi));
            active = v::and(active, v::le(v::add(zr2, zi2), four));
            if !v::any(active) {
                break;
            }
            count = v::isub(count, active);
            let zri = v::mul(zr, zi);
            zi = v::add(v::add(zri, zri), ci);
            zr = v::add(v::sub(zr2, zi2), cr);
        }
        out[x..x + 4].copy_from_slice(&v::lanes(count));
    }
}

fn row_scalar(view: (f32, f32, f32), y: usize, out: &mut [i32]) {
    for (x, o) in out.iter_mut().enumerate().take(W) {
        let (cr, ci) = coords(view, x, y);
        let (mut zr, mut zi, mut n) = (0.0f32, 0.0f32, 0);
        while n < MAX_IT {
            let (zr2, zi2) = (zr * zr, zi * zi);
            if zr2 + zi2 > 4.0 || (zr2 + zi2).is_nan() {
                break;
            }
            n += 1;
            let zri = zr * zi;
            zi = (zri + zri) + ci;
            zr = (zr2 - zi2) + cr;
        }
        *o = n;
    }
}

fn main() {
    let mut counts = vec![0i32; W * H];
    let (mut total, mut hash) = (0u64, 0xcbf29ce484222325u64);
    let mut ok = true;
    for (vi, &view) in VIEWS.iter().enumerate() {
        for y in 0..H {
            row_simd(view, y, &mut counts[y * W..(y + 1) * W]);
        }
        let mut check = vec![0i32; W];
        for y in [0, H / 3, H / 2 + vi, H - 1] {
            row_scalar(view, y, &mut check);
            if check[..] != counts[y * W..(y + 1) * W] {
                println!("FAIL view {vi} row {y}: SIMD and scalar counts differ");
                ok = false;
            }
        }
        for &c in &counts {
            total += c as u64;
            hash = (hash ^ c as u64).wrapping_mul(0x100000001b3);
        }
    }
    println!(
        "simd_mandel {W}x{H} views={} max_it={MAX_IT} total={total} hash={hash:016x}",
        VIEWS.len()
    );
    if total != EXPECTED_TOTAL || hash != EXPECTED_HASH {
        ok = false;
    }
    if !ok {
        println!("FAIL");
        std::process::exit(1);
    }
    println!("OK");
}
