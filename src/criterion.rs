//! The set-prediction loss (official `models/conditional_detr.py` `SetCriterion`, focal variant), and
//! DETR's ([`DetrCriterion`]: official facebookresearch/detr `models/detr.py` `SetCriterion`; HF
//! `ImageLoss`).
//!
//! Per decoder layer: Hungarian-match queries to targets ([`crate::matcher`]), then
//! - `loss_ce`: sigmoid focal loss (α = 0.25, γ = 2) of all `[B, nq, C]` logits against one-hot targets of
//!   the matched queries, summed and divided by the number of target boxes;
//! - `loss_bbox`: L1 distance of matched normalised `(cx, cy, w, h)` boxes / number of boxes;
//! - `loss_giou`: `1 − GIoU` of matched boxes / number of boxes;
//!
//! and the total `Σ_layers w_ce·loss_ce + w_bbox·loss_bbox + w_giou·loss_giou` (official weights 2 / 5 / 2;
//! HF's training loss uses 1 for `loss_ce`, see the fixture notes). Auxiliary layers carry the suffix
//! `_i`. `cardinality_error` (|#queries whose argmax is not the last class − #targets|, averaged) is
//! logged, never weighted, like the reference.
//!
//! DETR differs only in the class terms: `loss_ce` is the softmax cross-entropy over the `C` classes and
//! the no-object class, every unmatched query's target being no-object, weighted per query by 1 (matched)
//! or `eos_coefficient` (0.1, unmatched) and divided by the sum of those weights (PyTorch's weighted
//! mean); the matcher's class cost is `−softmax(logits)[class]`. Weights 1 / 5 / 2, matcher 1 / 5 / 2.

use burn::tensor::activation::{log_softmax, relu, sigmoid};
use burn::tensor::{Int, Tensor, TensorData};

use crate::box_ops::{cxcywh_to_xyxy, paired_generalized_box_iou};
use crate::config::ConditionalDetrConfig;
use crate::data::TargetBoxes;
use crate::matcher::{ClassCost, MatchError, MatcherCosts, Matching, match_image_with};
use crate::model::{DetrOutput, HeadOutput};

/// Weights of the loss terms (official `cls_loss_coef`, `bbox_loss_coef`, `giou_loss_coef`; the default
/// 2 / 5 / 2 is the one set of defaults, which the hub `config.json` defaults also take).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    pub ce: f32,
    pub bbox: f32,
    pub giou: f32,
}

impl LossWeights {
    /// The weights of a model configuration (`cls_loss_coefficient`, `bbox_loss_coefficient`,
    /// `giou_loss_coefficient`).
    pub fn from_config(config: &ConditionalDetrConfig) -> Self {
        Self {
            ce: config.cls_loss_coefficient as f32,
            bbox: config.bbox_loss_coefficient as f32,
            giou: config.giou_loss_coefficient as f32,
        }
    }
}

impl Default for LossWeights {
    fn default() -> Self {
        Self { ce: 2.0, bbox: 5.0, giou: 2.0 }
    }
}

