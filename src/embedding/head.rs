//! A learned head: maps a stored row (CNN features | colour descriptor |
//! taps) to a search row (shape part | colour part) and recognises labels.
//!
//! ```text
//! x        = (row - mean) / std                       [input = cnn + colour + taps]
//! h        = relu(W1 x[.. input - colour_taps] + b1)   [hidden]
//! hc       = relu(W2 x[cnn ..] + b2)                   [colour_hidden]
//! shape    = normalise(Ws h + bs)                      [shape_dim]
//! instance = normalise(Pr (cnn - m))                   [instance_dim]
//! colour   = normalise(Wc (h | hc) + bc)               [colour_dim]
//! search row = (sqrt(1-b) shape | sqrt(b) instance | sqrt(1-b) colour | sqrt(b) raw colour)
//! (raw colour: the colour descriptor of the row, normalised)
//! P(label) = softmax(scale * prototypes . part)        per task
//! ```
//!
//! The colour branch `hc` reads only what follows the CNN part: the colour
//! descriptor, the taps and, at their end, the finer banded colour
//! descriptor that only this branch sees (`colour_taps`). Heads made before
//! it have no branch (`colour_hidden = 0`, `colour = normalise(Wc h + bc)`).
//!
//! The label-trained part makes "similar" mean same type and colour; it also
//! pulls products of a class together, which would make a photo of a product
//! lose its own thumbnail among hundreds of lookalikes. The instance part, a
//! PCA of the raw CNN features weighted by `b`, keeps that identity signal,
//! and so does the raw colour descriptor next to the learned colour. Both
//! parts stay unit vectors, so scores are still cosines.
//!
//! Trained by `lookalike train` ([`crate::training`]); applied here in plain
//! Rust so that searching needs no tensor library. The file is safetensors
//! with a JSON description under the metadata key `lookalike`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::embedding::EmbedderFingerprint;
use crate::error::{Error, IoResultExt, Result};
use crate::layout::{RowLayout, SearchLayout};
use crate::vector::{dot, l2_normalise, project};

/// Which part of the search row a task's prototypes live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The shape/category part.
    Shape,
    /// The colour part.
    Colour,
}

/// One recognition task: a label field and its classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The label field, e.g. `articleType`.
    pub field: String,
    /// The classes, in prototype order.
    pub classes: Vec<String>,
    /// The part of the search row the prototypes compare with.
    pub part: Part,
}

/// What the file says about itself besides the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Always `lookalike-head`.
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// The features it was trained on; rows made otherwise are refused.
    pub embedder: EmbedderFingerprint,
    /// Length of the stored rows it takes (CNN + colour + taps).
    pub input_dim: usize,
    /// Hidden layer width.
    pub hidden_dim: usize,
    /// Width of the colour branch's hidden layer (0: no branch, as in heads
    /// made before it).
    #[serde(default)]
    pub colour_hidden_dim: usize,
    /// Length of the shape part of its output.
    pub shape_dim: usize,
    /// Length of the colour part of its output.
    pub colour_dim: usize,
    /// Softmax temperature of the prototypes.
    pub scale: f32,
    /// Length of the instance part (PCA of the raw CNN features; 0: none).
    #[serde(default)]
    pub instance_dim: usize,
    /// Share `b` of the shape part's squared norm given to the instance part.
    #[serde(default)]
    pub instance_weight: f32,
    /// Length of the CNN part of the input rows.
    pub cnn_dim: usize,
    /// Length of the taps part at the end of the input rows (0 for heads
    /// made before taps existed).
    #[serde(default)]
    pub tap_dim: usize,
    /// Recognition tasks.
    pub tasks: Vec<TaskSpec>,
    /// How it was trained (command, seed, epochs, held-out accuracies).
    pub training: serde_json::Value,
}

impl HeadInfo {
    /// The layout of the rows it takes (the colour part is what the CNN
    /// part and the recorded `tap_dim` leave of `input_dim`).
    pub fn row_layout(&self) -> RowLayout {
        let colour = self
            .input_dim
            .saturating_sub(self.cnn_dim)
            .saturating_sub(self.tap_dim);
        RowLayout::from_recorded(
            self.cnn_dim,
            colour,
            self.tap_dim,
            self.embedder.head_colour_dim(),
        )
    }
}

