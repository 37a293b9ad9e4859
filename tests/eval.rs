//! COCO bbox evaluator (`cdetr::eval`) against pycocotools' COCOeval.
//!
//! The fixtures in `tests/fixtures/eval/` were made by `make_eval_fixture.py` with pycocotools
//! 2.0.11: inputs and the twelve `COCOeval.stats` numbers, also as IEEE-754 bit patterns.

use cdetr::eval::{
    CocoMetrics, Detection, EvalError, GroundTruth, box_iou, evaluate, evaluate_detailed, iou_thresholds,
    recall_thresholds,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Scenario {
    name: String,
    image_ids: Vec<u64>,
    category_ids: Vec<u64>,
    stats: Vec<f64>,
    stats_bits: Vec<String>,
    gts: Vec<GroundTruth>,
    dets: Vec<Detection>,
}

const SCENARIOS: [&str; 7] = [
    include_str!("fixtures/eval/realistic.json"),
    include_str!("fixtures/eval/category_without_gt.json"),
    include_str!("fixtures/eval/max_dets.json"),
    include_str!("fixtures/eval/perfect.json"),
    include_str!("fixtures/eval/empty_detections.json"),
    include_str!("fixtures/eval/edge_cases.json"),
    include_str!("fixtures/eval/many_categories.json"),
];

fn from_bits(hex: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(hex, 16).expect("hex bit pattern"))
}

fn load(json: &str) -> Scenario {
    serde_json::from_str(json).expect("fixture parses")
}

fn check(s: &Scenario, got: &CocoMetrics) {
    let got = got.to_array();
    assert_eq!(s.stats.len(), 12);
    for (i, name) in CocoMetrics::NAMES.iter().enumerate() {
        let want = s.stats[i];
        assert!((got[i] - want).abs() <= 1e-9, "{}: {name} = {} but pycocotools gives {}", s.name, got[i], want);
        // Same operations in the same order as pycocotools / numpy: identical to the last bit.
        let want_bits = from_bits(&s.stats_bits[i]);
        assert_eq!(
            got[i].to_bits(),
            want_bits.to_bits(),
            "{}: {name} = {:e} is not bit-identical to pycocotools' {:e}",
            s.name,
            got[i],
            want_bits
        );
    }
}

#[test]
fn matches_pycocotools_on_every_scenario() {
    for json in SCENARIOS {
        let s = load(json);
        let got = evaluate(&s.image_ids, &s.category_ids, &s.gts, &s.dets).expect("evaluates");
        check(&s, &got);
    }
}

#[test]
fn scenarios_cover_what_they_claim() {
    let by_name = |n: &str| SCENARIOS.iter().map(|j| load(j)).find(|s| s.name == n).expect("scenario present");
    let perfect = by_name("perfect");
    assert_eq!(perfect.stats[0], 1.0);
    let empty = by_name("empty_detections");
    assert!(empty.dets.is_empty() && !empty.gts.is_empty());
    assert_eq!(empty.stats[0], 0.0);
    let no_gt = by_name("category_without_gt");
    assert_eq!(no_gt.stats[5], -1.0);
    // more than 100 detections of one category on one image
    let md = by_name("max_dets");
    let n = md.dets.iter().filter(|d| d.image_id == 3 && d.category_id == 1).count();
    assert!(n > 100);
}

#[test]
fn unknown_categories_are_reported_as_minus_one_per_category() {
    let s = load(SCENARIOS[1]);
    let e = evaluate_detailed(&s.image_ids, &s.category_ids, &s.gts, &s.dets).unwrap();
    assert_eq!(e.category_ids(), &[2, 5, 9, 11]);
    assert!(e.category_ap(0).unwrap() >= 0.0);
    assert_eq!(e.category_ap(2), Some(-1.0)); // detections only
    assert_eq!(e.category_ap(3), Some(-1.0)); // nothing
    assert_eq!(e.category_ap(4), None);
    assert_eq!(e.precision(0, 0, 2, 0, 2), Some(-1.0));
    assert_eq!(e.recall(0, 3, 0, 2), Some(-1.0));
    assert_eq!(e.precision(10, 0, 0, 0, 0), None);
}

#[derive(Deserialize)]
struct IouFixture {
    iou_thrs_bits: Vec<String>,
    rec_thrs_bits: Vec<String>,
    dets: Vec<[f64; 4]>,
    gts: Vec<[f64; 4]>,
    iou_bits: Vec<Vec<String>>,
    crowd_iou_bits: Vec<Vec<String>>,
}

