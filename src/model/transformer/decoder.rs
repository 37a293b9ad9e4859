//! The conditional decoder (paper §3.2–3.3; official `models/transformer.py` `TransformerDecoder`; HF
//! `ConditionalDetrDecoder`).
//!
//! Decoder layer `i` forms, for every query, the conditional spatial query
//! `p_q = ca_qpos_sine_proj(T ⊙ sinusoidal(s))` where `s = sigmoid(ref_point_head(query_pos))` is the
//! query's reference point (shared by all layers) and `T = query_scale(f)` is computed from the previous
//! layer's output `f` (`T = 1` in layer 0). Cross-attention concatenates, per head, the content and the
//! spatial parts of queries (`[c_q, p_q]`) and keys (`[c_k, p_k]`). Layer 0 also adds
//! `ca_qpos_proj(query_pos)` to the content query and `ca_kpos_proj(pos)` to the content key, as DETR does.
//! The per-layer outputs handed to the heads are `layernorm(h_i)`; the residual stream itself is not
//! normalised between layers (official semantics; HF only differs with `auxiliary_loss = true`).
//!
//! [`SpatialQuery`] selects how `p_q` is formed: the paper's CSQ (above, the default) or one of the
//! spatial-query variants of its ablation (§4.3, the CSQ-P / CSQ-T / CSQ-C / CSQ-I rows), each documented
//! on its variant. Whatever the variant, `p_q` then goes through the layer's `ca_qpos_sine_proj` and is
//! concatenated per head with the content query as above, so every variant has the same parameters (and
//! loads the same checkpoints; `query_scale` is unused by CSQ-P, CSQ-C and CSQ-I).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{DropoutRates, Mlp, MlpConfig};
use crate::model::Trace;
use crate::model::attention::{
    ConditionalAttention, ConditionalAttentionConfig, attention_probs, split_heads, xavier_linear,
};
use crate::model::dropout;
use crate::model::position_encoding::query_sine_embedding;

/// How a decoder layer forms its spatial query `p_q` (paper §3.3; the variants are the rows of the
/// ablation on the spatial query in §4.3). Notation: `s` the query's reference point, `p_s =
/// sinusoidal(s)`, `f` the decoder embedding entering the layer (the previous layer's output; zero in
/// layer 0), `c_q` the content query (the layer's self-attention output), `λ_q = FFN(f)` (`query_scale`).
/// In a config file: `"spatial_query": "csq" | "csq-p" | "csq-t" | "csq-c" | "csq-i"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpatialQuery {
    /// CSQ, Conditional DETR: `p_q = λ_q ⊙ p_s`, with `λ_q = 1` in layer 0 (the official code applies no
    /// transformation there, where `f` is zero).
    #[default]
    #[serde(rename = "csq", alias = "CSQ")]
    Csq,
    /// CSQ-P: only the positional embedding, `p_q = p_s` in every layer (no transformation).
    #[serde(rename = "csq-p", alias = "CSQ-P")]
    CsqP,
    /// CSQ-T: only the transformation, `p_q = λ_q = FFN(f)` in every layer (`FFN(0)` in layer 0); the
    /// reference point does not enter cross-attention.
    #[serde(rename = "csq-t", alias = "CSQ-T")]
    CsqT,
    /// CSQ-C: only the decoder content embedding, `p_q = f` in every layer (zero in layer 0); the reference
    /// point does not enter cross-attention.
    #[serde(rename = "csq-c", alias = "CSQ-C")]
    CsqC,
    /// CSQ-I: the element-wise product with the content query, `p_q = c_q ⊙ p_s` in every layer (`c_q` is
    /// the self-attention output, before `ca_qcontent_proj`, the same embedding space as `λ_q` and `f`).
    #[serde(rename = "csq-i", alias = "CSQ-I")]
    CsqI,
}

impl SpatialQuery {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Whether the reference point's embedding `p_s` enters the spatial query.
    pub fn uses_reference_point(self) -> bool {
        !matches!(self, Self::CsqT | Self::CsqC)
    }
}

/// The spatial query of one layer before `ca_qpos_sine_proj`, as far as it is known before the layer runs.
#[derive(Debug, Clone)]
pub enum SpatialInput {
    /// Known: `[B, nq, d]`.
    Ready(Tensor<3>),
    /// `p_s ⊙ c_q` (CSQ-I): `p_s` `[B, nq, d]`, multiplied by the layer's content query once it is computed.
    TimesContent(Tensor<3>),
}