/// The sizes of a head's layers, as training chose them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadDims {
    /// Hidden layer width.
    pub hidden: usize,
    /// Colour branch width (0: no branch).
    pub colour_hidden: usize,
    /// Learned shape part.
    pub shape: usize,
    /// Learned colour part.
    pub colour: usize,
    /// Instance part (0: none).
    pub instance: usize,
    /// Share of the shape part's squared norm given to the instance part.
    pub instance_weight: f32,
}

/// A loaded head.
#[derive(Debug, Clone)]
pub struct Head {
    /// Description.
    pub info: HeadInfo,
    /// BLAKE3 of the file (hex): the index records it.
    pub hash: String,
    mean: Vec<f32>,
    std: Vec<f32>,
    inv_std: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    ws: Vec<f32>,
    bs: Vec<f32>,
    wc: Vec<f32>,
    bc: Vec<f32>,
    pmean: Vec<f32>,
    pmatrix: Vec<f32>,
    /// Per task: `classes x part_dim`, as trained (what the file holds).
    prototypes: Vec<Vec<f32>>,
    /// The same with unit rows (what recognition compares with). Kept apart
    /// so that writing a loaded head gives back the same bytes and hash.
    unit_prototypes: Vec<Vec<f32>>,
}

/// One recognised label with its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guess {
    /// The class.
    pub label: String,
    /// Softmax probability in `0..=1`.
    pub confidence: f32,
}

/// The weights of a head, as plain arrays (what training produces).
#[derive(Debug, Clone, Default)]
pub struct HeadWeights {
    /// Input standardisation: mean per feature.
    pub mean: Vec<f32>,
    /// Input standardisation: standard deviation per feature.
    pub std: Vec<f32>,
    /// `hidden x (input - colour_taps)`.
    pub w1: Vec<f32>,
    /// `hidden`.
    pub b1: Vec<f32>,
    /// Colour branch: `colour_hidden x (input - cnn)` (empty without one).
    pub w2: Vec<f32>,
    /// Colour branch: `colour_hidden`.
    pub b2: Vec<f32>,
    /// `shape_dim x hidden`.
    pub ws: Vec<f32>,
    /// `shape_dim`.
    pub bs: Vec<f32>,
    /// `colour_dim x (hidden + colour_hidden)`.
    pub wc: Vec<f32>,
    /// `colour_dim`.
    pub bc: Vec<f32>,
    /// Instance projection: mean of the CNN part (`cnn_dim`, or empty).
    pub pmean: Vec<f32>,
    /// Instance projection: `instance_dim x cnn_dim` (or empty).
    pub pmatrix: Vec<f32>,
    /// Per task, `classes x part_dim` (normalised on load).
    pub prototypes: Vec<Vec<f32>>,
}

const FORMAT: &str = "lookalike-head";
const VERSION: u32 = 1;
const META_KEY: &str = "lookalike";
/// The path errors name for a head not read from a file.
const IN_MEMORY: &str = "<in memory>";

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::HeadFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `out = W x + b` for a row-major `W` of `b.len() x x.len()`.
fn affine(w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let n = x.len();
    b.iter()
        .enumerate()
        .map(|(i, &bi)| bi + dot(&w[i * n..(i + 1) * n], x))
        .collect()
}

