//! The prompt kernel: eight weight rows in the eight lanes of one register.
//!
//! [`super::matmul`]'s tile kernel keeps one weight row per register and sums its lanes at the
//! end, so every 32-value block costs each (row, token) pair a float conversion, a scale
//! product and a multiply-add besides the two integer multiply-adds. Here a group of eight
//! rows is first unpacked into a small buffer, interleaved four values at a time
//! (`[block][group of 4 values][row][4 bytes]`), with each row's float scale and offset per
//! half block side by side. Then one byte multiply-add (`vpdpbusd` with AVX-512 VNNI; else
//! `vpmaddubsw` with 16-bit partial sums over up to four steps) multiplies four values of all
//! eight rows by the same four activation bytes (broadcast), and the float work (conversion,
//! scale, offset) is done once per block for eight rows at a time. The buffer is refilled
//! once per block of tokens, so its cost is spread over them.
//!
//! For prompts only ([`super::LANES_MIN_TOKENS`] tokens and more). A token's result here does
//! not depend on how many tokens share the call, nor on VNNI (the integer sums per half block
//! are exact, the float steps per token the same), but it is rounded in another order than
//! the tile kernel's; decoding and the checking of speculative tokens (at most 9) stay on the
//! tile kernel, which gives one token the same bits alone or in a batch. (Single tokens
//! through a mat-vec with this kernel's arithmetic were tried: decode ran at half speed.)
//!
//! Unsigned weight values only: `w = dw · q + mw` per half block (Q8_0 as `q + 128`, which
//! needs VNNI: `vpmaddubsw` would saturate), and the offset is applied through the
//! activations' sums per 16 values ([`QActs`]).

use super::avx2::{Block, Unpacked};
use super::{QActs, QK, TILE};
use std::arch::x86_64::*;

/// Rows per register.
const LANES: usize = 8;
/// Activation bytes a token block may take (it stays in L2 while the row groups go by).
const TOKEN_BLOCK_BYTES: usize = 384 * 1024;

/// A group of eight rows, unpacked for the whole of `k`.
#[derive(Default)]
pub struct Group {
    /// `[block][group of 4 values (8)][row (8)][4 bytes]`.
    q: Vec<u8>,
    /// Scale per `[block][half][row]`.
    dw: Vec<f32>,
    /// Offset per `[block][half][row]`.
    mw: Vec<f32>,
}

impl Group {
    /// Unpack rows `r0..r0 + rows` (at most 8; the other lanes are zero) of `w`.
    ///
    /// # Safety
    /// `w` holds `nb` blocks of `B` for each of those rows, `row_bytes` apart; the processor
    /// has AVX2, FMA and F16C.
    #[inline(never)]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn fill<B: Block>(&mut self, w: *const u8, row_bytes: usize, rows: usize, nb: usize) {
        unsafe {
            self.q.clear();
            self.q.resize(nb * QK * LANES, 0);
            self.dw.clear();
            self.dw.resize(nb * 2 * LANES, 0.0);
            self.mw.clear();
            self.mw.resize(nb * 2 * LANES, 0.0);
            let mut q = [0u8; QK];
            for r in 0..rows {
                let row = w.add(r * row_bytes);
                for b in 0..nb {
                    let u: Unpacked = B::unpack_unsigned(row, b);
                    _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, u.q);
                    // four values at a time to their row's lane (`q` was sized above)
                    let to = self.q.as_mut_ptr().add(b * QK * LANES + r * 4) as *mut u32;
                    let from = q.as_ptr() as *const u32;
                    for g in 0..QK / 4 {
                        to.add(g * LANES)
                            .write_unaligned(from.add(g).read_unaligned());
                    }
                    for (h, d) in u.half_scales().into_iter().enumerate() {
                        *self.dw.get_unchecked_mut((b * 2 + h) * LANES + r) = d;
                        *self.mw.get_unchecked_mut((b * 2 + h) * LANES + r) = u.m[h];
                    }
                }
            }
        }
    }
}

