//! Multi-head scaled dot-product attention, `softmax(q·kᵀ · scale) · v` per head, over the row layout the
//! projections produce: queries `[B, Lq, H·dk]`, keys `[B, Lk, H·dk]`, values `[B, Lk, H·dv]`, output
//! `[B, Lq, H·dv]`. Each head is a strided view into those rows, so splitting and merging heads copies
//! nothing; the two products per head are `gemm` calls (the key transposed through its strides), and the
//! softmax in between uses a vectorisable exponential ([`exp`]), as the scalar `expf` of WebAssembly's libm
//! is 5–6× slower in V8. Same function as `model::attention`'s Burn path (official `models/attention.py`), for
//! inference on the CPU device; padding keys get the same finite score as there.

use super::for_each_row_block;

/// Added to the scores of padding keys, here and in `model::attention`'s Burn path: far below any real
/// score, yet finite on every backend.
pub const MASKED_SCORE: f32 = -1.0e9;

/// Query rows per block: one block's scores (`ROWS × Lk`) stay in cache between the two products.
const ROWS: usize = 64;

/// The sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub heads: usize,
    pub q_len: usize,
    pub k_len: usize,
    /// Query and key width per head (`dk`).
    pub qk_dim: usize,
    /// Value width per head (`dv`).
    pub v_dim: usize,
}

/// The operands: row-major, heads side by side in each row (head `h` of a query row is
/// `row[h·dk..(h+1)·dk]`).
#[derive(Debug, Clone, Copy)]
pub struct AttentionInput<'a> {
    /// `[B, Lq, H·dk]`
    pub q: &'a [f32],
    /// `[B, Lk, H·dk]`
    pub k: &'a [f32],
    /// `[B, Lk, H·dv]`
    pub v: &'a [f32],
    /// `[B, Lk]`, true where the key is padding.
    pub key_padding: Option<&'a [bool]>,
}

