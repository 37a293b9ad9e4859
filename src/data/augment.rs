//! Training augmentation and a small seeded PRNG.
//!
//! Follows the official DETR / Conditional DETR `make_coco_transforms("train")` (`datasets/coco.py` and
//! `datasets/transforms.py` of facebookresearch/detr), scaled to a maximum image size `max_size` with
//! `scale = max_size / 1333`:
//!
//! ```text
//! RandomHorizontalFlip(0.5)
//! RandomSelect(p = 0.5:
//!     RandomResize([480, 512, ..., 800] * scale, max_size),
//!     Compose(RandomResize([400, 500, 600] * scale),            # no max size, like the official code
//!             RandomSizeCrop(384 * scale, 600 * scale),
//!             RandomResize([480, 512, ..., 800] * scale, max_size)))
//! ```
//!
//! Resizing uses [`crate::preprocess::resize_bilinear`] (Pillow bilinear, as the official code resizes PIL
//! images) and [`crate::preprocess::size_with_aspect_ratio`] (the Hugging Face rounding of the sizes, which
//! differs from the official one by at most a pixel on the long side). Boxes are scaled by
//! `float32(new / old)` per axis, flipped as `(w - x1, y0, w - x0, y1)`, and cropped like the official `crop`:
//! shifted, clipped to the crop, and removed when they become empty. Randomness comes from [`Rng`]
//! (SplitMix64), so a seed reproduces a run on every platform, including WebAssembly.

use image::RgbImage;

use super::BoxAnnotation;
use crate::preprocess::{ResizeMode, resize_bilinear, size_with_aspect_ratio};

/// SplitMix64 pseudo-random generator (Steele, Lea & Flood 2014): tiny, seedable, platform-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An independent generator for `key`, derived from this one's state without advancing it. Training
    /// draws each epoch's randomness from `base.fork(epoch)` and each sample's from a fork of that, so what
    /// a step sees depends only on the seed, the epoch and the position in it: a run resumed at any step
    /// draws what the uninterrupted run drew.
    pub fn fork(&self, key: u64) -> Rng {
        Rng::new(Rng::new(self.state ^ key.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64())
    }

    /// Uniform in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)` as f32.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f64() as f32
    }

    /// Uniform integer in `[0, n)`; 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]` (like Python's `random.randint`); `lo` when `hi < lo`.
    pub fn range_inclusive(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as u32
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A uniformly chosen element, `None` for an empty slice.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// Fisher-Yates shuffle (e.g. the sample order of an epoch).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Official DETR training scales (shortest edge) at `max_size = 1333`.
pub const DETR_TRAIN_SCALES: [u32; 11] = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800];
/// Official shortest edges of the resize before the random crop.
pub const DETR_CROP_RESIZE_SCALES: [u32; 3] = [400, 500, 600];
/// Official `RandomSizeCrop(384, 600)` bounds.
pub const DETR_CROP_MIN: u32 = 384;
pub const DETR_CROP_MAX: u32 = 600;
/// Official longest edge.
pub const DETR_MAX_SIZE: u32 = 1333;

/// The official DETR training augmentation, scaled to `max_size` (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainAugment {
    /// Longest edge after augmentation.
    pub max_size: u32,
    /// Shortest-edge choices of the final resize (`[480..800] * scale`).
    pub scales: Vec<u32>,
    /// Shortest-edge choices of the resize before the crop (`[400, 500, 600] * scale`).
    pub crop_resize_scales: Vec<u32>,
    /// `RandomSizeCrop` bounds (`384 * scale`, `600 * scale`).
    pub crop_min: u32,
    pub crop_max: u32,
    /// Probability of the horizontal flip (0.5).
    pub flip_prob: f64,
    /// Probability of the plain resize branch of `RandomSelect` (0.5).
    pub resize_only_prob: f64,
}

fn scaled(v: u32, scale: f64) -> u32 {
    ((v as f64 * scale).round() as u32).max(1)
}

impl TrainAugment {
    /// The recipe for images of at most `max_size` pixels on the long side (1333 = the official recipe).
    pub fn new(max_size: u32) -> TrainAugment {
        let max_size = max_size.max(1);
        let scale = max_size as f64 / DETR_MAX_SIZE as f64;
        TrainAugment {
            max_size,
            scales: DETR_TRAIN_SCALES.iter().map(|&s| scaled(s, scale)).collect(),
            crop_resize_scales: DETR_CROP_RESIZE_SCALES.iter().map(|&s| scaled(s, scale)).collect(),
            crop_min: scaled(DETR_CROP_MIN, scale),
            crop_max: scaled(DETR_CROP_MAX, scale),
            flip_prob: 0.5,
            resize_only_prob: 0.5,
        }
    }

    /// Augments one image and its boxes.
    pub fn apply(&self, img: &RgbImage, boxes: &[BoxAnnotation], rng: &mut Rng) -> (RgbImage, Vec<BoxAnnotation>) {
        let (mut img, mut boxes) =
            if rng.bernoulli(self.flip_prob) { hflip(img, boxes) } else { (img.clone(), boxes.to_vec()) };
        if !rng.bernoulli(self.resize_only_prob) {
            (img, boxes) = random_resize(&img, &boxes, &self.crop_resize_scales, None, rng);
            (img, boxes) = random_size_crop(&img, &boxes, self.crop_min, self.crop_max, rng);
        }
        random_resize(&img, &boxes, &self.scales, Some(self.max_size), rng)
    }
}

