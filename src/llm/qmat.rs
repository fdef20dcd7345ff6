//! Quantized weights at speed on a CPU.
//!
//! candle multiplies a quantized weight row by row with integer dot products. That is the right
//! thing for decoding one token (memory bound), but for a prompt of hundreds of tokens it repeats
//! the unpacking of every weight block once per token and runs at a tenth of the FLOPs the cores
//! have. [`QLinear`] therefore takes two paths:
//!
//! * **prefill** (`rows >= PREFILL_MIN_ROWS`): our integer kernel ([`super::qgemm`]), which
//!   unpacks each weight block once for many tokens (its prompt kernel: eight rows per
//!   register, AVX-512 VNNI where the processor has it). (The other path, `HEARTH_KERNELS=gemm`,
//!   dequantizes the weight into a reused per-thread f32 buffer — 17 MB for the 0.5B Qwen's
//!   MLP, 55 MB for the 1.5B's — and multiplies with `gemm`'s kernels over rayon's pool; it
//!   ran at 0.58x of its command-line speed inside the desktop app, for reasons not found.)
//! * **decode**: the 32-value block types go through our integer kernels ([`super::qgemm`],
//!   [`super::kernels`]); the K-quants through our mat-vecs over the weights as they are in
//!   the file ([`super::kquant`]; candle's AVX2 dot products with `HEARTH_KQUANT=0`;
//!   [`Decode::Compact`]), not through candle's `QMatMul`, which on x86
//!   builds a second, expanded copy of every Q4_K weight on first use (the 1.5B model grew from
//!   1.25 to 2.2 GB). Q5_1 (rare) is re-quantized to Q8_0 at load.

use std::sync::Arc;

use candle_core::quantized::k_quants::{
    self, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
    BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, GgmlType,
};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};
use half::{bf16, f16};
use rayon::prelude::*;

use super::cpu;
use super::kernels::{self, Kind};
use super::kquant;
use super::qgemm::{self, QActs};

/// From this many rows (tokens) on, a matmul takes the dequantize + gemm path.
pub const PREFILL_MIN_ROWS: usize = 16;

/// Bytes of f32 weights dequantized per task.
const TILE_BYTES: usize = 256 * 1024;

/// Dequantize `n_rows` rows starting at `row0` of a 2-D quantized tensor with `k` columns.
pub fn dequantize_rows(
    qt: &QTensor,
    k: usize,
    row0: usize,
    n_rows: usize,
    out: &mut [f32],
) -> Result<()> {
    let dtype = qt.dtype();
    let data = qt.data()?;
    let blocks_per_row = k / dtype.block_size();
    let bytes_per_row = blocks_per_row * dtype.type_size();
    let bytes = &data[row0 * bytes_per_row..(row0 + n_rows) * bytes_per_row];
    let out = &mut out[..n_rows * k];
    match dtype {
        GgmlDType::F32 => out.copy_from_slice(cast::<f32>(bytes)),
        GgmlDType::F16 => {
            for (o, v) in out.iter_mut().zip(cast::<f16>(bytes)) {
                *o = v.to_f32()
            }
        }
        GgmlDType::BF16 => {
            for (o, v) in out.iter_mut().zip(cast::<bf16>(bytes)) {
                *o = v.to_f32()
            }
        }
        GgmlDType::Q4_0 => BlockQ4_0::to_float(cast(bytes), out),
        GgmlDType::Q4_1 => BlockQ4_1::to_float(cast(bytes), out),
        GgmlDType::Q5_0 => BlockQ5_0::to_float(cast(bytes), out),
        GgmlDType::Q5_1 => BlockQ5_1::to_float(cast(bytes), out),
        GgmlDType::Q8_0 => BlockQ8_0::to_float(cast(bytes), out),
        GgmlDType::Q8_1 => BlockQ8_1::to_float(cast(bytes), out),
        GgmlDType::Q2K => BlockQ2K::to_float(cast(bytes), out),
        GgmlDType::Q3K => BlockQ3K::to_float(cast(bytes), out),
        GgmlDType::Q4K => BlockQ4K::to_float(cast(bytes), out),
        GgmlDType::Q5K => BlockQ5K::to_float(cast(bytes), out),
        GgmlDType::Q6K => BlockQ6K::to_float(cast(bytes), out),
        GgmlDType::Q8K => BlockQ8K::to_float(cast(bytes), out),
    }
    Ok(())
}

