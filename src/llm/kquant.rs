//! Mat-vec kernels for the K-quants (Q4_K, Q5_K, Q6_K) over the weights' own GGUF blocks: the
//! decode step of models such as Qwen2.5-1.5B Q4_K_M, where these two types are all of the
//! weights read per token.
//!
//! Decoding one token reads every weight once, so it is bound by memory bandwidth as soon as
//! the arithmetic per weight byte is short enough. The activations are quantized once per
//! product to 8 bits per 256 values ([`Q8K`], with the sums per 16 and per 32 values that the
//! offsets need); each 256-value weight block is unpacked in registers and multiplied with
//! AVX2 integer multiply-adds (`vpmaddubsw`, then `vpmaddwd` with the sub-block scales), so the
//! float work is one conversion and one multiply-add per block. Rows are spread over candle's
//! worker pool.
//!
//! Several tokens (the checking of speculative tokens) share the unpacking of each block, up to
//! four at a time, and each token goes through the same steps as it would alone: a token's
//! result does not depend on how many come with it (tested), so checking drafts agrees to the
//! bit with decoding them one by one.
//!
//! Block layouts (llama.cpp's `block_q4_K` and `block_q6_K`, little-endian):
//! * Q4_K, 144 bytes per 256 values: `d: f16`, `dmin: f16`, 12 bytes packing eight 6-bit
//!   scales and eight 6-bit mins, 128 bytes of nibbles. Byte `32·j + l` holds value `64·j + l`
//!   (low nibble) and `64·j + 32 + l` (high nibble). Value `w = d · sc[s] · q − dmin · m[s]`
//!   for sub-block `s` (32 values).
//! * Q5_K, 176 bytes: as Q4_K with 32 bytes of fifth bits between the scales and the
//!   nibbles (bit `s` of byte `l`: the fifth bit of value `32·s + l`).
//! * Q6_K, 210 bytes: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, sixteen `i8`
//!   scales (one per 16 values), `d: f16`. Value `w = d · sc[g] · (q − 32)`.
//!
//! Without AVX2+FMA at compile time [`supports`] is false and the callers use candle's kernels.

use candle_core::quantized::GgmlDType;

/// Values per K-quant block.
pub const QK_K: usize = 256;
/// Bytes per Q4_K block.
pub const Q4K_BYTES: usize = 144;
/// Bytes per Q5_K block.
pub const Q5K_BYTES: usize = 176;
/// Bytes per Q6_K block.
pub const Q6K_BYTES: usize = 210;

/// Activations of `tokens` rows of `k` values, quantized to 8 bits per 256-value block
/// (`x ≈ d · q`, `d = max |x| / 127`).
#[derive(Debug, Default, Clone)]
pub struct Q8K {
    /// Values per token (the kernels trust it: set only by [`Q8K::new`]).
    pub(crate) k: usize,
    /// Tokens (as `k`).
    pub(crate) tokens: usize,
    /// `[token][k]`.
    qs: Vec<i8>,
    /// Scale per `[token][block]`.
    d: Vec<f32>,
    /// Sums of `q` per 16 values, `[token][block][16]`.
    sums16: Vec<i16>,
    /// Sums of `q` per 32 values, `[token][block][8]`.
    sums32: Vec<i16>,
}

impl Q8K {
    /// Quantize `x` (`tokens × k`, row major; `k` a multiple of 256).
    pub fn new(x: &[f32], k: usize) -> Q8K {
        assert!(
            k.is_multiple_of(QK_K) && x.len().is_multiple_of(k),
            "activations must be whole 256-value blocks"
        );
        let tokens = x.len() / k;
        let blocks = x.len() / QK_K;
        let mut a = Q8K {
            k,
            tokens,
            qs: vec![0; x.len()],
            d: vec![0.0; blocks],
            sums16: vec![0; blocks * 16],
            sums32: vec![0; blocks * 8],
        };
        for (b, xs) in x.chunks_exact(QK_K).enumerate() {
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let q = &mut a.qs[b * QK_K..(b + 1) * QK_K];
            for (q, v) in q.iter_mut().zip(xs) {
                *q = (v * id).round() as i8;
            }
            a.d[b] = d;
            for g in 0..16 {
                let s: i16 = q[g * 16..(g + 1) * 16].iter().map(|&v| v as i16).sum();
                a.sums16[b * 16 + g] = s;
                a.sums32[b * 8 + g / 2] += s;
            }
        }
        a
    }
}

