//! The prompt kernel on AMX, the tile unit of Intel's Xeons since Sapphire Rapids.
//!
//! The same arithmetic as [`super::lanes`], with the integer products on the tile unit. A
//! group of sixteen weight rows is unpacked to unsigned bytes, each row's 32 values of a block
//! side by side (AMX's first operand: `[block][row][32 bytes]`), with each row's scale and
//! offset per half block. The activations are laid out once per product as AMX's second
//! operand: per sixteen tokens and block, four values of each token side by side
//! (`[token tile][block][group of 4][token][4 bytes]`, [`Tiles`]). Then one `tdpbusd` per
//! block multiplies sixteen rows by sixteen tokens into a 16 × 16 tile of 32-bit sums, and the
//! float steps (conversion, the tokens' scales, the row's scale, the offset through the
//! activations' sums) run on AVX-512 over the sixteen tokens of a row, with the same
//! operations in the same order as the prompt kernel's: a token's result is the same bits as
//! there (the tests check it). Q6_K's two halves of a block have their own scales and take two
//! half-width products. Two blocks are on the tile unit while an earlier one is scaled.
//!
//! Linux must grant the process the tile state first ([`crate::llm::cpu::amx`] asks); each
//! worker loads the tile configuration when it starts a share of the work and releases the
//! tiles when it ends it.

use super::avx2::Block;
use super::{QActs, QK, TILE};
use std::arch::asm;
use std::arch::x86_64::*;

/// Weight rows per group: the sixteen rows of a tile.
const ROWS: usize = 16;
/// Tokens per product: the sixteen 32-bit columns of a tile.
const TOKENS: usize = 16;
/// Activation bytes a token block may take (it stays in L2 while the row groups go by).
const TOKEN_BLOCK_BYTES: usize = 1536 * 1024;

/// The tile configuration `ldtilecfg` reads (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    /// Bytes per row of each tile register.
    colsb: [u16; 16],
    /// Rows of each tile register.
    rows: [u8; 16],
}

/// A tile configuration from `(bytes per row, rows)` of tmm0 to tmm7.
const fn config(shapes: [(u16, u8); 8]) -> TileConfig {
    let mut colsb = [0u16; 16];
    let mut rows = [0u8; 16];
    let mut i = 0;
    while i < shapes.len() {
        colsb[i] = shapes[i].0;
        rows[i] = shapes[i].1;
        i += 1;
    }
    TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb,
        rows,
    }
}

/// Whole blocks, four in flight: tmm0..tmm3 sums, 16 rows × 16 tokens of 32 bits; tmm4, tmm5
/// weights, 16 rows × 32 bytes; tmm6, tmm7 activations, 8 groups of four values × 16 tokens
/// × 4 bytes.
const WHOLE: TileConfig = config([
    (64, 16),
    (64, 16),
    (64, 16),
    (64, 16),
    (32, 16),
    (32, 16),
    (64, 8),
    (64, 8),
]);

/// Half blocks (Q6_K: each 16 values have their own scale), two blocks in flight: tmm0..tmm3
/// sums (one block's low and high halves, then the other's); tmm4, tmm5 weights of the low
/// and high half, 16 rows × 16 bytes; tmm6, tmm7 their activations, 4 groups × 16 tokens × 4
/// bytes.
const HALVES: TileConfig = config([
    (64, 16),
    (64, 16),
    (64, 16),
    (64, 16),
    (16, 16),
    (16, 16),
    (64, 4),
    (64, 4),
]);

/// Groups of sixteen rows for `n` rows.
pub fn groups(n: usize) -> usize {
    n.div_ceil(ROWS)
}

/// A product's activations laid out for the tile unit, sixteen tokens a tile (tokens past
/// the end are zero).
pub struct Tiles {
    /// `[tile][block][group of 4 values (8)][token (16)][4 bytes]`.
    q: Vec<i8>,
    /// Scale per `[tile][block][token]`.
    d: Vec<f32>,
    /// `dx · Σ qx` per `[tile][block][half][token]`.
    s: Vec<f32>,
}

