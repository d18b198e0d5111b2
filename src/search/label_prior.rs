//! Catalogue-aware ranking: a product whose catalogue labels are what the
//! query looks like ranks higher.
//!
//! With a head, a query has a probability for every articleType and
//! baseColour (recognition). A product's *lift* is
//! `l = weight * (p_kind(its articleType) + p_colour(its baseColour)) / 2`,
//! and its score `s` (the cosine) becomes `s + l * (1 - s)`: its distance
//! from a perfect match shrinks by the share `l`. A sure "Navy Blue Shirts"
//! query brings the catalogue's navy shirts closer, an unsure one moves
//! nothing much. Shrinking (rather than adding) keeps near-duplicates first:
//! a product that looks almost the same stays ahead of a labelled one that
//! merely fits, so a photo still finds its own product even when it is
//! misrecognised. The new score grows with `s` (for `l < 1`), so the bounds
//! of the quantised scan still hold. Only the
//! query's *looks* and the results' *labels* are used, never the query
//! product's own labels (a search by id ranks like a search by its image).
//! The weight was chosen by the evaluation (docs/quality.md, "Ablations"; the rule: docs/training.md).

use crate::embedding::{Head, Part};
use crate::index::label_classes::TaskClasses;
use crate::index::Index;

/// The label term's arithmetic for one query, whatever holds the products'
/// classes: per part (kind, colour), the query's probability of each class.
/// [`LabelPrior`] reads classes from an index's table; a remote collection
/// reads them from each point's payload.
#[derive(Debug, Clone)]
pub struct ClassPrior {
    /// `(head task, the query's probability per class)`: the kind first.
    parts: Vec<(usize, Vec<f32>)>,
    scale: f32,
}

impl ClassPrior {
    /// The term over `head`'s first kind and colour tasks for a query whose
    /// class probabilities are `probs`; `None` when `weight` is 0 or the head
    /// has neither task.
    #[cfg_attr(not(feature = "qdrant"), allow(dead_code))]
    pub fn new(head: &Head, probs: &[Vec<f32>], weight: f32) -> Option<ClassPrior> {
        let usable = |task: &usize| head.info.tasks[*task].classes.len() <= usize::from(u16::MAX);
        let tasks = [Part::Shape, Part::Colour]
            .into_iter()
            .filter_map(|part| head.first_task(part))
            .filter(usable);
        ClassPrior::of_tasks(tasks, probs, weight)
    }

    /// The term over `tasks` (kind first).
    fn of_tasks(
        tasks: impl Iterator<Item = usize>,
        probs: &[Vec<f32>],
        weight: f32,
    ) -> Option<ClassPrior> {
        if weight <= 0.0 {
            return None;
        }
        let parts: Vec<_> = tasks
            .filter_map(|t| Some((t, probs.get(t)?.clone())))
            .collect();
        if parts.is_empty() {
            return None;
        }
        let scale = weight / parts.len() as f32;
        Some(ClassPrior { parts, scale })
    }

    /// The lift of a product whose class in head task `t` is `class_of(t)`
    /// (a product without one gets nothing from that part), in `0..=weight`.
    #[inline]
    #[cfg_attr(not(feature = "qdrant"), allow(dead_code))]
    pub fn lift_of(&self, class_of: impl Fn(usize) -> Option<u16>) -> f32 {
        self.scale
            * self
                .parts
                .iter()
                .map(|(t, p)| {
                    class_of(*t)
                        .and_then(|c| p.get(usize::from(c)))
                        .copied()
                        .unwrap_or(0.0)
                })
                .sum::<f32>()
    }

    /// Score `s` with a lift: `(score, label part)`, the sum [`lifted`] makes.
    #[inline]
    pub fn apply_lift(lift: f32, s: f32) -> (f32, f32) {
        let part = lift * (1.0 - s);
        (s + part, part)
    }

    /// The largest lift any product can have: every part's likeliest class.
    pub fn max_lift(&self) -> f32 {
        self.scale
            * self
                .parts
                .iter()
                .map(|(_, p)| p.iter().copied().fold(0.0, f32::max))
                .sum::<f32>()
    }

    /// The head task of the first part (the kind), its likeliest class, and
    /// the largest lift a product of another class can have.
    pub fn likeliest_kind(&self) -> Option<(usize, usize, f32)> {
        let (task, p) = self.parts.first()?;
        let (best, _) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        let runner_up = p
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != best)
            .map(|(_, &x)| x)
            .fold(0.0, f32::max);
        let rest: f32 = self.parts[1..]
            .iter()
            .map(|(_, p)| p.iter().copied().fold(0.0, f32::max))
            .sum();
        Some((*task, best, self.scale * (runner_up + rest)))
    }
}

/// The label term for one query over an index's class table.
#[derive(Debug, Clone)]
pub struct LabelPrior<'a> {
    terms: ClassPrior,
    /// The class table of each of `terms`' parts, in order.
    tables: Vec<&'a TaskClasses>,
}

/// The rows the label term lifts furthest: those of the query's likeliest
/// class of the first part (its kind).
#[derive(Debug, Clone, Copy)]
pub struct LikeliestClass<'a> {
    classes: &'a TaskClasses,
    class: usize,
    /// The largest lift a row of another class can have.
    pub rest_lift: f32,
}

impl<'a> LikeliestClass<'a> {
    /// Its rows, in order.
    pub fn rows(&self) -> &'a [u32] {
        self.classes.rows_of(self.class)
    }

    /// Whether row `r` is of the class.
    #[inline]
    pub fn contains(&self, r: usize) -> bool {
        self.classes
            .class
            .get(r)
            .is_some_and(|&c| usize::from(c) == self.class)
    }
}

