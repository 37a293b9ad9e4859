//! The post-norm transformer encoder (official `models/transformer.py` `TransformerEncoderLayer`; HF
//! `ConditionalDetrEncoderLayer`): self-attention with the position embedding added to queries and keys,
//! then a ReLU feed-forward, each followed by dropout, a residual and a layer norm.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};

use super::DropoutRates;
use crate::model::Trace;
use crate::model::attention::{DetrAttention, DetrAttentionConfig, xavier_linear};
use crate::model::dropout;

/// Post-norm encoder layer.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub self_attn: DetrAttention,
    pub self_attn_layer_norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
    pub final_layer_norm: LayerNorm,
    pub dropout: Dropout,
    pub activation_dropout: Dropout,
}

/// Configuration of an [`EncoderLayer`].
#[derive(Config, Debug)]
pub struct EncoderLayerConfig {
    pub d_model: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub dropout: DropoutRates,
}

impl EncoderLayerConfig {
    pub fn init(&self, device: &Device) -> EncoderLayer {
        let d = self.d_model;
        EncoderLayer {
            self_attn: DetrAttentionConfig::new(d, self.heads).with_dropout(self.dropout.attention).init(device),
            self_attn_layer_norm: LayerNormConfig::new(d).init(device),
            fc1: xavier_linear(d, self.ffn_dim, device),
            fc2: xavier_linear(self.ffn_dim, d, device),
            final_layer_norm: LayerNormConfig::new(d).init(device),
            dropout: DropoutConfig::new(self.dropout.dropout).init(),
            activation_dropout: DropoutConfig::new(self.dropout.activation).init(),
        }
    }
}

impl EncoderLayer {
    /// # Shapes
    /// - x, pos: `[B, L, d]`, key_padding: `[B, 1, 1, L]` → `[B, L, d]`
    pub fn forward(&self, x: Tensor<3>, pos: Tensor<3>, key_padding: Option<&Tensor<4, Bool>>) -> Tensor<3> {
        let attended = self.self_attn.forward(x.clone(), pos, key_padding);
        let x = self.self_attn_layer_norm.forward(x + dropout::forward(&self.dropout, attended));
        let hidden = dropout::forward(&self.activation_dropout, relu(self.fc1.forward(x.clone())));
        let out = dropout::forward(&self.dropout, self.fc2.forward(hidden));
        self.final_layer_norm.forward(x + out)
    }
}

/// The encoder: a stack of [`EncoderLayer`]s without a final norm.
#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// # Shapes
    /// - x, pos: `[B, L, d]`, key_padding: `[B, 1, 1, L]` → `[B, L, d]`
    pub fn forward(
        &self,
        mut x: Tensor<3>,
        pos: Tensor<3>,
        key_padding: Option<&Tensor<4, Bool>>,
        mut trace: Option<&mut Trace>,
    ) -> Tensor<3> {
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, pos.clone(), key_padding);
            if let Some(t) = trace.as_deref_mut() {
                t.record(format!("encoder.layer_outputs.{i}"), &x);
            }
        }
        x
    }
}
