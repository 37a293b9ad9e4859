//! Parity with the Hugging Face / official reference (transformers 4.57.6): every recorded stage of the
//! forward pass, from each of the three checkpoint files, within 1e-4 absolute — on the main fixture
//! (`tests/fixtures/tiny`) and on a second configuration (`tests/fixtures/tiny_dc5`: dilated last stage,
//! 5 heads, 3 + 4 layers, 15 queries, 3 labels, four images); both through Burn and with the backbone on the
//! packed CPU kernels.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cdetr::ConditionalDetrConfig;
use cdetr::model::inference::InferenceModel;
use cdetr::model::mask::PixelMask;
use cdetr::model::{ConditionalDetr, ForwardOptions, Trace};
use cdetr::postprocess::{PostProcessOptions, RawPredictions, post_process};
use cdetr::weights::{CheckpointFormat, load_model, read_checkpoint_file};
use common::*;

const TOL: f64 = 1e-4;

fn config(fx: &str) -> ConditionalDetrConfig {
    let text = std::fs::read_to_string(fixtures().join(fx).join("config.json")).unwrap();
    ConditionalDetrConfig::from_json(&text, "config.json").unwrap()
}

fn load(fx: &str, file: &str, expected: CheckpointFormat) -> ConditionalDetr {
    let ckpt = read_checkpoint_file(&fixtures().join(fx).join(file)).unwrap();
    assert_eq!(ckpt.format, expected, "{file}");
    load_model(&config(fx), &ckpt, &Device::flex()).unwrap()
}

fn inputs(refs: &std::collections::HashMap<String, RefTensor>, device: &Device) -> (Tensor<4>, PixelMask) {
    let pv = &refs["inputs.pixel_values"];
    let pixel_values = Tensor::from_data(TensorData::new(pv.f32(), pv.shape.clone()), device);
    let pm = &refs["inputs.pixel_mask"];
    let mask = PixelMask {
        batch: pm.shape[0],
        height: pm.shape[1],
        width: pm.shape[2],
        data: pm.values.iter().map(|&v| v as u8).collect(),
    };
    (pixel_values, mask)
}

