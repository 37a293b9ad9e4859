//! Detection as the page runs it, platform-free (the wasm shell `web.rs` only converts arguments): a
//! checkpoint read from bytes, one RGBA frame → detections with each one's reference point (the resize
//! rule of [`ResizeMode::for_shortest_edge`], the memory check of [`crate::memory`], an optional per-part
//! profile), and the last frame's cross-attention maps for one query.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::{ConditionalDetrConfig, ConfigError};
use crate::memory::{Limits, ModelSize, TooBig};
use crate::model::backbone::ResNetConfig;
use crate::model::inference::{InferenceModel, PartTime};
use crate::model::nested_tensor::NestedTensor;
use crate::model::{AttentionOutput, ConditionalDetr, ForwardOptions};
use crate::postprocess::{Detection, PostProcessOptions, post_process, read_predictions};
use crate::preprocess::{PreprocessError, ResizeMode, preprocess, rgba_to_rgb};
use crate::readback::{ReadbackError, read_floats};
use crate::weights::{WeightsError, backbone_config, load_model, read_checkpoint_bytes};

/// Why a model could not be loaded or a frame not detected.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("{0}")]
    Weights(#[from] WeightsError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Frame(#[from] PreprocessError),
    #[error("{0}")]
    TooBig(#[from] TooBig),
    #[error("{0}")]
    Readback(#[from] ReadbackError),
    #[error("no attention maps: detect a frame with attention enabled first")]
    NoAttention,
    #[error("query {query} out of range (the model has {queries} queries)")]
    QueryOutOfRange { query: usize, queries: usize },
}

/// What the page shows about a loaded model.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub format: String,
    /// "Conditional DETR" or "DETR" (the config's `model_type`).
    pub architecture: String,
    pub labels: Vec<String>,
    pub num_queries: usize,
    pub d_model: usize,
    pub heads: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub backbone: String,
    pub parameters: usize,
}

/// A model ready to detect, with what the memory checks need.
pub struct LoadedModel {
    pub model: InferenceModel,
    pub config: ConditionalDetrConfig,
    pub name: String,
    /// The checkpoint's layout.
    pub format: String,
    backbone: ResNetConfig,
    params: usize,
    device: Device,
}

impl LoadedModel {
    /// Reads a checkpoint (HF safetensors, official-name safetensors, or Burnpack) with an optional
    /// `config.json` (else the one the checkpoint embeds, else the R50 defaults).
    pub fn from_bytes(
        weights: Vec<u8>,
        config_json: Option<&str>,
        name: &str,
        device: &Device,
    ) -> Result<Self, DetectorError> {
        let checkpoint = read_checkpoint_bytes(weights, name)?;
        let config = match config_json {
            Some(text) => ConditionalDetrConfig::from_json(text, "config.json")?,
            None => checkpoint.config.clone().unwrap_or_default(),
        };
        let model = InferenceModel::new(load_model(&config, &checkpoint, device)?);
        let backbone = backbone_config(&config, Some(&checkpoint))?;
        let params = checkpoint.tensors.iter().map(|t| t.data.len()).sum();
        let format = checkpoint.format.to_string();
        Ok(Self { model, config, name: name.to_string(), format, backbone, params, device: device.clone() })
    }

    /// The same architecture with other weights and labels (a fine-tuned model).
    pub fn with_weights(&self, model: ConditionalDetr, config: ConditionalDetrConfig, name: String) -> Self {
        let (backbone, params, format, device) =
            (self.backbone.clone(), self.params, self.format.clone(), self.device.clone());
        Self { model: InferenceModel::new(model), config, name, format, backbone, params, device }
    }

    pub fn info(&self) -> ModelInfo {
        let config = &self.config;
        ModelInfo {
            name: self.name.clone(),
            format: self.format.clone(),
            architecture: if config.is_detr() { "DETR" } else { "Conditional DETR" }.to_string(),
            labels: config.labels(),
            num_queries: config.num_queries,
            d_model: config.d_model,
            heads: config.decoder_attention_heads,
            encoder_layers: config.encoder_layers,
            decoder_layers: config.decoder_layers,
            backbone: config.backbone.clone(),
            parameters: self.params,
        }
    }

    pub fn size(&self) -> ModelSize<'_> {
        ModelSize { config: &self.config, backbone: &self.backbone, params: self.params }
    }
}

/// Per-frame detection settings (the page's; camelCase in JS).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DetectOptions {
    pub threshold: f32,
    pub top_k: usize,
    /// Shortest edge of the network input (0: the image as it is).
    pub shortest_edge: u32,
    /// Longest edge; absent: the processor's 800 : 1333 proportion ([`ResizeMode::for_shortest_edge`]).
    pub longest_edge: Option<u32>,
    /// Keep the cross-attention maps of this frame ([`attention_maps`]).
    pub attention: bool,
    /// Time each backbone stage, the encoder and the decoder (synchronising after each: a little slower).
    pub profile: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self { threshold: 0.5, top_k: 100, shortest_edge: 800, longest_edge: None, attention: false, profile: false }
    }
}

impl DetectOptions {
    /// The network input's resize.
    pub fn resize(&self) -> ResizeMode {
        match (ResizeMode::for_shortest_edge(self.shortest_edge), self.longest_edge) {
            (ResizeMode::Size { shortest_edge, .. }, Some(long)) => {
                ResizeMode::Size { shortest_edge, longest_edge: long.max(shortest_edge) }
            }
            (mode, _) => mode,
        }
    }
}

