//! The training step: its first metrics equal the reference loss, it over-fits two images (the loss falls
//! and the boxes land on the targets), and a snapshot resumes exactly.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cdetr::ConditionalDetrConfig;
use cdetr::box_ops::cxcywh_to_xyxy_host;
use cdetr::data::TargetBoxes;
use cdetr::matcher::giou_host;
use cdetr::model::ForwardOptions;
use cdetr::model::mask::PixelMask;
use cdetr::preprocess::Batch;
use cdetr::train::{TrainOptions, Trainer};
use cdetr::weights::{load_model_with_dropout, read_checkpoint_file};
use common::*;

fn fixture_batch() -> (Batch, Vec<TargetBoxes>) {
    let refs = fixture_tensors();
    let pv = &refs["inputs.pixel_values"];
    let pm = &refs["inputs.pixel_mask"];
    let batch = Batch {
        pixel_values: pv.f32(),
        pixel_mask: pm.values.iter().map(|&v| v as u8).collect(),
        batch: 2,
        height: pv.shape[2],
        width: pv.shape[3],
        image_sizes: vec![(96, 128), (160, 80)],
    };
    let targets = (0..2)
        .map(|i| TargetBoxes {
            labels: refs[&format!("targets.{i}.class_labels")].usize(),
            boxes_cxcywh: refs[&format!("targets.{i}.boxes")]
                .f32()
                .chunks(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        })
        .collect();
    (batch, targets)
}

fn trainer(options: TrainOptions) -> Trainer {
    let config = tiny_config();
    let ckpt = read_checkpoint_file(&tiny("model.safetensors")).unwrap();
    let model = load_model_with_dropout(&config, &ckpt, options.dropout_rates(), &Device::flex().autodiff()).unwrap();
    Trainer::new(model, options)
}

/// The main fixture's `config.json`.
fn tiny_config() -> ConditionalDetrConfig {
    ConditionalDetrConfig::from_json(&std::fs::read_to_string(tiny("config.json")).unwrap(), "config.json").unwrap()
}

#[test]
fn first_step_metrics_equal_the_reference_loss() {
    let (batch, targets) = fixture_batch();
    let mut t = trainer(TrainOptions { lr: 0.0, lr_backbone: 0.0, dropout: 0.0, ..Default::default() });
    let m = pollster::block_on(t.train_step(&batch, &targets)).unwrap();
    let json = fixture_json();
    let reference = &json["loss_official_semantics"];
    let want = reference["total_official_weights"].as_f64().unwrap();
    assert!((m.loss - want).abs() <= 1e-5 * want, "loss {} vs {want}", m.loss);
    for (name, want) in reference["loss_dict"].as_object().unwrap() {
        let got = m.components[name];
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{name}: {got} vs {want}");
    }
    let norm = reference["grad_global_norm (of total_official_weights)"].as_f64().unwrap();
    assert!((m.grad_norm - norm).abs() <= 1e-4 * norm, "grad norm {} vs {norm}", m.grad_norm);
    assert_eq!((m.lr, m.lr_backbone, m.step, m.num_boxes), (0.0, 0.0, 0, 5));
    // With lr 0 nothing moves: the second step sees the same loss.
    let m2 = pollster::block_on(t.train_step(&batch, &targets)).unwrap();
    assert!((m2.loss - m.loss).abs() < 1e-6 * m.loss, "{} vs {}", m2.loss, m.loss);
}

#[test]
fn overfits_two_images() {
    let (batch, targets) = fixture_batch();
    let mut t = trainer(TrainOptions { lr: 1e-3, lr_backbone: 1e-4, dropout: 0.0, ..Default::default() });
    let mut losses = Vec::new();
    for _ in 0..150 {
        losses.push(pollster::block_on(t.train_step(&batch, &targets)).unwrap().loss);
    }
    let first = losses[0];
    let last = losses[losses.len() - 5..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.3 * first, "loss {first} → {last}");

    // Each target is now found: some query scores its class above 0.5 and overlaps it well.
    let model = t.inference_model();
    let device = Device::flex();
    let pixel_values =
        Tensor::<4>::from_data(TensorData::new(batch.pixel_values.clone(), [2, 3, batch.height, batch.width]), &device);
    let mask = PixelMask { batch: 2, height: batch.height, width: batch.width, data: batch.pixel_mask.clone() };
    let out = model.forward(pixel_values, &mask, ForwardOptions::default());
    let logits = out.last.logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let boxes = out.last.pred_boxes.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let (nq, c) = (12, 5);
    for (img, target) in targets.iter().enumerate() {
        for (k, (&label, &tb)) in target.labels.iter().zip(&target.boxes_cxcywh).enumerate() {
            let best_giou = (0..nq)
                .filter(|&q| logits[(img * nq + q) * c + label] > 0.0)
                .map(|q| {
                    let b = &boxes[(img * nq + q) * 4..(img * nq + q) * 4 + 4];
                    giou_host(cxcywh_to_xyxy_host([b[0], b[1], b[2], b[3]]), cxcywh_to_xyxy_host(tb))
                })
                .fold(f32::MIN, f32::max);
            assert!(best_giou > 0.7, "image {img} target {k}: best GIoU among confident queries {best_giou}");
        }
    }
    // And there are no more confident detections than targets.
    let confident = logits.iter().filter(|&&l| l > 0.0).count();
    assert!(confident <= 5 + 2, "{confident} confident (query, class) pairs for 5 targets");
}

#[test]
fn snapshot_resumes_exactly() {
    let (batch, targets) = fixture_batch();
    let options = TrainOptions { lr: 5e-4, dropout: 0.0, ..Default::default() };
    let config = tiny_config();
    let mut a = trainer(options.clone());
    for _ in 0..3 {
        pollster::block_on(a.train_step(&batch, &targets)).unwrap();
    }
    let snap = pollster::block_on(a.snapshot(&config)).unwrap();
    let continued: Vec<f64> =
        (0..3).map(|_| pollster::block_on(a.train_step(&batch, &targets)).unwrap().loss).collect();

    let mut b = trainer(options);
    b.restore(&snap).unwrap();
    assert_eq!(b.step, 3);
    let resumed: Vec<f64> = (0..3).map(|_| pollster::block_on(b.train_step(&batch, &targets)).unwrap().loss).collect();
    for (x, y) in continued.iter().zip(&resumed) {
        assert!((x - y).abs() <= 1e-6 * x.abs(), "continued {continued:?} vs resumed {resumed:?}");
    }

    let mut corrupt = snap.clone();
    corrupt.model.truncate(100);
    assert!(b.restore(&corrupt).is_err());
}

/// Which class head a dataset keeps: names decide; a checkpoint without real names (transformers'
/// `LABEL_{i}` placeholders) takes category ids as label indices; anything else gets a new head.
#[test]
fn label_plans() {
    use cdetr::data::label_plan::{LabelPlan, plan_labels_with_ids};
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let coco = names(&["N/A", "person", "bicycle", "car"]);
    assert_eq!(plan_labels_with_ids(&names(&["Car", "person"]), &[7, 9], &coco), LabelPlan::Keep(vec![3, 1]));
    // Real names that differ: new classes, even when the ids are in range.
    assert_eq!(plan_labels_with_ids(&names(&["RBC", "WBC"]), &[1, 2], &coco), LabelPlan::NewHead);
    // "N/A" (an unused COCO id) is never a match.
    assert_eq!(plan_labels_with_ids(&names(&["n/a"]), &[5], &coco), LabelPlan::NewHead);
    let placeholders = names(&["LABEL_0", "LABEL_1", "LABEL_2"]);
    assert_eq!(
        plan_labels_with_ids(&names(&["LABEL_2", "LABEL_0"]), &[0, 1], &placeholders),
        LabelPlan::Keep(vec![2, 0])
    );
    assert_eq!(plan_labels_with_ids(&names(&["cat", "dog"]), &[2, 0], &placeholders), LabelPlan::Keep(vec![2, 0]));
    assert_eq!(plan_labels_with_ids(&names(&["cat", "dog"]), &[2, 3], &placeholders), LabelPlan::NewHead);
    assert_eq!(plan_labels_with_ids(&names(&["cat"]), &[-1], &placeholders), LabelPlan::NewHead);
}

/// Gradient clipping by the global norm (official `clip_max_norm` 0.1): the norm before clipping is the
/// reference's, after clipping it is 0.1, and every gradient is scaled by the same factor.
#[test]
fn gradients_are_clipped_by_their_global_norm() {
    use burn::optim::GradientsParams;
    use cdetr::criterion::SetCriterion;
    use cdetr::train::{clip_grad_global_norm, global_grad_norm};
    let options = TrainOptions { dropout: 0.0, ..TrainOptions::default() };
    let trainer = trainer(options);
    let model = trainer.model();
    let (batch, targets) = fixture_batch();
    let device = trainer.device();
    let pixel_values =
        Tensor::<4>::from_data(TensorData::new(batch.pixel_values.clone(), [2, 3, batch.height, batch.width]), &device);
    let mask = PixelMask { batch: 2, height: batch.height, width: batch.width, data: batch.pixel_mask.clone() };
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: false });
    let loss = pollster::block_on(SetCriterion::default().loss(&out, &targets)).unwrap();
    let grads = loss.total.backward();
    let probe = model.class_labels_classifier.weight.clone();
    let before: Vec<f32> = probe.val().grad(&grads).unwrap().into_data().convert::<f32>().try_to_vec().unwrap();
    let mut params = GradientsParams::from_grads(grads, model);

    let norm = pollster::block_on(clip_grad_global_norm(model, &mut params, 0.1)).unwrap();
    let want =
        fixture_json()["loss_official_semantics"]["grad_global_norm (of total_official_weights)"].as_f64().unwrap();
    assert!((norm - want).abs() <= 1e-4 * want, "norm before clipping {norm} vs reference {want}");
    assert!(norm > 0.1, "the fixture's gradients are large enough to be clipped");
    let after_norm = pollster::block_on(global_grad_norm(model, &params)).unwrap();
    assert!((after_norm - 0.1).abs() < 1e-6, "norm after clipping {after_norm}");
    let after: Vec<f32> = params.get::<2>(probe.id).unwrap().into_data().convert::<f32>().try_to_vec().unwrap();
    let coef = 0.1 / (norm + 1e-6);
    for (a, b) in after.iter().zip(&before) {
        assert!(
            (*a as f64 - *b as f64 * coef).abs() <= 1e-6 * (b.abs() as f64 * coef).max(1e-12),
            "{a} vs {b} × {coef}"
        );
    }
    // Below the limit nothing changes.
    let unchanged = pollster::block_on(clip_grad_global_norm(model, &mut params, 1.0)).unwrap();
    assert!((unchanged - 0.1).abs() < 1e-6);
}