/// A quantized tensor's bytes as its blocks.
fn cast<T>(bytes: &[u8]) -> &[T] {
    // SAFETY: candle's CPU storage is a Vec<T> of this very block type, so the bytes are
    // aligned for T and a whole number of T (rows are whole blocks).
    unsafe {
        std::slice::from_raw_parts(
            bytes.as_ptr() as *const T,
            bytes.len() / std::mem::size_of::<T>(),
        )
    }
}

/// Up to this many tokens (the checking of speculative tokens: a token and up to eight drafted
/// ones), the 32-value block types go through the mat-vec kernels' several-token form
/// ([`kernels::matmul`]) rather than the integer kernel's tiles. On the default model (mostly
/// Q5_0) after 512 prompt tokens, one pass over 2 / 4 / 8 tokens took 29.8 / 45.9 / 81.3 ms
/// against 49.1 / 63.7 / 95.5 ms through the tiles (one decode step: 19–21 ms).
const FEW_TOKENS: usize = 9;

/// The mat-vec kernel of a 32-value block type, if it has one.
fn block_kind(dtype: GgmlDType) -> Option<Kind> {
    match dtype {
        GgmlDType::Q5_0 => Some(Kind::Q5_0),
        GgmlDType::Q4_1 => Some(Kind::Q4_1),
        GgmlDType::Q8_0 => Some(Kind::Q8_0),
        _ => None,
    }
}

/// How a few rows (decoding) are multiplied.
#[derive(Debug, Clone)]
enum Decode {
    /// candle's quantized mat-vec (types none of the paths below take).
    Candle(QMatMul),
    /// The K-quants over the weight's own blocks, no repacked copy: our mat-vecs
    /// ([`kquant`]) where they apply, else candle's dot products.
    Compact(GgmlDType),
    /// Our AVX2 mat-vec kernels for types candle has no SIMD dot product for.
    Kernel(Kind),
    /// Our integer product ([`qgemm`]) for every row count.
    Int(GgmlDType),
}

/// Whether `dtype` goes through [`qgemm`] under the current choice.
fn integer_kernel_for(dtype: GgmlDType) -> bool {
    let k_quant = matches!(dtype, GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K);
    qgemm::supports(dtype)
        && match cpu::kernels() {
            cpu::Kernels::Auto | cpu::Kernels::Gemm => !k_quant,
            cpu::Kernels::Int => true,
            cpu::Kernels::Candle => false,
        }
}

/// A linear layer `y = x W^T (+ b)` over a quantized weight `W` of shape `[out, in]`.
#[derive(Debug, Clone)]
pub struct QLinear {
    weight: Arc<QTensor>,
    decode: Decode,
    bias: Option<Tensor>,
    bias_vec: Option<Vec<f32>>,
    out_features: usize,
    in_features: usize,
}

impl QLinear {
    /// Wrap `weight` (`[out, in]`). Q5_1 (no SIMD dot product anywhere here) is re-quantized
    /// to Q8_0.
    pub fn new(weight: QTensor, bias: Option<Tensor>) -> Result<Self> {
        let weight = if weight.dtype() == GgmlDType::Q5_1 {
            let f = weight.dequantize(&Device::Cpu)?;
            QTensor::quantize(&f, GgmlDType::Q8_0)?
        } else {
            weight
        };
        Self::shared(Arc::new(weight), bias)
    }