/// Why a loss could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum CriterionError {
    #[error("{0}")]
    Match(#[from] MatchError),
    #[error("reading predictions back failed: {0}")]
    Readback(String),
    #[error("{targets} target lists for a batch of {batch} images")]
    BatchMismatch { targets: usize, batch: usize },
    #[error("{0}")]
    WrongModel(&'static str),
}

/// Matcher, loss weights and focal α.
#[derive(Debug, Clone, Copy)]
pub struct SetCriterion {
    pub matcher: MatcherCosts,
    pub weights: LossWeights,
    pub focal_alpha: f32,
}

impl Default for SetCriterion {
    fn default() -> Self {
        Self { matcher: MatcherCosts::default(), weights: LossWeights::default(), focal_alpha: 0.25 }
    }
}

/// DETR's matcher, loss weights and no-object weight.
#[derive(Debug, Clone, Copy)]
pub struct DetrCriterion {
    pub matcher: MatcherCosts,
    pub weights: LossWeights,
    /// Weight of the no-object class in `loss_ce` (official `eos_coef`).
    pub eos_coefficient: f32,
}

impl Default for DetrCriterion {
    /// The official and HF values: matcher 1 / 5 / 2, weights 1 / 5 / 2, `eos_coefficient` 0.1.
    fn default() -> Self {
        Self {
            matcher: MatcherCosts { class: 1.0, bbox: 5.0, giou: 2.0 },
            weights: LossWeights { ce: 1.0, bbox: 5.0, giou: 2.0 },
            eos_coefficient: 0.1,
        }
    }
}

impl DetrCriterion {
    /// The weights of a DETR `config.json` (`class_cost`, `bbox_cost`, `giou_cost`, the `loss_ce` weight
    /// `cls_loss_coefficient` (1: `DetrConfig` has none), `bbox_loss_coefficient`, `giou_loss_coefficient`,
    /// `eos_coefficient`).
    pub fn from_config(config: &ConditionalDetrConfig) -> Self {
        Self {
            matcher: MatcherCosts::from_config(config),
            weights: LossWeights::from_config(config),
            eos_coefficient: config.eos_coefficient() as f32,
        }
    }

    /// Computes the loss of a DETR forward pass (every layer the output holds: the auxiliary ones when the
    /// forward ran with [`crate::model::ForwardOptions::aux`]). As [`SetCriterion::loss`] otherwise.
    pub async fn loss(&self, output: &DetrOutput, targets: &[TargetBoxes]) -> Result<LossOutput, CriterionError> {
        if !output.no_object {
            return Err(CriterionError::WrongModel(
                "DETR's loss needs a DETR model (logits with a no-object column); this is Conditional DETR",
            ));
        }
        let class = ClassLoss::Softmax { eos_coefficient: self.eos_coefficient };
        set_loss(output, targets, self.matcher, self.weights, class).await
    }
}

/// The loss a model trains with: Conditional DETR's focal set criterion or DETR's softmax one.
#[derive(Debug, Clone, Copy)]
pub enum Criterion {
    Focal(SetCriterion),
    Softmax(DetrCriterion),
}

impl Criterion {
    /// Computes the loss with whichever criterion this is (see [`SetCriterion::loss`], [`DetrCriterion::loss`]).
    pub async fn loss(&self, output: &DetrOutput, targets: &[TargetBoxes]) -> Result<LossOutput, CriterionError> {
        match self {
            Self::Focal(c) => c.loss(output, targets).await,
            Self::Softmax(c) => c.loss(output, targets).await,
        }
    }
}

/// The class term of a loss.
#[derive(Debug, Clone, Copy)]
enum ClassLoss {
    /// Sigmoid focal loss (Conditional DETR).
    Focal { alpha: f32 },
    /// Weighted softmax cross-entropy with the no-object class last (DETR).
    Softmax { eos_coefficient: f32 },
}

impl ClassLoss {
    fn matching_cost(self) -> ClassCost {
        match self {
            Self::Focal { .. } => ClassCost::Focal,
            Self::Softmax { .. } => ClassCost::Softmax,
        }
    }
}

/// The loss of a batch.
pub struct LossOutput {
    /// The weighted sum to back-propagate, `[1]`.
    pub total: Tensor<1>,
    /// Unweighted components in reference naming (`loss_ce`, `loss_bbox`, `loss_giou`, `loss_ce_0`, …), `[1]` each.
    pub components: Vec<(String, Tensor<1>)>,
    /// `cardinality_error` (and `_i`), computed on the host.
    pub cardinality: Vec<(String, f32)>,
    /// Matchings per layer (auxiliary layers first, the last layer last), per image.
    pub matchings: Vec<Vec<Matching>>,
}

/// Host copy of one layer's predictions.
struct HostHead {
    logits: Vec<f32>,
    boxes: Vec<f32>,
}

/// Reads every layer's logits and boxes back in one transfer (each read-back is a round trip on WebGPU).
async fn to_host(heads: &[&HeadOutput]) -> Result<Vec<HostHead>, CriterionError> {
    let flat = |t: &Tensor<3>| {
        let n: usize = t.dims().iter().product();
        t.clone().detach().reshape([n])
    };
    let parts: Vec<Tensor<1>> = heads.iter().flat_map(|h| [flat(&h.logits), flat(&h.pred_boxes)]).collect();
    let values = Tensor::cat(parts, 0)
        .into_data_async()
        .await
        .map_err(|e| CriterionError::Readback(format!("{e:?}")))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| CriterionError::Readback(format!("{e:?}")))?;
    let mut rest = values.as_slice();
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head.to_vec()
    };
    Ok(heads
        .iter()
        .map(|h| {
            let (nl, nb) = (h.logits.dims().iter().product(), h.pred_boxes.dims().iter().product());
            HostHead { logits: take(nl), boxes: take(nb) }
        })
        .collect())
}