/// StepLR (official `lr_drop`): both learning rates fall tenfold every `lr_drop` epochs.
#[test]
fn step_lr_schedule() {
    let options = TrainOptions { lr: 1e-4, lr_backbone: 1e-5, lr_drop: 2, ..TrainOptions::default() };
    let rates: Vec<(f64, f64)> = (0..5).map(|e| options.learning_rates(e)).collect();
    let want = [(1e-4, 1e-5), (1e-4, 1e-5), (1e-5, 1e-6), (1e-5, 1e-6), (1e-6, 1e-7)];
    for ((lr, lb), (wl, wb)) in rates.iter().zip(want) {
        assert!((lr - wl).abs() < 1e-18 && (lb - wb).abs() < 1e-18, "{rates:?}");
    }
    assert_eq!(TrainOptions { lr_drop: 0, ..options }.learning_rates(100), (1e-4, 1e-5));
}

/// Every backbone tensor: `(path, module type, values)`.
fn backbone_tensors(t: &Trainer) -> Vec<(String, String, Vec<f32>)> {
    cdetr::weights::ModelParams::of(&t.model().model.backbone)
        .into_iter()
        .map(|p| {
            let values = pollster::block_on(cdetr::readback::read_floats(p.values, &p.path)).unwrap();
            (p.path, p.module, values)
        })
        .collect()
}

