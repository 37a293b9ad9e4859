//! The loss against the reference (official semantics), on the main fixture (`tests/fixtures/tiny`) and the
//! second configuration (`tests/fixtures/tiny_dc5`): cost matrices, Hungarian matchings of every decoder
//! layer, every loss component, the total with weights 2/5/2, and the gradients of 17 parameters and the
//! global gradient norm after backward. And DETR's loss and matcher on its fixture (`tests/fixtures/detr_tiny`).

mod common;

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use cdetr::ConditionalDetrConfig;
use cdetr::criterion::{DetrCriterion, SetCriterion};
use cdetr::data::TargetBoxes;
use cdetr::matcher::{ClassCost, MatcherCosts, cost_matrix, cost_matrix_with, match_image_with};
use cdetr::model::mask::PixelMask;
use cdetr::model::transformer::DropoutRates;
use cdetr::model::{ConditionalDetr, DetrOutput, ForwardOptions, HeadOutput};
use cdetr::weights::{load_model_with_dropout, module_path_to_hf, read_checkpoint_file};
use common::*;

const FIXTURES: [&str; 2] = ["tiny", "tiny_dc5"];

fn setup(fx: &str) -> (ConditionalDetr, Tensor<4>, PixelMask, Vec<TargetBoxes>, HashMap<String, RefTensor>) {
    let refs = fixture_tensors_of(fx);
    let dir = fixtures().join(fx);
    let config =
        ConditionalDetrConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap(), "config.json")
            .unwrap();
    let ckpt = read_checkpoint_file(&dir.join("model.safetensors")).unwrap();
    let device = Device::flex().autodiff();
    // The reference ran in eval mode (no dropout) with the stem and layer1 frozen.
    let mut model = load_model_with_dropout(&config, &ckpt, DropoutRates::new().with_dropout(0.0), &device).unwrap();
    model.model.backbone = model.model.backbone.freeze_stem_and_layer1();
    let (pixel_values, mask, targets) = batch_of(&refs, &device);
    (model, pixel_values, mask, targets, refs)
}

/// A fixture's padded input batch, pixel mask and targets on `device`.
fn batch_of(refs: &HashMap<String, RefTensor>, device: &Device) -> (Tensor<4>, PixelMask, Vec<TargetBoxes>) {
    let pv = &refs["inputs.pixel_values"];
    let pixel_values = Tensor::from_data(TensorData::new(pv.f32(), pv.shape.clone()), device);
    let pm = &refs["inputs.pixel_mask"];
    let mask = PixelMask {
        batch: pm.shape[0],
        height: pm.shape[1],
        width: pm.shape[2],
        data: pm.values.iter().map(|&v| v as u8).collect(),
    };
    let targets = (0..pm.shape[0])
        .map(|i| TargetBoxes {
            labels: refs[&format!("targets.{i}.class_labels")].usize(),
            boxes_cxcywh: refs[&format!("targets.{i}.boxes")]
                .f32()
                .chunks(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        })
        .collect();
    (pixel_values, mask, targets)
}

fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0] as f64
}

/// Gradients of every trainable parameter under its HF name, in PyTorch layout.
struct GradCollector<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    containers: Vec<String>,
    out: HashMap<String, Vec<f32>>,
}

impl ModuleVisitor for GradCollector<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.into());
        self.containers.push(container_type.into());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
        self.containers.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = param.val().grad(self.grads) else { return };
        let linear = self.containers.iter().rev().find(|c| c.starts_with("Struct:")).map(String::as_str)
            == Some("Struct:Linear");
        let mut path = self.path.join(".");
        if self.containers.last().map(String::as_str) == Some("Struct:LayerNorm") {
            path = path.replace(".gamma", ".weight").replace(".beta", ".bias");
        }
        let dims = grad.dims();
        let grad = if linear && D == 2 { grad.swap_dims(0, 1) } else { grad };
        let values = grad.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert_eq!(values.len(), dims.iter().product::<usize>());
        self.out.insert(module_path_to_hf(&path), values);
    }
}

#[test]
fn cost_matrices_and_matchings_equal_reference() {
    for fx in FIXTURES {
        cost_matrices_and_matchings(fx);
    }
}

