//! The `cdetr` binary end to end: `detect` reproduces the reference detections, `convert` round-trips,
//! and bad input gives a one-line error naming the file (never a panic).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn cdetr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdetr")).args(args).output().expect("run cdetr")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdetr-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the main fixture's raw input images as PNG files.
fn fixture_images(dir: &Path) -> Vec<PathBuf> {
    fixture_images_of("tiny", dir)
}

/// Writes a fixture's raw input images (`inputs.image.{i}`) as PNG files.
fn fixture_images_of(fx: &str, dir: &Path) -> Vec<PathBuf> {
    let refs = fixture_tensors_of(fx);
    (0..)
        .map_while(|i| refs.get(&format!("inputs.image.{i}")))
        .enumerate()
        .map(|(i, t)| {
            let (h, w) = (t.shape[0] as u32, t.shape[1] as u32);
            let img = image::RgbImage::from_raw(w, h, t.values.iter().map(|&v| v as u8).collect()).unwrap();
            let path = dir.join(format!("image{i}.png"));
            img.save(&path).unwrap();
            path
        })
        .collect()
}

fn fixture_file(fx: &str, file: &str) -> PathBuf {
    fixtures().join(fx).join(file)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_clean_failure(out: &Output, must_mention: &str) {
    assert!(!out.status.success(), "expected failure, got success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("internal error") && !stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line: {stderr}");
    assert!(stderr.contains(must_mention), "`{must_mention}` not in: {stderr}");
}

/// `detect --batch --resize none --threshold 0` gives the reference's post-processed detections, on the main
/// fixture (two images) and on a second configuration (DC5, other depths, heads, queries and labels; four
/// images), from every checkpoint format.
#[test]
fn detect_batch_reproduces_reference_detections() {
    for (fx, weights) in [
        ("tiny", "model.safetensors"),
        ("tiny_dc5", "model.safetensors"),
        ("tiny_dc5", "official_checkpoint.pth"),
        ("tiny_dc5", "official_model.safetensors"),
    ] {
        detect_batch_matches(fx, weights);
    }
}

fn detect_batch_matches(fx: &str, weights: &str) {
    let dir = tmp(&format!("detect-{fx}-{weights}"));
    let images = fixture_images_of(fx, &dir);
    let mut args: Vec<&str> = vec!["detect"];
    args.extend(images.iter().map(|p| s(p)));
    let out_json = dir.join("out.json");
    let draw = dir.join("drawn");
    let (weights_path, config_path) = (fixture_file(fx, weights), fixture_file(fx, "config.json"));
    args.extend([
        "--weights",
        s(&weights_path),
        "--config",
        s(&config_path),
        "--batch",
        "--resize",
        "none",
        "--threshold",
        "0",
        "--output",
        s(&out_json),
        "--draw",
        s(&draw),
    ]);
    let out = cdetr(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_json).unwrap()).unwrap();
    let refs = fixture_tensors_of(fx);
    let targets = refs["inputs.target_sizes"].usize();
    assert_eq!(results.as_array().unwrap().len(), images.len());
    for b in 0..images.len() {
        let r = &results[b];
        assert_eq!(r["image"], s(&images[b]));
        let (w, h) = (r["width"].as_f64().unwrap(), r["height"].as_f64().unwrap());
        let dets = r["detections"].as_array().unwrap();
        let scores = &refs[&format!("postprocess.{b}.scores")];
        let labels = refs[&format!("postprocess.{b}.labels")].usize();
        let boxes = &refs[&format!("postprocess.{b}.boxes")];
        assert_eq!(dets.len(), scores.values.len());
        // The reference scaled its boxes to target_sizes; rescale them to this image's size.
        let (th, tw) = (targets[2 * b] as f64, targets[2 * b + 1] as f64);
        let mut got_boxes = Vec::new();
        let mut want_boxes = Vec::new();
        for (k, d) in dets.iter().enumerate() {
            assert_eq!(d["label"].as_u64().unwrap() as usize, labels[k], "{fx} {weights}: image {b} detection {k}");
            assert_eq!(d["label_name"], format!("LABEL_{}", labels[k]));
            assert_eq!(
                d["query"],
                fixture_json_of(fx)["postprocess"]["per_image"][b]["query_idx"][k],
                "{fx}: query of detection {k}"
            );
            assert!((d["score"].as_f64().unwrap() - scores.values[k]).abs() < 1e-4);
            for c in 0..4 {
                let scale = if c % 2 == 0 { w / tw } else { h / th };
                got_boxes.push(d["box"][c].as_f64().unwrap() as f32);
                want_boxes.push(boxes.values[4 * k + c] * scale);
            }
            // The query's reference point, scaled like its box.
            let rp = d["reference_point"].as_array().unwrap();
            let q = d["query"].as_u64().unwrap() as usize;
            let nq = refs["decoder.reference_points"].shape[1];
            let want_rp = &refs["decoder.reference_points"].values[(b * nq + q) * 2..(b * nq + q) * 2 + 2];
            assert!((rp[0].as_f64().unwrap() - want_rp[0] * w).abs() < 1e-3, "reference point {rp:?}");
            assert!((rp[1].as_f64().unwrap() - want_rp[1] * h).abs() < 1e-3, "reference point {rp:?}");
        }
        assert_close(&format!("{fx} {weights}: image {b} boxes"), &got_boxes, &want_boxes, 1e-4);
        assert!(draw.join(format!("image{b}.detections.png")).exists());
    }
}