/// `--freeze-backbone`: a training step leaves every backbone tensor as it was (all of them, batch-norm
/// statistics included) and changes the rest.
#[test]
fn frozen_backbone_does_not_move() {
    let mut t = trainer(TrainOptions {
        freeze_backbone: true,
        dropout: 0.0,
        lr: 1e-3,
        lr_backbone: 1e-3,
        ..TrainOptions::default()
    });
    let head = |t: &Trainer| -> Vec<f32> {
        t.model().class_labels_classifier.weight.val().into_data().convert::<f32>().try_to_vec().unwrap()
    };
    let (before, head0) = (backbone_tensors(&t), head(&t));
    assert!(before.len() > 50, "{} backbone tensors", before.len());
    let (batch, targets) = fixture_batch();
    pollster::block_on(t.train_step(&batch, &targets)).unwrap();
    for ((path, _, a), (_, _, b)) in before.iter().zip(&backbone_tensors(&t)) {
        assert!(a == b, "frozen backbone tensor {path} changed");
    }
    assert_ne!(head0, head(&t), "the class head did not train");
}

/// The default recipe trains exactly the backbone tensors that the hub manifest marks trainable: it says
/// (for all 265 backbone keys of the real R50) that only the convolutions of layer2–layer4 train, never the
/// stem, layer1 or a batch-norm tensor; one step at lr 1e-3 on the tiny model moves those and no other.
#[test]
fn default_freezing_follows_the_hub_manifest() {
    let text = std::fs::read_to_string(common::fixtures().join("manifests/hf_conditional_detr_resnet50.manifest.json"))
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let trainable_by_rule = |path: &str, batch_norm: bool| {
        !batch_norm && ["layer2.", "layer3.", "layer4."].iter().any(|l| path.starts_with(l))
    };
    let mut backbone_keys = 0;
    for (key, entry) in manifest["keys"].as_object().unwrap() {
        let Some(path) = key.strip_prefix("model.backbone.conv_encoder.model.") else { continue };
        backbone_keys += 1;
        let batch_norm = entry["kind"] == "buffer";
        assert_eq!(entry["trainable"].as_bool().unwrap(), trainable_by_rule(path, batch_norm), "{key}");
    }
    assert_eq!(backbone_keys, 265);

    let mut t = trainer(TrainOptions { dropout: 0.0, lr: 1e-3, lr_backbone: 1e-3, ..TrainOptions::default() });
    let before = backbone_tensors(&t);
    let (batch, targets) = fixture_batch();
    pollster::block_on(t.train_step(&batch, &targets)).unwrap();
    let mut moved = 0;
    for ((path, module, a), (_, _, b)) in before.iter().zip(&backbone_tensors(&t)) {
        let trainable = trainable_by_rule(path, module == "Struct:FrozenBatchNorm2d");
        assert_eq!(a != b, trainable, "{path} ({module}): trainable {trainable}, moved {}", a != b);
        moved += trainable as usize;
    }
    assert!(moved > 10, "{moved} backbone tensors trained");
}

