//! What this processor can do, and the `HEARTH_*` switches that choose among the kernels (for
//! comparisons and for machines where a fast path misbehaves), each read once:
//!
//! * `HEARTH_VNNI=0` — no AVX-512 VNNI even where the processor has it ([`vnni`]);
//! * `HEARTH_LANES=0` — prompts through the tile kernel, not the prompt kernel (`lanes_on`);
//! * `HEARTH_KERNELS=auto|gemm|int|candle` — which kernels multiply quantized weights
//!   (`kernels`);
//! * `HEARTH_KQUANT=0` — the K-quants' few rows through candle's dot products (`kquant_on`).

/// Whether this processor has AVX-512 VNNI (one instruction for four byte products summed
/// into 32 bits, and no 16-bit saturation), and `HEARTH_VNNI` does not turn it off.
pub fn vnni() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var("HEARTH_VNNI").as_deref() != Ok("0")
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// Whether prompts take the prompt kernel ([`super::qgemm`]'s `lanes`): 1 yes, 0 no
/// (`HEARTH_LANES=0`), 2 not read yet. A kernel benchmark flips it to compare.
pub(crate) static LANES: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);

#[cfg_attr(not(target_feature = "avx2"), allow(dead_code))] // used by the AVX2 kernels only
pub(crate) fn lanes_on() -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    match LANES.load(Relaxed) {
        2 => {
            let on = std::env::var("HEARTH_LANES").as_deref() != Ok("0");
            LANES.store(on as u8, Relaxed);
            on
        }
        v => v == 1,
    }
}

/// Which kernels multiply quantized weights (`HEARTH_KERNELS`, to compare):
/// * `auto` (default): the integer kernel for prompts of every type it supports and for the
///   32-value block types' few rows (decoding); K-quant mat-vecs over the weight's own
///   blocks for the K-quants' few rows ([`super::qmat::Decode::Compact`], [`super::kquant`]). Prompts through the
///   integer kernel measured +2 to +32% on the default model from the command line (128 to
///   1,500 tokens), and +52% inside the desktop app, where the dequantize + gemm path ran at
///   0.58x of its command-line speed;
/// * `gemm`: as `auto`, but prompts (except Q8_0) dequantize + gemm (the default before);
/// * `int`: the integer kernel for every type it supports, at every row count;
/// * `candle`: dequantize + gemm for prompts, candle's `QMatMul` (with its repacked Q4_K copy;
///   our AVX2 mat-vec for Q5_0/Q4_1) for single tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernels {
    Auto,
    Gemm,
    Int,
    Candle,
}

pub(crate) fn kernels() -> Kernels {
    static K: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *K.get_or_init(|| match std::env::var("HEARTH_KERNELS").as_deref() {
        Ok("int") => Kernels::Int,
        Ok("gemm") => Kernels::Gemm,
        Ok("candle") => Kernels::Candle,
        _ => Kernels::Auto,
    })
}

/// Whether the K-quants' few rows take our kernels ([`super::kquant`]) rather than candle's dot
/// products (`HEARTH_KQUANT=0`, to compare).
pub(crate) fn kquant_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("HEARTH_KQUANT").as_deref() != Ok("0"))
}
