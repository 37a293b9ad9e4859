//! Parity of `cdetr::preprocess` with Hugging Face `ConditionalDetrImageProcessor` (slow, PIL path), using
//! the reference tensors in `tests/fixtures/tiny/fixture.safetensors` and scalars in `fixture.json`, plus
//! Pillow 13.0 `Image.resize(..., BILINEAR)` hashes of a synthetic pattern for more resize shapes.

use std::path::PathBuf;

use cdetr::preprocess::{
    IMAGENET_MEAN, IMAGENET_STD, PreprocessError, ResizeMode, pad_batch, preprocess, resize_bilinear, rgba_to_rgb,
    target_size,
};
use image::RgbImage;
use safetensors::{Dtype, SafeTensors};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

struct Fixture {
    bytes: Vec<u8>,
    json: serde_json::Value,
}

impl Fixture {
    fn load() -> Fixture {
        let dir = fixture_dir();
        let bytes = std::fs::read(dir.join("fixture.safetensors")).expect("read fixture.safetensors");
        let json = serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).expect("read fixture.json"))
            .expect("parse fixture.json");
        Fixture { bytes, json }
    }

    fn tensor(&self, name: &str) -> (Vec<usize>, Dtype, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("deserialize safetensors");
        let t = st.tensor(name).unwrap_or_else(|e| panic!("tensor {name}: {e}"));
        (t.shape().to_vec(), t.dtype(), t.data().to_vec())
    }

    fn f32s(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let (shape, dtype, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::F32, "{name}");
        (shape, data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn i64s(&self, name: &str) -> (Vec<usize>, Vec<i64>) {
        let (shape, dtype, data) = self.tensor(name);
        assert_eq!(dtype, Dtype::I64, "{name}");
        (shape, data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())
    }

    fn image(&self, i: usize) -> RgbImage {
        let (shape, dtype, data) = self.tensor(&format!("inputs.image.{i}"));
        assert_eq!(dtype, Dtype::U8);
        assert_eq!(shape[2], 3);
        RgbImage::from_raw(shape[1] as u32, shape[0] as u32, data).expect("HWC image")
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn no_resize_matches_processor() {
    let fx = Fixture::load();
    let images = [fx.image(0), fx.image(1)];
    let batch = preprocess(&images, ResizeMode::None);
    let (shape, expected) = fx.f32s("inputs.pixel_values");
    assert_eq!(shape, vec![batch.batch, 3, batch.height, batch.width]);
    let diff = max_abs_diff(&batch.pixel_values, &expected);
    println!("max abs diff vs reference: {diff:e}");
    assert!(diff <= 1e-5, "max abs diff {diff}");
    let (mshape, mask) = fx.i64s("inputs.pixel_mask");
    assert_eq!(mshape, vec![batch.batch, batch.height, batch.width]);
    let mask: Vec<u8> = mask.iter().map(|&v| v as u8).collect();
    assert_eq!(batch.pixel_mask, mask);
    assert_eq!(batch.image_sizes, vec![(96, 128), (160, 80)]);
    // pad_batch is the same thing
    assert_eq!(pad_batch(&images), batch);
}

#[test]
fn resize_matches_pil_processor() {
    let fx = Fixture::load();
    let ex = &fx.json["preprocess"]["resize_example"];
    let short = ex["size"]["shortest_edge"].as_u64().unwrap() as u32;
    let long = ex["size"]["longest_edge"].as_u64().unwrap() as u32;
    let images = [fx.image(0), fx.image(1)];
    let batch = preprocess(&images, ResizeMode::Size { shortest_edge: short, longest_edge: long });
    let out_hw: Vec<(usize, usize)> = ex["output_hw"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize))
        .collect();
    assert_eq!(batch.image_sizes, out_hw);
    assert_eq!(
        [batch.height as u64, batch.width as u64],
        [ex["padded_hw"][0].as_u64().unwrap(), ex["padded_hw"][1].as_u64().unwrap()]
    );
    let (shape, expected) = fx.f32s("preprocess.resize.pixel_values");
    assert_eq!(shape, vec![batch.batch, 3, batch.height, batch.width]);
    let diff = max_abs_diff(&batch.pixel_values, &expected);
    println!("max abs diff vs reference: {diff:e}");
    assert!(diff <= 1e-5, "max abs diff {diff}");
}

#[test]
fn size_table_matches_transformers() {
    let fx = Fixture::load();
    let table = fx.json["preprocess"]["default_size_table (shortest_edge=800, longest_edge=1333)"]
        .as_array()
        .expect("size table");
    assert_eq!(table.len(), 16);
    for row in table {
        let ih = row["input_hw"][0].as_u64().unwrap() as u32;
        let iw = row["input_hw"][1].as_u64().unwrap() as u32;
        let oh = row["output_hw"][0].as_u64().unwrap() as u32;
        let ow = row["output_hw"][1].as_u64().unwrap() as u32;
        assert_eq!(target_size(ih, iw, 800, 1333), (oh, ow), "input {ih}x{iw}");
        assert_eq!(ResizeMode::Default.output_size(ih, iw), (oh, ow));
    }
    let ex = &fx.json["preprocess"]["resize_example"];
    for (i, o) in ex["input_hw"].as_array().unwrap().iter().zip(ex["output_hw"].as_array().unwrap()) {
        let got = target_size(i[0].as_u64().unwrap() as u32, i[1].as_u64().unwrap() as u32, 48, 80);
        assert_eq!(got, (o[0].as_u64().unwrap() as u32, o[1].as_u64().unwrap() as u32));
    }
}

/// Same pattern as the Python generator of the hashes below.
fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (x as u64, y as u64);
        let v = |c: u64| ((x * x * 3 + y * 5 + c * 71 + ((x * y) % 17) * 11 + (x / 4) * (y / 3) * 7) % 256) as u8;
        image::Rgb([v(0), v(1), v(2)])
    })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Hashes of `numpy.asarray(Image.fromarray(pattern).resize((ow, oh), Image.BILINEAR)).tobytes()` with