/// A diverging run is refused, not trained on: a learning rate of 1e30 blows the weights up in one step, the
/// next step's predictions are not finite, the step fails saying the training diverged, and the step count
/// stays.
#[test]
fn a_diverging_loss_is_refused() {
    use cdetr::train::TrainError;
    let (batch, targets) = fixture_batch();
    let mut t = trainer(TrainOptions { lr: 1e30, lr_backbone: 1e30, dropout: 0.0, ..Default::default() });
    let first = pollster::block_on(t.train_step(&batch, &targets)).unwrap();
    assert!(first.loss.is_finite());
    let err = pollster::block_on(t.train_step(&batch, &targets)).unwrap_err();
    // Non-finite predictions are caught by the matcher, a non-finite loss of finite predictions by the step.
    let said = err.to_string();
    match &err {
        TrainError::Diverged(v) => assert!(!v.is_finite() && said.contains("lower the learning rate"), "{said}"),
        TrainError::Criterion(_) => assert!(said.contains("diverged"), "{said}"),
        other => panic!("expected a divergence, got {other}"),
    }
    assert_eq!(t.step, 1, "a refused step is not counted");
    assert!(TrainError::Diverged(f64::NAN).to_string().contains("lower the learning rate"));
}

/// The fixture's two images and targets as pixel boxes (for the image pipeline).
fn fixture_images() -> (Vec<image::RgbImage>, Vec<Vec<cdetr::data::BoxAnnotation>>) {
    let refs = fixture_tensors();
    let (_, targets) = fixture_batch();
    let mut images = Vec::new();
    let mut boxes = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let raw = &refs[&format!("inputs.image.{i}")];
        let (h, w) = (raw.shape[0] as u32, raw.shape[1] as u32);
        images.push(image::RgbImage::from_raw(w, h, raw.values.iter().map(|&v| v as u8).collect()).unwrap());
        boxes.push(
            t.labels
                .iter()
                .zip(&t.boxes_cxcywh)
                .map(|(&class_id, b)| cdetr::data::BoxAnnotation {
                    class_id,
                    bbox: [
                        (b[0] - b[2] / 2.0) * w as f32,
                        (b[1] - b[3] / 2.0) * h as f32,
                        (b[0] + b[2] / 2.0) * w as f32,
                        (b[1] + b[3] / 2.0) * h as f32,
                    ],
                })
                .collect(),
        );
    }
    (images, boxes)
}

