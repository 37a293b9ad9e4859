//! Box utilities shared by the loss, the matcher and post-processing (official `util/box_ops.py`).
//!
//! Boxes are `(cx, cy, w, h)` or `(x0, y0, x1, y1)`; tensor versions work on `[..., 4]`, host versions on
//! `[f32; 4]`.

use burn::tensor::Tensor;

/// `(cx, cy, w, h)` → `(x0, y0, x1, y1)` on `[N, 4]`.
pub fn cxcywh_to_xyxy(b: Tensor<2>) -> Tensor<2> {
    let [n, _] = b.dims();
    let c = b.clone().slice([0..n, 0..2]);
    let half = b.slice([0..n, 2..4]) * 0.5;
    Tensor::cat(vec![c.clone() - half.clone(), c + half], 1)
}

/// Area of `(x0, y0, x1, y1)` boxes, `[N, 4]` → `[N]`.
pub fn box_area(b: Tensor<2>) -> Tensor<1> {
    let [n, _] = b.dims();
    let w = b.clone().slice([0..n, 2..3]) - b.clone().slice([0..n, 0..1]);
    let h = b.clone().slice([0..n, 3..4]) - b.slice([0..n, 1..2]);
    (w * h).reshape([n])
}

/// Pairwise generalised IoU of `(x0, y0, x1, y1)` boxes: `[N, 4] × [M, 4]` → `[N, M]`.
pub fn generalized_box_iou(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let [n, _] = a.dims();
    let [m, _] = b.dims();
    let area_a = box_area(a.clone()).reshape([n, 1]);
    let area_b = box_area(b.clone()).reshape([1, m]);
    let col = |t: &Tensor<2>, k: usize, rows: usize| t.clone().slice([0..rows, k..k + 1]);
    let (ax0, ay0, ax1, ay1) = (col(&a, 0, n), col(&a, 1, n), col(&a, 2, n), col(&a, 3, n));
    let (bx0, by0, bx1, by1) = (
        col(&b, 0, m).reshape([1, m]),
        col(&b, 1, m).reshape([1, m]),
        col(&b, 2, m).reshape([1, m]),
        col(&b, 3, m).reshape([1, m]),
    );
    let inter_w = (ax1.clone().min_pair(bx1.clone().expand([n, m])) - ax0.clone().max_pair(bx0.clone().expand([n, m])))
        .clamp_min(0.0);
    let inter_h = (ay1.clone().min_pair(by1.clone().expand([n, m])) - ay0.clone().max_pair(by0.clone().expand([n, m])))
        .clamp_min(0.0);
    let inter = inter_w * inter_h;
    let union = area_a + area_b - inter.clone();
    let iou = inter / union.clone();
    let hull_w = (ax1.max_pair(bx1.expand([n, m])) - ax0.min_pair(bx0.expand([n, m]))).clamp_min(0.0);
    let hull_h = (ay1.max_pair(by1.expand([n, m])) - ay0.min_pair(by0.expand([n, m]))).clamp_min(0.0);
    let hull = hull_w * hull_h;
    iou - (hull.clone() - union) / hull
}

/// `(cx, cy, w, h)` → `(x0, y0, x1, y1)`.
pub fn cxcywh_to_xyxy_host(b: [f32; 4]) -> [f32; 4] {
    [b[0] - 0.5 * b[2], b[1] - 0.5 * b[3], b[0] + 0.5 * b[2], b[1] + 0.5 * b[3]]
}

/// `(x0, y0, x1, y1)` → `(cx, cy, w, h)`.
pub fn xyxy_to_cxcywh_host(b: [f32; 4]) -> [f32; 4] {
    [(b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5, b[2] - b[0], b[3] - b[1]]
}

/// Generalised IoU of paired `(x0, y0, x1, y1)` boxes: `[N, 4] × [N, 4]` → `[N]` (the diagonal of
/// [`generalized_box_iou`] without computing the rest).
pub fn paired_generalized_box_iou(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let [n, _] = a.dims();
    let col = |t: &Tensor<2>, k: usize| t.clone().slice([0..n, k..k + 1]).reshape([n]);
    let (ax0, ay0, ax1, ay1) = (col(&a, 0), col(&a, 1), col(&a, 2), col(&a, 3));
    let (bx0, by0, bx1, by1) = (col(&b, 0), col(&b, 1), col(&b, 2), col(&b, 3));
    let area_a = (ax1.clone() - ax0.clone()) * (ay1.clone() - ay0.clone());
    let area_b = (bx1.clone() - bx0.clone()) * (by1.clone() - by0.clone());
    let iw = (ax1.clone().min_pair(bx1.clone()) - ax0.clone().max_pair(bx0.clone())).clamp_min(0.0);
    let ih = (ay1.clone().min_pair(by1.clone()) - ay0.clone().max_pair(by0.clone())).clamp_min(0.0);
    let inter = iw * ih;
    let union = area_a + area_b - inter.clone();
    let hw = (ax1.max_pair(bx1) - ax0.min_pair(bx0)).clamp_min(0.0);
    let hh = (ay1.max_pair(by1) - ay0.min_pair(by0)).clamp_min(0.0);
    let hull = hw * hh;
    inter / union.clone() - (hull.clone() - union) / hull
}
