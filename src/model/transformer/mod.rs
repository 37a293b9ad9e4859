//! The transformer of Conditional DETR: the post-norm [`encoder`] and the conditional [`decoder`] (paper
//! §3.2–3.3; official `models/transformer.py`), with the [`mlp`] they and the heads use.

mod decoder;
mod encoder;
mod mlp;

use burn::config::Config;

pub use decoder::{
    CrossAttentionMaps, Decoder, DecoderConfig, DecoderContext, DecoderLayer, DecoderLayerConfig, DecoderOutput,
};
pub use encoder::{Encoder, EncoderLayer, EncoderLayerConfig};
pub use mlp::{Mlp, MlpConfig};

/// Dropout probabilities of a transformer layer (official: all three equal `--dropout` in training).
#[derive(Config, Debug, Copy)]
pub struct DropoutRates {
    #[config(default = 0.1)]
    pub dropout: f64,
    #[config(default = 0.0)]
    pub attention: f64,
    #[config(default = 0.0)]
    pub activation: f64,
}