/// Fast fine-tuning (cached backbone features, `cdetr::feature_cache`) is the full step with a frozen
/// backbone: with no augmentation and one image per batch, four steps at lr 1e-3 give the same losses and
/// gradient norms, with the backbone run by Burn (to 1e-5: float noise after updates) and by the CPU kernels (to 1e-4).
#[test]
fn cached_feature_steps_equal_full_steps_with_a_frozen_backbone() {
    use cdetr::data::augment::Rng;
    use cdetr::data::training_set::{TrainingSet, TrainingSetConfig};
    use cdetr::feature_cache::{FeatureCache, FeatureCacheConfig};
    use cdetr::model::inference::InferenceModel;
    use cdetr::preprocess::ResizeMode;

    let options = TrainOptions { lr: 1e-3, freeze_backbone: true, dropout: 0.0, ..Default::default() };
    let (images, boxes) = fixture_images();
    let mut full = trainer(options.clone());
    let mut set = TrainingSet::new(
        images.clone(),
        boxes.clone(),
        TrainingSetConfig { batch_size: 1, augment: None, resize: ResizeMode::None, shuffle: false },
        Rng::new(0),
    );
    let want: Vec<_> = (0..4)
        .map(|_| {
            let (batch, targets, _) = set.next_batch();
            pollster::block_on(full.train_step(&batch, &targets)).unwrap()
        })
        .collect();

    for (kernels, tol) in [(false, 1e-5), (true, 1e-4)] {
        let mut fast = trainer(options.clone());
        let backbone = if kernels {
            InferenceModel::new(fast.inference_model())
        } else {
            InferenceModel::from_burn(fast.inference_model())
        };
        assert_eq!(backbone.uses_cpu_kernels(), kernels);
        let config = FeatureCacheConfig { flip: false, resizes: vec![ResizeMode::None], batch_size: 1, shuffle: false };
        let mut cache =
            pollster::block_on(FeatureCache::build(&backbone, &images, &boxes, config, Rng::new(0), &Device::flex()))
                .unwrap();
        assert_eq!((cache.len(), cache.steps_per_epoch()), (2, 2));
        for (step, want) in want.iter().enumerate() {
            let (batch, targets, done) = cache.next_batch(&fast.device());
            assert_eq!(done, step % 2 == 1);
            let got = pollster::block_on(fast.train_step_on_features(&batch, &targets)).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= tol * b.abs().max(1e-3);
            assert!(close(got.loss, want.loss), "kernels {kernels}, step {step}: loss {} vs {}", got.loss, want.loss);
            assert!(
                close(got.grad_norm, want.grad_norm),
                "step {step}: grad norm {} vs {}",
                got.grad_norm,
                want.grad_norm
            );
            for (name, w) in &want.components {
                assert!(close(got.components[name], *w), "step {step}: {name} {} vs {w}", got.components[name]);
            }
        }
    }
    // Without a frozen backbone the fast step refuses (its features would go stale).
    let mut unfrozen = trainer(TrainOptions { freeze_backbone: false, ..options });
    let backbone = InferenceModel::new(unfrozen.inference_model());
    let config = FeatureCacheConfig { flip: true, resizes: vec![ResizeMode::None], batch_size: 2, shuffle: true };
    let mut cache =
        pollster::block_on(FeatureCache::build(&backbone, &images, &boxes, config, Rng::new(1), &Device::flex()))
            .unwrap();
    let (batch, targets, done) = cache.next_batch(&unfrozen.device());
    assert!(done && batch.features.dims()[0] == 2 && targets.len() == 2);
    let err = pollster::block_on(unfrozen.train_step_on_features(&batch, &targets)).unwrap_err();
    assert!(err.to_string().contains("frozen backbone"), "{err}");
}