fn values(t: &cdetr::model::TraceEntry) -> Vec<f32> {
    t.values.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Checks both ways the CPU runs a model: every layer through Burn (as on WebGPU and in training) and the
/// backbone through the packed CPU kernels (as in detection on the CPU).
fn check_trace(fx: &str, model: &ConditionalDetr, label: &str) -> Trace {
    let options = ForwardOptions { aux: true, attention_maps: true };
    check_trace_of(fx, &format!("{label} (Burn)"), |px, mask, trace| {
        model.forward_traced(px, mask, options, trace);
    });
    let prepared = InferenceModel::new(model.clone());
    assert!(prepared.uses_cpu_kernels(), "{label}: the CPU device should use the packed backbone");
    let trace = check_trace_of(fx, &format!("{label} (CPU kernels)"), |px, mask, trace| {
        prepared.forward_traced(px, mask, options, trace);
    });
    // Without attention maps every attention, the decoder's cross-attention too, runs through the CPU
    // attention kernel.
    let refs = fixture_tensors_of(fx);
    let (pixel_values, mask) = inputs(&refs, &Device::flex());
    let plain = prepared.forward(pixel_values, &mask, ForwardOptions { aux: false, attention_maps: false });
    let read = |t: &Tensor<3>| t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    for (name, t) in [("outputs.logits", &plain.last.logits), ("outputs.pred_boxes", &plain.last.pred_boxes)] {
        assert_close_abs(&format!("{label} (CPU attention): {name}"), &read(t), &refs[name].values, TOL);
    }
    trace
}

fn check_trace_of(fx: &str, label: &str, forward: impl Fn(Tensor<4>, &PixelMask, &mut Trace)) -> Trace {
    let refs = fixture_tensors_of(fx);
    let device = Device::flex();
    let (pixel_values, mask) = inputs(&refs, &device);
    let mut trace = Trace::default();
    forward(pixel_values, &mask, &mut trace);
    let mut compared = 0;
    for entry in &trace.entries {
        let Some(reference) = refs.get(&entry.name) else {
            panic!("{label}: trace entry {} has no reference tensor", entry.name)
        };
        let numel: usize = reference.shape.iter().product();
        assert_eq!(entry.shape.iter().product::<usize>(), numel, "{label}: {} size", entry.name);
        // Absolute, as transformers' own conversion check (the largest error seen is ~1e-5).
        assert_close_abs(&format!("{label}: {}", entry.name), &values(entry), &reference.values, TOL);
        compared += 1;
    }
    // Every forward-pass stage the fixture records is covered.
    for name in refs.keys() {
        let stage = ["backbone.", "model.", "encoder.", "decoder.", "outputs."].iter().any(|p| name.starts_with(p));
        if stage {
            assert!(trace.get(name).is_some(), "{label}: the fixture records {name}, the model did not");
        }
    }
    assert!(compared >= 27, "{label}: only {compared} stages compared");
    trace
}

#[test]
fn hf_safetensors_matches_every_stage() {
    for fx in ["tiny", "tiny_dc5"] {
        check_trace(
            fx,
            &load(fx, "model.safetensors", CheckpointFormat::HfSafetensors),
            &format!("{fx}: HF safetensors"),
        );
    }
}

#[test]
fn official_pth_matches_every_stage() {
    for fx in ["tiny", "tiny_dc5"] {
        check_trace(
            fx,
            &load(fx, "official_checkpoint.pth", CheckpointFormat::OfficialPth),
            &format!("{fx}: official .pth"),
        );
    }
}

#[test]
fn official_safetensors_matches_every_stage() {
    for fx in ["tiny", "tiny_dc5"] {
        let model = load(fx, "official_model.safetensors", CheckpointFormat::OfficialSafetensors);
        check_trace(fx, &model, &format!("{fx}: official safetensors"));
    }
}

#[test]
fn post_processing_matches_reference() {
    for fx in ["tiny", "tiny_dc5"] {
        post_processing_matches(fx);
    }
}

fn post_processing_matches(fx: &str) {
    let model = load(fx, "model.safetensors", CheckpointFormat::HfSafetensors);
    let refs = fixture_tensors_of(fx);
    let device = Device::flex();
    let (pixel_values, mask) = inputs(&refs, &device);
    let out = model.forward(pixel_values, &mask, ForwardOptions::default());
    let raw: RawPredictions = pollster::block_on(cdetr::postprocess::read_predictions(&out)).unwrap();
    let sizes: Vec<(usize, usize)> = refs["inputs.target_sizes"].usize().chunks(2).map(|c| (c[0], c[1])).collect();
    let labels = config(fx).labels();
    let dets = post_process(&raw, &sizes, &labels, PostProcessOptions { threshold: 0.0, top_k: 100 });
    for (b, image) in dets.iter().enumerate() {
        let scores = &refs[&format!("postprocess.{b}.scores")];
        let ref_labels = refs[&format!("postprocess.{b}.labels")].usize();
        let boxes = &refs[&format!("postprocess.{b}.boxes")];
        assert_eq!(image.len(), scores.values.len(), "image {b}: number of detections");
        let got_scores: Vec<f32> = image.iter().map(|d| d.score).collect();
        assert_close(&format!("postprocess.{b}.scores"), &got_scores, &scores.values, TOL);
        let got_labels: Vec<usize> = image.iter().map(|d| d.label).collect();
        assert_eq!(got_labels, ref_labels, "image {b}: labels in score order");
        let got_boxes: Vec<f32> = image.iter().flat_map(|d| d.bbox).collect();
        // Pixels of the target sizes (up to 1000 px): 1e-4 relative.
        assert_close(&format!("postprocess.{b}.boxes"), &got_boxes, &boxes.values, TOL);
        let queries: Vec<usize> = image.iter().map(|d| d.query).collect();
        let ref_queries: Vec<usize> = fixture_json_of(fx)["postprocess"]["per_image"][b]["query_idx"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(queries, ref_queries, "image {b}: query of each detection");
    }
}

/// The last decoder layer's cross-attention maps: the combined map is transformers' `cross_attentions[-1]`
/// (`tests/fixtures/tiny/cross_attention.safetensors`, made by `make_cross_attention.py`); the spatial
/// (`p_qᵀp_k`) and content maps are distributions over the unpadded keys whose product, renormalised, is the
/// combined map (the logits of a concatenated head are the sum of its two parts).
#[test]
fn cross_attention_maps_match_reference() {
    let model = load("tiny", "model.safetensors", CheckpointFormat::HfSafetensors);
    let refs = fixture_tensors();
    let device = Device::flex();
    let (pixel_values, mask) = inputs(&refs, &device);
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: false, attention_maps: true });
    let attention = out.attention.expect("maps were asked for");
    let read = |t: &Tensor<4>| t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let (spatial, content, combined) = (
        read(attention.maps.spatial.as_ref().unwrap()),
        read(attention.maps.content.as_ref().unwrap()),
        read(&attention.maps.combined),
    );

    let bytes = std::fs::read(tiny("cross_attention.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor("decoder.cross_attention.last").unwrap();
    let want: Vec<f64> =
        view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect();
    let shape = view.shape().to_vec();
    assert_eq!(attention.maps.combined.dims().to_vec(), shape);
    assert_eq!(attention.feature_height * attention.feature_width, shape[3]);
    assert_close("combined cross-attention", &combined, &want, 1e-5);

    // Valid keys of each image: the backbone's last-stage mask.
    let key_mask = refs["backbone.mask.3"].values.clone();
    let hw = shape[3];
    for (row, chunk) in combined.chunks(hw).enumerate() {
        let b = row / (shape[1] * shape[2]);
        let valid = &key_mask[b * hw..(b + 1) * hw];
        let (s, c) = (&spatial[row * hw..(row + 1) * hw], &content[row * hw..(row + 1) * hw]);
        for (name, map) in [("spatial", s), ("content", c)] {
            let sum: f32 = map.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{name} row {row} sums to {sum}");
            for (k, &v) in map.iter().enumerate() {
                assert!(valid[k] != 0.0 || v == 0.0, "{name} row {row} attends to padded key {k}");
            }
        }
        let product: Vec<f32> = s.iter().zip(c).map(|(a, b)| a * b).collect();
        let norm: f32 = product.iter().sum();
        let expected: Vec<f64> = product.iter().map(|&p| (p / norm) as f64).collect();
        assert_close(&format!("combined row {row} vs spatial × content"), chunk, &expected, 1e-5);
    }
}

/// DETR, the paper's baseline (`tests/fixtures/detr_tiny`: transformers 4.57.6 `DetrForObjectDetection`,
/// 2 + 2 layers, 12 queries, 5 labels + no-object, two images in one padded batch): the logits and boxes the
/// fixture records, and the auxiliary layer's (`aux_reference.safetensors`, official semantics), within
/// 1e-4 absolute.
#[test]
fn detr_matches_reference_outputs() {
    let model = load("detr_tiny", "model.safetensors", CheckpointFormat::HfSafetensors);
    assert!(model.is_detr());
    assert_eq!((model.num_labels(), model.num_queries()), (5, 12));
    let refs = fixture_tensors_of("detr_tiny");
    let aux_refs = detr_aux_tensors();
    let (pixel_values, mask) = inputs(&refs, &Device::flex());
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: true });
    let read = |t: &Tensor<3>| t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert_eq!(out.last.logits.dims().to_vec(), refs["outputs.logits"].shape);
    assert_close_abs("detr: outputs.logits", &read(&out.last.logits), &refs["outputs.logits"].values, TOL);
    assert_close_abs("detr: outputs.pred_boxes", &read(&out.last.pred_boxes), &refs["outputs.pred_boxes"].values, TOL);
    assert_eq!(out.aux.len(), 1);
    let aux = &out.aux[0];
    assert_close_abs("detr: aux.0 logits", &read(&aux.logits), &aux_refs["outputs.aux.0.logits"].values, TOL);
    assert_close_abs("detr: aux.0 boxes", &read(&aux.pred_boxes), &aux_refs["outputs.aux.0.pred_boxes"].values, TOL);
    // DETR has no reference points, a no-object column, and no spatial/content split of its attention.
    assert!(out.reference_points.is_none() && out.no_object);
    let attention = out.attention.expect("maps were asked for");
    assert!(attention.maps.spatial.is_none() && attention.maps.content.is_none());
    // The combined map is the last layer's cross-attention: one distribution over the feature cells per
    // head and query.
    let [b, heads, nq, hw] = attention.maps.combined.dims();
    assert_eq!((b, nq, hw), (2, 12, attention.feature_height * attention.feature_width));
    let read4 = |t: &Tensor<4>| t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let probs = read4(&attention.maps.combined);
    assert!(probs.chunks_exact(hw).all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-4), "rows sum to 1");
    // Padding the second image from x = 64 on masks feature columns 2 and 3 (stride 32): no attention there.
    let (pixel_values, mut wide) = inputs(&refs, &Device::flex());
    let (h, w) = (wide.height, wide.width);
    for y in 0..h {
        wide.data[h * w + y * w + 64..h * w + (y + 1) * w].fill(0);
    }
    let out = model.forward(pixel_values, &wide, ForwardOptions { aux: false, attention_maps: true });
    let attention = out.attention.expect("maps were asked for");
    let fw = attention.feature_width;
    let probs = read4(&attention.maps.combined);
    for (r, row) in probs.chunks_exact(hw).enumerate() {
        let image = r / (heads * nq);
        let masked: Vec<usize> = (0..hw).filter(|&c| row[c] == 0.0).collect();
        let want: Vec<usize> = if image == 1 { (0..hw).filter(|c| c % fw >= 2).collect() } else { vec![] };
        assert_eq!(masked, want, "row {r}: the cells without attention are the padded ones");
    }
    // Asking for the maps changes no output.
    let (pixel_values, mask) = inputs(&refs, &Device::flex());
    let plain = model.forward(pixel_values, &mask, ForwardOptions { aux: false, attention_maps: false });
    assert_close_abs("detr: logits without maps", &read(&plain.last.logits), &refs["outputs.logits"].values, TOL);
}

