//! Catalogue vote: what a query is, by how its nearest catalogue products
//! are labelled.
//!
//! The head recognises a query from its looks alone. The catalogue knows
//! more: products that look almost the same as the query (the same style
//! shot again, a sibling colourway) carry labels. The [`NEIGHBOURS`]
//! products closest to the query by looks (cosine at the default colour
//! weight, without the label term and without the request's filters, the
//! query product itself excluded) vote with weights `softmax(score / T)`;
//! per task, the share of the vote each class gets is blended into the
//! head's probabilities: `p = (1 - w) * p_head + w * vote`. Only catalogue
//! labels vote: a neighbour without a label in a task has no say in it.
//!
//! The neighbours never depend on the request (filters, weights, metric),
//! so a filter cannot sway what a query is recognised as. The settings were
//! chosen on the validation products with a head that had not seen them
//! (docs/quality.md, "Colour recognition, and why the catalogue votes").

use crate::index::label_classes::LabelClasses;

/// The default share of the vote in `0..=1` (0: the head alone).
pub const DEFAULT_VOTE_WEIGHT: f32 = 0.5;

/// How many nearest products vote.
pub const NEIGHBOURS: usize = 10;

/// Softmax temperature over the neighbours' cosines: at 0.05 a neighbour
/// 0.05 closer counts e times as much, so near-duplicates dominate.
pub const TEMPERATURE: f32 = 0.05;

/// The colour weight of the looks the neighbours are found by.
pub const COLOUR_WEIGHT: f32 = super::DEFAULT_COLOUR_WEIGHT;

/// Blends the vote of `neighbours` (`(cosine, row)`, any order) into
/// `probs` (per head task, per class) with share `weight`.
pub fn blend(
    probs: &mut [Vec<f32>],
    classes: &LabelClasses,
    neighbours: &[(f32, usize)],
    weight: f32,
) {
    let labelled: Vec<(f32, Vec<(usize, u16)>)> = neighbours
        .iter()
        .map(|&(s, row)| {
            let known = classes
                .tasks
                .iter()
                .filter(|t| t.labelled[row])
                .map(|t| (t.task, t.class[row]))
                .collect();
            (s, known)
        })
        .collect();
    blend_labelled(probs, &labelled, weight);
}

