//! ResNet backbone with frozen batch norm (official `models/backbone.py`; HF `ConditionalDetrConvEncoder`
//! over timm's `resnet50`/`resnet101` with `features_only=True, out_indices=(1, 2, 3, 4)`).
//!
//! Bottleneck blocks (expansion 4, stride on the 3×3 conv), a 7×7/2 stem and a 3×3/2 max-pool; the DC5
//! variants (`dilation = true`) replace the stride of the last stage by a dilation of 2, the first block of
//! that stage keeping dilation 1 as torchvision and timm do. Field names are timm's (`conv1`, `bn1`,
//! `layer1.0.conv2`, ...); the `downsample.0`/`downsample.1` pair is `downsample.conv`/`downsample.bn` here.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, s};

/// Batch norm with fixed statistics: `y = x * scale + (bias - running_mean * scale)`,
/// `scale = weight / sqrt(running_var + 1e-5)`. None of its tensors is ever trained.
#[derive(Module, Debug)]
pub struct FrozenBatchNorm2d {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub running_mean: Param<Tensor<1>>,
    pub running_var: Param<Tensor<1>>,
}

/// Configuration of a [`FrozenBatchNorm2d`] (identity statistics).
#[derive(Config, Debug)]
pub struct FrozenBatchNorm2dConfig {
    pub num_features: usize,
}

impl FrozenBatchNorm2dConfig {
    pub fn init(&self, device: &Device) -> FrozenBatchNorm2d {
        let n = self.num_features;
        let frozen = |init: Initializer| init.init([n], device).set_require_grad(false);
        FrozenBatchNorm2d {
            weight: frozen(Initializer::Ones),
            bias: frozen(Initializer::Zeros),
            running_mean: frozen(Initializer::Zeros),
            running_var: frozen(Initializer::Ones),
        }
    }
}

impl FrozenBatchNorm2d {
    /// `(scale, shift)` with `y = x * scale + shift`, per channel.
    pub fn scale_shift(&self) -> (Tensor<1>, Tensor<1>) {
        let scale = self.weight.val() * (self.running_var.val() + 1e-5).sqrt().recip();
        let shift = self.bias.val() - self.running_mean.val() * scale.clone();
        (scale, shift)
    }

    /// # Shapes
    /// - x: `[B, C, H, W]` → `[B, C, H, W]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [c] = self.weight.dims();
        let (scale, shift) = self.scale_shift();
        x * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1])
    }
}

/// `bn(conv(x))` computed as one convolution: the frozen statistics fold into the (bias-free) conv's
/// weights and a bias, `conv(x, W · scale) + shift`. Same function, but the activations are touched once
/// instead of three times; gradients still reach `W`. A strided 1×1 convolution (the `downsample` of a
/// stage's first block) keeps every `stride`-th pixel first and runs unstrided: the same sums, but Flex
/// computes unstrided 1×1 convolutions as one matrix product instead of going through im2col. Training on
/// the CPU computes them as [`pointwise`] matrix products.
///
/// # Shapes
/// - x: `[B, C_in, H, W]` → `[B, C_out, H', W']`
pub fn conv_bn(conv: &Conv2d, bn: &FrozenBatchNorm2d, x: Tensor<4>) -> Tensor<4> {
    let (weight, shift) = fold_batch_norm(conv, bn);
    let padding = explicit_padding(conv);
    let [_, _, kh, kw] = conv.weight.dims();
    if [kh, kw] == [1, 1] && padding == [0, 0] && conv.groups == 1 {
        let [sh, sw] = conv.stride;
        let x = if conv.stride == [1, 1] { x } else { x.slice(s![.., .., ..;sh as isize, ..;sw as isize]) };
        let device = x.device();
        if device.is_autodiff() && device.inner() == Device::flex() {
            return pointwise(x, weight, shift);
        }
        return conv2d(x, weight, Some(shift), ConvOptions::new([1, 1], [0, 0], conv.dilation, 1));
    }
    conv2d(x, weight, Some(shift), ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups))
}

