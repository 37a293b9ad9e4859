//! 2-D convolution on channels-last feature maps with packed weights: a 1×1 convolution is a matrix product
//! over the pixels (no copy), a 3×3 stride-1 convolution goes through [Winograd](super::winograd), any other
//! one gathers the receptive fields of a block of output pixels into a small im2col buffer (contiguous
//! channel runs, one copy per kernel row where the row is inside the image) and multiplies it with the
//! weights. The [`Epilogue`] (bias, residual, ReLU) is applied to each block right after its product.

use super::gemm::{MatRef, matmul};
use super::winograd::WinogradFilter;
use super::{Epilogue, FeatureMap, for_each_row_block, threads};

/// Geometry of a convolution (square or not), as in `torch.nn.Conv2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl ConvGeometry {
    /// Output height and width for an input of `height × width`.
    pub fn output_size(&self, height: usize, width: usize) -> (usize, usize) {
        let out = |n: usize, i: usize| {
            let span = self.dilation[i] * (self.kernel[i] - 1) + 1;
            (n + 2 * self.padding[i]).checked_sub(span).map_or(0, |r| r / self.stride[i] + 1)
        };
        (out(height, 0), out(width, 1))
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Rows of the packed weight matrix (`kh · kw · in_channels`).
    pub fn patch_len(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.in_channels
    }
}

/// A convolution with its weights packed for these kernels: `[kh · kw · in_channels, out_channels]`, rows
/// ordered `(ky, kx, ci)`, plus one bias per output channel (a folded batch norm's shift).
#[derive(Debug, Clone)]
pub struct PackedConv {
    pub geometry: ConvGeometry,
    weight: Vec<f32>,
    bias: Vec<f32>,
    winograd: Option<WinogradFilter>,
}

impl PackedConv {
    /// Packs weights given in PyTorch/Burn layout `[out_channels, in_channels, kh, kw]`.
    pub fn new(geometry: ConvGeometry, weight_oihw: &[f32], bias: Vec<f32>) -> Self {
        let ConvGeometry { in_channels: ci, out_channels: co, kernel: [kh, kw], .. } = geometry;
        assert_eq!(weight_oihw.len(), co * ci * kh * kw, "convolution weight of the wrong length");
        assert_eq!(bias.len(), co, "one bias per output channel");
        let mut weight = vec![0.0; co * ci * kh * kw];
        for o in 0..co {
            for i in 0..ci {
                for y in 0..kh {
                    for x in 0..kw {
                        weight[((y * kw + x) * ci + i) * co + o] = weight_oihw[((o * ci + i) * kh + y) * kw + x];
                    }
                }
            }
        }
        let winograd = WinogradFilter::applies(&geometry).then(|| WinogradFilter::new(&geometry, weight_oihw));
        Self { geometry, weight, bias, winograd }
    }

    /// `relu?(conv(x) + bias + residual?)`.
    ///
    /// # Shapes
    /// - x: `[B, H, W, in_channels]`, residual: `[B, H', W', out_channels]` → `[B, H', W', out_channels]`
    pub fn forward(&self, x: &FeatureMap, residual: Option<&FeatureMap>, relu: bool) -> FeatureMap {
        let g = &self.geometry;
        assert_eq!(x.channels, g.in_channels, "input channels");
        let (oh, ow) = g.output_size(x.height, x.width);
        let mut out = FeatureMap::zeros(x.batch, oh, ow, g.out_channels);
        if let Some(r) = residual {
            assert_eq!((r.batch, r.height, r.width, r.channels), (x.batch, oh, ow, g.out_channels), "residual shape");
        }
        let epilogue = Epilogue { bias: &self.bias, residual: residual.map(|r| r.data.as_slice()), relu };
        if out.data.is_empty() {
            return out;
        }
        if let Some(filter) = &self.winograd {
            filter.forward(x, &mut out, epilogue);
            return out;
        }
        let (m, k, n) = (out.pixels(), g.patch_len(), g.out_channels);
        let rows = block_rows(m, k);
        let weight = MatRef::new(&self.weight, k, n);
        if g.is_pointwise() {
            for_each_row_block(&mut out.data, n, rows, |first, block, _| {
                let count = block.len() / n;
                let a = MatRef::new(&x.data[first * k..(first + count) * k], count, k);
                matmul(block, a, weight, 1);
                epilogue.apply(block, first);
            });
        } else {
            for_each_row_block(&mut out.data, n, rows, |first, block, scratch| {
                let count = block.len() / n;
                scratch.resize(count * k, 0.0);
                im2col(x, g, (oh, ow), first, count, scratch);
                matmul(block, MatRef::new(scratch, count, k), weight, 1);
                epilogue.apply(block, first);
            });
        }
        out
    }
}

/// Output rows per block: enough to keep the product efficient, few enough that the im2col block stays
/// small (≈4 MB), and at least one block per thread.
fn block_rows(m: usize, k: usize) -> usize {
    let by_size = ((1usize << 20) / k.max(1)).clamp(64, 1024);
    by_size.min(m.div_ceil(threads())).max(16)
}

