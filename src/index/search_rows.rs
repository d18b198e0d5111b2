//! The search representation: short rows that the scan reads, derived from
//! the stored vectors at commit time.
//!
//! A search row is `shape | colour` ([`crate::layout::SearchLayout`]), what
//! the index's [`crate::transform::SearchTransform`] makes of a stored row,
//! kept twice:
//!
//! * `search-G.f32`: exact f32 rows, read only for a few candidates;
//! * `codes-G.i8` + `scales-G.f32`: each part quantised to i8 with one scale
//!   per row and part, plus the L2 norm of the quantisation error. The scan
//!   reads these (4x fewer bytes) and the error norms turn approximate scores
//!   into guaranteed intervals, so the final top-k is still exact (see
//!   [`crate::search`]).

use rayon::prelude::*;

/// Per-row quantisation data: scale and error norm of the CNN part, then of
/// the colour part.
pub const META_FLOATS: usize = 4;

/// Quantises `row` (split at `cnn_dim`) into `codes`, returning
/// `[cnn scale, cnn error norm, colour scale, colour error norm]`.
pub fn quantise(row: &[f32], cnn_dim: usize, codes: &mut [i8]) -> [f32; META_FLOATS] {
    let (cnn_codes, colour_codes) = codes.split_at_mut(cnn_dim);
    let (cnn, colour) = row.split_at(cnn_dim);
    let (s0, e0) = quantise_part(cnn, cnn_codes);
    let (s1, e1) = quantise_part(colour, colour_codes);
    [s0, e0, s1, e1]
}

/// Symmetric i8 quantisation with one scale; returns (scale, error norm).
fn quantise_part(xs: &[f32], codes: &mut [i8]) -> (f32, f32) {
    let max = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let mut err2 = 0f64;
    for (c, &x) in codes.iter_mut().zip(xs) {
        let q = (x / scale).round().clamp(-127.0, 127.0);
        *c = q as i8;
        let e = f64::from(x) - f64::from(q) * f64::from(scale);
        err2 += e * e;
    }
    // Rounded up a little so that float error never makes the bound undercut.
    (scale, (err2.sqrt() * 1.001 + 1e-6) as f32)
}

/// One part of a query, quantised to i16 so that the scan multiplies it
/// with a row's i8 codes in integers ([`crate::vector::dot_i16_i8`]).
///
/// With the row part `x`, its codes `c` and scale `s` (`x' = s * c`, within
/// the stored error norm of `x`), the scan's approximate cosine is
/// `s * self.dot(c)`, that is `q' . x'` for the dequantised query `q'`.
/// It differs from `q . x` by at most `|q| * |x - x'| + |q - q'| * |x'|`
/// (Cauchy-Schwarz, twice); the second term is [`QueryCodes::bound`].
#[derive(Debug, Clone)]
pub struct QueryCodes {
    codes: Vec<i16>,
    scale: f32,
    /// `|q - q'| * 128 * sqrt(len)`: with `|x'| <= s * 128 * sqrt(len)`
    /// (no i8 code exceeds 128 in size), the second error term per unit of
    /// the row's scale `s`.
    error: f32,
}

impl QueryCodes {
    /// Quantises `q` with the largest codes for which every dot product with
    /// `q.len()` i8 codes fits an i32 (at most 2^14 - 1).
    pub fn new(q: &[f32]) -> QueryCodes {
        let len = q.len().max(1);
        let limit = (i32::MAX as usize / (128 * len)).clamp(1, 16_383) as f32;
        let max = q.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            max / limit
        } else {
            1.0
        };
        let mut err2 = 0f64;
        let codes = q
            .iter()
            .map(|&x| {
                let c = (x / scale).round().clamp(-limit, limit);
                let e = f64::from(x) - f64::from(c) * f64::from(scale);
                err2 += e * e;
                c as i16
            })
            .collect();
        let room = 128.0 * (len as f64).sqrt();
        QueryCodes {
            codes,
            scale,
            // Rounded up a little, as the rows' error norms are.
            error: (err2.sqrt() * room * 1.001 + 1e-9) as f32,
        }
    }

    /// `q' . c`: the query against unscaled i8 codes (multiply by the row's
    /// scale for `q' . x'`).
    #[inline]
    pub fn dot(&self, c: &[i8]) -> f32 {
        self.scale * crate::vector::dot_i16_i8(&self.codes, c) as f32
    }

    /// The bound on `|q - q'| * |x'|` for a row part of scale `row_scale`.
    #[inline]
    pub fn bound(&self, row_scale: f32) -> f32 {
        self.error * row_scale
    }
}

/// Search rows, codes and meta for `rows`, in parallel.
pub fn build(rows: &[Vec<f32>], cnn_dim: usize) -> (Vec<i8>, Vec<f32>) {
    let dim = rows.first().map(Vec::len).unwrap_or(0);
    let mut codes = vec![0i8; rows.len() * dim];
    let mut meta = vec![0f32; rows.len() * META_FLOATS];
    codes
        .par_chunks_mut(dim.max(1))
        .zip(meta.par_chunks_mut(META_FLOATS))
        .zip(rows.par_iter())
        .for_each(|((c, m), r)| m.copy_from_slice(&quantise(r, cnn_dim, c)));
    (codes, meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::dot;

    #[test]
    fn error_norm_bounds_the_dot_product_error() {
        let row: Vec<f32> = (0..40)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 30.0)
            .collect();
        let q: Vec<f32> = (0..40)
            .map(|i| ((i * 11 % 13) as f32 - 6.0) / 20.0)
            .collect();
        let mut codes = vec![0i8; 40];
        let meta = quantise(&row, 30, &mut codes);
        for (range, (scale, err)) in [(0..30, (meta[0], meta[1])), (30..40, (meta[2], meta[3]))] {
            let exact = dot(&q[range.clone()], &row[range.clone()]);
            let approx: f32 = q[range.clone()]
                .iter()
                .zip(&codes[range.clone()])
                .map(|(a, &c)| a * f32::from(c) * scale)
                .sum();
            let qn = dot(&q[range.clone()], &q[range.clone()]).sqrt();
            assert!(
                (exact - approx).abs() <= qn * err + 1e-6,
                "{exact} vs {approx} ± {}",
                qn * err
            );
            assert!(err < 0.02);

            // The query in i16 codes: the extra bound covers the difference.
            let qc = QueryCodes::new(&q[range.clone()]);
            let int_approx = scale * qc.dot(&codes[range.clone()]);
            let bound = qn * err + qc.bound(scale);
            assert!(
                (exact - int_approx).abs() <= bound,
                "{exact} vs {int_approx} ± {bound}"
            );
            assert!((int_approx - approx).abs() < 1e-4);
            assert!(qc.bound(scale) < 0.05 * qn * err, "{}", qc.bound(scale));
        }
    }

    #[test]
    fn query_codes_fit_an_i32_dot_product() {
        // A part as long as a raw CNN feature, every value at the extreme.
        let q = vec![-1.0f32; 1280];
        let qc = QueryCodes::new(&q);
        let c = vec![-128i8; 1280];
        let want = 1280.0 * 128.0;
        assert!((qc.dot(&c) - want).abs() / want < 1e-6, "{}", qc.dot(&c));
        // All zeros: no codes, no error, nothing divided by 0.
        let zero = QueryCodes::new(&[0.0; 8]);
        assert_eq!(zero.dot(&[5; 8]), 0.0);
        assert!(zero.bound(1.0) < 1e-6);
    }
}