impl Head {
    /// Builds a head from `info` and `weights`, checking every shape.
    pub fn new(info: HeadInfo, weights: HeadWeights) -> Result<Head> {
        let p = Path::new(IN_MEMORY);
        let (i, h, s, c) = (
            info.input_dim,
            info.hidden_dim,
            info.shape_dim,
            info.colour_dim,
        );
        if info.cnn_dim.saturating_add(info.tap_dim) > i
            || info.embedder.head_colour_dim() > info.tap_dim
        {
            return Err(bad(p, "the parts are longer than the input"));
        }
        let layout = info.row_layout();
        let ch = info.colour_hidden_dim;
        let expect = [
            ("mean", weights.mean.len(), i),
            ("std", weights.std.len(), i),
            (
                "w1",
                weights.w1.len(),
                h.saturating_mul(layout.main_input().len()),
            ),
            ("b1", weights.b1.len(), h),
            (
                "w2",
                weights.w2.len(),
                ch.saturating_mul(layout.colour_branch_input().len()),
            ),
            ("b2", weights.b2.len(), ch),
            ("ws", weights.ws.len(), s.saturating_mul(h)),
            ("bs", weights.bs.len(), s),
            (
                "wc",
                weights.wc.len(),
                c.saturating_mul(h.saturating_add(ch)),
            ),
            ("bc", weights.bc.len(), c),
            (
                "pmean",
                weights.pmean.len(),
                if info.instance_dim > 0 {
                    info.cnn_dim
                } else {
                    0
                },
            ),
            (
                "pmatrix",
                weights.pmatrix.len(),
                info.instance_dim.saturating_mul(info.cnn_dim),
            ),
            ("prototypes", weights.prototypes.len(), info.tasks.len()),
        ];
        for (name, got, want) in expect {
            if got != want {
                return Err(bad(p, format!("{name} has {got} values, expected {want}")));
            }
        }
        if h == 0
            || s == 0
            || c == 0
            || !(0.0..1.0).contains(&info.instance_weight)
            || !info.scale.is_finite()
        {
            return Err(bad(p, "bad dimensions, instance weight or scale"));
        }
        let prototypes = weights.prototypes;
        let mut unit_prototypes = prototypes.clone();
        for (t, protos) in info.tasks.iter().zip(unit_prototypes.iter_mut()) {
            let d = if t.part == Part::Shape { s } else { c };
            if d == 0 || protos.len() != t.classes.len().saturating_mul(d) {
                return Err(bad(
                    p,
                    format!("prototypes of {} have the wrong size", t.field),
                ));
            }
            for row in protos.chunks_mut(d) {
                l2_normalise(row);
            }
        }
        let all = weights
            .mean
            .iter()
            .chain(&weights.std)
            .chain(&weights.w1)
            .chain(&weights.w2)
            .chain(&weights.ws)
            .chain(&weights.wc)
            .chain(prototypes.iter().flatten());
        if all.clone().any(|v| !v.is_finite()) {
            return Err(bad(p, "weights are not all finite"));
        }
        let inv_std = weights
            .std
            .iter()
            .map(|&s| if s > 1e-6 { 1.0 / s } else { 0.0 })
            .collect();
        Ok(Head {
            info,
            hash: String::new(),
            mean: weights.mean,
            std: weights.std,
            inv_std,
            w1: weights.w1,
            b1: weights.b1,
            w2: weights.w2,
            b2: weights.b2,
            ws: weights.ws,
            bs: weights.bs,
            wc: weights.wc,
            bc: weights.bc,
            pmean: weights.pmean,
            pmatrix: weights.pmatrix,
            prototypes,
            unit_prototypes,
        })
    }

    /// The layout of the search rows it makes: the learned shape part then
    /// the instance part; the learned colour part then the raw colour
    /// descriptor (with an instance part only).
    pub fn search_layout(&self) -> SearchLayout {
        let info = &self.info;
        let raw_colour = if info.instance_dim > 0 {
            info.row_layout().colour
        } else {
            0
        };
        SearchLayout {
            shape: info.shape_dim + info.instance_dim,
            colour: info.colour_dim + raw_colour,
        }
    }

    /// Checks that it was trained on rows made like the index's.
    pub fn check_embedder(&self, index_embedder: &EmbedderFingerprint, index: &Path) -> Result<()> {
        if &self.info.embedder != index_embedder {
            return Err(Error::HeadMismatch {
                index: index.to_path_buf(),
                head_features: self.info.embedder.to_string(),
                index_features: index_embedder.to_string(),
            });
        }
        Ok(())
    }

