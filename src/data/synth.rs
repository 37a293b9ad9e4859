//! A deterministic synthetic detection dataset: flat-coloured circles, squares and triangles on noisy,
//! textured backgrounds, with exact (pixel-tight) boxes.
//!
//! It is this project's own generator (no reference implementation): a quick way to check that fine-tuning
//! learns, in tests and in the browser, without downloading data. Everything is derived from a seed with
//! [`Rng`] (SplitMix64), so it is identical on every platform. Backgrounds are low-saturation
//! (channel spread < 80), shapes are saturated (spread > 120), so shapes stay clearly visible. Shape sides are
//! 10-45 % of the shorter image side; a shape may overlap another's box by at most 30 % of the smaller box, and
//! later shapes are drawn on top. Each box is the extent of the pixels rasterised for its shape (before any
//! occlusion), i.e. `[min_x, min_y, max_x + 1, max_y + 1]`.

use image::{Rgb, RgbImage};

use super::augment::Rng;
use super::{BoxAnnotation, Dataset, SampleMeta, ValidationReport};

/// Class names of the synthetic dataset (index = class id).
pub const SYNTH_CLASSES: [&str; 3] = ["circle", "square", "triangle"];

/// Objects per image of [`synth_dataset`] (at most).
pub const SYNTH_MAX_OBJECTS: usize = 4;

/// One drawn shape.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthObject {
    pub class_id: usize,
    /// Tight `(x0, y0, x1, y1)` box of the rasterised shape.
    pub bbox: [f32; 4],
    /// The flat colour it was painted with.
    pub color: [u8; 3],
}

/// A synthetic image and its shapes in drawing order (later ones on top).
#[derive(Debug, Clone, PartialEq)]
pub struct SynthScene {
    pub image: RgbImage,
    pub objects: Vec<SynthObject>,
}

/// One synthetic image with 1..=`max_objects` shapes (none if `max_objects` is 0) and their boxes.
pub fn synth_sample(seed: u64, width: u32, height: u32, max_objects: usize) -> (RgbImage, Vec<BoxAnnotation>) {
    let scene = synth_scene(seed, width, height, max_objects);
    let boxes = scene.objects.iter().map(|o| BoxAnnotation { class_id: o.class_id, bbox: o.bbox }).collect();
    (scene.image, boxes)
}

/// `n` synthetic images (`synth_00000.png`, ...) of `width x height` with up to [`SYNTH_MAX_OBJECTS`] shapes
/// each; sample `i` is `synth_sample(sample_seed(seed, i), ...)`.
pub fn synth_dataset(seed: u64, n: usize, width: u32, height: u32) -> (Dataset, Vec<RgbImage>) {
    let mut samples = Vec::with_capacity(n);
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        let (img, annotations) = synth_sample(sample_seed(seed, i as u64), width, height, SYNTH_MAX_OBJECTS);
        samples.push(SampleMeta {
            image: format!("synth_{i:05}.png"),
            width,
            height,
            annotations,
            image_id: i as i64,
            eval_annotations: None,
        });
        images.push(img);
    }
    let dataset = Dataset {
        class_names: SYNTH_CLASSES.iter().map(|s| s.to_string()).collect(),
        category_ids: (0..SYNTH_CLASSES.len() as i64).collect(),
        samples,
        report: ValidationReport::default(),
    };
    (dataset, images)
}

