//! Integer matrix products over quantized GGUF weights, for one token (decode), a few
//! (speculative verification) or hundreds (prefill), with one kernel.
//!
//! The activations are quantized once per product to 8 bits per 32 values ([`QActs`]). The
//! weights are read straight from their GGUF blocks (one copy, no repacking): each 32-value
//! block of a weight row is unpacked in registers to unsigned bytes, 16-bit integer sub-scales,
//! one float scale and an offset per 16 values ([`Unpacked`]), then multiplied with up to four
//! tokens at once by AVX2 integer multiply-adds (`vpmaddubsw` then `vpmaddwd` with the
//! sub-scales). The micro-kernel covers two weight rows × four tokens, so every activation
//! block is loaded once per two rows; from 8 tokens on, a row pair is unpacked once per token
//! block into a small buffer that every tile of the block reads.
//! Weight rows are spread over candle's worker pool; tokens go in blocks that stay in L2.
//! Prompts (from [`LANES_MIN_TOKENS`] tokens) take the prompt kernel instead ([`lanes`]:
//! eight rows per register, AVX-512 VNNI where the processor has it; on processors with AMX
//! the same arithmetic on the tile unit, `amx`).
//!
//! For a weight value `w = d · s · q + m` (`q` unsigned, `s` an integer sub-scale, `m` per 16
//! values) and an activation `x = dx · qx`, a 32-value block contributes
//! `d · dx · Σ s·q·qx + Σ_halves m · (dx · Σ qx)`; the second term uses the activation sums
//! per 16 values kept in [`QActs`]. Q8_0 weights are signed and go through the sign trick
//! instead (`|q| · sign(qx, q)`).
//!
//! Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K. Without AVX2+FMA at compile time
//! [`supports`] is false and the callers use candle's kernels.

use candle_core::quantized::GgmlDType;

use super::cpu::{amx, lanes_on, vnni};
use super::disjoint::Disjoint;
use super::kernels::quantize_block;

/// Values per activation (and unpacked weight) block.
pub const QK: usize = 32;
/// Tokens per activation tile (the layout of scales and sums); a micro-kernel covers up to
/// this many.
const TILE: usize = 8;
/// Tokens whose activations are walked together (they stay in L2 while the rows go by).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
const TOKEN_BLOCK: usize = 48;

/// Activations of `tokens` rows of `k` values, quantized to 8 bits per 32-value block.
#[derive(Debug, Default, Clone)]
pub struct QActs {
    /// Values per token (the kernels trust it: set only by [`QActs::new`]).
    pub(crate) k: usize,
    /// Tokens (as `k`).
    pub(crate) tokens: usize,
    /// Quantized values, `[token][k]`.
    qs: Vec<i8>,
    /// Scales, `[tile][block][TILE tokens]` (tokens past the end are 0).
    d: Vec<f32>,
    /// `dx · Σ qx` per 16 values, `[tile][block][half][TILE tokens]`.
    sums: Vec<f32>,
}

impl QActs {
    /// Quantize `x` (`tokens × k`, row major; `k` a multiple of 32).
    pub fn new(x: &[f32], k: usize) -> QActs {
        assert!(
            k.is_multiple_of(QK) && x.len().is_multiple_of(k),
            "activations must be whole blocks"
        );
        let tokens = x.len() / k;
        let nb = k / QK;
        let tiles = tokens.div_ceil(TILE);
        let mut a = QActs {
            k,
            tokens,
            qs: vec![0; tokens * k],
            // (+ TILE: a kernel may load a whole tile's lanes from its first token on)
            d: vec![0.0; tiles * nb * TILE + TILE],
            sums: vec![0.0; tiles * nb * 2 * TILE + TILE],
        };
        let (qs, d, sums) = (
            Disjoint::new(&mut a.qs),
            Disjoint::new(&mut a.d),
            Disjoint::new(&mut a.sums),
        );
        let run = |tiles: std::ops::Range<usize>| {
            for t in tiles.start * TILE..(tiles.end * TILE).min(tokens) {
                let (tile, lane) = (t / TILE, t % TILE);
                for b in 0..nb {
                    let from = t * k + b * QK;
                    // SAFETY: token t's values, and its lane of its tile's scales and sums,
                    // are written by the one worker that has its tile.
                    unsafe {
                        let q = qs.part(from..from + QK);
                        let (dv, half_sums) = quantize_block(&x[from..from + QK], q);
                        let at = tile * nb + b;
                        d.write(at * TILE + lane, dv);
                        for (h, s) in half_sums.iter().enumerate() {
                            sums.write((at * 2 + h) * TILE + lane, dv * *s as f32);
                        }
                    }
                }
            }
        };
        // a prompt's activations are quantized by every worker; a few tokens inline
        if tokens >= 16 {
            candle_core::utils::barrier_pool().execute_chunked(tiles, run);
        } else {
            run(0..tiles);
        }
        a
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod lanes;

#[cfg(target_arch = "x86_64")]
mod amx;

/// Which integer multiply-adds the prompt kernel runs on.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    /// AVX2 `vpmaddubsw` ([`lanes`]; not for Q8_0).
    Avx2,
    /// AVX-512 VNNI `vpdpbusd` ([`lanes`]).
    Vnni,
    /// AMX `tdpbsud` (`amx`).
    Amx,
}

impl Prompt {
    /// Whether this kernel can multiply weights of `dtype` on this processor (and with the
    /// switches): AMX and VNNI where present; AVX2 everywhere but for 8-bit weights, whose
    /// byte products would saturate its 16-bit sums.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
    fn can(self, dtype: GgmlDType) -> bool {
        match self {
            Prompt::Amx => amx(),
            Prompt::Vnni => vnni(),
            Prompt::Avx2 => dtype != GgmlDType::Q8_0,
        }
    }
}

/// The fastest prompt kernel this processor (and the switches) allow.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
fn prompt_kernel() -> Prompt {
    if amx() {
        Prompt::Amx
    } else if vnni() {
        Prompt::Vnni
    } else {
        Prompt::Avx2
    }
}

/// From this many tokens on, a product takes the prompt kernel ([`lanes`]). Fewer tokens
/// (decoding, checking speculative tokens: at most 9) take the tile kernel, whose result for
/// a token does not depend on how many tokens come with it.
pub const LANES_MIN_TOKENS: usize = 16;

/// Whether prompts of weights of this type take the prompt kernel ([`lanes`]; Q8_0 only with
/// AVX-512 VNNI).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
fn lanes_for(dtype: GgmlDType) -> bool {
    supports(dtype) && (dtype != GgmlDType::Q8_0 || vnni()) && lanes_on()
}

/// Which kernels [`matmul`] runs prompts through on this processor, for records of measured
/// speeds (a speed measured with other kernels is out of date): "lanes-amx", "lanes-vnni",
/// "lanes-avx2", "tile" (`HEARTH_LANES=0`) or "candle" (no AVX2 kernels on this processor,
/// or `HEARTH_AVX2=0`).
pub fn kernels_id() -> &'static str {
    if !cfg!(target_arch = "x86_64") || !super::cpu::avx2() {
        return "candle";
    }
    match (lanes_on(), prompt_kernel()) {
        (true, Prompt::Amx) => "lanes-amx",
        (true, Prompt::Vnni) => "lanes-vnni",
        (true, Prompt::Avx2) => "lanes-avx2",
        (false, _) => "tile",
    }
}

