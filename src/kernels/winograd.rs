//! 3×3 stride-1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray, CVPR 2016, §4):
//! every 4×4 output tile is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` for its 6×6 input patch `d`, so the channel sums
//! become 36 independent matrix products `M_ξ = V_ξ · U_ξ` (tiles × in · in × out) with 36 products per
//! tile instead of 144 — 4× fewer multiplications than the direct sum; the transforms are additions and a
//! few scalings, done on 16 channels at a time (vectorised by the compiler).
//!
//! Interpolation points 0, ±1, ±2, ∞ (the paper's F(4,3) matrices). Tiles are processed in blocks so the
//! transformed data of a block stays a few MB; both transforms run over the block's tiles in parallel
//! natively, and each of the 36 products uses the kernels' threads.

use super::conv::ConvGeometry;
use super::gemm::{MatRef, matmul_strided};
use super::{Epilogue, FeatureMap, activate, threads};

/// Output tile side.
const TILE: usize = 4;
/// Input patch side (`TILE + 3 - 1`).
const PATCH: usize = 6;
/// Transformed values per tile and channel.
const POINTS: usize = PATCH * PATCH;
/// Channels transformed together.
const LANES: usize = 16;

/// `G` (6×3): the filter transform.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// A 3×3 filter bank transformed once: `U_ξ = (G g Gᵀ)_ξ` as 36 matrices `[in_channels, out_channels]`.
#[derive(Debug, Clone)]
pub struct WinogradFilter {
    geometry: ConvGeometry,
    /// `[36][in][out]`.
    u: Vec<f32>,
}

impl WinogradFilter {
    /// Whether a convolution can go this way: 3×3, stride 1, no dilation (any padding).
    pub fn applies(g: &ConvGeometry) -> bool {
        g.kernel == [3, 3] && g.stride == [1, 1] && g.dilation == [1, 1]
    }

    /// Transforms weights given in PyTorch layout `[out, in, 3, 3]`.
    pub fn new(geometry: &ConvGeometry, weight_oihw: &[f32]) -> Self {
        assert!(Self::applies(geometry), "Winograd F(4,3) needs a 3×3 stride-1 undilated convolution");
        let (ci, co) = (geometry.in_channels, geometry.out_channels);
        let mut u = vec![0.0f32; POINTS * ci * co];
        for o in 0..co {
            for i in 0..ci {
                let g = &weight_oihw[(o * ci + i) * 9..(o * ci + i + 1) * 9];
                // G g (6×3), then (G g) Gᵀ (6×6).
                let mut gg = [[0.0f64; 3]; 6];
                for (r, row) in gg.iter_mut().enumerate() {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|k| G[r][k] * g[k * 3 + c] as f64).sum();
                    }
                }
                for r in 0..PATCH {
                    for c in 0..PATCH {
                        let v: f64 = (0..3).map(|k| gg[r][k] * G[c][k]).sum();
                        u[((r * PATCH + c) * ci + i) * co + o] = v as f32;
                    }
                }
            }
        }
        Self { geometry: *geometry, u }
    }

    /// `out = epilogue(conv(x))`; `out` has the convolution's output shape.
    pub fn forward(&self, x: &FeatureMap, out: &mut FeatureMap, epilogue: Epilogue<'_>) {
        let g = &self.geometry;
        let (ci, co) = (g.in_channels, g.out_channels);
        let (oh, ow) = (out.height, out.width);
        let (tiles_y, tiles_x) = (oh.div_ceil(TILE), ow.div_ceil(TILE));
        let tiles = x.batch * tiles_y * tiles_x;
        let per_block = block_tiles(ci, co).min(tiles);
        // Transformed input `[tile][ξ][in]` and products `[tile][ξ][out]` of one block.
        let mut v = vec![0.0f32; per_block * POINTS * ci];
        let mut m = vec![0.0f32; per_block * POINTS * co];
        let layout = TileLayout { tiles_y, tiles_x, pad: g.padding };
        for first in (0..tiles).step_by(per_block) {
            let count = per_block.min(tiles - first);
            let v = &mut v[..count * POINTS * ci];
            let m = &mut m[..count * POINTS * co];
            for_each_tile(v, POINTS * ci, |t, vt| input_transform(x, layout.locate(first + t), layout.pad, vt));
            for xi in 0..POINTS {
                let a = MatRef { data: &v[xi * ci..], rows: count, cols: ci, stride: POINTS * ci };
                let b = MatRef::new(&self.u[xi * ci * co..(xi + 1) * ci * co], ci, co);
                matmul_strided(&mut m[xi * co..], POINTS * co, a, b, threads());
            }
            let out_ptr = SharedOut(out.data.as_mut_ptr(), out.data.len());
            for_each_tile(m, POINTS * co, |t, mt| {
                output_transform(mt, layout.locate(first + t), (oh, ow), co, epilogue, out_ptr);
            });
        }
    }
}