impl SpatialInput {
    /// The spatial query given the layer's content query `c_q` `[B, nq, d]`.
    pub fn resolve(self, content_query: &Tensor<3>) -> Tensor<3> {
        match self {
            Self::Ready(p) => p,
            Self::TimesContent(p_s) => p_s * content_query.clone(),
        }
    }
}

/// Conditional decoder layer (HF `ConditionalDetrDecoderLayer`).
#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub sa_qcontent_proj: Linear,
    pub sa_qpos_proj: Linear,
    pub sa_kcontent_proj: Linear,
    pub sa_kpos_proj: Linear,
    pub sa_v_proj: Linear,
    pub self_attn: ConditionalAttention,
    pub self_attn_layer_norm: LayerNorm,
    pub ca_qcontent_proj: Linear,
    /// Only in the first layer.
    pub ca_qpos_proj: Option<Linear>,
    pub ca_kcontent_proj: Linear,
    pub ca_kpos_proj: Linear,
    pub ca_v_proj: Linear,
    pub ca_qpos_sine_proj: Linear,
    pub encoder_attn: ConditionalAttention,
    pub encoder_attn_layer_norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
    pub final_layer_norm: LayerNorm,
    pub dropout: Dropout,
    pub activation_dropout: Dropout,
}

/// Configuration of a [`DecoderLayer`].
#[derive(Config, Debug)]
pub struct DecoderLayerConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub dropout: DropoutRates,
    /// Layer 0 has `ca_qpos_proj`.
    #[config(default = false)]
    pub is_first: bool,
}

impl DecoderLayerConfig {
    pub fn init(&self, device: &Device) -> DecoderLayer {
        let d = self.d_model;
        let lin = |i, o| xavier_linear(i, o, device);
        DecoderLayer {
            sa_qcontent_proj: lin(d, d),
            sa_qpos_proj: lin(d, d),
            sa_kcontent_proj: lin(d, d),
            sa_kpos_proj: lin(d, d),
            sa_v_proj: lin(d, d),
            self_attn: ConditionalAttentionConfig::new(d, self.heads).with_dropout(self.dropout.attention).init(device),
            self_attn_layer_norm: LayerNormConfig::new(d).init(device),
            ca_qcontent_proj: lin(d, d),
            ca_qpos_proj: self.is_first.then(|| lin(d, d)),
            ca_kcontent_proj: lin(d, d),
            ca_kpos_proj: lin(d, d),
            ca_v_proj: lin(d, d),
            ca_qpos_sine_proj: lin(d, d),
            encoder_attn: ConditionalAttentionConfig::new(d, self.heads)
                .with_dropout(self.dropout.attention)
                .init(device),
            encoder_attn_layer_norm: LayerNormConfig::new(d).init(device),
            fc1: lin(d, self.ffn_dim),
            fc2: lin(self.ffn_dim, d),
            final_layer_norm: LayerNormConfig::new(d).init(device),
            dropout: DropoutConfig::new(self.dropout.dropout).init(),
            activation_dropout: DropoutConfig::new(self.dropout.activation).init(),
        }
    }
}

/// Per-head cross-attention maps of one decoder layer (paper Fig. 1 / Fig. 5). DETR adds the positions to
/// the content before the product, so it has no spatial/content split: only `combined` is there.
#[derive(Debug, Clone)]
pub struct CrossAttentionMaps {
    /// `softmax(p_qᵀ p_k)`: spatial queries against spatial keys only. `[B, H, nq, h·w]`; `None` for DETR.
    pub spatial: Option<Tensor<4>>,
    /// `softmax(c_qᵀ c_k)`: content queries against content keys only. `[B, H, nq, h·w]`; `None` for DETR.
    pub content: Option<Tensor<4>>,
    /// The attention the layer actually applies, `softmax(c_qᵀ c_k + p_qᵀ p_k)`. `[B, H, nq, h·w]`
    pub combined: Tensor<4>,
}

/// Inputs shared by every decoder layer.
pub struct DecoderContext<'a> {
    /// Encoder output `[B, h·w, d]`.
    pub memory: Tensor<3>,
    /// Position embedding of the memory `[B, h·w, d]`.
    pub pos: Tensor<3>,
    /// Learned query embeddings `[B, nq, d]`.
    pub query_pos: Tensor<3>,
    /// `[B, 1, 1, h·w]`, true = padding.
    pub key_padding: Option<&'a Tensor<4, Bool>>,
}

