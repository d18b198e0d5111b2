//! Which of the head's classes each product is: its catalogue label where
//! it has one the head knows, else the head's own guess from its search row.
//!
//! Search uses this to rank by the catalogue's labels as well as by looks
//! (see [`crate::search::label_prior`]) and to let a query's nearest
//! products vote on what it is (see [`crate::search::catalogue_vote`]); it
//! is built once when an index with a head is opened.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::embedding::{Head, Part};
use crate::index::ProductRecord;

/// The class of every product in one head task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskClasses {
    /// Index of the task in the head's [`crate::embedding::HeadInfo::tasks`].
    pub task: usize,
    /// Class index per row.
    pub class: Vec<u16>,
    /// Per row: whether `class` is the catalogue's label (`false`: the
    /// head's guess).
    pub labelled: Vec<bool>,
    /// Per class, its rows in order: made once here so that a search that
    /// wants one class's rows does not read every row's class.
    members: Vec<Vec<u32>>,
}

impl TaskClasses {
    /// The classes of task `task`: `class` and `labelled` per row.
    pub fn new(task: usize, class: Vec<u16>, labelled: Vec<bool>) -> TaskClasses {
        let classes = class.iter().map(|&c| usize::from(c) + 1).max().unwrap_or(0);
        let mut members = vec![Vec::new(); classes];
        for (r, &c) in class.iter().enumerate() {
            members[usize::from(c)].push(r as u32);
        }
        TaskClasses {
            task,
            class,
            labelled,
            members,
        }
    }

    /// The rows of class `c`, in order.
    pub fn rows_of(&self, c: usize) -> &[u32] {
        self.members.get(c).map_or(&[], Vec::as_slice)
    }

    /// Rows whose class is the head's guess (no usable catalogue label).
    pub fn guessed(&self) -> usize {
        self.labelled.iter().filter(|l| !**l).count()
    }
}

/// The classes of every product in each of the head's tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelClasses {
    /// One entry per usable task, in the head's task order (a task with
    /// more classes than `u16` holds is left out).
    pub tasks: Vec<TaskClasses>,
    kind: Option<usize>,
    colour: Option<usize>,
}

impl LabelClasses {
    /// Looks up every product's labels; `search_row(r)` gives row `r`'s
    /// search row for the head's guess where a label is missing or unknown.
    pub fn build<'a>(
        head: &Head,
        products: &[ProductRecord],
        search_row: impl Fn(usize) -> &'a [f32] + Sync,
    ) -> LabelClasses {
        let lookups: Vec<(usize, HashMap<&str, u16>)> = head
            .info
            .tasks
            .iter()
            .enumerate()
            // Classes are stored as u16: a larger task is not used.
            .filter(|(_, spec)| spec.classes.len() <= usize::from(u16::MAX))
            .map(|(task, spec)| {
                let by_name = spec
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), i as u16))
                    .collect();
                (task, by_name)
            })
            .collect();
        // Guessing runs the head's classifiers, once per row that lacks a
        // label and in parallel, as a catalogue without labels guesses
        // every row.
        let per_row: Vec<Vec<(u16, bool)>> = products
            .par_iter()
            .enumerate()
            .map(|(r, p)| {
                let mut probs: Option<Vec<Vec<f32>>> = None;
                lookups
                    .iter()
                    .map(|(task, by_name)| {
                        let field = &head.info.tasks[*task].field;
                        match p.labels.get(field).and_then(|v| by_name.get(v)) {
                            Some(&c) => (c, true),
                            None => {
                                let probs =
                                    probs.get_or_insert_with(|| head.probabilities(search_row(r)));
                                (argmax(&probs[*task]), false)
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        let tasks: Vec<TaskClasses> = lookups
            .iter()
            .enumerate()
            .map(|(i, (task, _))| {
                let (class, labelled): (Vec<u16>, Vec<bool>) =
                    per_row.iter().map(|row| row[i]).unzip();
                TaskClasses::new(*task, class, labelled)
            })
            .collect();
        let position = |part: Part| {
            let task = head.first_task(part)?;
            tasks.iter().position(|t| t.task == task)
        };
        LabelClasses {
            kind: position(Part::Shape),
            colour: position(Part::Colour),
            tasks,
        }
    }

    /// Classes made by hand (tests): `kind` and `colour` index `tasks`.
    #[cfg(test)]
    pub(crate) fn from_tasks(
        tasks: Vec<TaskClasses>,
        kind: Option<usize>,
        colour: Option<usize>,
    ) -> LabelClasses {
        LabelClasses {
            tasks,
            kind,
            colour,
        }
    }

    /// The classes of the head's first shape task (the product's kind:
    /// articleType in a Kaggle head).
    pub fn kind(&self) -> Option<&TaskClasses> {
        self.kind.map(|i| &self.tasks[i])
    }

    /// The classes of the head's first colour task (baseColour).
    pub fn colour(&self) -> Option<&TaskClasses> {
        self.colour.map(|i| &self.tasks[i])
    }
}

fn argmax(p: &[f32]) -> u16 {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u16)
}
