//! The decoder a model runs: Conditional DETR's conditional decoder or DETR's original one. The backbone,
//! position encoding, encoder and heads are shared, so one model type ([`crate::model::ConditionalDetr`])
//! holds either and the CLI, the page and training have one code path.
//!
//! [`Module`] is implemented by hand, not derived: a derived enum module puts the variant name into every
//! parameter path (`model.decoder.Conditional.layers.0…`), while here the paths stay the Hugging Face names
//! of either checkpoint (`model.decoder.layers.0…`), so checkpoints, exports and training snapshots keep
//! the names they had.

use burn::module::{Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor};
use burn::tensor::Device;

use super::{Decoder, DecoderContext, DecoderOutput, DetrDecoder, DropoutRates};
use crate::model::Trace;

/// Conditional DETR's decoder or DETR's.
#[derive(Debug, Clone)]
pub enum DecoderVariant {
    /// The conditional decoder (paper §3.2–3.3), with its ablation switches.
    Conditional(Decoder),
    /// DETR's decoder (the paper's baseline).
    Detr(DetrDecoder),
}

impl DecoderVariant {
    pub fn d_model(&self) -> usize {
        match self {
            Self::Conditional(d) => d.d_model,
            Self::Detr(d) => d.d_model,
        }
    }

    pub fn is_detr(&self) -> bool {
        matches!(self, Self::Detr(_))
    }

    pub fn num_layers(&self) -> usize {
        match self {
            Self::Conditional(d) => d.layers.len(),
            Self::Detr(d) => d.layers.len(),
        }
    }

    /// Runs the decoder from a zero target; `want_maps` asks for the last layer's cross-attention maps
    /// (Conditional DETR only).
    ///
    /// # Shapes
    /// - see [`DecoderContext`] and [`DecoderOutput`]
    pub fn forward(&self, ctx: &DecoderContext<'_>, want_maps: bool, trace: Option<&mut Trace>) -> DecoderOutput {
        match self {
            Self::Conditional(d) => d.forward(ctx, want_maps, trace),
            Self::Detr(d) => d.forward(ctx, want_maps, trace),
        }
    }

    /// Sets the dropout probabilities of every layer.
    pub fn set_dropout(&mut self, rates: DropoutRates) {
        // The two layer types name their dropout modules alike.
        macro_rules! set {
            ($layers:expr) => {
                for layer in $layers {
                    layer.dropout.prob = rates.dropout;
                    layer.activation_dropout.prob = rates.activation;
                    layer.self_attn.dropout.prob = rates.attention;
                    layer.encoder_attn.dropout.prob = rates.attention;
                }
            };
        }
        match self {
            Self::Conditional(d) => set!(&mut d.layers),
            Self::Detr(d) => set!(&mut d.layers),
        }
    }
}

/// Applies `$f` to the inner decoder and wraps the result back into the same variant.
macro_rules! each {
    ($self:expr, $inner:ident => $body:expr) => {
        match $self {
            DecoderVariant::Conditional($inner) => DecoderVariant::Conditional($body),
            DecoderVariant::Detr($inner) => DecoderVariant::Detr($body),
        }
    };
}

impl Module for DecoderVariant {
    fn collect_devices(&self, devices: Devices) -> Devices {
        match self {
            Self::Conditional(d) => d.collect_devices(devices),
            Self::Detr(d) => d.collect_devices(devices),
        }
    }

    fn fork(self, device: &Device) -> Self {
        each!(self, d => d.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        each!(self, d => d.to_device(device))
    }

    fn train(self) -> Self {
        each!(self, d => d.train())
    }

    fn valid(&self) -> Self {
        each!(self, d => d.valid())
    }

    fn materialize(self) -> Self {
        each!(self, d => d.materialize())
    }

    fn num_params(&self) -> usize {
        match self {
            Self::Conditional(d) => Module::num_params(d),
            Self::Detr(d) => Module::num_params(d),
        }
    }

    // No `enter_module` for the variant: the parameter paths are those of the inner decoder.
    fn visit<Visitor: ModuleVisitor>(&self, visitor: &mut Visitor) {
        match self {
            Self::Conditional(d) => d.visit(visitor),
            Self::Detr(d) => d.visit(visitor),
        }
    }

    fn map<Mapper: ModuleMapper>(self, mapper: &mut Mapper) -> Self {
        each!(self, d => d.map(mapper))
    }
}

impl ModuleDisplayDefault for DecoderVariant {
    fn content(&self, content: Content) -> Option<Content> {
        match self {
            Self::Conditional(d) => d.content(content),
            Self::Detr(d) => d.content(content),
        }
    }
}

impl ModuleDisplay for DecoderVariant {}