/// Tiles per block: the block's transformed input and products stay near 8 MB.
fn block_tiles(ci: usize, co: usize) -> usize {
    ((8usize << 20) / (POINTS * 4 * (ci + co))).clamp(32, 1024)
}

/// Where a tile is: image, top row and left column of its output.
#[derive(Debug, Clone, Copy)]
struct TileAt {
    image: usize,
    y0: usize,
    x0: usize,
}

#[derive(Debug, Clone, Copy)]
struct TileLayout {
    tiles_y: usize,
    tiles_x: usize,
    pad: [usize; 2],
}

impl TileLayout {
    fn locate(&self, tile: usize) -> TileAt {
        let per_image = self.tiles_y * self.tiles_x;
        let (image, rem) = (tile / per_image, tile % per_image);
        TileAt { image, y0: (rem / self.tiles_x) * TILE, x0: (rem % self.tiles_x) * TILE }
    }
}

/// Runs `f(tile, chunk)` over consecutive `chunk_len`-value chunks of `data`, in parallel natively.
fn for_each_tile<F: Fn(usize, &mut [f32]) + Sync + Send>(data: &mut [f32], chunk_len: usize, f: F) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk_len).enumerate().with_min_len(8).for_each(|(t, c)| f(t, c));
    }
    #[cfg(target_family = "wasm")]
    for (t, c) in data.chunks_mut(chunk_len).enumerate() {
        f(t, c);
    }
}

/// The output buffer shared by the threads of the output transform (each writes its own tiles).
#[derive(Clone, Copy)]
struct SharedOut(*mut f32, usize);
// SAFETY: used only for disjoint writes (see `WinogradFilter::forward`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The `len` values from `start`.
    ///
    /// # Safety
    /// No two live slices may overlap (the tiles of an output do not), and the buffer outlives them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn run(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1, "output run out of bounds");
        // SAFETY: in bounds (checked above); disjointness is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// `Bᵀ d B` of one tile's 6×6 input patch for every input channel, written as `vt[ξ][in]`.
fn input_transform(x: &FeatureMap, at: TileAt, pad: [usize; 2], vt: &mut [f32]) {
    let ci = x.channels;
    let image = &x.data[at.image * x.height * x.width * ci..(at.image + 1) * x.height * x.width * ci];
    // The 36 input pixels of the patch (None: padding).
    let mut pixels: [Option<usize>; POINTS] = [None; POINTS];
    for r in 0..PATCH {
        let iy = (at.y0 + r) as isize - pad[0] as isize;
        for c in 0..PATCH {
            let ix = (at.x0 + c) as isize - pad[1] as isize;
            if iy >= 0 && ix >= 0 && (iy as usize) < x.height && (ix as usize) < x.width {
                pixels[r * PATCH + c] = Some((iy as usize * x.width + ix as usize) * ci);
            }
        }
    }
    for c0 in (0..ci).step_by(LANES) {
        let lanes = LANES.min(ci - c0);
        let mut d = [[0.0f32; LANES]; POINTS];
        for (dst, p) in d.iter_mut().zip(&pixels) {
            if let Some(p) = p {
                dst[..lanes].copy_from_slice(&image[p + c0..p + c0 + lanes]);
            }
        }
        // Bᵀ d (columns), then (Bᵀ d) B (rows).
        let mut t = [[0.0f32; LANES]; POINTS];
        for col in 0..PATCH {
            let rows: [&[f32; LANES]; PATCH] = std::array::from_fn(|r| &d[r * PATCH + col]);
            let out = bt_apply(rows);
            for (r, o) in out.iter().enumerate() {
                t[r * PATCH + col] = *o;
            }
        }
        for row in 0..PATCH {
            let cols: [&[f32; LANES]; PATCH] = std::array::from_fn(|c| &t[row * PATCH + c]);
            let out = bt_apply(cols);
            for (c, o) in out.iter().enumerate() {
                let xi = row * PATCH + c;
                vt[xi * ci + c0..xi * ci + c0 + lanes].copy_from_slice(&o[..lanes]);
            }
        }
    }
}

