//! Checkpoints: reading the Hugging Face and official formats, loading them into [`ConditionalDetr`],
//! and writing HF-compatible safetensors and the compact Burnpack the browser loads.
//!
//! Every format is first read into [`NamedTensor`]s under the **Hugging Face parameter names** of
//! `microsoft/conditional-detr-resnet-50` (PyTorch layout), or of `facebook/detr-resnet-50` for DETR
//! (`model_type: "detr"`; HF layout only: the same backbone, projection, query embedding, encoder and head
//! names, DETR's decoder layers with `self_attn` / `encoder_attn` q/k/v/out projections). Official Atten4Vis names are renamed with the
//! rules of transformers' conversion script (the fused encoder `in_proj_weight`/`in_proj_bias` split
//! into q/k/v). The HF names then map onto this crate's module tree with a short table:
//!
//! | Hugging Face                              | this crate                 |
//! |-------------------------------------------|----------------------------|
//! | `model.backbone.conv_encoder.model.`      | `model.backbone.`          |
//! | `….downsample.0.` / `….downsample.1.`     | `….downsample.conv.` / `….downsample.bn.` |
//! | LayerNorm `weight` / `bias`               | `gamma` / `beta`           |
//! | Linear `weight` `[out, in]`               | transposed to `[in, out]`  |
//!
//! (the last two rows are burn-store's `PyTorchToBurnAdapter`). Loading is strict: every checkpoint key
//! must be used and every parameter filled, otherwise the error lists the missing, unexpected and
//! mis-shaped keys. The Burnpack written by [`write_burnpack`] holds the same HF-named tensors
//! (optionally as f16) plus the `config.json`, so one file is a complete model.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, bridge, burn_pack};
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::ConditionalDetrConfig;
use crate::model::backbone::ResNetConfig;
use crate::model::transformer::DropoutRates;
use crate::model::{ConditionalDetr, rates_of};
use crate::readback::{ReadbackError, read_floats};

/// Errors while reading, matching or writing weights. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{file}: not a Conditional DETR (or DETR) checkpoint: {message}")]
    Format { file: String, message: String },
    #[error("{file}: does not match the model configuration: {message}")]
    Mismatch { file: String, message: String },
    #[error("{file}: cannot write: {message}")]
    Write { file: String, message: String },
    #[error(transparent)]
    Readback(#[from] ReadbackError),
}

/// The layout a checkpoint was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Hugging Face `model.safetensors` (hub names).
    HfSafetensors,
    /// The official parameter names stored as safetensors.
    OfficialSafetensors,
    /// The official release `.pth` (`{"model": state_dict}`).
    OfficialPth,
    /// This project's Burnpack (HF names, optional f16, embedded `config.json`).
    Burnpack,
}

impl std::fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HfSafetensors => "Hugging Face safetensors",
            Self::OfficialSafetensors => "official names in safetensors",
            Self::OfficialPth => "official PyTorch .pth",
            Self::Burnpack => "Burnpack",
        })
    }
}

/// A host tensor in PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The tensors of a checkpoint under their Hugging Face names.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub source: String,
    pub format: CheckpointFormat,
    pub tensors: Vec<NamedTensor>,
    /// A `config.json` stored in the file (Burnpack, or safetensors metadata key `config`).
    pub config: Option<ConditionalDetrConfig>,
}

impl Checkpoint {
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.iter().find(|t| t.name == name).map(|t| t.shape.as_slice())
    }
}

const SAFETENSORS_CONFIG_KEY: &str = "config";
const BURNPACK_CONFIG_KEY: &str = "config.json";
const HF_BACKBONE: &str = "model.backbone.conv_encoder.model.";

/// Reads a checkpoint from memory (safetensors or Burnpack), detecting the format from the bytes.
/// `.pth` files need [`read_checkpoint_file`] (their reader works on files).
pub fn read_checkpoint_bytes(bytes: Vec<u8>, source: &str) -> Result<Checkpoint, WeightsError> {
    let format_err = |message: &str| WeightsError::Format { file: source.to_string(), message: message.to_string() };
    if bytes.len() >= 4 && bytes[..4] == burn_pack::MAGIC_NUMBER.to_le_bytes() {
        return read_burnpack(bytes, source);
    }
    if looks_like_safetensors(&bytes) {
        return read_safetensors(&bytes, source);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80) {
        return Err(format_err(
            "this is a PyTorch .pth file; convert it first with `cdetr convert` (only safetensors and Burnpack load from memory)",
        ));
    }
    if bytes.is_empty() {
        return Err(format_err("the file is empty"));
    }
    Err(format_err("expected Hugging Face safetensors, an official .pth or a Burnpack file"))
}