/// Gathers the receptive fields of output pixels `first .. first + count` (flattened over the batch) into
/// `cols` (`count × kh·kw·ci`, zeros outside the image).
fn im2col(x: &FeatureMap, g: &ConvGeometry, (oh, ow): (usize, usize), first: usize, count: usize, cols: &mut [f32]) {
    let ci = g.in_channels;
    let [kh, kw] = g.kernel;
    let k = g.patch_len();
    let row_run = kw * ci;
    for (r, col) in cols.chunks_exact_mut(k).enumerate().take(count) {
        let p = first + r;
        let (b, rem) = (p / (oh * ow), p % (oh * ow));
        let (oy, ox) = (rem / ow, rem % ow);
        let image = &x.data[b * x.height * x.width * ci..(b + 1) * x.height * x.width * ci];
        let x0 = (ox * g.stride[1]) as isize - g.padding[1] as isize;
        for ky in 0..kh {
            let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
            let dst = &mut col[ky * row_run..(ky + 1) * row_run];
            if iy < 0 || iy >= x.height as isize {
                dst.fill(0.0);
                continue;
            }
            let line = &image[iy as usize * x.width * ci..(iy as usize + 1) * x.width * ci];
            let span = (g.dilation[1] * (kw - 1)) as isize;
            if g.dilation[1] == 1 && x0 >= 0 && x0 + span < x.width as isize {
                // The whole kernel row is inside the image: one contiguous run.
                dst.copy_from_slice(&line[x0 as usize * ci..x0 as usize * ci + row_run]);
                continue;
            }
            for kx in 0..kw {
                let ix = x0 + (kx * g.dilation[1]) as isize;
                let d = &mut dst[kx * ci..(kx + 1) * ci];
                if ix < 0 || ix >= x.width as isize {
                    d.fill(0.0);
                } else {
                    d.copy_from_slice(&line[ix as usize * ci..(ix as usize + 1) * ci]);
                }
            }
        }
    }
}

/// The direct definition, for tests: channels-last input, PyTorch-layout weights.
#[cfg(test)]
pub(crate) fn reference_conv(x: &FeatureMap, g: &ConvGeometry, weight_oihw: &[f32], bias: &[f32]) -> FeatureMap {
    let (oh, ow) = g.output_size(x.height, x.width);
    let mut out = FeatureMap::zeros(x.batch, oh, ow, g.out_channels);
    let [kh, kw] = g.kernel;
    for b in 0..x.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..g.out_channels {
                    let mut s = bias[o] as f64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
                            let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.padding[1] as isize;
                            if iy < 0 || ix < 0 || iy >= x.height as isize || ix >= x.width as isize {
                                continue;
                            }
                            for i in 0..g.in_channels {
                                let v = x.data[((b * x.height + iy as usize) * x.width + ix as usize) * x.channels + i];
                                s += v as f64 * weight_oihw[((o * g.in_channels + i) * kh + ky) * kw + kx] as f64;
                            }
                        }
                    }
                    out.data[((b * oh + oy) * ow + ox) * g.out_channels + o] = s as f32;
                }
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    pub(crate) fn check(g: ConvGeometry, batch: usize, h: usize, w: usize, residual: bool, relu: bool) {
        let x = FeatureMap {
            data: values(batch * h * w * g.in_channels, 1),
            batch,
            height: h,
            width: w,
            channels: g.in_channels,
        };
        let weight = values(g.out_channels * g.patch_len(), 2);
        let bias = values(g.out_channels, 3);
        let mut want = reference_conv(&x, &g, &weight, &bias);
        let res = residual.then(|| FeatureMap { data: values(want.data.len(), 4), ..want.clone() });
        if let Some(r) = &res {
            want.data.iter_mut().zip(&r.data).for_each(|(v, r)| *v += r);
        }
        if relu {
            want.data.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let got = PackedConv::new(g, &weight, bias).forward(&x, res.as_ref(), relu);
        assert_eq!(
            (got.batch, got.height, got.width, got.channels),
            (want.batch, want.height, want.width, want.channels)
        );
        let scale = g.patch_len() as f32;
        for (i, (a, b)) in got.data.iter().zip(&want.data).enumerate() {
            assert!((a - b).abs() <= 2e-6 * scale.sqrt() * 4.0, "{g:?} at {i}: {a} vs {b}");
        }
    }

    fn geometry(ci: usize, co: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeometry {
        ConvGeometry {
            in_channels: ci,
            out_channels: co,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [d, d],
        }
    }

    #[test]
    fn pointwise_with_residual_and_relu() {
        check(geometry(12, 20, 1, 1, 0, 1), 2, 5, 7, true, true);
    }

    #[test]
    fn strided_pointwise_goes_through_im2col() {
        check(geometry(8, 16, 1, 2, 0, 1), 2, 7, 9, false, false);
    }

    #[test]
    fn stem_like_7x7_stride_2() {
        check(geometry(3, 8, 7, 2, 3, 1), 1, 19, 23, false, true);
    }

    #[test]
    fn strided_and_dilated_3x3() {
        check(geometry(6, 5, 3, 2, 1, 1), 2, 9, 8, false, true);
        check(geometry(6, 5, 3, 1, 2, 2), 1, 9, 11, true, true);
    }

    #[test]
    fn blocks_cover_every_row() {
        // More output rows than one block, not a multiple of the block size.
        check(geometry(4, 3, 3, 2, 1, 1), 3, 61, 47, false, false);
    }
}