fn cost_matrices_and_matchings(fx: &str) {
    let (model, pixel_values, mask, targets, refs) = setup(fx);
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: false });
    let mut heads: Vec<(String, _)> = out.aux.iter().enumerate().map(|(i, h)| (format!("aux.{i}"), h)).collect();
    heads.push(("final".to_string(), &out.last));
    let mut compared = 0;
    for (key, head) in &heads {
        let Some(reference) = refs.get(&format!("matcher.cost_matrix.{key}")) else { continue };
        compared += 1;
        let [b, nq, c] = head.logits.dims();
        let logits = head.logits.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let boxes = head.pred_boxes.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let total_targets = reference.shape[2];
        let mut col = 0;
        for img in 0..b {
            let m = cost_matrix(
                &logits[img * nq * c..(img + 1) * nq * c],
                &boxes[img * nq * 4..(img + 1) * nq * 4],
                c,
                &targets[img],
                MatcherCosts::default(),
            )
            .unwrap();
            let nt = targets[img].labels.len();
            let want: Vec<f64> = (0..nq)
                .flat_map(|q| (col..col + nt).map(move |t| (img, q, t)))
                .map(|(i, q, t)| reference.values[(i * nq + q) * total_targets + t])
                .collect();
            assert_close(&format!("{fx}: cost matrix {key} image {img}"), &m, &want, 1e-5);
            col += nt;
        }
    }
    assert!(compared >= 2, "{fx}: only {compared} cost matrices in the fixture");
    // Matchings of every decoder layer (the criterion orders them aux.0, aux.1, ..., final).
    let loss = pollster::block_on(SetCriterion::default().loss(&out, &targets)).unwrap();
    assert_eq!(loss.matchings.len(), heads.len());
    for (layer, (key, _)) in heads.iter().enumerate() {
        for img in 0..targets.len() {
            let m = &loss.matchings[layer][img];
            assert_eq!(
                m.query_idx,
                refs[&format!("matching.{key}.{img}.query_idx")].usize(),
                "{fx}: {key} image {img}"
            );
            assert_eq!(
                m.target_idx,
                refs[&format!("matching.{key}.{img}.target_idx")].usize(),
                "{fx}: {key} image {img}"
            );
        }
    }
}

#[test]
fn losses_and_gradients_equal_reference() {
    for fx in FIXTURES {
        losses_and_gradients(fx);
    }
}

fn losses_and_gradients(fx: &str) {
    let (model, pixel_values, mask, targets, refs) = setup(fx);
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: false });
    let loss = pollster::block_on(SetCriterion::default().loss(&out, &targets)).unwrap();
    let json = fixture_json_of(fx);
    let reference = &json["loss_official_semantics"];
    for (name, value) in &loss.components {
        let want = reference["loss_dict"][name].as_f64().unwrap_or_else(|| panic!("{name} not in the fixture"));
        let got = scalar(value);
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{fx}: {name}: {got} vs {want} (1e-5 relative)");
    }
    for (name, value) in &loss.cardinality {
        assert_eq!(*value as f64, reference["loss_dict"][name].as_f64().unwrap(), "{name}");
    }
    let total = scalar(&loss.total);
    let want = reference["total_official_weights"].as_f64().unwrap();
    assert!((total - want).abs() <= 1e-5 * want, "{fx}: total {total} vs {want}");

    let grads = loss.total.backward();
    let mut collector = GradCollector { grads: &grads, path: vec![], containers: vec![], out: HashMap::new() };
    model.visit(&mut collector);
    let mut compared = 0;
    for (name, reference) in refs.iter().filter(|(k, _)| k.starts_with("grads.official_semantics.")) {
        let param = name.trim_start_matches("grads.official_semantics.");
        let got = collector.out.get(param).unwrap_or_else(|| panic!("no gradient for {param}"));
        // Relative to the largest reference entry: some entries are ~0 and carry only rounding noise.
        let scale = reference.values.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
        let worst = max_abs_diff(got, &reference.values) / scale;
        assert!(worst <= 1e-4, "{fx}: gradient of {param}: relative error {worst:.2e}");
        compared += 1;
    }
    assert_eq!(compared, 17);
    // Frozen parameters get no gradient; the global norm over the rest matches.
    for frozen in json["backbone"]["frozen_parameters (requires_grad=False)"].as_array().unwrap() {
        assert!(!collector.out.contains_key(frozen.as_str().unwrap()), "{frozen} should be frozen");
    }
    let norm: f64 = collector.out.values().flatten().map(|&g| (g as f64) * (g as f64)).sum::<f64>().sqrt();
    let want = reference["grad_global_norm (of total_official_weights)"].as_f64().unwrap();
    assert!((norm - want).abs() <= 1e-4 * want, "{fx}: global gradient norm {norm} vs {want}");
    // Every per-parameter gradient norm recorded by the fixture matches too.
    for (param, want) in reference["grad_norms"].as_object().unwrap() {
        let Some(want) = want.as_f64() else { continue };
        let got =
            collector.out.get(param).map(|g| g.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()).unwrap_or(0.0);
        // Mathematically-zero gradients (key biases under softmax) are rounding noise of ~1e-9 of the global
        // norm in both implementations: judged against that floor.
        assert!((got - want).abs() <= 1e-4 * want + 1e-8 * norm, "{fx}: {param}: gradient norm {got} vs {want}");
    }
}

