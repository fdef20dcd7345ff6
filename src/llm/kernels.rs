//! Mat-vec kernels for the 32-value block types of decoding: **Q5_0** (most of the default
//! Qwen2.5 GGUF), **Q8_0** and **Q4_1** (SmolLM2), each doing [`super::qgemm`]'s tile kernel's
//! arithmetic to the bit; and [`exp_shifted`], the softmax of decode attention
//! ([`super::attention`]). One token's activations
//! are quantized to 8 bits per 32-value block (as llama.cpp does), then each weight row is
//! dotted with them using AVX2 integer multiply-adds (`vpmaddubsw`/`vpmaddwd`), rows spread over
//! candle's worker pool. Without AVX2 at compile time a scalar version runs (same results).
//!
//! Raw GGUF block layouts (little-endian, 32 weights each):
//! * Q5_0, 22 bytes: `d: f16`, `qh: u32` (5th bits), `qs: [u8; 16]` (low nibbles = weights
//!   0..16, high nibbles = 16..32); weight = d · (q − 16).
//! * Q4_1, 20 bytes: `d: f16`, `m: f16`, `qs: [u8; 16]`; weight = d · q + m.

use half::f16;

/// Values per block.
pub const QK: usize = 32;
/// Bytes per Q5_0 block.
pub const Q5_0_BYTES: usize = 22;
/// Bytes per Q4_1 block.
pub const Q4_1_BYTES: usize = 20;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
pub const Q8_0_BYTES: usize = 34;

/// One row of activations quantized to 8 bits per 32-value block.
#[derive(Debug, Default, Clone)]
pub struct Q8Row {
    /// Quantized values.
    pub qs: Vec<i8>,
    /// Scale per block.
    pub d: Vec<f32>,
    /// `d · Σ qs` per 16 values (`[block][half]`, Q4_1's offset term, as [`super::qgemm`]'s
    /// activations keep them).
    pub h: Vec<f32>,
}

impl Q8Row {
    /// Quantize `x` (length a multiple of 32).
    pub fn quantize(x: &[f32]) -> Q8Row {
        let nb = x.len() / QK;
        let mut r = Q8Row {
            qs: vec![0; nb * QK],
            d: vec![0.0; nb],
            h: vec![0.0; 2 * nb],
        };
        for b in 0..nb {
            let (d, halves) = quantize_block(&x[b * QK..(b + 1) * QK], &mut r.qs[b * QK..]);
            r.d[b] = d;
            r.h[2 * b] = d * halves[0] as f32;
            r.h[2 * b + 1] = d * halves[1] as f32;
        }
        r
    }
}

/// Quantize one 32-value block `xs` into `q[..32]` (`round(x / d)`, `d = max |x| / 127`);
/// returns `d` and the sums of the quantized values over each half. The integer kernels
/// ([`super::qgemm`]) quantize the same way, so both kinds of kernel see the same activations.
pub fn quantize_block(xs: &[f32], q: &mut [i8]) -> (f32, [i32; 2]) {
    assert!(xs.len() >= QK && q.len() >= QK, "a block is 32 values");
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2() {
        // SAFETY: the processor has AVX2, FMA and F16C (asked); both slices hold a block.
        return unsafe { avx2::quantize_block(xs, q) };
    }
    quantize_block_scalar(xs, q)
}

/// [`quantize_block`] one value at a time (rounding half away from zero, as `f32::round`).
fn quantize_block_scalar(xs: &[f32], q: &mut [i8]) -> (f32, [i32; 2]) {
    let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut halves = [0i32; 2];
    for (i, (q, v)) in q[..QK].iter_mut().zip(xs).enumerate() {
        *q = (v * id).round() as i8;
        halves[i / 16] += *q as i32;
    }
    (d, halves)
}

fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// Dot of one Q5_0 row (`nb` blocks) with quantized activations, scalar.
pub fn dot_q5_0_scalar(row: &[u8], x: &Q8Row) -> f32 {
    let nb = row.len() / Q5_0_BYTES;
    let mut sum = 0f32;
    for b in 0..nb {
        let blk = &row[b * Q5_0_BYTES..(b + 1) * Q5_0_BYTES];
        let d = f16_at(blk, 0);
        let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
        let xq = &x.qs[b * QK..(b + 1) * QK];
        let mut acc = 0i32;
        for j in 0..16 {
            let lo = ((blk[6 + j] & 0x0F) as i32 | ((((qh >> j) & 1) << 4) as i32)) - 16;
            let hi = ((blk[6 + j] >> 4) as i32 | ((((qh >> (j + 16)) & 1) << 4) as i32)) - 16;
            acc += lo * xq[j] as i32 + hi * xq[j + 16] as i32;
        }
        sum += d * x.d[b] * acc as f32;
    }
    sum
}

