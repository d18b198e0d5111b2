//! A set of index rows, one bit per row: what label filters compile to and
//! what a scan asks "may this row be a hit?".

/// Rows `0..len` of an index, each in the set or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    words: Vec<u64>,
    len: usize,
}

impl RowSet {
    /// No row of `len`.
    pub fn empty(len: usize) -> RowSet {
        RowSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Adds `row` (rows past the end are ignored: a payload never names one).
    #[inline]
    pub fn insert(&mut self, row: usize) {
        if row < self.len {
            self.words[row / 64] |= 1 << (row % 64);
        }
    }

    /// Adds every row of `rows` (a posting list).
    pub fn extend(&mut self, rows: &[u32]) {
        for &r in rows {
            self.insert(r as usize);
        }
    }

    /// Whether `row` is in the set.
    #[inline]
    pub fn contains(&self, row: usize) -> bool {
        row < self.len && self.words[row / 64] >> (row % 64) & 1 == 1
    }

    /// Keeps only the rows also in `other` (AND).
    pub fn intersect_with(&mut self, other: &RowSet) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
        if other.len < self.len {
            // Rows past `other`'s end are not in it.
            let first = other.len.div_ceil(64);
            self.words[first..].iter_mut().for_each(|w| *w = 0);
            if !other.len.is_multiple_of(64) {
                self.words[first - 1] &= (1 << (other.len % 64)) - 1;
            }
        }
    }

    /// Number of rows in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The rows of the set in `range`, in order, one word at a time (a
    /// filtered scan visits only the rows it may return).
    pub fn iter_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = usize> + '_ {
        let hi = range.end.min(self.len);
        let lo = range.start.min(hi);
        let words = &self.words[lo / 64..hi.div_ceil(64)];
        words.iter().enumerate().flat_map(move |(i, &w)| {
            let base = (lo / 64 + i) * 64;
            let mut bits = w;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let r = base + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(r)
            })
            .filter(move |&r| r >= lo && r < hi)
        })
    }

    /// Every row of the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.iter_in(0..self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_set_of_rows() {
        let mut a = RowSet::empty(200);
        a.extend(&[0, 63, 64, 130, 199, 500]);
        assert_eq!(a.count(), 5, "500 is past the end");
        assert!(a.contains(63) && a.contains(199) && !a.contains(1) && !a.contains(500));
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 63, 64, 130, 199]);
        assert_eq!(a.iter_in(63..131).collect::<Vec<_>>(), [63, 64, 130]);
        assert_eq!(a.iter_in(65..130).count(), 0);
        assert_eq!(a.iter_in(150..1000).collect::<Vec<_>>(), [199]);

        let mut b = RowSet::empty(200);
        b.extend(&[63, 130, 131]);
        a.intersect_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), [63, 130]);

        // A shorter set holds nothing past its end.
        let mut c = RowSet::empty(200);
        c.extend(&[10, 70, 150]);
        let mut short = RowSet::empty(71);
        short.extend(&[10, 70]);
        c.intersect_with(&short);
        assert_eq!(c.iter().collect::<Vec<_>>(), [10, 70]);
    }
}
