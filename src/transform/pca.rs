//! A PCA projection of the CNN features, fitted on the catalogue itself
//! (no labels), used to make the search vectors short.
//!
//! 1280 EfficientNet features become `d` (256 by default) principal
//! components, each scaled by `lambda^(-alpha/2)` (alpha = 0.5: half-way to
//! whitening, which lifts the many small but informative directions), then
//! L2-normalised. The evaluation found this both faster (5x less to scan) and
//! slightly better than the raw features (see docs/quality.md, "Ablations").

use std::io::Write;
use std::path::Path;

use nalgebra::{DMatrix, SymmetricEigen};
use rayon::prelude::*;

use crate::error::{Error, IoResultExt, Result};
use crate::vector::{dot, project};

/// Fitted projection: `y = normalise(W (x - mean))`.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Input length (CNN features).
    pub input_dim: usize,
    /// Output length.
    pub output_dim: usize,
    /// Whitening exponent used at fit time.
    pub alpha: f32,
    /// Rows the projection was fitted on (to decide when to refit).
    pub fitted_on: usize,
    /// Mean of the inputs.
    pub mean: Vec<f32>,
    /// `output_dim` rows of `input_dim`, scaled principal axes.
    pub matrix: Vec<f32>,
}

const MAGIC: &[u8; 4] = b"LKP1";

impl Projection {
    /// Fits on `n` rows of `input_dim` floats given by `row(i)`.
    pub fn fit<'a>(
        n: usize,
        input_dim: usize,
        output_dim: usize,
        alpha: f32,
        row: impl Fn(usize) -> &'a [f32] + Sync,
    ) -> Result<Projection> {
        if n < 2 || output_dim == 0 || output_dim > input_dim {
            return Err(Error::InvalidArgument(format!(
                "cannot fit a {input_dim}->{output_dim} projection on {n} rows"
            )));
        }
        let mut mean = vec![0f64; input_dim];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(row(i)) {
                *m += f64::from(*v);
            }
        }
        let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
        // Columns of the centred data, so that covariance entries are dot products.
        let cols: Vec<Vec<f32>> = (0..input_dim)
            .into_par_iter()
            .map(|j| (0..n).map(|i| row(i)[j] - mean[j]).collect())
            .collect();
        let upper: Vec<Vec<f64>> = (0..input_dim)
            .into_par_iter()
            .map(|i| {
                (i..input_dim)
                    .map(|j| f64::from(dot(&cols[i], &cols[j])) / n as f64)
                    .collect()
            })
            .collect();
        drop(cols);
        let cov = DMatrix::from_fn(input_dim, input_dim, |i, j| {
            let (a, b) = if i <= j { (i, j) } else { (j, i) };
            upper[a][b - a]
        });
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..input_dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let top = eig.eigenvalues[order[0]].max(1e-12);
        let mut matrix = Vec::with_capacity(output_dim * input_dim);
        for &k in &order[..output_dim] {
            // Floor tiny eigenvalues so near-empty directions are not blown up.
            let lambda = eig.eigenvalues[k].max(top * 1e-6);
            let scale = lambda.powf(-f64::from(alpha) / 2.0);
            matrix.extend(
                eig.eigenvectors
                    .column(k)
                    .iter()
                    .map(|v| (v * scale) as f32),
            );
        }
        Ok(Projection {
            input_dim,
            output_dim,
            alpha,
            fitted_on: n,
            mean,
            matrix,
        })
    }

    /// Projects and L2-normalises one feature vector.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        project(&self.mean, &self.matrix, x)
    }

    /// Writes the projection (little-endian) to `w`.
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        for v in [self.input_dim, self.output_dim, self.fitted_on] {
            w.write_all(&(v as u64).to_le_bytes())?;
        }
        w.write_all(&self.alpha.to_le_bytes())?;
        w.write_all(bytemuck::cast_slice(&self.mean))?;
        w.write_all(bytemuck::cast_slice(&self.matrix))
    }

    /// Reads a projection written by [`Projection::write_to`].
    pub fn read(path: &Path) -> Result<Projection> {
        let bytes = std::fs::read(path).at(path)?;
        let corrupt = |reason: &str| Error::CorruptIndex {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if bytes.len() < 32 || &bytes[..4] != MAGIC {
            return Err(corrupt("not a projection file"));
        }
        let u = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(b) as usize
        };
        let (input_dim, output_dim, fitted_on) = (u(4), u(12), u(20));
        let alpha = f32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]);
        let floats = input_dim
            .checked_mul(output_dim + 1)
            .ok_or_else(|| corrupt("bad dimensions"))?;
        if bytes.len() != 32 + floats * 4 || output_dim == 0 || output_dim > input_dim {
            return Err(corrupt("size does not match its dimensions"));
        }
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[32..]);
        let (mean, matrix) = values.split_at(input_dim);
        Ok(Projection {
            input_dim,
            output_dim,
            alpha,
            fitted_on,
            mean: mean.to_vec(),
            matrix: matrix.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn recovers_a_low_rank_subspace_and_round_trips() {
        // 400 points in 12-D that vary only along 2 directions (plus noise).
        let mut rng = SplitMix64(1);
        let mut unit = || (rng.next_u64() % 10_000) as f32 / 10_000.0 - 0.5;
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|_| {
                let (a, b) = (unit() * 10.0, unit() * 5.0);
                (0..12)
                    .map(|j| match j {
                        0 => 3.0 + a,
                        1 => b,
                        _ => unit() * 0.01,
                    })
                    .collect()
            })
            .collect();
        let p = Projection::fit(rows.len(), 12, 2, 0.0, |i| &rows[i]).expect("fit");
        assert!((p.mean[0] - 3.0).abs() < 0.5);
        // The first axis is dimension 0 (largest variance), the second dimension 1.
        assert!(p.matrix[0].abs() > 0.99, "{:?}", &p.matrix[..12]);
        assert!(p.matrix[12 + 1].abs() > 0.99, "{:?}", &p.matrix[12..]);
        let y = p.apply(&rows[0]);
        assert_eq!(y.len(), 2);
        assert!((dot(&y, &y) - 1.0).abs() < 1e-5);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.bin");
        let mut f = std::fs::File::create(&path).expect("create");
        p.write_to(&mut f).expect("write");
        drop(f);
        assert_eq!(Projection::read(&path).expect("read"), p);
        std::fs::write(&path, b"LKP1garbage").expect("write");
        assert!(Projection::read(&path).is_err());
        assert!(Projection::fit(1, 12, 2, 0.0, |i| &rows[i]).is_err());
    }
}
