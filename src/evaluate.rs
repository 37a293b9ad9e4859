//! Evaluating a model on labelled images, the loop the CLI's `eval` and the page's validation share: run
//! the model on every image (top 100 detections, no threshold, as the official `engine.py` `evaluate`
//! with `PostProcess`), then COCO AP ([`crate::eval`], equal to pycocotools) and the diagnostics of
//! `cdetr eval --json` (per class, confusion matrix, the images with the most errors).

use burn::tensor::Device;
use serde::Serialize;

use crate::data::BoxAnnotation;
use crate::eval::{
    ClassMetrics, ConfusionMatrix, ConfusionOptions, Detection, EvalError, Evaluation, GroundTruth, confusion_matrix,
    evaluate_detailed,
};
use crate::model::ForwardOptions;
use crate::model::inference::InferenceModel;
use crate::model::nested_tensor::NestedTensor;
use crate::postprocess::{PostProcessOptions, post_process, read_predictions};
use crate::preprocess::{ResizeMode, preprocess};
use crate::readback::ReadbackError;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{0}")]
    Readback(#[from] ReadbackError),
    #[error("{0}")]
    Eval(#[from] EvalError),
}

/// A COCO ground truth from a pixel box (`xyxy`; area `w · h`, not crowd).
pub fn ground_truth_of_box(image_id: u64, category_id: u64, bbox: [f32; 4]) -> GroundTruth {
    let [x0, y0, x1, y1] = bbox.map(f64::from);
    GroundTruth { image_id, category_id, bbox: [x0, y0, x1 - x0, y1 - y0], area: (x1 - x0) * (y1 - y0), iscrowd: false }
}

/// Ground truth of images labelled with model class ids (image ids are the indices).
pub fn ground_truth_of_boxes(boxes: &[Vec<BoxAnnotation>]) -> Vec<GroundTruth> {
    boxes
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter().map(move |a| ground_truth_of_box(i as u64, a.class_id as u64, a.bbox)))
        .collect()
}

/// What to evaluate: images, their ground truth (`image_id` = index into `images`, `category_id` = model
/// label index) and the model label indices that are scored.
pub struct EvalSet<'a> {
    pub images: &'a [image::RgbImage],
    pub ground_truth: Vec<GroundTruth>,
    pub categories: Vec<u64>,
}

/// Ground truth and detections of an [`EvalSet`], as the evaluator takes them.
#[derive(Debug, Clone)]
pub struct ModelEvaluation {
    pub image_ids: Vec<u64>,
    pub categories: Vec<u64>,
    pub gts: Vec<GroundTruth>,
    pub dets: Vec<Detection>,
}

/// One class of the diagnostics: its name beside its numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    pub name: String,
    #[serde(flatten)]
    pub metrics: ClassMetrics,
}

/// Runs `model` on every image of `set` at `resize` and gathers the ground truth and the detections.
pub async fn evaluate_model(
    model: &InferenceModel,
    set: EvalSet<'_>,
    labels: &[String],
    resize: ResizeMode,
    device: &Device,
) -> Result<ModelEvaluation, EvaluateError> {
    let mut dets = Vec::new();
    for (i, img) in set.images.iter().enumerate() {
        let batch = preprocess(std::slice::from_ref(img), resize);
        let input = NestedTensor::from_batch(&batch, device);
        let out = model.forward(input.tensors, &input.mask, ForwardOptions::default());
        let raw = read_predictions(&out).await?;
        let found = post_process(
            &raw,
            &[(img.height() as usize, img.width() as usize)],
            labels,
            PostProcessOptions { threshold: 0.0, top_k: 100 },
        );
        dets.extend(found.into_iter().flatten().map(|d| {
            let [x0, y0, x1, y1] = d.bbox.map(f64::from);
            Detection {
                image_id: i as u64,
                category_id: d.label as u64,
                bbox: [x0, y0, x1 - x0, y1 - y0],
                score: d.score as f64,
            }
        }));
    }
    let mut categories = set.categories;
    categories.sort_unstable();
    categories.dedup();
    Ok(ModelEvaluation { image_ids: (0..set.images.len() as u64).collect(), categories, gts: set.ground_truth, dets })
}

impl ModelEvaluation {
    /// COCO's accumulated precision / recall (`summarize()` gives the twelve numbers, `per_class()` the table).
    pub fn metrics(&self) -> Result<Evaluation, EvalError> {
        evaluate_detailed(&self.image_ids, &self.categories, &self.gts, &self.dets)
    }

    /// The confusion matrix and per-image errors at `options`.
    pub fn confusion(&self, options: ConfusionOptions) -> Result<ConfusionMatrix, EvalError> {
        confusion_matrix(&self.image_ids, &self.categories, &self.gts, &self.dets, options)
    }
}

/// The per-class table with names (`labels[category_id]`, the id where there is no such label).
pub fn class_reports(metrics: &Evaluation, labels: &[String]) -> Vec<ClassReport> {
    metrics
        .per_class()
        .into_iter()
        .map(|m| ClassReport { name: label_name(labels, m.category_id), metrics: m })
        .collect()
}

/// Row / column names of a confusion matrix: its classes, then `background`.
pub fn confusion_labels(confusion: &ConfusionMatrix, labels: &[String]) -> Vec<String> {
    confusion.category_ids.iter().map(|&id| label_name(labels, id)).chain(["background".into()]).collect()
}

fn label_name(labels: &[String], id: u64) -> String {
    labels.get(id as usize).cloned().unwrap_or_else(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ground_truth_of_boxes_is_coco_xywh_with_index_ids() {
        let boxes = vec![
            vec![BoxAnnotation { class_id: 2, bbox: [1.0, 2.0, 4.0, 6.0] }],
            vec![],
            vec![BoxAnnotation { class_id: 0, bbox: [0.0, 0.0, 2.0, 3.0] }],
        ];
        let gts = ground_truth_of_boxes(&boxes);
        assert_eq!(gts.len(), 2);
        assert_eq!((gts[0].image_id, gts[0].category_id, gts[0].bbox, gts[0].area), (0, 2, [1.0, 2.0, 3.0, 4.0], 12.0));
        assert_eq!((gts[1].image_id, gts[1].category_id, gts[1].area, gts[1].iscrowd), (2, 0, 6.0, false));
    }
}