impl DecoderLayer {
    /// # Shapes
    /// - tgt: `[B, nq, d]`, spatial: the spatial query before `ca_qpos_sine_proj`, `[B, nq, d]` (`T ⊙ p_s`
    ///   for CSQ)
    /// - output: `[B, nq, d]`
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        spatial: SpatialInput,
        ctx: &DecoderContext<'_>,
        want_maps: bool,
    ) -> (Tensor<3>, Option<CrossAttentionMaps>) {
        let heads = self.encoder_attn.heads;
        let [b, nq, d] = tgt.dims();
        let hw = ctx.memory.dims()[1];

        // Self-attention: content and positional parts of queries and keys are added.
        let q = self.sa_qcontent_proj.forward(tgt.clone()) + self.sa_qpos_proj.forward(ctx.query_pos.clone());
        let k = self.sa_kcontent_proj.forward(tgt.clone()) + self.sa_kpos_proj.forward(ctx.query_pos.clone());
        let v = self.sa_v_proj.forward(tgt.clone());
        let attended = self.self_attn.forward(q, k, v, None, false).output;
        let tgt = self.self_attn_layer_norm.forward(tgt + dropout::forward(&self.dropout, attended));

        // Cross-attention with the conditional spatial query.
        let q_content = self.ca_qcontent_proj.forward(tgt.clone());
        let k_content = self.ca_kcontent_proj.forward(ctx.memory.clone());
        let v = self.ca_v_proj.forward(ctx.memory.clone());
        let k_pos = self.ca_kpos_proj.forward(ctx.pos.clone());
        let (q_content, k_content) = match &self.ca_qpos_proj {
            Some(qpos) => (q_content + qpos.forward(ctx.query_pos.clone()), k_content + k_pos.clone()),
            None => (q_content, k_content),
        };
        let q_spatial = self.ca_qpos_sine_proj.forward(spatial.resolve(&tgt));
        let per_head = |x: Tensor<3>, len: usize| x.reshape([b, len, heads, d / heads]);
        let q = Tensor::cat(vec![per_head(q_content.clone(), nq), per_head(q_spatial.clone(), nq)], 3).reshape([
            b,
            nq,
            2 * d,
        ]);
        let k =
            Tensor::cat(vec![per_head(k_content.clone(), hw), per_head(k_pos.clone(), hw)], 3).reshape([b, hw, 2 * d]);
        let attended = self.encoder_attn.forward(q, k, v, ctx.key_padding, want_maps);
        let maps = want_maps.then(|| CrossAttentionMaps {
            // Same scale as the combined attention (1/sqrt(2d/M)), so the three maps compare directly.
            spatial: Some(partial_probs(q_spatial, k_pos, heads, ctx.key_padding)),
            content: Some(partial_probs(q_content, k_content, heads, ctx.key_padding)),
            combined: attended.probs.clone().expect("probabilities were asked for"),
        });
        let tgt = self.encoder_attn_layer_norm.forward(tgt + dropout::forward(&self.dropout, attended.output));

        // Feed-forward.
        let hidden = dropout::forward(&self.activation_dropout, relu(self.fc1.forward(tgt.clone())));
        let out = dropout::forward(&self.dropout, self.fc2.forward(hidden));
        (self.final_layer_norm.forward(tgt + out), maps)
    }
}

/// Attention probabilities of one part (content or spatial) of the concatenated query/key, scaled like
/// the full `2d/M` head.
fn partial_probs(q: Tensor<3>, k: Tensor<3>, heads: usize, key_padding: Option<&Tensor<4, Bool>>) -> Tensor<4> {
    // attention_probs scales by 1/sqrt(dh) with dh = d/M; the full head has 2d/M, hence the extra 1/sqrt(2).
    attention_probs(split_heads(q * std::f64::consts::FRAC_1_SQRT_2, heads), split_heads(k, heads), key_padding)
}

/// Outputs of a decoder (the conditional one, or DETR's).
pub struct DecoderOutput {
    /// `layernorm(h_i)` of every layer, first to last, each `[B, nq, d]`.
    pub hidden_states: Vec<Tensor<3>>,
    /// Reference points `s` (x, y), `[B, nq, 2]`; `None` when the model does not use them (DETR, or the
    /// CSQ-T / CSQ-C ablations without the box offset).
    pub reference_points: Option<Tensor<3>>,
    /// The boxes are predicted as offsets from the reference points (paper §3.2).
    pub box_offset: bool,
    /// Cross-attention maps of the last layer, when asked for (Conditional DETR only).
    pub last_maps: Option<CrossAttentionMaps>,
}