/// How far ahead of the block being multiplied the kernels ask for weight bytes (a row's
/// blocks, then the next row's, are read in order). Measured on the 1.5B model: checks of
/// 2 / 4 tokens about 10 % quicker than with the hardware prefetcher alone, one token the
/// same (1,024 and 4,096 bytes did no better). The 32-value block kernels showed no gain.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
const PREFETCH_BYTES: usize = 2048;

/// Whether [`matmul`] handles weights of this type on this processor (AVX2 kernels only).
pub fn supports(dtype: GgmlDType) -> bool {
    cfg!(target_arch = "x86_64")
        && super::cpu::avx2()
        && matches!(dtype, GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K)
}

/// `y[t][r] = W[r] · x[t]` for the `[n, k]` weight `w` (raw GGUF blocks of `dtype`) and every
/// token of `x`; `y` is `tokens × n`, row major. Panics if [`supports`] is false.
pub fn matmul(dtype: GgmlDType, w: &[u8], n: usize, x: &Q8K, y: &mut [f32]) {
    assert!(
        supports(dtype),
        "{dtype:?} has no K-quant kernel on this build"
    );
    let nb = x.k / QK_K;
    let row_bytes = nb * dtype.type_size();
    assert!(w.len() >= n * row_bytes && y.len() >= x.tokens * n);
    #[cfg(target_arch = "x86_64")]
    {
        let out = super::disjoint::Disjoint::new(y);
        let run = |rows: std::ops::Range<usize>| {
            for r in rows {
                let row = &w[r * row_bytes..(r + 1) * row_bytes];
                let mut t0 = 0;
                while t0 < x.tokens {
                    // up to four tokens per unpacking of the row's blocks
                    let left = (x.tokens - t0).min(4);
                    // SAFETY: the processor has AVX2, FMA and F16C ([`supports`]); `row` holds `nb`
                    // blocks and tokens t0..t0 + left have `nb` blocks of activations each;
                    // each row goes to one worker only and (t, r) is inside `y`.
                    unsafe {
                        let y = out.ptr().add(t0 * n + r);
                        match left {
                            1 => avx2::dot::<1>(dtype, row, x, t0, n, y),
                            2 => avx2::dot::<2>(dtype, row, x, t0, n, y),
                            3 => avx2::dot::<3>(dtype, row, x, t0, n, y),
                            _ => avx2::dot::<4>(dtype, row, x, t0, n, y),
                        }
                    }
                    t0 += left;
                }
            }
        };
        // a pool call costs a few microseconds: tiny products run inline
        if n * x.k * x.tokens < 1 << 15 {
            run(0..n);
        } else {
            candle_core::utils::barrier_pool().execute_chunked(n, run);
        }
    }
}

