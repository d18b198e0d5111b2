//! Which of the head's classes each product is: its catalogue label where
//! it has one the head knows, else the head's own guess from its search row.
//!
//! Search uses this to rank by the catalogue's labels as well as by looks
//! (see [`crate::search::label_prior`]); it is built once when an index with a
//! head is opened.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::embedding::head::{Head, Part};
use crate::index::ProductRecord;

/// The class of every product in one head task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskClasses {
    /// Index of the task in the head's [`crate::embedding::head::HeadInfo::tasks`].
    pub task: usize,
    /// Class index per row.
    pub class: Vec<u16>,
    /// Rows whose class is the head's guess (no usable catalogue label).
    pub guessed: usize,
}

/// The classes of every product in the head's first shape task
/// (articleType) and first colour task (baseColour).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelClasses {
    /// Shape task (the product's kind).
    pub kind: Option<TaskClasses>,
    /// Colour task.
    pub colour: Option<TaskClasses>,
}

impl LabelClasses {
    /// Looks up every product's labels; `search_row(r)` gives row `r`'s
    /// search row for the head's guess where a label is missing or unknown.
    pub fn build<'a>(
        head: &Head,
        products: &[ProductRecord],
        search_row: impl Fn(usize) -> &'a [f32] + Sync,
    ) -> LabelClasses {
        let classes = |part: Part| {
            let task = head.first_task(part)?;
            let spec = &head.info.tasks[task];
            // Classes are stored as u16: a larger task is not used.
            if spec.classes.len() > usize::from(u16::MAX) {
                return None;
            }
            let by_name: HashMap<&str, u16> = spec
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.as_str(), i as u16))
                .collect();
            // Guessing runs the head's classifiers: in parallel, as a
            // catalogue without labels guesses every row.
            let (class, guesses): (Vec<u16>, Vec<bool>) = products
                .par_iter()
                .enumerate()
                .map(|(r, p)| {
                    let known = p
                        .labels
                        .get(&spec.field)
                        .and_then(|v| by_name.get(v).copied());
                    match known {
                        Some(c) => (c, false),
                        None => (argmax(&head.probabilities(search_row(r))[task]), true),
                    }
                })
                .unzip();
            let guessed = guesses.iter().filter(|g| **g).count();
            Some(TaskClasses {
                task,
                class,
                guessed,
            })
        };
        LabelClasses {
            kind: classes(Part::Shape),
            colour: classes(Part::Colour),
        }
    }
}

fn argmax(p: &[f32]) -> u16 {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u16)
}