#[test]
fn iou_and_thresholds_match_pycocotools_bitwise() {
    let f: IouFixture = serde_json::from_str(include_str!("fixtures/eval/iou.json")).unwrap();
    let it = iou_thresholds();
    assert_eq!(f.iou_thrs_bits.len(), it.len());
    for (a, b) in it.iter().zip(&f.iou_thrs_bits) {
        assert_eq!(a.to_bits(), from_bits(b).to_bits());
    }
    assert_eq!(it[0], 0.5);
    assert_eq!(it[5], 0.75);
    let rt = recall_thresholds();
    assert_eq!(f.rec_thrs_bits.len(), rt.len());
    for (a, b) in rt.iter().zip(&f.rec_thrs_bits) {
        assert_eq!(a.to_bits(), from_bits(b).to_bits());
    }
    for (crowd, table) in [(false, &f.iou_bits), (true, &f.crowd_iou_bits)] {
        for (d, db) in f.dets.iter().enumerate() {
            for (g, gb) in f.gts.iter().enumerate() {
                let want = from_bits(&table[d][g]);
                let got = box_iou(*db, *gb, crowd);
                assert_eq!(got.to_bits(), want.to_bits(), "{db:?} vs {gb:?} crowd={crowd}");
            }
        }
    }
}

#[test]
fn box_iou_by_hand() {
    let g = [0.0, 0.0, 10.0, 10.0];
    assert_eq!(box_iou(g, g, false), 1.0);
    // half overlap in x: inter 50, union 150
    assert_eq!(box_iou([5.0, 0.0, 10.0, 10.0], g, false), 50.0 / 150.0);
    // exactly 0.5: inter 100, union 200
    assert_eq!(box_iou([0.0, 0.0, 10.0, 20.0], g, false), 0.5);
    // touching edges: no +1 convention, so no overlap
    assert_eq!(box_iou([10.0, 0.0, 10.0, 10.0], g, false), 0.0);
    assert_eq!(box_iou([0.0, 10.0, 10.0, 10.0], g, false), 0.0);
    // disjoint
    assert_eq!(box_iou([50.0, 50.0, 5.0, 5.0], g, false), 0.0);
    // zero-size boxes
    assert_eq!(box_iou([2.0, 2.0, 0.0, 0.0], g, false), 0.0);
    assert_eq!(box_iou(g, [2.0, 2.0, 0.0, 5.0], false), 0.0);
}

#[test]
fn crowd_iou_divides_by_detection_area() {
    let crowd = [0.0, 0.0, 100.0, 100.0];
    // a detection fully inside a crowd region: IoU 1 (vs 0.04 for a regular ground truth)
    assert_eq!(box_iou([10.0, 10.0, 20.0, 20.0], crowd, true), 1.0);
    assert_eq!(box_iou([10.0, 10.0, 20.0, 20.0], crowd, false), 400.0 / 10000.0);
    // a quarter inside
    assert_eq!(box_iou([90.0, 90.0, 20.0, 20.0], crowd, true), 0.25);
    // the crowd box inside a large detection: inter / det area
    assert_eq!(box_iou([0.0, 0.0, 200.0, 100.0], crowd, true), 0.5);
}

/// A lone true positive has precision `1 / (1 + eps)` in pycocotools (`tp / (fp + tp + np.spacing(1))`),
/// so "perfect" numbers are a hair below 1 unless several detections are matched.
fn assert_one(x: f64) {
    assert!((x - 1.0).abs() < 1e-12 && x <= 1.0, "{x} is not ~1");
}

fn gt(image_id: u64, category_id: u64, bbox: [f64; 4], iscrowd: bool) -> GroundTruth {
    GroundTruth { image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd }
}

fn det(image_id: u64, category_id: u64, bbox: [f64; 4], score: f64) -> Detection {
    Detection { image_id, category_id, bbox, score }
}

#[test]
fn crowd_matches_are_ignored_not_false_positives() {
    let gts = [gt(1, 1, [0.0, 0.0, 20.0, 20.0], false), gt(1, 1, [100.0, 100.0, 200.0, 200.0], true)];
    let hit = det(1, 1, [0.0, 0.0, 20.0, 20.0], 0.5);
    // Many detections inside the crowd region, all scoring higher than the hit: ignored.
    let mut dets: Vec<Detection> =
        (0..5).map(|i| det(1, 1, [110.0 + 10.0 * i as f64, 110.0, 20.0, 20.0], 0.9)).collect();
    dets.push(hit);
    let m = evaluate(&[1], &[1], &gts, &dets).unwrap();
    assert_one(m.ap);
    assert_eq!(m.ar100, 1.0);
    // The same detections are false positives once the region is not crowd.
    let gts2 = [gts[0], gt(1, 1, [100.0, 100.0, 200.0, 200.0], false)];
    let m2 = evaluate(&[1], &[1], &gts2, &dets).unwrap();
    assert!(m2.ap < 0.5, "{m2:?}");
}

