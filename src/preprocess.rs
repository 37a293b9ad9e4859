//! Image pre-processing for Conditional DETR: resize, rescale, normalise, pad and mask.
//!
//! Follows the Hugging Face `ConditionalDetrImageProcessor` (transformers 4.57, the "slow" PIL path):
//!
//! 1. resize so that the shortest edge becomes `shortest_edge` unless the longest edge would then exceed
//!    `longest_edge` ([`target_size`] = transformers `get_size_with_aspect_ratio`, including its `raw_size`
//!    rounding), with Pillow's `Image.resize(size, Image.BILINEAR)` ([`resize_bilinear`], a bit-exact port of
//!    the 8-bit path of Pillow's `libImaging/Resample.c`);
//! 2. rescale by 1/255 (`image.astype(float64) * (1/255)`, then cast to float32);
//! 3. normalise with the ImageNet mean/std in float32: `(x - mean) / std`;
//! 4. zero-pad bottom/right to the largest height and width of the batch, with a pixel mask (1 = real pixel).
//!
//! Everything here is platform-free (no I/O, no threads) and compiles to `wasm32-unknown-unknown`.

use std::fmt;
use std::str::FromStr;

use image::RgbImage;

/// ImageNet mean (RGB) used by `ConditionalDetrImageProcessor`.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation (RGB) used by `ConditionalDetrImageProcessor`.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Default `size["shortest_edge"]` of the Hugging Face processor.
pub const DEFAULT_SHORTEST_EDGE: u32 = 800;
/// Default `size["longest_edge"]` of the Hugging Face processor.
pub const DEFAULT_LONGEST_EDGE: u32 = 1333;

/// Errors of this module.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PreprocessError {
    /// An RGBA buffer whose length is not `width * height * 4`.
    #[error("RGBA buffer of {width}x{height} must hold {expected} bytes, got {actual}")]
    BufferLength { width: u32, height: u32, expected: usize, actual: usize },
    /// A resize mode string that is neither `default`, `none` nor `SHORT,LONG`.
    #[error(
        "invalid resize mode {0:?}: expected \"default\", \"none\" or \"SHORTEST,LONGEST\" (1 to 8192 pixels, e.g. \"800,1333\")"
    )]
    ResizeMode(String),
}

/// How [`preprocess`] resizes each image before normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeMode {
    /// The processor default: shortest edge 800, longest edge at most 1333.
    #[default]
    Default,
    /// No resize (the fixture's `do_resize=False`).
    None,
    /// Shortest edge `shortest_edge`, longest edge at most `longest_edge`.
    Size { shortest_edge: u32, longest_edge: u32 },
}

impl ResizeMode {
    /// The `(shortest_edge, longest_edge)` pair, or `None` for [`ResizeMode::None`].
    pub fn edges(self) -> Option<(u32, u32)> {
        match self {
            ResizeMode::Default => Some((DEFAULT_SHORTEST_EDGE, DEFAULT_LONGEST_EDGE)),
            ResizeMode::None => None,
            ResizeMode::Size { shortest_edge, longest_edge } => Some((shortest_edge, longest_edge)),
        }
    }

    /// The processor's 800 : 1333 proportion at another size: shortest edge `shortest_edge`, longest edge
    /// `round(shortest_edge · 1333 / 800)` (0: the image as it is). The page's input-size choice.
    pub fn for_shortest_edge(shortest_edge: u32) -> Self {
        if shortest_edge == 0 {
            return ResizeMode::None;
        }
        let longest_edge = (shortest_edge as u64 * DEFAULT_LONGEST_EDGE as u64 + DEFAULT_SHORTEST_EDGE as u64 / 2)
            / DEFAULT_SHORTEST_EDGE as u64;
        ResizeMode::Size { shortest_edge, longest_edge: longest_edge.min(u32::MAX as u64) as u32 }
    }

