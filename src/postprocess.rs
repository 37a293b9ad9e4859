//! Post-processing of raw predictions into detections, as Hugging Face `post_process_object_detection`
//! for Conditional DETR: sigmoid scores, top-k = min(k, queries × classes) over all (query, class) pairs,
//! boxes to corners scaled to the original image, scores strictly above the threshold.
//!
//! Works on host data (the forward's outputs read back asynchronously), so it runs unchanged in the
//! browser. Each detection also carries its query index and the query's reference point in pixels.

use serde::{Deserialize, Serialize};

use crate::box_ops::cxcywh_to_xyxy_host;

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
    /// The query's reference point `s` `(x, y)` in pixels.
    pub reference_point: [f32; 2],
}

/// Raw predictions of a batch, copied to the host.
#[derive(Debug, Clone)]
pub struct RawPredictions {
    pub batch: usize,
    pub num_queries: usize,
    pub num_labels: usize,
    /// `[B, nq, C]` logits.
    pub logits: Vec<f32>,
    /// `[B, nq, 4]` normalised `(cx, cy, w, h)`.
    pub boxes: Vec<f32>,
    /// `[B, nq, 2]` normalised reference points `(x, y)`.
    pub reference_points: Vec<f32>,
}

/// Post-processing settings.
#[derive(Debug, Clone, Copy)]
pub struct PostProcessOptions {
    /// Keep detections whose score is strictly above this.
    pub threshold: f32,
    /// Number of (query, class) pairs considered per image (HF default 100).
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
    let (nq, c) = (raw.num_queries, raw.num_labels);
    let k = options.top_k.min(nq * c);
    (0..raw.batch)
        .map(|b| {
            let logits = &raw.logits[b * nq * c..(b + 1) * nq * c];
            let mut order: Vec<usize> = (0..nq * c).collect();
            // Sorting the logits orders the scores without sigmoid saturation ties; equal logits keep index order.
            order.sort_by(|&i, &j| logits[j].total_cmp(&logits[i]).then(i.cmp(&j)));
            let (h, w) = sizes.get(b).map(|&(h, w)| (h as f32, w as f32)).unwrap_or((1.0, 1.0));
            order
                .into_iter()
                .take(k)
                .filter_map(|flat| {
                    let score = sigmoid(logits[flat]);
                    if score.is_nan() || score <= options.threshold {
                        return None;
                    }
                    let (query, label) = (flat / c, flat % c);
                    let bi = (b * nq + query) * 4;
                    let cxcywh = [raw.boxes[bi], raw.boxes[bi + 1], raw.boxes[bi + 2], raw.boxes[bi + 3]];
                    let xyxy = cxcywh_to_xyxy_host(cxcywh);
                    let ri = (b * nq + query) * 2;
                    Some(Detection {
                        label,
                        label_name: labels.get(label).cloned().unwrap_or_else(|| format!("LABEL_{label}")),
                        score,
                        bbox: [xyxy[0] * w, xyxy[1] * h, xyxy[2] * w, xyxy[3] * h],
                        query,
                        reference_point: [raw.reference_points[ri] * w, raw.reference_points[ri + 1] * h],
                    })
                })
                .collect()
        })
        .collect()
}

/// Copies a forward pass's last-layer predictions to the host without blocking (works on WebGPU), in
/// one transfer.
pub async fn read_predictions(
    output: &crate::model::DetrOutput,
) -> Result<RawPredictions, burn::tensor::ExecutionError> {
    use burn::tensor::Tensor;
    let [batch, num_queries, num_labels] = output.last.logits.dims();
    let flat = |t: &Tensor<3>| {
        let n: usize = t.dims().iter().product();
        t.clone().reshape([n])
    };
    let all =
        Tensor::cat(vec![flat(&output.last.logits), flat(&output.last.pred_boxes), flat(&output.reference_points)], 0);
    let values = all.into_data_async().await?.convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
    let (nl, nb) = (batch * num_queries * num_labels, batch * num_queries * 4);
    let part = |range: std::ops::Range<usize>| values.get(range).map(<[f32]>::to_vec).unwrap_or_default();
    Ok(RawPredictions {
        batch,
        num_queries,
        num_labels,
        logits: part(0..nl),
        boxes: part(nl..nl + nb),
        reference_points: part(nl + nb..nl + nb + batch * num_queries * 2),
    })
}