#[test]
fn errors_instead_of_panics() {
    let g = gt(1, 1, [0.0, 0.0, 10.0, 10.0], false);
    let d = det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.9);
    let nan_score = det(1, 1, [0.0, 0.0, 10.0, 10.0], f64::NAN);
    assert_eq!(evaluate(&[1], &[1], &[g], &[d, nan_score]), Err(EvalError::NonFiniteDetection { index: 1 }));
    let inf_box = det(1, 1, [0.0, f64::INFINITY, 10.0, 10.0], 0.5);
    assert_eq!(evaluate(&[1], &[1], &[g], &[inf_box]), Err(EvalError::NonFiniteDetection { index: 0 }));
    let nan_gt = gt(1, 1, [0.0, 0.0, f64::NAN, 10.0], false);
    assert_eq!(evaluate(&[1], &[1], &[g, nan_gt], &[d]), Err(EvalError::NonFiniteGroundTruth { index: 1 }));
    let nan_area = GroundTruth { area: f64::NAN, ..g };
    assert_eq!(evaluate(&[1], &[1], &[nan_area], &[d]), Err(EvalError::NonFiniteGroundTruth { index: 0 }));
    assert_eq!(
        evaluate(&[1], &[1], &[g], &[det(7, 1, [0.0; 4], 0.5)]),
        Err(EvalError::UnknownDetectionImage { index: 0, image_id: 7 })
    );
    assert_eq!(
        evaluate(&[1], &[1], &[g, gt(8, 1, [0.0; 4], false)], &[d]),
        Err(EvalError::UnknownGroundTruthImage { index: 1, image_id: 8 })
    );
    // error messages are printable
    assert!(EvalError::NonFiniteDetection { index: 3 }.to_string().contains("#3"));
}

#[test]
fn empty_inputs_give_minus_one_or_zero() {
    let none = CocoMetrics::from_array([-1.0; 12]);
    assert_eq!(evaluate(&[], &[], &[], &[]), Ok(none));
    assert_eq!(evaluate(&[1, 2], &[1], &[], &[]), Ok(none));
    // detections but no ground truth at all: -1 everywhere (nothing to average)
    let d = det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.9);
    assert_eq!(evaluate(&[1], &[1], &[], &[d]), Ok(none));
    // no categories: nothing evaluated
    let g = gt(1, 1, [0.0, 0.0, 10.0, 10.0], false);
    assert_eq!(evaluate(&[1], &[], &[g], &[d]), Ok(none));
    // ground truth (small) but no detections: 0 for settings with ground truth, -1 elsewhere
    let m = evaluate(&[1], &[1], &[g], &[]).unwrap();
    assert_eq!(m.ap, 0.0);
    assert_eq!(m.ap_small, 0.0);
    assert_eq!(m.ar100, 0.0);
    assert_eq!(m.ap_medium, -1.0);
    assert_eq!(m.ar_large, -1.0);
}

#[test]
fn categories_outside_the_list_are_skipped_and_ids_deduplicated() {
    let g = gt(1, 1, [0.0, 0.0, 10.0, 10.0], false);
    let d = det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.9);
    let base = evaluate(&[1], &[1], &[g], &[d]).unwrap();
    // pycocotools gives exactly these (`tests/fixtures/eval/make_single_box_literals.py`).
    assert_eq!(base.ap50, 0.9999999999999999);
    assert_eq!(base.ap, 0.9999999999999998);
    let stray_gt = gt(1, 5, [50.0, 50.0, 10.0, 10.0], false);
    let stray_det = det(1, 6, [70.0, 70.0, 10.0, 10.0], 1.0);
    assert_eq!(evaluate(&[1, 1], &[1, 1], &[g, stray_gt], &[stray_det, d]), Ok(base));
}