impl Tiles {
    /// Lay out `x`.
    pub fn new(x: &QActs) -> Tiles {
        let (k, nb) = (x.k, x.k / QK);
        let tiles = x.tokens.div_ceil(TOKENS);
        let mut a = Tiles {
            q: vec![0; tiles * nb * QK * TOKENS],
            d: vec![0.0; tiles * nb * TOKENS],
            s: vec![0.0; tiles * nb * 2 * TOKENS],
        };
        for t in 0..x.tokens {
            let (tile, lane) = (t / TOKENS, t % TOKENS);
            // the token's place in QActs' tiles of eight
            let at = |b: usize| (t / TILE * nb + b) * TILE + t % TILE;
            let at2 = |b: usize, h: usize| ((t / TILE * nb + b) * 2 + h) * TILE + t % TILE;
            let row = &x.qs[t * k..(t + 1) * k];
            for b in 0..nb {
                let tb = tile * nb + b;
                for g in 0..QK / 4 {
                    let to = (tb * QK / 4 + g) * TOKENS * 4 + lane * 4;
                    a.q[to..to + 4].copy_from_slice(&row[b * QK + g * 4..b * QK + g * 4 + 4]);
                }
                a.d[tb * TOKENS + lane] = x.d[at(b)];
                a.s[(tb * 2) * TOKENS + lane] = x.sums[at2(b, 0)];
                a.s[(tb * 2 + 1) * TOKENS + lane] = x.sums[at2(b, 1)];
            }
        }
        a
    }
}

/// A group of sixteen weight rows, unpacked for the whole of `k`.
#[derive(Default)]
struct Rows {
    /// `[block][row (16)][32 bytes]`.
    q: Vec<u8>,
    /// Scale per `[block][half][row]`.
    dw: Vec<f32>,
    /// Offset per `[block][half][row]`.
    mw: Vec<f32>,
}

impl Rows {
    /// Unpack `rows` rows (at most 16; the others are zero) of `w`.
    ///
    /// # Safety
    /// `w` holds `nb` blocks of `B` for each of those rows, `row_bytes` apart; the processor
    /// has AVX2.
    #[inline(never)]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn fill<B: Block>(&mut self, w: *const u8, row_bytes: usize, rows: usize, nb: usize) {
        unsafe {
            assert!(rows <= ROWS, "a group holds {ROWS} rows");
            let whole = rows == ROWS && self.q.len() == nb * QK * ROWS;
            if !whole {
                // (a short group's other rows must be zero, not the last group's)
                self.q.clear();
                self.q.resize(nb * QK * ROWS, 0);
                self.dw.clear();
                self.dw.resize(nb * 2 * ROWS, 0.0);
                self.mw.clear();
                self.mw.resize(nb * 2 * ROWS, 0.0);
            }
            let (q, dw, mw) = (
                self.q.as_mut_ptr(),
                self.dw.as_mut_ptr(),
                self.mw.as_mut_ptr(),
            );
            for r in 0..rows {
                let row = w.add(r * row_bytes);
                for b in 0..nb {
                    let u = B::unpack_unsigned(row, b);
                    _mm256_storeu_si256(q.add((b * ROWS + r) * QK) as *mut __m256i, u.q);
                    for (h, d) in u.half_scales().into_iter().enumerate() {
                        *dw.add((b * 2 + h) * ROWS + r) = d;
                        *mw.add((b * 2 + h) * ROWS + r) = u.m[h];
                    }
                }
            }
        }
    }
}

/// Every token of `x` (laid out as `tiles`) against the row groups `groups` (of sixteen rows;
/// the last may be short) of the `[n, k]` weight `w`. `UNIFORM`: both halves of a block share
/// scale and offset (every type but Q6_K).
///
/// # Safety
/// [`crate::llm::cpu::amx`] is true (AMX-TILE, AMX-INT8 and AVX-512 F/BW/VL/VNNI, the tile
/// state granted). `w` holds `B` blocks for all `n` rows (`row_bytes` each); `x` is as
/// [`QActs::new`] made it and `tiles` is `Tiles::new(x)`; `y` is `x.tokens × n` and no other
/// thread accesses these groups' rows; `groups` lie inside `0..groups(n)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn groups_of<B: Block, const UNIFORM: bool>(
    w: &[u8],
    row_bytes: usize,
    groups: std::ops::Range<usize>,
    n: usize,
    x: &QActs,
    tiles: &Tiles,
    y: *mut f32,
) {
    unsafe {
        let nb = x.k / QK;
        let token_block = ((TOKEN_BLOCK_BYTES / x.k).clamp(TOKENS, 512)) / TOKENS * TOKENS;
        let mut rows_buf = ROWS_BUF.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
        let g = &mut rows_buf;
        let config: &TileConfig = if UNIFORM { &WHOLE } else { &HALVES };
        asm!("ldtilecfg [{0}]", in(reg) config as *const TileConfig, options(nostack, readonly));
        let mut tb = 0;
        while tb < x.tokens {
            let te = (tb + token_block).min(x.tokens);
            for gi in groups.clone() {
                let r0 = gi * ROWS;
                let rows = (n - r0).min(ROWS);
                g.fill::<B>(w.as_ptr().add(r0 * row_bytes), row_bytes, rows, nb);
                let mut t0 = tb;
                while t0 < te {
                    let valid = (x.tokens - t0).min(TOKENS);
                    if valid == TOKENS {
                        tile::<UNIFORM, true>(g, tiles, nb, t0, valid, r0, rows, n, y);
                    } else {
                        tile::<UNIFORM, false>(g, tiles, nb, t0, valid, r0, rows, n, y);
                    }
                    t0 += TOKENS;
                }
            }
            tb = te;
        }
        asm!("tilerelease", options(nostack, nomem));
        ROWS_BUF.with(|cell| *cell.borrow_mut() = rows_buf);
    }
}

