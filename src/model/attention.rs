//! Multi-head attention (official `models/attention.py`; HF `DetrAttention` and `ConditionalDetrAttention`).
//!
//! [`DetrAttention`] is the encoder's self-attention, and both attentions of DETR's decoder: its own q/k/v
//! projections, positions added to queries and keys (not values). [`ConditionalAttention`] is the decoder's: the layer projects queries, keys and values itself
//! (paper §3.3) and this module only attends and applies `out_proj`. In cross-attention the per-head query
//! and key are the concatenation `[c_h, p_h]` of a content and a spatial part, so the q/k head dimension
//! (2d/M) differs from the value head dimension (d/M); the scale is `1/sqrt(q/k head dim)` either way.
//!
//! Inference on the CPU device attends through [`crate::kernels::attention`] (heads read in place from the
//! projections' rows); WebGPU uses Burn's fused attention, and training and attention maps the explicit
//! softmax below.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::kernels;
use crate::kernels::attention::{AttentionInput, AttentionShape, MASKED_SCORE};
use crate::model::cpu_backbone::host_values;
use crate::model::dropout;

/// A linear layer with Xavier-uniform weights, as the official transformer initialises its projections.
pub(crate) fn xavier_linear(d_input: usize, d_output: usize, device: &Device) -> Linear {
    LinearConfig::new(d_input, d_output).with_initializer(Initializer::XavierUniform { gain: 1.0 }).init(device)
}

/// `[B, L, H·dh]` → `[B, H, L, dh]`
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, l, d] = x.dims();
    x.reshape([b, l, heads, d / heads]).swap_dims(1, 2)
}

/// `[B, H, L, dh]` → `[B, L, H·dh]`
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, l, dh] = x.dims();
    x.swap_dims(1, 2).reshape([b, l, h * dh])
}

/// Attention probabilities `softmax(q·kᵀ / sqrt(dh))` with padding keys masked out.
///
/// # Shapes
/// - q: `[B, H, Lq, dh]`, k: `[B, H, Lk, dh]`, key_padding: `[B, 1, 1, Lk]` (true = padding)
/// - output: `[B, H, Lq, Lk]`
pub fn attention_probs(q: Tensor<4>, k: Tensor<4>, key_padding: Option<&Tensor<4, Bool>>) -> Tensor<4> {
    let [b, h, lq, dh] = q.dims();
    let lk = k.dims()[2];
    let scores = (q * (dh as f64).powf(-0.5)).matmul(k.swap_dims(2, 3));
    let scores = match key_padding {
        Some(mask) => scores.mask_fill(mask.clone().expand([b, h, lq, lk]), MASKED_SCORE),
        None => scores,
    };
    softmax(scores, 3)
}

/// The attention output and, for inspection, its probabilities.
pub struct Attended {
    /// `[B, Lq, H·dv]` after `out_proj`.
    pub output: Tensor<3>,
    /// `[B, H, Lq, Lk]`, when asked for.
    pub probs: Option<Tensor<4>>,
}

/// Whether a dropout layer would change its input here (training on an autodiff device).
fn dropout_active(dropout: &Dropout, x: &Tensor<4>) -> bool {
    dropout.prob > 0.0 && dropout.training.is_enabled() && x.device().is_autodiff()
}

/// What [`attend`] mixes the heads with: their count, the attention dropout and the output projection.
struct HeadMixing<'a> {
    heads: usize,
    dropout: &'a Dropout,
    out_proj: &'a Linear,
}

fn attend(
    [q, k, v]: [Tensor<3>; 3],
    key_padding: Option<&Tensor<4, Bool>>,
    mixing: HeadMixing<'_>,
    want_probs: bool,
) -> Attended {
    let HeadMixing { heads, dropout, out_proj } = mixing;
    let device = q.device();
    // Inference without inspection on the CPU: the attention kernel over the projections' rows, the
    // same function as below.
    if !want_probs && device == Device::flex() && !device.is_autodiff() {
        return Attended { output: out_proj.forward(cpu_attention([q, k, v], key_padding, heads)), probs: None };
    }
    let (q, k, v) = (split_heads(q, heads), split_heads(k, heads), split_heads(v, heads));
    // Inference without inspection elsewhere: Burn's fused attention (flash-style tiling on long
    // sequences), the same function as below.
    if !want_probs && !device.is_autodiff() && !dropout_active(dropout, &q) {
        let [b, h, lq, _] = q.dims();
        let lk = k.dims()[2];
        let mask = key_padding.map(|m| m.clone().expand([b, h, lq, lk]));
        let context =
            attention(q, k, v, mask, None, AttentionModuleOptions { scale: None, softcap: None, is_causal: false });
        return Attended { output: out_proj.forward(merge_heads(context)), probs: None };
    }
    let probs = attention_probs(q, k, key_padding);
    let context = dropout::forward(dropout, probs.clone()).matmul(v);
    Attended { output: out_proj.forward(merge_heads(context)), probs: want_probs.then_some(probs) }
}