/// Whether [`matmul`] handles weights of this type on this processor (AVX2 kernels only:
/// [`super::cpu::avx2`]).
pub fn supports(dtype: GgmlDType) -> bool {
    cfg!(target_arch = "x86_64")
        && super::cpu::avx2()
        && matches!(
            dtype,
            GgmlDType::Q4_0
                | GgmlDType::Q4_1
                | GgmlDType::Q5_0
                | GgmlDType::Q5_1
                | GgmlDType::Q8_0
                | GgmlDType::Q4K
                | GgmlDType::Q5K
                | GgmlDType::Q6K
        )
}

/// `y[t][r] = W[r] · x[t]` for the `[n, k]` weight `w` (raw GGUF blocks of `dtype`) and every
/// token of `x`; `y` is `tokens × n`, row major. Panics if [`supports`] is false.
pub fn matmul(dtype: GgmlDType, w: &[u8], n: usize, x: &QActs, y: &mut [f32]) {
    assert!(
        supports(dtype),
        "{dtype:?} has no integer kernel on this processor"
    );
    // whole blocks of this type per row (the K-quants' are 256 values, the activations' 32)
    assert!(
        x.k.is_multiple_of(dtype.block_size()),
        "{} values per row are not whole {dtype:?} blocks",
        x.k
    );
    let row_bytes = x.k / dtype.block_size() * dtype.type_size();
    assert!(w.len() >= n * row_bytes && y.len() >= x.tokens * n);
    #[cfg(target_arch = "x86_64")]
    {
        if x.tokens >= LANES_MIN_TOKENS && lanes_for(dtype) {
            prompt_matmul(dtype, w, row_bytes, n, x, y, prompt_kernel());
        } else {
            tile_matmul(dtype, w, row_bytes, n, x, y);
        }
    }
}

/// [`matmul`] through the tile kernel (two rows × up to four tokens per micro-kernel).
#[cfg(target_arch = "x86_64")]
fn tile_matmul(dtype: GgmlDType, w: &[u8], row_bytes: usize, n: usize, x: &QActs, y: &mut [f32]) {
    use avx2::*;
    // the output pointer comes from the exclusive borrow (writing through one derived from a
    // shared borrow is undefined behaviour)
    let out = Disjoint::new(y);
    let run = |rows: std::ops::Range<usize>| {
        let y = out.ptr();
        // SAFETY: `rows` are whole rows of `w`, `y` has room for every token of them (checked
        // by `matmul`), and each row index goes to one worker only (disjoint writes).
        unsafe {
            match dtype {
                GgmlDType::Q4_0 => rows_of::<Q4_0>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q4_1 => rows_of::<Q4_1>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q5_0 => rows_of::<Q5_0>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q5_1 => rows_of::<Q5_1>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q8_0 => rows_of::<Q8_0>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q4K => rows_of::<Q4K>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q5K => rows_of::<Q5K>(w, row_bytes, rows, n, x, y),
                GgmlDType::Q6K => rows_of::<Q6K>(w, row_bytes, rows, n, x, y),
                _ => unreachable!("checked by supports"),
            }
        }
    };
    // work in row pairs; a pool call costs a few microseconds, so tiny products run inline
    let pairs = n.div_ceil(2);
    if n * x.k * x.tokens < 1 << 16 {
        run(0..n);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(pairs, |p| {
            run(p.start * 2..(p.end * 2).min(n));
        });
    }
}

