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

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Bool, Device, Tensor};

use super::{DropoutRates, Mlp, MlpConfig};
use crate::model::Trace;
use crate::model::attention::{
    ConditionalAttention, ConditionalAttentionConfig, attention_probs, split_heads, xavier_linear,
};
use crate::model::position_encoding::query_sine_embedding;

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

/// Per-head cross-attention maps of one decoder layer (paper Fig. 1 / Fig. 5).
#[derive(Debug, Clone)]
pub struct CrossAttentionMaps {
    /// `softmax(p_qᵀ p_k)`: spatial queries against spatial keys only. `[B, H, nq, h·w]`
    pub spatial: Tensor<4>,
    /// `softmax(c_qᵀ c_k)`: content queries against content keys only. `[B, H, nq, h·w]`
    pub content: Tensor<4>,
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
    /// - tgt: `[B, nq, d]`, query_sine_embed: `[B, nq, d]` (already scaled by `T`)
    /// - output: `[B, nq, d]`
    pub fn forward(
        &self,
        tgt: Tensor<3>,
        query_sine_embed: Tensor<3>,
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
        let tgt = self.self_attn_layer_norm.forward(tgt + self.dropout.forward(attended));

        // Cross-attention with the conditional spatial query.
        let q_content = self.ca_qcontent_proj.forward(tgt.clone());
        let k_content = self.ca_kcontent_proj.forward(ctx.memory.clone());
        let v = self.ca_v_proj.forward(ctx.memory.clone());
        let k_pos = self.ca_kpos_proj.forward(ctx.pos.clone());
        let (q_content, k_content) = match &self.ca_qpos_proj {
            Some(qpos) => (q_content + qpos.forward(ctx.query_pos.clone()), k_content + k_pos.clone()),
            None => (q_content, k_content),
        };
        let q_spatial = self.ca_qpos_sine_proj.forward(query_sine_embed);
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
            spatial: partial_probs(q_spatial, k_pos, heads, ctx.key_padding),
            content: partial_probs(q_content, k_content, heads, ctx.key_padding),
            combined: attended.probs.clone().expect("probabilities were asked for"),
        });
        let tgt = self.encoder_attn_layer_norm.forward(tgt + self.dropout.forward(attended.output));

        // Feed-forward.
        let hidden = self.activation_dropout.forward(relu(self.fc1.forward(tgt.clone())));
        let out = self.dropout.forward(self.fc2.forward(hidden));
        (self.final_layer_norm.forward(tgt + out), maps)
    }
}

/// Attention probabilities of one part (content or spatial) of the concatenated query/key, scaled like
/// the full `2d/M` head.
fn partial_probs(q: Tensor<3>, k: Tensor<3>, heads: usize, key_padding: Option<&Tensor<4, Bool>>) -> Tensor<4> {
    // attention_probs scales by 1/sqrt(dh) with dh = d/M; the full head has 2d/M, hence the extra 1/sqrt(2).
    attention_probs(split_heads(q * std::f64::consts::FRAC_1_SQRT_2, heads), split_heads(k, heads), key_padding)
}

/// Outputs of the conditional decoder.
pub struct DecoderOutput {
    /// `layernorm(h_i)` of every layer, first to last, each `[B, nq, d]`.
    pub hidden_states: Vec<Tensor<3>>,
    /// Reference points `s` (x, y), `[B, nq, 2]`.
    pub reference_points: Tensor<3>,
    /// Cross-attention maps of the last layer, when asked for.
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
}

/// Configuration of a [`Decoder`].
#[derive(Config, Debug)]
pub struct DecoderConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub layers: usize,
    pub dropout: DropoutRates,
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
            let sine = if i == 0 {
                sine_base.clone()
            } else {
                let scale = self.query_scale.forward(tgt.clone());
                if let Some(t) = trace.as_deref_mut() {
                    t.record(format!("decoder.query_scale.{i}"), &scale);
                }
                sine_base.clone() * scale
            };
            if let Some(t) = trace.as_deref_mut() {
                t.record(format!("decoder.query_sine_embed.{i}"), &sine);
            }
            let (out, maps) = layer.forward(tgt, sine, ctx, want_maps && i == last);
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
        DecoderOutput { hidden_states, reference_points, last_maps }
    }
}
