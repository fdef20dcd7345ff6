//! Decode attention over the f16 KV cache.
//!
//! The cache holds keys and values as f16 (`[position][kv_head][head_dim]`), as llama.cpp's
//! does: half the bytes to read per decoded token, which is what attention over a long prompt
//! costs. A token's attention is cut into pieces of work, one per key/value group and run of
//! [`RUN`] positions: each piece takes the group's query heads against its positions
//! ([`attend_run`]: each key and value is read and widened once for all those heads), keeping
//! its scores' maximum and exponential sum; [`merge`] then rescales and adds the runs in order
//! (the "flash decoding" split). The cut depends on the context length only, so a token's
//! result is the same on any worker, alone or in a batch of speculative tokens.

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::kernels::exp_shifted;

/// What the KV cache holds: f16 or f32.
pub trait Elem: Copy + Send + Sync + 'static {
    /// The zero to grow a cache with.
    const ZERO: Self;
    /// As f32.
    fn get(self) -> f32;
    /// `dst[i] = src[i]`, rounded to this type.
    fn store(dst: &mut [Self], src: &[f32]);
    /// `dst[i] = src[i]`, widened.
    fn load(src: &[Self], dst: &mut [f32]);
    /// Append `src`, rounded to this type, to `cache`.
    fn append(cache: &mut Vec<Self>, src: &[f32]) {
        let at = cache.len();
        cache.resize(at + src.len(), Self::ZERO);
        Self::store(&mut cache[at..], src);
    }
    /// Eight values at `p`, widened.
    ///
    /// # Safety
    /// Eight values from `p` are readable, and AVX2 and F16C are there.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl Elem for f16 {
    const ZERO: f16 = f16::ZERO;
    fn get(self) -> f32 {
        self.to_f32()
    }
    fn store(dst: &mut [f16], src: &[f32]) {
        dst.convert_from_f32_slice(src);
    }
    fn load(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
    /// Eight f16 at `p`, widened.
    ///
    /// # Safety
    /// As [`Elem::load8`]: the eight f16 from `p` (16 bytes) are readable, and AVX2 and F16C
    /// are there.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const f16) -> std::arch::x86_64::__m256 {
        unsafe {
            use std::arch::x86_64::*;
            _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
        }
    }
}