/// Pillow 13.0.0 (down- and up-scaling, one axis only, extreme ratios, 1x1), as printed by
/// `tests/fixtures/pillow/make_resize_hashes.py`.
#[test]
fn resize_bilinear_matches_pillow_hashes() {
    type Case = ((u32, u32), (u32, u32), u64);
    let cases: [Case; 15] = [
        ((37, 23), (10, 7), 0xbe1aabcfa9dcad6e),
        ((37, 23), (80, 50), 0x54ed2952602328f9),
        ((64, 48), (64, 20), 0xccafae777d0d5652),
        ((64, 48), (31, 48), 0x36e6c7bae9916fc7),
        ((100, 3), (7, 11), 0xcb9db647761b3697),
        ((5, 40), (3, 120), 0xf0a0366b9b4f6605),
        ((640, 480), (213, 160), 0x76fb6d731a89bfbe),
        ((640, 480), (237, 199), 0x01fd3b07cf2e2fea),
        ((200, 150), (533, 400), 0x0c559e59c9af7ad2),
        ((1, 1), (4, 3), 0x83695c95c0e94c11),
        ((9, 9), (1, 1), 0x6eb72819513484cf),
        ((333, 500), (800, 1201), 0x71d09beae05e73d8),
        ((4000, 1), (1333, 1), 0x6ef2c74b927817b7),
        ((1, 4000), (1, 1333), 0x20ac591d4ac065b7),
        ((4000, 3), (1333, 1), 0xd3c73c3d75f734a6),
    ];
    for ((iw, ih), (ow, oh), hash) in cases {
        let out = resize_bilinear(&pattern(iw, ih), ow, oh);
        assert_eq!(out.dimensions(), (ow, oh));
        assert_eq!(fnv1a(out.as_raw()), hash, "{iw}x{ih} -> {ow}x{oh}");
    }
}

