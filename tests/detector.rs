//! The page's detection service (`cdetr::detector`), natively: a checkpoint from bytes, a frame's
//! detections with reference points, the attention maps, and the errors the page shows (no attention
//! maps, a query out of range, a frame of the wrong size, a frame too big for the memory, bad files).

mod common;

use burn::tensor::Device;
use cdetr::detector::{DetectOptions, DetectorError, Frame, LoadedModel, attention_maps, detect};
use cdetr::memory::Limits;
use common::fixtures;

fn load(dir: &str) -> LoadedModel {
    let weights = std::fs::read(fixtures().join(dir).join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(fixtures().join(dir).join("config.json")).unwrap();
    LoadedModel::from_bytes(weights, Some(&config), "model.safetensors", &Device::flex()).unwrap()
}

/// A 64×48 RGBA gradient.
fn frame_pixels() -> Vec<u8> {
    (0..48u32)
        .flat_map(|y| (0..64u32).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8, 255]))
        .collect()
}

fn no_clock() -> f64 {
    0.0
}

#[test]
fn a_frame_gives_detections_with_reference_points_and_attention_maps() {
    let model = load("tiny");
    let rgba = frame_pixels();
    let options = DetectOptions { threshold: 0.0, top_k: 7, shortest_edge: 32, attention: true, ..Default::default() };
    let frame = Frame { rgba: &rgba, width: 64, height: 48 };
    let (result, last) = pollster::block_on(detect(&model, frame, &options, Limits::default(), &no_clock)).unwrap();
    // Shortest edge 32 (longest at most 53): 32 × int(32 · 64 / 48) = 32 × 42, as the HF processor sizes it.
    assert_eq!((result.input_height, result.input_width), (32, 42));
    assert_eq!(result.detections.len(), 7);
    for d in &result.detections {
        let [x, y] = d.reference_point.expect("Conditional DETR detections carry their reference point");
        assert!((0.0..=64.0).contains(&x) && (0.0..=48.0).contains(&y), "{x}, {y}");
        assert!(d.bbox[0] <= d.bbox[2] && d.bbox[1] <= d.bbox[3]);
    }
    assert!(result.detections.windows(2).all(|w| w[0].score >= w[1].score));

    let heads = model.config.decoder_attention_heads;
    let query = result.detections[0].query;
    let maps = pollster::block_on(attention_maps(last.as_ref(), query)).unwrap();
    let cells = maps.feature_height * maps.feature_width;
    assert_eq!((maps.heads, maps.combined.len()), (heads, heads * cells));
    assert!(maps.valid_width <= maps.feature_width && maps.valid_height <= maps.feature_height);
    for map in [Some(&maps.combined), maps.spatial.as_ref(), maps.content.as_ref()] {
        let map = map.expect("Conditional DETR has spatial and content maps");
        // Each head's row is a softmax over the feature cells.
        for head in map.chunks(cells) {
            assert!((head.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
    }
    let queries = model.config.num_queries;
    let err = pollster::block_on(attention_maps(last.as_ref(), queries)).unwrap_err();
    assert!(matches!(err, DetectorError::QueryOutOfRange { query, queries: q } if query == queries && q == queries));
    let err = pollster::block_on(attention_maps(None, 0)).unwrap_err();
    assert!(err.to_string().contains("detect a frame with attention enabled first"), "{err}");
}

#[test]
fn detr_has_no_reference_points_and_no_spatial_content_split() {
    let model = load("detr_tiny");
    assert_eq!(model.info().architecture, "DETR");
    assert_eq!(load("tiny").info().architecture, "Conditional DETR");
    let rgba = frame_pixels();
    let options = DetectOptions { threshold: 0.0, top_k: 5, shortest_edge: 32, attention: true, ..Default::default() };
    let frame = Frame { rgba: &rgba, width: 64, height: 48 };
    let (result, last) = pollster::block_on(detect(&model, frame, &options, Limits::default(), &no_clock)).unwrap();
    assert!(!result.detections.is_empty() && result.detections.iter().all(|d| d.reference_point.is_none()));
    let maps = pollster::block_on(attention_maps(last.as_ref(), 0)).unwrap();
    assert!(maps.spatial.is_none() && maps.content.is_none() && !maps.combined.is_empty());
}

#[test]
fn bad_frames_and_files_are_errors_naming_the_problem() {
    let model = load("tiny");
    let rgba = frame_pixels();
    let options = DetectOptions::default();
    let short = Frame { rgba: &rgba[..100], width: 64, height: 48 };
    let err = pollster::block_on(detect(&model, short, &options, Limits::default(), &no_clock)).unwrap_err();
    assert!(matches!(err, DetectorError::Frame(_)), "{err}");
    let tight = Limits { total_bytes: Some(1 << 16), buffer_bytes: None };
    let frame = Frame { rgba: &rgba, width: 64, height: 48 };
    let err = pollster::block_on(detect(&model, frame, &options, tight, &no_clock)).unwrap_err();
    assert!(matches!(err, DetectorError::TooBig(_)), "{err}");

    let err = LoadedModel::from_bytes(b"not a checkpoint".to_vec(), None, "x.safetensors", &Device::flex()).err();
    assert!(matches!(err, Some(DetectorError::Weights(_))), "{err:?}");
    let weights = std::fs::read(fixtures().join("tiny/model.safetensors")).unwrap();
    let err = LoadedModel::from_bytes(weights, Some("{not json"), "model.safetensors", &Device::flex()).err();
    assert!(matches!(err, Some(DetectorError::Config(_))), "{err:?}");
}