    /// The search row of a stored row: (shape part | colour part), each unit.
    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        let layout = self.info.row_layout();
        let x: Vec<f32> = row
            .iter()
            .zip(&self.mean)
            .zip(&self.inv_std)
            .map(|((v, m), s)| (v - m) * s)
            .collect();
        let relu = |v: &mut Vec<f32>| v.iter_mut().for_each(|v| *v = v.max(0.0));
        let mut h = affine(&self.w1, &self.b1, &x[layout.main_input()]);
        relu(&mut h);
        let mut shape = affine(&self.ws, &self.bs, &h);
        if self.info.colour_hidden_dim > 0 {
            let mut hc = affine(&self.w2, &self.b2, &x[layout.colour_branch_input()]);
            relu(&mut hc);
            h.extend(hc);
        }
        let mut colour = affine(&self.wc, &self.bc, &h);
        l2_normalise(&mut shape);
        l2_normalise(&mut colour);
        if self.info.instance_dim > 0 {
            let b = self.info.instance_weight;
            let inst = project(&self.pmean, &self.pmatrix, layout.cnn(row));
            let (ks, ki) = ((1.0 - b).sqrt(), b.sqrt());
            shape.iter_mut().for_each(|v| *v *= ks);
            shape.extend(inst.iter().map(|v| v * ki));
            colour.iter_mut().for_each(|v| *v *= ks);
            let mut raw = layout.colour(row).to_vec();
            l2_normalise(&mut raw);
            colour.extend(raw.iter().map(|v| v * ki));
        }
        shape.extend_from_slice(&colour);
        shape
    }

    /// The `top` most likely classes of every task for a search row made by
    /// [`Head::apply`].
    pub fn recognise(&self, search_row: &[f32], top: usize) -> Vec<(String, Vec<Guess>)> {
        self.guesses(&self.probabilities(search_row), top)
    }

    /// The `top` most likely classes of every task, from per-task class
    /// probabilities in [`TaskSpec::classes`] order (what
    /// [`Head::probabilities`] gives, or a blend of it).
    pub fn guesses(&self, probabilities: &[Vec<f32>], top: usize) -> Vec<(String, Vec<Guess>)> {
        self.info
            .tasks
            .iter()
            .zip(probabilities)
            .map(|(task, probs)| {
                let mut guesses: Vec<Guess> = probs
                    .iter()
                    .zip(&task.classes)
                    .map(|(&confidence, c)| Guess {
                        label: c.clone(),
                        confidence,
                    })
                    .collect();
                guesses.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
                guesses.truncate(top);
                (task.field.clone(), guesses)
            })
            .collect()
    }

    /// The first task learned on `part` (articleType for the shape part,
    /// baseColour for the colour part in a Kaggle head).
    pub fn first_task(&self, part: Part) -> Option<usize> {
        self.info.tasks.iter().position(|t| t.part == part)
    }

    /// Per task, the probability of each class (in [`TaskSpec::classes`]
    /// order) for a search row made by [`Head::apply`].
    pub fn probabilities(&self, search_row: &[f32]) -> Vec<Vec<f32>> {
        let (shape, colour) = self.search_layout().split(search_row);
        // The learned part only (its scale does not change the argmax, and
        // the temperature is applied to unit cosines below).
        let shape = &shape[..self.info.shape_dim.min(shape.len())];
        let shape_norm = shape.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        let colour = &colour[..self.info.colour_dim.min(colour.len())];
        let colour_norm = colour.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        self.info
            .tasks
            .iter()
            .zip(&self.unit_prototypes)
            .map(|(task, protos)| {
                let (part, norm) = if task.part == Part::Shape {
                    (shape, shape_norm)
                } else {
                    (colour, colour_norm)
                };
                let d = part.len().max(1);
                let logits: Vec<f32> = protos
                    .chunks(d)
                    .map(|p| self.info.scale * dot(p, part) / norm)
                    .collect();
                let max = logits.iter().copied().fold(f32::MIN, f32::max);
                let mut exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
                let sum: f32 = exp.iter().sum();
                exp.iter_mut().for_each(|e| *e /= sum);
                exp
            })
            .collect()
    }

    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let info = serde_json::to_string(&self.info)
            .map_err(|e| bad(Path::new(IN_MEMORY), format!("description: {e}")))?;
        let bytes = |v: &[f32]| -> Vec<u8> { bytemuck::cast_slice(v).to_vec() };
        let (i, h, s, c) = (
            self.info.input_dim,
            self.info.hidden_dim,
            self.info.shape_dim,
            self.info.colour_dim,
        );
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
            ("mean".into(), vec![i], bytes(&self.mean)),
            ("std".into(), vec![i], bytes(&self.std)),
            (
                "w1".into(),
                vec![h, self.info.row_layout().main_input().len()],
                bytes(&self.w1),
            ),
            ("b1".into(), vec![h], bytes(&self.b1)),
            ("ws".into(), vec![s, h], bytes(&self.ws)),
            ("bs".into(), vec![s], bytes(&self.bs)),
            (
                "wc".into(),
                vec![c, h + self.info.colour_hidden_dim],
                bytes(&self.wc),
            ),
            ("bc".into(), vec![c], bytes(&self.bc)),
            ("pmean".into(), vec![self.pmean.len()], bytes(&self.pmean)),
            (
                "pmatrix".into(),
                vec![self.info.instance_dim, self.info.cnn_dim],
                bytes(&self.pmatrix),
            ),
        ];
        if self.info.colour_hidden_dim > 0 {
            let ch = self.info.colour_hidden_dim;
            owned.push((
                "w2".into(),
                vec![ch, self.info.row_layout().colour_branch_input().len()],
                bytes(&self.w2),
            ));
            owned.push(("b2".into(), vec![ch], bytes(&self.b2)));
        }
        for (k, (t, p)) in self.info.tasks.iter().zip(&self.prototypes).enumerate() {
            let d = if t.part == Part::Shape { s } else { c };
            owned.push((format!("proto.{k}"), vec![t.classes.len(), d], bytes(p)));
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, shape, data)| {
                TensorView::new(Dtype::F32, shape.clone(), data)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| bad(Path::new(IN_MEMORY), format!("tensor {n}: {e}")))
            })
            .collect::<Result<_>>()?;
        let meta = HashMap::from([(META_KEY.to_string(), info)]);
        safetensors::serialize(views, Some(meta))
            .map_err(|e| bad(Path::new(IN_MEMORY), format!("serialising: {e}")))
    }

    /// Writes the head to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).at(&tmp)?;
        std::fs::rename(&tmp, path).at(path)?;
        Ok(())
    }

    /// Parses safetensors bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Head> {
        let st =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(path, e.to_string()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(path, e.to_string()))?;
        let info_json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| bad(path, "no lookalike description in its metadata"))?;
        let info: HeadInfo =
            serde_json::from_str(info_json).map_err(|e| bad(path, format!("description: {e}")))?;
        if info.format != FORMAT || info.version != VERSION {
            return Err(bad(
                path,
                format!(
                    "format {} v{}, expected {FORMAT} v{VERSION}",
                    info.format, info.version
                ),
            ));
        }
        let get = |name: &str| -> Result<Vec<f32>> {
            let t = st
                .tensor(name)
                .map_err(|e| bad(path, format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(path, format!("{name} is not f32")));
            }
            // Unaligned in the file: copied out, not cast in place.
            Ok(bytemuck::pod_collect_to_vec(t.data()))
        };
        let branch = |name: &str| {
            if info.colour_hidden_dim > 0 {
                get(name)
            } else {
                Ok(Vec::new())
            }
        };
        let weights = HeadWeights {
            mean: get("mean")?,
            std: get("std")?,
            w1: get("w1")?,
            b1: get("b1")?,
            w2: branch("w2")?,
            b2: branch("b2")?,
            ws: get("ws")?,
            bs: get("bs")?,
            wc: get("wc")?,
            bc: get("bc")?,
            pmean: get("pmean")?,
            pmatrix: get("pmatrix")?,
            prototypes: (0..info.tasks.len())
                .map(|k| get(&format!("proto.{k}")))
                .collect::<Result<_>>()?,
        };
        let mut head = Head::new(info, weights).map_err(|e| match e {
            // Named after the file it came from, not `<in memory>`.
            Error::HeadFile { reason, .. } => bad(path, reason),
            e => e,
        })?;
        head.hash = blake3::hash(bytes).to_hex().to_string();
        Ok(head)
    }

    /// Reads a head file.
    pub fn load(path: &Path) -> Result<Head> {
        let bytes = std::fs::read(path).at(path)?;
        Head::from_bytes(&bytes, path)
    }

    /// A description for a new head; `dims` are input, hidden, colour
    /// hidden, shape and colour lengths, `tap_dim` the taps part's length.
    pub fn describe(
        embedder: EmbedderFingerprint,
        layout: RowLayout,
        dims: HeadDims,
        scale: f32,
        tasks: Vec<TaskSpec>,
        training: serde_json::Value,
    ) -> HeadInfo {
        HeadInfo {
            format: FORMAT.into(),
            version: VERSION,
            embedder,
            input_dim: layout.dim(),
            hidden_dim: dims.hidden,
            colour_hidden_dim: dims.colour_hidden,
            shape_dim: dims.shape,
            colour_dim: dims.colour,
            instance_dim: dims.instance,
            instance_weight: dims.instance_weight,
            cnn_dim: layout.cnn,
            tap_dim: layout.recorded_tap_dim(),
            scale,
            tasks,
            training,
        }
    }
}

