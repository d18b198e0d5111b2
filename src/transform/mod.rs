//! The search transform: how a stored row becomes the search row the scan
//! compares. One enum, so that a commit (every product's row) and a query
//! (the query's row) always make them the same way.
//!
//! * [`SearchTransform::Raw`]: the CNN and colour parts as stored (small
//!   catalogues without a head);
//! * [`SearchTransform::Pca`]: the CNN part through a PCA fitted on the
//!   catalogue (`pca`), then the colour part;
//! * [`SearchTransform::Head`]: a learned head ([`crate::embedding::Head`]),
//!   which reads the whole row, taps and head colour included.

mod pca;

use std::sync::Arc;

pub use pca::Projection;

use crate::embedding::Head;
use crate::layout::{RowLayout, SearchLayout};

/// How stored rows are turned into search rows.
#[derive(Debug, Clone)]
pub enum SearchTransform {
    /// `cnn | colour`, as stored.
    Raw,
    /// `pca(cnn) | colour`.
    Pca(Projection),
    /// What the head makes of the whole row.
    Head(Arc<Head>),
}

impl SearchTransform {
    /// The search row of `row` (laid out as `layout`).
    pub fn apply(&self, layout: &RowLayout, row: &[f32]) -> Vec<f32> {
        let mut search = match self {
            SearchTransform::Head(h) => return h.apply(row),
            SearchTransform::Pca(p) => p.apply(layout.cnn(row)),
            SearchTransform::Raw => layout.cnn(row).to_vec(),
        };
        search.extend_from_slice(layout.colour(row));
        search
    }

    /// The layout of the search rows it makes from rows of `layout`.
    pub fn search_layout(&self, layout: &RowLayout) -> SearchLayout {
        match self {
            SearchTransform::Raw => SearchLayout {
                shape: layout.cnn,
                colour: layout.colour,
            },
            SearchTransform::Pca(p) => SearchLayout {
                shape: p.output_dim,
                colour: layout.colour,
            },
            SearchTransform::Head(h) => h.search_layout(),
        }
    }

    /// The head, for the head transform.
    pub fn head(&self) -> Option<&Arc<Head>> {
        match self {
            SearchTransform::Head(h) => Some(h),
            _ => None,
        }
    }

    /// The projection, for the PCA transform.
    pub fn projection(&self) -> Option<&Projection> {
        match self {
            SearchTransform::Pca(p) => Some(p),
            _ => None,
        }
    }

    /// `raw`, `pca` or `head` (for `info`).
    pub fn name(&self) -> &'static str {
        match self {
            SearchTransform::Raw => "raw",
            SearchTransform::Pca(_) => "pca",
            SearchTransform::Head(_) => "head",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_pca_keep_the_colour_part_and_drop_the_taps() {
        let layout = RowLayout {
            cnn: 3,
            colour: 2,
            taps: 2,
            head_colour: 1,
        };
        let row = [1.0, 0.0, 0.0, 0.6, 0.8, 9.0, 9.0, 9.0];
        let raw = SearchTransform::Raw;
        assert_eq!(raw.apply(&layout, &row), vec![1.0, 0.0, 0.0, 0.6, 0.8]);
        assert_eq!(raw.search_layout(&layout).dim(), 5);
        let pca = SearchTransform::Pca(Projection {
            input_dim: 3,
            output_dim: 1,
            alpha: 0.0,
            fitted_on: 10,
            mean: vec![0.0; 3],
            matrix: vec![2.0, 0.0, 0.0],
        });
        assert_eq!(pca.apply(&layout, &row), vec![1.0, 0.6, 0.8]);
        let s = pca.search_layout(&layout);
        assert_eq!((s.shape, s.colour), (1, 2));
        assert_eq!((raw.name(), pca.name()), ("raw", "pca"));
    }
}