impl Elem for f32 {
    const ZERO: f32 = 0.0;
    fn get(self) -> f32 {
        self
    }
    fn store(dst: &mut [f32], src: &[f32]) {
        dst.copy_from_slice(src);
    }
    fn load(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    /// Eight f32 at `p`.
    ///
    /// # Safety
    /// As [`Elem::load8`] (this one needs only AVX): the eight f32 from `p` (32 bytes) are
    /// readable.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

/// Positions per piece of work.
pub const RUN: usize = 128;

/// Floats [`attend_run`] writes per head: the weighted sum (`d`), the maximum, the sum.
pub fn part_len(d: usize) -> usize {
    d + 2
}

/// One piece of work: the query heads `q` (`[head][d]`, heads of one key/value group) against
/// `n` cached positions whose keys and values start at `keys[0]`, `values[0]` and follow each
/// other every `stride` values.
#[derive(Clone, Copy)]
pub struct Run<'a, T> {
    /// Query heads, `[head][d]`.
    pub q: &'a [f32],
    /// Values per head.
    pub d: usize,
    /// Cached keys from the run's first position on.
    pub keys: &'a [T],
    /// Cached values from the run's first position on.
    pub values: &'a [T],
    /// Distance between two positions' keys (and values).
    pub stride: usize,
    /// Positions.
    pub n: usize,
    /// Factor of every score.
    pub scale: f32,
}

/// Attend `run`'s heads to its positions. With `s_t = scale · q · k_t` and `m = max_t s_t`,
/// writes per head into `out` (`[head][d + 2]`): `Σ_t e^(s_t − m) · v_t`, then `m`, then
/// `Σ_t e^(s_t − m)`. `scores` is scratch of at least `heads × n` values.
pub fn attend_run<T: Elem>(run: Run<'_, T>, scores: &mut [f32], out: &mut [f32]) {
    let Run { q, d, n, .. } = run;
    let heads = q.len() / d;
    assert!(n > 0 && q.len() == heads * d && out.len() == heads * part_len(d));
    assert!(scores.len() >= heads * n);
    assert!((n - 1) * run.stride + d <= run.keys.len().min(run.values.len()));
    // at most eight heads at a time (each run of heads reads the keys and values once)
    let mut h0 = 0;
    while h0 < heads {
        let hs = (heads - h0).min(8);
        let r = Run {
            q: &q[h0 * d..(h0 + hs) * d],
            ..run
        };
        let s = &mut scores[..hs * n];
        let o = &mut out[h0 * part_len(d)..(h0 + hs) * part_len(d)];
        #[cfg(target_arch = "x86_64")]
        if d.is_multiple_of(16) && super::cpu::avx2() {
            // SAFETY: the processor has AVX2, FMA and F16C (asked); every key and value read
            // (n positions of d values, `stride` apart) lies inside the slices (checked above),
            // `s` holds hs × n scores and `o` hs × (d + 2) values.
            unsafe { avx2::attend(r, s, o) };
            h0 += hs;
            continue;
        }
        scalar::attend(r, s, o);
        h0 += hs;
    }
}

/// Combine the runs' results (`parts`: `[run][head][d + 2]` as [`attend_run`] writes them)
/// into each head's attention output (`y`: `[head][d]`), adding the runs in order.
pub fn merge(parts: &[f32], runs: usize, d: usize, y: &mut [f32]) {
    let heads = y.len() / d;
    let pl = part_len(d);
    assert!(parts.len() >= runs * heads * pl && runs > 0);
    for (j, yh) in y.chunks_mut(d).enumerate() {
        let at = |r: usize| &parts[(r * heads + j) * pl..(r * heads + j + 1) * pl];
        let max = (0..runs).fold(f32::NEG_INFINITY, |m, r| m.max(at(r)[d]));
        yh.fill(0.0);
        let mut sum = 0f32;
        for r in 0..runs {
            let p = at(r);
            let w = (p[d] - max).exp();
            sum = w.mul_add(p[d + 1], sum);
            for (o, v) in yh.iter_mut().zip(&p[..d]) {
                *o = w.mul_add(*v, *o);
            }
        }
        let inv = 1.0 / sum;
        for o in yh.iter_mut() {
            *o *= inv;
        }
    }
}

/// Each head's softmax numerators over its scores' row (in place); returns per head the
/// maximum and the sum, stored at `out[head][d]` and `out[head][d + 1]`.
fn softmax_rows(s: &mut [f32], n: usize, d: usize, out: &mut [f32]) {
    for (row, o) in s.chunks_mut(n).zip(out.chunks_mut(part_len(d))) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        o[d] = max;
        o[d + 1] = exp_shifted(row, max);
    }
}

mod scalar {
    use super::*;

    pub(super) fn attend<T: Elem>(r: Run<'_, T>, s: &mut [f32], out: &mut [f32]) {
        let Run {
            q,
            d,
            keys,
            values,
            stride,
            n,
            scale,
        } = r;
        let heads = q.len() / d;
        for t in 0..n {
            let k = &keys[t * stride..t * stride + d];
            for j in 0..heads {
                let dot = q[j * d..(j + 1) * d]
                    .iter()
                    .zip(k)
                    .fold(0f32, |a, (x, k)| x.mul_add(k.get(), a));
                s[j * n + t] = dot * scale;
            }
        }
        softmax_rows(s, n, d, out);
        for j in 0..heads {
            let o = &mut out[j * part_len(d)..j * part_len(d) + d];
            o.fill(0.0);
            for t in 0..n {
                let p = s[j * n + t];
                for (o, v) in o.iter_mut().zip(&values[t * stride..t * stride + d]) {
                    *o = p.mul_add(v.get(), *o);
                }
            }
        }
    }
}

