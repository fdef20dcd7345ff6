//! Opening a GGUF file: checks that turn a missing, truncated or foreign file into a one-line
//! error before any weight is read, and the metadata the rest of [`crate::llm`] needs.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};
use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K,
    BlockQ8K, BlockQ8_0, BlockQ8_1, GgmlType,
};
use candle_core::quantized::{GgmlDType, QStorage, QTensor, QuantizedType};

use crate::error::{Error, Result};

/// `bytes` bytes at `start` as a vector of `T` blocks.
fn read_blocks<T: GgmlType + 'static>(
    reader: &mut BufReader<File>,
    start: u64,
    bytes: usize,
) -> candle_core::Result<Box<dyn QuantizedType>> {
    let size = std::mem::size_of::<T>();
    if !bytes.is_multiple_of(size) {
        candle_core::bail!("tensor of {bytes} bytes is not a whole number of {size}-byte blocks");
    }
    let mut blocks = vec![T::zeros(); bytes / size];
    // SAFETY: GGML blocks are plain data (integers and 16-bit floats, no padding, no
    // invariants): every byte pattern is a valid block, and the slice covers exactly the
    // vector's initialised elements.
    let buf = unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, bytes) };
    reader.seek(SeekFrom::Start(start))?;
    reader.read_exact(buf)?;
    Ok(Box::new(blocks))
}

/// Bytes the tensor `info` takes in the file.
fn tensor_bytes(info: &TensorInfo) -> usize {
    info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size()
}

/// Architectures this engine runs (`general.architecture`).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["qwen2", "qwen3", "llama", "gemma3"];

/// A GGUF file whose header and tensor table were read and checked against the file size.
pub struct GgufFile {
    /// Header, metadata and tensor table.
    pub content: Content,
    /// The open file, for reading tensors.
    pub reader: BufReader<File>,
    /// `general.architecture`.
    pub architecture: String,
}

impl GgufFile {
    /// Open and validate `path`.
    pub fn open(path: &Path) -> Result<GgufFile> {
        let name = path.display().to_string();
        let invalid = |reason: String| Error::ModelInvalid {
            name: name.clone(),
            reason,
        };
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ModelMissing {
                path: path.to_path_buf(),
                hint: "run `hearth models fetch`, or `hearth models import FILE` for your own GGUF"
                    .into(),
            },
            _ => invalid(format!("cannot open: {e}")),
        })?;
        let len = file.metadata().map_err(|e| invalid(e.to_string()))?.len();
        let mut reader = BufReader::new(file);
        let mut magic = [0u8; 4];
        if reader.read_exact(&mut magic).is_err() || &magic != b"GGUF" {
            return Err(invalid("not a GGUF file (no GGUF header)".into()));
        }
        reader
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| invalid(e.to_string()))?;
        let content = Content::read(&mut reader)
            .map_err(|e| invalid(format!("unreadable GGUF header (truncated?): {e}")))?;
        // A truncated download keeps a valid header: check every tensor lies inside the file.
        for (tname, info) in &content.tensor_infos {
            let end = content.tensor_data_offset + info.offset + tensor_bytes(info) as u64;
            if end > len {
                return Err(invalid(format!(
                    "file is truncated: tensor {tname} ends at byte {end} but the file has {len} \
                     bytes; fetch or copy it again"
                )));
            }
        }
        let architecture = match content.metadata.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(invalid("no general.architecture in GGUF metadata".into())),
        };
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(invalid(format!(
                "unsupported architecture `{architecture}` (supported: {})",
                SUPPORTED_ARCHITECTURES.join(", ")
            )));
        }
        Ok(GgufFile {
            content,
            reader,
            architecture,
        })
    }

    /// Read the tensor `name` straight into its block type: one allocation of the tensor's size
    /// (candle's `Content::tensor` reads the bytes and then copies them, so loading a model
    /// peaked at its largest tensor above its size).
    pub fn tensor(&mut self, name: &str) -> candle_core::Result<QTensor> {
        let info =
            self.content.tensor_infos.get(name).ok_or_else(|| {
                candle_core::Error::Msg(format!("no tensor {name} in the GGUF file"))
            })?;
        let dims = info.shape.dims().to_vec();
        let bytes = tensor_bytes(info);
        let start = self.content.tensor_data_offset + info.offset;
        let r = &mut self.reader;
        let storage: Box<dyn QuantizedType> = match info.ggml_dtype {
            GgmlDType::F32 => read_blocks::<f32>(r, start, bytes)?,
            GgmlDType::F16 => read_blocks::<half::f16>(r, start, bytes)?,
            GgmlDType::BF16 => read_blocks::<half::bf16>(r, start, bytes)?,
            GgmlDType::Q4_0 => read_blocks::<BlockQ4_0>(r, start, bytes)?,
            GgmlDType::Q4_1 => read_blocks::<BlockQ4_1>(r, start, bytes)?,
            GgmlDType::Q5_0 => read_blocks::<BlockQ5_0>(r, start, bytes)?,
            GgmlDType::Q5_1 => read_blocks::<BlockQ5_1>(r, start, bytes)?,
            GgmlDType::Q8_0 => read_blocks::<BlockQ8_0>(r, start, bytes)?,
            GgmlDType::Q8_1 => read_blocks::<BlockQ8_1>(r, start, bytes)?,
            GgmlDType::Q2K => read_blocks::<BlockQ2K>(r, start, bytes)?,
            GgmlDType::Q3K => read_blocks::<BlockQ3K>(r, start, bytes)?,
            GgmlDType::Q4K => read_blocks::<BlockQ4K>(r, start, bytes)?,
            GgmlDType::Q5K => read_blocks::<BlockQ5K>(r, start, bytes)?,
            GgmlDType::Q6K => read_blocks::<BlockQ6K>(r, start, bytes)?,
            GgmlDType::Q8K => read_blocks::<BlockQ8K>(r, start, bytes)?,
        };
        QTensor::new(QStorage::Cpu(storage), dims)
    }

    /// Bytes of weights one decoding step reads: every tensor but the token embedding table,
    /// of which a step reads one row, unless the table is also the output layer (tied).
    pub fn decode_weight_bytes(&self) -> u64 {
        let tied = !self.content.tensor_infos.contains_key("output.weight");
        self.content
            .tensor_infos
            .iter()
            .filter(|(name, _)| tied || name.as_str() != "token_embd.weight")
            .map(|(_, info)| tensor_bytes(info) as u64)
            .sum()
    }

    /// A metadata value, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// `<arch>.<key>` as an unsigned integer.
    pub fn arch_u32(&self, key: &str) -> Result<u32> {
        let full = format!("{}.{key}", self.architecture);
        self.get(&full)
            .and_then(|v| v.to_u32().ok())
            .ok_or_else(|| Error::ModelInvalid {
                name: self.architecture.clone(),
                reason: format!("missing or non-integer GGUF metadata `{full}`"),
            })
    }

    /// `<arch>.<key>` as a float, if present.
    pub fn arch_f32(&self, key: &str) -> Option<f32> {
        self.get(&format!("{}.{key}", self.architecture))
            .and_then(|v| v.to_f32().ok())
    }

    /// A string metadata value, if present.
    pub fn string(&self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }
}