/// `softmax(q_h·k_hᵀ / sqrt(dk)) · v_h` for every batch element and head.
///
/// # Shapes
/// - input: see [`AttentionInput`]; output: `[B, Lq, H·dv]` (overwritten)
pub fn attention(input: AttentionInput<'_>, shape: AttentionShape, out: &mut [f32]) {
    let AttentionShape { batch, heads, q_len, k_len, qk_dim, v_dim } = shape;
    let (q_row, v_row) = (heads * qk_dim, heads * v_dim);
    assert_eq!(input.q.len(), batch * q_len * q_row, "queries of the wrong length");
    assert_eq!(input.k.len(), batch * k_len * q_row, "keys of the wrong length");
    assert_eq!(input.v.len(), batch * k_len * v_row, "values of the wrong length");
    assert_eq!(out.len(), batch * q_len * v_row, "output of the wrong length");
    if let Some(padding) = input.key_padding {
        assert_eq!(padding.len(), batch * k_len, "key padding of the wrong length");
    }
    assert!(qk_dim > 0, "attention heads without query width");
    if out.is_empty() {
        return;
    }
    if k_len == 0 {
        out.fill(0.0);
        return;
    }
    let scale = (qk_dim as f32).powf(-0.5);
    // Blocks of query rows never straddle two batch elements.
    let rows = ROWS.min(q_len);
    for (b, out_b) in out.chunks_exact_mut(q_len * v_row).enumerate() {
        let q_b = &input.q[b * q_len * q_row..(b + 1) * q_len * q_row];
        let k_b = &input.k[b * k_len * q_row..(b + 1) * k_len * q_row];
        let v_b = &input.v[b * k_len * v_row..(b + 1) * k_len * v_row];
        let padding = input.key_padding.map(|p| &p[b * k_len..(b + 1) * k_len]);
        for_each_row_block(out_b, v_row, rows, |first, out_rows, scores| {
            let count = out_rows.len() / v_row;
            scores.resize(count * k_len, 0.0);
            for h in 0..heads {
                let q = &q_b[first * q_row + h * qk_dim..];
                // SAFETY: the views stay inside their slices: the last query element read is
                // `(count-1)·q_row + h·dk + dk-1 < (first+count)·q_row` of `q_b` (offset by `first·q_row`),
                // the last key element `(k_len-1)·q_row + h·dk + dk-1 < k_len·q_row`, and `scores` holds
                // `count × k_len` values.
                unsafe {
                    gemm::gemm(
                        count,
                        k_len,
                        qk_dim,
                        scores.as_mut_ptr(),
                        1,
                        k_len as isize,
                        false,
                        q.as_ptr(),
                        1,
                        q_row as isize,
                        k_b[h * qk_dim..].as_ptr(),
                        q_row as isize,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for row in scores.chunks_exact_mut(k_len) {
                    if let Some(padding) = padding {
                        for (s, &pad) in row.iter_mut().zip(padding) {
                            if pad {
                                *s = MASKED_SCORE;
                            }
                        }
                    }
                    softmax_in_place(row);
                }
                // SAFETY: `scores` is `count × k_len`; the value view's last element is
                // `(k_len-1)·v_row + h·dv + dv-1 < k_len·v_row`; the output view's last element is
                // `(count-1)·v_row + h·dv + dv-1 < count·v_row = out_rows.len()`.
                unsafe {
                    gemm::gemm(
                        count,
                        v_dim,
                        k_len,
                        out_rows[h * v_dim..].as_mut_ptr(),
                        1,
                        v_row as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        k_len as isize,
                        v_b[h * v_dim..].as_ptr(),
                        1,
                        v_row as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
    }
}

/// `row ← softmax(row)`; max and sum over eight lanes so both loops vectorise.
fn softmax_in_place(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    let max = chunks.remainder().iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let mut sums = [0.0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for chunk in &mut chunks {
        for (s, &v) in sums.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    let sum: f32 = chunks.remainder().iter().sum::<f32>() + sums.iter().sum::<f32>();
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `eˣ` for `x ≤ 88`, within 3·10⁻⁷ (relative) of `f32::exp` (0 below `-87.3`, where `f32::exp` is
/// subnormal), in straight-line arithmetic that vectorises: `eˣ = 2ᵏ · eʳ` with `k = round(x / ln 2)` and `eʳ` a degree-6
/// Taylor polynomial on `|r| ≤ ln 2 / 2`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Adding 1.5·2²³ rounds `x / ln 2` to the nearest integer, which lands in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped * core::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = clamped - k * LN2_HI - k * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_k = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    if x < -87.33 { 0.0 } else { two_k * p }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_3e7_of_the_standard_one() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max((got - want).abs() / want);
            x += 0.001_37;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(-1.0e9), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    /// The definition, one head at a time, with the masked score of the Burn path.
    fn reference(input: AttentionInput<'_>, s: AttentionShape) -> Vec<f32> {
        let (qr, vr) = (s.heads * s.qk_dim, s.heads * s.v_dim);
        let mut out = vec![0.0; s.batch * s.q_len * vr];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.q_len {
                    let scores: Vec<f64> = (0..s.k_len)
                        .map(|j| {
                            if input.key_padding.is_some_and(|p| p[b * s.k_len + j]) {
                                return MASKED_SCORE as f64;
                            }
                            let dot: f64 = (0..s.qk_dim)
                                .map(|c| {
                                    input.q[(b * s.q_len + i) * qr + h * s.qk_dim + c] as f64
                                        * input.k[(b * s.k_len + j) * qr + h * s.qk_dim + c] as f64
                                })
                                .sum();
                            dot / (s.qk_dim as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|v| (v - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in 0..s.v_dim {
                        let v: f64 = (0..s.k_len)
                            .map(|j| e[j] / sum * input.v[(b * s.k_len + j) * vr + h * s.v_dim + c] as f64)
                            .sum();
                        out[(b * s.q_len + i) * vr + h * s.v_dim + c] = v as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 2003.0 - 0.5) * 3.0).collect()
    }

    #[test]
    fn matches_the_definition_with_padding_and_several_row_blocks() {
        // 70 query rows: two blocks of `ROWS`; q/k head width twice the value width, as in the
        // conditional cross-attention.
        let s = AttentionShape { batch: 2, heads: 3, q_len: 70, k_len: 13, qk_dim: 8, v_dim: 4 };
        let q = values(s.batch * s.q_len * s.heads * s.qk_dim, 1);
        let k = values(s.batch * s.k_len * s.heads * s.qk_dim, 2);
        let v = values(s.batch * s.k_len * s.heads * s.v_dim, 3);
        let padding: Vec<bool> = (0..s.batch * s.k_len).map(|i| i >= s.k_len && i % s.k_len >= 9).collect();
        let input = AttentionInput { q: &q, k: &k, v: &v, key_padding: Some(&padding) };
        let mut out = vec![f32::NAN; s.batch * s.q_len * s.heads * s.v_dim];
        attention(input, s, &mut out);
        let want = reference(input, s);
        for (i, (g, w)) in out.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-5, "output {i}: {g} vs {w}");
        }
        // The padded keys of the second image do not matter: changing their values changes nothing.
        let mut v2 = v.clone();
        for j in 9..s.k_len {
            for c in 0..s.heads * s.v_dim {
                v2[(s.k_len + j) * s.heads * s.v_dim + c] += 100.0;
            }
        }
        let mut out2 = vec![0.0; out.len()];
        attention(AttentionInput { v: &v2, ..input }, s, &mut out2);
        assert_eq!(out, out2);
    }
}