/// StepLR across a snapshot: a run with `lr_drop` 1 saved in its second epoch resumes in that epoch, with the
/// dropped learning rates, and continues with the losses of the run that was never stopped.
#[test]
fn snapshot_resumes_past_an_lr_drop() {
    let (batch, targets) = fixture_batch();
    let options = TrainOptions { lr: 5e-4, lr_backbone: 5e-5, lr_drop: 1, dropout: 0.0, ..Default::default() };
    let config = tiny_config();
    let mut a = trainer(options.clone());
    for _ in 0..2 {
        pollster::block_on(a.train_step(&batch, &targets)).unwrap();
    }
    a.epoch = 1;
    let m = pollster::block_on(a.train_step(&batch, &targets)).unwrap();
    assert_eq!((m.epoch, m.lr, m.lr_backbone), (1, 5e-4 * 0.1, 5e-5 * 0.1));
    let snap = pollster::block_on(a.snapshot(&config)).unwrap();
    let continued: Vec<_> = (0..2).map(|_| pollster::block_on(a.train_step(&batch, &targets)).unwrap()).collect();

    let mut b = trainer(options);
    b.restore(&snap).unwrap();
    assert_eq!((b.step, b.epoch), (3, 1));
    assert_eq!(b.options.learning_rates(b.epoch), (5e-4 * 0.1, 5e-5 * 0.1));
    let resumed: Vec<_> = (0..2).map(|_| pollster::block_on(b.train_step(&batch, &targets)).unwrap()).collect();
    for (x, y) in continued.iter().zip(&resumed) {
        assert_eq!((y.step, y.epoch, y.lr, y.lr_backbone), (x.step, x.epoch, x.lr, x.lr_backbone));
        assert!((x.loss - y.loss).abs() <= 1e-6 * x.loss.abs(), "continued {} vs resumed {}", x.loss, y.loss);
    }
}