/// A 1×1 convolution as a matrix product over the channels, `W · x[b] + bias` per image. The same function
/// as `conv2d`, for training on the CPU: Burn derives a convolution's weight gradient as another
/// convolution with the batch and channel axes swapped, which for a 1×1 kernel is one matrix-vector
/// product per input channel; through the matrix product the gradient is one `dy · xᵀ`.
///
/// # Shapes
/// - x: `[B, C_in, H, W]`, weight: `[C_out, C_in, 1, 1]`, bias: `[C_out]` → `[B, C_out, H, W]`
pub fn pointwise(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let [b, c_in, h, w] = x.dims();
    let [c_out, _, _, _] = weight.dims();
    let y = weight.reshape([1, c_out, c_in]).matmul(x.reshape([b, c_in, h * w])) + bias.reshape([1, c_out, 1]);
    y.reshape([b, c_out, h, w])
}

/// The weights and bias of `bn(conv(·))` as one convolution: `(W · scale, shift)`, per output channel.
///
/// # Shapes
/// - `([C_out, C_in, kh, kw], [C_out])`
pub fn fold_batch_norm(conv: &Conv2d, bn: &FrozenBatchNorm2d) -> (Tensor<4>, Tensor<1>) {
    let (scale, shift) = bn.scale_shift();
    let [c_out, _, _, _] = conv.weight.dims();
    (conv.weight.val() * scale.reshape([c_out, 1, 1, 1]), shift)
}

/// `[top, left]` padding of a backbone convolution (always explicit and symmetric here).
pub fn explicit_padding(conv: &Conv2d) -> [usize; 2] {
    match conv.padding {
        PaddingConfig2d::Explicit(top, left, _, _) => [top, left],
        _ => [0, 0],
    }
}

fn conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    device: &Device,
) -> Conv2d {
    let fan_in = channels[0] * kernel * kernel;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .with_dilation([dilation, dilation])
        .with_bias(false)
        .with_initializer(Initializer::Normal { mean: 0.0, std: (2.0 / fan_in as f64).sqrt() })
        .init(device)
}

/// The 1×1 projection of the residual path when shape or stride changes (timm `downsample.0/1`).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: FrozenBatchNorm2d,
}

/// ResNet bottleneck block (expansion 4).
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub conv1: Conv2d,
    pub bn1: FrozenBatchNorm2d,
    pub conv2: Conv2d,
    pub bn2: FrozenBatchNorm2d,
    pub conv3: Conv2d,
    pub bn3: FrozenBatchNorm2d,
    pub downsample: Option<Downsample>,
}

/// Configuration of a [`Bottleneck`].
#[derive(Config, Debug)]
pub struct BottleneckConfig {
    pub in_channels: usize,
    /// Width of the 3×3 conv; the block outputs `4 * width` channels.
    pub width: usize,
    #[config(default = 1)]
    pub stride: usize,
    #[config(default = 1)]
    pub dilation: usize,
}

impl BottleneckConfig {
    pub fn init(&self, device: &Device) -> Bottleneck {
        let out = self.width * 4;
        let bn = |n| FrozenBatchNorm2dConfig::new(n).init(device);
        let downsample = (self.stride != 1 || self.in_channels != out)
            .then(|| Downsample { conv: conv([self.in_channels, out], 1, self.stride, 0, 1, device), bn: bn(out) });
        Bottleneck {
            conv1: conv([self.in_channels, self.width], 1, 1, 0, 1, device),
            bn1: bn(self.width),
            conv2: conv([self.width, self.width], 3, self.stride, self.dilation, self.dilation, device),
            bn2: bn(self.width),
            conv3: conv([self.width, out], 1, 1, 0, 1, device),
            bn3: bn(out),
            downsample,
        }
    }
}