/// `Bᵀ` applied to six lane vectors.
#[inline(always)]
fn bt_apply(d: [&[f32; LANES]; PATCH]) -> [[f32; LANES]; PATCH] {
    let mut out = [[0.0f32; LANES]; PATCH];
    for l in 0..LANES {
        let (d0, d1, d2, d3, d4, d5) = (d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]);
        out[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        out[1][l] = -4.0 * (d1 + d2) + d3 + d4;
        out[2][l] = 4.0 * (d1 - d2) - d3 + d4;
        out[3][l] = 2.0 * (d3 - d1) - d2 + d4;
        out[4][l] = 2.0 * (d1 - d3) - d2 + d4;
        out[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
    out
}

/// `Aᵀ` applied to six lane vectors (4 results).
#[inline(always)]
fn at_apply(m: [&[f32; LANES]; PATCH]) -> [[f32; LANES]; TILE] {
    let mut out = [[0.0f32; LANES]; TILE];
    for l in 0..LANES {
        let (m0, m1, m2, m3, m4, m5) = (m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]);
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        out[0][l] = m0 + s12 + s34;
        out[1][l] = d12 + 2.0 * d34;
        out[2][l] = s12 + 4.0 * s34;
        out[3][l] = d12 + 8.0 * d34 + m5;
    }
    out
}

/// `Aᵀ m A` of one tile for every output channel, through the epilogue, into the tile's output pixels.
fn output_transform(mt: &[f32], at: TileAt, (oh, ow): (usize, usize), co: usize, e: Epilogue<'_>, out: SharedOut) {
    let rows = TILE.min(oh - at.y0);
    let cols = TILE.min(ow - at.x0);
    for c0 in (0..co).step_by(LANES) {
        let lanes = LANES.min(co - c0);
        let mut m = [[0.0f32; LANES]; POINTS];
        for (xi, dst) in m.iter_mut().enumerate() {
            dst[..lanes].copy_from_slice(&mt[xi * co + c0..xi * co + c0 + lanes]);
        }
        // Aᵀ m (columns: 6 → 4 rows), then rows (6 → 4 columns).
        let mut t = [[0.0f32; LANES]; TILE * PATCH];
        for col in 0..PATCH {
            let rows6: [&[f32; LANES]; PATCH] = std::array::from_fn(|r| &m[r * PATCH + col]);
            for (r, o) in at_apply(rows6).iter().enumerate() {
                t[r * PATCH + col] = *o;
            }
        }
        let mut bias = [0.0f32; LANES];
        bias[..lanes].copy_from_slice(&e.bias[c0..c0 + lanes]);
        for r in 0..rows {
            let cols6: [&[f32; LANES]; PATCH] = std::array::from_fn(|c| &t[r * PATCH + c]);
            let y = at_apply(cols6);
            for (c, v) in y.iter().enumerate().take(cols) {
                let pixel = (at.image * oh + at.y0 + r) * ow + at.x0 + c;
                // SAFETY: this tile is the only writer of its pixels.
                let dst = unsafe { out.run(pixel * co + c0, lanes) };
                match (e.residual, e.relu) {
                    (Some(res), relu) => {
                        let res = &res[pixel * co + c0..pixel * co + c0 + lanes];
                        for l in 0..lanes {
                            let s = v[l] + bias[l] + res[l];
                            dst[l] = if relu { activate::<true>(s) } else { s };
                        }
                    }
                    (None, true) => {
                        for l in 0..lanes {
                            dst[l] = activate::<true>(v[l] + bias[l]);
                        }
                    }
                    (None, false) => {
                        for l in 0..lanes {
                            dst[l] = v[l] + bias[l];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv::tests::check;
    use super::*;

    fn g(ci: usize, co: usize, pad: usize) -> ConvGeometry {
        ConvGeometry {
            in_channels: ci,
            out_channels: co,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [pad, pad],
            dilation: [1, 1],
        }
    }

    #[test]
    fn equals_the_direct_convolution() {
        // Sizes that are and are not multiples of the tile, channel counts that are not multiples of 16.
        check(g(5, 7, 1), 2, 9, 11, false, true);
        check(g(16, 32, 1), 1, 8, 8, true, true);
        check(g(20, 3, 0), 1, 7, 13, false, false);
    }

    #[test]
    fn several_blocks_of_tiles() {
        // 3 × 25 × 13 = 975 tiles of 4 channels: more than one block.
        check(g(4, 4, 1), 3, 100, 50, true, true);
    }
}