/// Seed of sample `index` of a dataset seeded with `seed`.
pub fn sample_seed(seed: u64, index: u64) -> u64 {
    Rng::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// The scene behind [`synth_sample`], with each shape's colour (for tests and visualisation).
pub fn synth_scene(seed: u64, width: u32, height: u32, max_objects: usize) -> SynthScene {
    let mut rng = Rng::new(seed);
    let mut image = background(&mut rng, width, height);
    let side = width.min(height) as f32;
    let count = if max_objects == 0 { 0 } else { rng.range_inclusive(1, max_objects as u32) as usize };
    let mut objects: Vec<SynthObject> = Vec::with_capacity(count);
    if side < 4.0 {
        return SynthScene { image, objects };
    }
    for _ in 0..count {
        let class_id = rng.below(3) as usize;
        let color = shape_color(&mut rng);
        let flip = rng.bernoulli(0.5); // triangle apex down
        // up to 30 placements that overlap earlier boxes by at most 30 % of the smaller box
        for _attempt in 0..30 {
            let s = (side * rng.uniform(0.10, 0.45)).round().max(3.0) as u32;
            let x = rng.range_inclusive(0, width - s);
            let y = rng.range_inclusive(0, height - s);
            let mask = rasterize(class_id, s, flip);
            let Some([bx0, by0, bx1, by1]) = mask_extent(&mask, s) else { continue };
            let bbox = [(x + bx0) as f32, (y + by0) as f32, (x + bx1) as f32, (y + by1) as f32];
            if objects.iter().any(|o| overlap_fraction(&o.bbox, &bbox) > 0.3) {
                continue;
            }
            for (i, &inside) in mask.iter().enumerate() {
                if inside {
                    let (px, py) = (x + i as u32 % s, y + i as u32 / s);
                    image.put_pixel(px, py, Rgb(color));
                }
            }
            objects.push(SynthObject { class_id, bbox, color });
            break;
        }
    }
    SynthScene { image, objects }
}

/// Intersection area over the area of the smaller box.
fn overlap_fraction(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    iw * ih / area(a).min(area(b)).max(1.0)
}

/// `s x s` mask of a shape whose bounding square is the whole mask (pixel centres tested).
fn rasterize(class_id: usize, s: u32, apex_down: bool) -> Vec<bool> {
    let sf = s as f32;
    let r = sf / 2.0;
    let mut mask = vec![false; (s * s) as usize];
    for py in 0..s {
        for px in 0..s {
            let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
            let inside = match class_id {
                0 => (cx - r) * (cx - r) + (cy - r) * (cy - r) <= r * r,
                1 => true,
                _ => {
                    // isosceles triangle: apex at the top centre (or bottom when flipped), base on the other side
                    let t = if apex_down { sf - cy } else { cy } / sf; // 0 at the apex, 1 at the base
                    (cx - r).abs() <= t * r
                }
            };
            mask[(py * s + px) as usize] = inside;
        }
    }
    mask
}

/// Tight extent `[x0, y0, x1, y1]` (exclusive end) of the set pixels of an `s x s` mask.
fn mask_extent(mask: &[bool], s: u32) -> Option<[u32; 4]> {
    let mut ext: Option<[u32; 4]> = None;
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        let (x, y) = (i as u32 % s, i as u32 / s);
        ext = Some(match ext {
            None => [x, y, x + 1, y + 1],
            Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)],
        });
    }
    ext
}

/// A saturated colour: random hue, saturation 0.65-1, value 0.75-1 (channel spread > 120).
fn shape_color(rng: &mut Rng) -> [u8; 3] {
    let h = rng.uniform(0.0, 6.0);
    let s = rng.uniform(0.65, 1.0);
    let v = rng.uniform(0.75, 1.0) * 255.0;
    let (max, min) = (v, v * (1.0 - s));
    let f = h.fract();
    let (rise, fall) = (min + (max - min) * f, max - (max - min) * f);
    let [r, g, b] = match h as u32 {
        0 => [max, rise, min],
        1 => [fall, max, min],
        2 => [min, max, rise],
        3 => [min, fall, max],
        4 => [rise, min, max],
        _ => [max, min, fall],
    };
    [r.round() as u8, g.round() as u8, b.round() as u8]
}

/// Low-saturation textured background: a gradient between two greyish colours, smooth value noise and
/// per-pixel noise.
fn background(rng: &mut Rng, width: u32, height: u32) -> RgbImage {
    let mut grey = || {
        let g = rng.uniform(40.0, 200.0);
        [g + rng.uniform(-20.0, 20.0), g + rng.uniform(-20.0, 20.0), g + rng.uniform(-20.0, 20.0)]
    };
    let (c0, c1) = (grey(), grey());
    let angle = rng.uniform(0.0, std::f32::consts::TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    // value noise on a coarse grid (cells of ~1/6 of the image), bilinearly interpolated
    let cells = 6usize;
    let grid: Vec<f32> = (0..(cells + 1) * (cells + 1)).map(|_| rng.uniform(-20.0, 20.0)).collect();
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let diag = (w * w + h * h).sqrt().max(1.0);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let t = (((x as f32 - w / 2.0) * dx + (y as f32 - h / 2.0) * dy) / diag + 0.5).clamp(0.0, 1.0);
        let (gx, gy) = (fx * cells as f32, fy * cells as f32);
        let (ix, iy) = ((gx as usize).min(cells - 1), (gy as usize).min(cells - 1));
        let (ax, ay) = (gx - ix as f32, gy - iy as f32);
        let g = |i: usize, j: usize| grid[j * (cells + 1) + i];
        let smooth = g(ix, iy) * (1.0 - ax) * (1.0 - ay)
            + g(ix + 1, iy) * ax * (1.0 - ay)
            + g(ix, iy + 1) * (1.0 - ax) * ay
            + g(ix + 1, iy + 1) * ax * ay;
        let noise = rng.uniform(-10.0, 10.0);
        let px = |c: usize| (c0[c] * (1.0 - t) + c1[c] * t + smooth + noise).round().clamp(0.0, 255.0) as u8;
        Rgb([px(0), px(1), px(2)])
    })
}