/// The conditional decoder (HF `ConditionalDetrDecoder`).
#[derive(Module, Debug)]
pub struct Decoder {
    pub layers: Vec<DecoderLayer>,
    pub layernorm: LayerNorm,
    pub query_scale: Mlp,
    pub ref_point_head: Mlp,
    pub d_model: usize,
    /// How the layers form their spatial queries (not a parameter).
    #[module(skip)]
    pub spatial_query: SpatialQuery,
    /// Whether the heads predict boxes as offsets from the reference points (not a parameter).
    #[module(skip)]
    pub box_offset: bool,
}

/// Configuration of a [`Decoder`].
#[derive(Config, Debug)]
pub struct DecoderConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub layers: usize,
    pub dropout: DropoutRates,
    #[config(default = "SpatialQuery::Csq")]
    pub spatial_query: SpatialQuery,
    /// `false`: the ablation without the box offset from the reference point.
    #[config(default = true)]
    pub box_offset: bool,
}

impl DecoderConfig {
    pub fn init(&self, device: &Device) -> Decoder {
        let d = self.d_model;
        Decoder {
            layers: (0..self.layers)
                .map(|i| {
                    DecoderLayerConfig::new(d, self.heads, self.ffn_dim, self.dropout)
                        .with_is_first(i == 0)
                        .init(device)
                })
                .collect(),
            layernorm: LayerNormConfig::new(d).init(device),
            query_scale: MlpConfig::new(d, d, d, 2).init(device),
            ref_point_head: MlpConfig::new(d, d, 2, 2).init(device),
            d_model: d,
            spatial_query: self.spatial_query,
            box_offset: self.box_offset,
        }
    }
}

