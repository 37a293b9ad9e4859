//! Dropout for training, with its masks drawn on the host when the device is the CPU.
//!
//! The transformer's dropout (official `models/transformer.py`: residual, attention and feed-forward dropout,
//! 0.1 in training) keeps each element with probability `1 − p` and scales the kept ones by `1/(1 − p)`.
//! Burn's `Dropout::forward` draws its mask one element at a time from a ChaCha generator through
//! `rand`'s Bernoulli and then multiplies twice; on the CPU that was 30 % of a fast-mode R50 step
//! (native, 0.65 s with dropout against 0.45 s without). Here, on the CPU device (Flex), the mask is drawn
//! as `{0, 1/(1 − p)}` from a counter-based SplitMix64 (two 32-bit draws per call) and applied with one
//! multiplication. Its seed comes from the device's generator, so [`Device::seed`](burn::tensor::Device::seed)
//! still fixes every mask of a step. Other devices (WebGPU) keep Burn's, which draws on the device.
//!
//! The module itself stays Burn's [`Dropout`] (its probability and training flag); only the forward differs.

use burn::nn::Dropout;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

/// `dropout.forward(x)`, with the mask drawn by [`keep_mask`] on the CPU device.
///
/// # Shapes
/// - x: any → the same
pub fn forward<const D: usize>(dropout: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if dropout.prob == 0.0 || !dropout.training.is_enabled() || !device.is_autodiff() {
        return x;
    }
    if device.clone().inner() != Device::flex() {
        return dropout.forward(x);
    }
    let shape = x.shape();
    let mask = keep_mask(shape.num_elements(), dropout.prob, mask_seed(&device));
    x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
}

/// 64 bits from the device's generator: three draws below 2³⁰ (the device's integers may be 32-bit).
fn mask_seed(device: &Device) -> u64 {
    let draws = Tensor::<1, Int>::random([3], Distribution::Uniform(0.0, (1u64 << 30) as f64), device).into_data();
    let draws = draws.convert::<i64>().try_into_vec::<i64>().expect("integers read back as i64");
    ((draws[0] as u64) << 34) ^ ((draws[1] as u64) << 17) ^ (draws[2] as u64)
}

/// A dropout mask of `len` elements: `1/(1 − prob)` where the element is kept (probability `1 − prob`),
/// else 0. Element `2i` and `2i + 1` take the low and high halves of `splitmix64(seed + i·φ)`.
pub fn keep_mask(len: usize, prob: f64, seed: u64) -> Vec<f32> {
    let keep = 1.0 - prob;
    let threshold = (keep * 4_294_967_296.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; len];
    for (i, pair) in mask.chunks_mut(2).enumerate() {
        let bits = splitmix64(seed.wrapping_add((i as u64).wrapping_mul(GOLDEN_GAMMA)));
        for (half, value) in pair.iter_mut().enumerate() {
            if (bits >> (32 * half)) & 0xffff_ffff < threshold {
                *value = scale;
            }
        }
    }
    mask
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea & Flood 2014).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;

    #[test]
    fn keeps_one_minus_p_of_the_elements_scaled() {
        let (n, p) = (1_000_001, 0.1);
        let mask = keep_mask(n, p, 7);
        let kept = mask.iter().filter(|&&m| m != 0.0).count();
        // Binomial: standard deviation sqrt(n·p·(1 − p)) = 300; allow 5 of them.
        assert!((kept as f64 - 0.9 * n as f64).abs() < 1500.0, "{kept} kept of {n}");
        assert!(mask.iter().all(|&m| m == 0.0 || m == (1.0 / 0.9f64) as f32));
        // Neighbours are independent: both halves of a draw are kept as often as two draws apart.
        let both = mask.chunks(2).filter(|c| c.len() == 2 && c[0] != 0.0 && c[1] != 0.0).count();
        assert!((both as f64 / (n / 2) as f64 - 0.81).abs() < 0.003, "{both} pairs kept");
        // Long runs of drops would show a broken generator.
        let longest = mask.split(|&m| m != 0.0).map(<[f32]>::len).max().unwrap();
        assert!(longest < 12, "{longest} dropped in a row");
    }

    #[test]
    fn a_seed_fixes_the_mask_and_seeds_differ() {
        assert_eq!(keep_mask(1001, 0.3, 42), keep_mask(1001, 0.3, 42));
        let (a, b) = (keep_mask(1001, 0.3, 42), keep_mask(1001, 0.3, 43));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        // Two independent masks agree on 0.7² + 0.3² = 58 % of the elements.
        assert!((500..660).contains(&same), "{same} of 1001 equal");
    }

    #[test]
    fn on_the_cpu_it_scales_kept_elements_follows_the_device_seed_and_passes_gradients() {
        let device = Device::flex().autodiff();
        let dropout = DropoutConfig::new(0.25).init();
        let x = Tensor::<2>::ones([64, 50], &device).require_grad();
        device.seed(5);
        let y = forward(&dropout, x.clone());
        device.seed(5);
        let again = forward(&dropout, x.clone());
        let values = y.clone().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(values, again.into_data().try_into_vec::<f32>().unwrap(), "the same device seed, the same mask");
        assert!(values.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        let kept = values.iter().filter(|&&v| v != 0.0).count();
        assert!((2100..2700).contains(&kept), "{kept} of 3200 kept at p = 0.25");
        let grads = y.sum().backward();
        let grad = x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(grad, values, "d(x·m)/dx = m for x = 1");
        device.seed(6);
        let other = forward(&dropout, x).into_data().try_into_vec::<f32>().unwrap();
        assert_ne!(other, values, "another seed, another mask");
    }

    #[test]
    fn does_nothing_in_inference() {
        let dropout = DropoutConfig::new(0.5).init();
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &Device::flex());
        let y = forward(&dropout, x.clone());
        assert_eq!(y.into_data(), x.into_data());
    }
}
