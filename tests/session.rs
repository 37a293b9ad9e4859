//! The page's fine-tuning session (`cdetr::session`), natively: label planning, memory refusal, steps and
//! epochs, snapshots, and validation numbers equal to `cdetr eval --json` on the same weights and images.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use cdetr::ConditionalDetrConfig;
use cdetr::data::native::{load_dataset, load_image};
use cdetr::eval::ImageErrors;
use cdetr::memory::{Limits, ModelSize};
use cdetr::session::{LabeledImage, SessionDataset, SessionError, SessionOptions, SessionStart, TrainingSession};
use cdetr::weights::{backbone_config, collect_hf_tensors, load_model, read_checkpoint_file, write_safetensors};
use common::tiny;

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("session").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cdetr synth` images in `dir`: the dataset, as the page would send it.
fn synth(dir: &Path, images: usize, seed: u64) -> SessionDataset {
    let status = Command::new(env!("CARGO_BIN_EXE_cdetr"))
        .args(["synth", "--output", dir.to_str().unwrap(), "--images", &images.to_string(), "--size", "64"])
        .args(["--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let (dataset, root) = load_dataset(&dir.join("annotations.json"), None).unwrap();
    let images = dataset
        .samples
        .iter()
        .map(|s| LabeledImage { image: load_image(&root.join(&s.image)).unwrap(), boxes: s.annotations.clone() })
        .collect();
    SessionDataset { class_names: dataset.class_names, train: images, val: Vec::new() }
}

struct Tiny {
    config: ConditionalDetrConfig,
    checkpoint: cdetr::weights::Checkpoint,
}

impl Tiny {
    fn load() -> Self {
        let text = std::fs::read_to_string(tiny("config.json")).unwrap();
        let config = ConditionalDetrConfig::from_json(&text, "config.json").unwrap();
        Self { config, checkpoint: read_checkpoint_file(&tiny("model.safetensors")).unwrap() }
    }

    fn start<'a>(&'a self, backbone: &'a cdetr::model::backbone::ResNetConfig, limits: Limits) -> SessionStart<'a> {
        let params = self.checkpoint.tensors.iter().map(|t| t.data.len()).sum();
        SessionStart {
            model: load_model(&self.config, &self.checkpoint, &Device::flex()).unwrap(),
            config: self.config.clone(),
            size: ModelSize { config: &self.config, backbone, params },
            limits,
        }
    }
}

fn options() -> SessionOptions {
    SessionOptions { max_size: 64, batch_size: 2, augment: false, dropout: 0.0, seed: 5, ..SessionOptions::default() }
}

#[test]
fn a_session_plans_labels_steps_through_epochs_and_restores() {
    let tiny = Tiny::load();
    let backbone = backbone_config(&tiny.config, Some(&tiny.checkpoint)).unwrap();
    let dir = out_dir("steps");
    let mut dataset = synth(&dir, 3, 1);
    dataset.val = dataset.train[..1].to_vec();
    let device = Device::flex();

    // Empty inputs are refused with a message, not a panic.
    let empty = SessionDataset { class_names: dataset.class_names.clone(), ..SessionDataset::default() };
    let err = TrainingSession::new(tiny.start(&backbone, Limits::default()), empty, &options(), &device).err();
    assert!(matches!(err, Some(SessionError::NoTrainingImages)), "{err:?}");
    let no_classes = SessionDataset { class_names: Vec::new(), ..dataset.clone() };
    let err = TrainingSession::new(tiny.start(&backbone, Limits::default()), no_classes, &options(), &device).err();
    assert!(matches!(err, Some(SessionError::NoClasses)), "{err:?}");
    let no_val = SessionDataset { val: Vec::new(), ..dataset.clone() };
    let (without_val, _) =
        TrainingSession::new(tiny.start(&backbone, Limits::default()), no_val, &options(), &device).unwrap();
    let err = pollster::block_on(without_val.evaluate()).err();
    assert!(matches!(err, Some(SessionError::NoValidationImages)), "{err:?}");
    // A heap too small for the step: refused with advice.
    let tight = Limits { total_bytes: Some(1 << 16), buffer_bytes: None };
    let err = TrainingSession::new(tiny.start(&backbone, tight), dataset.clone(), &options(), &device).err();
    assert!(matches!(err, Some(SessionError::TooBig(_))), "{err:?}");

    // The tiny model's labels are placeholders, so the synthetic classes get a new head.
    let (mut session, summary) =
        TrainingSession::new(tiny.start(&backbone, Limits::default()), dataset.clone(), &options(), &device).unwrap();
    assert!(summary.new_head);
    assert_eq!(summary.labels, dataset.class_names);
    assert_eq!((summary.train_images, summary.val_images, summary.steps_per_epoch), (3, 1, 2));
    let (first, done) = pollster::block_on(session.step()).unwrap();
    assert!(!done && first.loss.is_finite() && first.step == 0);
    let (_, done) = pollster::block_on(session.step()).unwrap();
    assert!(done);
    assert_eq!((session.trainer.step, session.trainer.epoch), (2, 1));

    // A snapshot restored into a fresh session continues where the first one stands: same next loss.
    let snapshot = pollster::block_on(session.snapshot()).unwrap();
    let (next, _) = pollster::block_on(session.step()).unwrap();
    let (mut again, _) =
        TrainingSession::new(tiny.start(&backbone, Limits::default()), dataset, &options(), &device).unwrap();
    again.restore(&snapshot).unwrap();
    let (resumed, _) = pollster::block_on(again.step()).unwrap();
    assert_eq!((resumed.step, resumed.epoch), (next.step, next.epoch));
    assert!((resumed.loss - next.loss).abs() <= 1e-5 * next.loss.abs().max(1.0), "{} vs {}", resumed.loss, next.loss);
}

/// The page's validation (`TrainingSession::evaluate`) and `cdetr eval --json` give the same numbers on
/// the same weights and images: one evaluation loop (`cdetr::evaluate::evaluate_model`) behind both.
#[test]
fn validation_equals_cdetr_eval_on_the_same_weights() {
    let tiny = Tiny::load();
    let backbone = backbone_config(&tiny.config, Some(&tiny.checkpoint)).unwrap();
    let dir = out_dir("validation");
    let train = synth(&dir.join("train"), 2, 2);
    let val = synth(&dir.join("val"), 4, 3);
    assert_eq!(train.class_names, val.class_names);
    let val_boxes: Vec<Vec<cdetr::data::BoxAnnotation>> = val.train.iter().map(|s| s.boxes.clone()).collect();
    let dataset = SessionDataset { val: val.train, ..train };
    let device = Device::flex();
    let (mut session, _) =
        TrainingSession::new(tiny.start(&backbone, Limits::default()), dataset, &options(), &device).unwrap();
    pollster::block_on(session.step()).unwrap();
    let report = pollster::block_on(session.evaluate()).unwrap();

    let tensors = pollster::block_on(collect_hf_tensors(&session.inference_model())).unwrap();
    std::fs::write(dir.join("model.safetensors"), write_safetensors(&tensors, Some(&session.config))).unwrap();
    std::fs::write(dir.join("config.json"), session.config.to_json()).unwrap();
    // The session validates at its max size: shortest edge 64 · 800 / 1333 = 38, longest 64.
    let out = Command::new(env!("CARGO_BIN_EXE_cdetr"))
        .args(["eval", "--json", "--resize", "38,64", "--weights"])
        .arg(dir.join("model.safetensors"))
        .arg("--config")
        .arg(dir.join("config.json"))
        .arg("--data")
        .arg(dir.join("val/annotations.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Both sides go through JSON text: serde_json's default float parser may land one ulp off the
    // printed value, so a parsed number is only comparable with another parsed number.
    let page: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    for key in ["ap", "ap50", "ap75", "ar1", "ar10", "ar100"] {
        assert_eq!(page[key], cli["stats"][key], "{key}");
    }
    assert_eq!(page["classes"], cli["classes"]);
    assert_eq!(page["confusion"], cli["confusion"]);
    assert_eq!(page["confusionLabels"], cli["confusion_labels"]);

    // The worst images carry the detections they were judged by; recounting them against the same boxes
    // gives the same errors, and against fixed labels what the fix changed.
    assert!(!report.worst.is_empty(), "an untrained model makes errors");
    assert_eq!(report.predictions.len(), report.worst.len().min(cdetr::session::WORST_WITH_PREDICTIONS));
    let mut detections_seen = 0;
    for (p, e) in report.predictions.iter().zip(&report.worst) {
        assert_eq!(p.image_id, e.image_id);
        assert_eq!(p.detections.len(), e.num_det, "image {}: the counted detections", e.image_id);
        assert!(p.detections.iter().all(|d| d.score >= 0.25 && d.bbox[0] <= d.bbox[2] && d.bbox[1] <= d.bbox[3]));
        detections_seen += p.detections.len();
        let boxes = &val_boxes[e.image_id as usize];
        let again = session.image_errors(boxes, &p.detections).unwrap();
        assert_eq!(again, ImageErrors { image_id: 0, ..*e }, "image {}", e.image_id);
        let unlabelled = session.image_errors(&[], &p.detections).unwrap();
        assert_eq!((unlabelled.missed, unlabelled.false_positives, unlabelled.num_gt), (0, e.num_det, 0));
    }
    // Hand-made boxes and detections (synth classes are new to the tiny model, so model label = dataset
    // class): one detection on a box with its class, one on a box with another class, one below 0.25.
    let boxes = &[[2.0, 2.0, 20.0, 20.0], [30.0, 30.0, 50.0, 50.0], [5.0, 40.0, 25.0, 60.0]]
        .iter()
        .enumerate()
        .map(|(class_id, &bbox)| cdetr::data::BoxAnnotation { class_id, bbox })
        .collect::<Vec<_>>();
    let on = |b: &cdetr::data::BoxAnnotation, label: usize, score: f64| cdetr::session::Prediction {
        label: label as u64,
        bbox: b.bbox.map(f64::from),
        score,
    };
    let dets =
        [on(&boxes[0], boxes[0].class_id, 0.9), on(&boxes[1], (boxes[1].class_id + 1) % 3, 0.8), on(&boxes[1], 0, 0.2)];
    let e = session.image_errors(boxes, &dets).unwrap();
    assert_eq!(
        (e.num_gt, e.num_det, e.missed, e.false_positives, e.confused),
        (boxes.len(), 2, boxes.len() - 2, 0, 1),
        "{e:?}"
    );
    let bad = [cdetr::data::BoxAnnotation { class_id: 3, bbox: [0.0, 0.0, 4.0, 4.0] }];
    let err = session.image_errors(&bad, &[]).unwrap_err().to_string();
    assert!(err.contains("class 3") && err.contains("3 classes"), "{err}");
    eprintln!("{} worst images, {detections_seen} detections at score ≥ 0.25", report.worst.len());
}