/// The head shipped for the Kaggle "Fashion Product Images" catalogue and
/// the built-in model `model` (trained by `lookalike train` on its 160x120
/// letterbox features; `models/heads/README.md` has the commands), if this
/// build has one.
pub fn builtin_kaggle(model: &str) -> Result<Option<Head>> {
    let (bytes, name): (&[u8], &str) = match model {
        "efficientnet-lite0" => (
            include_bytes!("../../models/heads/kaggle-lite0.safetensors"),
            "models/heads/kaggle-lite0.safetensors",
        ),
        "efficientnet-lite0-int8" => (
            include_bytes!("../../models/heads/kaggle-lite0-int8.safetensors"),
            "models/heads/kaggle-lite0-int8.safetensors",
        ),
        _ => return Ok(None),
    };
    Head::from_bytes(bytes, Path::new(name)).map(Some)
}

#[cfg(all(test, feature = "training"))]
mod tests {
    use super::*;
    use crate::test_support::{fingerprint, small_options, synthetic};
    use crate::training::train;

    fn trained() -> Head {
        let opts = crate::training::TrainOptions {
            epochs: 2,
            ..small_options()
        };
        train(
            &synthetic(120),
            &fingerprint("m"),
            &opts,
            |_| {},
            |_, _, _| {},
        )
        .expect("train")
        .head
    }

