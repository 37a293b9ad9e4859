//! The ResNet backbone ([`super::backbone`]) prepared for the CPU kernels of [`crate::kernels`], for
//! inference on Burn's CPU (Flex) device: every frozen batch norm folded into its convolution, the weights
//! packed once, feature maps kept channels-last from the stem to the last stage, and bias + ReLU (+ the
//! shortcut) applied in the same pass as each convolution. Same function as [`ResNet::forward`]; the
//! parity tests check it against the reference fixtures.

use burn::nn::conv::Conv2d;
use burn::tensor::{Tensor, TensorData};

use super::backbone::{Bottleneck, FrozenBatchNorm2d, ResNet, explicit_padding, fold_batch_norm};
use crate::kernels::FeatureMap;
use crate::kernels::conv::{ConvGeometry, PackedConv};
use crate::kernels::pool::max_pool;

/// A bottleneck block with packed convolutions.
#[derive(Debug, Clone)]
struct PackedBottleneck {
    conv1: PackedConv,
    conv2: PackedConv,
    conv3: PackedConv,
    downsample: Option<PackedConv>,
}

impl PackedBottleneck {
    fn forward(&self, x: &FeatureMap) -> FeatureMap {
        let shortcut = self.downsample.as_ref().map(|d| d.forward(x, None, false));
        let y = self.conv1.forward(x, None, true);
        let y = self.conv2.forward(&y, None, true);
        self.conv3.forward(&y, Some(shortcut.as_ref().unwrap_or(x)), true)
    }
}

/// A [`ResNet`] packed for the CPU kernels (inference only: no gradients flow through it).
#[derive(Debug, Clone)]
pub struct CpuBackbone {
    stem: PackedConv,
    stages: [Vec<PackedBottleneck>; 4],
}

/// Which stage outputs [`CpuBackbone::forward`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// Only the last stage (what the detector uses).
    Last,
    /// All four (for traces and profiles).
    All,
}

impl CpuBackbone {
    /// Folds and packs the weights of `resnet` (read from its device, which must allow synchronous reads:
    /// the CPU backend does).
    pub fn new(resnet: &ResNet) -> Self {
        let block = |b: &Bottleneck| PackedBottleneck {
            conv1: pack(&b.conv1, &b.bn1),
            conv2: pack(&b.conv2, &b.bn2),
            conv3: pack(&b.conv3, &b.bn3),
            downsample: b.downsample.as_ref().map(|d| pack(&d.conv, &d.bn)),
        };
        let stage = |s: &[Bottleneck]| s.iter().map(block).collect::<Vec<_>>();
        Self {
            stem: pack(&resnet.conv1, &resnet.bn1),
            stages: [stage(&resnet.layer1), stage(&resnet.layer2), stage(&resnet.layer3), stage(&resnet.layer4)],
        }
    }

    /// The stem: 7×7/2 convolution + ReLU, then the 3×3/2 max-pool.
    pub fn stem(&self, x: &FeatureMap) -> FeatureMap {
        // The pool follows a ReLU, so its padding value cannot matter.
        max_pool(&self.stem.forward(x, None, true), 3, 2, 1)
    }

    /// Stage `i` (0-based: `layer1` … `layer4`).
    pub fn stage(&self, i: usize, mut x: FeatureMap) -> FeatureMap {
        for block in &self.stages[i] {
            x = block.forward(&x);
        }
        x
    }

    /// # Shapes
    /// - x: `[B, H, W, 3]` (normalised pixels, channels-last)
    /// - output: the stage outputs (strides 4, 8, 16, 32; 16 with DC5), channels-last
    pub fn forward(&self, x: &FeatureMap, stages: Stages) -> Vec<FeatureMap> {
        let mut x = self.stem(x);
        let mut outputs = Vec::with_capacity(4);
        for i in 0..4 {
            x = self.stage(i, x);
            if stages == Stages::All && i < 3 {
                outputs.push(x.clone());
            }
        }
        outputs.push(x);
        outputs
    }
}

/// `bn(conv(·))` as one packed convolution.
fn pack(conv: &Conv2d, bn: &FrozenBatchNorm2d) -> PackedConv {
    assert_eq!(conv.groups, 1, "grouped convolutions are not used by the backbone");
    let (weight, bias) = fold_batch_norm(conv, bn);
    let [co, ci, kh, kw] = weight.dims();
    let geometry = ConvGeometry {
        in_channels: ci,
        out_channels: co,
        kernel: [kh, kw],
        stride: conv.stride,
        padding: explicit_padding(conv),
        dilation: conv.dilation,
    };
    PackedConv::new(geometry, &host_values(weight), host_values(bias))
}

/// The values of a tensor on a device that reads synchronously (the CPU backend), as `f32`.
pub(crate) fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 values after conversion")
}

/// A channels-last map as a Burn tensor `[B, C, H, W]` (a permuted view of the channels-last data).
pub fn to_tensor(map: FeatureMap, device: &burn::tensor::Device) -> Tensor<4> {
    let FeatureMap { data, batch, height, width, channels } = map;
    Tensor::<4>::from_data(TensorData::new(data, [batch, height, width, channels]), device).permute([0, 3, 1, 2])
}