/// Horizontal flip of the image and its boxes: `(x0, y0, x1, y1) -> (w - x1, y0, w - x0, y1)`.
pub fn hflip(img: &RgbImage, boxes: &[BoxAnnotation]) -> (RgbImage, Vec<BoxAnnotation>) {
    let w = img.width() as f32;
    let flipped = boxes
        .iter()
        .map(|b| {
            let [x0, y0, x1, y1] = b.bbox;
            BoxAnnotation { class_id: b.class_id, bbox: [w - x1, y0, w - x0, y1] }
        })
        .collect();
    (image::imageops::flip_horizontal(img), flipped)
}

/// Resizes the image to `width x height` and scales the boxes by `float32(new / old)` per axis (as the official
/// `resize` and Hugging Face `resize_annotation` do); boxes are kept inside the new image and empty ones removed.
pub fn resize_with_boxes(
    img: &RgbImage,
    boxes: &[BoxAnnotation],
    width: u32,
    height: u32,
) -> (RgbImage, Vec<BoxAnnotation>) {
    let (ow, oh) = (img.width().max(1) as f64, img.height().max(1) as f64);
    let rw = (width as f64 / ow) as f32;
    let rh = (height as f64 / oh) as f32;
    let (w, h) = (width as f32, height as f32);
    let scaled = boxes
        .iter()
        .filter_map(|b| {
            let [x0, y0, x1, y1] = b.bbox;
            let bbox =
                [(x0 * rw).clamp(0.0, w), (y0 * rh).clamp(0.0, h), (x1 * rw).clamp(0.0, w), (y1 * rh).clamp(0.0, h)];
            (bbox[2] > bbox[0] && bbox[3] > bbox[1]).then_some(BoxAnnotation { class_id: b.class_id, bbox })
        })
        .collect();
    (resize_bilinear(img, width, height), scaled)
}

/// Official `RandomResize(sizes, max_size)`: a random shortest edge from `sizes`, longest edge capped by
/// `max_size` if given.
pub fn random_resize(
    img: &RgbImage,
    boxes: &[BoxAnnotation],
    sizes: &[u32],
    max_size: Option<u32>,
    rng: &mut Rng,
) -> (RgbImage, Vec<BoxAnnotation>) {
    let Some(&size) = rng.choose(sizes) else {
        return (img.clone(), boxes.to_vec());
    };
    let (h, w) = size_with_aspect_ratio(img.height(), img.width(), size, max_size);
    resize_with_boxes(img, boxes, w, h)
}

/// Crops the region `(top, left, height, width)` (torchvision order) like the official `crop`: boxes are shifted,
/// clipped to the crop, and removed when they have no area left. The region is clamped to the image.
pub fn crop(
    img: &RgbImage,
    boxes: &[BoxAnnotation],
    top: u32,
    left: u32,
    height: u32,
    width: u32,
) -> (RgbImage, Vec<BoxAnnotation>) {
    let top = top.min(img.height());
    let left = left.min(img.width());
    let height = height.min(img.height() - top);
    let width = width.min(img.width() - left);
    let (t, l, w, h) = (top as f32, left as f32, width as f32, height as f32);
    let kept = boxes
        .iter()
        .filter_map(|b| {
            let [x0, y0, x1, y1] = b.bbox;
            let bbox = [
                (x0 - l).min(w).max(0.0),
                (y0 - t).min(h).max(0.0),
                (x1 - l).min(w).max(0.0),
                (y1 - t).min(h).max(0.0),
            ];
            (bbox[2] > bbox[0] && bbox[3] > bbox[1]).then_some(BoxAnnotation { class_id: b.class_id, bbox })
        })
        .collect();
    (image::imageops::crop_imm(img, left, top, width, height).to_image(), kept)
}

/// Official `RandomSizeCrop(min_size, max_size)`: crop width in `[min_size, min(img_w, max_size)]`, height in
/// `[min_size, min(img_h, max_size)]` (Python `randint`), position from torchvision `RandomCrop.get_params`.
/// Where the image is smaller than `min_size` (the official code would raise) the bound is lowered to fit.
pub fn random_size_crop(
    img: &RgbImage,
    boxes: &[BoxAnnotation],
    min_size: u32,
    max_size: u32,
    rng: &mut Rng,
) -> (RgbImage, Vec<BoxAnnotation>) {
    let (iw, ih) = img.dimensions();
    let w_hi = iw.min(max_size);
    let h_hi = ih.min(max_size);
    let w = rng.range_inclusive(min_size.min(w_hi), w_hi);
    let h = rng.range_inclusive(min_size.min(h_hi), h_hi);
    let (top, left) =
        if w == iw && h == ih { (0, 0) } else { (rng.range_inclusive(0, ih - h), rng.range_inclusive(0, iw - w)) };
    crop(img, boxes, top, left, h, w)
}

/// Deterministic evaluation resize (no augmentation): the image per `mode` (Hugging Face processor sizes,
/// Pillow bilinear) and the boxes scaled to match.
pub fn resize_for_eval(img: &RgbImage, boxes: &[BoxAnnotation], mode: ResizeMode) -> (RgbImage, Vec<BoxAnnotation>) {
    let (h, w) = mode.output_size(img.height(), img.width());
    resize_with_boxes(img, boxes, w, h)
}