impl SetCriterion {
    /// Computes the loss of a forward pass run with [`crate::model::ForwardOptions::aux`] set.
    ///
    /// The predictions are read back asynchronously for matching; the returned tensors stay on the
    /// device and are differentiable.
    pub async fn loss(&self, output: &DetrOutput, targets: &[TargetBoxes]) -> Result<LossOutput, CriterionError> {
        if output.no_object {
            return Err(CriterionError::WrongModel(
                "this is a DETR model: its loss is DETR's (softmax with a no-object class), not the focal loss",
            ));
        }
        set_loss(output, targets, self.matcher, self.weights, ClassLoss::Focal { alpha: self.focal_alpha }).await
    }

    /// `(loss_ce, loss_bbox, loss_giou)` of one layer for given matchings.
    pub fn layer_losses(
        &self,
        head: &HeadOutput,
        targets: &[TargetBoxes],
        matching: &[Matching],
        num_boxes: f32,
    ) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
        layer_losses(head, targets, matching, num_boxes, ClassLoss::Focal { alpha: self.focal_alpha })
    }
}

/// Matching and losses of every layer of `output` (auxiliary layers first, suffixed `_i`).
async fn set_loss(
    output: &DetrOutput,
    targets: &[TargetBoxes],
    costs: MatcherCosts,
    weights: LossWeights,
    class: ClassLoss,
) -> Result<LossOutput, CriterionError> {
    let [b, nq, c] = output.last.logits.dims();
    if targets.len() != b {
        return Err(CriterionError::BatchMismatch { targets: targets.len(), batch: b });
    }
    let num_boxes = (targets.iter().map(|t| t.labels.len()).sum::<usize>() as f32).max(1.0);
    let layers: Vec<&HeadOutput> = output.aux.iter().chain(std::iter::once(&output.last)).collect();
    let last = layers.len() - 1;
    let mut total: Option<Tensor<1>> = None;
    let mut components = Vec::new();
    let mut cardinality = Vec::new();
    let mut matchings = Vec::new();
    let hosts = to_host(&layers).await?;
    for (i, (head, host)) in layers.into_iter().zip(hosts).enumerate() {
        let matching = targets
            .iter()
            .enumerate()
            .map(|(img, t)| {
                let logits = &host.logits[img * nq * c..(img + 1) * nq * c];
                let boxes = &host.boxes[img * nq * 4..(img + 1) * nq * 4];
                match_image_with(logits, boxes, c, t, costs, class.matching_cost())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (ce, l1, giou) = layer_losses(head, targets, &matching, num_boxes, class);
        let weighted = ce.clone() * weights.ce + l1.clone() * weights.bbox + giou.clone() * weights.giou;
        total = Some(match total {
            Some(t) => t + weighted,
            None => weighted,
        });
        let suffix = if i == last { String::new() } else { format!("_{i}") };
        components.push((format!("loss_ce{suffix}"), ce));
        components.push((format!("loss_bbox{suffix}"), l1));
        components.push((format!("loss_giou{suffix}"), giou));
        cardinality.push((format!("cardinality_error{suffix}"), cardinality_error(&host.logits, nq, c, targets)));
        matchings.push(matching);
    }
    Ok(LossOutput { total: total.expect("at least one decoder layer"), components, cardinality, matchings })
}

/// `(loss_ce, loss_bbox, loss_giou)` of one layer for given matchings.
fn layer_losses(
    head: &HeadOutput,
    targets: &[TargetBoxes],
    matching: &[Matching],
    num_boxes: f32,
    class: ClassLoss,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let device = head.logits.device();
    let [b, nq, _] = head.logits.dims();
    let loss_ce = match class {
        ClassLoss::Focal { alpha } => focal_loss(&head.logits, targets, matching, num_boxes, alpha),
        ClassLoss::Softmax { eos_coefficient } => softmax_loss(&head.logits, targets, matching, eos_coefficient),
    };

    // Box losses over matched pairs.
    let mut flat_idx = Vec::new();
    let mut tgt = Vec::new();
    for (img, (m, t)) in matching.iter().zip(targets).enumerate() {
        for (&q, &ti) in m.query_idx.iter().zip(&m.target_idx) {
            flat_idx.push((img * nq + q) as i64);
            tgt.extend_from_slice(&t.boxes_cxcywh[ti]);
        }
    }
    let n = flat_idx.len();
    if n == 0 {
        let zero = || Tensor::<1>::zeros([1], &device);
        return (loss_ce, zero(), zero());
    }
    let idx = Tensor::<1, Int>::from_data(TensorData::new(flat_idx, [n]), &device);
    let src = head.pred_boxes.clone().reshape([b * nq, 4]).select(0, idx);
    let tgt = Tensor::<2>::from_data(TensorData::new(tgt, [n, 4]), &device);
    let loss_bbox = (src.clone() - tgt.clone()).abs().sum() / num_boxes;
    let giou = paired_generalized_box_iou(cxcywh_to_xyxy(src), cxcywh_to_xyxy(tgt));
    let loss_giou = (giou.neg() + 1.0).sum() / num_boxes;
    (loss_ce, loss_bbox, loss_giou)
}

/// Sigmoid focal loss over every (query, class) of `[B, nq, C]` logits, divided by the number of boxes.
fn focal_loss(
    logits: &Tensor<3>,
    targets: &[TargetBoxes],
    matching: &[Matching],
    num_boxes: f32,
    alpha: f32,
) -> Tensor<1> {
    let [b, nq, c] = logits.dims();
    let mut onehot = vec![0f32; b * nq * c];
    for (img, (m, t)) in matching.iter().zip(targets).enumerate() {
        for (&q, &ti) in m.query_idx.iter().zip(&m.target_idx) {
            onehot[(img * nq + q) * c + t.labels[ti]] = 1.0;
        }
    }
    let target = Tensor::<3>::from_data(TensorData::new(onehot, [b, nq, c]), &logits.device());
    let x = logits.clone();
    let prob = sigmoid(x.clone());
    let bce = relu(x.clone()) - x.clone() * target.clone() + (x.abs().neg().exp() + 1.0).log();
    let not_target = target.clone().neg() + 1.0;
    let p_t = prob.clone() * target.clone() + (prob.neg() + 1.0) * not_target.clone();
    let modulating = (p_t.neg() + 1.0).powi_scalar(2);
    let alpha_t = target * alpha + not_target * (1.0 - alpha);
    (bce * modulating * alpha_t).sum() / num_boxes
}

/// DETR's `loss_ce`: softmax cross-entropy of `[B, nq, C + 1]` logits against the matched classes (no-object,
/// the last column, for unmatched queries), weighted 1 / `eos_coefficient` per query, weighted mean.
fn softmax_loss(logits: &Tensor<3>, targets: &[TargetBoxes], matching: &[Matching], eos_coefficient: f32) -> Tensor<1> {
    let [b, nq, width] = logits.dims();
    let mut class = vec![width - 1; b * nq];
    for (img, (m, t)) in matching.iter().zip(targets).enumerate() {
        for (&q, &ti) in m.query_idx.iter().zip(&m.target_idx) {
            class[img * nq + q] = t.labels[ti];
        }
    }
    // The weight of each query's target class, placed at that class: Σ weights · log p picks w_i log p_i[y_i].
    let mut weighted = vec![0f32; b * nq * width];
    let mut weight_sum = 0f32;
    for (i, &y) in class.iter().enumerate() {
        let w = if y == width - 1 { eos_coefficient } else { 1.0 };
        weighted[i * width + y] = w;
        weight_sum += w;
    }
    let weighted = Tensor::<3>::from_data(TensorData::new(weighted, [b, nq, width]), &logits.device());
    // Only zero when nothing is matched and eos_coefficient is 0: then every term is 0 too.
    (log_softmax(logits.clone(), 2) * weighted).sum().neg() / weight_sum.max(f32::MIN_POSITIVE)
}

/// Mean over images of |#queries whose argmax is not the last class − #targets| (reference logging metric).
fn cardinality_error(logits: &[f32], nq: usize, c: usize, targets: &[TargetBoxes]) -> f32 {
    let mut total = 0f32;
    for (img, t) in targets.iter().enumerate() {
        let predicted = (0..nq)
            .filter(|&q| {
                let row = &logits[(img * nq + q) * c..(img * nq + q + 1) * c];
                let argmax = row.iter().enumerate().fold(0, |best, (k, v)| if *v > row[best] { k } else { best });
                argmax != c - 1
            })
            .count();
        total += (predicted as f32 - t.labels.len() as f32).abs();
    }
    total / targets.len().max(1) as f32
}