/// Reads a checkpoint file of any supported format.
#[cfg(not(target_family = "wasm"))]
pub fn read_checkpoint_file(path: &std::path::Path) -> Result<Checkpoint, WeightsError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| WeightsError::Read { file: source.clone(), message: e.to_string() })?;
    if !looks_like_safetensors(&bytes) && (bytes.starts_with(b"PK\x03\x04") || bytes.first() == Some(&0x80)) {
        drop(bytes);
        return read_pth(path, &source);
    }
    read_checkpoint_bytes(bytes, &source)
}

fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[8] == b'{'
}

fn read_safetensors(bytes: &[u8], source: &str) -> Result<Checkpoint, WeightsError> {
    let err = |message: String| WeightsError::Format { file: source.to_string(), message };
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let data_start = 8usize
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| err(format!("truncated: the header claims {header_len} bytes, the file has {}", bytes.len())))?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..data_start]).map_err(|e| err(format!("corrupt safetensors header: {e}")))?;
    let data = &bytes[data_start..];
    let mut config = None;
    let mut tensors = Vec::with_capacity(header.len());
    for (name, entry) in header {
        if name == "__metadata__" {
            if let Some(text) = entry.get(SAFETENSORS_CONFIG_KEY).and_then(|v| v.as_str()) {
                config = Some(
                    ConditionalDetrConfig::from_json(text, &format!("{source} (embedded config)"))
                        .map_err(|e| err(e.to_string()))?,
                );
            }
            continue;
        }
        let dtype = entry.get("dtype").and_then(|v| v.as_str()).unwrap_or("");
        let shape: Vec<usize> = entry
            .get("shape")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| err(format!("tensor `{name}` has no valid shape")))?;
        let offsets: [usize; 2] = entry
            .get("data_offsets")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| err(format!("tensor `{name}` has no valid data_offsets")))?;
        let raw = data
            .get(offsets[0]..offsets[1])
            .ok_or_else(|| err(format!("truncated: tensor `{name}` lies beyond the end of the file")))?;
        let values = decode(raw, dtype, &shape).map_err(|m| err(format!("tensor `{name}`: {m}")))?;
        tensors.push(NamedTensor { name, shape, data: values });
    }
    finish(source, tensors, config, CheckpointFormat::HfSafetensors)
}

/// Decodes little-endian floats of a safetensors/PyTorch dtype into f32.
fn decode(raw: &[u8], dtype: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let numel = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    let size: usize = match dtype {
        "F32" => 4,
        "F16" | "BF16" => 2,
        "F64" => 8,
        other => return Err(format!("unsupported dtype {other} (expected a float type)")),
    };
    if Some(raw.len()) != numel.checked_mul(size) {
        return Err(format!("{} bytes for shape {shape:?} of {dtype}", raw.len()));
    }
    Ok(match dtype {
        "F32" => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
        "F16" => raw.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32()).collect(),
        "BF16" => raw.chunks_exact(2).map(|c| half::bf16::from_le_bytes(c.try_into().unwrap()).to_f32()).collect(),
        _ => raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
    })
}

