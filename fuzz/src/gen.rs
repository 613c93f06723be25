//! Test-case generation: a deterministic PRNG, the wasm-smith configuration
//! for what wasabi supports, and the arguments each exported function is
//! called with.
//!
//! What must stay true: everything here is a pure function of the case
//! seed (and, for arguments, of the export's name), so `--seed S --cases 1`
//! reproduces case `S` exactly, and removing an export while shrinking does
//! not change the arguments the other exports get.

use crate::exec::V;
use arbitrary::Unstructured;

/// SplitMix64: small, fast, and good enough to drive a fuzzer.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// FNV-1a, to mix export names into argument seeds.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Size limits of a generated module; shrinking lowers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of wasm-smith input: fewer bytes, fewer decisions, smaller module.
    pub input_len: usize,
    pub max_funcs: usize,
    pub max_instructions: usize,
    pub max_globals: usize,
    pub max_types: usize,
    pub max_data_segments: usize,
    pub max_element_segments: usize,
    pub export_everything: bool,
}

impl Limits {
    /// The limits case `seed` is generated with: drawn from the seed so the
    /// corpus mixes tiny and larger modules.
    pub fn for_seed(seed: u64) -> Limits {
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
        Limits {
            input_len: rng.range(64, 6000) as usize,
            max_funcs: rng.range(1, 12) as usize,
            max_instructions: rng.range(10, 250) as usize,
            max_globals: rng.range(0, 8) as usize,
            max_types: rng.range(1, 16) as usize,
            max_data_segments: rng.range(0, 6) as usize,
            max_element_segments: rng.range(0, 6) as usize,
            export_everything: rng.chance(3, 4),
        }
    }
}

/// The wasm-smith configuration for what wasabi compiles: WebAssembly 2.0
/// with SIMD and relaxed SIMD (no threads, tail calls, exceptions, GC, memory64,
/// multi-memory, extended constants, wide arithmetic, custom page sizes),
/// no imports, NaNs canonicalised, bounded sizes. Every memory and table
/// declares a small maximum so `memory.grow` cannot make the interpreter
/// allocate gigabytes.
pub fn smith_config(l: &Limits) -> wasm_smith::Config {
    wasm_smith::Config {
        simd_enabled: true,
        relaxed_simd_enabled: true,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        custom_descriptors_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        multibyte_array_access_enabled: false,
        compact_imports_enabled: false,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        canonicalize_nans: true,
        max_imports: 0,
        min_imports: 0,
        max_memories: 1,
        max_tables: 2,
        max_memory32_bytes: 4 * 65536,
        memory_max_size_required: true,
        max_table_elements: 200,
        table_max_size_required: true,
        max_funcs: l.max_funcs,
        max_instructions: l.max_instructions,
        max_globals: l.max_globals,
        max_types: l.max_types,
        max_type_size: 100,
        max_data_segments: l.max_data_segments,
        max_element_segments: l.max_element_segments,
        max_elements: 20,
        max_exports: 30,
        export_everything: l.export_everything,
        max_tags: 0,
        allow_start_export: true,
        generate_custom_sections: false,
        ..wasm_smith::Config::default()
    }
}

/// The module of case `seed` under `limits`. `None` when wasm-smith gives
/// up on the input (rare; counted as a skip).
pub fn generate(seed: u64, limits: &Limits) -> Option<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let data = rng.bytes(limits.input_len);
    let mut u = Unstructured::new(&data);
    let module = wasm_smith::Module::new(smith_config(limits), &mut u).ok()?;
    Some(module.to_bytes())
}

/// Interesting bit patterns first, then random ones.
const I32S: &[i32] = &[
    0,
    1,
    -1,
    2,
    7,
    8,
    31,
    32,
    255,
    65535,
    65536,
    i32::MIN,
    i32::MAX,
];
const I64S: &[i64] = &[0, 1, -1, 63, 64, 65536, i64::MIN, i64::MAX, 0xffff_ffff];
const F32S: &[u32] = &[
    0,
    0x8000_0000, // -0
    0x3f80_0000, // 1
    0xbf80_0000, // -1
    0x7f80_0000, // inf
    0xff80_0000, // -inf
    0x7fc0_0000, // canonical NaN
    0x4f00_0000, // 2^31
    0xcf00_0001, // just below -2^31
    0x0000_0001, // smallest subnormal
];
const F64S: &[u64] = &[
    0,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x41e0_0000_0000_0000, // 2^31
    0x43e0_0000_0000_0000, // 2^63
    0x0000_0000_0000_0001,
];

fn pick<T: Copy>(rng: &mut Rng, table: &[T], random: impl FnOnce(&mut Rng) -> T) -> T {
    if rng.chance(1, 2) {
        table[rng.below(table.len() as u64) as usize]
    } else {
        random(rng)
    }
}

/// Kinds of parameter a call needs, engine-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

/// The arguments export `name` of case `seed` is called with.
pub fn args_for(seed: u64, name: &str, params: &[Ty]) -> Vec<V> {
    let mut rng = Rng::new(seed ^ hash_str(name));
    params
        .iter()
        .map(|t| match t {
            Ty::I32 => V::I32(pick(&mut rng, I32S, |r| {
                if r.chance(1, 2) {
                    r.below(70_000) as i32
                } else {
                    r.next_u64() as i32
                }
            })),
            Ty::I64 => V::I64(pick(&mut rng, I64S, |r| {
                if r.chance(1, 2) {
                    r.below(70_000) as i64
                } else {
                    r.next_u64() as i64
                }
            })),
            Ty::F32 => V::F32(pick(&mut rng, F32S, |r| {
                (r.below(2000) as f32 / 8.0 - 100.0).to_bits() ^ (r.below(2) as u32) << 31
            })),
            Ty::F64 => V::F64(pick(&mut rng, F64S, |r| {
                if r.chance(1, 2) {
                    (r.below(2000) as f64 / 8.0 - 100.0).to_bits()
                } else {
                    r.next_u64()
                }
            })),
            Ty::V128 => V::V128(pick(&mut rng, &[0, u128::MAX, 1 << 127], |r| {
                (r.next_u64() as u128) << 64 | r.next_u64() as u128
            })),
            Ty::FuncRef | Ty::ExternRef => V::Ref { null: true },
        })
        .collect()
}
