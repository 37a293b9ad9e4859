//! COCO bounding-box evaluation (AP / AR), platform-free and in pure Rust.
//!
//! This module follows pycocotools' `cocoeval.py` `COCOeval` with `iouType="bbox"` and the
//! default `Params` (pycocotools 2.0.11) step by step, so that [`evaluate`] returns the twelve
//! numbers of `COCOeval.summarize()` (`COCOeval.stats`): the test fixtures under
//! `tests/fixtures/eval/` were made with pycocotools itself and agree to the last bit.
//!
//! What is reproduced, in pycocotools' order:
//!
//! * **Parameters.** IoU thresholds `np.linspace(.5, .95, 10)` and recall thresholds
//!   `np.linspace(0, 1, 101)`, computed the way numpy does (`i * step + start`, last point set to
//!   `stop`; so e.g. the 0.35 recall threshold is `35 * 0.01`, not `0.35`); `maxDets = [1, 10, 100]`;
//!   area ranges all `[0, 1e10]`, small `[0, 32²]`, medium `[32², 96²]`, large `[96², 1e10]`,
//!   both ends inclusive (an area of exactly 1024 is both small and medium); `useCats = 1`.
//! * **Image and category ids** are de-duplicated and sorted (`np.unique`); ground truths and
//!   detections of an (image, category) pair keep the order in which they were given.
//! * **Detections as `loadRes` makes them:** `area = w * h`, `iscrowd = 0`, ids assigned in input
//!   order (so ties keep input order).
//! * **Per image and category** (`computeIoU` / `evaluateImg`): detections are sorted by score,
//!   descending, with a stable sort (numpy `mergesort`) and only the first 100 are kept. A ground
//!   truth is *ignored* when it is crowd or its `area` lies outside the area range; ground truths
//!   are stably sorted so that ignored ones come last. IoU is `maskUtils.iou` on boxes
//!   (`maskApi.c` `bbIou`: `w = min(x1+w1, x2+w2) - max(x1, x2)`, no `+1`; zero unless both overlaps
//!   are positive; for a crowd ground truth the union is the detection's area alone). Matching is
//!   the greedy loop of `evaluateImg`: each detection in score order takes, among the ground truths
//!   not yet matched (crowd ones can be matched any number of times), the one with the highest
//!   IoU `>= t` (a later one wins ties), but stops looking at ignored ground truths once it holds
//!   a regular one. A detection matched to an ignored ground truth is ignored; an unmatched one is
//!   ignored when its area (`w * h`) is outside the area range.
//! * **Accumulation** (`accumulate`): per category, area range and `maxDet`, the first `maxDet`
//!   detections of every image are concatenated in image-id order and stably sorted by score;
//!   cumulative true/false positives give `recall = tp / npig` and
//!   `precision = tp / (fp + tp + eps)` (`eps = np.spacing(1)`); the precision is made
//!   monotone from the right and sampled at the recall thresholds with `searchsorted(side="left")`
//!   (0 past the highest recall reached). Categories with no non-ignored ground truth in the area
//!   range are `-1` (left out of the means).
//! * **Summary** (`summarize`): each number is the mean of the entries `> -1` of the selected
//!   slice, taken in numpy's C order (IoU, recall threshold, category) and summed with numpy's
//!   pairwise summation; `-1` when there is none.
//!
//! Known pycocotools quirks that do not carry over: ground truths are addressed by position here,
//! so a COCO annotation id of `0` (which pycocotools would treat as "unmatched") has no analogue.
//!
//! Bad input never panics: non-finite numbers and image ids outside `image_ids` are reported as
//! [`EvalError`]s (pycocotools' `loadRes` likewise rejects results on unknown images); ground
//! truths and detections whose category is not in `category_ids` are skipped, as pycocotools skips
//! annotations outside `params.catIds`. Empty inputs are fine: with no detections every category
//! that has ground truths scores 0, and every number for which no category has a ground truth is
//! `-1`, exactly as pycocotools reports (its `loadRes` cannot take an empty list, but `COCOeval`
//! on an empty result set gives these numbers).
//!
//! Nothing here uses threads, files or clocks, so it builds for `wasm32-unknown-unknown`.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Number of IoU thresholds (0.50:0.05:0.95).
pub const NUM_IOU_THRESHOLDS: usize = 10;
/// Number of recall thresholds (0:0.01:1).
pub const NUM_RECALL_THRESHOLDS: usize = 101;
/// `params.maxDets`.
pub const MAX_DETS: [usize; 3] = [1, 10, 100];
/// `params.areaRng`: all, small, medium, large (both ends inclusive).
pub const AREA_RANGES: [[f64; 2]; 4] = [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]];
/// `params.areaRngLbl`.
pub const AREA_LABELS: [&str; 4] = ["all", "small", "medium", "large"];

const T: usize = NUM_IOU_THRESHOLDS;
const R: usize = NUM_RECALL_THRESHOLDS;
const A: usize = AREA_RANGES.len();
const M: usize = MAX_DETS.len();
const MAX_DET: usize = MAX_DETS[M - 1];

