//! A model prepared for inference. On Burn's CPU (Flex) device the backbone runs through the packed CPU
//! kernels ([`CpuBackbone`]: channels-last, batch norms folded, Winograd 3×3 convolutions); on WebGPU, and
//! on an autodiff device, everything runs through Burn as in [`ConditionalDetr::forward`]. The transformer and
//! the heads are Burn's in both cases, so the two paths differ only in how the ResNet is computed.
//!
//! The packing reads the weights once; build a new [`InferenceModel`] whenever the weights change.

use burn::tensor::{Device, Tensor};

use super::cpu_backbone::{CpuBackbone, Stages, host_values, to_tensor};
use super::mask::PixelMask;
use super::{ConditionalDetr, DetrOutput, ForwardOptions, Trace};
use crate::kernels::FeatureMap;

/// A [`ConditionalDetr`] with, on the CPU, its backbone packed for the CPU kernels.
#[derive(Debug, Clone)]
pub struct InferenceModel {
    pub model: ConditionalDetr,
    cpu: Option<CpuBackbone>,
}

impl InferenceModel {
    pub fn new(model: ConditionalDetr) -> Self {
        let device = model.model.query_position_embeddings.weight.device();
        let cpu = (device == Device::flex() && !device.is_autodiff()).then(|| CpuBackbone::new(&model.model.backbone));
        Self { model, cpu }
    }

    /// Everything through Burn, on any device (for comparisons).
    pub fn from_burn(model: ConditionalDetr) -> Self {
        Self { model, cpu: None }
    }

    /// Whether the backbone runs through the packed CPU kernels.
    pub fn uses_cpu_kernels(&self) -> bool {
        self.cpu.is_some()
    }

    /// The backbone's stage outputs `[B, C_i, H_i, W_i]` (only the last one with [`Stages::Last`]).
    ///
    /// # Shapes
    /// - pixel_values: `[B, 3, H, W]`
    pub fn backbone(&self, pixel_values: Tensor<4>, stages: Stages) -> Vec<Tensor<4>> {
        match &self.cpu {
            Some(cpu) => {
                let device = pixel_values.device();
                let [b, c, h, w] = pixel_values.dims();
                let input = FeatureMap::from_nchw(&host_values(pixel_values), b, c, h, w);
                cpu.forward(&input, stages).into_iter().map(|f| to_tensor(f, &device)).collect()
            }
            None => {
                let mut all = self.model.model.backbone.forward(pixel_values);
                if stages == Stages::Last {
                    all.drain(..all.len() - 1);
                }
                all
            }
        }
    }

    /// As [`ConditionalDetr::forward`].
    ///
    /// # Shapes
    /// - pixel_values: `[B, 3, H, W]` (normalised, zero-padded), mask: `[B, H, W]`
    pub fn forward(&self, pixel_values: Tensor<4>, mask: &PixelMask, options: ForwardOptions) -> DetrOutput {
        let features = self.backbone(pixel_values, Stages::Last);
        self.model.forward_from_backbone(features, mask, options, None)
    }

    /// As [`ConditionalDetr::forward_traced`]: records the fixture's intermediate tensors.
    pub fn forward_traced(
        &self,
        pixel_values: Tensor<4>,
        mask: &PixelMask,
        options: ForwardOptions,
        trace: &mut Trace,
    ) -> DetrOutput {
        let features = self.backbone(pixel_values, Stages::All);
        self.model.forward_from_backbone(features, mask, options, Some(trace))
    }
}