impl Bottleneck {
    /// # Shapes
    /// - x: `[B, C_in, H, W]` → `[B, 4·width, H/stride, W/stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(d) => conv_bn(&d.conv, &d.bn, x.clone()),
            None => x.clone(),
        };
        let y = relu(conv_bn(&self.conv1, &self.bn1, x));
        let y = relu(conv_bn(&self.conv2, &self.bn2, y));
        relu(conv_bn(&self.conv3, &self.bn3, y) + shortcut)
    }
}

/// Layout of a ResNet made of bottleneck blocks.
#[derive(Config, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Blocks per stage (`layer1` … `layer4`).
    pub blocks: [usize; 4],
    /// Bottleneck width per stage; stage `i` outputs `4 * widths[i]` channels.
    pub widths: [usize; 4],
    /// Channels of the 7×7 stem.
    pub stem_width: usize,
    /// DC5: dilate the last stage instead of striding it.
    #[config(default = false)]
    pub dilation: bool,
}

impl ResNetConfig {
    /// The layouts known by name, if any: timm's `resnet50` and `resnet101`, and the small
    /// `resnet_cdetr_tiny_a`/`_b` of the reference fixtures (for tests and training from scratch on a CPU).
    pub fn from_name(name: &str, dilation: bool) -> Option<Self> {
        let (blocks, widths, stem) = match name {
            "resnet50" => ([3, 4, 6, 3], [64, 128, 256, 512], 64),
            "resnet101" => ([3, 4, 23, 3], [64, 128, 256, 512], 64),
            "resnet_cdetr_tiny_a" => ([1, 2, 1, 1], [8, 16, 32, 64], 64),
            "resnet_cdetr_tiny_b" => ([2, 1, 1, 2], [8, 12, 16, 24], 64),
            _ => return None,
        };
        Some(Self::new(blocks, widths, stem).with_dilation(dilation))
    }

    /// Channels of the last feature map (input of the 1×1 input projection).
    pub fn out_channels(&self) -> usize {
        self.widths[3] * 4
    }

    pub fn init(&self, device: &Device) -> ResNet {
        let mut in_channels = self.stem_width;
        let mut stages: Vec<Vec<Bottleneck>> = Vec::with_capacity(4);
        for stage in 0..4 {
            let dilate = self.dilation && stage == 3;
            let stride = if stage == 0 || dilate { 1 } else { 2 };
            let blocks = (0..self.blocks[stage])
                .map(|b| {
                    let block = BottleneckConfig::new(in_channels, self.widths[stage])
                        .with_stride(if b == 0 { stride } else { 1 })
                        .with_dilation(if dilate && b > 0 { 2 } else { 1 })
                        .init(device);
                    in_channels = self.widths[stage] * 4;
                    block
                })
                .collect();
            stages.push(blocks);
        }
        let mut stages = stages.into_iter();
        ResNet {
            conv1: conv([3, self.stem_width], 7, 2, 3, 1, device),
            bn1: FrozenBatchNorm2dConfig::new(self.stem_width).init(device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: stages.next().unwrap_or_default(),
            layer2: stages.next().unwrap_or_default(),
            layer3: stages.next().unwrap_or_default(),
            layer4: stages.next().unwrap_or_default(),
        }
    }
}

/// ResNet trunk returning the outputs of its four stages.
#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: FrozenBatchNorm2d,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<Bottleneck>,
    pub layer2: Vec<Bottleneck>,
    pub layer3: Vec<Bottleneck>,
    pub layer4: Vec<Bottleneck>,
}