/// Sixteen tokens from `t0` (a multiple of 16; the first `valid` real) against a filled group
/// (`rows` real rows), over all `nb` blocks; writes `y[t0 + t][r0 + r]` (row stride `n`) for
/// the real tokens and rows.
///
/// # Safety
/// As [`groups_of`], whose tile configuration is loaded; `FULL` means `valid` is 16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const UNIFORM: bool, const FULL: bool>(
    g: &Rows,
    x: &Tiles,
    nb: usize,
    t0: usize,
    valid: usize,
    r0: usize,
    rows: usize,
    n: usize,
    y: *mut f32,
) {
    unsafe {
        let tile = t0 / TOKENS;
        let (wq, dw, mw) = (g.q.as_ptr(), g.dw.as_ptr(), g.mw.as_ptr());
        let xq = x.q.as_ptr().add(tile * nb * QK * TOKENS);
        let (xd, xs) = (
            x.d.as_ptr().add(tile * nb * TOKENS),
            x.s.as_ptr().add(tile * nb * 2 * TOKENS),
        );
        let (wide, narrow) = (TOKENS * 4, QK);
        // a block's 32-bit sums, `[half][row][token]` (UNIFORM: the whole block in half 0)
        let mut c = [[0i32; ROWS * TOKENS]; 2];
        // each row's sums over the sixteen tokens
        let mut acc = [_mm512_setzero_ps(); ROWS];
        // start the products of block `$b` into `$c` (uniform; weights and activations
        // through `$w`, `$x`), or into `$lo` and `$hi` (half blocks)
        macro_rules! start {
            ($b:expr, $c:literal, $w:literal, $x:literal) => {{
                let b = $b;
                asm!(
                    concat!("tilezero ", $c),
                    concat!("tileloadd ", $w, ", [{w} + {narrow}]"),
                    concat!("tileloadd ", $x, ", [{x} + {wide}]"),
                    concat!("tdpbusd ", $c, ", ", $w, ", ", $x),
                    w = in(reg) wq.add(b * QK * ROWS),
                    narrow = in(reg) narrow,
                    x = in(reg) xq.add(b * QK * TOKENS),
                    wide = in(reg) wide,
                    options(nostack, readonly),
                );
            }};
            ($b:expr, $lo:literal, $hi:literal) => {{
                let b = $b;
                asm!(
                    concat!("tilezero ", $lo),
                    concat!("tilezero ", $hi),
                    "tileloadd tmm4, [{w} + {narrow}]",
                    "tileloadd tmm6, [{x} + {wide}]",
                    concat!("tdpbusd ", $lo, ", tmm4, tmm6"),
                    "tileloadd tmm5, [{w2} + {narrow}]",
                    "tileloadd tmm7, [{x2} + {wide}]",
                    concat!("tdpbusd ", $hi, ", tmm5, tmm7"),
                    w = in(reg) wq.add(b * QK * ROWS),
                    w2 = in(reg) wq.add(b * QK * ROWS + QK / 2),
                    narrow = in(reg) narrow,
                    x = in(reg) xq.add(b * QK * TOKENS),
                    x2 = in(reg) xq.add(b * QK * TOKENS + QK / 2 * TOKENS),
                    wide = in(reg) wide,
                    options(nostack, readonly),
                );
            }};
        }
        // store sums to `c` and add block `$b`'s scaled sums to every row's
        macro_rules! finish {
            ($b:expr, $lo:literal, $hi:literal) => {{
                let b = $b;
                if UNIFORM {
                    asm!(
                        concat!("tilestored [{c} + {wide}], ", $lo),
                        c = in(reg) c[0].as_mut_ptr(),
                        wide = in(reg) wide,
                        options(nostack),
                    );
                } else {
                    asm!(
                        concat!("tilestored [{c} + {wide}], ", $lo),
                        concat!("tilestored [{c2} + {wide}], ", $hi),
                        c = in(reg) c[0].as_mut_ptr(),
                        c2 = in(reg) c[1].as_mut_ptr(),
                        wide = in(reg) wide,
                        options(nostack),
                    );
                }
                let dx = _mm512_loadu_ps(xd.add(b * TOKENS));
                let s0 = _mm512_loadu_ps(xs.add(b * 2 * TOKENS));
                let s1 = _mm512_loadu_ps(xs.add((b * 2 + 1) * TOKENS));
                // (uniform blocks: one offset for both halves, so their sums added, as the
                // prompt kernel adds them)
                let s01 = _mm512_add_ps(s0, s1);
                macro_rules! row {
                    ($r:literal) => {{
                        let a = &mut acc[$r];
                        let (dw0, mw0) = (*dw.add(b * 2 * ROWS + $r), *mw.add(b * 2 * ROWS + $r));
                        // (the prompt kernel's operations, in its order: the same bits)
                        let p0 = _mm512_loadu_si512(c[0].as_ptr().add($r * TOKENS) as *const _);
                        if UNIFORM {
                            let f = _mm512_mul_ps(_mm512_cvtepi32_ps(p0), dx);
                            *a = _mm512_fmadd_ps(f, _mm512_set1_ps(dw0), *a);
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(mw0), s01, *a);
                        } else {
                            let (dw1, mw1) = (
                                *dw.add((b * 2 + 1) * ROWS + $r),
                                *mw.add((b * 2 + 1) * ROWS + $r),
                            );
                            let p1 =
                                _mm512_loadu_si512(c[1].as_ptr().add($r * TOKENS) as *const _);
                            let f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(p0), dx);
                            let f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(p1), dx);
                            *a = _mm512_fmadd_ps(f0, _mm512_set1_ps(dw0), *a);
                            *a = _mm512_fmadd_ps(f1, _mm512_set1_ps(dw1), *a);
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(mw0), s0, *a);
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(mw1), s1, *a);
                        }
                    }};
                }
                row!(0);
                row!(1);
                row!(2);
                row!(3);
                row!(4);
                row!(5);
                row!(6);
                row!(7);
                row!(8);
                row!(9);
                row!(10);
                row!(11);
                row!(12);
                row!(13);
                row!(14);
                row!(15);
            }};
        }
        let mut b = 0;
        if UNIFORM {
            // block b's sums go to tmm(b % 4), from weights and activations in tmm(4 + b % 2)
            // and tmm(6 + b % 2); block b + 2 is started before block b is finished, so that
            // the tile unit's latency hides behind the scaling
            macro_rules! phase {
                ($c:literal, $next_c:literal, $w:literal, $x:literal) => {
                    if b + 2 < nb {
                        start!(b + 2, $next_c, $w, $x);
                    }
                    finish!(b, $c, $c);
                    b += 1;
                    if b == nb {
                        break;
                    }
                };
            }
            start!(0, "tmm0", "tmm4", "tmm6");
            if nb > 1 {
                start!(1, "tmm1", "tmm5", "tmm7");
            }
            loop {
                phase!("tmm0", "tmm2", "tmm4", "tmm6");
                phase!("tmm1", "tmm3", "tmm5", "tmm7");
                phase!("tmm2", "tmm0", "tmm4", "tmm6");
                phase!("tmm3", "tmm1", "tmm5", "tmm7");
            }
        } else {
            // two sets of sums in turn: block b + 1 is multiplied while block b is scaled
            start!(0, "tmm0", "tmm1");
            loop {
                if b + 1 < nb {
                    start!(b + 1, "tmm2", "tmm3");
                }
                finish!(b, "tmm0", "tmm1");
                b += 1;
                if b == nb {
                    break;
                }
                if b + 1 < nb {
                    start!(b + 1, "tmm0", "tmm1");
                }
                finish!(b, "tmm2", "tmm3");
                b += 1;
                if b == nb {
                    break;
                }
            }
        }
        // rows × tokens to y's tokens × rows
        let mut out = [[0f32; TOKENS]; ROWS];
        for (o, a) in out.iter_mut().zip(&acc) {
            _mm512_storeu_ps(o.as_mut_ptr(), *a);
        }
        let count = if FULL { TOKENS } else { valid };
        for t in 0..count {
            let yt = y.add((t0 + t) * n + r0);
            for (r, o) in out.iter().enumerate().take(rows) {
                *yt.add(r) = o[t];
            }
        }
    }
}

thread_local! {
    /// The row group being multiplied on this thread.
    static ROWS_BUF: std::cell::RefCell<Rows> = std::cell::RefCell::new(Rows::default());
}
