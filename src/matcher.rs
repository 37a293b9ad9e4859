//! Hungarian matching of predictions to targets (official `models/matcher.py` `HungarianMatcher`, focal
//! variant; HF `DeformableDetrHungarianMatcher`; and DETR's, HF `HungarianMatcher`).
//!
//! Cost of assigning query `q` to target `t`:
//! `class_cost · c(q, t) + bbox_cost · ‖b_q − b_t‖₁ − giou_cost · GIoU(b_q, b_t)`, boxes normalised
//! `(cx, cy, w, h)`, where the class term [`ClassCost`] is
//! - focal (Conditional DETR): `c = pos(p) − neg(p)` with `p = σ(logit[q, class_t])`,
//!   `pos = α(1−p)^γ · −log(p + 1e-8)`, `neg = (1−α)p^γ · −log(1−p + 1e-8)`, α = 0.25, γ = 2;
//! - softmax (DETR): `c = −p` with `p = softmax(logits[q])[class_t]` over the classes and the no-object
//!   column (the official approximation of the NLL; the constant 1 of `1 − p` is left out).
//!
//! The costs are computed on the host from predictions read back asynchronously, and the assignment is
//! solved by `pathfinding`'s Kuhn–Munkres on integer costs (the float costs scaled so that their sum cannot
//! overflow).

use pathfinding::prelude::{Matrix, kuhn_munkres_min};

use crate::box_ops::cxcywh_to_xyxy_host;
use crate::data::TargetBoxes;

/// Weights of the three matching costs (official `set_cost_class`, `set_cost_bbox`, `set_cost_giou`; the
/// default 2 / 5 / 2 is the one set of defaults, which the hub `config.json` defaults also take).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatcherCosts {
    pub class: f32,
    pub bbox: f32,
    pub giou: f32,
}

impl MatcherCosts {
    /// The costs of a model configuration (`class_cost`, `bbox_cost`, `giou_cost`).
    pub fn from_config(config: &crate::config::ConditionalDetrConfig) -> Self {
        Self { class: config.class_cost as f32, bbox: config.bbox_cost as f32, giou: config.giou_cost as f32 }
    }
}

impl Default for MatcherCosts {
    fn default() -> Self {
        Self { class: 2.0, bbox: 5.0, giou: 2.0 }
    }
}

/// How the class term of the cost is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClassCost {
    /// Sigmoid focal cost over `C` logits per query (Conditional DETR).
    #[default]
    Focal,
    /// `−softmax` probability over `C + 1` logits per query, the last the no-object class (DETR).
    Softmax,
}

/// Focal-loss α and γ of the class cost (fixed in the reference matcher).
const ALPHA: f32 = 0.25;
const GAMMA: i32 = 2;

/// Why a matching could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchError {
    #[error("the matching cost is not a finite number (NaN or infinite predictions; the training has diverged)")]
    NonFinite,
    #[error("a target has class {class} but the model has only {num_labels} classes")]
    ClassOutOfRange { class: usize, num_labels: usize },
}

/// Predicted indices matched to target indices, sorted by query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matching {
    pub query_idx: Vec<usize>,
    pub target_idx: Vec<usize>,
}

/// Generalised IoU of two `(x0, y0, x1, y1)` boxes.
pub fn giou_host(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area = |x: [f32; 4]| (x[2] - x[0]) * (x[3] - x[1]);
    let (area_a, area_b) = (area(a), area(b));
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area_a + area_b - inter;
    let iou = inter / union;
    let hw = (a[2].max(b[2]) - a[0].min(b[0])).max(0.0);
    let hh = (a[3].max(b[3]) - a[1].min(b[1])).max(0.0);
    let hull = hw * hh;
    iou - (hull - union) / hull
}

/// The `[nq, n_targets]` cost matrix of one image (row-major), focal class cost.
///
/// `logits`: `[nq, C]`, `boxes`: `[nq, 4]` of that image.
pub fn cost_matrix(
    logits: &[f32],
    boxes: &[f32],
    num_labels: usize,
    target: &TargetBoxes,
    costs: MatcherCosts,
) -> Result<Vec<f32>, MatchError> {
    cost_matrix_with(logits, boxes, num_labels, target, costs, ClassCost::Focal)
}