/// DETR's model, inputs and targets (`tests/fixtures/detr_tiny`) on `device`.
fn detr_setup(
    device: &Device,
) -> (ConditionalDetr, Tensor<4>, PixelMask, Vec<TargetBoxes>, HashMap<String, RefTensor>) {
    let dir = fixtures().join("detr_tiny");
    let config =
        ConditionalDetrConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap(), "config.json")
            .unwrap();
    let ckpt = read_checkpoint_file(&dir.join("model.safetensors")).unwrap();
    let model = load_model_with_dropout(&config, &ckpt, DropoutRates::new().with_dropout(0.0), device).unwrap();
    let refs = fixture_tensors_of("detr_tiny");
    let (pixel_values, mask, targets) = batch_of(&refs, device);
    (model, pixel_values, mask, targets, refs)
}

/// `aux_reference.safetensors` and `aux_reference.json` of the DETR fixture (made by `make_aux_reference.py`).
fn detr_aux_reference() -> (HashMap<String, RefTensor>, serde_json::Value) {
    let json = std::fs::read_to_string(fixtures().join("detr_tiny/aux_reference.json")).unwrap();
    (detr_aux_tensors(), serde_json::from_str(&json).unwrap())
}

fn indices(v: &serde_json::Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// DETR's matcher (class cost −softmax probability, 1 / 5 / 2) against HF `HungarianMatcher`: the cost
/// matrices of the last and the auxiliary layer from the reference predictions (1e-5 relative), and the
/// matchings, from the reference predictions and from this crate's forward pass.
#[test]
fn detr_cost_matrices_and_matchings_equal_reference() {
    let (model, pixel_values, mask, targets, refs) = detr_setup(&Device::flex());
    let (aux_refs, aux_json) = detr_aux_reference();
    let costs = DetrCriterion::default().matcher;
    for (key, logits, boxes) in [
        ("final", &refs["outputs.logits"], &refs["outputs.pred_boxes"]),
        ("aux.0", &aux_refs["outputs.aux.0.logits"], &aux_refs["outputs.aux.0.pred_boxes"]),
    ] {
        let reference = &aux_refs[&format!("matcher.cost_matrix.{key}")];
        let [nq, row, total_targets] = [logits.shape[1], logits.shape[2], reference.shape[2]];
        let (logits, boxes) = (logits.f32(), boxes.f32());
        let mut col = 0;
        for (img, target) in targets.iter().enumerate() {
            let (l, b) = (&logits[img * nq * row..(img + 1) * nq * row], &boxes[img * nq * 4..(img + 1) * nq * 4]);
            let m = cost_matrix_with(l, b, row, target, costs, ClassCost::Softmax).unwrap();
            let nt = target.labels.len();
            let want: Vec<f64> = (0..nq)
                .flat_map(|q| (col..col + nt).map(move |t| (q, t)))
                .map(|(q, t)| reference.values[(img * nq + q) * total_targets + t])
                .collect();
            assert_close(&format!("detr: cost matrix {key} image {img}"), &m, &want, 1e-5);
            col += nt;
            let matching = match_image_with(l, b, row, target, costs, ClassCost::Softmax).unwrap();
            let want = &aux_json["matchings"][key][img];
            assert_eq!(
                matching.query_idx,
                indices(&want["query_idx"]),
                "detr: {key} image {img} (reference predictions)"
            );
            assert_eq!(
                matching.target_idx,
                indices(&want["target_idx"]),
                "detr: {key} image {img} (reference predictions)"
            );
        }
    }
    // This crate's predictions give the same matchings (the criterion orders them aux.0, final).
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: false });
    let loss = pollster::block_on(DetrCriterion::default().loss(&out, &targets)).unwrap();
    for (layer, key) in ["aux.0", "final"].iter().enumerate() {
        for (img, m) in loss.matchings[layer].iter().enumerate() {
            let want = &aux_json["matchings"][key][img];
            assert_eq!(m.query_idx, indices(&want["query_idx"]), "detr: {key} image {img}");
            assert_eq!(m.target_idx, indices(&want["target_idx"]), "detr: {key} image {img}");
        }
    }
}

