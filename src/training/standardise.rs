//! Standardising the rows: each value less its mean, over its standard
//! deviation, both measured on the rows trained on (the head file keeps
//! them, and [`crate::embedding::Head::apply`] does the same).

use candle_core::{Device, Tensor};

use super::candle;
use super::dataset::Dataset;
use crate::error::Result;

/// Per-value mean and standard deviation of some rows.
pub(super) struct Standardiser {
    /// Mean per value.
    pub mean: Vec<f32>,
    /// Standard deviation per value.
    pub std: Vec<f32>,
    /// `1 / std`, or 0 for constant values.
    pub inv_std: Vec<f32>,
}

impl Standardiser {
    /// Measured on `rows` of `data` (summed in `f64`, which keeps its
    /// precision over tens of thousands of rows).
    pub fn fit(data: &Dataset, rows: &[usize]) -> Standardiser {
        let dim = data.dim;
        let mut mean = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        for &r in rows {
            for (j, &v) in data.row(r).iter().enumerate() {
                mean[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let n = rows.len().max(1) as f64;
        let std: Vec<f32> = mean
            .iter()
            .zip(&sq)
            .map(|(m, s)| ((s / n - (m / n) * (m / n)).max(0.0).sqrt()) as f32)
            .collect();
        let mean: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
        let inv_std = std
            .iter()
            .map(|&s| if s > 1e-6 { 1.0 / s } else { 0.0 })
            .collect();
        Standardiser { mean, std, inv_std }
    }

    /// The standardised rows `rows` of `data` as a `[rows.len(), dim]`
    /// tensor.
    pub fn batch(&self, data: &Dataset, rows: &[usize]) -> Result<Tensor> {
        let mut x = Vec::with_capacity(rows.len() * data.dim);
        for &r in rows {
            x.extend(
                data.row(r)
                    .iter()
                    .zip(&self.mean)
                    .zip(&self.inv_std)
                    .map(|((v, m), s)| (v - m) * s),
            );
        }
        candle(|| Tensor::from_vec(x, (rows.len(), data.dim), &Device::Cpu))
    }
}