/// The `[nq, n_targets]` cost matrix of one image (row-major) with the given class cost.
///
/// `logits`: `[nq, row]` (`row` = `C`, or `C + 1` for [`ClassCost::Softmax`]), `boxes`: `[nq, 4]`.
pub fn cost_matrix_with(
    logits: &[f32],
    boxes: &[f32],
    row: usize,
    target: &TargetBoxes,
    costs: MatcherCosts,
    class_cost: ClassCost,
) -> Result<Vec<f32>, MatchError> {
    let nq = boxes.len() / 4;
    let nt = target.labels.len();
    let num_labels = match class_cost {
        ClassCost::Focal => row,
        ClassCost::Softmax => row.saturating_sub(1),
    };
    if let Some(&class) = target.labels.iter().find(|&&c| c >= num_labels) {
        return Err(MatchError::ClassOutOfRange { class, num_labels });
    }
    let target_xyxy: Vec<[f32; 4]> = target.boxes_cxcywh.iter().map(|&b| cxcywh_to_xyxy_host(b)).collect();
    let mut out = Vec::with_capacity(nq * nt);
    for q in 0..nq {
        let pb = [boxes[4 * q], boxes[4 * q + 1], boxes[4 * q + 2], boxes[4 * q + 3]];
        let pb_xyxy = cxcywh_to_xyxy_host(pb);
        let logits = &logits[q * row..(q + 1) * row];
        let probs = (class_cost == ClassCost::Softmax).then(|| softmax(logits));
        for t in 0..nt {
            let class = match &probs {
                Some(p) => -p[target.labels[t]],
                None => {
                    let p = 1.0 / (1.0 + (-logits[target.labels[t]]).exp());
                    let neg = (1.0 - ALPHA) * p.powi(GAMMA) * -((1.0 - p + 1e-8).ln());
                    let pos = ALPHA * (1.0 - p).powi(GAMMA) * -((p + 1e-8).ln());
                    pos - neg
                }
            };
            let tb = target.boxes_cxcywh[t];
            let l1 = (pb[0] - tb[0]).abs() + (pb[1] - tb[1]).abs() + (pb[2] - tb[2]).abs() + (pb[3] - tb[3]).abs();
            let giou = giou_host(pb_xyxy, target_xyxy[t]);
            let c = costs.bbox * l1 + costs.class * class + costs.giou * -giou;
            if !c.is_finite() {
                return Err(MatchError::NonFinite);
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// Softmax of one row of logits.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = row.iter().map(|&x| (x - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

/// Minimum-cost assignment of a `rows × cols` cost matrix: `min(rows, cols)` (row, col) pairs sorted by row.
pub fn linear_sum_assignment(costs: &[f32], rows: usize, cols: usize) -> Result<Vec<(usize, usize)>, MatchError> {
    if rows == 0 || cols == 0 {
        return Ok(Vec::new());
    }
    if costs.iter().any(|c| !c.is_finite()) {
        return Err(MatchError::NonFinite);
    }
    // Kuhn–Munkres wants rows <= cols: transpose when there are more rows.
    let transposed = rows > cols;
    let (r, c) = if transposed { (cols, rows) } else { (rows, cols) };
    let max_abs = costs.iter().fold(0f64, |m, &x| m.max(x.abs() as f64)).max(1e-30);
    // Integer costs: as fine as possible while r · max|cost| · scale stays far below i64::MAX.
    let scale = (1e17 / (max_abs * (r as f64 + 1.0))).min(1e12);
    let mut data = Vec::with_capacity(r * c);
    for i in 0..r {
        for j in 0..c {
            let v = if transposed { costs[j * cols + i] } else { costs[i * cols + j] };
            data.push((v as f64 * scale).round() as i64);
        }
    }
    let matrix = Matrix::from_vec(r, c, data).expect("r × c values");
    let (_, assignment) = kuhn_munkres_min(&matrix);
    let mut pairs: Vec<(usize, usize)> =
        assignment.into_iter().enumerate().map(|(i, j)| if transposed { (j, i) } else { (i, j) }).collect();
    pairs.sort_unstable();
    Ok(pairs)
}

/// Matches one image's predictions (`[nq, C]` logits, `[nq, 4]` boxes) to its targets (focal class cost).
pub fn match_image(
    logits: &[f32],
    boxes: &[f32],
    num_labels: usize,
    target: &TargetBoxes,
    costs: MatcherCosts,
) -> Result<Matching, MatchError> {
    match_image_with(logits, boxes, num_labels, target, costs, ClassCost::Focal)
}

/// Matches one image's predictions (`[nq, row]` logits, `[nq, 4]` boxes) to its targets with the given
/// class cost (see [`cost_matrix_with`]).
pub fn match_image_with(
    logits: &[f32],
    boxes: &[f32],
    row: usize,
    target: &TargetBoxes,
    costs: MatcherCosts,
    class_cost: ClassCost,
) -> Result<Matching, MatchError> {
    let nq = boxes.len() / 4;
    let matrix = cost_matrix_with(logits, boxes, row, target, costs, class_cost)?;
    let pairs = linear_sum_assignment(&matrix, nq, target.labels.len())?;
    Ok(Matching { query_idx: pairs.iter().map(|p| p.0).collect(), target_idx: pairs.iter().map(|p| p.1).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_optimal_and_handles_rectangles() {
        // 3 queries × 2 targets: best is q2→t0 (1), q0→t1 (2).
        let c = [5.0, 2.0, 4.0, 6.0, 1.0, 7.0];
        assert_eq!(linear_sum_assignment(&c, 3, 2).unwrap(), vec![(0, 1), (2, 0)]);
        // 2 queries × 3 targets (more targets than queries).
        let c = [5.0, 2.0, 4.0, 6.0, 1.0, 7.0];
        assert_eq!(linear_sum_assignment(&c, 2, 3).unwrap(), vec![(0, 2), (1, 1)]);
        assert_eq!(linear_sum_assignment(&[], 0, 3).unwrap(), vec![]);
        assert_eq!(linear_sum_assignment(&[f32::NAN, 1.0], 1, 2), Err(MatchError::NonFinite));
    }

    #[test]
    fn giou_of_identical_and_disjoint_boxes() {
        assert!((giou_host([0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]) - 1.0).abs() < 1e-6);
        let g = giou_host([0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0]);
        assert!((g - (0.0 - (3.0 - 2.0) / 3.0)).abs() < 1e-6);
    }
}