/// `T` ≤ 4 tokens from `t0` (inside one activation tile) against a filled group (`rows`
/// valid lanes), over all blocks; writes `y[t][r0 + r]` (row stride `n`).
///
/// `BITS` is the weights' widest value: without VNNI, up to 5 bits four products of a half
/// block are summed in 16 bits (4 · 2 · 31 · 127 < 2^15), 6 bits two at a time. `UNIFORM`:
/// both halves of a block share scale and offset (every type but Q6_K). Each half block
/// has its own 32-bit sums, so no chain of dependent multiply-adds is longer than four.
///
/// # Safety
/// The processor has AVX2 and FMA, and with `VNNI` AVX-512 F, BW, VL and VNNI
/// ([`crate::llm::cpu::vnni`] is true). `g` was filled ([`Group::fill`]) for `x.k / QK` blocks;
/// `T ≤ 4` and `t0 + T ≤ x.tokens`, with `x` as [`QActs::new`] made it (its `k` and `tokens`
/// unchanged); `y` is writable at `(t0 + t) · n + r0 + r` for `t < T` and `r < rows.min(8)`,
/// and no other thread accesses those floats.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const T: usize, const BITS: u32, const UNIFORM: bool, const VNNI: bool>(
    g: &Group,
    x: &QActs,
    t0: usize,
    r0: usize,
    rows: usize,
    n: usize,
    y: *mut f32,
) {
    unsafe {
        let nb = x.k / QK;
        let ones = _mm256_set1_epi16(1);
        // the tokens' quantized values (`k` apart), and their scales and half sums of block 0
        // (lanes of one tile: block b is TILE further for the scale, 2 · TILE for the sums)
        let (xq, k) = (x.qs.as_ptr().add(t0 * x.k) as *const u8, x.k);
        let dx = x.d.as_ptr().add(t0 / TILE * nb * TILE + t0 % TILE);
        let sx = x.sums.as_ptr().add(t0 / TILE * nb * 2 * TILE + t0 % TILE);
        let (wq, dw, mw) = (g.q.as_ptr(), g.dw.as_ptr(), g.mw.as_ptr());
        let z = _mm256_setzero_ps();
        let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
        let zi = _mm256_setzero_si256();
        for b in 0..nb {
            let wb = wq.add(b * QK * LANES);
            // products of groups `from..to` of four values added to the 32-bit sums `$p*`
            macro_rules! groups {
                ($from:literal, $to:literal, $p0:ident, $p1:ident, $p2:ident, $p3:ident) => {{
                    let (mut h0, mut h1, mut h2, mut h3) = (zi, zi, zi, zi);
                    for gi in $from..$to {
                        let wv = _mm256_loadu_si256(wb.add(gi * 32) as *const __m256i);
                        let at = b * QK + gi * 4;
                        macro_rules! step {
                            ($t:literal, $h:ident, $p:ident) => {
                                if $t < T {
                                    let xv = _mm256_set1_epi32(
                                        (xq.add($t * k + at) as *const i32).read_unaligned(),
                                    );
                                    if VNNI {
                                        $p = dpbusd($p, wv, xv);
                                    } else {
                                        $h = _mm256_add_epi16($h, _mm256_maddubs_epi16(wv, xv));
                                    }
                                }
                            };
                        }
                        step!(0, h0, $p0);
                        step!(1, h1, $p1);
                        step!(2, h2, $p2);
                        step!(3, h3, $p3);
                    }
                    if !VNNI {
                        $p0 = _mm256_add_epi32($p0, _mm256_madd_epi16(h0, ones));
                        $p1 = _mm256_add_epi32($p1, _mm256_madd_epi16(h1, ones));
                        $p2 = _mm256_add_epi32($p2, _mm256_madd_epi16(h2, ones));
                        $p3 = _mm256_add_epi32($p3, _mm256_madd_epi16(h3, ones));
                    }
                }};
            }
            // 32-bit sums of the low half (`l*`) and the high half (`u*`) per token
            let (mut l0, mut l1, mut l2, mut l3) = (zi, zi, zi, zi);
            let (mut u0, mut u1, mut u2, mut u3) = (zi, zi, zi, zi);
            if VNNI || BITS <= 5 {
                groups!(0, 4, l0, l1, l2, l3);
                groups!(4, 8, u0, u1, u2, u3);
            } else {
                // 6 bits: two products at most in 16 bits
                groups!(0, 2, l0, l1, l2, l3);
                groups!(2, 4, l0, l1, l2, l3);
                groups!(4, 6, u0, u1, u2, u3);
                groups!(6, 8, u0, u1, u2, u3);
            }
            let p = [[l0, l1, l2, l3], [u0, u1, u2, u3]];
            let d0 = _mm256_loadu_ps(dw.add(b * 2 * LANES));
            let m0 = _mm256_loadu_ps(mw.add(b * 2 * LANES));
            let (d1, m1) = if UNIFORM {
                (d0, m0)
            } else {
                (
                    _mm256_loadu_ps(dw.add((b * 2 + 1) * LANES)),
                    _mm256_loadu_ps(mw.add((b * 2 + 1) * LANES)),
                )
            };
            macro_rules! scaled {
                ($t:literal, $acc:ident) => {
                    if $t < T {
                        let dxv = _mm256_set1_ps(*dx.add(b * TILE + $t));
                        let s0 = *sx.add(b * 2 * TILE + $t);
                        let s1 = *sx.add(b * 2 * TILE + TILE + $t);
                        if UNIFORM {
                            let sum = _mm256_add_epi32(p[0][$t], p[1][$t]);
                            let f = _mm256_mul_ps(_mm256_cvtepi32_ps(sum), dxv);
                            $acc = _mm256_fmadd_ps(f, d0, $acc);
                            $acc = _mm256_fmadd_ps(m0, _mm256_set1_ps(s0 + s1), $acc);
                        } else {
                            let f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(p[0][$t]), dxv);
                            let f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(p[1][$t]), dxv);
                            $acc = _mm256_fmadd_ps(f0, d0, $acc);
                            $acc = _mm256_fmadd_ps(f1, d1, $acc);
                            $acc = _mm256_fmadd_ps(m0, _mm256_set1_ps(s0), $acc);
                            $acc = _mm256_fmadd_ps(m1, _mm256_set1_ps(s1), $acc);
                        }
                    }
                };
            }
            scaled!(0, a0);
            scaled!(1, a1);
            scaled!(2, a2);
            scaled!(3, a3);
        }
        let mut out = [0f32; LANES];
        for (t, a) in [a0, a1, a2, a3].iter().enumerate().take(T) {
            _mm256_storeu_ps(out.as_mut_ptr(), *a);
            let yt = y.add((t0 + t) * n + r0);
            for (r, v) in out.iter().enumerate().take(rows) {
                *yt.add(r) = *v;
            }
        }
    }
}