/// A truncated optimizer state (or model) is refused with a message that names it, and the trainer is left
/// as it was: same step, epoch and weights (its next loss is the one it would have had).
#[test]
fn truncated_snapshots_are_refused_and_change_nothing() {
    let (batch, targets) = fixture_batch();
    let options = TrainOptions { lr: 5e-4, dropout: 0.0, ..Default::default() };
    let config = tiny_config();
    let mut a = trainer(options.clone());
    for _ in 0..2 {
        pollster::block_on(a.train_step(&batch, &targets)).unwrap();
    }
    let snap = pollster::block_on(a.snapshot(&config)).unwrap();
    let mut fresh = trainer(options.clone());
    let want = pollster::block_on(fresh.train_step(&batch, &targets)).unwrap().loss;

    for cut in [snap.optimizer.len() / 2, 40, 0] {
        let mut b = trainer(options.clone());
        let mut corrupt = snap.clone();
        corrupt.optimizer.truncate(cut);
        let err = b.restore(&corrupt).unwrap_err().to_string();
        assert!(err.contains("optimizer"), "cut at {cut}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert_eq!((b.step, b.epoch), (0, 0));
        let got = pollster::block_on(b.train_step(&batch, &targets)).unwrap().loss;
        assert!((got - want).abs() <= 1e-6 * want, "cut at {cut}: the refused snapshot changed the model");
    }
    let mut b = trainer(options);
    let mut corrupt = snap.clone();
    corrupt.model.truncate(snap.model.len() / 2);
    let err = b.restore(&corrupt).unwrap_err().to_string();
    assert!(err.contains("model snapshot"), "{err}");
    assert_eq!((b.step, b.epoch), (0, 0));
}

/// The resume rule the CLI and the page share: a run rebuilt from its seed (a fresh `TrainingSet` from
/// `Rng::new(seed)`, as `cdetr train --resume` and the page after a reload do) and restored from a snapshot
/// taken in the middle of an epoch, then stepped through `Batches::step`, gives the uninterrupted run's
/// losses, with shuffling, augmentation and dropout on and learning rates > 0 (dropout masks are drawn from the
/// step's place, not from wherever the process's generator stands).
#[test]
fn a_rebuilt_training_set_resumes_mid_epoch_exactly() {
    use cdetr::data::TrainAugment;
    use cdetr::data::augment::Rng;
    use cdetr::data::training_set::{TrainingSet, TrainingSetConfig};
    use cdetr::preprocess::ResizeMode;
    use cdetr::train::Batches;

    let options = TrainOptions { lr: 1e-3, lr_backbone: 1e-4, dropout: 0.1, ..Default::default() };
    let config = tiny_config();
    let (images, boxes) = fixture_images();
    let (mut images3, mut boxes3) = (images.clone(), boxes.clone());
    images3.push(image::imageops::flip_vertical(&images[0]));
    boxes3.push(
        boxes[0]
            .iter()
            .map(|b| cdetr::data::BoxAnnotation {
                bbox: [b.bbox[0], 96.0 - b.bbox[3], b.bbox[2], 96.0 - b.bbox[1]],
                ..*b
            })
            .collect(),
    );
    let set = || {
        let config = TrainingSetConfig {
            batch_size: 2,
            augment: Some(TrainAugment::new(96)),
            resize: ResizeMode::None,
            shuffle: true,
        };
        Batches::Images(TrainingSet::new(images3.clone(), boxes3.clone(), config, Rng::new(7)))
    };
    // Two steps per epoch (2 + 1 images); stepped as the CLI and the page do.
    let run = |t: &mut Trainer, batches: &mut Batches, steps: usize| -> Vec<f64> {
        (0..steps)
            .map(|_| {
                let (m, done) = pollster::block_on(batches.step(t)).unwrap();
                if done {
                    t.epoch += 1;
                }
                m.loss
            })
            .collect()
    };
    let mut a = trainer(options.clone());
    let mut batches = set();
    assert_eq!(batches.steps_per_epoch(), 2);
    let first = run(&mut a, &mut batches, 3);
    assert_eq!((a.step, a.epoch), (3, 1), "saved in the middle of the second epoch");
    let snap = pollster::block_on(a.snapshot(&config)).unwrap();
    let continued = run(&mut a, &mut batches, 3);
    assert!(first.iter().chain(&continued).all(|l| l.is_finite()));

    let mut b = trainer(options);
    b.restore(&snap).unwrap();
    let resumed = run(&mut b, &mut set(), 3);
    for (x, y) in continued.iter().zip(&resumed) {
        assert!((x - y).abs() <= 1e-6 * x.abs(), "continued {continued:?} vs resumed {resumed:?}");
    }
}