/// One ground-truth annotation (a COCO `annotations` entry).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, w, h]` in pixels (COCO convention).
    pub bbox: [f64; 4],
    /// COCO `area` (the segmentation area in COCO itself); callers without segmentation pass `w * h`.
    /// Only used to decide the area range.
    pub area: f64,
    pub iscrowd: bool,
}

/// One detection (a COCO results entry).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, w, h]` in pixels (COCO convention).
    pub bbox: [f64; 4],
    pub score: f64,
}

/// The twelve numbers of `COCOeval.summarize()` (in the order of `COCOeval.stats`); `-1` where
/// pycocotools gives `-1` (no ground truth for any category in that setting).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CocoMetrics {
    /// AP @ IoU 0.50:0.95, area all, maxDets 100.
    pub ap: f64,
    /// AP @ IoU 0.50.
    pub ap50: f64,
    /// AP @ IoU 0.75.
    pub ap75: f64,
    pub ap_small: f64,
    pub ap_medium: f64,
    pub ap_large: f64,
    /// AR with maxDets 1.
    pub ar1: f64,
    /// AR with maxDets 10.
    pub ar10: f64,
    /// AR with maxDets 100.
    pub ar100: f64,
    pub ar_small: f64,
    pub ar_medium: f64,
    pub ar_large: f64,
}

impl CocoMetrics {
    /// Field names, in `COCOeval.stats` order.
    pub const NAMES: [&'static str; 12] = [
        "ap",
        "ap50",
        "ap75",
        "ap_small",
        "ap_medium",
        "ap_large",
        "ar1",
        "ar10",
        "ar100",
        "ar_small",
        "ar_medium",
        "ar_large",
    ];

    /// The numbers in `COCOeval.stats` order.
    pub fn to_array(&self) -> [f64; 12] {
        [
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_small,
            self.ap_medium,
            self.ap_large,
            self.ar1,
            self.ar10,
            self.ar100,
            self.ar_small,
            self.ar_medium,
            self.ar_large,
        ]
    }

    /// Inverse of [`CocoMetrics::to_array`].
    pub fn from_array(s: [f64; 12]) -> Self {
        Self {
            ap: s[0],
            ap50: s[1],
            ap75: s[2],
            ap_small: s[3],
            ap_medium: s[4],
            ap_large: s[5],
            ar1: s[6],
            ar10: s[7],
            ar100: s[8],
            ar_small: s[9],
            ar_medium: s[10],
            ar_large: s[11],
        }
    }
}

/// Why an evaluation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("ground truth #{index}: bbox and area must be finite numbers")]
    NonFiniteGroundTruth { index: usize },
    #[error("detection #{index}: bbox and score must be finite numbers")]
    NonFiniteDetection { index: usize },
    #[error("ground truth #{index}: image id {image_id} is not among the evaluated image ids")]
    UnknownGroundTruthImage { index: usize, image_id: u64 },
    #[error("detection #{index}: image id {image_id} is not among the evaluated image ids")]
    UnknownDetectionImage { index: usize, image_id: u64 },
}

/// `params.iouThrs = np.linspace(.5, .95, 10)`, bit for bit (`i * step + start`, last = stop).
pub fn iou_thresholds() -> [f64; T] {
    linspace::<T>(0.5, 0.95)
}

/// `params.recThrs = np.linspace(.0, 1.0, 101)`, bit for bit.
pub fn recall_thresholds() -> [f64; R] {
    linspace::<R>(0.0, 1.0)
}

/// numpy's `linspace(start, stop, N)` (endpoint=True): `arange(N) * ((stop - start) / (N - 1)) + start`,
/// then the last element set to `stop`.
fn linspace<const N: usize>(start: f64, stop: f64) -> [f64; N] {
    let step = (stop - start) / (N - 1) as f64;
    let mut out = [0.0; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = i as f64 * step + start;
    }
    out[N - 1] = stop;
    out
}

