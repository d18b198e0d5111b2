//! Similarity metrics over two-part rows (CNN | colour).

use serde::{Deserialize, Serialize};

use crate::vector::{dot, squared_l2};

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Weighted cosine similarity, higher is closer:
    /// `(1 - w) * cos(cnn) + w * cos(colour)` (both parts are unit length).
    #[default]
    Cosine,
    /// Weighted Euclidean distance, lower is closer:
    /// `sqrt((1 - w) * |cnn - cnn'|^2 + w * |colour - colour'|^2)`.
    Euclidean,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" | "cos" => Ok(Metric::Cosine),
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            _ => Err(format!("unknown metric `{s}` (cosine or euclidean)")),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
        })
    }
}

/// A score and its two contributions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The metric's value (similarity for cosine, distance for Euclidean).
    pub score: f32,
    /// Contribution of the CNN part: `(1-w) * cos` or `(1-w) * |d|^2`.
    pub shape: f32,
    /// Contribution of the colour part: `w * cos` or `w * |d|^2`.
    pub colour: f32,
}

impl Metric {
    /// Scores row `x` against query `q`; rows split at `cnn_dim`.
    #[inline]
    pub fn score(self, q: &[f32], x: &[f32], cnn_dim: usize, colour_weight: f32) -> Scored {
        let (qc, qk) = q.split_at(cnn_dim);
        let (xc, xk) = x.split_at(cnn_dim);
        let (ws, wk) = (1.0 - colour_weight, colour_weight);
        match self {
            Metric::Cosine => {
                let shape = ws * dot(qc, xc);
                let colour = if wk == 0.0 { 0.0 } else { wk * dot(qk, xk) };
                Scored {
                    score: shape + colour,
                    shape,
                    colour,
                }
            }
            Metric::Euclidean => {
                let shape = ws * squared_l2(qc, xc);
                let colour = if wk == 0.0 {
                    0.0
                } else {
                    wk * squared_l2(qk, xk)
                };
                Scored {
                    score: (shape + colour).max(0.0).sqrt(),
                    shape,
                    colour,
                }
            }
        }
    }

    /// A key where larger is always better (similarity, or negated distance).
    #[inline]
    pub fn rank_key(self, score: f32) -> f32 {
        match self {
            Metric::Cosine => score,
            Metric::Euclidean => -score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_scores() {
        // cnn part = first 2 values, colour = last 2.
        let q = [1.0, 0.0, 0.0, 1.0];
        let x = [0.6, 0.8, 1.0, 0.0];
        let c = Metric::Cosine.score(&q, &x, 2, 0.25);
        assert!((c.shape - 0.75 * 0.6).abs() < 1e-6);
        assert!((c.colour - 0.0).abs() < 1e-6);
        assert!((c.score - 0.45).abs() < 1e-6);

        let e = Metric::Euclidean.score(&q, &x, 2, 0.25);
        // |(1,0)-(0.6,0.8)|^2 = 0.16+0.64 = 0.8 ; |(0,1)-(1,0)|^2 = 2
        assert!((e.shape - 0.75 * 0.8).abs() < 1e-6);
        assert!((e.colour - 0.25 * 2.0).abs() < 1e-6);
        assert!((e.score - (0.6f32 + 0.5).sqrt()).abs() < 1e-6);

        // For unit parts, d^2 = 2 - 2 cos: both metrics rank alike.
        let c0 = Metric::Cosine.score(&q, &x, 2, 0.0).score;
        let e0 = Metric::Euclidean.score(&q, &x, 2, 0.0).score;
        assert!((e0 * e0 - (2.0 - 2.0 * c0)).abs() < 1e-6);
    }

    #[test]
    fn parsing() {
        assert_eq!("Cosine".parse::<Metric>(), Ok(Metric::Cosine));
        assert_eq!("euclidean".parse::<Metric>(), Ok(Metric::Euclidean));
        assert!("manhattan".parse::<Metric>().is_err());
        assert!(Metric::Euclidean.rank_key(1.0) < Metric::Euclidean.rank_key(0.5));
    }
}
