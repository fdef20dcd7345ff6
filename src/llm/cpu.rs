//! What this processor can do, and the `HEARTH_*` switches that choose among the kernels (for
//! comparisons and for machines where a fast path misbehaves), each read once:
//!
//! * `HEARTH_AVX2=0` — none of the AVX2/FMA kernels even where the processor has them
//!   ([`avx2`]): the portable kernels a processor without AVX2 runs, and so no VNNI or AMX
//!   either;
//! * `HEARTH_VNNI=0` — no AVX-512 VNNI even where the processor has it ([`vnni`]), and so no
//!   AMX either;
//! * `HEARTH_AMX=0` — prompts without AMX's tile unit even where the processor has it ([`amx`]);
//! * `HEARTH_LANES=0` — prompts through the tile kernel, not the prompt kernel (`lanes_on`);
//! * `HEARTH_KERNELS=auto|gemm|int|candle` — which kernels multiply quantized weights
//!   (`kernels`);
//! * `HEARTH_KQUANT=0` — the K-quants' few rows through candle's dot products (`kquant_on`).

/// The x86-64-v3 features, where CPUID reports each (leaf, register, bit mask; masks, not bit
/// numbers, so that no shift by a variable needs BMI2's `shrx`), and whether this build lets
/// the compiler use it everywhere (`-C target-cpu`; the default build does not: it runs on
/// any x86-64 and chooses its AVX2 kernels at run time, [`avx2`]).
#[cfg(target_arch = "x86_64")]
#[rustfmt::skip]
const V3: [(&str, u32, Reg, u32, bool); 13] = [
    ("sse3", 1, Reg::Ecx, 1 << 0, cfg!(target_feature = "sse3")),
    ("ssse3", 1, Reg::Ecx, 1 << 9, cfg!(target_feature = "ssse3")),
    ("fma", 1, Reg::Ecx, 1 << 12, cfg!(target_feature = "fma")),
    ("sse4.1", 1, Reg::Ecx, 1 << 19, cfg!(target_feature = "sse4.1")),
    ("sse4.2", 1, Reg::Ecx, 1 << 20, cfg!(target_feature = "sse4.2")),
    ("movbe", 1, Reg::Ecx, 1 << 22, cfg!(target_feature = "movbe")),
    ("popcnt", 1, Reg::Ecx, 1 << 23, cfg!(target_feature = "popcnt")),
    ("avx", 1, Reg::Ecx, 1 << 28, cfg!(target_feature = "avx")),
    ("f16c", 1, Reg::Ecx, 1 << 29, cfg!(target_feature = "f16c")),
    ("bmi1", 7, Reg::Ebx, 1 << 3, cfg!(target_feature = "bmi1")),
    ("avx2", 7, Reg::Ebx, 1 << 5, cfg!(target_feature = "avx2")),
    ("bmi2", 7, Reg::Ebx, 1 << 8, cfg!(target_feature = "bmi2")),
    ("lzcnt", 0x8000_0001, Reg::Ecx, 1 << 5, cfg!(target_feature = "lzcnt")),
];

#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Reg {
    Ebx,
    Ecx,
    Edx,
}

/// Whether the processor has `(leaf, reg, mask)`, asked of CPUID itself:
/// `is_x86_feature_detected!` answers "yes" for every feature the build enables, whatever the
/// processor.
#[cfg(target_arch = "x86_64")]
fn has(leaf: u32, reg: Reg, mask: u32) -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // (a leaf above the highest one the processor reports is not asked)
    let highest = |base: u32| __cpuid(base).eax;
    if leaf >= 0x8000_0000 {
        if highest(0x8000_0000) < leaf {
            return false;
        }
    } else if highest(0) < leaf {
        return false;
    }
    let r = __cpuid_count(leaf, 0);
    let word = match reg {
        Reg::Ebx => r.ebx,
        Reg::Ecx => r.ecx,
        Reg::Edx => r.edx,
    };
    word & mask != 0
}

