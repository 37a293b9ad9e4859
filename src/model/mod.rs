//! Conditional DETR (Meng et al., ICCV 2021): backbone → 1×1 input projection → encoder → conditional
//! decoder → class and box heads (official `models/conditional_detr.py`; HF
//! `ConditionalDetrForObjectDetection`).
//!
//! Module and field names follow the Hugging Face parameter names, so a hub checkpoint maps onto this
//! tree with the short table in [`crate::weights`]. The box head predicts, per query, an offset from the
//! query's reference point in logit space: `box = sigmoid(bbox_predictor(h) + [σ⁻¹(s), 0, 0])` (paper §3.2).
//!
//! # DETR in the same type
//! [`ConditionalDetr`] is also DETR, the paper's baseline (HF `DetrForObjectDetection`, chosen by
//! `model_type: "detr"` in the config): the backbone, position encoding, encoder, query embeddings and
//! heads are the same modules under the same HF names, and only the decoder differs, held as a
//! [`transformer::DecoderVariant`] (the conditional decoder, or DETR's: object queries added to q and k,
//! no reference points, a final layer norm). DETR's class head has one more column, the no-object class
//! (softmax classification, [`DetrOutput::no_object`]), and its boxes are `sigmoid(bbox_predictor(h))`
//! with no reference point (so [`DetrOutput::reference_points`] is `None`). One type means one code path
//! for the CLI, the page and training; what differs downstream (loss, post-processing) reads
//! [`DetrOutput::no_object`] or [`ConditionalDetr::is_detr`].

pub mod attention;
pub mod backbone;
pub mod cpu_backbone;
pub mod dropout;
pub mod inference;
pub mod mask;
pub mod nested_tensor;
pub mod position_encoding;
pub mod transformer;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Tensor};

use crate::config::ConditionalDetrConfig;
use backbone::{ResNet, ResNetConfig};
use mask::PixelMask;
use position_encoding::position_embedding_sine;
use transformer::{
    CrossAttentionMaps, DecoderConfig, DecoderContext, DecoderVariant, DetrDecoderConfig, DropoutRates, Encoder,
    EncoderLayerConfig, Mlp, MlpConfig,
};

/// Intermediate tensors recorded by [`ConditionalDetr::forward_traced`], named like the reference fixture.
#[derive(Default)]
pub struct Trace {
    pub entries: Vec<TraceEntry>,
}

/// One recorded tensor, flattened.
pub struct TraceEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Tensor<1>,
}

impl Trace {
    pub fn record<const D: usize>(&mut self, name: impl Into<String>, tensor: &Tensor<D>) {
        let shape = tensor.dims().to_vec();
        let numel: usize = shape.iter().product();
        self.entries.push(TraceEntry { name: name.into(), shape, values: tensor.clone().reshape([numel]) });
    }

    pub fn get(&self, name: &str) -> Option<&TraceEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// The detector body (HF `ConditionalDetrModel`, or `DetrModel` with DETR's decoder).
#[derive(Module, Debug)]
pub struct ConditionalDetrModel {
    pub backbone: ResNet,
    pub input_projection: Conv2d,
    pub query_position_embeddings: Embedding,
    pub encoder: Encoder,
    pub decoder: DecoderVariant,
}

/// Conditional DETR with its detection heads (HF `ConditionalDetrForObjectDetection`), or DETR
/// (`DetrForObjectDetection`) when its decoder is DETR's (see the module doc).
#[derive(Module, Debug)]
pub struct ConditionalDetr {
    pub model: ConditionalDetrModel,
    pub class_labels_classifier: Linear,
    pub bbox_predictor: Mlp,
}

/// What a forward pass should compute besides the final predictions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    /// Run the heads on every decoder layer (auxiliary outputs, needed by the loss).
    pub aux: bool,
    /// Return the last decoder layer's per-head cross-attention maps.
    pub attention_maps: bool,
}

/// Class logits and boxes of one decoder layer.
#[derive(Debug, Clone)]
pub struct HeadOutput {
    /// Conditional DETR: `[B, nq, num_labels]` (sigmoid / focal-loss logits, no "no object" column);
    /// DETR: `[B, nq, num_labels + 1]` (softmax logits, the no-object class last).
    pub logits: Tensor<3>,
    /// `[B, nq, 4]`: normalised `(cx, cy, w, h)`.
    pub pred_boxes: Tensor<3>,
}

