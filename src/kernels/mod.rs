//! CPU kernels for the inference path of the backbone and of the transformer's attention, in plain Rust over
//! `f32` slices: the same code serves the native CLI (several threads) and the browser's WebAssembly CPU
//! fallback (one thread, SIMD128).
//!
//! Feature maps are channels-last ([`FeatureMap`], `[B, H, W, C]`), so a 1×1 convolution is one matrix
//! product over the pixels with no copy, a k×k convolution gathers contiguous channel runs into a small
//! per-tile im2col buffer, and bias, residual and ReLU are applied in one pass over each output tile while
//! it is still in cache ([`Epilogue`]). Matrix products use the `gemm` crate (AVX2/AVX-512 natively,
//! simd128 on wasm); 3×3 stride-1 convolutions use Winograd's F(4×4, 3×3) minimal filtering
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), which needs 4× fewer
//! multiplications than the direct sum. Attention ([`attention`]) reads its heads through strides from the
//! projections' rows, with a vectorised exponential in the softmax.

pub mod attention;
pub mod conv;
pub mod gemm;
pub mod pool;
pub mod winograd;

/// A batch of feature maps in channels-last layout: `data[((b * height + y) * width + x) * channels + c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    pub data: Vec<f32>,
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl FeatureMap {
    pub fn zeros(batch: usize, height: usize, width: usize, channels: usize) -> Self {
        Self { data: vec![0.0; batch * height * width * channels], batch, height, width, channels }
    }

    /// From channels-first data `[B, C, H, W]`.
    pub fn from_nchw(nchw: &[f32], batch: usize, channels: usize, height: usize, width: usize) -> Self {
        assert_eq!(nchw.len(), batch * channels * height * width, "NCHW data of the wrong length");
        let mut out = Self::zeros(batch, height, width, channels);
        let plane = height * width;
        for b in 0..batch {
            let src = &nchw[b * channels * plane..(b + 1) * channels * plane];
            let dst = &mut out.data[b * plane * channels..(b + 1) * plane * channels];
            for (p, pixel) in dst.chunks_exact_mut(channels).enumerate() {
                for (c, v) in pixel.iter_mut().enumerate() {
                    *v = src[c * plane + p];
                }
            }
        }
        out
    }

    /// Channels-first copy `[B, C, H, W]`.
    pub fn to_nchw(&self) -> Vec<f32> {
        let (c, plane) = (self.channels, self.height * self.width);
        let mut out = vec![0.0; self.data.len()];
        for b in 0..self.batch {
            let src = &self.data[b * plane * c..(b + 1) * plane * c];
            let dst = &mut out[b * plane * c..(b + 1) * plane * c];
            for (p, pixel) in src.chunks_exact(c).enumerate() {
                for (ch, &v) in pixel.iter().enumerate() {
                    dst[ch * plane + p] = v;
                }
            }
        }
        out
    }

    /// Pixels of the whole batch (the rows of the matrix this map is).
    pub fn pixels(&self) -> usize {
        self.batch * self.height * self.width
    }
}

/// What happens to each output value after the sum: `relu?(sum + bias[c] + residual?)`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// One value per output channel.
    pub bias: &'a [f32],
    /// Added before the ReLU: a map of the output's shape (the bottleneck's shortcut).
    pub residual: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    /// Applies the epilogue to `rows` (row-major, `bias.len()` values per row) whose first row is row
    /// `first_row` of the whole output.
    #[inline]
    pub fn apply(&self, rows: &mut [f32], first_row: usize) {
        if self.relu { self.apply_with::<true>(rows, first_row) } else { self.apply_with::<false>(rows, first_row) }
    }

    #[inline(always)]
    fn apply_with<const RELU: bool>(&self, rows: &mut [f32], first_row: usize) {
        let n = self.bias.len();
        match self.residual {
            Some(residual) => {
                let residual = &residual[first_row * n..first_row * n + rows.len()];
                for (row, res) in rows.chunks_exact_mut(n).zip(residual.chunks_exact(n)) {
                    for ((v, &b), &r) in row.iter_mut().zip(self.bias).zip(res) {
                        *v = activate::<RELU>(*v + b + r);
                    }
                }
            }
            None => {
                for row in rows.chunks_exact_mut(n) {
                    for (v, &b) in row.iter_mut().zip(self.bias) {
                        *v = activate::<RELU>(*v + b);
                    }
                }
            }
        }
    }
}

/// ReLU when `RELU` (a compare and a select, which vectorises; `f32::max` becomes a libm call on wasm), else
/// the identity. NaN stays NaN, as in PyTorch.
#[inline(always)]
pub(crate) fn activate<const RELU: bool>(s: f32) -> f32 {
    if RELU && s < 0.0 { 0.0 } else { s }
}

/// Runs `f(first_row, rows, scratch)` over consecutive blocks of `rows_per_block` rows of `out` (each row
/// `row_len` values): in parallel natively, one after another on wasm. `scratch` is a per-worker buffer.
pub(crate) fn for_each_row_block<F>(out: &mut [f32], row_len: usize, rows_per_block: usize, f: F)
where
    F: Fn(usize, &mut [f32], &mut Vec<f32>) + Sync + Send,
{
    let block = rows_per_block.max(1) * row_len;
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(block)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (i, rows)| f(i * rows_per_block, rows, scratch));
    }
    #[cfg(target_family = "wasm")]
    {
        let mut scratch = Vec::new();
        for (i, rows) in out.chunks_mut(block).enumerate() {
            f(i * rows_per_block, rows, &mut scratch);
        }
    }
}

/// Worker threads the kernels may use.
pub(crate) fn threads() -> usize {
    #[cfg(not(target_family = "wasm"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(target_family = "wasm")]
    {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_round_trip() {
        let nchw: Vec<f32> = (0..2 * 3 * 4 * 5).map(|v| v as f32).collect();
        let map = FeatureMap::from_nchw(&nchw, 2, 3, 4, 5);
        // Pixel (b=1, y=2, x=3), channel 1 = nchw[1][1][2][3].
        assert_eq!(map.data[((4 + 2) * 5 + 3) * 3 + 1], nchw[((3 + 1) * 4 + 2) * 5 + 3]);
        assert_eq!(map.to_nchw(), nchw);
    }
}
