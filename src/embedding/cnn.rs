//! Running an ONNX image model with `tract` (pure Rust, no system libraries).
//!
//! Shapes: the input is `[B, 3, H, W]` (or `[B, H, W, 3]`) float32, the output
//! used is the pooled feature vector `[B, D]` (D = 1280 for EfficientNet-Lite).
//! Each tap (an intermediate map `[B, C, h, w]`, or `[B, h, w, C]` for NHWC
//! models) is fetched in the same run and average-pooled to `[B, C]`.
//! A plan is compiled per batch size B because tract optimises best with
//! concrete shapes; plans are built on first use and shared between threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

use super::spec::{ModelSpec, TensorLayout};
use crate::error::{Error, Result};
use crate::imaging::{to_tensor, RgbImage};

type Plan = Arc<TypedRunnableModel>;

/// A loaded CNN that maps fitted images to feature vectors.
pub struct CnnModel {
    spec: ModelSpec,
    /// ONNX Runtime, when built in and asked for (see `ort_backend`).
    #[cfg(feature = "ort")]
    ort: Option<super::ort_backend::OrtModel>,
    /// The parsed (not yet shaped) model, kept to compile plans for new batch sizes.
    source: InferenceModel,
    plans: Mutex<HashMap<usize, Plan>>,
    dim: usize,
    /// Channels of each tap.
    tap_channels: Vec<usize>,
}

/// What the model gives for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct CnnFeatures {
    /// The pooled output (not normalised).
    pub pooled: Vec<f32>,
    /// Each tap average-pooled, one after the other (not normalised).
    pub taps: Vec<f32>,
}

impl std::fmt::Debug for CnnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CnnModel")
            .field("spec", &self.spec)
            .field("dim", &self.dim)
            .field("tap_channels", &self.tap_channels)
            .finish()
    }
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("{e:#}"))
}