    /// The same proportion for a longest side of `max_size` (shortest edge `max_size · 800 / 1333`): the
    /// deterministic resize of fine-tuning at a reduced size (validation, no-augmentation training).
    pub fn for_max_size(max_size: u32) -> Self {
        ResizeMode::Size {
            shortest_edge: (max_size as u64 * DEFAULT_SHORTEST_EDGE as u64 / DEFAULT_LONGEST_EDGE as u64) as u32,
            longest_edge: max_size,
        }
    }

    /// Output `(height, width)` of an image of `(height, width)` under this mode.
    pub fn output_size(self, height: u32, width: u32) -> (u32, u32) {
        match self.edges() {
            Some((short, long)) => target_size(height, width, short, long),
            None => (height, width),
        }
    }
}

/// The largest edge a `SHORTEST,LONGEST` resize may ask for.
pub const MAX_EDGE: u32 = 8192;

impl FromStr for ResizeMode {
    type Err = PreprocessError;

    /// Parses `"default"`, `"none"` or `"SHORTEST,LONGEST"` (two positive integers, e.g. `"800,1333"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "default" => return Ok(ResizeMode::Default),
            "none" => return Ok(ResizeMode::None),
            _ => {}
        }
        let bad = || PreprocessError::ResizeMode(s.to_string());
        let (a, b) = t.split_once(',').ok_or_else(bad)?;
        let shortest_edge: u32 = a.trim().parse().map_err(|_| bad())?;
        let longest_edge: u32 = b.trim().parse().map_err(|_| bad())?;
        // Edges of 1 to 8192 pixels (a 8192² input is already ~100× the paper's 800×1333).
        if !(1..=MAX_EDGE).contains(&shortest_edge) || !(1..=MAX_EDGE).contains(&longest_edge) {
            return Err(bad());
        }
        Ok(ResizeMode::Size { shortest_edge, longest_edge })
    }
}

impl fmt::Display for ResizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResizeMode::Default => write!(f, "default"),
            ResizeMode::None => write!(f, "none"),
            ResizeMode::Size { shortest_edge, longest_edge } => write!(f, "{shortest_edge},{longest_edge}"),
        }
    }
}

/// Output `(height, width)` for an image of `(height, width)`: transformers `get_size_with_aspect_ratio(
/// (height, width), shortest_edge, longest_edge)`.
///
/// The shortest edge becomes `shortest_edge` unless the longest edge would then exceed `longest_edge`; in that
/// case the shortest edge becomes `round(raw_size)` (Python's round-half-even) with
/// `raw_size = longest_edge * short / long`, and the longest edge is `int(raw_size * long / short)`.
pub fn target_size(height: u32, width: u32, shortest_edge: u32, longest_edge: u32) -> (u32, u32) {
    size_with_aspect_ratio(height, width, shortest_edge, Some(longest_edge))
}

/// [`target_size`] with an optional cap on the longest edge (`None` = no cap, like the official DETR
/// `RandomResize([400, 500, 600])`). Sizes are at least 1.
pub fn size_with_aspect_ratio(height: u32, width: u32, shortest_edge: u32, longest_edge: Option<u32>) -> (u32, u32) {
    if height == 0 || width == 0 {
        return (height, width);
    }
    let (h, w) = (height as f64, width as f64);
    let mut size = shortest_edge as f64;
    let mut raw_size: Option<f64> = None;
    if let Some(max_size) = longest_edge {
        let max_size = max_size as f64;
        let min_original = h.min(w);
        let max_original = h.max(w);
        if max_original / min_original * size > max_size {
            let raw = max_size * min_original / max_original;
            raw_size = Some(raw);
            size = raw.round_ties_even();
        }
    }
    let (oh, ow) = if (h <= w && h == size) || (w <= h && w == size) {
        (h, w)
    } else if w < h {
        let oh = match raw_size {
            Some(raw) => (raw * h / w).trunc(),
            None => (size * h / w).trunc(),
        };
        (oh, size)
    } else {
        let ow = match raw_size {
            Some(raw) => (raw * w / h).trunc(),
            None => (size * w / h).trunc(),
        };
        (size, ow)
    };
    // `as u32` saturates; keep at least one pixel so that later steps never see an empty image.
    ((oh as u32).max(1), (ow as u32).max(1))
}