fn assert_loss_dict(label: &str, loss: &cdetr::criterion::LossOutput, reference: &serde_json::Value, total: f64) {
    let mut compared = 0;
    for (name, value) in &loss.components {
        let want = reference[name].as_f64().unwrap_or_else(|| panic!("{label}: {name} not in the reference"));
        let got = scalar(value);
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{label}: {name}: {got} vs {want} (1e-5 relative)");
        compared += 1;
    }
    for (name, value) in &loss.cardinality {
        assert_eq!(*value as f64, reference[name].as_f64().unwrap(), "{label}: {name}");
        compared += 1;
    }
    // Every term of the reference dict was computed.
    assert_eq!(compared, reference.as_object().unwrap().len(), "{label}: terms");
    let got = scalar(&loss.total);
    assert!((got - total).abs() <= 1e-5 * total, "{label}: total {got} vs {total}");
}

/// DETR's loss (softmax cross-entropy with eos_coefficient 0.1, L1, GIoU; weights 1 / 5 / 2) against HF's
/// `loss_dict`: from the reference predictions and from this crate's forward pass (the fixture's dict,
/// without auxiliary outputs as its config says), and with the auxiliary layer (`aux_reference.json`);
/// the loss back-propagates.
#[test]
fn detr_losses_equal_reference() {
    let device = Device::flex().autodiff();
    let (model, pixel_values, mask, targets, refs) = detr_setup(&device);
    let json = fixture_json_of("detr_tiny");
    let criterion = DetrCriterion::default();
    let config = ConditionalDetrConfig::from_json(
        &std::fs::read_to_string(fixtures().join("detr_tiny/config.json")).unwrap(),
        "config.json",
    )
    .unwrap();
    assert_eq!(DetrCriterion::from_config(&config).eos_coefficient, criterion.eos_coefficient);
    let reference = &json["loss"]["loss_dict"];
    let total = json["loss"]["total"].as_f64().unwrap();

    // The reference's own predictions: the loss alone.
    let tensor = |name: &str| {
        let t = &refs[name];
        Tensor::<3>::from_data(TensorData::new(t.f32(), t.shape.clone()), &device)
    };
    let head = HeadOutput { logits: tensor("outputs.logits"), pred_boxes: tensor("outputs.pred_boxes") };
    let given = DetrOutput { last: head, aux: vec![], reference_points: None, no_object: true, attention: None };
    assert_loss_dict(
        "detr (reference predictions)",
        &pollster::block_on(criterion.loss(&given, &targets)).unwrap(),
        reference,
        total,
    );

    let out = model.forward(pixel_values.clone(), &mask, ForwardOptions::default());
    assert_loss_dict("detr", &pollster::block_on(criterion.loss(&out, &targets)).unwrap(), reference, total);

    let (_, aux_json) = detr_aux_reference();
    let with_aux = &aux_json["loss_with_aux"];
    let out = model.forward(pixel_values, &mask, ForwardOptions { aux: true, attention_maps: false });
    let loss = pollster::block_on(criterion.loss(&out, &targets)).unwrap();
    assert_loss_dict("detr with aux", &loss, &with_aux["loss_dict"], with_aux["total"].as_f64().unwrap());
    let grads = loss.total.backward();
    let grad = model.class_labels_classifier.weight.val().grad(&grads).expect("the class head gets a gradient");
    let grad = grad.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    assert!(grad.iter().all(|g| g.is_finite()) && grad.iter().any(|&g| g != 0.0));

    // Each loss refuses the other model's predictions.
    let err = pollster::block_on(SetCriterion::default().loss(&out, &targets)).err().unwrap().to_string();
    assert!(err.contains("DETR"), "{err}");
}