/// Dot of one Q8_0 row with quantized activations, scalar.
pub fn dot_q8_0_scalar(row: &[u8], x: &Q8Row) -> f32 {
    let nb = row.len() / Q8_0_BYTES;
    let mut sum = 0f32;
    for b in 0..nb {
        let blk = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
        let xq = &x.qs[b * QK..(b + 1) * QK];
        let acc: i32 = (0..QK)
            .map(|j| blk[2 + j] as i8 as i32 * xq[j] as i32)
            .sum();
        sum += f16_at(blk, 0) * x.d[b] * acc as f32;
    }
    sum
}

/// Dot of one Q4_1 row with quantized activations, scalar (the offset applied per half block,
/// as the SIMD version does).
pub fn dot_q4_1_scalar(row: &[u8], x: &Q8Row) -> f32 {
    let nb = row.len() / Q4_1_BYTES;
    let (mut sum, mut offsets) = (0f32, 0f32);
    for b in 0..nb {
        let blk = &row[b * Q4_1_BYTES..(b + 1) * Q4_1_BYTES];
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        let xq = &x.qs[b * QK..(b + 1) * QK];
        let mut acc = 0i32;
        for j in 0..16 {
            acc += (blk[4 + j] & 0x0F) as i32 * xq[j] as i32
                + (blk[4 + j] >> 4) as i32 * xq[j + 16] as i32;
        }
        sum += d * x.d[b] * acc as f32;
        offsets = m.mul_add(x.h[2 * b], offsets);
        offsets = m.mul_add(x.h[2 * b + 1], offsets);
    }
    sum + offsets
}