impl CnnModel {
    /// Parses the model and compiles the batch-1 plan (to learn the output size).
    pub fn load(spec: &ModelSpec) -> Result<CnnModel> {
        let bytes = spec.model_bytes()?;
        let source = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| Error::Model(format!("{}: cannot read ONNX: {e:#}", spec.name)))?;
        let mut model = CnnModel {
            spec: spec.clone(),
            #[cfg(feature = "ort")]
            ort: super::ort_backend::OrtModel::load(spec, &bytes).unwrap_or_else(|e| {
                tracing::warn!("{e}; the CNN runs on tract instead (same vectors, slower)");
                None
            }),
            source,
            plans: Mutex::new(HashMap::new()),
            dim: 0,
            tap_channels: Vec::new(),
        };
        let plan = model.plan(1)?;
        let shape = |i: usize| -> Result<Vec<usize>> {
            plan.model()
                .output_fact(i)
                .map_err(model_err)?
                .shape
                .as_concrete()
                .map(<[usize]>::to_vec)
                .ok_or_else(|| Error::Model(format!("output {i} shape is not concrete")))
        };
        model.dim = shape(0)?.iter().product();
        for (i, name) in spec.taps.iter().enumerate() {
            let s = shape(i + 1)?;
            let channels = match (s.len(), spec.layout) {
                (4, TensorLayout::Nchw) => s[1],
                (4, TensorLayout::Nhwc) => s[3],
                _ => {
                    return Err(Error::Model(format!(
                        "{}: tap `{name}` has shape {s:?}, expected a 4-d feature map",
                        spec.name
                    )))
                }
            };
            model.tap_channels.push(channels);
        }
        Ok(model)
    }

    /// The length of the feature vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Channels of each tap (in spec order).
    pub fn tap_channels(&self) -> &[usize] {
        &self.tap_channels
    }

    /// Length of all pooled taps together.
    pub fn tap_dim(&self) -> usize {
        self.tap_channels.iter().sum()
    }

    /// The runtime that runs this model.
    pub fn backend(&self) -> super::Backend {
        #[cfg(feature = "ort")]
        if self.ort.is_some() {
            return super::backend::current();
        }
        super::Backend::Tract
    }

    /// Runs this model on tract from now on.
    pub fn use_tract(&mut self) {
        #[cfg(feature = "ort")]
        {
            self.ort = None;
        }
    }

    /// The spec this model was loaded from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn input_shape(&self, batch: usize) -> [usize; 4] {
        let (h, w) = (self.spec.height as usize, self.spec.width as usize);
        match self.spec.layout {
            TensorLayout::Nchw => [batch, 3, h, w],
            TensorLayout::Nhwc => [batch, h, w, 3],
        }
    }

    /// The compiled plan for `batch` images at a time.
    fn plan(&self, batch: usize) -> Result<Plan> {
        if let Ok(plans) = self.plans.lock() {
            if let Some(p) = plans.get(&batch) {
                return Ok(p.clone());
            }
        }
        let spec = &self.spec;
        let mut model = self.source.clone();
        let input = model
            .input_outlets()
            .map_err(model_err)?
            .iter()
            .position(|o| model.node(o.node).name == spec.input)
            .ok_or_else(|| {
                Error::Model(format!("{}: no input named `{}`", spec.name, spec.input))
            })?;
        model = model
            .with_input_fact(input, f32::fact(self.input_shape(batch)).into())
            .map_err(model_err)?;
        let outlet = |name: &str, what: &str| {
            model
                .find_outlet_label(name)
                .or_else(|| {
                    model
                        .node_by_name(name)
                        .ok()
                        .map(|n| OutletId::new(n.id, 0))
                })
                .ok_or_else(|| Error::Model(format!("{}: no {what} named `{name}`", spec.name)))
        };
        let mut outputs = vec![outlet(&spec.output, "output")?];
        for tap in &spec.taps {
            outputs.push(outlet(tap, "tap")?);
        }
        model.select_output_outlets(&outputs).map_err(model_err)?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                Error::Model(format!(
                    "{}: cannot compile for batch {batch}: {e:#}",
                    spec.name
                ))
            })?;
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(batch, plan.clone());
        }
        Ok(plan)
    }

    /// Runs the model on images already fitted to the input size; returns one
    /// raw (not normalised) feature vector and pooled taps per image.
    pub fn features(&self, images: &[&RgbImage]) -> Result<Vec<CnnFeatures>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let spec = &self.spec;
        let per_image = 3 * (spec.height * spec.width) as usize;
        let mut data = vec![0f32; images.len() * per_image];
        for (img, out) in images.iter().zip(data.chunks_exact_mut(per_image)) {
            if img.dimensions() != (spec.width, spec.height) {
                return Err(Error::Model(format!(
                    "image is {}x{}, the model takes {}x{}",
                    img.width(),
                    img.height(),
                    spec.width,
                    spec.height
                )));
            }
            to_tensor(
                img,
                spec.mean,
                spec.std,
                spec.layout == TensorLayout::Nchw,
                out,
            );
        }
        let n = images.len();
        #[cfg(feature = "ort")]
        if let Some(ort) = &self.ort {
            let outs = ort.run(self.input_shape(n), data)?;
            let views: Vec<&[f32]> = outs.iter().map(Vec::as_slice).collect();
            return self.collect(&views, n);
        }
        let input = Tensor::from_shape(&self.input_shape(n), &data).map_err(model_err)?;
        let plan = self.plan(n)?;
        let outputs = plan.run(tvec!(input.into())).map_err(model_err)?;
        let views = outputs
            .iter()
            .map(|o| {
                o.try_as_plain_ram()
                    .map_err(model_err)?
                    .as_slice::<f32>()
                    .map_err(model_err)
            })
            .collect::<Result<Vec<&[f32]>>>()?;
        self.collect(&views, n)
    }

    /// Cuts the outputs (`[N, dim]`, then each tap) into per-image features,
    /// checking their sizes.
    fn collect(&self, outputs: &[&[f32]], n: usize) -> Result<Vec<CnnFeatures>> {
        let sizes = |what: &str, got: usize, want: usize| {
            Error::Model(format!(
                "{what} has {got} values for {n} images, expected {want}"
            ))
        };
        let Some((pooled, taps)) = outputs.split_first() else {
            return Err(Error::Model("model returned no output".into()));
        };
        if pooled.len() != n * self.dim {
            return Err(sizes("output", pooled.len(), n * self.dim));
        }
        if taps.len() != self.tap_channels.len() {
            return Err(Error::Model(format!(
                "model returned {} taps, expected {}",
                taps.len(),
                self.tap_channels.len()
            )));
        }
        let mut out: Vec<CnnFeatures> = pooled
            .chunks_exact(self.dim)
            .map(|p| CnnFeatures {
                pooled: p.to_vec(),
                taps: Vec::with_capacity(self.tap_dim()),
            })
            .collect();
        for ((tap, &c), name) in taps.iter().zip(&self.tap_channels).zip(&self.spec.taps) {
            if c == 0 || tap.len() % (n * c) != 0 || tap.is_empty() {
                return Err(sizes(&format!("tap `{name}`"), tap.len(), n * c));
            }
            let per_image = tap.len() / n;
            for (f, map) in out.iter_mut().zip(tap.chunks_exact(per_image)) {
                f.taps.extend(average_pool(map, c, self.spec.layout));
            }
        }
        Ok(out)
    }
}

