//! Keeping the k best of a stream of scored rows.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A scored row; ordered so that the heap's top is the *worst* kept entry.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Larger is better.
    pub key: f32,
    /// The row.
    pub row: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// "Greater" means worse: lower key, then higher row (ties go to the
    /// lower row, so results are deterministic).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| self.row.cmp(&other.row))
    }
}

/// The k best candidates seen so far.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    /// An empty collector for `k` entries.
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The key a new candidate must beat to enter (when full).
    #[inline]
    pub fn threshold(&self) -> Option<f32> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|c| c.key)
        }
    }

    /// Offers a candidate.
    #[inline]
    pub fn push(&mut self, c: Candidate) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(worst) = self.heap.peek() {
            if c < *worst {
                self.heap.pop();
                self.heap.push(c);
            }
        }
    }

    /// Merges another collector into this one.
    pub fn merge(mut self, other: TopK) -> TopK {
        for c in other.heap {
            self.push(c);
        }
        self
    }

    /// The kept candidates, best first.
    pub fn into_sorted(self) -> Vec<Candidate> {
        self.heap.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_in_order() {
        let mut t = TopK::new(3);
        for (row, key) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.7), (4, 0.2), (5, 0.9)] {
            t.push(Candidate { key, row });
        }
        let rows: Vec<u32> = t.into_sorted().iter().map(|c| c.row).collect();
        assert_eq!(rows, [1, 5, 3]);
    }

    #[test]
    fn merge_equals_single_pass() {
        let items: Vec<Candidate> = (0..100)
            .map(|i| Candidate {
                key: ((i * 37) % 101) as f32,
                row: i,
            })
            .collect();
        let mut all = TopK::new(10);
        let (mut a, mut b) = (TopK::new(10), TopK::new(10));
        for (i, c) in items.iter().enumerate() {
            all.push(*c);
            if i % 2 == 0 {
                a.push(*c)
            } else {
                b.push(*c)
            }
        }
        let merged: Vec<u32> = a.merge(b).into_sorted().iter().map(|c| c.row).collect();
        let single: Vec<u32> = all.into_sorted().iter().map(|c| c.row).collect();
        assert_eq!(merged, single);
    }
}