/// The AVX2 kernels. Built into every x86-64 binary and run only where [`super::cpu::avx2`]
/// says so: each function called from outside the module enables AVX2, FMA and F16C for
/// itself (`#[target_feature]`), and the helpers it calls are inlined into it, so they are
/// compiled with those features too.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    /// The sum of the eight lanes of `v`.
    ///
    /// # Safety
    /// The processor has AVX (enabled at compile time wherever this module is built).
    #[inline(always)]
    pub(crate) unsafe fn hsum(v: __m256) -> f32 {
        unsafe {
            let r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
            let r = _mm_add_ss(r, _mm_movehdup_ps(r));
            _mm_cvtss_f32(r)
        }
    }

    /// The little-endian f16 at `p` in all eight lanes. A mat-vec uses the block scale as a
    /// whole register: converted as a scalar, the compiler loaded it with `vpinsrw` into
    /// whatever register it had (the accumulator), so each block waited for the one before
    /// (the default model decoded at 0.7x speed).
    ///
    /// # Safety
    /// `p` and `p + 1` are readable; the processor has AVX and F16C.
    #[inline(always)]
    unsafe fn f16x8_at(p: *const u8) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_set1_epi16(i16::from_le_bytes([*p, *p.add(1)]))) }
    }

    /// 32 nibbles → 32 bytes: low nibbles first, then high nibbles.
    ///
    /// # Safety
    /// `p..p + 16` is readable; the processor has AVX2.
    #[inline(always)]
    pub(crate) unsafe fn nibbles(p: *const u8) -> __m256i {
        unsafe {
            let tmp = _mm_loadu_si128(p as *const __m128i);
            let bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
            _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes)
        }
    }

    /// 32 bits → 32 bytes, 0xFF where the bit is set.
    ///
    /// # Safety
    /// The processor has AVX2.
    #[inline(always)]
    pub(crate) unsafe fn bits(x: u32) -> __m256i {
        unsafe {
            let shuf = _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            );
            let b = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
            let b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
            _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1))
        }
    }

    /// `e^x` for `x ≤ 0` (below −87 it gives e^−87 rather than 0, harmless in a softmax):
    /// `2^n · e^r` with `n = round(x · log2 e)`, `r = x − n · ln 2` in two steps, and a
    /// degree-6 Taylor polynomial for `e^r` (`|r| ≤ 0.35`).
    ///
    /// # Safety
    /// The processor has AVX2 and FMA.
    #[inline(always)]
    unsafe fn exp_nonpositive(x: __m256) -> __m256 {
        unsafe {
            let x = _mm256_max_ps(x, _mm256_set1_ps(-87.0));
            let n = _mm256_round_ps(
                _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
            );
            let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
            let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
            let mut p = _mm256_set1_ps(1.0 / 720.0);
            for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
                p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
            }
            let two_n = _mm256_slli_epi32(
                _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                23,
            );
            _mm256_mul_ps(p, _mm256_castsi256_ps(two_n))
        }
    }

    /// [`super::exp_shifted`], eight at a time.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn exp_shifted(xs: &mut [f32], max: f32) -> f32 {
        unsafe {
            let m = _mm256_set1_ps(max);
            let mut acc = _mm256_setzero_ps();
            let mut chunks = xs.chunks_exact_mut(8);
            for c in &mut chunks {
                let v = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), m));
                _mm256_storeu_ps(c.as_mut_ptr(), v);
                acc = _mm256_add_ps(acc, v);
            }
            let rest = chunks.into_remainder();
            if !rest.is_empty() {
                let mut buf = [f32::NEG_INFINITY; 8];
                buf[..rest.len()].copy_from_slice(rest);
                let v = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(buf.as_ptr()), m));
                _mm256_storeu_ps(buf.as_mut_ptr(), v);
                rest.copy_from_slice(&buf[..rest.len()]);
                // (the padding lanes hold e^−87, not 0: leave them out of the sum)
                let mut tail = 0f32;
                for v in &buf[..rest.len()] {
                    tail += v;
                }
                return hsum(acc) + tail;
            }
            hsum(acc)
        }
    }

    /// [`super::gelu_mul`], eight at a time.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA. (Nothing rests on the lengths: only whole chunks of
    /// eight of each slice are loaded, and a longer `g` keeps its values past `u`.)
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn gelu_mul(g: &mut [f32], u: &[f32]) {
        unsafe {
            let mut gs = g.chunks_exact_mut(8);
            let mut us = u.chunks_exact(8);
            for (gc, uc) in (&mut gs).zip(&mut us) {
                let y = _mm256_mul_ps(
                    gelu8(_mm256_loadu_ps(gc.as_ptr())),
                    _mm256_loadu_ps(uc.as_ptr()),
                );
                _mm256_storeu_ps(gc.as_mut_ptr(), y);
            }
            for (g, u) in gs.into_remainder().iter_mut().zip(us.remainder()) {
                *g = super::gelu_scalar(*g) * u;
            }
        }
    }

    /// [`super::quantize_block`], eight values at a time, with the same results: the scale
    /// from the largest magnitude, then each value rounded half away from zero (truncated, then
    /// moved one away from zero where the part cut off was at least a half: exact for values
    /// this small).
    ///
    /// # Safety
    /// `xs` and `q` hold at least 32 values; the processor has AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn quantize_block(xs: &[f32], q: &mut [i8]) -> (f32, [i32; 2]) {
        unsafe {
            let sign = _mm256_set1_ps(-0.0);
            let p = xs.as_ptr();
            let v = [
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            ];
            let abs = |x: __m256| _mm256_andnot_ps(sign, x);
            let m = _mm256_max_ps(
                _mm256_max_ps(abs(v[0]), abs(v[1])),
                _mm256_max_ps(abs(v[2]), abs(v[3])),
            );
            let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let m = _mm_max_ss(m, _mm_shuffle_ps::<1>(m, m));
            let amax = _mm_cvtss_f32(m);
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
            let half = _mm256_set1_ps(0.5);
            let one = _mm256_set1_ps(1.0);
            let mut ints = [_mm256_setzero_si256(); 4];
            for (i, x) in v.iter().enumerate() {
                let x = _mm256_mul_ps(*x, id);
                let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(x);
                let away = _mm256_cmp_ps::<_CMP_GE_OQ>(abs(_mm256_sub_ps(x, t)), half);
                let step = _mm256_and_ps(away, _mm256_or_ps(one, _mm256_and_ps(sign, x)));
                ints[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, step));
            }
            // int32 → int8 in order (the packs interleave 128-bit lanes; the permute undoes it)
            let w01 = _mm256_packs_epi32(ints[0], ints[1]);
            let w23 = _mm256_packs_epi32(ints[2], ints[3]);
            let b = _mm256_packs_epi16(w01, w23);
            let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, b);
            let sum = |a: __m256i, b: __m256i| {
                let s = _mm256_add_epi32(a, b);
                let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
                let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
                let s = _mm_add_epi32(s, _mm_shuffle_epi32::<1>(s));
                _mm_cvtsi128_si32(s)
            };
            (d, [sum(ints[0], ints[1]), sum(ints[2], ints[3])])
        }
    }

    /// [`super::gelu`], eight at a time.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn gelu(g: &mut [f32]) {
        unsafe {
            let mut gs = g.chunks_exact_mut(8);
            for gc in &mut gs {
                _mm256_storeu_ps(gc.as_mut_ptr(), gelu8(_mm256_loadu_ps(gc.as_ptr())));
            }
            for g in gs.into_remainder() {
                *g = super::gelu_scalar(*g);
            }
        }
    }

    /// GELU (tanh form) of eight values.
    ///
    /// # Safety
    /// The processor has AVX2 and FMA.
    #[inline(always)]
    unsafe fn gelu8(x: __m256) -> __m256 {
        unsafe {
            let c = _mm256_set1_ps(GELU_C);
            let k = _mm256_set1_ps(0.044_715);
            let one = _mm256_set1_ps(1.0);
            let sign = _mm256_set1_ps(-0.0);
            // z = 2 · √(2/π) · (x + 0.044715 x³); sigmoid(z) from e^(−|z|), never overflowing
            let x2 = _mm256_mul_ps(x, x);
            let z = _mm256_mul_ps(_mm256_mul_ps(c, x), _mm256_fmadd_ps(k, x2, one));
            let e = exp_nonpositive(_mm256_or_ps(z, sign));
            let r = _mm256_div_ps(one, _mm256_add_ps(one, e));
            let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(z, _mm256_setzero_ps());
            let sig = _mm256_blendv_ps(r, _mm256_mul_ps(e, r), neg);
            _mm256_mul_ps(x, sig)
        }
    }

    /// `W[row] · x[t]` for the `T` tokens of `xs`, Q5_0 weights: each block unpacked once for
    /// all of them, and each token through the steps it goes through alone (`T` = 1), so its
    /// result does not depend on the tokens beside it.
    ///
    /// # Safety
    /// The processor has AVX2, FMA and F16C, and with `V` AVX-512 F, BW, VL and VNNI
    /// ([`crate::llm::cpu::vnni`] is true). `xs` has at least `T` rows, each with at least
    /// `row.len() / Q5_0_BYTES` blocks: 32 values in `qs` and one scale in `d` per block.
    #[inline(always)]
    pub unsafe fn dot_q5_0<const T: usize, const V: bool>(row: &[u8], xs: &[Q8Row]) -> [f32; T] {
        unsafe {
            let nb = row.len() / Q5_0_BYTES;
            let mut acc = [_mm256_setzero_ps(); T];
            let ones = _mm256_set1_epi16(1);
            let high = _mm256_set1_epi8(0xF0u8 as i8);
            let xd: [*const f32; T] = std::array::from_fn(|t| xs.get_unchecked(t).d.as_ptr());
            let xq: [*const i8; T] = std::array::from_fn(|t| xs.get_unchecked(t).qs.as_ptr());
            for b in 0..nb {
                let blk = row.as_ptr().add(b * Q5_0_BYTES);
                let dw = f16x8_at(blk);
                let qh = u32::from_le_bytes([*blk.add(2), *blk.add(3), *blk.add(4), *blk.add(5)]);
                // q − 16 as signed bytes: OR 0xF0 into the bytes whose 5th bit is clear
                let qx = _mm256_or_si256(nibbles(blk.add(6)), fifth_clear::<V>(qh, high));
                let ax = _mm256_sign_epi8(qx, qx);
                for t in 0..T {
                    let d = _mm256_mul_ps(dw, _mm256_broadcast_ss(&*xd[t].add(b)));
                    let qy = _mm256_loadu_si256(xq[t].add(b * QK) as *const __m256i);
                    let sy = _mm256_sign_epi8(qy, qx);
                    let p = sum4::<V>(ax, sy, ones);
                    acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t]);
                }
            }
            std::array::from_fn(|t| hsum(acc[t]))
        }
    }

    /// The integer kernel's Q8_0 arithmetic, step for step for each token (so a token decoded
    /// alone gets the same bits as in a batch; tested in `qgemm`); as [`dot_q5_0`] for `T`.
    ///
    /// # Safety
    /// The processor has AVX2, FMA and F16C, and with `V` AVX-512 F, BW, VL and VNNI
    /// ([`crate::llm::cpu::vnni`] is true). `xs` has at least `T` rows, each with at least
    /// `row.len() / Q8_0_BYTES` blocks: 32 values in `qs` and one scale in `d` per block.
    #[inline(always)]
    pub unsafe fn dot_q8_0<const T: usize, const V: bool>(row: &[u8], xs: &[Q8Row]) -> [f32; T] {
        unsafe {
            let nb = row.len() / Q8_0_BYTES;
            let mut acc = [_mm256_setzero_ps(); T];
            let ones = _mm256_set1_epi16(1);
            let xd: [*const f32; T] = std::array::from_fn(|t| xs.get_unchecked(t).d.as_ptr());
            let xq: [*const i8; T] = std::array::from_fn(|t| xs.get_unchecked(t).qs.as_ptr());
            for b in 0..nb {
                let blk = row.as_ptr().add(b * Q8_0_BYTES);
                let dw = f16x8_at(blk);
                let qx = _mm256_loadu_si256(blk.add(2) as *const __m256i);
                let ax = _mm256_sign_epi8(qx, qx);
                for t in 0..T {
                    let d = _mm256_mul_ps(dw, _mm256_broadcast_ss(&*xd[t].add(b)));
                    let qy = _mm256_loadu_si256(xq[t].add(b * QK) as *const __m256i);
                    let sy = _mm256_sign_epi8(qy, qx);
                    let p = sum4::<V>(ax, sy, ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc[t]);
                }
            }
            std::array::from_fn(|t| hsum(acc[t]))
        }
    }

    /// The integer kernel's Q4_1 arithmetic, step for step for each token (tested in
    /// `qgemm`): the offset `m` is applied per half block with fused multiply-adds. As
    /// [`dot_q5_0`] for `T`.
    ///
    /// # Safety
    /// The processor has AVX2, FMA and F16C, and with `V` AVX-512 F, BW, VL and VNNI
    /// ([`crate::llm::cpu::vnni`] is true). `xs` has at least `T` rows, each with at least
    /// `row.len() / Q4_1_BYTES` blocks: 32 values in `qs`, one scale in `d` and two half sums
    /// in `h` per block.
    #[inline(always)]
    pub unsafe fn dot_q4_1<const T: usize, const V: bool>(row: &[u8], xs: &[Q8Row]) -> [f32; T] {
        unsafe {
            let nb = row.len() / Q4_1_BYTES;
            let mut acc = [_mm256_setzero_ps(); T];
            let mut offsets = [0f32; T];
            let ones = _mm256_set1_epi16(1);
            let xd: [*const f32; T] = std::array::from_fn(|t| xs.get_unchecked(t).d.as_ptr());
            let xh: [*const f32; T] = std::array::from_fn(|t| xs.get_unchecked(t).h.as_ptr());
            let xq: [*const i8; T] = std::array::from_fn(|t| xs.get_unchecked(t).qs.as_ptr());
            for b in 0..nb {
                let off = b * Q4_1_BYTES;
                // d and m from one 32-bit load (both lanes used: no partial-register insert)
                let p = row.as_ptr().add(off);
                let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes([
                    *p,
                    *p.add(1),
                    *p.add(2),
                    *p.add(3),
                ])));
                let dw = _mm256_broadcastss_ps(dm);
                let m = _mm_cvtss_f32(_mm_movehdup_ps(dm));
                let qx = nibbles(row.as_ptr().add(off + 4));
                for t in 0..T {
                    let d = _mm256_mul_ps(dw, _mm256_broadcast_ss(&*xd[t].add(b)));
                    offsets[t] = m.mul_add(*xh[t].add(2 * b), offsets[t]);
                    offsets[t] = m.mul_add(*xh[t].add(2 * b + 1), offsets[t]);
                    let qy = _mm256_loadu_si256(xq[t].add(b * QK) as *const __m256i);
                    let p = sum4::<V>(qx, qy, ones);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc[t]);
                }
            }
            std::array::from_fn(|t| hsum(acc[t]) + offsets[t])
        }
    }

    /// [`dot_q5_0`], [`dot_q8_0`] or [`dot_q4_1`] by `kind`, with AVX-512 VNNI where the
    /// processor has it (the same integers, so the same bits, either way).
    ///
    /// # Safety
    /// The processor has AVX2, FMA and F16C. `xs` has at least `T` rows, each with at least
    /// `row.len() / kind.block_bytes()` blocks: 32 values in `qs` and one scale in `d` per
    /// block, and for Q4_1 two half sums in `h`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dots<const T: usize>(kind: Kind, row: &[u8], xs: &[Q8Row]) -> [f32; T] {
        unsafe {
            if crate::llm::cpu::vnni() {
                dots_vnni::<T>(kind, row, xs)
            } else {
                dots_by::<T, false>(kind, row, xs)
            }
        }
    }

    /// [`dots_by`] with AVX-512 VNNI.
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true), and
    /// the rest of [`dots`]'s contract holds.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn dots_vnni<const T: usize>(kind: Kind, row: &[u8], xs: &[Q8Row]) -> [f32; T] {
        unsafe { dots_by::<T, true>(kind, row, xs) }
    }

    /// [`dot_q5_0`], [`dot_q8_0`] or [`dot_q4_1`] by `kind`, with AVX-512 VNNI (`V`) or not.
    ///
    /// # Safety
    /// As [`dots`], and with `V` the processor has AVX-512 F, BW, VL and VNNI
    /// ([`crate::llm::cpu::vnni`] is true).
    #[inline(always)]
    unsafe fn dots_by<const T: usize, const V: bool>(
        kind: Kind,
        row: &[u8],
        xs: &[Q8Row],
    ) -> [f32; T] {
        unsafe {
            match kind {
                Kind::Q5_0 => dot_q5_0::<T, V>(row, xs),
                Kind::Q4_1 => dot_q4_1::<T, V>(row, xs),
                Kind::Q8_0 => dot_q8_0::<T, V>(row, xs),
            }
        }
    }

    /// `Σ₄ a · b` per 32-bit lane (`a` unsigned, `b` signed bytes): `vpdpbusd` with AVX-512
    /// VNNI (`V`), else `vpmaddubsw` then `vpmaddwd` with `ones`. The same integers: no pair
    /// of products here reaches `vpmaddubsw`'s 16-bit saturation (at most 2 · 128 · 127).
    ///
    /// # Safety
    /// The processor has AVX2, and with `V` AVX-512 F, BW, VL and VNNI.
    #[inline(always)]
    unsafe fn sum4<const V: bool>(a: __m256i, b: __m256i, ones: __m256i) -> __m256i {
        unsafe {
            if V {
                vnni_sum4(a, b)
            } else {
                _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones)
            }
        }
    }

    /// `high` in the bytes whose bit of `qh` is clear, 0 elsewhere: one masked move with
    /// AVX-512 (`V`), else the bytes spread out by [`bits`].
    ///
    /// # Safety
    /// The processor has AVX2, and with `V` AVX-512 F, BW and VL.
    #[inline(always)]
    unsafe fn fifth_clear<const V: bool>(qh: u32, high: __m256i) -> __m256i {
        unsafe {
            if V {
                avx512_clear(qh, high)
            } else {
                _mm256_andnot_si256(bits(qh), high)
            }
        }
    }

    /// `Σ₄ a · b` per 32-bit lane (`vpdpbusd`: `a` unsigned, `b` signed bytes).
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn vnni_sum4(a: __m256i, b: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)
    }

    /// `high` in the bytes whose bit of `qh` is clear, 0 elsewhere (one masked move).
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW and VL (so wherever [`crate::llm::cpu::vnni`] is true).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn avx512_clear(qh: u32, high: __m256i) -> __m256i {
        _mm256_maskz_mov_epi8(!qh, high)
    }
}

