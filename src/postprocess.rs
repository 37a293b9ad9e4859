//! Post-processing of raw predictions into detections, as Hugging Face `post_process_object_detection`:
//! - Conditional DETR (`ConditionalDetrImageProcessor`): sigmoid scores, top-k = min(k, queries × classes)
//!   over all (query, class) pairs, so one query may give several detections;
//! - DETR (`DetrImageProcessor`, official `PostProcess`): softmax over the classes and the no-object
//!   class, each query's best class other than no-object, so at most one detection per query and no top-k
//!   over (query, class) pairs; transformers lists them in query order, here they are sorted by score
//!   (ties by query) like Conditional DETR's, and `top_k` caps their number (no effect at the default 100
//!   ≥ DETR's 100 queries).
//!
//! Both then turn boxes into corners scaled to the original image and keep scores strictly above the
//! threshold. Works on host data (the forward's outputs read back asynchronously), so it runs unchanged in
//! the browser. Each detection also carries its query index and, for a model with reference points, the
//! query's reference point in pixels: DETR has none, and its detections have no `reference_point` field
//! (absent from the JSON; `None` here).

use serde::{Deserialize, Serialize};

use crate::box_ops::cxcywh_to_xyxy_host;
use crate::matcher::softmax;

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class index (the model's `id2label` key).
    pub label: usize,
    pub label_name: String,
    pub score: f32,
    /// `(x0, y0, x1, y1)` in pixels of the original image.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The decoder query that produced it.
    pub query: usize,
    /// The query's reference point `s` `(x, y)` in pixels; `None` (absent from the JSON) for DETR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_point: Option<[f32; 2]>,
}

/// Raw predictions of a batch, copied to the host.
#[derive(Debug, Clone)]
pub struct RawPredictions {
    pub batch: usize,
    pub num_queries: usize,
    /// Width of a logit row: the number of classes `C`, plus one with [`no_object`](Self::no_object).
    pub num_labels: usize,
    /// `[B, nq, C]` logits (`[B, nq, C + 1]` with [`no_object`](Self::no_object)).
    pub logits: Vec<f32>,
    /// `[B, nq, 4]` normalised `(cx, cy, w, h)`.
    pub boxes: Vec<f32>,
    /// `[B, nq, 2]` normalised reference points `(x, y)`, for a model that has them.
    pub reference_points: Option<Vec<f32>>,
    /// The logits end with DETR's no-object class: softmax scoring, one detection per query.
    pub no_object: bool,
}

/// Post-processing settings.
#[derive(Debug, Clone, Copy)]
pub struct PostProcessOptions {
    /// Keep detections whose score is strictly above this.
    pub threshold: f32,
    /// Number of (query, class) pairs considered per image (HF default 100); for DETR the number of
    /// detections kept per image, highest scores first.
    pub top_k: usize,
}

impl Default for PostProcessOptions {
    fn default() -> Self {
        Self { threshold: 0.5, top_k: 100 }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Detections per image; `sizes` are the original `(height, width)` of each image.
pub fn post_process(
    raw: &RawPredictions,
    sizes: &[(usize, usize)],
    labels: &[String],
    options: PostProcessOptions,
) -> Vec<Vec<Detection>> {
    (0..raw.batch)
        .map(|b| {
            let candidates =
                if raw.no_object { best_class_per_query(raw, b) } else { top_pairs(raw, b, options.top_k) };
            let (h, w) = sizes.get(b).map(|&(h, w)| (h as f32, w as f32)).unwrap_or((1.0, 1.0));
            candidates
                .into_iter()
                .take(options.top_k)
                .filter(|&(_, _, score)| !score.is_nan() && score > options.threshold)
                .map(|(query, label, score)| {
                    let bi = (b * raw.num_queries + query) * 4;
                    let cxcywh = [raw.boxes[bi], raw.boxes[bi + 1], raw.boxes[bi + 2], raw.boxes[bi + 3]];
                    let xyxy = cxcywh_to_xyxy_host(cxcywh);
                    let ri = (b * raw.num_queries + query) * 2;
                    Detection {
                        label,
                        label_name: labels.get(label).cloned().unwrap_or_else(|| format!("LABEL_{label}")),
                        score,
                        bbox: [xyxy[0] * w, xyxy[1] * h, xyxy[2] * w, xyxy[3] * h],
                        query,
                        reference_point: raw.reference_points.as_ref().map(|r| [r[ri] * w, r[ri + 1] * h]),
                    }
                })
                .collect()
        })
        .collect()
}

/// Conditional DETR: the `min(k, nq·C)` best (query, class) pairs of image `b` by sigmoid score, best first.
fn top_pairs(raw: &RawPredictions, b: usize, top_k: usize) -> Vec<(usize, usize, f32)> {
    let (nq, c) = (raw.num_queries, raw.num_labels);
    let logits = &raw.logits[b * nq * c..(b + 1) * nq * c];
    let mut order: Vec<usize> = (0..nq * c).collect();
    // Sorting the logits orders the scores without sigmoid saturation ties; equal logits keep index order.
    order.sort_by(|&i, &j| logits[j].total_cmp(&logits[i]).then(i.cmp(&j)));
    order.into_iter().take(top_k.min(nq * c)).map(|flat| (flat / c, flat % c, sigmoid(logits[flat]))).collect()
}

/// DETR: each query of image `b` with its best class other than no-object and that class's softmax
/// probability (over all `C + 1` columns), best first (ties by query).
fn best_class_per_query(raw: &RawPredictions, b: usize) -> Vec<(usize, usize, f32)> {
    let (nq, width) = (raw.num_queries, raw.num_labels);
    let mut out: Vec<(usize, usize, f32)> = (0..nq)
        .map(|q| {
            let probs = softmax(&raw.logits[(b * nq + q) * width..(b * nq + q + 1) * width]);
            // The first of equal best classes, as torch's `max`.
            let best = (0..width - 1).fold(0, |best, k| if probs[k] > probs[best] { k } else { best });
            (q, best, probs[best])
        })
        .collect();
    out.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    out
}

/// Copies a forward pass's last-layer predictions to the host without blocking (works on WebGPU), in
/// one transfer.
pub async fn read_predictions(
    output: &crate::model::DetrOutput,
) -> Result<RawPredictions, crate::readback::ReadbackError> {
    use burn::tensor::Tensor;
    let [batch, num_queries, num_labels] = output.last.logits.dims();
    let flat = |t: &Tensor<3>| {
        let n: usize = t.dims().iter().product();
        t.clone().reshape([n])
    };
    let mut parts = vec![flat(&output.last.logits), flat(&output.last.pred_boxes)];
    parts.extend(output.reference_points.as_ref().map(flat));
    let values = crate::readback::read_floats(Tensor::cat(parts, 0), "predictions").await?;
    let (nl, nb) = (batch * num_queries * num_labels, batch * num_queries * 4);
    let part = |range: std::ops::Range<usize>| values.get(range).map(<[f32]>::to_vec).unwrap_or_default();
    Ok(RawPredictions {
        batch,
        num_queries,
        num_labels,
        logits: part(0..nl),
        boxes: part(nl..nl + nb),
        reference_points: output.reference_points.as_ref().map(|_| part(nl + nb..nl + nb + batch * num_queries * 2)),
        no_object: output.no_object,
    })
}