/// [`matmul`] through the prompt kernel ([`lanes`]) on `kernel`'s multiply-adds: AMX (only
/// where [`amx`] is true), AVX-512 VNNI (only where [`vnni`] is true) or AVX2 (not for Q8_0).
#[cfg(target_arch = "x86_64")]
fn prompt_matmul(
    dtype: GgmlDType,
    w: &[u8],
    row_bytes: usize,
    n: usize,
    x: &QActs,
    y: &mut [f32],
    kernel: Prompt,
) {
    use avx2::*;
    use lanes::groups_of;
    assert!(
        kernel.can(dtype),
        "{kernel:?} cannot multiply {dtype:?} on this processor"
    );
    if kernel == Prompt::Amx {
        return amx_matmul(dtype, w, row_bytes, n, x, y);
    }
    let vnni = kernel == Prompt::Vnni;
    let out = Disjoint::new(y);
    let run = |groups: std::ops::Range<usize>| {
        let (v, yp) = (vnni, out.ptr().cast_const());
        // SAFETY: `w` and `y` were checked by `matmul`; each group of eight rows goes to one
        // worker only (disjoint writes); VNNI only where the processor has it.
        unsafe {
            match dtype {
                GgmlDType::Q4_0 => groups_of::<Q4_0, 4, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q4_1 => groups_of::<Q4_1, 4, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q5_0 => groups_of::<Q5_0, 5, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q5_1 => groups_of::<Q5_1, 5, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q4K => groups_of::<Q4K, 4, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q5K => groups_of::<Q5K, 5, true>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q6K => groups_of::<Q6K, 6, false>(v, w, row_bytes, groups, n, x, yp),
                GgmlDType::Q8_0 => groups_of::<Q8_0, 8, true>(v, w, row_bytes, groups, n, x, yp),
                _ => unreachable!("checked by supports"),
            }
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(lanes::groups(n), run);
}

/// [`prompt_matmul`] on AMX ([`amx`] is true: checked there).
#[cfg(target_arch = "x86_64")]
fn amx_matmul(dtype: GgmlDType, w: &[u8], row_bytes: usize, n: usize, x: &QActs, y: &mut [f32]) {
    use amx::groups_of;
    use avx2::*;
    let tiles = amx::Tiles::new(x);
    let out = Disjoint::new(y);
    let run = |groups: std::ops::Range<usize>| {
        let (t, yp) = (&tiles, out.ptr());
        // SAFETY: AMX is available and granted (checked by the caller); `w` and `y` were
        // checked by `matmul`; each group of sixteen rows goes to one worker only (disjoint
        // writes); `tiles` are `x`'s.
        unsafe {
            match dtype {
                GgmlDType::Q4_0 => groups_of::<Q4_0, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q4_1 => groups_of::<Q4_1, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q5_0 => groups_of::<Q5_0, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q5_1 => groups_of::<Q5_1, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q4K => groups_of::<Q4K, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q5K => groups_of::<Q5K, true>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q6K => groups_of::<Q6K, false>(w, row_bytes, groups, n, x, t, yp),
                GgmlDType::Q8_0 => groups_of::<Q8_0, true>(w, row_bytes, groups, n, x, t, yp),
                _ => unreachable!("checked by supports"),
            }
        }
    };
    candle_core::utils::barrier_pool().execute_chunked(amx::groups(n), run);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{QActs, QK, TILE, TOKEN_BLOCK};
    use crate::llm::blocks::{f16_at, q4k_scales};
    use crate::llm::kernels::avx2::{bits, hsum, nibbles};
    use std::arch::x86_64::*;

    /// One 32-value weight block in registers: `w = d · s · q + m[half]`.
    #[derive(Clone, Copy)]
    pub struct Unpacked {
        /// Unsigned values (signed for [`Block::SIGNED`] types).
        pub q: __m256i,
        /// 16-bit integer sub-scales, one per pair of values.
        pub s: __m256i,
        /// Float scale.
        pub d: f32,
        /// Offset per 16 values (unused when [`Block::OFFSET`] is false).
        pub m: [f32; 2],
    }

    impl Unpacked {
        /// The float scale of each half block (16 values): `d` times the half's sub-scale
        /// (sub-scales are per pair of values, and each half has one). Both prompt kernels
        /// ([`super::lanes`], `super::amx`) take their scales from here, so they agree to
        /// the bit.
        ///
        /// # Safety
        /// The processor has AVX2.
        #[inline(always)]
        pub unsafe fn half_scales(&self) -> [f32; 2] {
            // SAFETY: the extracts need AVX2, which the processor has (the contract).
            let (s0, s1) = unsafe {
                (
                    _mm256_extract_epi16::<0>(self.s) as i16,
                    _mm256_extract_epi16::<8>(self.s) as i16,
                )
            };
            [self.d * s0 as f32, self.d * s1 as f32]
        }
    }

    /// A GGUF block type the kernel can unpack.
    pub trait Block {
        /// `q` is signed (sign trick, no offset).
        const SIGNED: bool = false;
        /// The type has an offset term.
        const OFFSET: bool = true;
        /// Unpack 32-value block `j` of the row at `row`.
        ///
        /// # Safety
        /// The processor has AVX2. The type's block holding values `32·j .. 32·j + 32` of the
        /// row is readable in full: `row + i · BYTES .. row + (i + 1) · BYTES`, with `i = j`
        /// for the 32-value types and `i = j / 8` for the K-quants (256 values a block),
        /// `BYTES` the type's block size.
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked;
        /// As [`Block::unpack`], with unsigned values and an offset (for the prompt kernel).
        ///
        /// # Safety
        /// As [`Block::unpack`].
        #[inline(always)]
        unsafe fn unpack_unsigned(row: *const u8, j: usize) -> Unpacked {
            unsafe { Self::unpack(row, j) }
        }
    }

    /// 32 bits (little-endian at `p`) → 32 bytes, 0x10 where the bit is set.
    ///
    /// # Safety
    /// `p..p + 4` is readable; the processor has AVX2.
    #[inline(always)]
    unsafe fn fifth_bits(p: *const u8) -> __m256i {
        unsafe {
            let x = u32::from_le_bytes([*p, *p.add(1), *p.add(2), *p.add(3)]);
            _mm256_and_si256(bits(x), _mm256_set1_epi8(0x10))
        }
    }

    /// Sixteen 16-bit ones (the sub-scales of the types without any).
    ///
    /// # Safety
    /// The processor has AVX (enabled at compile time wherever this module is built).
    #[inline(always)]
    unsafe fn ones() -> __m256i {
        unsafe { _mm256_set1_epi16(1) }
    }

    /// Q4_0, 18 bytes: `d`, 16 bytes of nibbles; `w = d · (q − 8)`.
    pub struct Q4_0;
    impl Block for Q4_0 {
        /// Unpack block `j` (the 18 bytes from `row + 18 · j`).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 18 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 18);
                let d = f16_at(b);
                Unpacked {
                    q: nibbles(b.add(2)),
                    s: ones(),
                    d,
                    m: [-8.0 * d; 2],
                }
            }
        }
    }

    /// Q4_1, 20 bytes: `d`, `m`, nibbles; `w = d · q + m`.
    pub struct Q4_1;
    impl Block for Q4_1 {
        /// Unpack block `j` (the 20 bytes from `row + 20 · j`).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 20 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 20);
                Unpacked {
                    q: nibbles(b.add(4)),
                    s: ones(),
                    d: f16_at(b),
                    m: [f16_at(b.add(2)); 2],
                }
            }
        }
    }

    /// Q5_0, 22 bytes: `d`, 32 fifth bits, nibbles; `w = d · (q − 16)`, unpacked signed (one
    /// sign trick per token is cheaper than an offset term for a single token).
    pub struct Q5_0;
    impl Block for Q5_0 {
        const SIGNED: bool = true;
        const OFFSET: bool = false;
        /// Unpack block `j` (the 22 bytes from `row + 22 · j`), signed.
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 22 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 22);
                // q − 16: set the top three bits of the bytes whose fifth bit is clear
                let set = _mm256_cmpeq_epi8(fifth_bits(b.add(2)), _mm256_set1_epi8(0x10));
                let clear = _mm256_andnot_si256(set, _mm256_set1_epi8(0xF0u8 as i8));
                Unpacked {
                    q: _mm256_or_si256(nibbles(b.add(6)), clear),
                    s: ones(),
                    d: f16_at(b),
                    m: [0.0; 2],
                }
            }
        }
        /// Unpack block `j` (the 22 bytes from `row + 22 · j`), unsigned with offset −16.
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 22 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack_unsigned(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 22);
                let d = f16_at(b);
                Unpacked {
                    q: _mm256_or_si256(nibbles(b.add(6)), fifth_bits(b.add(2))),
                    s: ones(),
                    d,
                    m: [-16.0 * d; 2],
                }
            }
        }
    }

    /// Q5_1, 24 bytes: `d`, `m`, 32 fifth bits, nibbles; `w = d · q + m`.
    pub struct Q5_1;
    impl Block for Q5_1 {
        /// Unpack block `j` (the 24 bytes from `row + 24 · j`).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 24 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 24);
                Unpacked {
                    q: _mm256_or_si256(nibbles(b.add(8)), fifth_bits(b.add(4))),
                    s: ones(),
                    d: f16_at(b),
                    m: [f16_at(b.add(2)); 2],
                }
            }
        }
    }

    /// Q8_0, 34 bytes: `d`, 32 signed bytes; `w = d · q`.
    pub struct Q8_0;
    impl Block for Q8_0 {
        const SIGNED: bool = true;
        const OFFSET: bool = false;
        /// Unpack block `j` (the 34 bytes from `row + 34 · j`).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 34 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 34);
                Unpacked {
                    q: _mm256_loadu_si256(b.add(2) as *const __m256i),
                    s: ones(),
                    d: f16_at(b),
                    m: [0.0; 2],
                }
            }
        }
        /// `q + 128` (for VNNI's unsigned-by-signed products).
        ///
        /// # Safety
        /// As [`Block::unpack`]: the 34 bytes from `row + 34 · j` are readable; the processor
        /// has AVX2.
        #[inline(always)]
        unsafe fn unpack_unsigned(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let b = row.add(j * 34);
                let d = f16_at(b);
                let q = _mm256_loadu_si256(b.add(2) as *const __m256i);
                Unpacked {
                    q: _mm256_xor_si256(q, _mm256_set1_epi8(0x80u8 as i8)),
                    s: ones(),
                    d,
                    m: [-128.0 * d; 2],
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` of the Q4_K/Q5_K block at `b`.
    ///
    /// # Safety
    /// `b + 4 .. b + 16` (the 12 bytes of scales and mins) is readable.
    #[inline(always)]
    unsafe fn scale_min_k4(j: usize, b: *const u8) -> (u8, u8) {
        unsafe {
            let (scales, mins) = q4k_scales(&*(b.add(4) as *const [u8; 12]));
            ((scales >> (8 * j)) as u8, (mins >> (8 * j)) as u8)
        }
    }

    /// Low or high nibbles of 32 bytes.
    ///
    /// # Safety
    /// `p..p + 32` is readable; the processor has AVX2.
    #[inline(always)]
    unsafe fn nibble_half(p: *const u8, high: bool) -> __m256i {
        unsafe {
            let v = _mm256_loadu_si256(p as *const __m256i);
            let v = if high { _mm256_srli_epi16(v, 4) } else { v };
            _mm256_and_si256(v, _mm256_set1_epi8(0x0F))
        }
    }

    /// Q4_K, 144 bytes per 256 values: `d`, `dmin`, 12 bytes of 6-bit scales and mins, 128
    /// bytes of nibbles; sub-block `s` has `w = d · sc_s · q − dmin · m_s`.
    pub struct Q4K;
    impl Block for Q4K {
        /// Unpack sub-block `j % 8` of the block at `row + 144 · (j / 8)` (144 bytes).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 144 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let (sb, s) = (j / 8, j % 8);
                let b = row.add(sb * 144);
                let (sc, mn) = scale_min_k4(s, b);
                Unpacked {
                    q: nibble_half(b.add(16 + 32 * (s / 2)), s % 2 == 1),
                    s: _mm256_set1_epi16(sc as i16),
                    d: f16_at(b),
                    m: [-f16_at(b.add(2)) * mn as f32; 2],
                }
            }
        }
    }

    /// Q5_K, 176 bytes per 256 values: as Q4_K plus 32 bytes of fifth bits (bit `s` of byte
    /// `i` belongs to value `i` of sub-block `s`).
    pub struct Q5K;
    impl Block for Q5K {
        /// Unpack sub-block `j % 8` of the block at `row + 176 · (j / 8)` (176 bytes).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 176 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let (sb, s) = (j / 8, j % 8);
                let b = row.add(sb * 176);
                let (sc, mn) = scale_min_k4(s, b);
                let h = _mm256_loadu_si256(b.add(16) as *const __m256i);
                let h = _mm256_and_si256(
                    _mm256_srl_epi16(h, _mm_cvtsi32_si128(s as i32)),
                    _mm256_set1_epi8(1),
                );
                Unpacked {
                    q: _mm256_or_si256(
                        nibble_half(b.add(48 + 32 * (s / 2)), s % 2 == 1),
                        _mm256_slli_epi16(h, 4),
                    ),
                    s: _mm256_set1_epi16(sc as i16),
                    d: f16_at(b),
                    m: [-f16_at(b.add(2)) * mn as f32; 2],
                }
            }
        }
    }

    /// Q6_K, 210 bytes per 256 values: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16
    /// signed scales (one per 16 values), `d`; `w = d · sc · (q − 32)`.
    pub struct Q6K;
    impl Block for Q6K {
        /// Unpack sub-block `j % 8` of the block at `row + 210 · (j / 8)` (210 bytes).
        ///
        /// # Safety
        /// As [`Block::unpack`]: those 210 bytes are readable; the processor has AVX2.
        #[inline(always)]
        unsafe fn unpack(row: *const u8, j: usize) -> Unpacked {
            unsafe {
                let (sb, s) = (j / 8, j % 8);
                let b = row.add(sb * 210);
                let (h, jj) = (s / 4, s % 4);
                let lo = _mm256_loadu_si256(b.add(64 * h + 32 * (jj & 1)) as *const __m256i);
                let lo = _mm256_and_si256(
                    _mm256_srl_epi16(lo, _mm_cvtsi32_si128(4 * (jj >> 1) as i32)),
                    _mm256_set1_epi8(0x0F),
                );
                let hi = _mm256_loadu_si256(b.add(128 + 32 * h) as *const __m256i);
                let hi = _mm256_and_si256(
                    _mm256_srl_epi16(hi, _mm_cvtsi32_si128(2 * jj as i32)),
                    _mm256_set1_epi8(3),
                );
                let sc = b.add(192 + 8 * h + 2 * jj) as *const i8;
                let (sa, sb2) = (*sc as i16, *sc.add(1) as i16);
                let d = f16_at(b.add(208));
                Unpacked {
                    q: _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)),
                    s: _mm256_set_m128i(_mm_set1_epi16(sb2), _mm_set1_epi16(sa)),
                    d,
                    m: [-32.0 * d * sa as f32, -32.0 * d * sb2 as f32],
                }
            }
        }
    }

    /// Two rows (block `b` of row `r` ∈ {0, 1} given by `get(r, b)`; the second row only if
    /// `rows.0 + 1` is below `rows.1`) × `T` ≤ 4 tokens
    /// from token `t0` (all in one activation tile), over all blocks; writes `y[t][r]` (row
    /// stride `n`). The accumulators are named variables so that they live in registers.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA. `T` is 1 to 4 and `t0 + T ≤ x.tokens`, with `x` as
    /// [`QActs::new`] made it (its `k` and `tokens` unchanged); `y` is writable at
    /// `(t0 + t) · n + rows.0 + r` for `t < T` and `r` = 0, and 1 if `rows.0 + 1 < rows.1`, and
    /// no other thread accesses those floats.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<B: Block, const T: usize>(
        get: impl Fn(usize, usize) -> Unpacked,
        rows: (usize, usize),
        x: &QActs,
        t0: usize,
        n: usize,
        y: *mut f32,
    ) {
        unsafe {
            let nb = x.k / QK;
            let two = rows.0 + 1 < rows.1;
            let (tile, lane) = (t0 / TILE, t0 % TILE);
            let xq: [*const i8; 4] =
                std::array::from_fn(|t| x.qs.as_ptr().add((t0 + t.min(T - 1)) * x.k));
            let dx = x.d.as_ptr().add(tile * nb * TILE + lane);
            let sx = x.sums.as_ptr().add(tile * nb * 2 * TILE + lane);
            let z = _mm256_setzero_ps();
            let (mut a00, mut a01, mut a02, mut a03) = (z, z, z, z);
            let (mut a10, mut a11, mut a12, mut a13) = (z, z, z, z);
            let (mut m0, mut m1) = (z, z);
            for b in 0..nb {
                let u0 = get(0, b);
                let u1 = get(1, b);
                if B::OFFSET {
                    let sa = _mm256_loadu_ps(sx.add(b * 2 * TILE));
                    let sb = _mm256_loadu_ps(sx.add(b * 2 * TILE + TILE));
                    m0 = _mm256_fmadd_ps(_mm256_set1_ps(u0.m[0]), sa, m0);
                    m0 = _mm256_fmadd_ps(_mm256_set1_ps(u0.m[1]), sb, m0);
                    m1 = _mm256_fmadd_ps(_mm256_set1_ps(u1.m[0]), sa, m1);
                    m1 = _mm256_fmadd_ps(_mm256_set1_ps(u1.m[1]), sb, m1);
                }
                let (q0, q1) = if B::SIGNED {
                    (_mm256_sign_epi8(u0.q, u0.q), _mm256_sign_epi8(u1.q, u1.q))
                } else {
                    (u0.q, u1.q)
                };
                macro_rules! token {
                    ($t:literal, $acc0:ident, $acc1:ident) => {
                        if $t < T {
                            let xv = _mm256_loadu_si256(xq[$t].add(b * QK) as *const __m256i);
                            let d = *dx.add(b * TILE + $t);
                            let (x0, x1) = if B::SIGNED {
                                (_mm256_sign_epi8(xv, u0.q), _mm256_sign_epi8(xv, u1.q))
                            } else {
                                (xv, xv)
                            };
                            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, x0), u0.s);
                            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, x1), u1.s);
                            $acc0 = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(p0),
                                _mm256_set1_ps(u0.d * d),
                                $acc0,
                            );
                            $acc1 = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(p1),
                                _mm256_set1_ps(u1.d * d),
                                $acc1,
                            );
                        }
                    };
                }
                token!(0, a00, a10);
                token!(1, a01, a11);
                token!(2, a02, a12);
                token!(3, a03, a13);
            }
            let mut offs = [[0f32; TILE]; 2];
            _mm256_storeu_ps(offs[0].as_mut_ptr(), m0);
            _mm256_storeu_ps(offs[1].as_mut_ptr(), m1);
            let sums = [[a00, a01, a02, a03], [a10, a11, a12, a13]];
            for (r, (row, off)) in sums.iter().zip(&offs).enumerate() {
                if r == 1 && !two {
                    break;
                }
                for t in 0..T {
                    *y.add((t0 + t) * n + rows.0 + r) = hsum(row[t]) + off[t];
                }
            }
        }
    }

    /// Every token of `x` against rows `rows` of `w`.
    ///
    /// # Safety
    /// The processor has AVX2, FMA and F16C. `w` holds `B` blocks for every row in `rows`
    /// (`row_bytes` each); `y` is `x.tokens × n` and no other thread writes these rows.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn rows_of<B: Block>(
        w: &[u8],
        row_bytes: usize,
        rows: std::ops::Range<usize>,
        n: usize,
        x: &QActs,
        y: *mut f32,
    ) {
        unsafe {
            let w = w.as_ptr();
            let nb = x.k / QK;
            UNPACKED.with(|cell| {
                let buf = &mut *cell.borrow_mut();
                let mut tb = 0;
                while tb < x.tokens {
                    let te = (tb + TOKEN_BLOCK).min(x.tokens);
                    // from 8 tokens on, a row pair is unpacked once per token block
                    let buffered = te - tb >= 8;
                    let mut r = rows.start;
                    while r < rows.end {
                        let rs = (r, rows.end);
                        let w0 = w.add(r * row_bytes);
                        let w1 = if r + 1 < rows.end {
                            w0.add(row_bytes)
                        } else {
                            w0
                        };
                        if buffered {
                            buf.clear();
                            for row in [w0, w1] {
                                buf.extend((0..nb).map(|j| B::unpack(row, j)));
                            }
                        }
                        let mut t0 = tb;
                        while t0 < te {
                            // a micro-kernel stays inside one activation tile
                            let left = (te - t0).min(TILE - t0 % TILE).min(4);
                            macro_rules! go {
                                ($get:expr) => {
                                    match left {
                                        1 => tile::<B, 1>($get, rs, x, t0, n, y),
                                        2 => tile::<B, 2>($get, rs, x, t0, n, y),
                                        3 => tile::<B, 3>($get, rs, x, t0, n, y),
                                        _ => tile::<B, 4>($get, rs, x, t0, n, y),
                                    }
                                };
                            }
                            if buffered {
                                let b: &[Unpacked] = buf;
                                go!(|r: usize, j: usize| *b.get_unchecked(r * nb + j));
                            } else {
                                go!(|r: usize, j: usize| B::unpack(
                                    if r == 0 { w0 } else { w1 },
                                    j
                                ));
                            }
                            t0 += left;
                        }
                        r += 2;
                    }
                    tb = te;
                }
            });
        }
    }

    thread_local! {
        /// Two weight rows unpacked (`[row][block]`), reused by every tile of a token block.
        static UNPACKED: std::cell::RefCell<Vec<Unpacked>> = const { std::cell::RefCell::new(Vec::new()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{QMatMul, QTensor};
    use candle_core::{Device, Module, Tensor};

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    /// Timing of the kernel against candle's product on the default model's shapes:
    /// `cargo test --workspace --lib kernel_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn kernel_speed() {
        use std::time::Instant;
        for (dtype, n, k) in [
            (GgmlDType::Q5_0, 4864, 896),
            (GgmlDType::Q8_0, 4864, 896),
            (GgmlDType::Q4K, 896, 4864),
            (GgmlDType::Q6K, 896, 4864),
            (GgmlDType::Q4_1, 1536, 576),
        ] {
            if let Ok(only) = std::env::var("HEARTH_KBENCH") {
                if format!("{dtype:?}") != only {
                    continue;
                }
            }
            let wt = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&wt, dtype).unwrap();
            let raw = q.data().unwrap().to_vec();
            let mm_q = QTensor::quantize(&wt, dtype).unwrap();
            let mm = QMatMul::from_qtensor(q).unwrap();
            // each prompt kernel this processor has against the tile kernel, alternating,
            // best of 5
            #[cfg(target_arch = "x86_64")]
            if supports(dtype) {
                let tokens = 256;
                let xv = values(tokens * k, 7);
                let acts = QActs::new(&xv, k);
                let mut y = vec![0f32; tokens * n];
                let row_bytes = k / dtype.block_size() * dtype.type_size();
                let kernels: Vec<Option<Prompt>> = [
                    Some(Prompt::Amx),
                    Some(Prompt::Vnni),
                    Some(Prompt::Avx2),
                    None,
                ]
                .into_iter()
                .filter(|k| k.is_none_or(|p| p.can(dtype)))
                .collect();
                let mut best = vec![f64::MAX; kernels.len()];
                for _ in 0..5 {
                    for (i, kernel) in kernels.iter().enumerate() {
                        let t = Instant::now();
                        for _ in 0..4 {
                            match kernel {
                                Some(p) => {
                                    prompt_matmul(dtype, &raw, row_bytes, n, &acts, &mut y, *p)
                                }
                                None => tile_matmul(dtype, &raw, row_bytes, n, &acts, &mut y),
                            }
                        }
                        best[i] = best[i].min(t.elapsed().as_secs_f64() / 4.0);
                    }
                }
                let gmac = (n * k * tokens) as f64 / 1e9;
                let speeds: Vec<String> = kernels
                    .iter()
                    .zip(&best)
                    .map(|(k, s)| match k {
                        Some(p) => format!("prompt kernel ({p:?}) {:.1}", gmac / s),
                        None => format!("tile kernel {:.1}", gmac / s),
                    })
                    .collect();
                println!(
                    "{dtype:?} {n}x{k} tokens {tokens}, GMAC/s: {}",
                    speeds.join(", ")
                );
            }
            for tokens in [1, 4, 256] {
                let xv = values(tokens * k, 7);
                let xt = Tensor::from_vec(xv.clone(), (tokens, k), &Device::Cpu).unwrap();
                let reps = (2000 / tokens).max(3);
                let mut y = vec![0f32; tokens * n];
                let t = Instant::now();
                for _ in 0..reps {
                    let acts = QActs::new(&xv, k);
                    matmul(dtype, &raw, n, &acts, &mut y);
                }
                let ours = t.elapsed().as_secs_f64() / reps as f64;
                let t = Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(mm.forward(&xt).unwrap());
                }
                let theirs = t.elapsed().as_secs_f64() / reps as f64;
                let t = Instant::now();
                for _ in 0..reps {
                    let dense = mm_q.dequantize(&Device::Cpu).unwrap();
                    std::hint::black_box(xt.matmul(&dense.t().unwrap()).unwrap());
                }
                let dense_s = t.elapsed().as_secs_f64() / reps as f64;
                let kind = match dtype {
                    GgmlDType::Q5_0 => Some(crate::llm::kernels::Kind::Q5_0),
                    GgmlDType::Q4_1 => Some(crate::llm::kernels::Kind::Q4_1),
                    _ => None,
                };
                if let (Some(kind), 1) = (kind, tokens) {
                    let t = Instant::now();
                    for _ in 0..reps {
                        crate::llm::kernels::matvec(kind, &raw, n, k, &xv, &mut y);
                    }
                    let s = t.elapsed().as_secs_f64() / reps as f64;
                    println!(
                        "{dtype:?} mat-vec kernel: {:.1} GMAC/s",
                        (n * k) as f64 / 1e9 / s
                    );
                }
                let gmac = (n * k * tokens) as f64 / 1e9;
                println!(
                    "{dtype:?} {n}x{k} tokens {tokens}: int {:.1} GMAC/s, candle {:.1}, dequantize+gemm {:.1}",
                    gmac / ours, gmac / theirs, gmac / dense_s
                );
            }
        }
    }

    /// A token's result is the same bits whatever the number of tokens in the product: in
    /// the tile kernel (so decoding one token at a time and checking drafted tokens in a
    /// batch agree) and the mat-vecs that match it for single Q5_0/Q8_0 tokens; and in the
    /// prompt kernel, with or without VNNI.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_tokens_result_does_not_depend_on_the_batch() {
        if !supports(GgmlDType::Q4_0) {
            eprintln!("skipped: no AVX2 kernels on this processor (or HEARTH_AVX2=0)");
            return;
        }
        use crate::llm::kernels::Kind;
        let n = 37;
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q6K,
        ] {
            // (K-quants come in blocks of 256)
            let k = if matches!(dtype, GgmlDType::Q4K | GgmlDType::Q6K) {
                1024
            } else {
                896
            };
            let wt = Tensor::from_vec(values(n * k, 2), (n, k), &Device::Cpu).unwrap();
            let raw = QTensor::quantize(&wt, dtype)
                .unwrap()
                .data()
                .unwrap()
                .to_vec();
            let row_bytes = k / dtype.block_size() * dtype.type_size();
            let tokens = 21;
            let xv = values(tokens * k, 9);
            let acts = QActs::new(&xv, k);
            let mut tiles = vec![0f32; tokens * n];
            tile_matmul(dtype, &raw, row_bytes, n, &acts, &mut tiles);
            let takes_prompts = lanes_for(dtype);
            // every prompt kernel this processor has for the type
            let kernels: Vec<Prompt> = [Prompt::Amx, Prompt::Vnni, Prompt::Avx2]
                .into_iter()
                .filter(|k| k.can(dtype))
                .collect();
            let mut lanes = vec![0f32; tokens * n];
            if takes_prompts {
                prompt_matmul(
                    dtype,
                    &raw,
                    row_bytes,
                    n,
                    &acts,
                    &mut lanes,
                    prompt_kernel(),
                );
                let mut y = vec![0f32; tokens * n];
                matmul(dtype, &raw, n, &acts, &mut y);
                assert!(y == lanes, "{dtype:?}: a prompt takes the prompt kernel");
                for &kernel in &kernels {
                    let mut other = vec![0f32; tokens * n];
                    prompt_matmul(dtype, &raw, row_bytes, n, &acts, &mut other, kernel);
                    assert!(other == lanes, "{dtype:?}: {kernel:?} gives the same bits");
                }
            }
            for t in 0..tokens {
                let x1 = &xv[t * k..(t + 1) * k];
                let one_acts = QActs::new(x1, k);
                let mut one = vec![0f32; n];
                matmul(dtype, &raw, n, &one_acts, &mut one);
                assert!(
                    one == tiles[t * n..(t + 1) * n],
                    "{dtype:?} tile kernel token {t}"
                );
                let kind = match dtype {
                    GgmlDType::Q5_0 => Some(Kind::Q5_0),
                    GgmlDType::Q8_0 => Some(Kind::Q8_0),
                    GgmlDType::Q4_1 => Some(Kind::Q4_1),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let mut mv = vec![0f32; n];
                    crate::llm::kernels::matvec(kind, &raw, n, k, x1, &mut mv);
                    assert!(mv == one, "{dtype:?} mat-vec token {t}");
                }
                for &kernel in kernels.iter().filter(|_| takes_prompts) {
                    let mut alone = vec![0f32; n];
                    prompt_matmul(dtype, &raw, row_bytes, n, &one_acts, &mut alone, kernel);
                    assert!(
                        alone == lanes[t * n..(t + 1) * n],
                        "{dtype:?} {kernel:?} prompt kernel token {t}"
                    );
                }
            }
        }
    }

    /// The prompt kernel with AVX2 only, also where the processor has VNNI.
    #[cfg(target_arch = "x86_64")]
    fn without_vnni(dtype: GgmlDType, raw: &[u8], n: usize, acts: &QActs, y: &mut [f32]) {
        let row_bytes = acts.k / dtype.block_size() * dtype.type_size();
        prompt_matmul(dtype, raw, row_bytes, n, acts, y, Prompt::Avx2);
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn without_vnni(_: GgmlDType, _: &[u8], _: usize, _: &QActs, _: &mut [f32]) {
        unreachable!("no integer kernel on this build")
    }

    /// Every type, token counts that exercise each tile width, odd row counts: the integer
    /// product equals the dequantized weights times the dequantized activations (up to float
    /// rounding), and stays near candle's own quantized product.
    #[test]
    fn integer_products_match_dequantized_weights_and_candle() {
        if !supports(GgmlDType::Q8_0) {
            return; // no AVX2 here: the callers never use the kernel
        }
        let (n, k) = (37, 512);
        let wt = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q5_1,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let q = QTensor::quantize(&wt, dtype).unwrap();
            let dense = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let raw = q.data().unwrap().to_vec();
            let mm = QMatMul::from_qtensor(QTensor::quantize(&wt, dtype).unwrap()).unwrap();
            // 16 and more tokens take the prompt kernel; 99 is that kernel without VNNI
            for tokens in [1, 2, 3, 4, 7, 16, 21, 53, 99] {
                let xv = values(tokens * k, tokens + 3);
                let acts = QActs::new(&xv, k);
                let mut y = vec![0f32; tokens * n];
                if tokens == 99 {
                    if dtype == GgmlDType::Q8_0 {
                        continue; // 8 bits only with VNNI
                    }
                    without_vnni(dtype, &raw, n, &acts, &mut y);
                } else {
                    matmul(dtype, &raw, n, &acts, &mut y);
                }
                let xt = Tensor::from_vec(xv.clone(), (tokens, k), &Device::Cpu).unwrap();
                let candle = mm.forward(&xt).unwrap().to_vec2::<f32>().unwrap();
                for t in 0..tokens {
                    // the activations as the kernel sees them
                    let xd: Vec<f32> = (0..k)
                        .map(|i| {
                            let (tile, lane, b) = (t / TILE, t % TILE, i / QK);
                            acts.qs[t * k + i] as f32 * acts.d[(tile * (k / QK) + b) * TILE + lane]
                        })
                        .collect();
                    for r in 0..n {
                        let want: f32 = dense[r].iter().zip(&xd).map(|(a, b)| a * b).sum();
                        let got = y[t * n + r];
                        assert!(
                            (got - want).abs() < 1e-3 * (1.0 + want.abs()),
                            "{dtype:?} tokens={tokens} t={t} r={r}: {got} vs {want}"
                        );
                        // candle quantizes the activations its own way (Q8_K: one scale per
                        // 256 values): compare against the size of the terms
                        let c = candle[t][r];
                        let terms: f32 = dense[r]
                            .iter()
                            .zip(&xv[t * k..])
                            .map(|(a, b)| (a * b).abs())
                            .sum();
                        assert!(
                            (got - c).abs() < 0.01 * terms,
                            "{dtype:?} tokens={tokens} t={t} r={r}: {got} vs candle {c}"
                        );
                    }
                }
            }
        }
    }
}