/// Score `s` with its distance from a perfect match shrunk by the share
/// `lift`: `s + lift * (1 - s)`, which grows with `s` (for `lift < 1`).
#[inline]
pub fn lifted(s: f32, lift: f32) -> f32 {
    s + lift * (1.0 - s)
}

impl<'a> LabelPrior<'a> {
    /// The term for a query whose class probabilities (per head task, see
    /// [`crate::embedding::Head::probabilities`]) are `probs`; `None`
    /// when `weight` is 0 or the index has no head.
    pub fn new(index: &'a Index, probs: &[Vec<f32>], weight: f32) -> Option<LabelPrior<'a>> {
        let classes = index.label_classes()?;
        let tables: Vec<&TaskClasses> = classes
            .kind()
            .into_iter()
            .chain(classes.colour())
            .filter(|t| probs.get(t.task).is_some())
            .collect();
        let terms = ClassPrior::of_tasks(tables.iter().map(|t| t.task), probs, weight)?;
        Some(LabelPrior { terms, tables })
    }

    /// Score `s` of row `r` with its lift: `(score, label part)`.
    #[inline]
    pub fn apply(&self, r: usize, s: f32) -> (f32, f32) {
        ClassPrior::apply_lift(self.lift(r), s)
    }

    /// The largest lift any row can have: every part's likeliest class.
    pub fn max_lift(&self) -> f32 {
        self.terms.max_lift()
    }

    /// The likeliest class of the first part (the kind, where the head has
    /// one): the rows that the label term can lift furthest.
    pub fn likeliest_class(&self) -> Option<LikeliestClass<'a>> {
        let (_, class, rest_lift) = self.terms.likeliest_kind()?;
        Some(LikeliestClass {
            classes: self.tables.first()?,
            class,
            rest_lift,
        })
    }

    /// The lift of row `r`, in `0..=weight`.
    #[inline]
    pub fn lift(&self, r: usize) -> f32 {
        self.terms.scale
            * self
                .terms
                .parts
                .iter()
                .zip(&self.tables)
                .map(|((_, p), t)| p[usize::from(t.class[r])])
                .sum::<f32>()
    }
}

#[cfg(all(test, feature = "training"))]
mod tests {
    use crate::search::{search, Metric, Query, SearchRequest};
    use crate::test_support::labelled_index;

    #[test]
    fn labels_lift_what_the_query_looks_like_and_scores_add_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = labelled_index(dir.path());
        let classes = index.label_classes().expect("classes");
        let kind = classes.kind().expect("articleType task");
        // Unlabelled rows get the head's guess; labelled rows their label.
        assert_eq!(kind.guessed(), 30);
        assert_eq!(kind.class[4], 1, "p4 is labelled b");
        assert!(classes.colour().is_some_and(|c| c.guessed() == 30));

        let by_looks = SearchRequest {
            k: 30,
            label_weight: 0.0,
            ..SearchRequest::default()
        };
        let with_labels = SearchRequest {
            label_weight: 1.0,
            ..by_looks.clone()
        };
        let share = |req: &SearchRequest| {
            let hits = search(&index, &Query::Product("p0"), req)
                .expect("search")
                .hits;
            for h in &hits {
                assert!((h.score - (h.shape + h.colour + h.label)).abs() < 1e-5);
                let looks = h.shape + h.colour;
                assert!(h.label >= 0.0 && h.label <= req.label_weight * (1.0 - looks) + 1e-5);
            }
            hits.iter()
                .filter(|h| {
                    h.labels.get("articleType") == Some("a")
                        && h.labels.get("baseColour") == Some("red")
                })
                .count()
        };
        let (looks, labels) = (share(&by_looks), share(&with_labels));
        assert!(labels >= looks, "{labels} < {looks}");
        assert!(labels >= 25, "only {labels} of 30 hits are red a's");

        // The scan stays exact with the label term: it equals scoring every row.
        // The label term reads the head's own probabilities (the request's
        // default catalogue vote changes recognition only).
        let q = index.search_row(0).to_vec();
        let probs = index.head().expect("head").probabilities(&q);
        let prior = super::LabelPrior::new(&index, &probs, 1.0).expect("prior");
        let cnn = index.manifest().search_cnn_dim;
        let mut all: Vec<(f32, usize)> = (1..index.len())
            .map(|r| {
                let s = Metric::Cosine
                    .score(&q, index.search_row(r), cnn, 0.5)
                    .score;
                (prior.apply(r, s).0, r)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hits = search(&index, &Query::Product("p0"), &with_labels)
            .expect("search")
            .hits;
        let want: Vec<usize> = all.iter().take(30).map(|x| x.1).collect();
        assert_eq!(hits.iter().filter_map(|h| h.row).collect::<Vec<_>>(), want);

        // The same term from classes that come with each product (a remote
        // collection's payload) gives the same lifts.
        let head = index.head().expect("head");
        let remote = super::ClassPrior::new(head, &probs, 1.0).expect("prior");
        for r in 0..index.len() {
            let class_of = |task: usize| {
                classes
                    .tasks
                    .iter()
                    .find(|t| t.task == task)
                    .map(|t| t.class[r])
            };
            assert!(
                (remote.lift_of(class_of) - prior.lift(r)).abs() < 1e-6,
                "row {r}"
            );
        }
        assert!((remote.max_lift() - prior.max_lift()).abs() < 1e-6);

        // Euclidean is a plain distance: no label term.
        let euclid = SearchRequest {
            metric: Metric::Euclidean,
            ..with_labels
        };
        let hits = search(&index, &Query::Product("p0"), &euclid)
            .expect("search")
            .hits;
        assert!(hits.iter().all(|h| h.label == 0.0));
    }
}
