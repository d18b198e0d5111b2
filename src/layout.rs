//! How rows are laid out: one place for the slicing rule of a stored row
//! and of a search row.
//!
//! ```text
//! stored row:  cnn | colour | taps | head colour     (RowLayout, what the embedder makes)
//! search row:  shape | colour                        (SearchLayout, what the scan compares)
//! ```
//!
//! The stored row is the truth an index keeps (and a head is trained on);
//! the search row is what a [`SearchTransform`](crate::transform::SearchTransform)
//! makes of it. Every module that cuts a row asks one of these types where
//! the parts are, instead of adding up dimensions itself.

use std::ops::Range;

use crate::error::{Error, Result};

/// The parts of a stored row, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowLayout {
    /// The CNN's pooled features (unit length).
    pub cnn: usize,
    /// The colour descriptor (unit length).
    pub colour: usize,
    /// The CNN's taps, pooled (unit length together; 0 in indexes made
    /// before taps existed).
    pub taps: usize,
    /// The finer colour descriptor only a head's colour branch reads (0 in
    /// indexes made before it existed).
    pub head_colour: usize,
}

impl RowLayout {
    /// The layout from the lengths that manifests, head files and training
    /// data record. There `tap_dim` counts the taps and the head colour
    /// descriptor together (the field predates the split); the embedder's
    /// fingerprint says how long the head colour is.
    pub fn from_recorded(cnn: usize, colour: usize, tap_dim: usize, head_colour: usize) -> Self {
        RowLayout {
            cnn,
            colour,
            taps: tap_dim.saturating_sub(head_colour),
            head_colour,
        }
    }

    /// `tap_dim` as manifests and head files record it: the taps and the
    /// head colour descriptor together (see [`RowLayout::from_recorded`]).
    pub fn recorded_tap_dim(&self) -> usize {
        self.taps + self.head_colour
    }

    /// Length of a stored row.
    pub fn dim(&self) -> usize {
        self.cnn + self.colour + self.taps + self.head_colour
    }

    /// Where the CNN part is.
    pub fn cnn_range(&self) -> Range<usize> {
        0..self.cnn
    }

    /// Where the colour part is.
    pub fn colour_range(&self) -> Range<usize> {
        self.cnn..self.cnn + self.colour
    }

    /// Where the taps are.
    pub fn taps_range(&self) -> Range<usize> {
        let start = self.cnn + self.colour;
        start..start + self.taps
    }

    /// Where the head colour descriptor is.
    pub fn head_colour_range(&self) -> Range<usize> {
        let start = self.cnn + self.colour + self.taps;
        start..start + self.head_colour
    }

    /// What a head's main hidden layer reads: everything but the head
    /// colour descriptor (a prefix of the row).
    pub fn main_input(&self) -> Range<usize> {
        0..self.cnn + self.colour + self.taps
    }

    /// What a head's colour branch reads: everything after the CNN part.
    pub fn colour_branch_input(&self) -> Range<usize> {
        self.cnn..self.dim()
    }

    /// The CNN part of `row`.
    pub fn cnn<'a>(&self, row: &'a [f32]) -> &'a [f32] {
        &row[self.cnn_range()]
    }

    /// The colour part of `row`.
    pub fn colour<'a>(&self, row: &'a [f32]) -> &'a [f32] {
        &row[self.colour_range()]
    }

    /// Checks that `row` has this layout's length.
    pub fn check(&self, what: &str, row: &[f32]) -> Result<()> {
        check_dim(what, self.dim(), row.len())
    }
}

/// The parts of a search row, in order: what the scan compares, each part
/// unit length (or parts of unit vectors, with a head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchLayout {
    /// The shape part (CNN features, projected or learned).
    pub shape: usize,
    /// The colour part.
    pub colour: usize,
}

impl SearchLayout {
    /// Length of a search row.
    pub fn dim(&self) -> usize {
        self.shape + self.colour
    }

    /// `row` cut into its shape and colour parts.
    pub fn split<'a>(&self, row: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        row.split_at(self.shape.min(row.len()))
    }

    /// Checks that `row` has this layout's length.
    pub fn check(&self, what: &str, row: &[f32]) -> Result<()> {
        check_dim(what, self.dim(), row.len())
    }
}

/// [`Error::DimensionMismatch`] unless `got == expected`.
pub(crate) fn check_dim(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::DimensionMismatch {
            what: what.to_string(),
            expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_tile_the_row_in_order() {
        let l = RowLayout {
            cnn: 4,
            colour: 3,
            taps: 2,
            head_colour: 5,
        };
        assert_eq!(l.dim(), 14);
        let ranges = [
            l.cnn_range(),
            l.colour_range(),
            l.taps_range(),
            l.head_colour_range(),
        ];
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(ranges.last().map(|r| r.end), Some(l.dim()));
        assert_eq!(l.main_input(), 0..9);
        assert_eq!(l.colour_branch_input(), 4..14);
        let row: Vec<f32> = (0..14).map(|i| i as f32).collect();
        assert_eq!(l.colour(&row), &[4.0, 5.0, 6.0]);
        assert!(l.check("row", &row).is_ok());
        let err = l.check("query", &row[..3]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DimensionMismatch {
                    expected: 14,
                    got: 3,
                    ..
                }
            ),
            "{err}"
        );

        let s = SearchLayout {
            shape: 2,
            colour: 1,
        };
        assert_eq!(s.split(&[1.0, 2.0, 3.0]), (&[1.0, 2.0][..], &[3.0][..]));
        assert_eq!(s.dim(), 3);
    }
}
