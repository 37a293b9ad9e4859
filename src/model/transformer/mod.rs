//! The transformer of Conditional DETR: the post-norm [`encoder`] and the conditional [`decoder`] (paper
//! §3.2–3.3; official `models/transformer.py`), with the [`mlp`] they and the heads use; and the decoder of
//! DETR, the paper's baseline ([`detr_decoder`]). A model holds one of the two decoders as a
//! [`DecoderVariant`].

mod decoder;
mod detr_decoder;
mod encoder;
mod mlp;
mod variant;

use burn::config::Config;

pub use decoder::{
    CrossAttentionMaps, Decoder, DecoderConfig, DecoderContext, DecoderLayer, DecoderLayerConfig, DecoderOutput,
    SpatialInput, SpatialQuery,
};
pub use detr_decoder::{DetrDecoder, DetrDecoderConfig, DetrDecoderLayer, DetrDecoderLayerConfig};
pub use encoder::{Encoder, EncoderLayer, EncoderLayerConfig};
pub use mlp::{Mlp, MlpConfig};
pub use variant::DecoderVariant;

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
