//! Row-major single-precision matrix products on top of the `gemm` crate (the crate Burn's Flex backend uses
//! too: AVX2/AVX-512 kernels natively, simd128 on wasm).

use gemm::Parallelism;

/// Row-major matrix operand: `rows × cols` values with `stride` values between the starts of rows.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, stride: cols }
    }

    fn check(&self, what: &str) {
        assert!(self.cols <= self.stride, "{what}: {} columns but a row stride of {}", self.cols, self.stride);
        if self.rows > 0 {
            let needed = (self.rows - 1) * self.stride + self.cols;
            assert!(self.data.len() >= needed, "{what}: {} values, {needed} needed", self.data.len());
        }
    }
}

/// `c = a · b`, overwriting `c` (row-major, `a.rows × b.cols`, dense). `threads > 1` lets the product use
/// that many threads (native builds only).
pub fn matmul(c: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, threads: usize) {
    assert_eq!(c.len(), a.rows * b.cols, "output of {} values for a {}×{} product", c.len(), a.rows, b.cols);
    matmul_strided(c, b.cols, a, b, threads)
}

/// [`matmul`] into a row-major output whose rows start `c_stride` values apart (the values between rows
/// are left alone).
pub fn matmul_strided(c: &mut [f32], c_stride: usize, a: MatRef<'_>, b: MatRef<'_>, threads: usize) {
    a.check("lhs");
    b.check("rhs");
    assert_eq!(a.cols, b.rows, "inner dimensions differ: {}×{} · {}×{}", a.rows, a.cols, b.rows, b.cols);
    let (m, k, n) = (a.rows, a.cols, b.cols);
    MatRef { data: &*c, rows: m, cols: n, stride: c_stride }.check("output");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for row in c.chunks_mut(c_stride).take(m) {
            row[..n].fill(0.0);
        }
        return;
    }
    // SAFETY: the three operands were checked above to hold every element the strides address; `c` is
    // written only (`read_dst = false`), row-major with column stride 1 and row stride `c_stride`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_stride as isize,
            false,
            a.data.as_ptr(),
            1,
            a.stride as isize,
            b.data.as_ptr(),
            1,
            b.stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(threads),
        )
    }
}

fn parallelism(threads: usize) -> Parallelism {
    #[cfg(not(target_family = "wasm"))]
    if threads > 1 {
        return Parallelism::Rayon(threads);
    }
    let _ = threads;
    Parallelism::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition_with_strided_lhs() {
        let (m, k, n) = (5, 7, 3);
        let lda = 9;
        let a: Vec<f32> = (0..m * lda).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 * 0.5 - 3.0).collect();
        let mut c = vec![f32::NAN; m * n];
        matmul(&mut c, MatRef { data: &a, rows: m, cols: k, stride: lda }, MatRef::new(&b, k, n), 1);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * lda + p] * b[p * n + j]).sum();
                assert_eq!(c[i * n + j], want, "({i}, {j})");
            }
        }
    }
}