impl ResNet {
    /// # Shapes
    /// - x: `[B, 3, H, W]`
    /// - output: the four stage outputs, strides 4, 8, 16 and 32 (16 with DC5).
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = self.stem(x);
        let mut outputs = Vec::with_capacity(4);
        for i in 0..4 {
            x = self.stage(i, x);
            outputs.push(x.clone());
        }
        outputs
    }

    /// The stem: 7×7/2 convolution, batch norm, ReLU, 3×3/2 max-pool.
    ///
    /// # Shapes
    /// - x: `[B, 3, H, W]` → `[B, C_stem, H/4, W/4]`
    pub fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        // The max-pool follows a ReLU, so its implicit padding value cannot matter.
        self.maxpool.forward(relu(conv_bn(&self.conv1, &self.bn1, x)))
    }

    /// Stage `i` (0-based: `layer1` … `layer4`).
    pub fn stage(&self, i: usize, mut x: Tensor<4>) -> Tensor<4> {
        for block in [&self.layer1, &self.layer2, &self.layer3, &self.layer4][i] {
            x = block.forward(x);
        }
        x
    }

    /// The stem and `layer1`, which the official recipe never trains.
    pub fn freeze_stem_and_layer1(mut self) -> Self {
        self.conv1 = self.conv1.no_grad();
        self.layer1 = self.layer1.no_grad();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    /// Values and gradients (input, weight) of `conv_bn` on the autodiff CPU device, where 1×1
    /// convolutions are matrix products, against Burn's `conv2d` of the same folded weights.
    #[test]
    fn training_1x1_convolutions_as_matrix_products_match_conv2d() {
        let device = Device::flex().autodiff();
        for stride in [1, 2] {
            let conv = conv([6, 5], 1, stride, 0, 1, &device);
            let mut bn = FrozenBatchNorm2dConfig::new(5).init(&device);
            bn.weight = Param::from_tensor(Tensor::random([5], Distribution::Uniform(0.5, 1.5), &device));
            bn.bias = Param::from_tensor(Tensor::random([5], Distribution::Uniform(-1.0, 1.0), &device));
            let x = Tensor::<4>::random([2, 6, 7, 9], Distribution::Uniform(-1.0, 1.0), &device).require_grad();
            let upstream = Tensor::<4>::random(
                [2, 5, 7usize.div_ceil(stride), 9usize.div_ceil(stride)],
                Distribution::Uniform(-1.0, 1.0),
                &device,
            );
            let ours = conv_bn(&conv, &bn, x.clone());
            let grads = (ours.clone() * upstream.clone()).sum().backward();
            let (weight, shift) = fold_batch_norm(&conv, &bn);
            let options = ConvOptions::new([stride, stride], [0, 0], [1, 1], 1);
            let reference = conv2d(x.clone(), weight, Some(shift), options);
            let reference_grads = (reference.clone() * upstream).sum().backward();
            let close = |a: TensorData, b: TensorData| a.assert_approx_eq::<f32>(&b, Tolerance::absolute(1e-5));
            close(ours.into_data(), reference.into_data());
            close(x.grad(&grads).unwrap().into_data(), x.grad(&reference_grads).unwrap().into_data());
            let w = &conv.weight;
            close(w.grad(&grads).unwrap().into_data(), w.grad(&reference_grads).unwrap().into_data());
        }
    }

    #[test]
    fn dc5_dilates_the_last_stage_instead_of_striding() {
        let device = Device::flex();
        let x = Tensor::<4>::zeros([1, 3, 64, 96], &device);
        let plain = ResNetConfig::from_name("resnet_cdetr_tiny_a", false).unwrap().init(&device);
        let dc5 = ResNetConfig::from_name("resnet_cdetr_tiny_a", true).unwrap().init(&device);
        let dims = |m: &ResNet| m.forward(x.clone()).iter().map(|f| f.dims()).collect::<Vec<_>>();
        assert_eq!(dims(&plain), vec![[1, 32, 16, 24], [1, 64, 8, 12], [1, 128, 4, 6], [1, 256, 2, 3]]);
        assert_eq!(dims(&dc5)[3], [1, 256, 4, 6]);
        // First block of the dilated stage keeps dilation 1 (torchvision/timm); later blocks use 2.
        let r50 = ResNetConfig::from_name("resnet50", true).unwrap().init(&device);
        assert_eq!(r50.layer4[0].conv2.dilation, [1, 1]);
        assert_eq!(r50.layer4[1].conv2.dilation, [2, 2]);
        assert_eq!(r50.layer4[0].conv2.stride, [1, 1]);
        assert_eq!(r50.layer3[0].conv2.stride, [2, 2]);
    }
}