/// The AVX2 kernels, run where [`super::cpu::avx2`] says so (see `kernels::avx2`: entry
/// points enable the features, helpers are inlined into them).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{PREFETCH_BYTES, Q4K_BYTES, Q5K_BYTES, Q6K_BYTES, Q8K, QK_K};
    use crate::llm::blocks::f16_at;
    use crate::llm::blocks::q4k_scales;
    use crate::llm::kernels::avx2::hsum;
    use candle_core::quantized::GgmlDType;
    use std::arch::x86_64::*;

    /// `y[t · n] = W[row] · x[t0 + t]` for `t < T`, the row of type `dtype`.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA. `row` holds at least `x.k / QK_K` blocks of `dtype`
    /// (Q4_K 144 bytes, Q5_K 176; any other type is read as Q6_K, 210); `t0 + T ≤ x.tokens`,
    /// with `x` as [`Q8K::new`] made it (its `k` and `tokens` unchanged); `y.add(t · n)` is
    /// writable for `t < T`, and no other thread accesses those floats.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot<const T: usize>(
        dtype: GgmlDType,
        row: &[u8],
        x: &Q8K,
        t0: usize,
        n: usize,
        y: *mut f32,
    ) {
        unsafe {
            let v: [f32; T] = if crate::llm::cpu::vnni() {
                dots_vnni::<T>(dtype, row, x, t0)
            } else {
                dots_by::<T, false>(dtype, row, x, t0)
            };
            for (t, v) in v.into_iter().enumerate() {
                *y.add(t * n) = v;
            }
        }
    }

    /// [`dots_by`] with AVX-512 VNNI.
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true), and
    /// the rest of [`dots_by`]'s contract holds.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) unsafe fn dots_vnni<const T: usize>(
        dtype: GgmlDType,
        row: &[u8],
        x: &Q8K,
        t0: usize,
    ) -> [f32; T] {
        unsafe { dots_by::<T, true>(dtype, row, x, t0) }
    }

    /// `W[row] · x[t0 + t]` for `t < T`: [`dot_q45k`] or [`dot_q6k`] by `dtype`, with AVX-512
    /// VNNI (`V`) or not.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA, and with `V` AVX-512 F, BW, VL and VNNI. `row` holds at
    /// least `x.k / QK_K` blocks of `dtype` (Q4_K 144 bytes, Q5_K 176; any other type is read
    /// as Q6_K, 210); `t0 + T ≤ x.tokens`, with `x` as [`Q8K::new`] made it.
    #[inline(always)]
    pub(super) unsafe fn dots_by<const T: usize, const V: bool>(
        dtype: GgmlDType,
        row: &[u8],
        x: &Q8K,
        t0: usize,
    ) -> [f32; T] {
        unsafe {
            match dtype {
                GgmlDType::Q4K => dot_q45k::<false, T, V>(row, x, t0),
                GgmlDType::Q5K => dot_q45k::<true, T, V>(row, x, t0),
                _ => dot_q6k::<T, V>(row, x, t0),
            }
        }
    }

    /// `acc + Σ₂ a · s` per 32-bit lane of 16-bit `a` and `s`: `vpdpwssd` with AVX-512 VNNI
    /// (`V`), else `vpmaddwd` then an add. The same integers (no sum here comes near 2³¹).
    ///
    /// # Safety
    /// The processor has AVX2, and with `V` AVX-512 F, BW, VL and VNNI.
    #[inline(always)]
    unsafe fn add_madd<const V: bool>(acc: __m256i, a: __m256i, s: __m256i) -> __m256i {
        unsafe {
            if V {
                vnni_add_madd(acc, a, s)
            } else {
                _mm256_add_epi32(acc, _mm256_madd_epi16(a, s))
            }
        }
    }

    /// `acc + Σ₂ a · s` per 32-bit lane of 16-bit `a` and `s` (`vpdpwssd`).
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn vnni_add_madd(acc: __m256i, a: __m256i, s: __m256i) -> __m256i {
        _mm256_dpwssd_epi32(acc, a, s)
    }

    /// A Q4_K row (`FIFTH` false, 144-byte blocks) or a Q5_K row (`FIFTH` true, 176-byte
    /// blocks: 32 bytes of fifth bits before the nibbles; byte `l` holds the fifth bit of value
    /// `32·s + l` in bit `s`) against tokens `t0..t0 + T`. Each block is unpacked once for
    /// all of them; every token goes through the same steps as it would alone.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA, and with `V` AVX-512 F, BW, VL and VNNI. `row` holds at
    /// least `x.k / QK_K` blocks of 144 bytes (`FIFTH` false) or 176 (`FIFTH` true);
    /// `t0 + T ≤ x.tokens`, with `x` as [`Q8K::new`] made it.
    #[inline(always)]
    unsafe fn dot_q45k<const FIFTH: bool, const T: usize, const V: bool>(
        row: &[u8],
        x: &Q8K,
        t0: usize,
    ) -> [f32; T] {
        unsafe {
            let nb = x.k / QK_K;
            let block_bytes = if FIFTH { Q5K_BYTES } else { Q4K_BYTES };
            let low4 = _mm256_set1_epi8(0x0F);
            let bit4 = _mm256_set1_epi8(0x10);
            let mut acc = [_mm256_setzero_ps(); T];
            let mut acc_m = [_mm_setzero_ps(); T];
            let w = row.as_ptr();
            for b in 0..nb {
                let blk = w.add(b * block_bytes);
                prefetch(blk);
                let (dw, dminw) = (f16_at(blk), f16_at(blk.add(2)));
                let (scales, mins) = q4k_scales(&*(blk.add(4) as *const [u8; 12]));
                let m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(mins as i64));
                // the scales as 16-bit integers in both halves, one broadcast per sub-block
                let sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(
                    scales as i64,
                )));
                let qs = blk.add(if FIFTH { 48 } else { 16 });
                let mut fifth = if FIFTH {
                    _mm256_loadu_si256(blk.add(16) as *const __m256i)
                } else {
                    _mm256_setzero_si256()
                };
                let mut dx = [0f32; T];
                let mut xq = [std::ptr::null::<i8>(); T];
                for t in 0..T {
                    let at = (t0 + t) * nb + b;
                    dx[t] = *x.d.get_unchecked(at);
                    xq[t] = x.qs.as_ptr().add(at * QK_K);
                    // offsets: dmin · Σ_s m[s] · Σ q over sub-block s
                    let s32 = _mm_loadu_si128(x.sums32.as_ptr().add(at * 8) as *const __m128i);
                    let pm = _mm_madd_epi16(m16, s32);
                    acc_m[t] =
                        _mm_fmadd_ps(_mm_set1_ps(dminw * dx[t]), _mm_cvtepi32_ps(pm), acc_m[t]);
                }
                let mut sumi = [_mm256_setzero_si256(); T];
                let mut sumi2 = [_mm256_setzero_si256(); T];
                for j in 0..4 {
                    let bytes = _mm256_loadu_si256(qs.add(32 * j) as *const __m256i);
                    let mut lo = _mm256_and_si256(bytes, low4);
                    let mut hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
                    if FIFTH {
                        // bit 2j of each byte to bit 4 for the low values, bit 2j + 1 for the high
                        lo = _mm256_or_si256(
                            lo,
                            _mm256_and_si256(_mm256_slli_epi16(fifth, 4), bit4),
                        );
                        hi = _mm256_or_si256(
                            hi,
                            _mm256_and_si256(_mm256_slli_epi16(fifth, 3), bit4),
                        );
                        fifth = _mm256_srli_epi16(fifth, 2);
                    }
                    let s0 = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(pick16(2 * j)));
                    let s1 = _mm256_shuffle_epi8(sc, _mm256_set1_epi16(pick16(2 * j + 1)));
                    for t in 0..T {
                        let x0 = _mm256_loadu_si256(xq[t].add(64 * j) as *const __m256i);
                        let x1 = _mm256_loadu_si256(xq[t].add(64 * j + 32) as *const __m256i);
                        // two sums per token, so that consecutive multiply-adds do not wait
                        sumi[t] = add_madd::<V>(sumi[t], _mm256_maddubs_epi16(lo, x0), s0);
                        sumi2[t] = add_madd::<V>(sumi2[t], _mm256_maddubs_epi16(hi, x1), s1);
                    }
                }
                for t in 0..T {
                    let d = _mm256_set1_ps(dw * dx[t]);
                    let sumi = _mm256_add_epi32(sumi[t], sumi2[t]);
                    acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc[t]);
                }
            }
            std::array::from_fn(|t| {
                let m = _mm_add_ps(acc_m[t], _mm_movehl_ps(acc_m[t], acc_m[t]));
                let m = _mm_add_ss(m, _mm_movehdup_ps(m));
                hsum(acc[t]) - _mm_cvtss_f32(m)
            })
        }
    }

    /// Ask for the three cache lines a block (at most 210 bytes) takes, [`PREFETCH_BYTES`]
    /// ahead of `blk` (a hint: an address past the weights is not read).
    ///
    /// # Safety
    /// Nothing beyond SSE, which every x86_64 processor has: `blk` may be any address (it is
    /// offset with wrapping arithmetic, and a prefetch never faults).
    #[inline(always)]
    unsafe fn prefetch(blk: *const u8) {
        unsafe {
            let ahead = blk.wrapping_add(PREFETCH_BYTES);
            for line in 0..3 {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line) as *const i8);
            }
        }
    }

    /// The shuffle control that broadcasts 16-bit element `i` (of 8) across a half register.
    #[inline(always)]
    const fn pick16(i: usize) -> i16 {
        ((2 * i) | ((2 * i + 1) << 8)) as i16
    }

    /// A Q6_K row against tokens `t0..t0 + T`, each block unpacked once for all of them.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA, and with `V` AVX-512 F, BW, VL and VNNI. `row` holds at
    /// least `x.k / QK_K` blocks of 210 bytes; `t0 + T ≤ x.tokens`, with `x` as [`Q8K::new`]
    /// made it.
    #[inline(always)]
    unsafe fn dot_q6k<const T: usize, const V: bool>(row: &[u8], x: &Q8K, t0: usize) -> [f32; T] {
        unsafe {
            let nb = x.k / QK_K;
            let low4 = _mm256_set1_epi8(0x0F);
            let two = _mm256_set1_epi8(0x03);
            let pairs = [pair(0), pair(1), pair(2), pair(3)];
            let mut acc = [_mm256_setzero_ps(); T];
            let w = row.as_ptr();
            for b in 0..nb {
                let blk = w.add(b * Q6K_BYTES);
                prefetch(blk);
                let (ql, qh, scales) = (blk, blk.add(128), blk.add(192));
                let dw = f16_at(blk.add(208));
                let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(scales as *const __m128i));
                let mut xq = [std::ptr::null::<i8>(); T];
                let mut sumi = [_mm256_setzero_si256(); T];
                let mut offset = [_mm256_setzero_si256(); T];
                for t in 0..T {
                    let at = (t0 + t) * nb + b;
                    xq[t] = x.qs.as_ptr().add(at * QK_K);
                    // the −32 offset: 32 · Σ_g sc[g] · Σ q over group g (16 values)
                    let s16 = _mm256_loadu_si256(x.sums16.as_ptr().add(at * 16) as *const __m256i);
                    offset[t] = _mm256_slli_epi32(_mm256_madd_epi16(sc16, s16), 5);
                }
                for half in 0..2 {
                    let (ql, qh) = (ql.add(64 * half), qh.add(32 * half));
                    // this half's eight scales in both halves of a register
                    let sc = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(
                        scales.add(8 * half) as *const __m128i,
                    )));
                    let a = _mm256_loadu_si256(ql as *const __m256i);
                    let c = _mm256_loadu_si256(ql.add(32) as *const __m256i);
                    let h = _mm256_loadu_si256(qh as *const __m256i);
                    let top = |v: __m256i| _mm256_slli_epi16(_mm256_and_si256(v, two), 4);
                    let q = [
                        _mm256_or_si256(_mm256_and_si256(a, low4), top(h)),
                        _mm256_or_si256(_mm256_and_si256(c, low4), top(_mm256_srli_epi16(h, 2))),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16(a, 4), low4),
                            top(_mm256_srli_epi16(h, 4)),
                        ),
                        _mm256_or_si256(
                            _mm256_and_si256(_mm256_srli_epi16(c, 4), low4),
                            top(_mm256_srli_epi16(h, 6)),
                        ),
                    ];
                    for (i, q) in q.into_iter().enumerate() {
                        // values 0..16 of these 32 take scale 2i, values 16..32 scale 2i + 1
                        let s = _mm256_shuffle_epi8(sc, pairs[i]);
                        for t in 0..T {
                            let xv = _mm256_loadu_si256(
                                xq[t].add(128 * half + 32 * i) as *const __m256i
                            );
                            sumi[t] = add_madd::<V>(sumi[t], _mm256_maddubs_epi16(q, xv), s);
                        }
                    }
                }
                for t in 0..T {
                    let dx = *x.d.get_unchecked((t0 + t) * nb + b);
                    let sumi = _mm256_sub_epi32(sumi[t], offset[t]);
                    acc[t] =
                        _mm256_fmadd_ps(_mm256_set1_ps(dw * dx), _mm256_cvtepi32_ps(sumi), acc[t]);
                }
            }
            std::array::from_fn(|t| hsum(acc[t]))
        }
    }

    /// The shuffle control for Q6_K that broadcasts 16-bit element `2i` across the low half
    /// of a register and element `2i + 1` across the high half.
    ///
    /// # Safety
    /// The processor has AVX (enabled at compile time wherever this module is built).
    #[inline(always)]
    unsafe fn pair(i: i16) -> __m256i {
        unsafe {
            let lo = (4 * i) | ((4 * i + 1) << 8);
            let hi = (4 * i + 2) | ((4 * i + 3) << 8);
            _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use candle_core::quantized::QTensor;
    use candle_core::{Device, Tensor};

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let v = ((i * 7919 + seed * 104_729) % 10_007) as f32 / 10_007.0 - 0.5;
                v * (1.0 + (i % 13) as f32 / 4.0)
            })
            .collect()
    }

    /// Every type against the product with the dequantized weights, at 1 and several tokens,
    /// and a token's bits the same alone as among others.
    #[test]
    fn k_quant_products_match_dequantized_weights_and_do_not_depend_on_the_batch() {
        if !supports(GgmlDType::Q4K) {
            eprintln!("skipped: no AVX2 kernels on this processor (or HEARTH_AVX2=0)");
            return;
        }
        let (n, k) = (37, 3 * QK_K);
        for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
            let wf = Tensor::from_vec(values(n * k, 1), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&wf, dtype).unwrap();
            let raw = q.data().unwrap();
            let deq = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let tokens = 5;
            let x = values(tokens * k, 2);
            let acts = Q8K::new(&x, k);
            let mut y = vec![0f32; tokens * n];
            matmul(dtype, &raw, n, &acts, &mut y);
            for t in 0..tokens {
                for r in 0..n {
                    let want: f32 = (0..k).map(|i| deq[r * k + i] * x[t * k + i]).sum();
                    let got = y[t * n + r];
                    let scale: f32 = (0..k).map(|i| (deq[r * k + i] * x[t * k + i]).abs()).sum();
                    assert!(
                        (got - want).abs() <= 0.01 * scale,
                        "{dtype:?} token {t} row {r}: {got} vs {want}"
                    );
                }
                if crate::llm::cpu::vnni() {
                    // the VNNI multiply-adds and the AVX2 ones give the same bits
                    let row = &raw[0..(k / QK_K) * dtype.type_size()];
                    /// The AVX2 multiply-adds alone.
                    ///
                    /// # Safety
                    /// As `avx2::dots_by`, without VNNI.
                    #[target_feature(enable = "avx2,fma,f16c")]
                    unsafe fn plain(dtype: GgmlDType, row: &[u8], x: &Q8K, t: usize) -> [f32; 1] {
                        unsafe { avx2::dots_by::<1, false>(dtype, row, x, t) }
                    }
                    // SAFETY: the processor has AVX-512 VNNI and AVX2 (both asked); the row
                    // and token t have k / 256 blocks each
                    let (v, a) = unsafe {
                        (
                            avx2::dots_vnni::<1>(dtype, row, &acts, t),
                            plain(dtype, row, &acts, t),
                        )
                    };
                    assert_eq!(v[0].to_bits(), a[0].to_bits(), "{dtype:?} token {t}");
                    assert_eq!(v[0], y[t * n], "{dtype:?} token {t}, row 0");
                }
                let alone = Q8K::new(&x[t * k..(t + 1) * k], k);
                let mut y1 = vec![0f32; n];
                matmul(dtype, &raw, n, &alone, &mut y1);
                assert_eq!(y1, y[t * n..(t + 1) * n], "{dtype:?} token {t} alone");
            }
        }
    }
}