/// A 1×4000 image (and 4000×1): the HF rule would make the short side `round(1333 / 4000) = 0`; it stays one
/// pixel, the long side is capped at 1333, and preprocessing gives a 1×1333 batch with a full mask.
#[test]
fn extreme_aspect_ratios_keep_one_pixel() {
    assert_eq!(target_size(1, 4000, 800, 1333), (1, 1333));
    assert_eq!(target_size(4000, 1, 800, 1333), (1333, 1));
    assert_eq!(ResizeMode::Default.output_size(3, 4000), (1, 1333));
    for (w, h) in [(4000, 1), (1, 4000)] {
        let batch = preprocess(&[pattern(w, h)], ResizeMode::Default);
        let (bw, bh) = if w > h { (1333, 1) } else { (1, 1333) };
        assert_eq!((batch.batch, batch.height, batch.width), (1, bh, bw), "{w}x{h}");
        assert_eq!(batch.image_sizes, vec![(bh, bw)]);
        assert!(batch.pixel_mask.iter().all(|&m| m == 1));
        assert!(batch.pixel_values.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn resize_identity_and_empty() {
    let img = pattern(13, 9);
    assert_eq!(resize_bilinear(&img, 13, 9), img);
    assert_eq!(resize_bilinear(&img, 0, 5).dimensions(), (0, 5));
    assert_eq!(resize_bilinear(&RgbImage::new(0, 0), 4, 4).dimensions(), (4, 4));
    let empty = preprocess(&[], ResizeMode::Default);
    assert_eq!((empty.batch, empty.height, empty.width), (0, 0, 0));
    assert!(empty.pixel_values.is_empty());
}

#[test]
fn normalisation_and_padding() {
    let a = RgbImage::from_pixel(2, 3, image::Rgb([255, 0, 128]));
    let b = RgbImage::from_pixel(4, 1, image::Rgb([0, 0, 0]));
    let batch = pad_batch(&[a, b]);
    assert_eq!((batch.batch, batch.height, batch.width), (2, 3, 4));
    let at = |b: usize, c: usize, y: usize, x: usize| batch.pixel_values[((b * 3 + c) * 3 + y) * 4 + x];
    assert!((at(0, 0, 0, 0) - (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]).abs() < 1e-6);
    assert!((at(0, 1, 2, 1) - (0.0 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]).abs() < 1e-6);
    assert_eq!(at(0, 0, 0, 2), 0.0); // padding
    assert_eq!(at(1, 2, 1, 0), 0.0);
    assert_eq!(&batch.pixel_mask[..12], &[1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
    assert_eq!(&batch.pixel_mask[12..], &[1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(batch.image_sizes, vec![(3, 2), (1, 4)]);
}

#[test]
fn resize_mode_parsing() {
    assert_eq!("default".parse::<ResizeMode>().unwrap(), ResizeMode::Default);
    assert_eq!("None".parse::<ResizeMode>().unwrap(), ResizeMode::None);
    assert_eq!(" 480, 640 ".parse::<ResizeMode>().unwrap(), ResizeMode::Size { shortest_edge: 480, longest_edge: 640 });
    for bad in ["", "800", "800,", "a,b", "0,100", "1,2,3", "-1,5", "100000,200000", "800,9000"] {
        let err = bad.parse::<ResizeMode>().unwrap_err();
        assert!(matches!(err, PreprocessError::ResizeMode(_)), "{bad}");
        assert!(err.to_string().contains("SHORTEST,LONGEST"), "{err}");
    }
    assert_eq!(ResizeMode::Size { shortest_edge: 1, longest_edge: 2 }.to_string(), "1,2");
}

#[test]
fn rgba_conversion() {
    let rgba = [1u8, 2, 3, 255, 4, 5, 6, 0];
    let img = rgba_to_rgb(2, 1, &rgba).unwrap();
    assert_eq!(img.as_raw(), &vec![1, 2, 3, 4, 5, 6]);
    let err = rgba_to_rgb(2, 2, &rgba).unwrap_err();
    assert_eq!(err, PreprocessError::BufferLength { width: 2, height: 2, expected: 16, actual: 8 });
    assert!(err.to_string().contains("16"));
}

/// The 800 : 1333 rule in its one place: the page's input size and fine-tuning's max size (the values the
/// page and `web.rs` computed before: `Math.round(size * 1333 / 800)` and `max * 800 / 1333`).
#[test]
fn resize_rule_for_an_input_size_and_a_max_size() {
    assert_eq!(ResizeMode::for_shortest_edge(800), ResizeMode::Size { shortest_edge: 800, longest_edge: 1333 });
    for size in [224u32, 320, 480, 512, 640, 1000] {
        let js = (size as f64 * 1333.0 / 800.0).round() as u32;
        assert_eq!(ResizeMode::for_shortest_edge(size), ResizeMode::Size { shortest_edge: size, longest_edge: js });
    }
    assert_eq!(ResizeMode::for_shortest_edge(0), ResizeMode::None);
    assert_eq!(ResizeMode::for_max_size(512), ResizeMode::Size { shortest_edge: 307, longest_edge: 512 });
    assert_eq!(ResizeMode::for_max_size(1333), ResizeMode::Size { shortest_edge: 800, longest_edge: 1333 });
}
