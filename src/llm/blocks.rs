//! Reading the fields of GGUF weight blocks, shared by the kernels that multiply them
//! ([`super::qgemm`], [`super::kquant`]).

use half::f16;

/// The little-endian f16 at `p`, as f32.
///
/// # Safety
/// `p` and `p + 1` are readable.
#[inline(always)]
pub(crate) unsafe fn f16_at(p: *const u8) -> f32 {
    unsafe { f16::from_bits(u16::from_le_bytes([*p, *p.add(1)])).to_f32() }
}

/// Q4_K's (and Q5_K's) eight 6-bit scales and eight 6-bit mins, from the 12 bytes that pack
/// them, one byte per sub-block: byte `s` of the first word is sub-block `s`'s scale, of the
/// second its min.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the AVX2 kernels only
#[inline(always)]
pub(crate) fn q4k_scales(p: &[u8; 12]) -> (u64, u64) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const TOP2: u32 = 0x0303_0303;
    let word = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let (a, b, c) = (word(0), word(4), word(8));
    // sub-blocks 0..4: the low six bits of bytes 0..4 (scales) and 4..8 (mins);
    // 4..8: four bits from bytes 8..12 and the top two bits of bytes 0..4 / 4..8
    let scales_lo = a & LOW6;
    let mins_lo = b & LOW6;
    let scales_hi = (c & LOW4) | (((a >> 6) & TOP2) << 4);
    let mins_hi = ((c >> 4) & LOW4) | (((b >> 6) & TOP2) << 4);
    (
        scales_lo as u64 | (scales_hi as u64) << 32,
        mins_lo as u64 | (mins_hi as u64) << 32,
    )
}