/// `xs[i] = exp(xs[i] − max)` for every element (`max` at least every element, as in a
/// softmax), returning their sum. Eight at a time with AVX2 (a polynomial, relative error
/// about 2e-7). Deterministic: the same slice gives the same bits on any thread.
pub fn exp_shifted(xs: &mut [f32], max: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2() {
        // SAFETY: the processor has AVX2, FMA and F16C (asked).
        return unsafe { avx2::exp_shifted(xs, max) };
    }
    let mut sum = 0f32;
    for x in xs.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    sum
}

/// `2 · √(2/π)`: GELU's tanh form is `x · sigmoid(GELU_C · (x + 0.044715 x³))`.
const GELU_C: f32 = 1.595_769_2;

/// `g[i] = gelu(g[i]) · u[i]` (GELU in its tanh form, Gemma's gating), eight at a time with
/// AVX2 through the same exponential as [`exp_shifted`]: libm's `tanhf` one value at a time
/// took 13 % of Gemma 3's prompt time.
pub fn gelu_mul(g: &mut [f32], u: &[f32]) {
    assert_eq!(g.len(), u.len(), "gate and up of one size");
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2() {
        // SAFETY: the processor has AVX2, FMA and F16C (asked); the lengths are equal.
        return unsafe { avx2::gelu_mul(g, u) };
    }
    for (g, u) in g.iter_mut().zip(u) {
        *g = gelu_scalar(*g) * u;
    }
}