/// Last-layer cross-attention maps and the feature-map size they live on.
#[derive(Debug, Clone)]
pub struct AttentionOutput {
    pub maps: CrossAttentionMaps,
    pub feature_height: usize,
    pub feature_width: usize,
}

/// The encoder's output and what the decoder needs with it ([`ConditionalDetr::encode`]).
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[B, H·W, d]`
    pub memory: Tensor<3>,
    /// The position embedding of the feature cells, `[B, H·W, d]`.
    pub pos: Tensor<3>,
    /// `[B, 1, 1, H·W]`, true on padding cells; `None` when nothing is padded.
    pub key_padding: Option<Tensor<4, Bool>>,
    pub feature_height: usize,
    pub feature_width: usize,
}

/// Everything a forward pass returns.
#[derive(Debug, Clone)]
pub struct DetrOutput {
    /// Predictions of the last decoder layer.
    pub last: HeadOutput,
    /// Predictions of layers `0 .. L-1` when [`ForwardOptions::aux`] was set.
    pub aux: Vec<HeadOutput>,
    /// Reference point `s` (x, y) of every query, `[B, nq, 2]`, normalised; `None` for DETR (it has none)
    /// and for the ablations that use it nowhere (CSQ-T / CSQ-C without the box offset).
    pub reference_points: Option<Tensor<3>>,
    /// The last logit column is DETR's no-object class (softmax classification) rather than a class.
    pub no_object: bool,
    /// The last layer's cross-attention maps (Conditional DETR only: DETR's have no spatial/content split).
    pub attention: Option<AttentionOutput>,
}

/// Log-odds of a probability, clamped like `inverse_sigmoid(x, eps=1e-5)` of the reference code.
pub fn inverse_sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let x = x.clamp(0.0, 1.0);
    let x1 = x.clone().clamp_min(1e-5);
    let x2 = (x.neg() + 1.0).clamp_min(1e-5);
    (x1 / x2).log()
}

impl ConditionalDetr {
    /// A randomly initialised model of the config's `model_type` (official initialisation: Xavier
    /// transformer; Conditional DETR: class bias at the focal prior 0.01, zero last box layer; DETR: zero
    /// class bias).
    pub fn init(config: &ConditionalDetrConfig, backbone: &ResNetConfig, device: &Device) -> Self {
        Self::init_with_dropout(config, backbone, rates_of(config), device)
    }

    /// As [`init`](Self::init) with explicit dropout rates (training overrides them).
    pub fn init_with_dropout(
        config: &ConditionalDetrConfig,
        backbone: &ResNetConfig,
        dropout: DropoutRates,
        device: &Device,
    ) -> Self {
        let d = config.d_model;
        let (heads, ffn, layers) = (config.decoder_attention_heads, config.decoder_ffn_dim, config.decoder_layers);
        let decoder = if config.is_detr() {
            DecoderVariant::Detr(DetrDecoderConfig::new(d, heads, ffn, layers, dropout).init(device))
        } else {
            DecoderVariant::Conditional(
                DecoderConfig::new(d, heads, ffn, layers, dropout)
                    .with_spatial_query(config.spatial_query)
                    .with_box_offset(config.box_offset)
                    .init(device),
            )
        };
        let model = ConditionalDetrModel {
            backbone: backbone.init(device),
            input_projection: Conv2dConfig::new([backbone.out_channels(), d], [1, 1]).init(device),
            query_position_embeddings: EmbeddingConfig::new(config.num_queries, d).init(device),
            encoder: Encoder {
                layers: (0..config.encoder_layers)
                    .map(|_| {
                        EncoderLayerConfig::new(d, config.encoder_attention_heads, config.encoder_ffn_dim, dropout)
                            .init(device)
                    })
                    .collect(),
            },
            decoder,
        };
        let mut bbox_predictor = MlpConfig::new(d, d, 4, 3).init(device);
        if let (false, Some(last)) = (config.is_detr(), bbox_predictor.layers.last_mut()) {
            *last = LinearConfig::new(d, 4).with_initializer(Initializer::Zeros).init(device);
        }
        let class_labels_classifier = class_head(d, config.num_labels(), config.is_detr(), device);
        Self { model, class_labels_classifier, bbox_predictor }
    }

    /// Replaces the class head by a fresh one for `num_labels` classes (fine-tuning to a new label set).
    pub fn with_new_class_head(mut self, num_labels: usize, device: &Device) -> Self {
        let d = self.model.decoder.d_model();
        self.class_labels_classifier = class_head(d, num_labels, self.is_detr(), device);
        self
    }

    /// Sets every dropout probability (training uses its own rates; inference ignores them).
    pub fn with_dropout(mut self, rates: DropoutRates) -> Self {
        for layer in &mut self.model.encoder.layers {
            layer.dropout.prob = rates.dropout;
            layer.activation_dropout.prob = rates.activation;
            layer.self_attn.dropout.prob = rates.attention;
        }
        self.model.decoder.set_dropout(rates);
        self
    }

    /// Whether this is DETR (the baseline decoder, softmax classes with a no-object column).
    pub fn is_detr(&self) -> bool {
        self.model.decoder.is_detr()
    }

    /// Number of classes (DETR's no-object column not counted).
    pub fn num_labels(&self) -> usize {
        self.class_labels_classifier.weight.dims()[1] - usize::from(self.is_detr())
    }

    pub fn num_queries(&self) -> usize {
        self.model.query_position_embeddings.weight.dims()[0]
    }

    /// # Shapes
    /// - pixel_values: `[B, 3, H, W]` (normalised, zero-padded), mask: `[B, H, W]`
    /// - see [`DetrOutput`]
    pub fn forward(&self, pixel_values: Tensor<4>, mask: &PixelMask, options: ForwardOptions) -> DetrOutput {
        self.forward_impl(pixel_values, mask, options, None)
    }

    /// [`forward`](Self::forward) that also records the intermediate tensors of the reference fixture.
    pub fn forward_traced(
        &self,
        pixel_values: Tensor<4>,
        mask: &PixelMask,
        options: ForwardOptions,
        trace: &mut Trace,
    ) -> DetrOutput {
        self.forward_impl(pixel_values, mask, options, Some(trace))
    }

    fn forward_impl(
        &self,
        pixel_values: Tensor<4>,
        mask: &PixelMask,
        options: ForwardOptions,
        trace: Option<&mut Trace>,
    ) -> DetrOutput {
        let features = self.model.backbone.forward(pixel_values);
        self.forward_from_backbone(features, mask, options, trace)
    }

    /// The forward pass after the backbone: input projection, encoder, decoder and heads. Only the last of
    /// the backbone's stage outputs is used (all of them are recorded in the trace).
    ///
    /// # Shapes
    /// - features: the stage outputs `[B, C_i, H_i, W_i]`, mask: `[B, H, W]` of the input
    pub fn forward_from_backbone(
        &self,
        features: Vec<Tensor<4>>,
        mask: &PixelMask,
        options: ForwardOptions,
        mut trace: Option<&mut Trace>,
    ) -> DetrOutput {
        let encoded = self.encode(features, mask, trace.as_deref_mut());
        self.decode(encoded, options, trace)
    }

    /// The first half of [`forward_from_backbone`](Self::forward_from_backbone): the input projection, the
    /// position encoding and the encoder.
    ///
    /// # Shapes
    /// - features: the stage outputs `[B, C_i, H_i, W_i]`, mask: `[B, H, W]` of the input
    pub fn encode(&self, features: Vec<Tensor<4>>, mask: &PixelMask, mut trace: Option<&mut Trace>) -> Encoded {
        let m = &self.model;
        let d = m.decoder.d_model();
        let device = features.last().expect("the backbone has four stages").device();
        if let Some(t) = trace.as_deref_mut() {
            for (i, f) in features.iter().enumerate() {
                let [_, _, h, w] = f.dims();
                let level = mask.downsample(h, w);
                t.record(format!("backbone.feature_maps.{i}"), f);
                t.record(format!("backbone.mask.{i}"), &level.to_float(&device));
            }
        }
        let feature_map = features.into_iter().last().expect("the backbone has four stages");
        let [b, _, h, w] = feature_map.dims();
        let feature_mask = mask.downsample(h, w);
        let pos = position_embedding_sine(&feature_mask, d, &device);
        let projected = m.input_projection.forward(feature_map);
        if let Some(t) = trace.as_deref_mut() {
            t.record("model.position_embeddings", &pos.clone().reshape([b, h, w, d]).permute([0, 3, 1, 2]));
            t.record("model.projected_features", &projected);
        }
        let source = projected.reshape([b, d, h * w]).swap_dims(1, 2);
        // Without padding (one image, or equal sizes) there is nothing to mask.
        let key_padding = feature_mask.data.contains(&0).then(|| feature_mask.key_padding(&device));
        let memory = m.encoder.forward(source, pos.clone(), key_padding.as_ref(), trace.as_deref_mut());
        if let Some(t) = trace {
            t.record("encoder.last_hidden_state", &memory);
        }
        Encoded { memory, pos, key_padding, feature_height: h, feature_width: w }
    }

    /// The second half of [`forward_from_backbone`](Self::forward_from_backbone): the decoder and the heads.
    pub fn decode(&self, encoded: Encoded, options: ForwardOptions, mut trace: Option<&mut Trace>) -> DetrOutput {
        let m = &self.model;
        let d = m.decoder.d_model();
        let Encoded { memory, pos, key_padding, feature_height: h, feature_width: w } = encoded;
        let device = memory.device();
        let b = memory.dims()[0];
        let nq = self.num_queries();
        let query_pos = m.query_position_embeddings.weight.val().reshape([1, nq, d]).repeat_dim(0, b);
        let ctx = DecoderContext { memory, pos, query_pos, key_padding: key_padding.as_ref() };
        let decoded = m.decoder.forward(&ctx, options.attention_maps, trace.as_deref_mut());

        let ref_offset = decoded
            .reference_points
            .clone()
            .filter(|_| decoded.box_offset)
            .map(|points| Tensor::cat(vec![inverse_sigmoid(points), Tensor::zeros([b, nq, 2], &device)], 2));
        let mut hidden = decoded.hidden_states;
        let last_hidden = hidden.pop().expect("at least one decoder layer");
        let last = self.heads(last_hidden, ref_offset.clone());
        let aux = if options.aux {
            hidden.into_iter().map(|h| self.heads(h, ref_offset.clone())).collect()
        } else {
            Vec::new()
        };
        if let Some(t) = trace {
            t.record("outputs.logits", &last.logits);
            t.record("outputs.pred_boxes", &last.pred_boxes);
            for (i, a) in aux.iter().enumerate() {
                t.record(format!("outputs.aux.{i}.logits"), &a.logits);
                t.record(format!("outputs.aux.{i}.pred_boxes"), &a.pred_boxes);
            }
        }
        DetrOutput {
            last,
            aux,
            reference_points: decoded.reference_points,
            no_object: self.is_detr(),
            attention: decoded.last_maps.map(|maps| AttentionOutput { maps, feature_height: h, feature_width: w }),
        }
    }

    /// Class and box heads on one decoder layer's output; `ref_offset` is added to the box logits
    /// (Conditional DETR's offset from the reference point; `None` for DETR and the no-offset ablation).
    ///
    /// # Shapes
    /// - hidden: `[B, nq, d]`, ref_offset: `[B, nq, 4]` (`[σ⁻¹(s), 0, 0]`)
    pub fn heads(&self, hidden: Tensor<3>, ref_offset: Option<Tensor<3>>) -> HeadOutput {
        let logits = self.class_labels_classifier.forward(hidden.clone());
        let box_logits = self.bbox_predictor.forward(hidden);
        let pred_boxes = sigmoid(match ref_offset {
            Some(offset) => box_logits + offset,
            None => box_logits,
        });
        HeadOutput { logits, pred_boxes }
    }
}

/// The dropout rates a config asks for.
pub fn rates_of(config: &ConditionalDetrConfig) -> DropoutRates {
    DropoutRates::new()
        .with_dropout(config.dropout)
        .with_attention(config.attention_dropout)
        .with_activation(config.activation_dropout)
}

/// The class head: `num_labels` sigmoid logits with the focal prior bias (Conditional DETR), or
/// `num_labels + 1` softmax logits with a zero bias, the last one the no-object class (DETR).
fn class_head(d: usize, num_labels: usize, no_object: bool, device: &Device) -> Linear {
    let width = num_labels + usize::from(no_object);
    let mut head = LinearConfig::new(d, width).with_initializer(Initializer::XavierUniform { gain: 1.0 }).init(device);
    let bias = if no_object { 0.0 } else { -((1.0f64 - 0.01) / 0.01).ln() };
    head.bias = Some(Param::from_tensor(Tensor::full([width], bias, device)));
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SpatialQuery;

    fn tiny(spatial_query: SpatialQuery, box_offset: bool) -> (ConditionalDetrConfig, ResNetConfig) {
        let config = ConditionalDetrConfig {
            d_model: 16,
            encoder_layers: 1,
            decoder_layers: 2,
            encoder_attention_heads: 2,
            decoder_attention_heads: 2,
            encoder_ffn_dim: 32,
            decoder_ffn_dim: 32,
            num_queries: 5,
            dropout: 0.0,
            id2label: (0..3).map(|i| (i.to_string(), format!("c{i}"))).collect(),
            spatial_query,
            box_offset,
            ..ConditionalDetrConfig::default()
        };
        (config, ResNetConfig::from_name("resnet_cdetr_tiny_a", false).unwrap())
    }

    fn read(t: &Tensor<3>) -> Vec<f32> {
        t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// Every spatial-query variant, with and without the box offset, on the same weights: the output
    /// shapes, the reference points reported exactly when the variant or the box head uses them, and each
    /// variant changing the predictions (it is not a no-op).
    #[test]
    fn every_ablation_runs_with_its_shapes_and_changes_the_predictions() {
        let device = Device::flex();
        let (config, backbone) = tiny(SpatialQuery::Csq, true);
        let base = ConditionalDetr::init(&config, &backbone, &device);
        let pixels = Tensor::<4>::random([2, 3, 64, 48], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let mut data = vec![1u8; 2 * 64 * 48];
        data[64 * 48..].iter_mut().enumerate().for_each(|(i, m)| *m = u8::from(i % 48 < 32));
        let mask = PixelMask { batch: 2, height: 64, width: 48, data };
        let run = |model: &ConditionalDetr| {
            model.forward(pixels.clone(), &mask, ForwardOptions { aux: true, attention_maps: true })
        };
        let reference = run(&base);
        for variant in
            [SpatialQuery::Csq, SpatialQuery::CsqP, SpatialQuery::CsqT, SpatialQuery::CsqC, SpatialQuery::CsqI]
        {
            for box_offset in [true, false] {
                let mut model = base.clone();
                if let DecoderVariant::Conditional(decoder) = &mut model.model.decoder {
                    decoder.spatial_query = variant;
                    decoder.box_offset = box_offset;
                }
                let out = run(&model);
                let label = format!("{variant:?}, box offset {box_offset}");
                assert_eq!(out.last.logits.dims(), [2, 5, 3], "{label}");
                assert_eq!(out.last.pred_boxes.dims(), [2, 5, 4], "{label}");
                assert_eq!(out.aux.len(), 1, "{label}");
                assert!(read(&out.last.pred_boxes).iter().all(|&v| v > 0.0 && v < 1.0), "{label}");
                let maps = out.attention.expect("maps were asked for").maps;
                assert_eq!(maps.combined.dims(), [2, 2, 5, 2 * 2], "{label}");
                assert_eq!(out.reference_points.is_some(), variant.uses_reference_point() || box_offset, "{label}");
                if let Some(points) = &out.reference_points {
                    assert_eq!(points.dims(), [2, 5, 2], "{label}");
                }
                let same = read(&out.last.logits) == read(&reference.last.logits);
                assert_eq!(same, variant == SpatialQuery::Csq, "{label}: the class logits");
            }
        }
    }

    /// With the last box layer zero (its initialisation), Conditional DETR's box is centred exactly on the
    /// reference point, `sigmoid(σ⁻¹(s) + 0)`, with w = h = 1/2; without the offset every box is the centred
    /// (1/2, 1/2, 1/2, 1/2).
    #[test]
    fn box_offset_from_the_reference_point_is_switchable() {
        let device = Device::flex();
        let pixels = Tensor::<4>::random([1, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let mask = PixelMask { batch: 1, height: 32, width: 32, data: vec![1; 32 * 32] };
        for box_offset in [true, false] {
            let (config, backbone) = tiny(SpatialQuery::Csq, box_offset);
            let out = ConditionalDetr::init(&config, &backbone, &device).forward(
                pixels.clone(),
                &mask,
                ForwardOptions::default(),
            );
            let boxes = read(&out.last.pred_boxes);
            let points = read(out.reference_points.as_ref().expect("CSQ uses its reference points"));
            for q in 0..5 {
                let want = if box_offset { [points[2 * q], points[2 * q + 1]] } else { [0.5, 0.5] };
                for (c, w) in want.into_iter().enumerate() {
                    assert!((boxes[4 * q + c] - w).abs() < 1e-5, "offset {box_offset}: query {q} centre {c}");
                }
                assert!((boxes[4 * q + 2] - 0.5).abs() < 1e-6 && (boxes[4 * q + 3] - 0.5).abs() < 1e-6);
            }
        }
    }
}