// ---------------------------------------------------------------------------------------------------------
// Pillow bilinear resize
// ---------------------------------------------------------------------------------------------------------

/// Fixed-point precision of Pillow's 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// Resampling coefficients of one axis (Pillow `precompute_coeffs` + `normalize_coeffs_8bpc`).
struct Coeffs {
    /// `(first input index, number of taps)` per output index.
    bounds: Vec<(usize, usize)>,
    /// Taps per output index (row stride of `weights`).
    ksize: usize,
    /// Fixed-point weights, `ksize` per output index.
    weights: Vec<i64>,
}

fn bilinear_filter(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

fn precompute_coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let support_1 = 1.0; // BILINEAR filter support
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support_1 * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i64; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C: `(int)(center - support + 0.5)` truncates toward zero, then clamps to 0.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = (((center + support + 0.5) as i64).max(0) as usize).min(in_size);
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = bilinear_filter((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for (x, &kx) in k.iter().enumerate().take(n) {
            let v = if ww != 0.0 { kx / ww } else { kx };
            // C: `(int)(±0.5 + v * (1 << PRECISION_BITS))`, i.e. round half away from zero.
            let f = v * (1u64 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if f < 0.0 { (f - 0.5) as i64 } else { (f + 0.5) as i64 };
        }
        bounds.push((xmin, n));
    }
    Coeffs { bounds, ksize, weights }
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << (PRECISION_BITS + 8)) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes `img` to `width x height` exactly like Pillow's `Image.resize((width, height), Image.BILINEAR)` on
/// an 8-bit RGB image: two separable passes (horizontal first, each rounded and clamped to u8), a triangle
/// filter whose support grows with the downscale factor (antialiasing), 22-bit fixed-point weights.
/// The identity size returns a copy; an empty input or output gives a black image of the requested size.
pub fn resize_bilinear(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    if in_w == width as usize && in_h == height as usize {
        return img.clone();
    }
    if in_w == 0 || in_h == 0 || width == 0 || height == 0 {
        return RgbImage::new(width, height);
    }
    let (out_w, out_h) = (width as usize, height as usize);
    let src = img.as_raw();
    let half = 1i64 << (PRECISION_BITS - 1);

    // Horizontal pass: in_h rows of out_w pixels (Pillow skips it when the width is unchanged; the pass is
    // then an exact identity, so it is skipped here too).
    let tmp: Vec<u8> = if out_w != in_w {
        let c = precompute_coeffs(in_w, out_w);
        let mut tmp = vec![0u8; in_h * out_w * 3];
        for y in 0..in_h {
            let row = &src[y * in_w * 3..(y + 1) * in_w * 3];
            for (xx, &(xmin, n)) in c.bounds.iter().enumerate() {
                let k = &c.weights[xx * c.ksize..xx * c.ksize + n];
                let mut ss = [half; 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = (xmin + x) * 3;
                    for ch in 0..3 {
                        ss[ch] += row[p + ch] as i64 * kx;
                    }
                }
                let o = (y * out_w + xx) * 3;
                for ch in 0..3 {
                    tmp[o + ch] = clip8(ss[ch]);
                }
            }
        }
        tmp
    } else {
        src.to_vec()
    };

    // Vertical pass: out_h rows of out_w pixels.
    let out: Vec<u8> = if out_h != in_h {
        let c = precompute_coeffs(in_h, out_h);
        let mut out = vec![0u8; out_h * out_w * 3];
        for (yy, &(ymin, n)) in c.bounds.iter().enumerate() {
            let k = &c.weights[yy * c.ksize..yy * c.ksize + n];
            for xx in 0..out_w {
                let mut ss = [half; 3];
                for (y, &ky) in k.iter().enumerate() {
                    let p = ((ymin + y) * out_w + xx) * 3;
                    for ch in 0..3 {
                        ss[ch] += tmp[p + ch] as i64 * ky;
                    }
                }
                let o = (yy * out_w + xx) * 3;
                for ch in 0..3 {
                    out[o + ch] = clip8(ss[ch]);
                }
            }
        }
        out
    } else {
        tmp
    };
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Resizes `img` per `mode` (a copy for [`ResizeMode::None`] or when the size does not change).
pub fn resize_for_mode(img: &RgbImage, mode: ResizeMode) -> RgbImage {
    let (h, w) = mode.output_size(img.height(), img.width());
    resize_bilinear(img, w, h)
}

// ---------------------------------------------------------------------------------------------------------
// Normalise + pad
// ---------------------------------------------------------------------------------------------------------

/// A padded, normalised batch ready for the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// `[batch, 3, height, width]` row-major, `(x/255 - mean) / std`, zero in the padding.
    pub pixel_values: Vec<f32>,
    /// `[batch, height, width]`, 1 = real pixel, 0 = padding.
    pub pixel_mask: Vec<u8>,
    pub batch: usize,
    /// Padded height (max over the batch).
    pub height: usize,
    /// Padded width (max over the batch).
    pub width: usize,
    /// `(h, w)` of each image after resize, before padding.
    pub image_sizes: Vec<(usize, usize)>,
}

/// Normalised value of one 8-bit channel value, as numpy computes it in the HF processor:
/// `float32(float64(v) * (1/255))`, then `(x - mean) / std` in float32.
#[inline]
pub fn normalize_value(v: u8, channel: usize) -> f32 {
    let x = (v as f64 * (1.0 / 255.0)) as f32;
    (x - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
}

/// Rescales, normalises and zero-pads already-resized images into one batch (no resize).
pub fn pad_batch(images: &[RgbImage]) -> Batch {
    let batch = images.len();
    let height = images.iter().map(|i| i.height() as usize).max().unwrap_or(0);
    let width = images.iter().map(|i| i.width() as usize).max().unwrap_or(0);
    let plane = height * width;
    let mut pixel_values = vec![0f32; batch * 3 * plane];
    let mut pixel_mask = vec![0u8; batch * plane];
    // Lookup table: 256 values per channel.
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, out) in table.iter_mut().enumerate() {
            *out = normalize_value(v as u8, c);
        }
    }
    let mut image_sizes = Vec::with_capacity(batch);
    for (b, img) in images.iter().enumerate() {
        let (h, w) = (img.height() as usize, img.width() as usize);
        image_sizes.push((h, w));
        let raw = img.as_raw();
        for y in 0..h {
            for x in 0..w {
                let p = (y * w + x) * 3;
                for c in 0..3 {
                    pixel_values[(b * 3 + c) * plane + y * width + x] = lut[c][raw[p + c] as usize];
                }
            }
            pixel_mask[b * plane + y * width..b * plane + y * width + w].fill(1);
        }
    }
    Batch { pixel_values, pixel_mask, batch, height, width, image_sizes }
}

/// The full processor: resize each image per `mode`, rescale 1/255, normalise, pad bottom/right, mask.
pub fn preprocess(images: &[RgbImage], mode: ResizeMode) -> Batch {
    match mode {
        ResizeMode::None => pad_batch(images),
        _ => {
            let resized: Vec<RgbImage> = images.iter().map(|img| resize_for_mode(img, mode)).collect();
            pad_batch(&resized)
        }
    }
}

/// Drops the alpha channel of an RGBA buffer (browser `ImageData`), checking its length.
pub fn rgba_to_rgb(width: u32, height: u32, rgba: &[u8]) -> Result<RgbImage, PreprocessError> {
    let expected = (width as usize).saturating_mul(height as usize).saturating_mul(4);
    if rgba.len() != expected {
        return Err(PreprocessError::BufferLength { width, height, expected, actual: rgba.len() });
    }
    let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    RgbImage::from_raw(width, height, rgb).ok_or(PreprocessError::BufferLength {
        width,
        height,
        expected,
        actual: rgba.len(),
    })
}