/// `g[i] = gelu(g[i])` (GELU in its tanh form, as BERT-family encoders use it), eight at a
/// time with AVX2 like [`gelu_mul`].
pub fn gelu(g: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2() {
        // SAFETY: the processor has AVX2, FMA and F16C (asked).
        return unsafe { avx2::gelu(g) };
    }
    for g in g.iter_mut() {
        *g = gelu_scalar(*g);
    }
}

/// GELU's tanh form, one value.
fn gelu_scalar(x: f32) -> f32 {
    x / (1.0 + (-GELU_C * x * (1.0 + 0.044_715 * x * x)).exp())
}

/// Which kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Q5_0 weights.
    Q5_0,
    /// Q4_1 weights.
    Q4_1,
    /// Q8_0 weights.
    Q8_0,
}

impl Kind {
    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Kind::Q5_0 => Q5_0_BYTES,
            Kind::Q4_1 => Q4_1_BYTES,
            Kind::Q8_0 => Q8_0_BYTES,
        }
    }
}

/// `W[row] · x[t]` for the `T` tokens of `xs` (AVX2 where [`super::cpu::avx2`]): each
/// token's result is the same bits as alone (`T` = 1), whatever the tokens beside it.
#[inline]
pub fn dots<const T: usize>(kind: Kind, row: &[u8], xs: &[Q8Row]) -> [f32; T] {
    assert!(xs.len() >= T, "{T} tokens of activations");
    // the kernels read every activation of the row's blocks unchecked: each token must have them
    let nb = row.len() / kind.block_bytes();
    assert!(
        xs[..T]
            .iter()
            .all(|x| x.qs.len() >= nb * QK && x.d.len() >= nb && x.h.len() >= 2 * nb),
        "activations shorter than the weight row"
    );
    #[cfg(target_arch = "x86_64")]
    if super::cpu::avx2() {
        // SAFETY: the processor has AVX2, FMA and F16C (asked); `row` holds whole blocks and
        // each of the `T` tokens of `xs` has 32 values and one scale per block of it.
        return unsafe { avx2::dots::<T>(kind, row, xs) };
    }
    std::array::from_fn(|t| match kind {
        Kind::Q5_0 => dot_q5_0_scalar(row, &xs[t]),
        Kind::Q4_1 => dot_q4_1_scalar(row, &xs[t]),
        Kind::Q8_0 => dot_q8_0_scalar(row, &xs[t]),
    })
}