/// [`blend`] for neighbours that bring their catalogue labels with them
/// (a remote collection's points): `(cosine, [(head task, class)])`, only
/// the classes that are catalogue labels, not the head's guesses.
pub fn blend_labelled(
    probs: &mut [Vec<f32>],
    neighbours: &[(f32, Vec<(usize, u16)>)],
    weight: f32,
) {
    if weight <= 0.0 || neighbours.is_empty() {
        return;
    }
    let best = neighbours
        .iter()
        .map(|n| n.0)
        .fold(f32::NEG_INFINITY, f32::max);
    // Shifted by the best score so that exp never overflows.
    let say: Vec<f32> = neighbours
        .iter()
        .map(|n| ((n.0 - best) / TEMPERATURE).exp())
        .collect();
    for (task, p) in probs.iter_mut().enumerate() {
        let mut votes = vec![0.0f32; p.len()];
        let mut total = 0.0;
        for ((_, known), &s) in neighbours.iter().zip(&say) {
            for &(t, class) in known {
                if t == task {
                    if let Some(v) = votes.get_mut(usize::from(class)) {
                        *v += s;
                        total += s;
                    }
                }
            }
        }
        if total > 0.0 {
            for (p, v) in p.iter_mut().zip(votes) {
                *p = (1.0 - weight) * *p + weight * v / total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::label_classes::TaskClasses;

    fn classes() -> LabelClasses {
        // One task of 3 classes over 4 rows; row 3 has no label.
        LabelClasses::from_tasks(
            vec![TaskClasses::new(
                0,
                vec![0, 1, 1, 2],
                vec![true, true, true, false],
            )],
            Some(0),
            None,
        )
    }

    #[test]
    fn neighbours_vote_by_closeness_and_only_with_labels() {
        let head = vec![vec![0.2, 0.3, 0.5]];
        // Equal scores: rows 1 and 2 (class 1) outvote row 0 two to one;
        // row 3's guessed class 2 has no say.
        let mut p = head.clone();
        blend(
            &mut p,
            &classes(),
            &[(0.9, 0), (0.9, 1), (0.9, 2), (0.9, 3)],
            0.5,
        );
        let want = [0.1 + 0.5 / 3.0, 0.15 + 0.5 * 2.0 / 3.0, 0.25];
        for (g, w) in p[0].iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{:?}", p[0]);
        }
        assert!((p[0].iter().sum::<f32>() - 1.0).abs() < 1e-6);

        // A neighbour 0.1 closer counts e^2 times as much.
        let mut p = head.clone();
        blend(&mut p, &classes(), &[(0.95, 0), (0.85, 1)], 1.0);
        let e2 = (2.0f32).exp();
        assert!((p[0][0] - e2 / (1.0 + e2)).abs() < 1e-5, "{:?}", p[0]);

        // Weight 0, no neighbours, or only unlabelled ones: the head alone.
        for (n, w) in [(vec![(0.9, 0)], 0.0), (vec![], 0.5), (vec![(0.9, 3)], 0.5)] {
            let mut p = head.clone();
            blend(&mut p, &classes(), &n, w);
            assert_eq!(p, head);
        }
    }

    #[cfg(feature = "training")]
    #[test]
    fn a_search_recognises_with_its_nearest_products_whatever_the_filters() {
        use crate::search::{recognition, search, Filter, Metric, Query, SearchRequest};
        use crate::test_support::labelled_index;
        let dir = tempfile::tempdir().expect("tempdir");
        let index = labelled_index(dir.path());
        let (head, classes) = (
            index.head().expect("head"),
            index.label_classes().expect("classes"),
        );
        let cnn = index.manifest().search_cnn_dim;
        let base = SearchRequest {
            k: 20,
            ..SearchRequest::default()
        };
        let rows = |r: &crate::search::SearchResults| -> Vec<usize> {
            r.hits.iter().filter_map(|h| h.row).collect()
        };
        for id in ["p0", "p7", "p13", "p44"] {
            let row = index.row_of(id).expect("row");
            let q = index.search_row(row).to_vec();
            // The reference: the 10 nearest other rows by looks, scored
            // exactly, voting into the head's probabilities.
            let mut near: Vec<(f32, usize)> = (0..index.len())
                .filter(|&r| r != row)
                .map(|r| {
                    let s = Metric::Cosine.score(&q, index.search_row(r), cnn, COLOUR_WEIGHT);
                    (s.score, r)
                })
                .collect();
            near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            near.truncate(NEIGHBOURS);
            let mut want = head.probabilities(&q);
            blend(&mut want, classes, &near, DEFAULT_VOTE_WEIGHT);
            assert_ne!(want, head.probabilities(&q), "{id}: the vote moved nothing");

            let results = search(&index, &Query::Product(id), &base).expect("search");
            let got = results.probabilities.clone().expect("probabilities");
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!((g - w).abs() < 1e-5, "{id}: {got:?} != {want:?}");
            }
            // Recognition without a search gives the same, with and
            // without the vote.
            for w in [DEFAULT_VOTE_WEIGHT, 0.0] {
                let alone = SearchRequest {
                    vote_weight: w,
                    ..base.clone()
                };
                assert_eq!(
                    recognition(&index, &Query::Product(id), w).expect("recognition"),
                    search(&index, &Query::Product(id), &alone)
                        .expect("search")
                        .probabilities
                );
            }

            // Filters, weights and the metric change the hits, not what the
            // query is: the neighbours come from every row.
            for req in [
                SearchRequest {
                    filters: vec![Filter::parse("articleType=c").expect("filter")],
                    ..base.clone()
                },
                SearchRequest {
                    colour_weight: 0.0,
                    label_weight: 0.0,
                    ..base.clone()
                },
                SearchRequest {
                    metric: Metric::Euclidean,
                    k: 1,
                    ..base.clone()
                },
            ] {
                let other = search(&index, &Query::Product(id), &req).expect("search");
                assert_eq!(other.probabilities, results.probabilities, "{id} {req:?}");
                // With the vote, the scan visits every row and drops those
                // the filters refuse; without it, it visits only those: the
                // same hits either way.
                let alone = SearchRequest {
                    vote_weight: 0.0,
                    ..req.clone()
                };
                let alone = search(&index, &Query::Product(id), &alone).expect("search");
                assert_eq!(rows(&other), rows(&alone), "{id} {req:?}");
            }

            // The vote changes recognition only: the hits stay the same, and
            // weight 0 gives the head's own probabilities.
            let head_only = SearchRequest {
                vote_weight: 0.0,
                ..base.clone()
            };
            let alone = search(&index, &Query::Product(id), &head_only).expect("search");
            assert_eq!(rows(&alone), rows(&results));
            assert_eq!(alone.probabilities, Some(head.probabilities(&q)));
        }
    }
}
