//! DETR's decoder, the paper's baseline (Carion et al., ECCV 2020; official facebookresearch/detr
//! `models/transformer.py` `TransformerDecoder`; HF `DetrDecoder`).
//!
//! Each post-norm layer runs self-attention over the queries, cross-attention to the encoder memory and a
//! ReLU feed-forward, each followed by dropout, a residual and a layer norm. The learned object queries
//! (`query_pos`) are added to the queries and keys of self-attention and to the queries of
//! cross-attention; the memory's sine position embedding is added to the cross-attention keys; values
//! carry no position. There are no reference points: a query's location is only what its content and its
//! learned embedding encode, which is the dependence Conditional DETR removes (paper §3.1). The per-layer
//! outputs handed to the heads are `layernorm(h_i)` (the decoder's final `layernorm`); as for the
//! conditional decoder, the residual stream itself is not normalised between layers (official semantics:
//! HF's `auxiliary_loss = true` normalises it, otherwise they agree).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use super::{CrossAttentionMaps, DecoderContext, DecoderOutput, DropoutRates};
use crate::model::Trace;
use crate::model::attention::{DetrAttention, DetrAttentionConfig, xavier_linear};
use crate::model::dropout;

/// DETR decoder layer (HF `DetrDecoderLayer`; official `TransformerDecoderLayer.forward_post`).
#[derive(Module, Debug)]
pub struct DetrDecoderLayer {
    pub self_attn: DetrAttention,
    pub self_attn_layer_norm: LayerNorm,
    pub encoder_attn: DetrAttention,
    pub encoder_attn_layer_norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
    pub final_layer_norm: LayerNorm,
    pub dropout: Dropout,
    pub activation_dropout: Dropout,
}

/// Configuration of a [`DetrDecoderLayer`].
#[derive(Config, Debug)]
pub struct DetrDecoderLayerConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub dropout: DropoutRates,
}

impl DetrDecoderLayerConfig {
    pub fn init(&self, device: &Device) -> DetrDecoderLayer {
        let d = self.d_model;
        let attention = || DetrAttentionConfig::new(d, self.heads).with_dropout(self.dropout.attention).init(device);
        DetrDecoderLayer {
            self_attn: attention(),
            self_attn_layer_norm: LayerNormConfig::new(d).init(device),
            encoder_attn: attention(),
            encoder_attn_layer_norm: LayerNormConfig::new(d).init(device),
            fc1: xavier_linear(d, self.ffn_dim, device),
            fc2: xavier_linear(self.ffn_dim, d, device),
            final_layer_norm: LayerNormConfig::new(d).init(device),
            dropout: DropoutConfig::new(self.dropout.dropout).init(),
            activation_dropout: DropoutConfig::new(self.dropout.activation).init(),
        }
    }
}

impl DetrDecoderLayer {
    /// Returns the layer output and, when `want_maps`, its cross-attention probabilities.
    ///
    /// # Shapes
    /// - tgt: `[B, nq, d]`; see [`DecoderContext`] → `[B, nq, d]`, maps `[B, H, nq, h·w]`
    pub fn forward(&self, tgt: Tensor<3>, ctx: &DecoderContext<'_>, want_maps: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let with_query = tgt.clone() + ctx.query_pos.clone();
        let attended = self.self_attn.forward_qkv(with_query.clone(), with_query, tgt.clone(), None, false).output;
        let tgt = self.self_attn_layer_norm.forward(tgt + dropout::forward(&self.dropout, attended));

        let query = tgt.clone() + ctx.query_pos.clone();
        let key = ctx.memory.clone() + ctx.pos.clone();
        let attended = self.encoder_attn.forward_qkv(query, key, ctx.memory.clone(), ctx.key_padding, want_maps);
        let tgt = self.encoder_attn_layer_norm.forward(tgt + dropout::forward(&self.dropout, attended.output));

        let hidden = dropout::forward(&self.activation_dropout, relu(self.fc1.forward(tgt.clone())));
        let out = dropout::forward(&self.dropout, self.fc2.forward(hidden));
        (self.final_layer_norm.forward(tgt + out), attended.probs)
    }
}

/// DETR's decoder (HF `DetrDecoder`).
#[derive(Module, Debug)]
pub struct DetrDecoder {
    pub layers: Vec<DetrDecoderLayer>,
    pub layernorm: LayerNorm,
    pub d_model: usize,
}

/// Configuration of a [`DetrDecoder`].
#[derive(Config, Debug)]
pub struct DetrDecoderConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub layers: usize,
    pub dropout: DropoutRates,
}

impl DetrDecoderConfig {
    pub fn init(&self, device: &Device) -> DetrDecoder {
        let layer = DetrDecoderLayerConfig::new(self.d_model, self.heads, self.ffn_dim, self.dropout);
        DetrDecoder {
            layers: (0..self.layers).map(|_| layer.init(device)).collect(),
            layernorm: LayerNormConfig::new(self.d_model).init(device),
            d_model: self.d_model,
        }
    }
}

impl DetrDecoder {
    /// Runs all layers from a zero target; with `want_maps`, keeps the last layer's cross-attention (the
    /// combined map only: see [`CrossAttentionMaps`]).
    ///
    /// # Shapes
    /// - see [`DecoderContext`]; outputs `[B, nq, d]` per layer, no reference points.
    pub fn forward(&self, ctx: &DecoderContext<'_>, want_maps: bool, mut trace: Option<&mut Trace>) -> DecoderOutput {
        let mut tgt = ctx.query_pos.zeros_like();
        let mut hidden_states = Vec::with_capacity(self.layers.len());
        let mut last_maps = None;
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            let (out, probs) = layer.forward(tgt, ctx, want_maps && i == last);
            tgt = out;
            if let Some(combined) = probs {
                last_maps = Some(CrossAttentionMaps { spatial: None, content: None, combined });
            }
            if let Some(t) = trace.as_deref_mut() {
                t.record(format!("decoder.layer_outputs.{i}"), &tgt);
            }
            hidden_states.push(self.layernorm.forward(tgt.clone()));
        }
        if let (Some(t), Some(last)) = (trace, hidden_states.last()) {
            t.record("decoder.last_hidden_state", last);
        }
        DecoderOutput { hidden_states, reference_points: None, box_offset: false, last_maps }
    }
}