#[cfg(not(target_family = "wasm"))]
fn read_pth(path: &std::path::Path, source: &str) -> Result<Checkpoint, WeightsError> {
    use burn::store::pytorch_reader::{DType, PytorchReader};
    let err = |message: String| WeightsError::Format { file: source.to_string(), message };
    let reader = PytorchReader::with_top_level_key(path, "model")
        .or_else(|_| PytorchReader::new(path))
        .map_err(|e| err(format!("cannot read the PyTorch checkpoint (truncated or corrupt?): {e}")))?;
    let mut tensors = Vec::new();
    for (name, tensor) in reader.into_tensors() {
        let dtype = match tensor.dtype() {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F64 => "F64",
            other => {
                if name.ends_with("num_batches_tracked") {
                    continue;
                }
                return Err(err(format!("tensor `{name}` has dtype {other:?}, expected a float type")));
            }
        };
        let shape = tensor.shape().to_vec();
        let raw = tensor.read().map_err(|e| err(format!("tensor `{name}`: {e}")))?;
        let data = decode(&raw, dtype, &shape).map_err(|m| err(format!("tensor `{name}`: {m}")))?;
        tensors.push(NamedTensor { name, shape, data });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ckpt = finish(source, tensors, None, CheckpointFormat::OfficialPth)?;
    ckpt.format = CheckpointFormat::OfficialPth;
    Ok(ckpt)
}

fn read_burnpack(bytes: Vec<u8>, source: &str) -> Result<Checkpoint, WeightsError> {
    let err = |message: String| WeightsError::Format { file: source.to_string(), message };
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| err(format!("corrupt Burnpack: {e}")))?;
    let config = match reader.metadata().get(BURNPACK_CONFIG_KEY) {
        Some(text) => Some(
            ConditionalDetrConfig::from_json(text, &format!("{source} (embedded config)"))
                .map_err(|e| err(e.to_string()))?,
        ),
        None => None,
    };
    let mut tensors = Vec::new();
    for t in reader.into_tensors().map_err(|e| err(format!("corrupt Burnpack: {e}")))? {
        let name = t.name.clone();
        let data = bridge::into_data(t).map_err(|e| err(format!("tensor `{name}`: {e}")))?;
        let shape = data.shape().to_vec();
        let values = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| err(format!("tensor `{name}`: {e:?}")))?;
        tensors.push(NamedTensor { name, shape, data: values });
    }
    finish(source, tensors, config, CheckpointFormat::Burnpack)
}

/// Renames official checkpoints to HF names and drops bookkeeping buffers.
fn finish(
    source: &str,
    mut tensors: Vec<NamedTensor>,
    config: Option<ConditionalDetrConfig>,
    format: CheckpointFormat,
) -> Result<Checkpoint, WeightsError> {
    tensors.retain(|t| !t.name.ends_with("num_batches_tracked"));
    if tensors.is_empty() {
        return Err(WeightsError::Format { file: source.to_string(), message: "it holds no tensors".into() });
    }
    let official = tensors.iter().any(|t| {
        t.name.starts_with("transformer.")
            || t.name.starts_with("backbone.0.body.")
            || t.name.starts_with("input_proj.")
    });
    let format = match (format, official) {
        (CheckpointFormat::HfSafetensors, true) => CheckpointFormat::OfficialSafetensors,
        (f, _) => f,
    };
    let tensors = if official { official_to_hf(tensors, source)? } else { tensors };
    Ok(Checkpoint { source: source.to_string(), format, tensors, config })
}

/// The renaming rules of transformers' `convert_conditional_detr_original_pytorch_checkpoint_to_pytorch.py`.
pub fn official_name_to_hf(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("backbone.0.body.") {
        return Some(format!("{HF_BACKBONE}{rest}"));
    }
    for (from, to) in [
        ("input_proj.", "model.input_projection."),
        ("query_embed.", "model.query_position_embeddings."),
        ("class_embed.", "class_labels_classifier."),
        ("bbox_embed.", "bbox_predictor."),
        ("transformer.decoder.norm.", "model.decoder.layernorm."),
        ("transformer.decoder.ref_point_head.", "model.decoder.ref_point_head."),
        ("transformer.decoder.query_scale.", "model.decoder.query_scale."),
    ] {
        if let Some(rest) = name.strip_prefix(from) {
            return Some(format!("{to}{rest}"));
        }
    }
    for stack in ["encoder", "decoder"] {
        let prefix = format!("transformer.{stack}.layers.");
        let Some(rest) = name.strip_prefix(&prefix) else { continue };
        let (index, field) = rest.split_once('.')?;
        let renamed = match (stack, field.split_once('.').map(|p| p.0).unwrap_or(field)) {
            (_, "linear1") => field.replacen("linear1", "fc1", 1),
            (_, "linear2") => field.replacen("linear2", "fc2", 1),
            ("encoder", "norm1") | ("decoder", "norm1") => field.replacen("norm1", "self_attn_layer_norm", 1),
            ("encoder", "norm2") => field.replacen("norm2", "final_layer_norm", 1),
            ("decoder", "norm2") => field.replacen("norm2", "encoder_attn_layer_norm", 1),
            ("decoder", "norm3") => field.replacen("norm3", "final_layer_norm", 1),
            ("decoder", "cross_attn") => field.replacen("cross_attn", "encoder_attn", 1),
            _ => field.to_string(),
        };
        return Some(format!("model.{stack}.layers.{index}.{renamed}"));
    }
    None
}