    /// Wrap a weight that is also used elsewhere (a tied embedding table), without a copy.
    pub fn shared(weight: Arc<QTensor>, bias: Option<Tensor>) -> Result<Self> {
        let (out_features, in_features) = weight.shape().dims2()?;
        let on_cpu = weight.device().is_cpu() && in_features % kernels::QK == 0;
        let k_blocks = in_features.is_multiple_of(256);
        let decode = match weight.dtype() {
            t if on_cpu && integer_kernel_for(t) => Decode::Int(t),
            GgmlDType::Q5_0 if on_cpu => Decode::Kernel(Kind::Q5_0),
            GgmlDType::Q4_1 if on_cpu => Decode::Kernel(Kind::Q4_1),
            t @ (GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K)
                if on_cpu && k_blocks && cpu::kernels() != cpu::Kernels::Candle =>
            {
                Decode::Compact(t)
            }
            _ => Decode::Candle(QMatMul::from_arc(weight.clone())?),
        };
        let bias_vec = match &bias {
            Some(b) => Some(b.flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        Ok(Self {
            weight,
            decode,
            bias,
            bias_vec,
            out_features,
            in_features,
        })
    }

    /// `W x (+ b)` for one vector (the decode step, without tensor bookkeeping).
    pub fn matvec(&self, x: &[f32]) -> Result<Vec<f32>> {
        let k = self.in_features;
        let mut y = match &self.decode {
            Decode::Kernel(kind) => self.block_rows(*kind, x)?,
            // the Q5_0, Q8_0 and Q4_1 mat-vec kernels do the integer kernel's arithmetic to
            // the bit (tested), faster for one token
            Decode::Int(dtype) => match block_kind(*dtype) {
                Some(kind) => self.block_rows(kind, x)?,
                None => self.int_rows(*dtype, x)?,
            },
            Decode::Compact(dtype) => self.compact_rows(*dtype, x)?,
            Decode::Candle(mm) => mm
                .forward(&Tensor::from_slice(x, (1, k), &Device::Cpu)?)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        };
        self.add_bias(&mut y);
        Ok(y)
    }

    /// `W x` for each `in`-long row of `x` through the mat-vec kernel of a 32-value block type
    /// (no bias): each row's result is the same whatever the number of rows.
    fn block_rows(&self, kind: Kind, x: &[f32]) -> Result<Vec<f32>> {
        let (k, n) = (self.in_features, self.out_features);
        let mut y = vec![0f32; x.len() / k * n];
        kernels::matmul(kind, &self.weight.data()?, n, k, x, &mut y);
        Ok(y)
    }

    /// `W x` for each `in`-long row of `x` through the integer kernel (no bias).
    fn int_rows(&self, dtype: GgmlDType, x: &[f32]) -> Result<Vec<f32>> {
        let acts = QActs::new(x, self.in_features);
        let mut y = vec![0f32; acts.tokens * self.out_features];
        qgemm::matmul(
            dtype,
            &self.weight.data()?,
            self.out_features,
            &acts,
            &mut y,
        );
        Ok(y)
    }

    /// `W x` for each `in`-long row of `x` over the weight's own K-quant blocks, through
    /// [`kquant`] (or candle's dot products: `HEARTH_KQUANT=0`, or types it lacks), no bias.
    /// Each row's result is the same whatever the number of rows.
    fn compact_rows(&self, dtype: GgmlDType, x: &[f32]) -> Result<Vec<f32>> {
        let (k, n) = (self.in_features, self.out_features);
        let m = x.len() / k;
        let raw = self.weight.data()?;
        let mut y = vec![0f32; m * n];
        if kquant::supports(dtype) && cpu::kquant_on() {
            kquant::matmul(dtype, &raw, n, &kquant::Q8K::new(x, k), &mut y);
            return Ok(y);
        }
        match dtype {
            GgmlDType::Q4K => k_quants::matmul::<BlockQ4K>((m, k, n), x, cast(&raw), &mut y)?,
            GgmlDType::Q5K => k_quants::matmul::<BlockQ5K>((m, k, n), x, cast(&raw), &mut y)?,
            GgmlDType::Q6K => k_quants::matmul::<BlockQ6K>((m, k, n), x, cast(&raw), &mut y)?,
            other => candle_core::bail!("no compact kernel for {other:?}"),
        }
        Ok(y)
    }

    /// Add the bias (if any) to each `out`-long row of `y`.
    fn add_bias(&self, y: &mut [f32]) {
        if let Some(b) = &self.bias_vec {
            for row in y.chunks_mut(self.out_features) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v += b;
                }
            }
        }
    }

