//! Sine position embeddings (official `models/position_encoding.py` `PositionEmbeddingSine` and
//! `gen_sineembed_for_position`; HF `ConditionalDetrSinePositionEmbedding`, `gen_sine_position_embeddings`).
//!
//! Both interleave `sin` (even features) and `cos` (odd features) of `x / 10000^(2⌊i/2⌋/n)` and put the
//! `y` features before the `x` features. The 2-D embedding of a feature map normalises the cumulative
//! sums of the pixel mask to `(0, 2π]`; the query embedding (paper §3.3, the `sinusoidal(s)` of the
//! conditional spatial query) scales the reference point `s ∈ [0, 1]²` by `2π`. Like HF, the query
//! embedding uses `d/2` features per coordinate (the official code hard-codes 128, i.e. d = 256).

use std::f32::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};

use super::mask::PixelMask;

const TEMPERATURE: f32 = 10000.0;

/// Sine features of positions.
///
/// # Shapes
/// - pos: `[..., 1]` (already scaled by 2π) → `[..., num_feats]`
pub fn sine_features<const D: usize>(pos: Tensor<D>, num_feats: usize) -> Tensor<D> {
    let device = pos.device();
    let mut dim_t = Vec::with_capacity(num_feats);
    let mut even = Vec::with_capacity(num_feats);
    for i in 0..num_feats {
        let exponent = (2 * (i / 2)) as f32 / num_feats as f32;
        dim_t.push(TEMPERATURE.powf(exponent));
        even.push(if i % 2 == 0 { 1.0f32 } else { 0.0 });
    }
    let mut shape = [1usize; D];
    shape[D - 1] = num_feats;
    let dim_t = Tensor::<1>::from_data(TensorData::new(dim_t, [num_feats]), &device).reshape(shape);
    let even = Tensor::<1>::from_data(TensorData::new(even, [num_feats]), &device).reshape(shape);
    let angles = pos / dim_t;
    let odd = even.clone().neg() + 1.0;
    angles.clone().sin() * even + angles.cos() * odd
}

/// 2-D sine embedding of a feature map with the given (feature-level) mask, normalised to 2π.
///
/// # Shapes
/// - output: `[B, h·w, d_model]` (row-major over `h, w`; features `[pos_y, pos_x]`)
pub fn position_embedding_sine(mask: &PixelMask, d_model: usize, device: &Device) -> Tensor<3> {
    let [b, h, w] = [mask.batch, mask.height, mask.width];
    let m = mask.to_float(device);
    let y = m.clone().cumsum(1);
    let x = m.cumsum(2);
    let y_last = y.clone().slice([0..b, h - 1..h, 0..w]);
    let x_last = x.clone().slice([0..b, 0..h, w - 1..w]);
    let y = y / (y_last + 1e-6) * (2.0 * PI);
    let x = x / (x_last + 1e-6) * (2.0 * PI);
    let feats = d_model / 2;
    let pos_y = sine_features(y.unsqueeze_dim::<4>(3), feats);
    let pos_x = sine_features(x.unsqueeze_dim::<4>(3), feats);
    Tensor::cat(vec![pos_y, pos_x], 3).reshape([b, h * w, d_model])
}

/// Sine embedding of 2-D reference points.
///
/// # Shapes
/// - points: `[B, N, 2]` (x, y in [0, 1]) → `[B, N, d_model]` (`[pos_y, pos_x]`)
pub fn query_sine_embedding(points: Tensor<3>, d_model: usize) -> Tensor<3> {
    let [b, n, _] = points.dims();
    let scaled = points * (2.0 * PI);
    let x = scaled.clone().slice([0..b, 0..n, 0..1]);
    let y = scaled.slice([0..b, 0..n, 1..2]);
    let feats = d_model / 2;
    Tensor::cat(vec![sine_features(y, feats), sine_features(x, feats)], 2)
}