fn official_to_hf(tensors: Vec<NamedTensor>, source: &str) -> Result<Vec<NamedTensor>, WeightsError> {
    let mut out = Vec::with_capacity(tensors.len() + 8);
    let mut unknown = Vec::new();
    for t in tensors {
        if let Some(prefix) =
            t.name.strip_suffix("self_attn.in_proj_weight").or_else(|| t.name.strip_suffix("self_attn.in_proj_bias"))
        {
            let is_weight = t.name.ends_with("weight");
            let hf_prefix =
                official_name_to_hf(&format!("{prefix}self_attn.x")).map(|n| n.trim_end_matches('x').to_string());
            let (Some(hf_prefix), Some(&rows)) = (hf_prefix, t.shape.first()) else {
                unknown.push(t.name);
                continue;
            };
            if rows % 3 != 0 {
                return Err(WeightsError::Format {
                    file: source.to_string(),
                    message: format!("`{}` has {rows} rows, not a multiple of 3", t.name),
                });
            }
            let part = rows / 3;
            let row_len: usize = t.shape[1..].iter().product();
            for (i, which) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                let mut shape = t.shape.clone();
                shape[0] = part;
                out.push(NamedTensor {
                    name: format!("{hf_prefix}{which}.{}", if is_weight { "weight" } else { "bias" }),
                    shape,
                    data: t.data[i * part * row_len..(i + 1) * part * row_len].to_vec(),
                });
            }
            continue;
        }
        match official_name_to_hf(&t.name) {
            Some(name) => out.push(NamedTensor { name, ..t }),
            None => unknown.push(t.name),
        }
    }
    if !unknown.is_empty() {
        return Err(WeightsError::Mismatch {
            file: source.to_string(),
            message: format!("unexpected keys: {}", list(&unknown)),
        });
    }
    Ok(out)
}

/// HF parameter name → path in this crate's module tree (before the LayerNorm/Linear adapter).
pub fn hf_to_module_path(name: &str) -> String {
    let name = match name.strip_prefix(HF_BACKBONE) {
        Some(rest) => format!("model.backbone.{rest}"),
        None => name.to_string(),
    };
    name.replace(".downsample.0.", ".downsample.conv.").replace(".downsample.1.", ".downsample.bn.")
}

/// Path in this crate's module tree (after the Burn → PyTorch adapter) → HF parameter name.
pub fn module_path_to_hf(path: &str) -> String {
    let path = match path.strip_prefix("model.backbone.") {
        Some(rest) => format!("{HF_BACKBONE}{rest}"),
        None => path.to_string(),
    };
    path.replace(".downsample.conv.", ".downsample.0.").replace(".downsample.bn.", ".downsample.1.")
}

/// Resolves the backbone layout: from the checkpoint when it has one (checked against a known name),
/// otherwise from the name in the config.
pub fn backbone_config(
    config: &ConditionalDetrConfig,
    checkpoint: Option<&Checkpoint>,
) -> Result<ResNetConfig, WeightsError> {
    let named = ResNetConfig::from_name(&config.backbone, config.dilation);
    let Some(ckpt) = checkpoint else {
        return named.ok_or_else(|| WeightsError::Mismatch {
            file: "config".into(),
            message: format!(
                "unknown backbone `{}`: known are resnet50, resnet101, resnet_cdetr_tiny_a and resnet_cdetr_tiny_b; other ResNet layouts are read from a checkpoint",
                config.backbone
            ),
        });
    };
    let mismatch = |message: String| WeightsError::Mismatch { file: ckpt.source.clone(), message };
    let stem = ckpt
        .shape(&format!("{HF_BACKBONE}conv1.weight"))
        .and_then(|s| s.first().copied())
        .ok_or_else(|| mismatch(format!("missing keys: {HF_BACKBONE}conv1.weight (no ResNet backbone in the file)")))?;
    let mut blocks = [0usize; 4];
    let mut widths = [0usize; 4];
    for stage in 0..4 {
        let prefix = format!("{HF_BACKBONE}layer{}.", stage + 1);
        let indices: BTreeSet<usize> =
            ckpt.tensors.iter().filter_map(|t| t.name.strip_prefix(&prefix)?.split('.').next()?.parse().ok()).collect();
        blocks[stage] = indices.len();
        widths[stage] = ckpt
            .shape(&format!("{prefix}0.conv1.weight"))
            .and_then(|s| s.first().copied())
            .ok_or_else(|| mismatch(format!("missing keys: {prefix}0.conv1.weight")))?;
    }
    let inferred = ResNetConfig::new(blocks, widths, stem).with_dilation(config.dilation);
    if let Some(named) = named
        && named != inferred
    {
        return Err(mismatch(format!(
            "the configuration names backbone `{}` (blocks {:?}, widths {:?}, stem {}) but the checkpoint holds blocks {:?}, widths {:?}, stem {}",
            config.backbone,
            named.blocks,
            named.widths,
            named.stem_width,
            inferred.blocks,
            inferred.widths,
            inferred.stem_width
        )));
    }
    Ok(inferred)
}