    /// `W x (+ b)` for each of the `x.len() / in` vectors of `x` (row major), computed so that
    /// every row's result is the same as [`QLinear::matvec`]'s whatever the number of rows:
    /// the integer kernel is batch-invariant, other types go one row at a time. Decoding and
    /// the verification of speculative tokens both use it, so they agree to the bit.
    pub fn rows(&self, x: &[f32]) -> Result<Vec<f32>> {
        let k = self.in_features;
        let tokens = x.len() / k;
        let few = match &self.decode {
            Decode::Kernel(kind) => Some(*kind),
            Decode::Int(dtype) if tokens <= FEW_TOKENS => block_kind(*dtype),
            _ => None,
        };
        if let (Some(kind), true) = (few, tokens > 1) {
            let mut y = self.block_rows(kind, x)?;
            self.add_bias(&mut y);
            return Ok(y);
        }
        match &self.decode {
            Decode::Int(dtype) if x.len() > k => {
                let mut y = self.int_rows(*dtype, x)?;
                self.add_bias(&mut y);
                Ok(y)
            }
            // the K-quant products give every row the dot products a single row gets (ours:
            // the same steps per token; candle's: the same `vec_dot_4` per weight-row quad),
            // and read the weights once
            Decode::Compact(dtype) if x.len() > k => {
                let mut y = self.compact_rows(*dtype, x)?;
                self.add_bias(&mut y);
                Ok(y)
            }
            _ => {
                let mut y = Vec::with_capacity(x.len() / k * self.out_features);
                for row in x.chunks(k) {
                    y.extend(self.matvec(row)?);
                }
                Ok(y)
            }
        }
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    fn forward_kernel(&self, kind: Kind, x: &Tensor) -> Result<Tensor> {
        let n = self.out_features;
        let mut out_dims = x.dims().to_vec();
        *out_dims.last_mut().expect("non-scalar") = n;
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        Tensor::from_vec(self.block_rows(kind, &xs)?, out_dims, &Device::Cpu)
    }

    /// The weight type when `x` goes through the integer kernel ([`Module::forward`] and
    /// [`QLinear::forward_all`] both ask here): a prompt of any supported type under
    /// `cpu::Kernels::Auto`; the few rows of an `Int` layer; its prompts too, except under
    /// `cpu::Kernels::Gemm` (which dequantizes all but Q8_0).
    fn int_kernel_for(&self, x: &Tensor) -> Option<GgmlDType> {
        let rows = x.elem_count() / self.in_features;
        let cpu_f32 = x.device().is_cpu() && x.dtype() == DType::F32;
        let dtype = self.weight.dtype();
        match &self.decode {
            _ if cpu_f32
                && rows >= PREFILL_MIN_ROWS
                && cpu::kernels() == cpu::Kernels::Auto
                && qgemm::supports(dtype) =>
            {
                Some(dtype)
            }
            Decode::Int(dtype)
                if cpu_f32
                    && (rows < PREFILL_MIN_ROWS
                        || cpu::kernels() != cpu::Kernels::Gemm
                        || *dtype == GgmlDType::Q8_0) =>
            {
                Some(*dtype)
            }
            _ => None,
        }
    }

    /// Each layer of `layers` (all with the same input size) applied to `x`, as
    /// [`Module::forward`] would; when they all take the integer kernel, `x` is quantized
    /// once for all of them (a layer's query, key and value; its gate and up projections).
    pub fn forward_all(layers: &[&QLinear], x: &Tensor) -> Result<Vec<Tensor>> {
        let Some(first) = layers.first() else {
            return Ok(Vec::new());
        };
        let kinds: Vec<Option<GgmlDType>> = layers.iter().map(|l| l.int_kernel_for(x)).collect();
        let same_k = layers.iter().all(|l| l.in_features == first.in_features);
        if !same_k || kinds.iter().any(Option::is_none) {
            return layers.iter().map(|l| l.forward(x)).collect();
        }
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let acts = QActs::new(&xs, first.in_features);
        layers
            .iter()
            .zip(kinds.into_iter().flatten())
            .map(|(l, dtype)| {
                let mut y = vec![0f32; acts.tokens * l.out_features];
                qgemm::matmul(dtype, &l.weight.data()?, l.out_features, &acts, &mut y);
                l.add_bias(&mut y);
                let mut dims = x.dims().to_vec();
                *dims.last_mut().expect("non-scalar") = l.out_features;
                Tensor::from_vec(y, dims, &Device::Cpu)
            })
            .collect()
    }

    fn forward_compact(&self, dtype: GgmlDType, x: &Tensor) -> Result<Tensor> {
        let mut out_dims = x.dims().to_vec();
        *out_dims.last_mut().expect("non-scalar") = self.out_features;
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        Tensor::from_vec(self.compact_rows(dtype, &xs)?, out_dims, &Device::Cpu)
    }

    fn forward_int(&self, dtype: GgmlDType, x: &Tensor) -> Result<Tensor> {
        let mut out_dims = x.dims().to_vec();
        *out_dims.last_mut().expect("non-scalar") = self.out_features;
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        Tensor::from_vec(self.int_rows(dtype, &xs)?, out_dims, &Device::Cpu)
    }

    fn forward_prefill(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.in_features;
        let n = self.out_features;
        let mut out_dims = x.dims().to_vec();
        let m = x.elem_count() / k;
        *out_dims.last_mut().expect("non-scalar") = n;
        let x = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut y = vec![0f32; m * n];
        let threads = rayon::current_num_threads();
        DEQUANTIZED.with(|buf| -> Result<()> {
            let mut w = buf.borrow_mut();
            if w.len() < n * k {
                w.resize(n * k, 0.0);
            }
            // Dequantize all rows, spread over the pool (cheap next to the multiply).
            let rows_per_task = (TILE_BYTES / (4 * k)).max(1);
            w[..n * k]
                .par_chunks_mut(rows_per_task * k)
                .enumerate()
                .try_for_each(|(t, tile)| {
                    let r0 = t * rows_per_task;
                    dequantize_rows(&self.weight, k, r0, tile.len() / k, tile)
                })?;
            // SAFETY: y is m x n row major, x is m x k row major, w is n x k row major and is
            // read as its transpose (k x n); all three buffers are large enough.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    if threads > 1 {
                        gemm::Parallelism::Rayon(threads)
                    } else {
                        gemm::Parallelism::None
                    },
                );
            }
            Ok(())
        })?;
        Tensor::from_vec(y, out_dims, &Device::Cpu)
    }
}