/// `y[r] = W[r] · x` for every row `r` of the `[n, k]` weight `w` (raw blocks), spread over
/// candle's worker pool (the one its own ops use: a second pool would fight it for the cores).
pub fn matvec(kind: Kind, w: &[u8], n: usize, k: usize, x: &[f32], y: &mut [f32]) {
    matmul(kind, w, n, k, x, y)
}

/// `y[t][r] = W[r] · x[t]` for every row `r` of the `[n, k]` weight `w` (raw blocks) and every
/// `k`-long token `t` of `x` (`y` is `tokens × n`, row major): the checking of speculative
/// tokens. Each block of a row is unpacked once for up to four tokens and the row is read
/// from memory once for all of them; each token's result is [`matvec`]'s to the bit.
pub fn matmul(kind: Kind, w: &[u8], n: usize, k: usize, x: &[f32], y: &mut [f32]) {
    let xq: Vec<Q8Row> = x.chunks_exact(k).map(Q8Row::quantize).collect();
    let tokens = xq.len();
    assert!(
        y.len() >= tokens * n,
        "room for {tokens} tokens of {n} rows"
    );
    let row_bytes = k / QK * kind.block_bytes();
    let out = super::disjoint::Disjoint::new(y);
    candle_core::utils::barrier_pool().execute_chunked(n, |range| {
        for r in range {
            let row = &w[r * row_bytes..(r + 1) * row_bytes];
            let mut t0 = 0;
            while t0 < tokens {
                let xs = &xq[t0..];
                let put = |v: &[f32]| {
                    for (t, &v) in v.iter().enumerate() {
                        // SAFETY: each row index is handed to exactly one worker.
                        unsafe { out.write((t0 + t) * n + r, v) };
                    }
                    v.len()
                };
                t0 += match xs.len() {
                    1 => put(&dots::<1>(kind, row, xs)),
                    2 => put(&dots::<2>(kind, row, xs)),
                    3 => put(&dots::<3>(kind, row, xs)),
                    _ => put(&dots::<4>(kind, row, xs)),
                };
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_block_is_the_scalar_rounding() {
        let mut seed = 7u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut blocks: Vec<Vec<f32>> = (0..2000)
            .map(|_| {
                let scale = (next() % 1000) as f32 / 10.0;
                (0..QK)
                    .map(|_| (next() as f32 / u32::MAX as f32 - 0.5) * scale)
                    .collect()
            })
            .collect();
        // ties (x / d exactly k + 0.5 with d = 1: 127 is the largest), zeros, one value
        blocks.push((0..QK).map(|i| i as f32 - 15.5).collect());
        blocks[2000][0] = 127.0;
        blocks.push(vec![0.0; QK]);
        let mut one = vec![0.0; QK];
        one[31] = -3.0;
        blocks.push(one);
        for xs in &blocks {
            let (mut a, mut b) = ([0i8; QK], [0i8; QK]);
            assert_eq!(
                quantize_block(xs, &mut a),
                quantize_block_scalar(xs, &mut b)
            );
            assert_eq!(a, b, "{xs:?}");
        }
    }

    #[test]
    fn gelu_matches_its_tanh_form() {
        let xs: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let us: Vec<f32> = (0..1003).map(|i| 1.0 + (i % 7) as f32 / 10.0).collect();
        let mut got = xs.clone();
        gelu_mul(&mut got, &us);
        for ((g, x), u) in got.iter().zip(&xs).zip(&us) {
            let x = *x as f64;
            let t = (0.797_884_560_8 * (x + 0.044_715 * x * x * x)).tanh();
            let want = 0.5 * x * (1.0 + t) * *u as f64;
            assert!(
                (*g as f64 - want).abs() <= 1e-6 * want.abs() + 1e-6,
                "gelu({x}) · {u} = {g}, want {want}"
            );
        }
        // far out: no overflow, the limits
        let mut big = vec![-200.0, 200.0, 0.0];
        gelu_mul(&mut big, &[1.0; 3]);
        assert_eq!(big, [-0.0, 200.0, 0.0]);
    }

    #[test]
    fn exp_shifted_matches_std_exp() {
        for len in [1, 7, 8, 9, 100, 1501] {
            let xs: Vec<f32> = (0..len)
                .map(|i| ((i * 37) % 101) as f32 * -0.4 + 3.0)
                .collect();
            let max = xs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut got = xs.clone();
            let sum = exp_shifted(&mut got, max);
            let mut want_sum = 0f64;
            for (g, x) in got.iter().zip(&xs) {
                let want = ((x - max) as f64).exp();
                want_sum += want;
                assert!(
                    (*g as f64 - want).abs() <= 1e-6 * want + 1e-37,
                    "exp({}) = {g}, want {want}",
                    x - max
                );
            }
            assert!((sum as f64 - want_sum).abs() <= 1e-5 * want_sum, "{len}");
        }
    }
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Module, Tensor};

    const KINDS: [(GgmlDType, Kind); 3] = [
        (GgmlDType::Q5_0, Kind::Q5_0),
        (GgmlDType::Q4_1, Kind::Q4_1),
        (GgmlDType::Q8_0, Kind::Q8_0),
    ];

    /// An `[n, k]` weight with values in [-1, 1].
    fn weights(n: usize, k: usize) -> Tensor {
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919 % 1013) as f32 / 506.0) - 1.0)
            .collect();
        Tensor::from_vec(w, (n, k), &Device::Cpu).unwrap()
    }

    /// `len` activations in [-1, 1].
    fn values(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 31 % 97) as f32 / 48.0) - 1.0)
            .collect()
    }

    /// Several tokens through [`matmul`] get the bits each gets alone through [`matvec`]: the
    /// checking of speculative tokens agrees with decoding them one by one.
    #[test]
    fn several_tokens_get_each_tokens_own_bits() {
        let (n, k, tokens) = (19, 96, 7);
        let (wt, x) = (weights(n, k), values(tokens * k));
        for (dtype, kind) in KINDS {
            let raw = QTensor::quantize(&wt, dtype)
                .unwrap()
                .data()
                .unwrap()
                .to_vec();
            let mut all = vec![0f32; tokens * n];
            matmul(kind, &raw, n, k, &x, &mut all);
            for t in 0..tokens {
                let mut one = vec![0f32; n];
                matvec(kind, &raw, n, k, &x[t * k..(t + 1) * k], &mut one);
                assert_eq!(one, all[t * n..(t + 1) * n], "{kind:?} token {t}");
                let bound: f32 = x[t * k..(t + 1) * k].iter().map(|v| v.abs()).sum();
                assert!(one.iter().all(|v| v.abs() <= 2.0 * bound), "{kind:?} {t}");
            }
        }
    }

    #[test]
    fn simd_and_scalar_kernels_match_dequantized_weights() {
        let (n, k) = (24, 256);
        let (wt, x) = (weights(n, k), values(k));
        for (dtype, kind) in KINDS {
            let q = QTensor::quantize(&wt, dtype).unwrap();
            let dense = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            // candle's own (scalar) path quantizes the activations the same way
            let xt = Tensor::from_vec(x.clone(), (1, k), &Device::Cpu).unwrap();
            let q2 = QTensor::quantize(&wt, dtype).unwrap();
            let candle = candle_core::quantized::QMatMul::from_qtensor(q2)
                .unwrap()
                .forward(&xt)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let raw = q.data().unwrap();
            let mut y = vec![0f32; n];
            matvec(kind, &raw, n, k, &x, &mut y);
            let xq = Q8Row::quantize(&x);
            let row_bytes = k / QK * kind.block_bytes();
            for r in 0..n {
                let exact: f32 = dense[r].iter().zip(&x).map(|(a, b)| a * b).sum();
                let row = &raw[r * row_bytes..(r + 1) * row_bytes];
                let scalar = match kind {
                    Kind::Q5_0 => dot_q5_0_scalar(row, &xq),
                    Kind::Q4_1 => dot_q4_1_scalar(row, &xq),
                    Kind::Q8_0 => dot_q8_0_scalar(row, &xq),
                };
                assert!(
                    (y[r] - scalar).abs() < 1e-3,
                    "{kind:?} row {r}: simd {} scalar {scalar}",
                    y[r]
                );
                // (candle rounds the Q8_1 scale and sum to f16; we keep f32)
                assert!(
                    (y[r] - candle[r]).abs() < 5e-3,
                    "{kind:?} row {r}: {} vs candle {}",
                    y[r],
                    candle[r]
                );
                // 8-bit activations: a small error against the exact product
                assert!(
                    (y[r] - exact).abs() < 0.1 * (1.0 + exact.abs()),
                    "{kind:?} row {r}: {} vs {exact}",
                    y[r]
                );
            }
        }
    }
}