/// Builds the model of `config` and fills it from `checkpoint`, strictly.
pub fn load_model(
    config: &ConditionalDetrConfig,
    checkpoint: &Checkpoint,
    device: &Device,
) -> Result<ConditionalDetr, WeightsError> {
    load_model_with_dropout(config, checkpoint, rates_of(config), device)
}

/// As [`load_model`] with explicit dropout rates (training sets its own).
pub fn load_model_with_dropout(
    config: &ConditionalDetrConfig,
    checkpoint: &Checkpoint,
    dropout: DropoutRates,
    device: &Device,
) -> Result<ConditionalDetr, WeightsError> {
    let backbone = backbone_config(config, Some(checkpoint))?;
    let mut model = ConditionalDetr::init_with_dropout(config, &backbone, dropout, device);
    apply_checkpoint(&mut model, checkpoint)?;
    Ok(model)
}

/// Copies the checkpoint's tensors into `model`; errors list every missing, unexpected or mis-shaped key.
pub fn apply_checkpoint(model: &mut ConditionalDetr, checkpoint: &Checkpoint) -> Result<(), WeightsError> {
    let packs = checkpoint
        .tensors
        .iter()
        .map(|t| bridge::from_data(TensorData::new(t.data.clone(), t.shape.clone()), hf_to_module_path(&t.name), None))
        .collect();
    let result = model.apply(packs, None, Some(Box::new(PyTorchToBurnAdapter)), false);
    let missing: Vec<String> = result.missing.iter().map(|(p, _)| to_hf_display(p)).collect();
    let unused: Vec<String> = result.unused.iter().map(|p| module_path_to_hf(p)).collect();
    let errors: Vec<String> = result.errors.iter().map(|e| describe_apply_error(e, checkpoint)).collect();
    if missing.is_empty() && unused.is_empty() && errors.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("{} missing keys: {}", missing.len(), list(&missing)));
    }
    if !unused.is_empty() {
        parts.push(format!("{} unexpected keys: {}", unused.len(), list(&unused)));
    }
    if !errors.is_empty() {
        parts.push(format!("{} mis-shaped keys: {}", errors.len(), list(&errors)));
    }
    Err(WeightsError::Mismatch { file: checkpoint.source.clone(), message: parts.join("; ") })
}

/// A mis-shaped (or otherwise refused) tensor under its checkpoint name, with both shapes in the file's
/// (PyTorch) layout: `name (file [a, b], model [c, d])`.
fn describe_apply_error(error: &burn::store::ApplyError, checkpoint: &Checkpoint) -> String {
    match error {
        burn::store::ApplyError::ShapeMismatch { path, expected, found } => {
            let name = to_hf_display(path);
            let found = found.to_vec();
            let file_shape = checkpoint.shape(&name).map(<[usize]>::to_vec).unwrap_or_else(|| found.clone());
            // A linear weight is stored [out, in] in the file and [in, out] in Burn: show the file's layout.
            let transposed = file_shape.len() == 2 && found.len() == 2 && file_shape != found;
            let mut model_shape = expected.to_vec();
            if transposed {
                model_shape.reverse();
            }
            format!("{name} (file {file_shape:?}, model {model_shape:?})")
        }
        other => other.to_string(),
    }
}

