//! Training data: the index's stored rows and their labels, split by id.

use crate::layout::RowLayout;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::embedding::{Part, TaskSpec};
use crate::error::{Error, Result};
use crate::split::{is_test_id, is_validation_id};
use crate::Index;

/// Labels learned, with the part of the output they shape and their weight
/// in the loss.
pub const TASKS: &[(&str, Part, f32)] = &[
    ("articleType", Part::Shape, 1.0),
    ("subCategory", Part::Shape, 0.3),
    ("gender", Part::Shape, 0.3),
    ("baseColour", Part::Colour, 1.0),
];

/// The task shopper photos are learned in: their kind names articleTypes.
pub const PHOTO_TASK: &str = "articleType";

/// Rows and class targets of one task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Field, classes and output part.
    pub spec: TaskSpec,
    /// Weight in the loss.
    pub weight: f32,
    /// Per index row: class number, or `None` when unlabelled or the class
    /// was not seen in training.
    pub targets: Vec<Option<u32>>,
    /// Rows whose target is any one of several classes: shopper photos,
    /// whose kind ("shoes") spans several of the catalogue's classes
    /// ("Casual Shoes", "Sandals", ...). Their loss is `-log` of the
    /// classes' summed probability.
    pub any_of: std::collections::HashMap<usize, Vec<u32>>,
}

/// Everything training needs from an index.
#[derive(Debug, Clone)]
pub struct Dataset<'a> {
    /// Rows of the index (stored vectors), row-major: borrowed from the
    /// index's memory map (400 MB for the Kaggle catalogue), not copied.
    pub rows: Cow<'a, [f32]>,
    /// Row length.
    pub dim: usize,
    /// Length of the taps part at the end of each row.
    pub tap_dim: usize,
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (from the training ids).
    pub validation: Vec<usize>,
    /// Test rows (`id % 5 == 0`).
    pub test: Vec<usize>,
    /// The tasks with labels in this catalogue.
    pub tasks: Vec<Task>,
}

impl<'a> Dataset<'a> {
    /// The layout of its rows, made by `embedder` (which says how long the
    /// CNN part and the head colour descriptor are; `tap_dim` holds the
    /// taps and the head colour, as an index manifest's does).
    pub fn row_layout(&self, embedder: &crate::embedding::EmbedderFingerprint) -> RowLayout {
        let colour = self
            .dim
            .saturating_sub(embedder.cnn_dim)
            .saturating_sub(self.tap_dim);
        RowLayout::from_recorded(
            embedder.cnn_dim,
            colour,
            self.tap_dim,
            embedder.head_colour_dim(),
        )
    }

    /// Reads the rows and labels of `index`.
    pub fn from_index(index: &'a Index) -> Result<Dataset<'a>> {
        let n = index.len();
        let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for (r, p) in index.products().iter().enumerate() {
            if is_test_id(&p.id) {
                test.push(r);
            } else if is_validation_id(&p.id) {
                validation.push(r);
            } else {
                train.push(r);
            }
        }
        let mut tasks = Vec::new();
        for &(field, part, weight) in TASKS {
            // Classes are those seen in training, in name order.
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for &r in &train {
                if let Some(v) = index.products()[r].labels.get(field) {
                    *counts.entry(v).or_default() += 1;
                }
            }
            if counts.len() < 2 {
                continue;
            }
            let classes: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
            let targets = (0..n)
                .map(|r| {
                    let v = index.products()[r].labels.get(field)?;
                    classes
                        .binary_search_by(|c| c.as_str().cmp(v))
                        .ok()
                        .map(|i| i as u32)
                })
                .collect();
            tasks.push(Task {
                spec: TaskSpec {
                    field: field.to_string(),
                    classes,
                    part,
                },
                weight,
                targets,
                any_of: Default::default(),
            });
        }
        if tasks.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "the catalogue has none of the labels a head learns from ({}); \
                 it can still be searched without a head",
                TASKS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
            )));
        }
        if train.len() < 10 || validation.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} training and {} validation products are too few to train a head",
                train.len(),
                validation.len()
            )));
        }
        index.require_stored_rows("training a head")?;
        Ok(Dataset {
            rows: index.stored_rows(),
            dim: index.row_layout().dim(),
            tap_dim: index.manifest().tap_dim,
            train,
            validation,
            test,
            tasks,
        })
    }

    /// Adds rows from outside the index: shopper photos embedded as queries
    /// are (`rows`, each as long as the index's), labelled by their kind's
    /// articleTypes (`types`, names; those the head does not know are
    /// ignored). Each joins the training rows `repeat` times, so that a
    /// thousand photos weigh against forty thousand packshots. Returns how
    /// many rows were added (photos whose kind has no known type are not).
    pub fn add_photos(
        &mut self,
        photos: &[(Vec<f32>, Vec<String>)],
        repeat: usize,
    ) -> Result<usize> {
        let Some(k) = self.tasks.iter().position(|t| t.spec.field == PHOTO_TASK) else {
            return Err(Error::InvalidArgument(format!(
                "the catalogue has no `{PHOTO_TASK}` labels, which shopper photos are learned as"
            )));
        };
        let mut added = 0;
        for (row, types) in photos {
            if row.len() != self.dim {
                return Err(Error::InvalidArgument(format!(
                    "a photo's row has {} values, the index's rows {}",
                    row.len(),
                    self.dim
                )));
            }
            let classes = &self.tasks[k].spec.classes;
            let mut set: Vec<u32> = types
                .iter()
                .filter_map(|t| classes.binary_search(t).ok().map(|i| i as u32))
                .collect();
            set.sort_unstable();
            set.dedup();
            if set.is_empty() {
                continue;
            }
            let r = self.rows.len() / self.dim;
            self.rows.to_mut().extend_from_slice(row);
            for task in &mut self.tasks {
                task.targets.push(None);
            }
            self.tasks[k].any_of.insert(r, set);
            self.train.extend(std::iter::repeat_n(r, repeat.max(1)));
            added += 1;
        }
        Ok(added)
    }

    /// The stored row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.rows[r * self.dim..(r + 1) * self.dim]
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::synthetic;

    #[test]
    fn photos_join_the_training_rows_with_a_set_of_types() {
        let mut data = synthetic(50);
        let (rows, train) = (data.rows.len() / data.dim, data.train.len());
        let row = vec![0.1; data.dim];
        let photos = vec![
            (row.clone(), vec!["c".to_string(), "a".into(), "a".into()]),
            // No type the head knows: not added.
            (row.clone(), vec!["zebra".to_string()]),
        ];
        assert_eq!(data.add_photos(&photos, 3).unwrap(), 1);
        assert_eq!(data.rows.len() / data.dim, rows + 1);
        assert_eq!(data.train.len(), train + 3);
        assert!(data.train[train..].iter().all(|&r| r == rows));
        let types = &data.tasks[0];
        assert_eq!(types.spec.field, "articleType");
        assert_eq!(types.any_of.get(&rows), Some(&vec![0, 2]));
        assert!(data.tasks.iter().all(|t| t.targets.len() == rows + 1));
        assert!(data.tasks.iter().all(|t| t.targets[rows].is_none()));
        let short = vec![(vec![0.1; 3], vec!["a".to_string()])];
        let e = data.add_photos(&short, 1).unwrap_err().to_string();
        assert!(e.contains("3 values"), "{e}");
    }
}