/// Every token of `x` against the row groups `groups` (of eight rows; the last may be short)
/// of the `[n, k]` weight `w`, with AVX-512 VNNI or not.
///
/// # Safety
/// `w` holds `B` blocks for all `n` rows (`row_bytes` each); `y` is `x.tokens × n` and no
/// other thread writes these groups' rows. The processor has AVX2, FMA and F16C; `vnni` only
/// where [`crate::llm::cpu::vnni`] is true; 8-bit weights (`BITS` = 8) need it.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn groups_of<B: Block, const BITS: u32, const UNIFORM: bool>(
    vnni: bool,
    w: &[u8],
    row_bytes: usize,
    groups: std::ops::Range<usize>,
    n: usize,
    x: &QActs,
    y: *const f32,
) {
    unsafe {
        if vnni {
            groups_vnni::<B, BITS, UNIFORM>(w, row_bytes, groups, n, x, y)
        } else {
            assert!(BITS <= 6, "8-bit weights need VNNI");
            groups_body::<B, BITS, UNIFORM, false>(w, row_bytes, groups, n, x, y)
        }
    }
}

/// [`groups_body`] with AVX-512 VNNI.
///
/// # Safety
/// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true), and
/// [`groups_body`]'s contract holds, with `groups` inside `0..n.div_ceil(8)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn groups_vnni<B: Block, const BITS: u32, const UNIFORM: bool>(
    w: &[u8],
    row_bytes: usize,
    groups: std::ops::Range<usize>,
    n: usize,
    x: &QActs,
    y: *const f32,
) {
    unsafe { groups_body::<B, BITS, UNIFORM, true>(w, row_bytes, groups, n, x, y) }
}

/// `acc + Σ₄ u8 · i8` per 32-bit lane (`vpdpbusd`); only reached from [`groups_vnni`], into
/// which it is inlined.
///
/// # Safety
/// The processor has AVX-512 F, BW, VL and VNNI ([`crate::llm::cpu::vnni`] is true).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dpbusd(acc: __m256i, w: __m256i, x: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, w, x)
}

/// Every token of `x` against the row groups `groups` (of eight rows; the last may be short)
/// of the `[n, k]` weight `w`.
///
/// # Safety
/// `w` holds `B` blocks for all `n` rows (`row_bytes` each); `y` is `x.tokens × n` and no
/// other thread writes these groups' rows.
#[inline(always)]
unsafe fn groups_body<B: Block, const BITS: u32, const UNIFORM: bool, const VNNI: bool>(
    w: &[u8],
    row_bytes: usize,
    groups: std::ops::Range<usize>,
    n: usize,
    x: &QActs,
    y: *const f32,
) {
    unsafe {
        let (w, y) = (w.as_ptr(), y as *mut f32);
        let nb = x.k / QK;
        let token_block = (TOKEN_BLOCK_BYTES / x.k).clamp(16, 512);
        // the buffer is taken out of its thread-local cell so that the loop below stays in this
        // function (a closure would not get VNNI's target features and could not inline it)
        let mut group = GROUP.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
        let g = &mut group;
        let mut tb = 0;
        while tb < x.tokens {
            let te = (tb + token_block).min(x.tokens);
            for gi in groups.clone() {
                let r0 = gi * LANES;
                let rows = (n - r0).min(LANES);
                g.fill::<B>(w.add(r0 * row_bytes), row_bytes, rows, nb);
                let mut t0 = tb;
                while t0 < te {
                    // a tile stays inside one activation tile (its scales are side by side)
                    let left = (te - t0).min(4).min(TILE - t0 % TILE);
                    match left {
                        1 => tile::<1, BITS, UNIFORM, VNNI>(g, x, t0, r0, rows, n, y),
                        2 => tile::<2, BITS, UNIFORM, VNNI>(g, x, t0, r0, rows, n, y),
                        3 => tile::<3, BITS, UNIFORM, VNNI>(g, x, t0, r0, rows, n, y),
                        _ => tile::<4, BITS, UNIFORM, VNNI>(g, x, t0, r0, rows, n, y),
                    }
                    t0 += left;
                }
            }
            tb = te;
        }
        GROUP.with(|cell| *cell.borrow_mut() = group);
    }
}

/// Row groups of eight for `n` rows.
pub fn groups(n: usize) -> usize {
    n.div_ceil(LANES)
}

thread_local! {
    /// The row group being multiplied on this thread.
    static GROUP: std::cell::RefCell<Group> = std::cell::RefCell::new(Group::default());
}
