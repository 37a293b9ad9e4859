//! The model's input: a padded batch of images and its pixel mask as one value (the official
//! `util/misc.py` `NestedTensor`; transformers passes the same pair as `pixel_values` + `pixel_mask`).
//!
//! Every caller (the CLI's `detect`, `eval` and `train`, the page's detection and validation, the trainer)
//! makes it from a host [`Batch`] with [`NestedTensor::from_batch`], the one place pixels are uploaded.

use burn::tensor::{Device, Tensor, TensorData};

use crate::model::mask::PixelMask;
use crate::preprocess::Batch;

/// Images on the device and their mask on the host (the mask is downsampled on the host, [`PixelMask`]).
#[derive(Debug, Clone)]
pub struct NestedTensor {
    pub tensors: Tensor<4>,
    pub mask: PixelMask,
}

impl NestedTensor {
    /// Uploads a normalised, padded batch.
    ///
    /// # Shapes
    /// `tensors`: `[batch, 3, height, width]`; `mask`: `[batch, height, width]` (1 = real pixel).
    pub fn from_batch(batch: &Batch, device: &Device) -> Self {
        let shape = [batch.batch, 3, batch.height, batch.width];
        let tensors = Tensor::<4>::from_data(TensorData::new(batch.pixel_values.clone(), shape), device);
        let mask =
            PixelMask { batch: batch.batch, height: batch.height, width: batch.width, data: batch.pixel_mask.clone() };
        Self { tensors, mask }
    }

    /// Padded `(height, width)`.
    pub fn padded_size(&self) -> (usize, usize) {
        (self.mask.height, self.mask.width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::pad_batch;

    #[test]
    fn from_batch_keeps_the_layout_and_the_mask() {
        let images = [image::RgbImage::from_pixel(3, 2, image::Rgb([255, 0, 0])), image::RgbImage::new(2, 4)];
        let batch = pad_batch(&images);
        let input = NestedTensor::from_batch(&batch, &Device::flex());
        assert_eq!(input.tensors.dims(), [2, 3, 4, 3]);
        assert_eq!(input.padded_size(), (4, 3));
        assert_eq!(input.mask, PixelMask::from_sizes(&[(2, 3), (4, 2)], 4, 3));
        let values = input.tensors.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert_eq!(values, batch.pixel_values);
    }
}