/// DETR's post-processing equals `DetrImageProcessor.post_process_object_detection` at threshold 0: one
/// detection per query, its best class other than no-object, the softmax score, the box in pixels. The
/// reference lists them in query order, this crate by score: they are compared query by query.
#[test]
fn detr_post_processing_matches_reference() {
    let model = load("detr_tiny", "model.safetensors", CheckpointFormat::HfSafetensors);
    let refs = fixture_tensors_of("detr_tiny");
    let (pixel_values, mask) = inputs(&refs, &Device::flex());
    let out = model.forward(pixel_values, &mask, ForwardOptions::default());
    let raw: RawPredictions = pollster::block_on(cdetr::postprocess::read_predictions(&out)).unwrap();
    assert!(raw.no_object && raw.reference_points.is_none());
    let sizes: Vec<(usize, usize)> = (0..2)
        .map(|i| {
            let s = &refs[&format!("inputs.image.{i}")].shape;
            (s[0], s[1])
        })
        .collect();
    let dets =
        post_process(&raw, &sizes, &config("detr_tiny").labels(), PostProcessOptions { threshold: 0.0, top_k: 100 });
    let json = fixture_json_of("detr_tiny");
    for (b, image) in dets.iter().enumerate() {
        let reference = &json["postprocess"]["detections"][b];
        let nq = reference["scores"].as_array().unwrap().len();
        assert_eq!(image.len(), nq, "image {b}: one detection per query");
        assert!(image.windows(2).all(|w| w[0].score >= w[1].score), "image {b}: sorted by score");
        let mut by_query = image.clone();
        by_query.sort_by_key(|d| d.query);
        assert_eq!(by_query.iter().map(|d| d.query).collect::<Vec<_>>(), (0..nq).collect::<Vec<_>>());
        let f64s =
            |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
        let want_labels: Vec<usize> = f64s(&reference["labels"]).into_iter().map(|l| l as usize).collect();
        assert_eq!(by_query.iter().map(|d| d.label).collect::<Vec<_>>(), want_labels, "image {b}: labels");
        let scores: Vec<f32> = by_query.iter().map(|d| d.score).collect();
        assert_close(&format!("detr: image {b} scores"), &scores, &f64s(&reference["scores"]), TOL);
        let boxes: Vec<f32> = by_query.iter().flat_map(|d| d.bbox).collect();
        let want: Vec<f64> = reference["boxes"].as_array().unwrap().iter().flat_map(f64s).collect();
        assert_close(&format!("detr: image {b} boxes"), &boxes, &want, TOL);
        assert!(
            image.iter().all(|d| d.reference_point.is_none() && d.label_name == config("detr_tiny").labels()[d.label])
        );
    }
}