/// An RGBA frame (browser `ImageData`).
pub struct Frame<'a> {
    pub rgba: &'a [u8],
    pub width: u32,
    pub height: u32,
}

/// The detections of a frame and where the time went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectResult {
    pub detections: Vec<Detection>,
    pub width: u32,
    pub height: u32,
    pub input_width: usize,
    pub input_height: usize,
    /// Milliseconds: pre-processing, network (incl. read-back), post-processing.
    pub preprocess_ms: f64,
    pub network_ms: f64,
    pub postprocess_ms: f64,
    /// With `profile`: milliseconds per part of the network (`stem`, `layer1` … `layer4`, `encoder`,
    /// `decoder + heads`).
    pub profile: Option<Vec<PartTime>>,
}

/// The cross-attention of a detected frame, kept for [`attention_maps`].
#[derive(Debug, Clone)]
pub struct LastAttention {
    maps: AttentionOutput,
    /// Resized (unpadded) input size and padded input size, to map feature cells back to the frame.
    resized: (usize, usize),
    padded: (usize, usize),
}

/// Detects objects in a frame; `now` is the clock in milliseconds (`performance.now()` in the page).
/// Returns the attention maps too when `options.attention`.
pub async fn detect(
    loaded: &LoadedModel,
    frame: Frame<'_>,
    options: &DetectOptions,
    limits: Limits,
    now: &dyn Fn() -> f64,
) -> Result<(DetectResult, Option<LastAttention>), DetectorError> {
    let t0 = now();
    let image = rgba_to_rgb(frame.width, frame.height, frame.rgba)?;
    let batch = preprocess(std::slice::from_ref(&image), options.resize());
    loaded.size().check_detect(batch.height, batch.width, limits)?;
    let NestedTensor { tensors, mask } = NestedTensor::from_batch(&batch, &loaded.device);
    let t1 = now();
    let forward_options = ForwardOptions { aux: false, attention_maps: options.attention };
    let (output, profile) = if options.profile {
        let (output, parts) = loaded
            .model
            .forward_profiled(tensors, &mask, forward_options, now)
            .await
            .map_err(|e| ReadbackError::new("the profiled forward pass", e))?;
        (output, Some(parts))
    } else {
        (loaded.model.forward(tensors, &mask, forward_options), None)
    };
    let raw = read_predictions(&output).await?;
    let t2 = now();
    let detections = post_process(
        &raw,
        &[(frame.height as usize, frame.width as usize)],
        &loaded.config.labels(),
        PostProcessOptions { threshold: options.threshold, top_k: options.top_k },
    )
    .pop()
    .unwrap_or_default();
    let attention = output.attention.map(|maps| LastAttention {
        maps,
        resized: batch.image_sizes[0],
        padded: (batch.height, batch.width),
    });
    let t3 = now();
    let result = DetectResult {
        detections,
        width: frame.width,
        height: frame.height,
        input_width: batch.width,
        input_height: batch.height,
        preprocess_ms: t1 - t0,
        network_ms: t2 - t1,
        postprocess_ms: t3 - t2,
        profile,
    };
    Ok((result, attention))
}

/// Per-head cross-attention maps of the last decoder layer for one query, each `heads × feature_height ×
/// feature_width` values; `spatial` and `content` are `None` for DETR, which has no such split.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMaps {
    pub heads: usize,
    pub feature_width: usize,
    pub feature_height: usize,
    /// Feature cells that cover the real image (the rest is padding).
    pub valid_width: usize,
    pub valid_height: usize,
    pub spatial: Option<Vec<f32>>,
    pub content: Option<Vec<f32>>,
    pub combined: Vec<f32>,
}

/// The maps of query `query` in the last frame detected with `attention` on.
pub async fn attention_maps(last: Option<&LastAttention>, query: usize) -> Result<AttentionMaps, DetectorError> {
    let last = last.ok_or(DetectorError::NoAttention)?;
    let [_, heads, queries, hw] = last.maps.maps.combined.dims();
    if query >= queries {
        return Err(DetectorError::QueryOutOfRange { query, queries });
    }
    let read = |t: &burn::tensor::Tensor<4>, what: &'static str| {
        let slice = t.clone().slice([0..1, 0..heads, query..query + 1, 0..hw]).reshape([heads * hw]);
        read_floats(slice, what)
    };
    let maps = &last.maps.maps;
    let spatial = match &maps.spatial {
        Some(t) => Some(read(t, "spatial attention").await?),
        None => None,
    };
    let content = match &maps.content {
        Some(t) => Some(read(t, "content attention").await?),
        None => None,
    };
    let combined = read(&maps.combined, "attention").await?;
    let (fh, fw) = (last.maps.feature_height, last.maps.feature_width);
    let valid = |resized: usize, padded: usize, cells: usize| (resized * cells).div_ceil(padded).min(cells);
    Ok(AttentionMaps {
        heads,
        feature_width: fw,
        feature_height: fh,
        valid_width: valid(last.resized.1, last.padded.1, fw),
        valid_height: valid(last.resized.0, last.padded.0, fh),
        spatial,
        content,
        combined,
    })
}