impl Decoder {
    /// Runs all layers from a zero target.
    ///
    /// # Shapes
    /// - see [`DecoderContext`]; outputs `[B, nq, d]` per layer and reference points `[B, nq, 2]`.
    pub fn forward(&self, ctx: &DecoderContext<'_>, want_maps: bool, mut trace: Option<&mut Trace>) -> DecoderOutput {
        let reference_unsigmoid = self.ref_point_head.forward(ctx.query_pos.clone());
        let reference_points = sigmoid(reference_unsigmoid.clone());
        let sine_base = query_sine_embedding(reference_points.clone(), self.d_model);
        if let Some(t) = trace.as_deref_mut() {
            t.record("decoder.reference_points_unsigmoid", &reference_unsigmoid);
            t.record("decoder.reference_points", &reference_points);
            t.record("decoder.query_sine_embed_base", &sine_base);
        }
        let mut tgt = ctx.query_pos.zeros_like();
        let mut hidden_states = Vec::with_capacity(self.layers.len());
        let mut last_maps = None;
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            let spatial = self.spatial_input(i, &sine_base, &tgt, trace.as_deref_mut());
            if let (Some(t), SpatialInput::Ready(sine)) = (trace.as_deref_mut(), &spatial) {
                t.record(format!("decoder.query_sine_embed.{i}"), sine);
            }
            let (out, maps) = layer.forward(tgt, spatial, ctx, want_maps && i == last);
            if maps.is_some() {
                last_maps = maps;
            }
            if let Some(t) = trace.as_deref_mut() {
                t.record(format!("decoder.layer_outputs.{i}"), &out);
            }
            hidden_states.push(self.layernorm.forward(out.clone()));
            tgt = out;
        }
        if let Some(t) = trace {
            t.record("decoder.intermediate_hidden_states", &Tensor::stack::<4>(hidden_states.clone(), 0));
            if let Some(last) = hidden_states.last() {
                t.record("decoder.last_hidden_state", last);
            }
        }
        let reference_points =
            (self.spatial_query.uses_reference_point() || self.box_offset).then_some(reference_points);
        DecoderOutput { hidden_states, reference_points, box_offset: self.box_offset, last_maps }
    }

    /// Layer `layer`'s spatial query before `ca_qpos_sine_proj`, per [`SpatialQuery`].
    ///
    /// # Shapes
    /// - p_s: `[B, nq, d]` (`sinusoidal(s)`), f: `[B, nq, d]` (the layer's input) → `[B, nq, d]`
    pub fn spatial_input(
        &self,
        layer: usize,
        p_s: &Tensor<3>,
        f: &Tensor<3>,
        trace: Option<&mut Trace>,
    ) -> SpatialInput {
        let lambda = || {
            let scale = self.query_scale.forward(f.clone());
            if let Some(t) = trace {
                t.record(format!("decoder.query_scale.{layer}"), &scale);
            }
            scale
        };
        match (self.spatial_query, layer) {
            (SpatialQuery::Csq, 0) | (SpatialQuery::CsqP, _) => SpatialInput::Ready(p_s.clone()),
            (SpatialQuery::Csq, _) => SpatialInput::Ready(p_s.clone() * lambda()),
            (SpatialQuery::CsqT, _) => SpatialInput::Ready(lambda()),
            (SpatialQuery::CsqC, _) => SpatialInput::Ready(f.clone()),
            (SpatialQuery::CsqI, _) => SpatialInput::TimesContent(p_s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::TensorData;

    use super::*;

    fn tensor(values: &[f32], shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &Device::flex())
    }

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    /// A linear layer `x ↦ scale · x` (Burn stores the weight `[in, out]`).
    fn scaled_identity(d: usize, scale: f32) -> Linear {
        let device = Device::flex();
        let mut w = vec![0f32; d * d];
        for i in 0..d {
            w[i * d + i] = scale;
        }
        Linear {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d, d]), &device)),
            bias: Some(Param::from_tensor(Tensor::zeros([d], &device))),
        }
    }

    /// Each spatial-query variant's input to `ca_qpos_sine_proj`, with `query_scale` hand-set to
    /// `λ_q = FFN(f) = 2·relu(f)` so that λ_q, f and p_s are all distinguishable.
    #[test]
    fn each_spatial_query_variant_computes_its_formula() {
        let (b, nq, d) = (1, 2, 4);
        let p_s = tensor(&[0.5, -1.0, 2.0, 3.0, 1.5, 0.25, -0.5, 4.0], [b, nq, d]);
        let f = tensor(&[1.0, -2.0, 0.5, -0.25, -1.0, 3.0, 2.0, 0.0], [b, nq, d]);
        let c_q = tensor(&[2.0, 1.0, -1.0, 0.5, 0.0, -3.0, 1.0, 2.0], [b, nq, d]);
        let lambda: Vec<f32> = values(f.clone()).iter().map(|&x| 2.0 * x.max(0.0)).collect();
        let mul = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).collect::<Vec<f32>>();
        let (ps, fv, cq) = (values(p_s.clone()), values(f.clone()), values(c_q.clone()));
        for (variant, layer0, layer1) in [
            (SpatialQuery::Csq, ps.clone(), mul(&ps, &lambda)),
            (SpatialQuery::CsqP, ps.clone(), ps.clone()),
            (SpatialQuery::CsqT, lambda.clone(), lambda.clone()),
            (SpatialQuery::CsqC, fv.clone(), fv.clone()),
            (SpatialQuery::CsqI, mul(&ps, &cq), mul(&ps, &cq)),
        ] {
            let mut decoder = DecoderConfig::new(d, 2, 8, 2, DropoutRates::new().with_dropout(0.0))
                .with_spatial_query(variant)
                .init(&Device::flex());
            decoder.query_scale.layers = vec![scaled_identity(d, 1.0), scaled_identity(d, 2.0)];
            for (layer, want) in [(0, &layer0), (1, &layer1)] {
                let input = decoder.spatial_input(layer, &p_s, &f, None);
                // Only CSQ-I needs the layer's content query.
                assert_eq!(matches!(input, SpatialInput::TimesContent(_)), variant == SpatialQuery::CsqI);
                let got = input.resolve(&c_q);
                assert_eq!(got.dims(), [b, nq, d], "{variant:?} layer {layer}");
                assert_eq!(&values(got), want, "{variant:?} layer {layer}");
            }
        }
    }

    #[test]
    fn spatial_query_names_follow_the_paper() {
        for (name, variant) in [
            ("csq", SpatialQuery::Csq),
            ("csq-p", SpatialQuery::CsqP),
            ("CSQ-T", SpatialQuery::CsqT),
            ("csq-c", SpatialQuery::CsqC),
            ("CSQ-I", SpatialQuery::CsqI),
        ] {
            assert_eq!(serde_json::from_str::<SpatialQuery>(&format!("\"{name}\"")).unwrap(), variant);
        }
        assert!(serde_json::from_str::<SpatialQuery>("\"csq-x\"").is_err());
        assert!(SpatialQuery::Csq.uses_reference_point() && SpatialQuery::CsqI.uses_reference_point());
        assert!(!SpatialQuery::CsqT.uses_reference_point() && !SpatialQuery::CsqC.uses_reference_point());
    }
}