fn to_hf_display(path: &str) -> String {
    let hf = module_path_to_hf(path);
    match hf.rsplit_once('.') {
        Some((head, "gamma")) => format!("{head}.weight"),
        Some((head, "beta")) => format!("{head}.bias"),
        _ => hf,
    }
}

fn list(items: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", … (+{} more)", items.len() - SHOWN));
    }
    s
}

/// One parameter of a model, found by [`ModelParams::of`], not yet read back.
pub struct ModelParam {
    /// Path in this crate's module tree (`model.decoder.layernorm.gamma`).
    pub path: String,
    pub id: ParamId,
    pub shape: Vec<usize>,
    /// Innermost module type (`Struct:Linear`, `Struct:LayerNorm`, ...).
    pub module: String,
    pub values: Tensor<1>,
}

/// Every float parameter of a model, with paths and ids.
#[derive(Default)]
pub struct ModelParams {
    path: Vec<String>,
    containers: Vec<String>,
    pub params: Vec<ModelParam>,
}

impl ModelParams {
    pub fn of<M: Module>(model: &M) -> Vec<ModelParam> {
        let mut collector = Self::default();
        model.visit(&mut collector);
        collector.params
    }
}

impl ModuleVisitor for ModelParams {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.transform_for_save().val();
        let shape = tensor.dims().to_vec();
        let numel: usize = shape.iter().product();
        let module = self.containers.iter().rev().find(|c| c.starts_with("Struct:")).cloned().unwrap_or_default();
        self.params.push(ModelParam {
            path: self.path.join("."),
            id: param.id,
            shape,
            module,
            values: tensor.reshape([numel]),
        });
    }
}

/// The model's parameters under HF names in PyTorch layout, read back asynchronously (safe on WebGPU).
pub async fn collect_hf_tensors(model: &ConditionalDetr) -> Result<Vec<NamedTensor>, WeightsError> {
    let mut out = Vec::new();
    for p in ModelParams::of(model) {
        let path = if p.module == "Struct:LayerNorm" {
            match p.path.rsplit_once('.') {
                Some((head, "gamma")) => format!("{head}.weight"),
                Some((head, "beta")) => format!("{head}.bias"),
                _ => p.path.clone(),
            }
        } else {
            p.path.clone()
        };
        let name = module_path_to_hf(&path);
        let data = read_floats(p.values, &name).await?;
        let (shape, data) = if p.module == "Struct:Linear" && p.shape.len() == 2 && path.ends_with(".weight") {
            // Burn stores Linear weights as [in, out]; PyTorch as [out, in].
            let (rows, cols) = (p.shape[0], p.shape[1]);
            let mut t = vec![0f32; data.len()];
            for r in 0..rows {
                for c in 0..cols {
                    t[c * rows + r] = data[r * cols + c];
                }
            }
            (vec![cols, rows], t)
        } else {
            (p.shape, data)
        };
        out.push(NamedTensor { name, shape, data });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Serialises tensors as safetensors (f32), with the config under the metadata key `config` and
/// `format: pt` like transformers' `save_pretrained`.
pub fn write_safetensors(tensors: &[NamedTensor], config: Option<&ConditionalDetrConfig>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut metadata = serde_json::Map::new();
    metadata.insert("format".into(), "pt".into());
    if let Some(c) = config {
        metadata.insert(SAFETENSORS_CONFIG_KEY.into(), c.to_json().into());
    }
    header.insert("__metadata__".into(), metadata.into());
    let mut offset = 0usize;
    for t in tensors {
        let len = t.data.len() * 4;
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).expect("header serialises");
    while !(header.len() + 8).is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for t in tensors {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Serialises tensors as a Burnpack holding the config; `half` stores every tensor as f16.
pub fn write_burnpack(
    tensors: &[NamedTensor],
    config: &ConditionalDetrConfig,
    half: bool,
) -> Result<Vec<u8>, WeightsError> {
    let packs = tensors
        .iter()
        .map(|t| {
            let data = TensorData::new(t.data.clone(), t.shape.clone());
            let data = if half { data.convert::<half::f16>() } else { data };
            bridge::from_data(data, t.name.clone(), None)
        })
        .collect();
    let bytes = burn_pack::Writer::new(packs)
        .with_metadata(BURNPACK_CONFIG_KEY, &config.to_json())
        .into_bytes()
        .map_err(|e| WeightsError::Write { file: "burnpack".into(), message: e.to_string() })?;
    Ok(bytes.to_vec())
}