thread_local! {
    /// The dequantized weight of the matmul running on this thread (reused between layers).
    static DEQUANTIZED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Module for QLinear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.elem_count() / self.in_features;
        let cpu_f32 = x.device().is_cpu() && x.dtype() == DType::F32;
        let prompt = cpu_f32 && rows >= PREFILL_MIN_ROWS;
        // the integer kernel where it applies (see `int_kernel_for`, `cpu::Kernels::Auto`)
        let y = if let Some(dtype) = self.int_kernel_for(x) {
            self.forward_int(dtype, x)?
        } else {
            self.forward_other(x, prompt, cpu_f32)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

impl QLinear {
    /// [`Module::forward`] where the integer kernel does not apply (no bias).
    fn forward_other(&self, x: &Tensor, prompt: bool, cpu_f32: bool) -> Result<Tensor> {
        Ok(match &self.decode {
            _ if prompt => self.forward_prefill(x)?,
            Decode::Kernel(kind) if cpu_f32 => self.forward_kernel(*kind, x)?,
            Decode::Compact(dtype) if cpu_f32 => self.forward_compact(*dtype, x)?,
            Decode::Kernel(_) | Decode::Int(_) | Decode::Compact(_) => {
                let w = self.weight.dequantize(x.device())?;
                x.broadcast_matmul(&w.t()?)?
            }
            Decode::Candle(mm) => mm.forward(x)?,
        })
    }
}

/// A token embedding table kept quantized; rows are dequantized on lookup.
#[derive(Debug, Clone)]
pub struct QEmbedding {
    weight: Arc<QTensor>,
    dim: usize,
}

impl QEmbedding {
    /// Wrap a `[vocab, dim]` table.
    pub fn new(weight: Arc<QTensor>) -> Result<Self> {
        let (_, dim) = weight.shape().dims2()?;
        Ok(Self { weight, dim })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.weight.shape().dims()[0]
    }

    /// The embedding of one token.
    pub fn row(&self, id: u32) -> Result<Vec<f32>> {
        if id as usize >= self.vocab() {
            candle_core::bail!("token id {id} out of range (vocab {})", self.vocab());
        }
        let mut out = vec![0f32; self.dim];
        dequantize_rows(&self.weight, self.dim, id as usize, 1, &mut out)?;
        Ok(out)
    }

    /// Embeddings of `ids` as a `[1, ids.len(), dim]` tensor.
    pub fn forward(&self, ids: &[u32]) -> Result<Tensor> {
        let vocab = self.vocab();
        let mut out = vec![0f32; ids.len() * self.dim];
        for (i, &id) in ids.iter().enumerate() {
            if id as usize >= vocab {
                candle_core::bail!("token id {id} out of range (vocab {vocab})");
            }
            dequantize_rows(
                &self.weight,
                self.dim,
                id as usize,
                1,
                &mut out[i * self.dim..],
            )?;
        }
        Tensor::from_vec(out, (1, ids.len(), self.dim), &Device::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(n: usize, k: usize) -> Tensor {
        let v: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        Tensor::from_vec(v, (n, k), &Device::Cpu).unwrap()
    }

    #[test]
    fn prefill_and_decode_paths_agree_with_dense_matmul() {
        let (n, k) = (300, 256);
        let w = weights(n, k);
        for dtype in [
            GgmlDType::Q8_0,
            GgmlDType::Q5_0,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
            GgmlDType::Q4_1,
        ] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            let lin = QLinear::new(q, None).unwrap();
            // (types without a fast dot product were re-quantized to Q8_0 at load)
            let dense = lin.weight.dequantize(&Device::Cpu).unwrap();
            let max_err = |want: &Tensor, got: Tensor| {
                let err = (want - got).unwrap().abs().unwrap().max_all().unwrap();
                err.to_scalar::<f32>().unwrap()
            };
            for m in [1, 40] {
                let x = weights(m, k);
                let want = x.matmul(&dense.t().unwrap()).unwrap();
                let err = max_err(&want, lin.forward(&x).unwrap());
                // the integer kernels quantize the activations to 8 bits: allow its rounding
                assert!(err < 0.5, "{dtype:?} m={m}: max abs err {err}");
                // the dequantize + gemm path is exact
                let err = max_err(&want, lin.forward_prefill(&x).unwrap());
                assert!(
                    err < 1e-3,
                    "{dtype:?} dequantize + gemm must be exact: {err}"
                );
            }
        }
    }

    #[test]
    fn k_quants_decode_over_their_own_blocks_like_candle() {
        let (n, k) = (300, 512);
        let w = weights(n, k);
        let x = weights(3, k);
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q5K, GgmlDType::Q6K] {
            let q = Arc::new(QTensor::quantize(&w, dtype).unwrap());
            let lin = QLinear::shared(q.clone(), None).unwrap();
            assert!(matches!(lin.decode, Decode::Compact(_)), "{dtype:?}");
            // the same products as candle's QMatMul (which keeps a repacked copy for Q4_K)
            let want = QMatMul::from_arc(q).unwrap().forward(&x).unwrap();
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let got = lin.rows(&xs).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-3 * (1.0 + w.abs()),
                    "{dtype:?}: {g} vs {w}"
                );
            }
            // one row at a time or three at once: the same bits
            for (i, row) in xs.chunks(k).enumerate() {
                assert_eq!(lin.matvec(row).unwrap(), got[i * n..(i + 1) * n]);
            }
            let batch = lin.forward(&x).unwrap().flatten_all().unwrap();
            assert_eq!(batch.to_vec1::<f32>().unwrap(), got, "{dtype:?}");
        }
    }

    #[test]
    fn embedding_rows_match_dequantized_table() {
        let w = weights(64, 64);
        let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap());
        let dense = q.dequantize(&Device::Cpu).unwrap();
        let emb = QEmbedding::new(q).unwrap();
        let got = emb.forward(&[3, 60]).unwrap().squeeze(0).unwrap();
        let want = Tensor::cat(&[dense.get(3).unwrap(), dense.get(60).unwrap()], 0)
            .unwrap()
            .reshape((2, 64))
            .unwrap();
        let err = (want - got).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(err.to_scalar::<f32>().unwrap(), 0.0);
        assert!(emb.forward(&[64]).is_err());
    }
}