#[test]
fn max_dets_keeps_the_top_scores_per_image_and_category() {
    // 100 false positives scoring above one true positive: it falls off the 100 kept.
    let g = gt(1, 1, [0.0, 0.0, 10.0, 10.0], false);
    let mut dets: Vec<Detection> = (0..100).map(|i| det(1, 1, [200.0 + i as f64, 200.0, 5.0, 5.0], 0.9)).collect();
    dets.push(det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.5));
    let m = evaluate(&[1], &[1], &[g], &dets).unwrap();
    assert_eq!(m.ar100, 0.0);
    // A tie at the cut keeps input order (stable sort): put the hit first among equals.
    dets.last_mut().unwrap().score = 0.9;
    dets.rotate_right(1);
    let m = evaluate(&[1], &[1], &[g], &dets).unwrap();
    assert_eq!(m.ar100, 1.0);
    assert_eq!(m.ar1, 1.0);
    // Other categories have their own 100.
    let mut dets2 = dets.clone();
    for d in dets2.iter_mut().skip(1) {
        d.category_id = 2;
    }
    dets2[0].score = 0.1;
    let m = evaluate(&[1], &[1, 2], &[g], &dets2).unwrap();
    assert_eq!(m.ar100, 1.0);
    assert_one(m.ap);
}

#[test]
fn metrics_serialize_with_field_names() {
    let m = CocoMetrics::from_array(std::array::from_fn(|i| i as f64));
    let v = serde_json::to_value(m).unwrap();
    for (i, name) in CocoMetrics::NAMES.iter().enumerate() {
        assert_eq!(v[name], serde_json::json!(i as f64));
    }
    assert_eq!(CocoMetrics::from_array(m.to_array()), m);
}

#[derive(Deserialize)]
struct PerClassFixture {
    scenarios: Vec<PerClassScenario>,
}

#[derive(Deserialize)]
struct PerClassScenario {
    name: String,
    categories: Vec<PerClassCategory>,
}

#[derive(Deserialize)]
struct PerClassCategory {
    category_id: u64,
    ap: f64,
    ap_bits: String,
    ap50_bits: String,
    ap75_bits: String,
    recall50_bits: String,
    pr50_bits: Vec<String>,
}

/// Per-class AP / AP50 / AP75, IoU-0.5 recall and precision-recall curve equal pycocotools'
/// `COCOeval.eval` (`tests/fixtures/eval/per_class.json`, made by `make_per_class_fixture.py`)
/// to the last bit, on every scenario.
#[test]
fn per_class_metrics_match_pycocotools_bitwise() {
    let f: PerClassFixture = serde_json::from_str(include_str!("fixtures/eval/per_class.json")).unwrap();
    assert_eq!(f.scenarios.len(), SCENARIOS.len());
    let mut checked = 0;
    for (json, want) in SCENARIOS.iter().zip(&f.scenarios) {
        let s = load(json);
        assert_eq!(s.name, want.name);
        let e = evaluate_detailed(&s.image_ids, &s.category_ids, &s.gts, &s.dets).unwrap();
        let got = e.per_class();
        assert_eq!(got.len(), want.categories.len(), "{}", s.name);
        for (g, w) in got.iter().zip(&want.categories) {
            let ctx = format!("{} category {}", s.name, w.category_id);
            assert_eq!(g.category_id, w.category_id, "{ctx}");
            assert!((g.ap - w.ap).abs() <= 1e-12, "{ctx}: AP {} vs {}", g.ap, w.ap);
            for (name, got, want) in [
                ("ap", g.ap, &w.ap_bits),
                ("ap50", g.ap50, &w.ap50_bits),
                ("ap75", g.ap75, &w.ap75_bits),
                ("recall50", g.recall50, &w.recall50_bits),
            ] {
                assert_eq!(got.to_bits(), from_bits(want).to_bits(), "{ctx}: {name} {got:e} vs {:e}", from_bits(want));
            }
            assert_eq!(g.pr50.len(), w.pr50_bits.len());
            for (r, (p, b)) in g.pr50.iter().zip(&w.pr50_bits).enumerate() {
                assert_eq!(p.to_bits(), from_bits(b).to_bits(), "{ctx}: precision at recall index {r}");
            }
            // num_gt: the non-crowd ground truths of the category
            let n = s.gts.iter().filter(|x| x.category_id == g.category_id && !x.iscrowd).count();
            assert_eq!(g.num_gt, n, "{ctx}");
            checked += 1;
        }
        // The per-class means are the overall AP / AP50 when they are computed over the same entries.
        let m = e.summarize();
        let valid: Vec<f64> = got.iter().map(|c| c.ap50).filter(|&v| v > -1.0).collect();
        if !valid.is_empty() {
            let mean = valid.iter().sum::<f64>() / valid.len() as f64;
            assert!((mean - m.ap50).abs() < 1e-12, "{}: mean per-class AP50 {mean} vs AP50 {}", s.name, m.ap50);
        }
    }
    assert!(checked > 30);
}