/// Whether the operating system saves the AVX registers (OSXSAVE, and XCR0's SSE and AVX
/// state bits): without it AVX instructions fault even on a processor that has them.
#[cfg(target_arch = "x86_64")]
fn os_saves_avx() -> bool {
    os_saves(0b110)
}

/// Whether the operating system has turned on every state component of `mask` in XCR0
/// (checking OSXSAVE first, without which XGETBV faults).
#[cfg(target_arch = "x86_64")]
fn os_saves(mask: u32) -> bool {
    if !has(1, Reg::Ecx, 1 << 27) {
        return false;
    }
    let (lo, _hi): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 is defined when OSXSAVE is set (checked above); it reads
    // XCR0 and touches no memory.
    unsafe {
        std::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") _hi,
                        options(nomem, nostack, preserves_flags));
    }
    lo & mask == mask
}

/// Whether the processor (and its operating system) lacks `feature` of [`V3`] although the
/// build needs it; `avx_usable` is [`os_saves_avx`], which the AVX-family features also need.
#[cfg(target_arch = "x86_64")]
fn lacks((name, leaf, reg, mask, built_in): (&str, u32, Reg, u32, bool), avx_usable: bool) -> bool {
    let needs_os = matches!(name, "avx" | "avx2" | "fma" | "f16c");
    built_in && (!has(leaf, reg, mask) || (needs_os && !avx_usable))
}

/// Stops the program with a message when this processor lacks what the build needs, before it
/// would stop at its first such instruction ("Illegal instruction"). The shells call it first.
///
/// The default build needs nothing beyond x86-64 (SSE2), so this only ever stops a copy built
/// with `-C target-cpu=x86-64-v3` or similar. Written so that it runs on any x86-64 processor
/// even then: scalar work only, and the message goes out through the standard library's own
/// code (built for every x86-64); it was checked under `qemu-x86_64 -cpu Nehalem` (a
/// processor without AVX).
#[inline(never)]
pub fn refuse_unsupported_processor() {
    #[cfg(target_arch = "x86_64")]
    {
        use std::io::Write;
        let avx_usable = os_saves_avx();
        if !V3.iter().any(|&f| lacks(f, avx_usable)) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(
            b"error: this copy of Hearth was built for newer processors (with -C target-cpu; \
              the default build runs on any x86-64), and this processor lacks",
        );
        for f in V3.iter().filter(|&&f| lacks(f, avx_usable)) {
            let _ = err.write_all(b" ");
            let _ = err.write_all(f.0.as_bytes());
        }
        let _ = err.write_all(b"; it cannot run here.\n");
        let _ = err.flush();
        std::process::exit(1);
    }
}

/// Keeps freed memory for reuse instead of giving it back to the system at once (glibc's
/// `malloc` only; elsewhere nothing). Every linear layer of the encoder and of a prompt
/// allocates its activations afresh (up to 24 MB); by default glibc maps the largest of
/// those from the system and unmaps them again, so each product paid for page faults and
/// zeroed pages. Blocks up to 32 MB now come from the heap, and up to 64 MB free at its top
/// stay mapped. Measured on `hearth bench ingest` (2,000 passages, binaries alternating):
/// embedding 19.8 / 20.6 s against 23.2 / 24.9 s, peak memory 524 / 537 MB against 498 /
/// 396 MB. The shells call it first, before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes glibc's allocator settings; called before the shells
        // start other threads. A refused value leaves glibc's default (the return is 0).
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 64 << 20);
        }
    }
}

/// Which kernels this build runs on this processor, for `hearth models list`.
pub fn kernels_in_use() -> String {
    let simd = match (avx2(), avx2_present()) {
        (true, _) => "AVX2 + FMA kernels",
        (false, true) => "portable kernels: AVX2 present but turned off (HEARTH_AVX2=0)",
        (false, false) => "portable kernels: no AVX2 + FMA on this processor (slower)",
    };
    let vnni = match (vnni(), vnni_present()) {
        (true, _) if amx() => "AMX tiles for prompts and the encoder",
        (true, _) => "AVX-512 VNNI for prompts and the encoder",
        (false, true) if !avx2() => "AVX-512 VNNI present but turned off with AVX2",
        (false, true) => "AVX-512 VNNI present but turned off (HEARTH_VNNI=0)",
        (false, false) => "no AVX-512 VNNI on this processor",
    };
    format!("{simd}; {vnni}")
}

