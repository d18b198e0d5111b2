//! Choosing evaluation queries: a seeded sample stratified by articleType.

use std::collections::BTreeMap;

use crate::index::ProductRecord;
use crate::rng::SplitMix64;

/// The default seed of the protocol's query sample.
pub const SEED: u64 = 20_240_501;

/// Picks `n` rows stratified by `field`: each value gets a share proportional
/// to its count (largest remainder, at least one per value while `n` allows),
/// rows within a value chosen by a seeded shuffle. Rows without the field are
/// not sampled. Returns rows in ascending order.
pub fn stratified_sample(
    products: &[ProductRecord],
    field: &str,
    n: usize,
    seed: u64,
) -> Vec<usize> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, p) in products.iter().enumerate() {
        if let Some(v) = p.labels.get(field) {
            groups.entry(v).or_default().push(row);
        }
    }
    let total: usize = groups.values().map(Vec::len).sum();
    if n >= total {
        let mut all: Vec<usize> = groups.into_values().flatten().collect();
        all.sort_unstable();
        return all;
    }
    // Largest-remainder apportionment.
    let mut shares: Vec<(&str, usize, f64)> = groups
        .iter()
        .map(|(v, rows)| {
            let exact = n as f64 * rows.len() as f64 / total as f64;
            (*v, exact.floor() as usize, exact - exact.floor())
        })
        .collect();
    let mut left = n - shares.iter().map(|s| s.1).sum::<usize>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        shares[b]
            .2
            .total_cmp(&shares[a].2)
            .then(shares[a].0.cmp(shares[b].0))
    });
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n);
    for (v, take, _) in shares {
        let mut rows = groups[v].clone();
        // Sort by id so the sample does not depend on row order.
        rows.sort_by(|&a, &b| products[a].id.cmp(&products[b].id));
        for i in (1..rows.len()).rev() {
            let j = rng.below(i + 1);
            rows.swap(i, j);
        }
        out.extend(rows.into_iter().take(take));
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Labels;

    fn products(types: &[(&str, usize)]) -> Vec<ProductRecord> {
        let mut out = Vec::new();
        for (t, n) in types {
            for _ in 0..*n {
                let mut labels = Labels::default();
                labels.set("articleType", t);
                out.push(ProductRecord {
                    id: out.len().to_string(),
                    hash: String::new(),
                    image: Default::default(),
                    labels,
                });
            }
        }
        out
    }

    #[test]
    fn proportional_and_deterministic() {
        let p = products(&[("A", 600), ("B", 300), ("C", 100)]);
        let s = stratified_sample(&p, "articleType", 100, 1);
        assert_eq!(s.len(), 100);
        let count = |t: &str| {
            s.iter()
                .filter(|&&r| p[r].labels.get("articleType") == Some(t))
                .count()
        };
        assert_eq!((count("A"), count("B"), count("C")), (60, 30, 10));
        assert_eq!(s, stratified_sample(&p, "articleType", 100, 1));
        assert_ne!(s, stratified_sample(&p, "articleType", 100, 2));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn more_than_available_takes_all() {
        let p = products(&[("A", 3), ("B", 2)]);
        assert_eq!(
            stratified_sample(&p, "articleType", 100, 1),
            vec![0, 1, 2, 3, 4]
        );
    }
}
