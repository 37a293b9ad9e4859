//! Max pooling on channels-last feature maps (the ResNet stem's 3×3 / stride 2 / padding 1 pool): each output
//! pixel is the element-wise maximum of its window's channel vectors, so the inner loop runs over channels.

use super::FeatureMap;

/// `k×k` max pooling with stride `s` and padding `p` (padding never wins, as in PyTorch).
///
/// # Shapes
/// - x: `[B, H, W, C]` → `[B, (H + 2p − k) / s + 1, (W + 2p − k) / s + 1, C]`
pub fn max_pool(x: &FeatureMap, k: usize, s: usize, p: usize) -> FeatureMap {
    assert!(k > 0 && s > 0 && p < k, "max pool: kernel {k}, stride {s}, padding {p}");
    let out_size = |n: usize| (n + 2 * p).checked_sub(k).map_or(0, |r| r / s + 1);
    let (oh, ow, c) = (out_size(x.height), out_size(x.width), x.channels);
    let mut out = FeatureMap::zeros(x.batch, oh, ow, c);
    for b in 0..x.batch {
        for oy in 0..oh {
            let ys = (oy * s).saturating_sub(p)..(oy * s + k - p).min(x.height);
            for ox in 0..ow {
                let xs = (ox * s).saturating_sub(p)..(ox * s + k - p).min(x.width);
                let dst = &mut out.data[((b * oh + oy) * ow + ox) * c..][..c];
                dst.fill(f32::NEG_INFINITY);
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        let src = &x.data[((b * x.height + iy) * x.width + ix) * c..][..c];
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = if v > *d { v } else { *d };
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_definition() {
        let (b, h, w, c) = (2, 7, 6, 3);
        let data: Vec<f32> = (0..b * h * w * c).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
        let x = FeatureMap { data, batch: b, height: h, width: w, channels: c };
        let y = max_pool(&x, 3, 2, 1);
        assert_eq!((y.height, y.width), (4, 3));
        for bi in 0..b {
            for oy in 0..4 {
                for ox in 0..3 {
                    for ch in 0..c {
                        let mut want = f32::NEG_INFINITY;
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    want = want.max(x.data[((bi * h + iy as usize) * w + ix as usize) * c + ch]);
                                }
                            }
                        }
                        assert_eq!(y.data[((bi * 4 + oy) * 3 + ox) * c + ch], want);
                    }
                }
            }
        }
    }
}
