//! The multi-task loss of one batch.
//!
//! ```text
//! loss = sum over tasks t of weight_t / W_t * (
//!            sum over labelled rows i of -w(class_i) log p_t(class_i | row_i)
//!          + sum over photo rows j of   -log sum over c in set_j of p_t(c | row_j))
//! ```
//!
//! with `p_t` the softmax of the task's cosine logits, `w(c) = count(c)^-b`
//! the class balance and `W_t` the summed weights of the rows in the batch
//! (a photo row weighs 1). A shopper photo's kind ("shoes") spans several
//! of the catalogue's classes ("Casual Shoes", "Sandals", ...): any one of
//! them is right, so the photo is learned as the set's summed probability.

use candle_core::{Device, Tensor};

use super::candle;
use super::dataset::{Dataset, Task};
use super::net::{Cosine, Parts};
use crate::error::Result;

/// Per task and class: the loss weight of one example, `count(class)^-b`
/// over `rows` (b = `balance`; 0 gives every example weight 1).
pub(super) fn class_weights(data: &Dataset, rows: &[usize], balance: f32) -> Vec<Vec<f32>> {
    data.tasks
        .iter()
        .map(|t| {
            let mut counts = vec![0usize; t.spec.classes.len()];
            for &r in rows {
                if let Some(c) = t.targets[r] {
                    counts[c as usize] += 1;
                }
            }
            counts
                .iter()
                .map(|&n| (n.max(1) as f32).powf(-balance))
                .collect()
        })
        .collect()
}

/// The loss of the batch `rows`, whose network outputs are `parts`; `None`
/// when no row of the batch has a target.
pub(super) fn batch_loss(
    data: &Dataset,
    rows: &[usize],
    parts: &Parts,
    classifiers: &[Cosine],
    class_weights: &[Vec<f32>],
) -> Result<Option<Tensor>> {
    let mut loss: Option<Tensor> = None;
    for ((task, classifier), weights) in data.tasks.iter().zip(classifiers).zip(class_weights) {
        let Some(term) = task_loss(task, rows, parts.get(classifier.part), classifier, weights)?
        else {
            continue;
        };
        loss = Some(match loss {
            None => term,
            Some(acc) => candle(|| acc + term)?,
        });
    }
    Ok(loss)
}

/// One task's term of the loss; `part` holds the batch's outputs in the
/// part the task classifies.
fn task_loss(
    task: &Task,
    rows: &[usize],
    part: &Tensor,
    classifier: &Cosine,
    class_weights: &[f32],
) -> Result<Option<Tensor>> {
    // Rows whose target is one of several classes (photos).
    let (set_pos, sets): (Vec<u32>, Vec<&Vec<u32>>) = if task.any_of.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        rows.iter()
            .enumerate()
            .filter_map(|(i, r)| task.any_of.get(r).map(|s| (i as u32, s)))
            .unzip()
    };
    let (pos, targets): (Vec<u32>, Vec<u32>) = rows
        .iter()
        .enumerate()
        .filter_map(|(i, &r)| task.targets[r].map(|t| (i as u32, t)))
        .unzip();
    if pos.is_empty() && set_pos.is_empty() {
        return Ok(None);
    }
    let w: Vec<f32> = targets.iter().map(|&t| class_weights[t as usize]).collect();
    // Photo rows weigh as one plain row each.
    let w_sum: f32 = w.iter().sum::<f32>() + set_pos.len() as f32;
    let scale = (task.weight / w_sum) as f64;
    let sets = if set_pos.is_empty() {
        None
    } else {
        let nll = set_nll(classifier, part, &set_pos, &sets, task.spec.classes.len())?;
        Some(candle(|| nll * scale)?)
    };
    if pos.is_empty() {
        return Ok(sets);
    }
    let nll = weighted_nll(classifier, part, &pos, targets, w)?;
    let plain = candle(|| nll * scale)?;
    Ok(Some(match sets {
        Some(s) => candle(|| plain + s)?,
        None => plain,
    }))
}

/// `-sum over i of w_i log p(target_i)` for the rows at `pos` of `part`.
fn weighted_nll(
    classifier: &Cosine,
    part: &Tensor,
    pos: &[u32],
    targets: Vec<u32>,
    w: Vec<f32>,
) -> Result<Tensor> {
    let n = pos.len();
    let idx = candle(|| Tensor::from_slice(pos, n, &Device::Cpu))?;
    let logits = classifier.forward(&candle(|| part.index_select(&idx, 0))?)?;
    candle(|| {
        let targets = Tensor::from_vec(targets, (n, 1), &Device::Cpu)?;
        let w = Tensor::from_vec(w, n, &Device::Cpu)?;
        let logp = candle_nn::ops::log_softmax(&logits, 1)?;
        let picked = logp.gather(&targets, 1)?.squeeze(1)?;
        (picked * w)?.sum_all()?.neg()
    })
}

/// `-sum over j of log sum over c in sets_j of p(c)` for the rows at `pos`
/// of `part`: the log-softmax plus a mask that is 0 inside the set and
/// -1e4 outside, then log-sum-exp.
fn set_nll(
    classifier: &Cosine,
    part: &Tensor,
    pos: &[u32],
    sets: &[&Vec<u32>],
    classes: usize,
) -> Result<Tensor> {
    let n = pos.len();
    let mut mask = vec![-1e4f32; n * classes];
    for (i, set) in sets.iter().enumerate() {
        for &c in set.iter() {
            mask[i * classes + c as usize] = 0.0;
        }
    }
    let idx = candle(|| Tensor::from_slice(pos, n, &Device::Cpu))?;
    let mask = candle(|| Tensor::from_vec(mask, (n, classes), &Device::Cpu))?;
    let logits = classifier.forward(&candle(|| part.index_select(&idx, 0))?)?;
    candle(|| {
        let logp = candle_nn::ops::log_softmax(&logits, 1)?;
        (logp + mask)?.log_sum_exp(1)?.sum_all()?.neg()
    })
}