/// IoU of a detection box and a ground-truth box, both `[x, y, w, h]`, as pycocotools'
/// `maskUtils.iou` computes it for boxes (`maskApi.c` `bbIou`): no `+1` on widths, `0` unless the
/// boxes overlap with positive width and height, and for a crowd ground truth the union is the
/// detection's own area (so the value is the fraction of the detection inside the crowd region).
/// Never panics; with non-finite input the result is unspecified (may be NaN).
pub fn box_iou(det: [f64; 4], gt: [f64; 4], gt_is_crowd: bool) -> f64 {
    let da = det[2] * det[3];
    let ga = gt[2] * gt[3];
    let w = (det[2] + det[0]).min(gt[2] + gt[0]) - det[0].max(gt[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (det[3] + det[1]).min(gt[3] + gt[1]) - det[1].max(gt[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let union = if gt_is_crowd { da } else { da + ga - inter };
    inter / union
}

/// numpy's pairwise summation (`pairwise_sum` in `loops_utils.h.src`), which `np.mean` uses for
/// a contiguous float64 array: blocks of at most 128 summed with 8 accumulators, larger arrays
/// split in two (at a multiple of 8).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = -0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let end = n - n % 8;
        let mut i = 8;
        while i < end {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[end..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean(s[s > -1])`, or `-1` when nothing is left.
fn mean_of_valid(values: impl Iterator<Item = f64>) -> f64 {
    let valid: Vec<f64> = values.filter(|&v| v > -1.0).collect();
    if valid.is_empty() { -1.0 } else { pairwise_sum(&valid) / valid.len() as f64 }
}

/// Descending by score; ties compare equal (the sorts using it are stable, like numpy's
/// `mergesort` on `-score`). Scores are checked finite beforehand.
fn by_score_desc(a: f64, b: f64) -> Ordering {
    b.partial_cmp(&a).unwrap_or(Ordering::Equal)
}

/// Result of `evaluateImg` for one (image, category, area range), with `maxDet = 100`.
struct AreaEval {
    /// `[T x D]`, row-major: detection matched a ground truth (`dtMatches != 0`).
    matched: Vec<bool>,
    /// `[T x D]`: `dtIgnore`.
    ignored: Vec<bool>,
    /// Number of ground truths with `gtIgnore == 0`.
    num_positive: usize,
}

/// `evaluateImg` for one (image, category) over the four area ranges.
struct ImageEval {
    /// Scores of the kept detections, in sorted order (`dtScores`).
    scores: Vec<f64>,
    areas: [AreaEval; A],
}

fn evaluate_image(gts: &[&GroundTruth], dets: &[&Detection], iou_thrs: &[f64; T]) -> ImageEval {
    // computeIoU / evaluateImg: stable sort by descending score, keep the first maxDets[-1].
    let mut dets: Vec<&Detection> = dets.to_vec();
    dets.sort_by(|a, b| by_score_desc(a.score, b.score));
    dets.truncate(MAX_DET);
    let nd = dets.len();
    let ng = gts.len();

    // ious[d][g] with ground truths in their given order.
    let mut ious = vec![0.0f64; nd * ng];
    for (d, det) in dets.iter().enumerate() {
        for (g, gt) in gts.iter().enumerate() {
            ious[d * ng + g] = box_iou(det.bbox, gt.bbox, gt.iscrowd);
        }
    }
    let det_areas: Vec<f64> = dets.iter().map(|d| d.bbox[2] * d.bbox[3]).collect();

    let areas = std::array::from_fn(|a| {
        let [lo, hi] = AREA_RANGES[a];
        let ignore: Vec<bool> = gts.iter().map(|g| g.iscrowd || g.area < lo || g.area > hi).collect();
        // Stable sort: regular ground truths first, ignored ones last.
        let mut order: Vec<usize> = (0..ng).collect();
        order.sort_by_key(|&g| ignore[g]);
        let gt_ig: Vec<bool> = order.iter().map(|&g| ignore[g]).collect();
        let crowd: Vec<bool> = order.iter().map(|&g| gts[g].iscrowd).collect();

        let mut matched = vec![false; T * nd];
        let mut ignored = vec![false; T * nd];
        if nd > 0 && ng > 0 {
            let mut gt_taken = vec![false; ng];
            for (t, &thr) in iou_thrs.iter().enumerate() {
                gt_taken.iter_mut().for_each(|x| *x = false);
                for d in 0..nd {
                    let mut best = thr.min(1.0 - 1e-10);
                    let mut m: Option<usize> = None;
                    for (gi, &g) in order.iter().enumerate() {
                        if gt_taken[gi] && !crowd[gi] {
                            continue;
                        }
                        if let Some(mi) = m
                            && !gt_ig[mi]
                            && gt_ig[gi]
                        {
                            break;
                        }
                        let iou = ious[d * ng + g];
                        if iou < best {
                            continue;
                        }
                        best = iou;
                        m = Some(gi);
                    }
                    if let Some(mi) = m {
                        ignored[t * nd + d] = gt_ig[mi];
                        matched[t * nd + d] = true;
                        gt_taken[mi] = true;
                    }
                }
            }
        }
        // Unmatched detections outside the area range are ignored.
        for t in 0..T {
            for (d, &area) in det_areas.iter().enumerate() {
                let i = t * nd + d;
                if !matched[i] && (area < lo || area > hi) {
                    ignored[i] = true;
                }
            }
        }
        AreaEval { matched, ignored, num_positive: gt_ig.iter().filter(|&&x| !x).count() }
    });

    ImageEval { scores: dets.iter().map(|d| d.score).collect(), areas }
}

/// The accumulated evaluation (`COCOeval.eval` after `accumulate()`): precision and recall for
/// every setting, from which [`Evaluation::summarize`] derives the twelve numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    image_ids: Vec<u64>,
    category_ids: Vec<u64>,
    /// `[T, R, K, A, M]`, row-major; `-1` for settings without ground truth.
    precision: Vec<f64>,
    /// `[T, K, A, M]`, row-major; `-1` for settings without ground truth.
    recall: Vec<f64>,
    /// Per category: ground truths that are not ignored in area range "all" (`npig`).
    num_positive: Vec<usize>,
}

/// Per-category numbers from the accumulated arrays (area "all", maxDets 100), as
/// [`Evaluation::per_class`] returns them; `-1` where the category has no (non-crowd) ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub category_id: u64,
    /// Non-crowd ground truths of this category.
    pub num_gt: usize,
    /// AP @ IoU 0.50:0.95: `mean(precision[:, :, k, 0, 2][> -1])`.
    pub ap: f64,
    /// `mean(precision[0, :, k, 0, 2][> -1])`.
    pub ap50: f64,
    /// `mean(precision[5, :, k, 0, 2][> -1])`.
    pub ap75: f64,
    /// `recall[0, k, 0, 2]`: the recall reached at IoU 0.5.
    pub recall50: f64,
    /// `precision[0, :, k, 0, 2]`: precision at the 101 [`recall_thresholds`], IoU 0.5 (the
    /// interpolated precision-recall curve; all `-1` without ground truth).
    pub pr50: Vec<f64>,
}

impl Evaluation {
    /// Evaluated image ids (sorted, de-duplicated).
    pub fn image_ids(&self) -> &[u64] {
        &self.image_ids
    }

    /// Evaluated category ids (sorted, de-duplicated); index `k` of the accessors.
    pub fn category_ids(&self) -> &[u64] {
        &self.category_ids
    }

    fn k_len(&self) -> usize {
        self.category_ids.len()
    }

    /// `eval['precision'][t, r, k, a, m]`: `t` indexes [`iou_thresholds`], `r`
    /// [`recall_thresholds`], `k` [`Evaluation::category_ids`], `a` [`AREA_RANGES`],
    /// `m` [`MAX_DETS`]. `None` when out of bounds.
    pub fn precision(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> Option<f64> {
        if t >= T || r >= R || k >= self.k_len() || a >= A || m >= M {
            return None;
        }
        Some(self.precision[(((t * R + r) * self.k_len() + k) * A + a) * M + m])
    }

    /// `eval['recall'][t, k, a, m]`; `None` when out of bounds.
    pub fn recall(&self, t: usize, k: usize, a: usize, m: usize) -> Option<f64> {
        if t >= T || k >= self.k_len() || a >= A || m >= M {
            return None;
        }
        Some(self.recall[((t * self.k_len() + k) * A + a) * M + m])
    }

    /// AP of category `k` at IoU threshold index `t` (0 is 0.5, 5 is 0.75; area all, maxDets
    /// 100): `mean(precision[t, :, k, 0, 2][> -1])`, `-1` without ground truth. `None` when out of
    /// bounds.
    pub fn category_ap_at(&self, k: usize, t: usize) -> Option<f64> {
        if k >= self.k_len() || t >= T {
            return None;
        }
        let k_len = self.k_len();
        Some(mean_of_valid((0..R).map(move |r| self.precision[(((t * R + r) * k_len + k) * A) * M + 2])))
    }

    /// The interpolated precision of category `k` at the 101 [`recall_thresholds`], IoU threshold
    /// index `t`, area all, maxDets 100 (`precision[t, :, k, 0, 2]`). `None` when out of bounds.
    pub fn pr_curve(&self, k: usize, t: usize) -> Option<Vec<f64>> {
        (0..R).map(|r| self.precision(t, r, k, 0, 2)).collect()
    }

    /// Per-category AP / AP50 / AP75, recall and IoU-0.5 precision-recall curve, in
    /// [`Evaluation::category_ids`] order.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        (0..self.k_len())
            .map(|k| ClassMetrics {
                category_id: self.category_ids[k],
                num_gt: self.num_positive[k],
                ap: self.category_ap(k).unwrap_or(-1.0),
                ap50: self.category_ap_at(k, 0).unwrap_or(-1.0),
                ap75: self.category_ap_at(k, 5).unwrap_or(-1.0),
                recall50: self.recall(0, k, 0, 2).unwrap_or(-1.0),
                pr50: self.pr_curve(k, 0).unwrap_or_default(),
            })
            .collect()
    }

    /// `_summarize(ap, iouThr, areaRng, maxDets)`: the mean of the entries `> -1` of the slice, in
    /// C order, or `-1`.
    fn summarize_one(&self, ap: bool, t: Option<usize>, a: usize, m: usize) -> f64 {
        let ts = match t {
            Some(t) => t..t + 1,
            None => 0..T,
        };
        let k_len = self.k_len();
        if ap {
            mean_of_valid(ts.flat_map(move |t| {
                (0..R).flat_map(move |r| {
                    (0..k_len).map(move |k| self.precision[(((t * R + r) * k_len + k) * A + a) * M + m])
                })
            }))
        } else {
            mean_of_valid(ts.flat_map(move |t| (0..k_len).map(move |k| self.recall[((t * k_len + k) * A + a) * M + m])))
        }
    }

    /// The twelve numbers of `COCOeval.summarize()`.
    pub fn summarize(&self) -> CocoMetrics {
        // iouThrs[0] == .5 and iouThrs[5] == .75 exactly (checked in the tests).
        let (t50, t75) = (Some(0), Some(5));
        CocoMetrics {
            ap: self.summarize_one(true, None, 0, 2),
            ap50: self.summarize_one(true, t50, 0, 2),
            ap75: self.summarize_one(true, t75, 0, 2),
            ap_small: self.summarize_one(true, None, 1, 2),
            ap_medium: self.summarize_one(true, None, 2, 2),
            ap_large: self.summarize_one(true, None, 3, 2),
            ar1: self.summarize_one(false, None, 0, 0),
            ar10: self.summarize_one(false, None, 0, 1),
            ar100: self.summarize_one(false, None, 0, 2),
            ar_small: self.summarize_one(false, None, 1, 2),
            ar_medium: self.summarize_one(false, None, 2, 2),
            ar_large: self.summarize_one(false, None, 3, 2),
        }
    }

    /// AP of one category (index `k` into [`Evaluation::category_ids`]) over IoU 0.50:0.95,
    /// area all, maxDets 100: the mean of its precision entries, `-1` when it has no ground
    /// truth (the per-class AP that e.g. detectron2 prints). `None` when `k` is out of bounds.
    pub fn category_ap(&self, k: usize) -> Option<f64> {
        if k >= self.k_len() {
            return None;
        }
        let k_len = self.k_len();
        Some(mean_of_valid(
            (0..T).flat_map(move |t| (0..R).map(move |r| self.precision[(((t * R + r) * k_len + k) * A) * M + 2])),
        ))
    }
}

/// Evaluates `dets` against `gts` on `image_ids` × `category_ids` (each de-duplicated and sorted,
/// like `params.imgIds` / `params.catIds`) and returns the twelve `COCOeval.stats` numbers.
///
/// Errors: a non-finite bbox / area / score, or a ground truth or detection whose image id is not
/// in `image_ids`. Annotations whose category is not in `category_ids` are skipped. See the module
/// documentation for the exact semantics.
pub fn evaluate(
    image_ids: &[u64],
    category_ids: &[u64],
    gts: &[GroundTruth],
    dets: &[Detection],
) -> Result<CocoMetrics, EvalError> {
    Ok(evaluate_detailed(image_ids, category_ids, gts, dets)?.summarize())
}

/// The sorted, deduplicated image and category ids, and every annotation of a listed category keyed by
/// `(category index, image index, input index)`, in input order.
struct Keyed {
    imgs: Vec<u64>,
    cats: Vec<u64>,
    gt: Vec<(usize, usize, usize)>,
    dt: Vec<(usize, usize, usize)>,
}

/// Validates the annotations (finite values, known images) and keys them ([`Keyed`]); annotations of
/// categories outside `category_ids` are skipped.
fn key_annotations(
    image_ids: &[u64],
    category_ids: &[u64],
    gts: &[GroundTruth],
    dets: &[Detection],
) -> Result<Keyed, EvalError> {
    let mut imgs = image_ids.to_vec();
    imgs.sort_unstable();
    imgs.dedup();
    let mut cats = category_ids.to_vec();
    cats.sort_unstable();
    cats.dedup();
    let mut gt = Vec::with_capacity(gts.len());
    for (index, g) in gts.iter().enumerate() {
        if !(g.bbox.iter().all(|v| v.is_finite()) && g.area.is_finite()) {
            return Err(EvalError::NonFiniteGroundTruth { index });
        }
        let Ok(i) = imgs.binary_search(&g.image_id) else {
            return Err(EvalError::UnknownGroundTruthImage { index, image_id: g.image_id });
        };
        if let Ok(k) = cats.binary_search(&g.category_id) {
            gt.push((k, i, index));
        }
    }
    let mut dt = Vec::with_capacity(dets.len());
    for (index, d) in dets.iter().enumerate() {
        if !(d.bbox.iter().all(|v| v.is_finite()) && d.score.is_finite()) {
            return Err(EvalError::NonFiniteDetection { index });
        }
        let Ok(i) = imgs.binary_search(&d.image_id) else {
            return Err(EvalError::UnknownDetectionImage { index, image_id: d.image_id });
        };
        if let Ok(k) = cats.binary_search(&d.category_id) {
            dt.push((k, i, index));
        }
    }
    Ok(Keyed { imgs, cats, gt, dt })
}

/// Like [`evaluate`], but returns the accumulated precision / recall arrays
/// (`COCOeval.evaluate(); COCOeval.accumulate()`).
pub fn evaluate_detailed(
    image_ids: &[u64],
    category_ids: &[u64],
    gts: &[GroundTruth],
    dets: &[Detection],
) -> Result<Evaluation, EvalError> {
    // The stable sort keeps the input order within each (category, image) pair.
    let Keyed { imgs, cats, gt: mut gt_keys, dt: mut dt_keys } = key_annotations(image_ids, category_ids, gts, dets)?;
    gt_keys.sort_by_key(|&(k, i, _)| (k, i));
    dt_keys.sort_by_key(|&(k, i, _)| (k, i));

    let k_len = cats.len();
    let mut precision = vec![-1.0f64; T * R * k_len * A * M];
    let mut recall = vec![-1.0f64; T * k_len * A * M];
    let iou_thrs = iou_thresholds();
    let rec_thrs = recall_thresholds();

    let mut num_positive = vec![0usize; k_len];
    let (mut gp, mut dp) = (0usize, 0usize);
    for k in 0..k_len {
        // evaluateImg for every image that has ground truth or detections of category k, in
        // image order (the others give None and are dropped by accumulate).
        let mut per_image: Vec<ImageEval> = Vec::new();
        loop {
            let next_g = gt_keys.get(gp).filter(|x| x.0 == k).map(|x| x.1);
            let next_d = dt_keys.get(dp).filter(|x| x.0 == k).map(|x| x.1);
            let i = match (next_g, next_d) {
                (None, None) => break,
                (Some(a), None) | (None, Some(a)) => a,
                (Some(a), Some(b)) => a.min(b),
            };
            let mut img_gts: Vec<&GroundTruth> = Vec::new();
            while let Some(&(kk, ii, idx)) = gt_keys.get(gp) {
                if kk != k || ii != i {
                    break;
                }
                img_gts.push(&gts[idx]);
                gp += 1;
            }
            let mut img_dets: Vec<&Detection> = Vec::new();
            while let Some(&(kk, ii, idx)) = dt_keys.get(dp) {
                if kk != k || ii != i {
                    break;
                }
                img_dets.push(&dets[idx]);
                dp += 1;
            }
            per_image.push(evaluate_image(&img_gts, &img_dets, &iou_thrs));
        }
        if per_image.is_empty() {
            continue;
        }
        num_positive[k] = per_image.iter().map(|e| e.areas[0].num_positive).sum();

        for a in 0..A {
            let npig: usize = per_image.iter().map(|e| e.areas[a].num_positive).sum();
            if npig == 0 {
                continue;
            }
            let npig = npig as f64;
            for (m, &max_det) in MAX_DETS.iter().enumerate() {
                // Concatenate the first max_det detections of every image, stably sort by score.
                let mut order: Vec<(f64, usize, usize)> = Vec::new();
                for (e, img) in per_image.iter().enumerate() {
                    for (d, &s) in img.scores.iter().take(max_det).enumerate() {
                        order.push((s, e, d));
                    }
                }
                order.sort_by(|x, y| by_score_desc(x.0, y.0));
                let nd = order.len();

                let mut rc = vec![0.0f64; nd];
                let mut pr = vec![0.0f64; nd];
                for t in 0..T {
                    let (mut tp, mut fp) = (0u64, 0u64);
                    for (j, &(_, e, d)) in order.iter().enumerate() {
                        let ev = &per_image[e].areas[a];
                        let n = per_image[e].scores.len();
                        if !ev.ignored[t * n + d] {
                            if ev.matched[t * n + d] {
                                tp += 1;
                            } else {
                                fp += 1;
                            }
                        }
                        let (tpf, fpf) = (tp as f64, fp as f64);
                        rc[j] = tpf / npig;
                        pr[j] = tpf / (fpf + tpf + f64::EPSILON);
                    }
                    recall[((t * k_len + k) * A + a) * M + m] = if nd > 0 { rc[nd - 1] } else { 0.0 };
                    for j in (1..nd).rev() {
                        if pr[j] > pr[j - 1] {
                            pr[j - 1] = pr[j];
                        }
                    }
                    for (r, &thr) in rec_thrs.iter().enumerate() {
                        // np.searchsorted(rc, thr, side='left'); rc is non-decreasing.
                        let idx = rc.partition_point(|&x| x < thr);
                        let q = if idx < nd { pr[idx] } else { 0.0 };
                        precision[(((t * R + r) * k_len + k) * A + a) * M + m] = q;
                    }
                }
            }
        }
    }

    Ok(Evaluation { image_ids: imgs, category_ids: cats, precision, recall, num_positive })
}

/// Options of [`confusion_matrix`]: detections with `score >= score_threshold` count; a
/// detection and a ground truth match when their IoU is `>= iou_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfusionOptions {
    pub score_threshold: f64,
    pub iou_threshold: f64,
}

impl Default for ConfusionOptions {
    /// Ultralytics' validation defaults for the score (0.25), IoU 0.5.
    fn default() -> Self {
        Self { score_threshold: 0.25, iou_threshold: 0.5 }
    }
}

/// Errors of one image at the [`ConfusionOptions`]: what a person fixing labels looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageErrors {
    pub image_id: u64,
    /// Ground truths no detection matched (bottom, background row).
    pub missed: usize,
    /// Detections that matched no ground truth (right, background column).
    pub false_positives: usize,
    /// Matched pairs whose classes differ.
    pub confused: usize,
    /// Ground truths (non-crowd) and counted detections of the image.
    pub num_gt: usize,
    pub num_det: usize,
}

impl ImageErrors {
    /// `missed + false_positives + confused`.
    pub fn total(&self) -> usize {
        self.missed + self.false_positives + self.confused
    }
}

/// A detection confusion matrix as Ultralytics draws it: `(K + 1) x (K + 1)` counts, rows the
/// predicted class, columns the true class, index `K` the background (row `K`: missed ground
/// truths; column `K`: false detections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Category ids of rows / columns `0..K` (sorted, de-duplicated).
    pub category_ids: Vec<u64>,
    /// Row-major `[predicted][true]`, `(K + 1)²` entries.
    pub counts: Vec<u64>,
    /// Per evaluated image (sorted image ids), its errors.
    pub images: Vec<ImageErrors>,
    pub options: ConfusionOptions,
}

impl ConfusionMatrix {
    /// `K`; the background index.
    pub fn num_classes(&self) -> usize {
        self.category_ids.len()
    }

    /// Count of (predicted row, true column); `K` is the background. `None` when out of bounds.
    pub fn get(&self, predicted: usize, truth: usize) -> Option<u64> {
        let n = self.num_classes() + 1;
        (predicted < n && truth < n).then(|| self.counts[predicted * n + truth])
    }

    /// The images with errors, most errors first (missed + false + confused, then missed, then
    /// image id).
    pub fn worst_images(&self) -> Vec<ImageErrors> {
        let mut v: Vec<ImageErrors> = self.images.iter().copied().filter(|e| e.total() > 0).collect();
        v.sort_by(|a, b| b.total().cmp(&a.total()).then(b.missed.cmp(&a.missed)).then(a.image_id.cmp(&b.image_id)));
        v
    }
}

/// Builds the [`ConfusionMatrix`] of `dets` against `gts` on `image_ids` × `category_ids`.
///
/// Per image, class-agnostically: detections below `score_threshold` are dropped; every pair of a
/// (non-crowd) ground truth and a detection with IoU `>= iou_threshold` ([`box_iou`]) is a
/// candidate, and pairs are taken greedily by decreasing IoU (ties: ground truth, then detection
/// in input order) while neither side is taken (one-to-one, as Ultralytics' `process_batch`
/// keeps the best pair per detection and per ground truth). A matched pair counts at
/// `[predicted class][true class]` (the diagonal when they agree); an unmatched ground truth at
/// `[background][true class]`; an unmatched detection at `[predicted class][background]`. Crowd
/// ground truths are left out, and so are the detections they overlap at the IoU threshold
/// (pycocotools ignores those too). Annotations outside `category_ids` are skipped, like
/// [`evaluate`]; errors are those of [`evaluate`].
pub fn confusion_matrix(
    image_ids: &[u64],
    category_ids: &[u64],
    gts: &[GroundTruth],
    dets: &[Detection],
    options: ConfusionOptions,
) -> Result<ConfusionMatrix, EvalError> {
    let Keyed { imgs, cats, gt, dt } = key_annotations(image_ids, category_ids, gts, dets)?;
    let k_len = cats.len();
    let n = k_len + 1;
    let mut img_gts: Vec<Vec<(usize, &GroundTruth)>> = vec![Vec::new(); imgs.len()];
    for &(k, i, index) in &gt {
        img_gts[i].push((k, &gts[index]));
    }
    let mut img_dets: Vec<Vec<(usize, &Detection)>> = vec![Vec::new(); imgs.len()];
    for &(k, i, index) in dt.iter().filter(|&&(_, _, index)| dets[index].score >= options.score_threshold) {
        img_dets[i].push((k, &dets[index]));
    }

    let mut counts = vec![0u64; n * n];
    let mut images = Vec::with_capacity(imgs.len());
    for (i, &image_id) in imgs.iter().enumerate() {
        let (crowd, regular): (Vec<_>, Vec<_>) = img_gts[i].iter().partition(|(_, g)| g.iscrowd);
        // Detections inside a crowd region (and not matching a regular box better) are ignored
        // below, unless matched.
        let ds = &img_dets[i];
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (gi, (_, g)) in regular.iter().enumerate() {
            for (di, (_, d)) in ds.iter().enumerate() {
                let iou = box_iou(d.bbox, g.bbox, false);
                if iou >= options.iou_threshold {
                    pairs.push((iou, gi, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
        let mut gt_det: Vec<Option<usize>> = vec![None; regular.len()];
        let mut det_taken = vec![false; ds.len()];
        for &(_, gi, di) in &pairs {
            if gt_det[gi].is_none() && !det_taken[di] {
                gt_det[gi] = Some(di);
                det_taken[di] = true;
            }
        }
        let mut e = ImageErrors {
            image_id,
            missed: 0,
            false_positives: 0,
            confused: 0,
            num_gt: regular.len(),
            num_det: ds.len(),
        };
        for (gi, &(tk, _)) in regular.iter().enumerate() {
            match gt_det[gi] {
                Some(di) => {
                    let pk = ds[di].0;
                    counts[pk * n + tk] += 1;
                    if pk != tk {
                        e.confused += 1;
                    }
                }
                None => {
                    counts[k_len * n + tk] += 1;
                    e.missed += 1;
                }
            }
        }
        for (di, &(pk, d)) in ds.iter().enumerate() {
            if det_taken[di] {
                continue;
            }
            if crowd.iter().any(|(_, g)| box_iou(d.bbox, g.bbox, true) >= options.iou_threshold) {
                e.num_det -= 1;
                continue;
            }
            counts[pk * n + k_len] += 1;
            e.false_positives += 1;
        }
        images.push(e);
    }
    Ok(ConfusionMatrix { category_ids: cats, counts, images, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_matches_simple_sum_on_exact_values() {
        for n in 0..300 {
            let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(pairwise_sum(&v), (n * (n.max(1) - 1) / 2) as f64);
        }
    }

    #[test]
    fn linspace_endpoints() {
        let r = recall_thresholds();
        assert_eq!(r[0], 0.0);
        assert_eq!(r[100], 1.0);
        assert_eq!(r[35], 35.0 * 0.01);
        assert_ne!(r[35], 0.35); // numpy's linspace, not i / 100
    }

    fn g(image_id: u64, category_id: u64, bbox: [f64; 4]) -> GroundTruth {
        GroundTruth { image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd: false }
    }

    fn d(image_id: u64, category_id: u64, bbox: [f64; 4], score: f64) -> Detection {
        Detection { image_id, category_id, bbox, score }
    }

    #[test]
    fn confusion_matrix_hand_made() {
        // Categories 3 (index 0) and 8 (index 1); background index 2.
        let gts = [
            g(1, 3, [0.0, 0.0, 10.0, 10.0]),                                        // found as 3
            g(1, 8, [100.0, 0.0, 10.0, 10.0]),                                      // found as 3: confused
            g(1, 8, [200.0, 0.0, 10.0, 10.0]), // missed (its detection is below the score)
            g(2, 8, [0.0, 0.0, 20.0, 20.0]),   // two detections: the better one matches
            g(2, 3, [300.0, 300.0, 10.0, 10.0]), // IoU 0.5 exactly: matched (>=)
            g(2, 8, [500.0, 500.0, 10.0, 10.0]), // IoU below 0.5: missed
            GroundTruth { iscrowd: true, ..g(2, 3, [100.0, 100.0, 100.0, 100.0]) }, // crowd: left out
            g(3, 99, [0.0, 0.0, 10.0, 10.0]),  // category outside: skipped
        ];
        let dets = [
            d(1, 3, [0.0, 0.0, 10.0, 10.0], 0.9),
            d(1, 3, [100.0, 0.0, 10.0, 10.0], 0.8),
            d(1, 8, [200.0, 0.0, 10.0, 10.0], 0.2), // below 0.25
            d(1, 8, [400.0, 0.0, 10.0, 10.0], 0.6), // false positive
            d(2, 3, [1.0, 1.0, 20.0, 20.0], 0.5),   // lower IoU duplicate: false positive
            d(2, 8, [0.0, 0.0, 20.0, 19.0], 0.3),   // best IoU: matched
            d(2, 3, [300.0, 300.0, 10.0, 20.0], 0.7),
            d(2, 8, [505.0, 500.0, 10.0, 10.0], 0.7), // IoU 1/3: false positive, gt missed
            d(2, 3, [120.0, 120.0, 10.0, 10.0], 0.9), // inside the crowd: ignored
            d(3, 99, [0.0, 0.0, 10.0, 10.0], 0.9),    // skipped
        ];
        let cm = confusion_matrix(&[1, 2, 3], &[8, 3], &gts, &dets, ConfusionOptions::default()).unwrap();
        assert_eq!(cm.category_ids, vec![3, 8]);
        #[rustfmt::skip]
        let want = vec![
            // true: 3  8  bg
            2, 1, 1, // predicted 3
            0, 1, 2, // predicted 8
            0, 2, 0, // background
        ];
        assert_eq!(cm.counts, want);
        assert_eq!(cm.get(2, 1), Some(2));
        assert_eq!(cm.get(3, 0), None);
        assert_eq!(
            cm.images[0],
            ImageErrors { image_id: 1, missed: 1, false_positives: 1, confused: 1, num_gt: 3, num_det: 3 }
        );
        assert_eq!(
            cm.images[1],
            ImageErrors { image_id: 2, missed: 1, false_positives: 2, confused: 0, num_gt: 3, num_det: 4 }
        );
        assert_eq!(cm.images[2].total(), 0);
        let worst: Vec<u64> = cm.worst_images().iter().map(|e| e.image_id).collect();
        assert_eq!(worst, vec![1, 2]); // tie at 3 errors: id order; image 3 has none
        // A higher IoU threshold turns the IoU-0.5 match into a miss and a false positive.
        let strict = ConfusionOptions { iou_threshold: 0.6, ..Default::default() };
        let cm = confusion_matrix(&[1, 2, 3], &[3, 8], &gts, &dets, strict).unwrap();
        assert_eq!(cm.get(0, 0), Some(1));
        assert_eq!(cm.get(2, 0), Some(1));
        assert_eq!(cm.get(0, 2), Some(2));
    }

    #[test]
    fn confusion_matrix_empty_and_errors() {
        let cm = confusion_matrix(&[], &[1], &[], &[], ConfusionOptions::default()).unwrap();
        assert_eq!(cm.counts, vec![0; 4]);
        assert!(cm.images.is_empty());
        let only_dets = [d(5, 1, [0.0, 0.0, 1.0, 1.0], 1.0)];
        let cm = confusion_matrix(&[5], &[1], &[], &only_dets, ConfusionOptions::default()).unwrap();
        assert_eq!(cm.counts, vec![0, 1, 0, 0]);
        assert_eq!(
            confusion_matrix(&[4], &[1], &[], &only_dets, ConfusionOptions::default()),
            Err(EvalError::UnknownDetectionImage { index: 0, image_id: 5 })
        );
        let nan = [d(5, 1, [f64::NAN, 0.0, 1.0, 1.0], 1.0)];
        assert!(confusion_matrix(&[5], &[1], &[], &nan, ConfusionOptions::default()).is_err());
    }
}