/// Averages one image's feature map (`C x cells` for NCHW, `cells x C` for
/// NHWC; `map.len()` a multiple of `channels`) over its cells: `C` values.
fn average_pool(map: &[f32], channels: usize, layout: TensorLayout) -> Vec<f32> {
    let cells = map.len() / channels;
    let mut acc = vec![0f32; channels];
    match layout {
        TensorLayout::Nchw => {
            for (a, plane) in acc.iter_mut().zip(map.chunks_exact(cells)) {
                *a = plane.iter().sum::<f32>();
            }
        }
        TensorLayout::Nhwc => {
            for cell in map.chunks_exact(channels) {
                acc.iter_mut().zip(cell).for_each(|(a, v)| *a += v);
            }
        }
    }
    acc.iter_mut().for_each(|a| *a /= cells as f32);
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_averaged_per_channel_in_either_layout() {
        // Two channels over a 2x2 map: channel 0 = 1,2,3,4; channel 1 = 10,20,30,40.
        let nchw = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
        let nhwc = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0];
        assert_eq!(average_pool(&nchw, 2, TensorLayout::Nchw), vec![2.5, 25.0]);
        assert_eq!(average_pool(&nhwc, 2, TensorLayout::Nhwc), vec![2.5, 25.0]);
    }

    #[test]
    fn lite0_returns_its_pooled_features_and_four_taps() {
        let spec = ModelSpec::resolve("lite0").expect("lite0");
        let model = CnnModel::load(&spec).expect("load");
        assert_eq!(model.dim(), 1280);
        assert_eq!(model.tap_channels(), &[80, 112, 192, 320]);
        let img = RgbImage::from_pixel(spec.width, spec.height, image::Rgb([200, 40, 40]));
        let out = model.features(&[&img, &img]).expect("run");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], out[1]);
        assert_eq!((out[0].pooled.len(), out[0].taps.len()), (1280, 704));
        // ReLU6 outputs and residual sums: finite, not all zero.
        assert!(out[0].taps.iter().all(|v| v.is_finite()));
        assert!(out[0].taps.iter().any(|v| *v != 0.0));

        let mut bad = spec.clone();
        bad.taps.push("no-such-node".into());
        let err = CnnModel::load(&bad).unwrap_err().to_string();
        assert!(err.contains("no tap named `no-such-node`"), "{err}");
    }
}