/// The AVX2 kernels, run where [`super::cpu::avx2`] says so (see `kernels::avx2`: entry
/// points enable the features, helpers are inlined into them).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use crate::llm::kernels::avx2::hsum;
    use std::arch::x86_64::*;

    /// Scores of `G` heads against positions `t..t + P`: each head's sum runs over `d` in
    /// one chain, the same for any `P` (which only interleaves independent positions, so that
    /// a query register serves `P` keys).
    ///
    /// # Safety
    /// AVX2, FMA and F16C are there. `d` is a multiple of 8 and `r.q` holds at least `G · d`
    /// values; `t + P ≤ n`, and the `d` keys of each position `t + p` (`p < P`), from
    /// `(t + p) · stride`, lie inside `r.keys`; `ps` is writable at `j · n + t + p` for
    /// `j < G`, `p < P`.
    #[inline(always)]
    unsafe fn scores<T: Elem, const G: usize, const P: usize>(
        r: Run<'_, T>,
        t: usize,
        ps: *mut f32,
    ) {
        unsafe {
            let Run {
                d,
                stride,
                n,
                scale,
                ..
            } = r;
            let (pq, pk) = (r.q.as_ptr(), r.keys.as_ptr());
            let mut acc = [[_mm256_setzero_ps(); P]; G];
            let mut c = 0;
            while c < d {
                let mut kv = [_mm256_setzero_ps(); P];
                for (p, kv) in kv.iter_mut().enumerate() {
                    *kv = T::load8(pk.add((t + p) * stride + c));
                }
                for (j, acc) in acc.iter_mut().enumerate() {
                    let qv = _mm256_loadu_ps(pq.add(j * d + c));
                    for (a, kv) in acc.iter_mut().zip(&kv) {
                        *a = _mm256_fmadd_ps(qv, *kv, *a);
                    }
                }
                c += 8;
            }
            for (j, acc) in acc.iter().enumerate() {
                for (p, a) in acc.iter().enumerate() {
                    *ps.add(j * n + t + p) = hsum(*a) * scale;
                }
            }
        }
    }

    /// `G` heads (≤ 8) at once: each position's key is widened once for all of them, `P`
    /// positions at a time; each value is widened once for all of them, `W` registers of it
    /// at a time (two where few heads leave registers to spare, for more independent sums).
    /// `d` is a multiple of 16.
    ///
    /// # Safety
    /// AVX2, FMA and F16C are there. `d` is a multiple of 16 and `r.q` holds at least `G · d`
    /// values; the `d` keys and values of each position `t < n`, from `t · stride`, lie inside
    /// `r.keys` and `r.values`; `s` holds at least `G · n` values and `out` at least
    /// `G · (d + 2)`.
    #[inline(always)]
    unsafe fn attend_g<T: Elem, const G: usize, const W: usize, const P: usize>(
        r: Run<'_, T>,
        s: &mut [f32],
        out: &mut [f32],
    ) {
        unsafe {
            let Run { d, stride, n, .. } = r;
            let (pk, pv, ps) = (r.keys.as_ptr(), r.values.as_ptr(), s.as_mut_ptr());
            let mut t = 0;
            while t < n {
                for ahead in t + 4..(t + 4 + P).min(n) {
                    let ahead = pk.add(ahead * stride) as *const i8;
                    for line in (0..d * std::mem::size_of::<T>()).step_by(64) {
                        _mm_prefetch(ahead.add(line), _MM_HINT_T0);
                    }
                }
                if t + P <= n {
                    scores::<T, G, P>(r, t, ps);
                    t += P;
                } else {
                    scores::<T, G, 1>(r, t, ps);
                    t += 1;
                }
            }
            softmax_rows(s, n, d, out);
            let (ps, po) = (s.as_ptr(), out.as_mut_ptr());
            let mut c = 0;
            while c < d {
                let mut acc = [[_mm256_setzero_ps(); W]; G];
                for t in 0..n {
                    for w in 0..W {
                        let vv = T::load8(pv.add(t * stride + c + 8 * w));
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let p = _mm256_broadcast_ss(&*ps.add(j * n + t));
                            acc[w] = _mm256_fmadd_ps(p, vv, acc[w]);
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    for (w, a) in acc.iter().enumerate() {
                        _mm256_storeu_ps(po.add(j * part_len(d) + c + 8 * w), *a);
                    }
                }
                c += 8 * W;
            }
        }
    }

    /// [`super::attend_run`]'s work for one run of at most eight heads ([`attend_g`]).
    ///
    /// # Safety
    /// AVX2, FMA and F16C are there. `r.d` is a multiple of 16 and `G = r.q.len() / r.d` is 1
    /// to 8 (else it panics); the `d` keys and values of each position `t < n`, from
    /// `t · stride`, lie inside `r.keys` and `r.values`; `s` holds at least `G · n` values and
    /// `out` at least `G · (d + 2)`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn attend<T: Elem>(r: Run<'_, T>, s: &mut [f32], out: &mut [f32]) {
        unsafe {
            match r.q.len() / r.d {
                1 => attend_g::<T, 1, 2, 4>(r, s, out),
                2 => attend_g::<T, 2, 2, 4>(r, s, out),
                3 => attend_g::<T, 3, 2, 4>(r, s, out),
                4 => attend_g::<T, 4, 2, 2>(r, s, out),
                5 => attend_g::<T, 5, 1, 2>(r, s, out),
                6 => attend_g::<T, 6, 1, 2>(r, s, out),
                7 => attend_g::<T, 7, 1, 1>(r, s, out),
                8 => attend_g::<T, 8, 1, 1>(r, s, out),
                g => unreachable!("{g} heads at once"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in −1..1.
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Softmax attention in f64 over the cache, head by head.
    fn reference<T: Elem>(
        q: &[f32],
        d: usize,
        keys: &[T],
        values: &[T],
        stride: usize,
        n: usize,
        scale: f32,
    ) -> Vec<f64> {
        let mut y = Vec::new();
        for qh in q.chunks(d) {
            let s: Vec<f64> = (0..n)
                .map(|t| {
                    qh.iter()
                        .zip(&keys[t * stride..t * stride + d])
                        .map(|(a, b)| *a as f64 * b.get() as f64)
                        .sum::<f64>()
                        * scale as f64
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..d {
                y.push(
                    (0..n)
                        .map(|t| e[t] * values[t * stride + c].get() as f64)
                        .sum::<f64>()
                        / z,
                );
            }
        }
        y
    }

    /// Every number of heads a group may have (1..=10, past the eight done at once), head
    /// sizes 64 and 128 and an odd one (the scalar path), one run and several merged, f16 and
    /// f32 caches: the result is softmax attention's, and cutting the positions into runs
    /// changes it by rounding only.
    #[test]
    fn runs_merged_give_softmax_attention() {
        check::<f16>(f16::from_f32);
        check::<f32>(|v| v);
    }

    fn check<T: Elem>(from: fn(f32) -> T) {
        for d in [64usize, 128, 40] {
            for heads in 1..=10usize {
                let (groups, n) = (2usize, 300usize);
                let stride = groups * d;
                let keys: Vec<T> = noise(n * stride, 1).iter().map(|v| from(v * 3.0)).collect();
                let values: Vec<T> = noise(n * stride, 2).iter().map(|&v| from(v)).collect();
                let q = noise(heads * d, heads as u64);
                let scale = 1.0 / (d as f32).sqrt();
                let g = 1; // the second group: keys start d values in
                let want = reference(&q, d, &keys[g * d..], &values[g * d..], stride, n, scale);
                let pl = part_len(d);
                for run in [n, RUN, 7] {
                    let runs = n.div_ceil(run);
                    let mut parts = vec![0f32; runs * heads * pl];
                    let mut scores = vec![0f32; heads * run];
                    for r in 0..runs {
                        let (t0, t1) = (r * run, n.min((r + 1) * run));
                        attend_run(
                            Run {
                                q: &q,
                                d,
                                keys: &keys[t0 * stride + g * d..],
                                values: &values[t0 * stride + g * d..],
                                stride,
                                n: t1 - t0,
                                scale,
                            },
                            &mut scores,
                            &mut parts[r * heads * pl..(r + 1) * heads * pl],
                        );
                    }
                    let mut y = vec![0f32; heads * d];
                    merge(&parts, runs, d, &mut y);
                    for (i, (got, want)) in y.iter().zip(&want).enumerate() {
                        assert!(
                            (*got as f64 - want).abs() < 1e-4,
                            "d {d} heads {heads} run {run} [{i}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
