//! A model prepared for inference. On Burn's CPU (Flex) device the backbone runs through the packed CPU
//! kernels ([`CpuBackbone`]: channels-last, batch norms folded, Winograd 3×3 convolutions); on WebGPU, and
//! on an autodiff device, everything runs through Burn as in [`ConditionalDetr::forward`]. The transformer and
//! the heads are Burn's in both cases (only their attention has a CPU kernel, chosen in
//! [`super::attention`] by the device), so the two paths differ only in how the ResNet is computed.
//!
//! The packing reads the weights once; build a new [`InferenceModel`] whenever the weights change.

use burn::tensor::{Device, ExecutionError, Tensor};
use serde::Serialize;

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

    /// As [`InferenceModel::forward`], timing each backbone stage, the encoder and the decoder with the heads. The
    /// device is synchronised (an asynchronous read-back, so this also works on WebGPU) after each part, so
    /// the parts add up to the whole; `now` is a clock in milliseconds (the platform's: `Instant` natively,
    /// `performance.now()` in the browser).
    ///
    /// # Shapes
    /// - pixel_values: `[B, 3, H, W]`, mask: `[B, H, W]`
    pub async fn forward_profiled(
        &self,
        pixel_values: Tensor<4>,
        mask: &PixelMask,
        options: ForwardOptions,
        now: &dyn Fn() -> f64,
    ) -> Result<(DetrOutput, Vec<PartTime>), ExecutionError> {
        let mut parts = Vec::with_capacity(7);
        let mut start = now();
        let mut lap = |name: &'static str, parts: &mut Vec<PartTime>| {
            let t = now();
            parts.push(PartTime { name, ms: t - start });
            start = t;
        };
        let features = match &self.cpu {
            Some(cpu) => {
                let device = pixel_values.device();
                let [b, c, h, w] = pixel_values.dims();
                let mut x = cpu.stem(&FeatureMap::from_nchw(&host_values(pixel_values), b, c, h, w));
                lap("stem", &mut parts);
                for (i, name) in STAGES.into_iter().enumerate() {
                    x = cpu.stage(i, x);
                    lap(name, &mut parts);
                }
                to_tensor(x, &device)
            }
            None => {
                let resnet = &self.model.model.backbone;
                let mut x = resnet.stem(pixel_values);
                sync(&x).await?;
                lap("stem", &mut parts);
                for (i, name) in STAGES.into_iter().enumerate() {
                    x = resnet.stage(i, x);
                    sync(&x).await?;
                    lap(name, &mut parts);
                }
                x
            }
        };
        let encoded = self.model.encode(vec![features], mask, None);
        sync(&encoded.memory).await?;
        lap("encoder", &mut parts);
        let output = self.model.decode(encoded, options, None);
        sync(&output.last.pred_boxes).await?;
        lap("decoder + heads", &mut parts);
        Ok((output, parts))
    }
}

const STAGES: [&str; 4] = ["layer1", "layer2", "layer3", "layer4"];

/// Time spent in one part of the forward pass ([`InferenceModel::forward_profiled`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartTime {
    /// `stem`, `layer1` … `layer4`, `encoder` (with the input projection), `decoder + heads`.
    pub name: &'static str,
    pub ms: f64,
}

/// Waits until the device has computed `t` (reads back one value).
async fn sync<const D: usize>(t: &Tensor<D>) -> Result<(), ExecutionError> {
    t.clone().sum().into_data_async().await.map(drop)
}