#[test]
fn detect_accepts_every_checkpoint_format_and_convert_round_trips() {
    let dir = tmp("formats");
    let images = fixture_images(&dir);
    let config_path = tiny("config.json");
    let run = |weights: &Path, config: bool| {
        let mut args = vec![
            "detect",
            s(&images[0]),
            "--weights",
            s(weights),
            "--resize",
            "none",
            "--threshold",
            "0",
            "--top-k",
            "10",
        ];
        if config {
            args.extend(["--config", s(&config_path)]);
        }
        let out = cdetr(&args);
        assert!(out.status.success(), "{}: {}", weights.display(), String::from_utf8_lossy(&out.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["image"] = serde_json::Value::Null;
        v
    };
    let reference = run(&tiny("model.safetensors"), true);
    assert!(!reference[0]["detections"].as_array().unwrap().is_empty());
    assert_eq!(run(&tiny("official_checkpoint.pth"), true), reference);
    assert_eq!(run(&tiny("official_model.safetensors"), true), reference);
    // A checkpoint as the official main.py writes it while training (optimizer, scheduler, epoch, args).
    assert_eq!(run(&tiny("official_training_checkpoint.pth"), true), reference);

    // Burnpack (config embedded: no --config needed), f32 exactly and f16 approximately.
    let bpk = dir.join("tiny.bpk");
    let out = cdetr(&[
        "convert",
        s(&tiny("official_checkpoint.pth")),
        "--output",
        s(&bpk),
        "--config",
        s(&tiny("config.json")),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run(&bpk, false), reference);
    let half = dir.join("tiny-f16.bpk");
    let out = cdetr(&[
        "convert",
        s(&tiny("model.safetensors")),
        "--output",
        s(&half),
        "--config",
        s(&tiny("config.json")),
        "--half",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&half).unwrap().len() < std::fs::metadata(&bpk).unwrap().len() * 6 / 10);
    // f16: every stored tensor is F16 and within 2^-11 of its f32 weight, relatively (round to nearest, 11
    // significant bits; 2^-25 absolutely below f16's normal range).
    let f32_weights = read_tensors(&tiny("model.safetensors"));
    let reader =
        burn::store::burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(std::fs::read(&half).unwrap()))
            .unwrap();
    let stored = reader.into_tensors().unwrap();
    assert_eq!(stored.len(), f32_weights.len());
    let mut rounded = Vec::new();
    for t in stored {
        assert_eq!(t.dtype, burn::tensor::DType::F16, "{} stored as {:?}", t.name, t.dtype);
        let name = t.name.clone();
        let data = burn::store::bridge::into_data(t).unwrap();
        let shape = data.shape().to_vec();
        let values: Vec<f32> = data.convert::<f32>().try_into_vec().unwrap();
        let want = &f32_weights[&name];
        assert_eq!(shape, want.shape, "{name}");
        for (&h, &f) in values.iter().zip(&want.values) {
            let bound = (f.abs() * 2f64.powi(-11)).max(2f64.powi(-25));
            assert!((h as f64 - f).abs() <= bound, "{name}: f16 {h} for f32 {f}");
        }
        rounded.push(cdetr::weights::NamedTensor { name, shape, data: values });
    }
    // Widening is exact and the forward pass is f32: the f16 Burnpack detects exactly as the f32 model whose
    // weights are those f16 values (tolerance 0: nothing else differs).
    let all = run_top_k(&half, None, "1000");
    let rounded_path = dir.join("rounded.safetensors");
    std::fs::write(&rounded_path, cdetr::weights::write_safetensors(&rounded, None)).unwrap();
    assert_eq!(run_top_k(&rounded_path, Some(&config_path), "1000"), all, "f16 Burnpack vs its values in f32");
    // Against the f32 weights: every (query, label) pair (top-k covers them all, so none is skipped or
    // missing), within the first-order effect of a 2^-11 relative change of each weight through the
    // model's depth (see `f16_tolerance`).
    let full = run_top_k(&tiny("model.safetensors"), Some(&config_path), "1000");
    let (tol_logit, tol_box) = f16_tolerance(&config_path);
    compare_all_pairs(&full, &all, tol_logit, tol_box);

    // HF safetensors export: loads again and gives the same detections.
    let st = dir.join("export").join("model.safetensors");
    std::fs::create_dir_all(st.parent().unwrap()).unwrap();
    let out = cdetr(&["convert", s(&bpk), "--output", s(&st), "--format", "safetensors"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(st.with_file_name("config.json").exists());
    let exported = std::fs::read(&st).unwrap();
    let original = std::fs::read(tiny("model.safetensors")).unwrap();
    let names = |bytes: &[u8]| {
        let mut v: Vec<String> =
            safetensors::SafeTensors::deserialize(bytes).unwrap().names().into_iter().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(names(&exported), names(&original), "exported keys equal the hub layout");
    let mut args_cfg = run(&st, false);
    args_cfg[0]["image"] = serde_json::Value::Null;
    assert_eq!(args_cfg, reference);
}

/// `detect --resize none --threshold 0 --top-k K` on the main fixture's first image, without the image path.
fn run_top_k(weights: &Path, config: Option<&Path>, k: &str) -> serde_json::Value {
    let dir = tmp(&format!("topk-{}", weights.file_stem().unwrap().to_str().unwrap()));
    let images = fixture_images(&dir);
    let mut args = vec!["detect", s(&images[0]), "--weights", s(weights), "--resize", "none", "--threshold", "0"];
    args.extend(["--top-k", k]);
    if let Some(c) = config {
        args.extend(["--config", s(c)]);
    }
    let out = cdetr(&args);
    assert!(out.status.success(), "{}: {}", weights.display(), String::from_utf8_lossy(&out.stderr));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["image"] = serde_json::Value::Null;
    v
}

/// How far f16 weights may move the outputs, from the size of the rounding: each weight changes by at most
/// `u = 2^-11` relatively, so to first order a chain of `L` weight layers changes an output by at most
/// `L·u` relatively, if no layer amplifies (a model that is well conditioned, as a trained or randomly
/// initialised one is). `L` here counts every weight layer on the longest path of the tiny model: the
/// backbone's convolutions (stem + 3 per bottleneck block), the input projection, 2 projections per
/// attention and 2 per feed-forward network, in every encoder and decoder layer, and the 3-layer box head.
/// On a logit `z` the bound is `L·u·max(1, |z|)`; on a box coordinate (a sigmoid, slope ≤ ¼, times the
/// image side) `L·u·side/4`. A safety factor of 4 covers the second-order terms and the softmax/LayerNorm
/// renormalisations that the count ignores.
fn f16_tolerance(config: &Path) -> (f64, f64) {
    let c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    let enc = c["encoder_layers"].as_u64().unwrap() as f64;
    let dec = c["decoder_layers"].as_u64().unwrap() as f64;
    assert_eq!(c["backbone"], "resnet_cdetr_tiny_a");
    // resnet_cdetr_tiny_a: stages of 1, 2, 1, 1 bottleneck blocks (`src/model/backbone.rs`), 3 convolutions each.
    let backbone_convs = 1.0 + 3.0 * 5.0;
    let layers = backbone_convs + 1.0 + 4.0 * (enc + dec) + 3.0;
    let u = 2f64.powi(-11);
    (4.0 * layers * u, 4.0 * layers * u / 4.0)
}

/// Every (query, label) pair of `want` is in `got`, its logit within `tol_logit · max(1, |logit|)` and its box
/// within `tol_box` of the image side.
fn compare_all_pairs(want: &serde_json::Value, got: &serde_json::Value, tol_logit: f64, tol_box: f64) {
    let key = |d: &serde_json::Value| (d["query"].as_u64().unwrap(), d["label"].as_u64().unwrap());
    let (w, g) = (want[0]["detections"].as_array().unwrap(), got[0]["detections"].as_array().unwrap());
    assert_eq!(w.len(), g.len());
    let side = want[0]["width"].as_f64().unwrap().max(want[0]["height"].as_f64().unwrap());
    let logit = |p: f64| (p / (1.0 - p)).ln();
    let (mut worst_logit, mut worst_box) = (0f64, 0f64);
    for a in w {
        let b = g.iter().find(|b| key(b) == key(a)).unwrap_or_else(|| panic!("{a} missing"));
        let (za, zb) = (logit(a["score"].as_f64().unwrap()), logit(b["score"].as_f64().unwrap()));
        worst_logit = worst_logit.max((za - zb).abs() / za.abs().max(1.0));
        assert!((za - zb).abs() <= tol_logit * za.abs().max(1.0), "logit {za} vs {zb}: {a} vs {b}");
        for c in 0..4 {
            let d = (a["box"][c].as_f64().unwrap() - b["box"][c].as_f64().unwrap()).abs();
            worst_box = worst_box.max(d / side);
            assert!(d <= tol_box * side, "box {a} vs {b}");
        }
    }
    println!(
        "f16: worst logit change {worst_logit:.2e} (bound {tol_logit:.2e}), box {worst_box:.2e} (bound {tol_box:.2e})"
    );
}

/// DETR (`tests/fixtures/detr_tiny`): `detect --batch --resize none --threshold 0` gives the reference's
/// post-processed detections (one per query, compared query by query: the reference lists them in query
/// order), without a `reference_point` field; `--draw` draws the boxes and no reference point; a Burnpack
/// made by `convert` (config embedded) detects the same, and so does its HF safetensors export.
#[test]
fn detect_detr_reproduces_reference_detections_and_converts() {
    let dir = tmp("detr");
    let images = fixture_images_of("detr_tiny", &dir);
    let (weights, config) = (fixture_file("detr_tiny", "model.safetensors"), fixture_file("detr_tiny", "config.json"));
    let detect = |weights: &Path, config: Option<&Path>, draw: Option<&Path>| {
        let mut args: Vec<&str> = vec!["detect"];
        args.extend(images.iter().map(|p| s(p)));
        args.extend(["--weights", s(weights), "--batch", "--resize", "none", "--threshold", "0"]);
        if let Some(c) = config {
            args.extend(["--config", s(c)]);
        }
        if let Some(d) = draw {
            args.extend(["--draw", s(d)]);
        }
        let out = cdetr(&args);
        assert!(out.status.success(), "{}: {}", weights.display(), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let drawn = dir.join("drawn");
    let results = detect(&weights, Some(&config), Some(&drawn));
    let reference = &fixture_json_of("detr_tiny")["postprocess"]["detections"];
    let names = ["cat", "dog", "bird", "car", "tree"];
    for (b, image) in images.iter().enumerate() {
        let mut dets = results[b]["detections"].as_array().unwrap().clone();
        let want = &reference[b];
        assert_eq!(dets.len(), want["scores"].as_array().unwrap().len(), "image {b}: one detection per query");
        dets.sort_by_key(|d| d["query"].as_u64().unwrap());
        let mut got_boxes = Vec::new();
        let mut want_boxes = Vec::new();
        for (q, d) in dets.iter().enumerate() {
            assert_eq!(d["query"].as_u64().unwrap() as usize, q);
            assert_eq!(d["label"], want["labels"][q], "image {b} query {q}");
            assert_eq!(d["label_name"], names[d["label"].as_u64().unwrap() as usize]);
            assert!((d["score"].as_f64().unwrap() - want["scores"][q].as_f64().unwrap()).abs() < 1e-4);
            assert!(d.get("reference_point").is_none(), "DETR has no reference point: {d}");
            got_boxes.extend((0..4).map(|c| d["box"][c].as_f64().unwrap() as f32));
            want_boxes.extend((0..4).map(|c| want["boxes"][q][c].as_f64().unwrap()));
        }
        assert_close(&format!("detr image {b} boxes"), &got_boxes, &want_boxes, 1e-4);

        // The drawing: the boxes and labels only (no reference point, no offset line).
        let png = image::open(drawn.join(format!("image{b}.detections.png"))).unwrap().to_rgb8();
        let mut expected = image::open(image).unwrap().to_rgb8();
        let annotations: Vec<cdetr::draw::Annotation> = results[b]["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| cdetr::draw::Annotation {
                bbox: std::array::from_fn(|c| d["box"][c].as_f64().unwrap() as f32),
                label: format!("{} {:.2}", d["label_name"].as_str().unwrap(), d["score"].as_f64().unwrap()),
                class_index: d["label"].as_u64().unwrap() as usize,
                reference_point: None,
            })
            .collect();
        cdetr::draw::draw_annotations(&mut expected, &annotations);
        assert!(png == expected, "image {b}: the drawing is not the boxes alone");
    }

    // convert: a Burnpack with the DETR config inside needs no --config; its HF export reloads.
    let bpk = dir.join("detr.bpk");
    let out = cdetr(&["convert", s(&weights), "--config", s(&config), "--output", s(&bpk)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(detect(&bpk, None, None), results);
    let st = dir.join("export").join("model.safetensors");
    std::fs::create_dir_all(st.parent().unwrap()).unwrap();
    let out = cdetr(&["convert", s(&bpk), "--output", s(&st), "--format", "safetensors"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(st.with_file_name("config.json")).unwrap()).unwrap();
    assert_eq!(
        (exported["model_type"].as_str(), exported["architectures"][0].as_str()),
        (Some("detr"), Some("DetrForObjectDetection"))
    );
    assert_eq!(detect(&st, Some(&st.with_file_name("config.json")), None), results);
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let dir = tmp("bad");
    let images = fixture_images(&dir);
    let weights = tiny("model.safetensors");
    let config = tiny("config.json");
    let detect = |image: &Path, weights: &Path, config: Option<&Path>| {
        let mut args = vec!["detect", s(image), "--weights", s(weights)];
        if let Some(c) = config {
            args.extend(["--config", s(c)]);
        }
        cdetr(&args)
    };

    // Missing and corrupt images.
    let missing = dir.join("nope.png");
    assert_clean_failure(&detect(&missing, &weights, Some(&config)), "nope.png");
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    assert_clean_failure(&detect(&corrupt, &weights, Some(&config)), "corrupt.png");
    let text = dir.join("notes.jpg");
    std::fs::write(&text, "just text").unwrap();
    assert_clean_failure(&detect(&text, &weights, Some(&config)), "notes.jpg");

    // Unknown, empty and truncated weight files.
    let unknown = dir.join("weights.bin");
    std::fs::write(&unknown, b"GGUF this is something else entirely").unwrap();
    assert_clean_failure(&detect(&images[0], &unknown, Some(&config)), "weights.bin");
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert_clean_failure(&detect(&images[0], &empty, Some(&config)), "empty.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_failure(&detect(&images[0], &truncated, Some(&config)), "truncated");
    let pth = std::fs::read(tiny("official_checkpoint.pth")).unwrap();
    let truncated_pth = dir.join("truncated.pth");
    std::fs::write(&truncated_pth, &pth[..pth.len() / 3]).unwrap();
    assert_clean_failure(&detect(&images[0], &truncated_pth, Some(&config)), "truncated.pth");

    // Missing weight and config files.
    assert_clean_failure(&detect(&images[0], &dir.join("absent.safetensors"), Some(&config)), "absent.safetensors");
    assert_clean_failure(&detect(&images[0], &weights, Some(&dir.join("absent-config.json"))), "absent-config.json");
    // A safetensors file of some other model (no ResNet backbone).
    let other = dir.join("other-model.safetensors");
    let data = vec![0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    std::fs::write(&other, safetensors::serialize([("encoder.weight", view)], None).unwrap()).unwrap();
    assert_clean_failure(&detect(&images[0], &other, Some(&config)), "other-model.safetensors");

    // Config / weights mismatch: wrong label count, wrong layer count, no config at all (R50 assumed).
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    cfg["id2label"] = serde_json::json!({"0": "a", "1": "b"});
    let wrong_labels = dir.join("labels.json");
    std::fs::write(&wrong_labels, cfg.to_string()).unwrap();
    let out = detect(&images[0], &weights, Some(&wrong_labels));
    assert_clean_failure(&out, "class_labels_classifier");
    // Mis-shaped keys are named as in the file, with both shapes in the file's (PyTorch) layout.
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    cfg["decoder_ffn_dim"] = serde_json::json!(80);
    let wrong_ffn = dir.join("ffn.json");
    std::fs::write(&wrong_ffn, cfg.to_string()).unwrap();
    assert_clean_failure(
        &detect(&images[0], &weights, Some(&wrong_ffn)),
        "model.decoder.layers.0.fc1.weight (file [64, 32], model [80, 32])",
    );
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    cfg["decoder_layers"] = serde_json::json!(3);
    let wrong_layers = dir.join("layers.json");
    std::fs::write(&wrong_layers, cfg.to_string()).unwrap();
    assert_clean_failure(&detect(&images[0], &weights, Some(&wrong_layers)), "missing keys");
    assert_clean_failure(&detect(&images[0], &weights, None), "--config");
    let broken_cfg = dir.join("broken.json");
    std::fs::write(&broken_cfg, "{\"d_model\": ").unwrap();
    assert_clean_failure(&detect(&images[0], &weights, Some(&broken_cfg)), "broken.json");

    // Bad arguments.
    let out = cdetr(&["detect", s(&images[0]), "--weights", s(&weights), "--resize", "big"]);
    assert_clean_failure(&out, "resize");
    let out = cdetr(&["detect", s(&images[0]), "--weights", s(&weights), "--threshold", "high"]);
    assert_clean_failure(&out, "--threshold");
    let out = cdetr(&["detect", s(&images[0])]);
    assert_clean_failure(&out, "--weights");
}

/// `cdetr train` on a fixture's images and targets (written as a COCO dataset): with nothing random and one
/// batch holding every image, the first metrics line is the reference loss (official semantics: weights
/// 2 / 5 / 2, auxiliary losses on every decoder layer), within 1e-5 relative, term by term. On the main
/// fixture, on the second configuration (DC5, four decoder layers, four images) and on DETR (its softmax
/// loss with `eos_coefficient` 0.1 and weights 1 / 5 / 2, chosen by the `config.json`).
#[test]
fn train_first_metrics_line_equals_reference_loss() {
    for fx in ["tiny", "tiny_dc5", "detr_tiny"] {
        train_first_line_matches(fx, "first");
    }
}

/// `cdetr train` with nothing random (no augmentation, dropout or shuffling, no resize), two epochs, both
/// learning rates `lr`, and `extra` arguments.
fn deterministic_train(
    data: &Path,
    weights: &Path,
    config: &Path,
    lr: &str,
    batch: &str,
    output: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec!["train", "--data", s(data), "--weights", s(weights), "--config", s(config)];
    args.extend(["--lr", lr, "--lr-backbone", lr, "--augment", "none", "--dropout", "0", "--no-shuffle"]);
    args.extend(["--resize", "none", "--batch-size", batch, "--epochs", "2", "--output", s(output)]);
    args.extend(extra);
    cdetr(&args)
}

/// Runs `cdetr train` for two epochs, checks its first metrics line, and returns the COCO file and the run folder.
fn train_first_line_matches(fx: &str, tag: &str) -> (PathBuf, PathBuf) {
    use cdetr::data::{BoxAnnotation, Dataset, SampleMeta};
    let dir = tmp(&format!("train-{fx}-{tag}"));
    let refs = fixture_tensors_of(fx);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_file(fx, "config.json")).unwrap()).unwrap();
    let num_labels = config["id2label"].as_object().unwrap().len();
    let mut samples = Vec::new();
    let mut images = Vec::new();
    for i in 0.. {
        let Some(t) = refs.get(&format!("inputs.image.{i}")) else { break };
        let (h, w) = (t.shape[0] as u32, t.shape[1] as u32);
        images.push(image::RgbImage::from_raw(w, h, t.values.iter().map(|&v| v as u8).collect()).unwrap());
        let labels = refs[&format!("targets.{i}.class_labels")].usize();
        let boxes = refs[&format!("targets.{i}.boxes")].values.clone();
        let annotations = labels
            .iter()
            .enumerate()
            .map(|(k, &class_id)| {
                let b = &boxes[4 * k..4 * k + 4];
                let (cx, cy, bw, bh) = (b[0] * w as f64, b[1] * h as f64, b[2] * w as f64, b[3] * h as f64);
                BoxAnnotation {
                    class_id,
                    bbox: [
                        (cx - bw / 2.0) as f32,
                        (cy - bh / 2.0) as f32,
                        (cx + bw / 2.0) as f32,
                        (cy + bh / 2.0) as f32,
                    ],
                }
            })
            .collect();
        samples.push(SampleMeta {
            image: format!("image{i}.png"),
            width: w,
            height: h,
            annotations,
            image_id: i as i64,
            eval_annotations: None,
        });
    }
    let batch = samples.len().to_string();
    let dataset = Dataset {
        class_names: (0..num_labels).map(|i| config["id2label"][i.to_string()].as_str().unwrap().to_owned()).collect(),
        category_ids: (0..num_labels as i64).collect(),
        samples,
        ..Default::default()
    };
    let annotations = cdetr::data::native::write_coco_dataset(&dir.join("data"), &dataset, &images).unwrap();
    let out_dir = dir.join("run");
    let (weights, config_path) = (fixture_file(fx, "model.safetensors"), fixture_file(fx, "config.json"));
    let out = deterministic_train(&annotations, &weights, &config_path, "0", &batch, &out_dir, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per step");
    let (reference, want) = if fx == "detr_tiny" {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture_file(fx, "aux_reference.json")).unwrap()).unwrap();
        let reference = json["loss_with_aux"].clone();
        let total = reference["total"].as_f64().unwrap();
        (reference, total)
    } else {
        let reference = fixture_json_of(fx)["loss_official_semantics"].clone();
        let total = reference["total_official_weights"].as_f64().unwrap();
        (reference, total)
    };
    let got = lines[0]["loss"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-5 * want, "{fx}: loss {got} vs reference {want}");
    for (name, want) in reference["loss_dict"].as_object().unwrap() {
        let got = lines[0][name].as_f64().unwrap_or_else(|| panic!("{name} missing in {}", lines[0]));
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= 1e-5 * want.abs().max(1e-3), "{fx}: {name}: {got} vs {want}");
    }
    for key in ["lr", "lr_backbone", "grad_norm", "step", "epoch"] {
        assert!(lines[0].get(key).is_some(), "{key} missing");
    }
    // The global gradient norm before clipping is the reference's (the fixtures that record it).
    if let Some(want) = reference["grad_global_norm (of total_official_weights)"].as_f64() {
        let got = lines[0]["grad_norm"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-4 * want, "{fx}: grad_norm {got} vs reference {want}");
    }
    // At learning rate 0 nothing moves: the second step sees the same loss.
    let (first, second) = (lines[0]["loss"].as_f64().unwrap(), lines[1]["loss"].as_f64().unwrap());
    assert!((first - second).abs() <= 1e-6 * first, "{fx}: lr 0 but the loss moved from {first} to {second}");
    // The exported model loads back with `detect`, with the same label set.
    assert!(out_dir.join("model.safetensors").exists() && out_dir.join("config.json").exists());
    let det = cdetr(&[
        "detect",
        s(&dir.join("data/images/image0.png")),
        "--weights",
        s(&out_dir.join("model.safetensors")),
        "--config",
        s(&out_dir.join("config.json")),
        "--threshold",
        "0",
    ]);
    assert!(det.status.success(), "{}", String::from_utf8_lossy(&det.stderr));
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(exported["id2label"], config["id2label"], "the class head and its names are kept");
    // And `eval` scores it (DETR through its softmax post-processing).
    let eval = cdetr(&[
        "eval",
        "--weights",
        s(&out_dir.join("model.safetensors")),
        "--config",
        s(&out_dir.join("config.json")),
        "--data",
        s(&annotations),
        "--resize",
        "none",
    ]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    assert!(String::from_utf8_lossy(&eval.stdout).contains("AP50"), "{}", String::from_utf8_lossy(&eval.stdout));
    (annotations, out_dir)
}

/// `--resume` continues from the last checkpoint and appends to `metrics.jsonl`.
#[test]
fn train_resumes_from_its_checkpoint() {
    let (annotations, out_dir) = train_first_line_matches("tiny", "resume");
    // A run stopped after the checkpoint of epoch 2 but in the middle of epoch 3 left a line for step 2:
    // resuming redoes that step and keeps one line per step.
    let metrics = out_dir.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"step\": 2, \"epoch\": 2, \"loss\": 1.0}\n");
    std::fs::write(&metrics, text).unwrap();
    let out = cdetr(&[
        "train",
        "--data",
        s(&annotations),
        "--weights",
        s(&tiny("model.safetensors")),
        "--config",
        s(&tiny("config.json")),
        "--lr",
        "0",
        "--augment",
        "none",
        "--dropout",
        "0",
        "--no-shuffle",
        "--resize",
        "none",
        "--batch-size",
        "2",
        "--epochs",
        "3",
        "--output",
        s(&out_dir),
        "--resume",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let steps: Vec<u64> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![0, 1, 2], "resumed for one more epoch, one line per step");
}

/// `--resume` is exact: 3 epochs in one go and 2 epochs + a resumed third, with shuffling, the DETR
/// augmentation, dropout and learning rates > 0, log the same losses step by step (1e-6, every term) and
/// export the same weights.
#[test]
fn train_resume_equals_an_uninterrupted_run() {
    let (annotations, out_dir) = train_first_line_matches("tiny", "resume-exact");
    let (weights, config) = (tiny("model.safetensors"), tiny("config.json"));
    let train = |out: &Path, epochs: &str, resume: bool| {
        let mut args = vec!["train", "--data", s(&annotations), "--weights"];
        args.extend([s(&weights), "--config", s(&config)]);
        args.extend(["--lr", "1e-3", "--lr-backbone", "1e-4", "--lr-drop", "2", "--max-size", "96"]);
        args.extend(["--batch-size", "1", "--seed", "5", "--epochs", epochs, "--output", s(out)]);
        if resume {
            args.push("--resume");
        }
        let result = cdetr(&args);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    };
    let metrics = |out: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let whole = out_dir.with_file_name("run-whole");
    train(&whole, "3", false);
    let split = out_dir.with_file_name("run-split");
    train(&split, "2", false);
    train(&split, "3", true);
    let (a, b) = (metrics(&whole), metrics(&split));
    assert_eq!(a.len(), 6, "two steps per epoch");
    assert_eq!(b.len(), 6);
    let mut differ = false;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x["step"], &x["epoch"], &x["lr"]), (&y["step"], &y["epoch"], &y["lr"]));
        for (name, v) in x.as_object().unwrap() {
            if name == "time_s" || !v.is_f64() {
                continue;
            }
            let (v, w) = (v.as_f64().unwrap(), y[name].as_f64().unwrap());
            assert!((v - w).abs() <= 1e-6 * v.abs().max(1e-6), "step {}: {name} {v} vs resumed {w}", x["step"]);
        }
        differ |= x["loss"] != a[0]["loss"];
    }
    assert!(differ, "the losses never moved: nothing was trained");
    let whole = std::fs::read(whole.join("model.safetensors")).unwrap();
    let split = std::fs::read(split.join("model.safetensors")).unwrap();
    let (whole, split) = (
        safetensors::SafeTensors::deserialize(&whole).unwrap(),
        safetensors::SafeTensors::deserialize(&split).unwrap(),
    );
    assert_eq!(whole.len(), split.len());
    for (name, t) in whole.tensors() {
        assert!(t.data() == split.tensor(&name).unwrap().data(), "{name} differs after resuming");
    }
}

/// `--val`: one `results.csv` row per epoch (mean losses, learning rates, validation AP) and
/// `results.png`; the last row's AP is `cdetr eval`'s on the weights the run wrote; `--resume` keeps the
/// earlier rows; a validation class the run does not know is an error naming it.
#[test]
fn train_writes_results_per_epoch_with_validation() {
    let (annotations, out_dir) = train_first_line_matches("tiny", "results");
    let (weights, config) = (tiny("model.safetensors"), tiny("config.json"));
    let train = |epochs: &str, resume: bool, val: &Path| {
        let mut args = vec!["train", "--data", s(&annotations), "--val", s(val), "--weights", s(&weights)];
        args.extend(["--config", s(&config), "--lr", "1e-3", "--augment", "none", "--resize", "none"]);
        args.extend(["--batch-size", "2", "--epochs", epochs, "--output", s(&out_dir)]);
        if resume {
            args.push("--resume");
        }
        cdetr(&args)
    };
    let rows = || -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(cdetr::results::CSV_HEADER));
        lines.map(|l| l.split(',').map(String::from).collect()).collect()
    };
    let out = train("2", false, &annotations);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = rows();
    assert_eq!(first.len(), 2, "one row per epoch: {first:?}");
    let epochs: Vec<u64> = std::fs::read_to_string(out_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"].as_u64().unwrap())
        .collect();
    for (i, row) in first.iter().enumerate() {
        assert_eq!(row[0], (i + 1).to_string());
        let steps_so_far = epochs.iter().filter(|&&e| e <= i as u64).count();
        assert_eq!(row[1], steps_so_far.to_string(), "steps done at the end of epoch {}", i + 1);
        for cell in &row[2..] {
            assert!(cell.parse::<f64>().unwrap().is_finite(), "{row:?}");
        }
    }
    let png = std::fs::read(out_dir.join("results.png")).unwrap();
    assert_eq!(image::load_from_memory(&png).unwrap().to_rgb8().dimensions(), (1000, 420));

    // The last row's AP is what `cdetr eval` gives on the exported weights.
    let eval = cdetr(&[
        "eval",
        "--json",
        "--resize",
        "none",
        "--weights",
        s(&out_dir.join("model.safetensors")),
        "--data",
        s(&annotations),
    ]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    for (col, key) in [(9, "ap"), (10, "ap50"), (11, "ap75"), (12, "ar100")] {
        // Both through serde_json's float parser, which may land one ulp off the printed value.
        let csv: f64 = serde_json::from_str(&first[1][col]).unwrap();
        assert_eq!(csv, report["stats"][key].as_f64().unwrap(), "{key}");
    }

    // Resumed for a third epoch: the first two rows stay as they were.
    let out = train("3", true, &annotations);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resumed = rows();
    assert_eq!(resumed.len(), 3);
    assert_eq!(resumed[..2], first[..]);

    // A validation file with a class the run does not have (the tiny model's labels are placeholders,
    // `LABEL_i`, matched by category id as in `cdetr eval`: an id out of their range).
    let mut coco: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&annotations).unwrap()).unwrap();
    let old_id = coco["categories"][0]["id"].clone();
    coco["categories"][0]["name"] = "zebra".into();
    coco["categories"][0]["id"] = 999.into();
    for a in coco["annotations"].as_array_mut().unwrap() {
        if a["category_id"] == old_id {
            a["category_id"] = 999.into();
        }
    }
    let bad = annotations.with_file_name("val-zebra.json");
    std::fs::write(&bad, coco.to_string()).unwrap();
    let out = train("4", true, &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.trim_end().lines().last().unwrap().contains(r#"validation classes ["zebra"]"#), "{stderr}");
    assert_eq!(rows().len(), 3, "the failed start lost no rows");
}

/// The first metrics line of a `cdetr train` run (one epoch, nothing random, lr 0, one batch of 4).
fn first_line_of(data: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let (weights, config) = (tiny("model.safetensors"), tiny("config.json"));
    let mut args = vec!["train", "--data", s(data), "--weights", s(&weights)];
    args.extend(["--config", s(&config), "--lr", "0", "--lr-backbone", "0", "--augment", "none"]);
    args.extend(["--dropout", "0", "--no-shuffle", "--resize", "none", "--batch-size", "4", "--epochs", "1"]);
    args.extend(["--output", s(out)]);
    args.extend(extra);
    let result = cdetr(&args);
    assert!(result.status.success(), "{}: {}", data.display(), String::from_utf8_lossy(&result.stderr));
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// `cdetr train` reads Pascal VOC XML and YOLO txt as it reads COCO JSON: the same four synthetic images and
/// boxes written in each format (class names `LABEL_0`..`LABEL_2`, which the tiny model keeps) give the same
/// first loss, term by term (YOLO's six decimals cost at most 1e-4 of it) and the same box count.
#[test]
fn train_reads_voc_and_yolo_like_coco() {
    use cdetr::data::synth_dataset;
    let dir = tmp("formats-train");
    let (mut d, images) = synth_dataset(9, 4, 64, 48);
    d.class_names = (0..d.class_names.len()).map(|i| format!("LABEL_{i}")).collect();
    let coco = cdetr::data::native::write_coco_dataset(&dir.join("coco"), &d, &images).unwrap();

    let voc = dir.join("voc");
    std::fs::create_dir_all(voc.join("Annotations")).unwrap();
    std::fs::create_dir_all(voc.join("JPEGImages")).unwrap();
    let yolo = dir.join("yolo");
    std::fs::create_dir_all(yolo.join("images")).unwrap();
    std::fs::create_dir_all(yolo.join("labels")).unwrap();
    std::fs::write(yolo.join("data.yaml"), format!("names: [{}]\n", d.class_names.join(", "))).unwrap();
    for (sample, img) in d.samples.iter().zip(&images) {
        let stem = sample.image.trim_end_matches(".png");
        img.save(voc.join("JPEGImages").join(&sample.image)).unwrap();
        let mut xml = format!(
            "<annotation>\n<filename>{}</filename>\n<size><width>{}</width><height>{}</height><depth>3</depth></size>\n",
            sample.image, sample.width, sample.height
        );
        for a in &sample.annotations {
            let [x0, y0, x1, y1] = a.bbox;
            xml += &format!(
                "<object><name>{}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>\n",
                d.class_names[a.class_id]
            );
        }
        xml += "</annotation>\n";
        std::fs::write(voc.join("Annotations").join(format!("{stem}.xml")), xml).unwrap();
        img.save(yolo.join("images").join(&sample.image)).unwrap();
        let txt = cdetr::data::to_yolo_txt(&sample.annotations, sample.width, sample.height);
        std::fs::write(yolo.join("labels").join(format!("{stem}.txt")), txt).unwrap();
    }
    let want = first_line_of(&coco, &dir.join("run-coco"), &[]);
    assert_eq!(want["num_boxes"].as_u64().unwrap() as usize, d.num_boxes());
    for (data, tol, format) in [(&voc, 1e-6, "voc"), (&yolo, 1e-4, "yolo")] {
        let got = first_line_of(data, &dir.join(format!("run-{format}")), &["--format", format]);
        assert_eq!(got["num_boxes"], want["num_boxes"], "{format}");
        for (name, w) in want.as_object().unwrap() {
            if name == "time_s" || !w.is_f64() {
                continue;
            }
            let (g, w) = (got[name].as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= tol * w.abs().max(1e-3), "{format}: {name} {g} vs COCO {w}");
        }
    }
}

/// `cdetr synth` writes `synth_dataset(seed, …)` (the same boxes and pixels), and `train --weights none`
/// trains the tiny configuration from scratch on it: a fresh model with the dataset's three classes, one
/// line per step, and an export that `detect` loads.
#[test]
fn synth_and_training_from_scratch() {
    let dir = tmp("synth");
    let data = dir.join("data");
    let out = cdetr(&["synth", "--output", s(&data), "--images", "4", "--size", "64", "--seed", "9"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (want, want_images) = cdetr::data::synth_dataset(9, 4, 64, 64);
    let (got, root) = cdetr::data::load_dataset(&data, None).unwrap();
    assert_eq!(got.class_names, want.class_names);
    assert_eq!(got.samples.len(), 4);
    for ((g, w), img) in got.samples.iter().zip(&want.samples).zip(&want_images) {
        assert_eq!(g.annotations, w.annotations, "{}", g.image);
        assert!(cdetr::data::load_image(&root.join(&g.image)).unwrap() == *img, "{} pixels", g.image);
    }

    let run = dir.join("run");
    let out = cdetr(&[
        "train",
        "--data",
        s(&data),
        "--weights",
        "none",
        "--config",
        s(&tiny("config.json")),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--max-size",
        "64",
        "--output",
        s(&run),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["loss"].as_f64().unwrap().is_finite()));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let names: Vec<&str> = (0..3).map(|i| config["id2label"][i.to_string()].as_str().unwrap()).collect();
    assert_eq!(names, want.class_names.iter().map(String::as_str).collect::<Vec<_>>());
    let image = root.join(&got.samples[0].image);
    let det = cdetr(&["detect", s(&image), "--weights", s(&run.join("model.safetensors")), "--threshold", "0"]);
    assert!(det.status.success(), "{}", String::from_utf8_lossy(&det.stderr));
    let v: serde_json::Value = serde_json::from_slice(&det.stdout).unwrap();
    assert!(v[0]["detections"][0]["label"].as_u64().unwrap() < 3);
}

/// `eval --resize default` scores what `detect --resize default --threshold 0 --top-k 100` finds on the same
/// images (boxes mapped back to the original pixels), by the pycocotools-exact evaluator, on the COCO file of
/// `eval_equals_pycocotools_on_a_coco_file`; and it is not the `--resize none` result.
#[test]
fn eval_with_the_default_resize_scores_the_default_detections() {
    use cdetr::eval::{Detection, GroundTruth, evaluate};
    let dir = tmp("eval-default");
    let fx = fixtures().join("eval/cli");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let names: Vec<&str> = expected["images"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for name in &names {
        std::fs::copy(fixtures().join("images").join(name), dir.join("images").join(name)).unwrap();
    }
    std::fs::copy(fx.join("annotations.json"), dir.join("annotations.json")).unwrap();
    let eval = |resize: &str, file: &str| -> serde_json::Value {
        let metrics = dir.join(file);
        let (weights, config, data) = (tiny("model.safetensors"), tiny("config.json"), dir.join("annotations.json"));
        let mut args = vec!["eval", "--weights", s(&weights)];
        args.extend(["--config", s(&config), "--data", s(&data)]);
        args.extend(["--resize", resize, "--output", s(&metrics)]);
        let out = cdetr(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap()
    };
    let got = eval("default", "default.json");

    let (dataset, root) = cdetr::data::load_dataset(&dir.join("annotations.json"), None).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tiny("config.json")).unwrap()).unwrap();
    let labels: Vec<String> = (0..5).map(|i| config["id2label"][i.to_string()].as_str().unwrap().to_owned()).collect();
    let cdetr::data::label_plan::LabelPlan::Keep(class_to_label) =
        cdetr::data::label_plan::plan_labels_with_ids(&dataset.class_names, &dataset.category_ids, &labels)
    else {
        panic!("the tiny model keeps the file's classes");
    };
    let (mut gts, mut dets) = (Vec::new(), Vec::new());
    for (i, sample) in dataset.samples.iter().enumerate() {
        for g in sample.evaluation_annotations() {
            gts.push(GroundTruth {
                image_id: i as u64,
                category_id: class_to_label[g.class_id] as u64,
                bbox: g.bbox_xywh,
                area: g.area,
                iscrowd: g.iscrowd,
            });
        }
        let out = cdetr(&[
            "detect",
            s(&root.join(&sample.image)),
            "--weights",
            s(&tiny("model.safetensors")),
            "--config",
            s(&tiny("config.json")),
            "--resize",
            "default",
            "--threshold",
            "0",
            "--top-k",
            "100",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for d in found[0]["detections"].as_array().unwrap() {
            // Printed from f32: read back as f32, as `eval` holds them.
            let b: Vec<f64> = (0..4).map(|k| d["box"][k].as_f64().unwrap() as f32 as f64).collect();
            dets.push(Detection {
                image_id: i as u64,
                category_id: d["label"].as_u64().unwrap(),
                bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                score: d["score"].as_f64().unwrap() as f32 as f64,
            });
        }
    }
    let image_ids: Vec<u64> = (0..dataset.samples.len() as u64).collect();
    let mut categories: Vec<u64> = class_to_label.iter().map(|&c| c as u64).collect();
    categories.sort_unstable();
    categories.dedup();
    let want = serde_json::to_value(evaluate(&image_ids, &categories, &gts, &dets).unwrap()).unwrap();
    for (name, w) in want.as_object().unwrap() {
        let (g, w) = (got[name].as_f64().unwrap(), w.as_f64().unwrap());
        assert!((g - w).abs() < 1e-12, "{name}: eval --resize default {g}, detect + evaluate {w}");
    }
    assert_ne!(got, eval("none", "none.json"), "the resize changed nothing");
}

/// A 4000×1 image (and 1×4000) is detected at the default size (1333×1): no panic, finite scores and boxes.
#[test]
fn detect_handles_extreme_aspect_ratios() {
    let dir = tmp("aspect");
    for (w, h) in [(4000u32, 1u32), (1, 4000)] {
        let path = dir.join(format!("{w}x{h}.png"));
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])).save(&path).unwrap();
        let out = cdetr(&[
            "detect",
            s(&path),
            "--weights",
            s(&tiny("model.safetensors")),
            "--config",
            s(&tiny("config.json")),
            "--threshold",
            "0",
            "--top-k",
            "5",
        ]);
        assert!(out.status.success(), "{w}x{h}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((v[0]["width"].as_u64(), v[0]["height"].as_u64()), (Some(w as u64), Some(h as u64)));
        let dets = v[0]["detections"].as_array().unwrap();
        assert_eq!(dets.len(), 5);
        for d in dets {
            assert!(d["score"].as_f64().unwrap().is_finite(), "{d}");
            let b: Vec<f64> = (0..4).map(|k| d["box"][k].as_f64().unwrap()).collect();
            // Not clipped to the image (as transformers' post-processing): finite and ordered.
            assert!(b.iter().all(|v| v.is_finite()) && b[0] <= b[2] && b[1] <= b[3], "{w}x{h}: {d}");
        }
    }
}

/// Copies the `tests/fixtures/eval/cli` COCO file and its images into `dir`; returns its `expected.json`
/// (pycocotools' stats on that file).
fn copy_eval_fixture(dir: &Path) -> serde_json::Value {
    let fx = fixtures().join("eval/cli");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expected.json")).unwrap()).unwrap();
    std::fs::create_dir_all(dir.join("images")).unwrap();
    for name in expected["images"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        std::fs::copy(fixtures().join("images").join(name), dir.join("images").join(name)).unwrap();
    }
    std::fs::copy(fx.join("annotations.json"), dir.join("annotations.json")).unwrap();
    expected
}

/// `cdetr eval` on a COCO file with crowd regions, segmentation-style `area`s and a zero-area box equals
/// pycocotools on the same file (`tests/fixtures/eval/cli`, made by `make_cli_eval_fixture.py`).
#[test]
fn eval_equals_pycocotools_on_a_coco_file() {
    let dir = tmp("eval");
    let expected = copy_eval_fixture(&dir);
    let metrics = dir.join("metrics.json");
    let out = cdetr(&[
        "eval",
        "--weights",
        s(&tiny("model.safetensors")),
        "--config",
        s(&tiny("config.json")),
        "--data",
        s(&dir.join("annotations.json")),
        "--resize",
        "none",
        "--output",
        s(&metrics),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    for (name, want) in expected["stats"].as_object().unwrap() {
        let (g, w) = (got[name].as_f64().unwrap_or_else(|| panic!("{name} missing in {got}")), want.as_f64().unwrap());
        assert!((g - w).abs() < 1e-9, "{name}: cdetr eval {g}, pycocotools {w}");
    }
}

/// `cdetr bench` runs and reports what it measured (a smoke test: speed is measured by the command, not here).
#[test]
fn bench_reports_its_runs() {
    let out = cdetr(&[
        "bench",
        "--config",
        s(&tiny("config.json")),
        "--size",
        "64x48",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["runs"], 2);
    assert_eq!(report["forward_all_s"].as_array().unwrap().len(), 2);
    assert!(report["forward_median_s"].as_f64().unwrap() > 0.0);
    assert_clean_failure(&cdetr(&["bench", "--size", "0x0"]), "--size");
}

#[test]
fn plot_draws_csv_columns_and_names_bad_tables() {
    let dir = tmp("plot");
    let csv = dir.join("curves.csv");
    std::fs::write(&csv, "epoch,DETR,CSQ\n1,0.01,0.02\n2,0.02,\n3,0.03,0.09\n").unwrap();
    let png = dir.join("curves.png");
    let out = cdetr(&["plot", s(&csv), "--output", s(&png), "--title", "AP", "--y-label", "AP"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(image::open(&png).unwrap().to_rgb8().dimensions(), (960, 480));
    let one = dir.join("one.png");
    assert!(cdetr(&["plot", s(&csv), "--output", s(&one), "--columns", "CSQ"]).status.success());
    assert_clean_failure(&cdetr(&["plot", s(&csv), "--output", s(&one), "--columns", "AP"]), "no column named `AP`");
    std::fs::write(&csv, "epoch,DETR\n1,0.1\n2\n").unwrap();
    assert_clean_failure(&cdetr(&["plot", s(&csv), "--output", s(&one)]), "line 3 has 1 cells");
}

/// `train --cache-features` (fast mode: frozen backbone, features computed once) gives the losses of
/// `train --freeze-backbone` step by step when nothing is random and a batch holds one image; it says what
/// it keeps of the augmentation.
#[test]
fn train_fast_mode_equals_frozen_backbone_training() {
    let (annotations, out_dir) = train_first_line_matches("tiny", "fast");
    let weights = fixture_file("tiny", "model.safetensors");
    let config = fixture_file("tiny", "config.json");
    let run = |mode: &str| {
        let out = out_dir.with_file_name(format!("run-{mode}"));
        let result = deterministic_train(&annotations, &weights, &config, "1e-3", "1", &out, &[mode]);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, String::from_utf8_lossy(&result.stderr).into_owned())
    };
    let (full, _) = run("--freeze-backbone");
    let (fast, stderr) = run("--cache-features");
    assert!(stderr.contains("fast mode: keeps sizes original size"), "{stderr}");
    assert_eq!(full.len(), 4);
    assert_eq!(fast.len(), 4);
    for (a, b) in full.iter().zip(&fast) {
        let (a, b) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-4 * a, "full {a} vs fast {b}");
    }
}
/// A `cdetr serve --port 0` on a folder, stopped on drop.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    fn start(root: &Path, extra: &[&str]) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_cdetr"))
            .args(["serve", "--port", "0", "--root", s(root)])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run cdetr serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|a| a.split('/').next()).expect(&line).to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{line}");
        Server { child, addr }
    }

    fn connect(&self) -> std::net::TcpStream {
        let stream = std::net::TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        stream
    }

    /// Sends `method target` with extra header lines; returns the response head and body.
    fn request(&self, method: &str, target: &str, headers: &str) -> (String, Vec<u8>) {
        use std::io::{Read, Write};
        let mut stream = self.connect();
        write!(stream, "{method} {target} HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n", self.addr)
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        (String::from_utf8_lossy(&raw[..split]).into_owned(), raw[split + 4..].to_vec())
    }

    fn status(&self, target: &str) -> u16 {
        status(&self.request("GET", target, "").0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

/// A web root: www/ (index.html, app.mjs, a hidden file, a symlink out), pkg/ (bindings, the wasm module and
/// its precompressed `.gz`), and a secret next to them.
fn serve_root(name: &str) -> PathBuf {
    let root = tmp(name);
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("www/index.html"), "<!doctype html>hi").unwrap();
    std::fs::write(root.join("www/app.mjs"), "export {};").unwrap();
    std::fs::write(root.join("www/.secret"), "hidden").unwrap();
    std::fs::write(root.join("pkg/cdetr.js"), "export default 1;").unwrap();
    std::fs::write(root.join("pkg/cdetr_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(root.join("pkg/cdetr_bg.wasm.gz"), b"\x1f\x8bGZIPPED").unwrap();
    std::fs::write(root.join("secret.txt"), "secret").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("../secret.txt", root.join("www/escape.txt")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("pkg/cdetr.js.gz")).unwrap();
        std::os::unix::fs::symlink("..", root.join("www/up")).unwrap();
    }
    root
}

/// `cdetr serve`: content types, nosniff and no-cache on every response, HEAD without a body, 405 for other
/// methods, 304 on If-Modified-Since, the precompressed `.gz` when the client accepts gzip, `--isolate`.
#[test]
fn serve_answers_get_head_with_types_revalidation_and_precompressed() {
    let root = serve_root("serve-basics");
    let server = Server::start(&root, &[]);
    for (target, kind) in [
        ("/", "text/html"),
        ("/app.mjs", "text/javascript"),
        ("/pkg/cdetr.js", "text/javascript"),
        ("/pkg/cdetr_bg.wasm", "application/wasm"),
    ] {
        let (head, _) = server.request("GET", target, "");
        assert_eq!(status(&head), 200, "{target}: {head}");
        assert!(header(&head, "content-type").unwrap().starts_with(kind), "{target}: {head}");
        assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{head}");
        assert_eq!(header(&head, "cache-control"), Some("no-cache"), "{head}");
        assert_eq!(header(&head, "cross-origin-opener-policy"), None, "{head}");
    }
    let (head, body) = server.request("GET", "/", "");
    assert_eq!(body, b"<!doctype html>hi");
    assert_eq!(header(&head, "content-length"), Some("17"));

    let (head, body) = server.request("HEAD", "/pkg/cdetr.js", "");
    assert_eq!(status(&head), 200, "{head}");
    assert!(body.is_empty(), "HEAD sent a body");

    // Any other method is refused before the path is looked at, with what is allowed.
    for method in ["POST", "PUT", "DELETE"] {
        for path in ["/", "/missing"] {
            let (head, _) = server.request(method, path, "Content-Length: 0\r\n");
            assert_eq!(status(&head), 405, "{method} {path}: {head}");
            assert_eq!(header(&head, "allow"), Some("GET, HEAD"), "{head}");
            assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{head}");
        }
    }

    let (head, _) = server.request("GET", "/pkg/cdetr.js", "");
    let modified = header(&head, "last-modified").expect("last-modified").to_string();
    let (head, body) = server.request("GET", "/pkg/cdetr.js", &format!("If-Modified-Since: {modified}\r\n"));
    assert_eq!(status(&head), 304, "{head}");
    assert!(body.is_empty());
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{head}");

    let (head, body) = server.request("GET", "/pkg/cdetr_bg.wasm", "Accept-Encoding: gzip, deflate\r\n");
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/wasm"), "{head}");
    assert_eq!(body, b"\x1f\x8bGZIPPED");
    let (head, body) = server.request("GET", "/pkg/cdetr_bg.wasm", "");
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(body, b"\0asm\x01\0\0\0");
    drop(server);

    let server = Server::start(&root, &["--isolate"]);
    let (head, _) = server.request("GET", "/", "");
    assert_eq!(header(&head, "cross-origin-opener-policy"), Some("same-origin"), "{head}");
    assert_eq!(header(&head, "cross-origin-embedder-policy"), Some("require-corp"), "{head}");
}

/// `cdetr serve` serves only www/ and pkg/: no `..` (plain or encoded), no hidden files, no symlinks out
/// (neither a file, a folder, nor a precompressed sibling).
#[test]
fn serve_refuses_traversal_hidden_files_and_symlink_escapes() {
    let root = serve_root("serve-traversal");
    let server = Server::start(&root, &[]);
    assert_eq!(server.status("/index.html"), 200);
    for bad in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/pkg/../../secret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/.secret",
        "/%2esecret",
        "/escape.txt",
        "/up/secret.txt",
        "/%zz",
        "/missing",
        "/pkg/",
    ] {
        let (head, body) = server.request("GET", bad, "");
        assert!(matches!(status(&head), 400 | 404), "{bad}: {head}");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{bad}");
    }
    // cdetr.js.gz is a symlink out of pkg/: the file itself is sent rather than the link followed.
    let (head, body) = server.request("GET", "/pkg/cdetr.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(body, b"export default 1;");
}

/// `cdetr serve` is bounded: an oversized request line is refused (431/400 or a closed connection) without
/// the server growing or dying, and idle connections (500, then 900: past the 512 served in full, yet under a
/// 1024 descriptor limit) leave a normal request answered within 2 s.
#[test]
fn serve_survives_oversized_requests_and_idle_connections() {
    use std::io::{Read, Write};
    let root = serve_root("serve-bounds");
    let server = Server::start(&root, &[]);

    // Up to 64 MB of request line, written until the server refuses it.
    let mut stream = server.connect();
    let _ = stream.write_all(b"GET /");
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < 64 && stream.write_all(&chunk).is_ok() {
        sent += 1;
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 431") || reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(sent < 64, "the server kept reading a 64 MB request line");
    drop(stream);
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
        let peak_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        assert!(peak_kb < 64 * 1024, "peak memory {peak_kb} kB");
    }
    assert_eq!(server.status("/"), 200, "the server died after an oversized request");

    let mut idle = Vec::new();
    for count in [500, 900] {
        idle.extend((idle.len()..count).map(|_| server.connect()));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let start = std::time::Instant::now();
        assert_eq!(server.status("/pkg/cdetr.js"), 200);
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?} with {count} idle connections");
    }
    drop(idle);
}

/// `name → (dtype, shape)` of a safetensors file and its values' spread.
fn safetensors_layout(path: &Path) -> (std::collections::BTreeMap<String, Vec<usize>>, f64) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut sum_sq = 0f64;
    let mut count = 0usize;
    let layout = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            if name.ends_with("conv1.weight") || name.contains("class_labels_classifier") {
                for c in view.data().chunks_exact(4) {
                    sum_sq += (f32::from_le_bytes(c.try_into().unwrap()) as f64).powi(2);
                    count += 1;
                }
            }
            (name, view.shape().to_vec())
        })
        .collect();
    (layout, (sum_sq / count as f64).sqrt())
}

/// `init` writes the real hub layouts at full size (every key and shape of `microsoft/conditional-detr-resnet-50`
/// and of `facebook/detr-resnet-50`), random but not degenerate, the same file for the same seed, and
/// `detect` runs it.
#[test]
fn init_writes_the_full_size_hub_layouts() {
    let dir = tmp("init");
    let out = cdetr(&["init", "--output", s(&dir.join("a")), "--seed", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let weights = dir.join("a/model.safetensors");
    let (layout, spread) = safetensors_layout(&weights);
    let expected = manifest("hf_conditional_detr_resnet50.manifest.json");
    assert_eq!(layout.len(), 588);
    assert_eq!(layout, expected);
    assert!(spread > 1e-3, "the weights look degenerate (rms {spread})");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("a/config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "ConditionalDetrForObjectDetection");
    assert_eq!(config["num_queries"], 300);

    let same = cdetr(&["init", "--output", s(&dir.join("b")), "--seed", "3"]);
    assert!(same.status.success());
    let other = cdetr(&["init", "--output", s(&dir.join("c")), "--seed", "4"]);
    assert!(other.status.success());
    let read = |d: &str| std::fs::read(dir.join(d).join("model.safetensors")).unwrap();
    assert!(read("a") == read("b"), "the same seed wrote different weights");
    assert!(read("a") != read("c"), "another seed wrote the same weights");
    let _ = std::fs::remove_dir_all(dir.join("b"));
    let _ = std::fs::remove_dir_all(dir.join("c"));

    let detect = cdetr(&[
        "detect",
        s(&fixtures().join("images/chelsea.png")),
        "--weights",
        s(&weights),
        "--config",
        s(&dir.join("a/config.json")),
        "--resize",
        "160,320",
        "--threshold",
        "0",
        "--top-k",
        "5",
    ]);
    assert!(detect.status.success(), "{}", String::from_utf8_lossy(&detect.stderr));
    let detections: serde_json::Value = serde_json::from_slice(&detect.stdout).unwrap();
    let list = detections[0]["detections"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|d| d["score"].as_f64().unwrap().is_finite() && d["reference_point"].is_array()));
    let _ = std::fs::remove_dir_all(dir.join("a"));

    let detr = cdetr(&["init", "--detr", "--output", s(&dir.join("detr"))]);
    assert!(detr.status.success(), "{}", String::from_utf8_lossy(&detr.stderr));
    let (layout, _) = safetensors_layout(&dir.join("detr/model.safetensors"));
    assert_eq!(layout, manifest("hf_detr_resnet50.manifest.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cdetr eval --json --plots` on the `eval_equals_pycocotools_on_a_coco_file` data: the overall stats are
/// pycocotools' (`expected.json`), the per-class AP50s average to the overall AP50, every non-crowd ground
/// truth is counted once in its confusion-matrix column, the worst images are sorted, and `results.csv` and
/// the PNG plots are written.
#[test]
fn eval_json_and_plots_report_per_class_confusion_and_worst_images() {
    let dir = tmp("eval-diag");
    let expected = copy_eval_fixture(&dir);
    let plots = dir.join("plots");
    let out = cdetr(&[
        "eval",
        "--weights",
        s(&tiny("model.safetensors")),
        "--config",
        s(&tiny("config.json")),
        "--data",
        s(&dir.join("annotations.json")),
        "--resize",
        "none",
        "--json",
        "--plots",
        s(&plots),
        "--conf",
        "0.05",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    for (name, want) in expected["stats"].as_object().unwrap() {
        let (g, w) = (got["stats"][name].as_f64().unwrap(), want.as_f64().unwrap());
        assert!((g - w).abs() < 1e-9, "{name}: cdetr eval --json {g}, pycocotools {w}");
    }
    let classes = got["classes"].as_array().unwrap();
    let valid: Vec<f64> = classes.iter().map(|c| c["ap50"].as_f64().unwrap()).filter(|&v| v > -1.0).collect();
    assert!(!valid.is_empty());
    let mean = valid.iter().sum::<f64>() / valid.len() as f64;
    assert!((mean - got["stats"]["ap50"].as_f64().unwrap()).abs() < 1e-12, "mean per-class AP50 {mean}");
    for c in classes {
        assert_eq!(c["pr50"].as_array().unwrap().len(), 101);
        assert!(c["name"].is_string() && c["ap"].is_f64() && c["ap75"].is_f64() && c["num_gt"].is_u64());
    }

    // Confusion matrix: (K + 1)² counts; column sums over the class columns are the non-crowd ground truths.
    let labels = got["confusion_labels"].as_array().unwrap();
    let n = labels.len();
    assert_eq!(labels[n - 1], "background");
    assert_eq!(n, classes.len() + 1);
    let counts: Vec<u64> = got["confusion"]["counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(counts.len(), n * n);
    for (k, c) in classes.iter().enumerate() {
        let col: u64 = (0..n).map(|r| counts[r * n + k]).sum();
        assert_eq!(col, c["num_gt"].as_u64().unwrap(), "column {k}");
    }
    assert_eq!(counts[n * n - 1], 0, "background × background is always 0");
    let worst = got["worst_images"].as_array().unwrap();
    assert!(!worst.is_empty());
    let totals: Vec<u64> = worst
        .iter()
        .map(|w| ["missed", "false_positives", "confused"].iter().map(|k| w[k].as_u64().unwrap()).sum())
        .collect();
    assert!(totals.windows(2).all(|p| p[0] >= p[1]), "{totals:?}");
    let names: Vec<&str> = expected["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for w in worst {
        assert!(names.iter().any(|n| w["image"].as_str().unwrap().ends_with(n)), "{w}");
    }
    // Missed objects in the JSON are the background row.
    let missed: u64 = worst.iter().map(|w| w["missed"].as_u64().unwrap()).sum();
    assert_eq!(missed, (0..n - 1).map(|c| counts[(n - 1) * n + c]).sum::<u64>());

    let csv = std::fs::read_to_string(plots.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "class,category_id,instances,ap,ap50,ap75,recall50");
    assert_eq!(lines.len(), classes.len() + 1);
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], classes[0]["name"].as_str().unwrap());
    assert_eq!(first[3].parse::<f64>().unwrap(), classes[0]["ap"].as_f64().unwrap());
    for png in ["pr_curves.png", "confusion_matrix.png", "worst_1.png"] {
        let img = image::open(plots.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() > 100 && img.height() > 100, "{png}");
    }
}