    #[test]
    fn a_head_file_round_trips() {
        let head = trained();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.safetensors");
        head.save(&path).expect("save");
        let back = Head::load(&path).expect("load");
        assert_eq!(back.info, head.info);
        assert_eq!(back.hash, head.hash);
        let row: Vec<f32> = (0..16).map(|i| i as f32 / 10.0).collect();
        assert_eq!(back.apply(&row), head.apply(&row));
        let out = back.apply(&row);
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        // Shape part (learned 8 + instance 4) and colour part (learned 4 +
        // raw 4) are each unit vectors.
        let split = back.search_layout().shape;
        assert_eq!((split, out.len()), (12, 20));
        assert!((norm(&out[..split]) - 1.0).abs() < 1e-4, "{out:?}");
        assert!((norm(&out[split..]) - 1.0).abs() < 1e-4, "{out:?}");
    }

    #[test]
    fn broken_or_foreign_head_files_are_refused() {
        let head = trained();
        let bytes = head.to_bytes().expect("bytes");
        let p = Path::new("h");
        assert!(Head::from_bytes(&bytes[..bytes.len() / 2], p).is_err());
        assert!(Head::from_bytes(b"not a head", p).is_err());
        let mut info = head.info.clone();
        info.version = 99;
        let foreign = Head {
            info,
            ..head.clone()
        };
        let err = Head::from_bytes(&foreign.to_bytes().expect("bytes"), p).unwrap_err();
        assert!(err.to_string().contains("v99"), "{err}");
        // Features of another model: a clear error naming both.
        let err = head
            .check_embedder(&fingerprint("other"), Path::new("idx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lookalike train"), "{err}");
    }
}
