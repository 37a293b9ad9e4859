//! Pixel masks: 1 where a batch image has real pixels, 0 in its bottom/right padding.
//!
//! A mask is host data (it follows from the image sizes), so it is downsampled on the host, exactly like
//! HF's `F.interpolate(pixel_mask[None].float(), size=(h, w)).bool()`, PyTorch's legacy `nearest`
//! (`src = min(floor(dst * (in / out) as f32), in - 1)`), and only then uploaded.

use burn::tensor::{Bool, Device, Tensor, TensorData};

/// A `[B, H, W]` mask, 1 = real pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelMask {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

impl PixelMask {
    /// Mask of a padded batch of `height × width` holding images of the given `(h, w)` sizes at the top left.
    pub fn from_sizes(sizes: &[(usize, usize)], height: usize, width: usize) -> Self {
        let mut data = vec![0u8; sizes.len() * height * width];
        for (b, &(h, w)) in sizes.iter().enumerate() {
            for y in 0..h.min(height) {
                let row = (b * height + y) * width;
                data[row..row + w.min(width)].fill(1);
            }
        }
        Self { batch: sizes.len(), height, width, data }
    }

    /// Nearest-neighbour resize to `out_h × out_w` with PyTorch's legacy `nearest` index rule.
    pub fn downsample(&self, out_h: usize, out_w: usize) -> Self {
        let rows: Vec<usize> = (0..out_h).map(|i| nearest_index(i, self.height, out_h)).collect();
        let cols: Vec<usize> = (0..out_w).map(|i| nearest_index(i, self.width, out_w)).collect();
        let mut data = Vec::with_capacity(self.batch * out_h * out_w);
        for b in 0..self.batch {
            for &y in &rows {
                let row = (b * self.height + y) * self.width;
                data.extend(cols.iter().map(|&x| self.data[row + x]));
            }
        }
        Self { batch: self.batch, height: out_h, width: out_w, data }
    }

    /// `[B, H, W]` with 1.0 for real pixels.
    pub fn to_float(&self, device: &Device) -> Tensor<3> {
        let values: Vec<f32> = self.data.iter().map(|&m| m as f32).collect();
        Tensor::from_data(TensorData::new(values, [self.batch, self.height, self.width]), device)
    }

    /// `[B, 1, 1, H·W]`, true where a key is padding: the key-padding mask of attention over this map.
    pub fn key_padding(&self, device: &Device) -> Tensor<4, Bool> {
        let values: Vec<bool> = self.data.iter().map(|&m| m == 0).collect();
        Tensor::from_data(TensorData::new(values, [self.batch, 1, 1, self.height * self.width]), device)
    }
}

fn nearest_index(dst: usize, input: usize, output: usize) -> usize {
    if input == output {
        return dst;
    }
    if output == 2 * input {
        return dst >> 1;
    }
    let scale = input as f32 / output as f32;
    ((dst as f32 * scale).floor() as usize).min(input - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_downsampling() {
        let m = PixelMask::from_sizes(&[(3, 4), (4, 2)], 4, 4);
        assert_eq!(&m.data[..16], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
        let d = m.downsample(2, 2);
        assert_eq!(d.data, vec![1, 1, 1, 1, 1, 0, 1, 0]);
    }
}