/// [`kernels::attention::attention`] on tensors of the CPU device (which reads back synchronously).
///
/// # Shapes
/// - q: `[B, Lq, H·dk]`, k: `[B, Lk, H·dk]`, v: `[B, Lk, H·dv]`, key_padding: `[B, 1, 1, Lk]`
/// - output: `[B, Lq, H·dv]`
fn cpu_attention([q, k, v]: [Tensor<3>; 3], key_padding: Option<&Tensor<4, Bool>>, heads: usize) -> Tensor<3> {
    let device = q.device();
    let ([batch, q_len, q_row], [_, k_len, _], [_, _, v_row]) = (q.dims(), k.dims(), v.dims());
    let shape = AttentionShape { batch, heads, q_len, k_len, qk_dim: q_row / heads, v_dim: v_row / heads };
    let padding =
        key_padding.map(|m| m.clone().into_data().try_into_vec::<bool>().expect("a bool mask reads as bools"));
    let (q, k, v) = (host_values(q), host_values(k), host_values(v));
    let input = AttentionInput { q: &q, k: &k, v: &v, key_padding: padding.as_deref() };
    let mut out = vec![0.0; batch * q_len * v_row];
    kernels::attention::attention(input, shape, &mut out);
    Tensor::from_data(TensorData::new(out, [batch, q_len, v_row]), &device)
}

/// Attention with its own projections (HF `DetrAttention`): the encoder's self-attention and DETR's decoder
/// attentions.
#[derive(Module, Debug)]
pub struct DetrAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    pub dropout: Dropout,
    pub heads: usize,
}

/// Configuration of a [`DetrAttention`].
#[derive(Config, Debug)]
pub struct DetrAttentionConfig {
    pub d_model: usize,
    pub heads: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl DetrAttentionConfig {
    pub fn init(&self, device: &Device) -> DetrAttention {
        let d = self.d_model;
        DetrAttention {
            q_proj: xavier_linear(d, d, device),
            k_proj: xavier_linear(d, d, device),
            v_proj: xavier_linear(d, d, device),
            out_proj: xavier_linear(d, d, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

impl DetrAttention {
    fn mixing(&self) -> HeadMixing<'_> {
        HeadMixing { heads: self.heads, dropout: &self.dropout, out_proj: &self.out_proj }
    }

    /// Self-attention where queries and keys carry the position embedding and values do not.
    ///
    /// # Shapes
    /// - x, pos: `[B, L, d]`, key_padding: `[B, 1, 1, L]` → `[B, L, d]`
    pub fn forward(&self, x: Tensor<3>, pos: Tensor<3>, key_padding: Option<&Tensor<4, Bool>>) -> Tensor<3> {
        let with_pos = x.clone() + pos;
        self.forward_qkv(with_pos.clone(), with_pos, x, key_padding, false).output
    }

    /// Attention of `q_proj(query)` over `k_proj(key)` / `v_proj(value)`: the caller adds the positions
    /// (DETR's cross-attention: `query = tgt + query_pos`, `key = memory + pos`, `value = memory`).
    ///
    /// # Shapes
    /// - query: `[B, Lq, d]`, key and value: `[B, Lk, d]`, key_padding: `[B, 1, 1, Lk]`
    /// - output: `[B, Lq, d]`, probs `[B, H, Lq, Lk]` when `want_probs`
    pub fn forward_qkv(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        key_padding: Option<&Tensor<4, Bool>>,
        want_probs: bool,
    ) -> Attended {
        let q = self.q_proj.forward(query);
        let k = self.k_proj.forward(key);
        let v = self.v_proj.forward(value);
        attend([q, k, v], key_padding, self.mixing(), want_probs)
    }
}

/// Decoder attention over already projected queries, keys and values (HF `ConditionalDetrAttention`).
#[derive(Module, Debug)]
pub struct ConditionalAttention {
    pub out_proj: Linear,
    pub dropout: Dropout,
    pub heads: usize,
}

/// Configuration of a [`ConditionalAttention`]; `d_value` is both the value width and the output width.
#[derive(Config, Debug)]
pub struct ConditionalAttentionConfig {
    pub d_value: usize,
    pub heads: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl ConditionalAttentionConfig {
    pub fn init(&self, device: &Device) -> ConditionalAttention {
        ConditionalAttention {
            out_proj: xavier_linear(self.d_value, self.d_value, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

impl ConditionalAttention {
    fn mixing(&self) -> HeadMixing<'_> {
        HeadMixing { heads: self.heads, dropout: &self.dropout, out_proj: &self.out_proj }
    }

    /// # Shapes
    /// - q: `[B, Lq, H·dk]`, k: `[B, Lk, H·dk]`, v: `[B, Lk, d_value]`, key_padding: `[B, 1, 1, Lk]`
    /// - output: `[B, Lq, d_value]`, probs `[B, H, Lq, Lk]` when `want_probs`
    pub fn forward(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        key_padding: Option<&Tensor<4, Bool>>,
        want_probs: bool,
    ) -> Attended {
        attend([q, k, v], key_padding, self.mixing(), want_probs)
    }
}