/// Whether prompts and the encoder multiply on AMX's tile unit: the processor has AMX's tiles
/// and 8-bit products, the operating system saves the tile state and grants it to this
/// process, VNNI is on (the kernel's float steps use AVX-512), and `HEARTH_AMX` does not turn
/// it off. Asked once; the first call asks Linux for the tile state (`arch_prctl`).
pub fn amx() -> bool {
    static A: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *A.get_or_init(|| {
        std::env::var("HEARTH_AMX").as_deref() != Ok("0")
            && vnni()
            && amx_present()
            && amx_granted()
    })
}

/// Whether the processor has AMX-TILE and AMX-INT8 and the operating system saves the tile
/// configuration and data (XCR0 bits 17 and 18).
fn amx_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has(7, Reg::Edx, 1 << 24) && has(7, Reg::Edx, 1 << 25) && os_saves(0b11 << 17)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks Linux for the tile data state for this process (`ARCH_REQ_XCOMP_PERM`; since 5.16 a
/// process must ask before its first tile instruction, or that instruction faults).
fn amx_granted() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM only asks the kernel for a permission;
        // it reads and writes no memory of ours. The syscall clobbers rcx and r11.
        unsafe {
            std::arch::asm!("syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _, lateout("r11") _,
                options(nostack));
        }
        ret == 0
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    false
}

/// Whether the AVX2 kernels run: the processor has AVX2, FMA and F16C, its operating system
/// saves the AVX registers, and `HEARTH_AVX2` does not turn them off. Otherwise the portable
/// kernels run (candle's and scalar code): the same answers, slower. The build itself asks
/// for nothing beyond x86-64, so this is the one place the AVX2 kernels are chosen; each
/// kernel family asks it before its first AVX2 instruction.
#[inline]
pub fn avx2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    // 0 no, 1 yes, 2 not asked yet (a relaxed load: asked once per kernel call)
    static ON: AtomicU8 = AtomicU8::new(2);
    match ON.load(Relaxed) {
        2 => {
            let on = std::env::var("HEARTH_AVX2").as_deref() != Ok("0") && avx2_present();
            ON.store(on as u8, Relaxed);
            on
        }
        v => v == 1,
    }
}

/// Whether the processor has AVX2, FMA and F16C and the operating system saves the AVX
/// registers, whatever `HEARTH_AVX2` says (their rows of [`V3`]). Asked of CPUID itself: `is_x86_feature_detected!`
/// says yes to whatever a build enables.
fn avx2_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        V3.iter()
            .filter(|f| matches!(f.0, "avx2" | "fma" | "f16c"))
            .all(|&(_, leaf, reg, mask, _)| has(leaf, reg, mask))
            && os_saves_avx()
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether this processor has AVX-512 VNNI (one instruction for four byte products summed
/// into 32 bits, and no 16-bit saturation), the AVX2 kernels run (the VNNI ones are built
/// on them), and `HEARTH_VNNI` does not turn it off.
pub fn vnni() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        std::env::var("HEARTH_VNNI").as_deref() != Ok("0") && avx2() && vnni_present()
    })
}

/// Whether this processor has the AVX-512 parts the VNNI kernels use, whatever `HEARTH_VNNI`
/// says.
fn vnni_present() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether prompts take the prompt kernel ([`super::qgemm`]'s `lanes`): 1 yes, 0 no
/// (`HEARTH_LANES=0`), 2 not read yet. A kernel benchmark flips it to compare.
pub(crate) static LANES: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);

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
