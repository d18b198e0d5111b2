//! Running an ONNX image model with `tract` (pure Rust, no system libraries).
//!
//! Shapes: the input is `[B, 3, H, W]` (or `[B, H, W, 3]`) float32, the output
//! used is the pooled feature vector `[B, D]` (D = 1280 for EfficientNet-Lite).
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
}

impl std::fmt::Debug for CnnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CnnModel")
            .field("spec", &self.spec)
            .field("dim", &self.dim)
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
            ort: super::ort_backend::OrtModel::from_env(spec, &bytes)?,
            source,
            plans: Mutex::new(HashMap::new()),
            dim: 0,
        };
        let plan = model.plan(1)?;
        let out = plan
            .model()
            .output_fact(0)
            .map_err(model_err)?
            .shape
            .as_concrete()
            .map(|s| s.iter().product::<usize>())
            .ok_or_else(|| Error::Model("output shape is not concrete".into()))?;
        model.dim = out;
        Ok(model)
    }

    /// The length of the feature vector.
    pub fn dim(&self) -> usize {
        self.dim
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
        let output = model
            .find_outlet_label(&spec.output)
            .or_else(|| {
                model
                    .node_by_name(&spec.output)
                    .ok()
                    .map(|n| OutletId::new(n.id, 0))
            })
            .ok_or_else(|| {
                Error::Model(format!("{}: no output named `{}`", spec.name, spec.output))
            })?;
        model.select_output_outlets(&[output]).map_err(model_err)?;
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
    /// raw (not normalised) feature vector per image.
    pub fn features(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
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
        #[cfg(feature = "ort")]
        if let Some(ort) = &self.ort {
            let out = ort.run(self.input_shape(images.len()), data)?;
            return self.split_output(&out, images.len());
        }
        let input =
            Tensor::from_shape(&self.input_shape(images.len()), &data).map_err(model_err)?;
        let plan = self.plan(images.len())?;
        let outputs = plan.run(tvec!(input.into())).map_err(model_err)?;
        let view = outputs[0].try_as_plain_ram().map_err(model_err)?;
        let out = view.as_slice::<f32>().map_err(model_err)?;
        self.split_output(out, images.len())
    }

    /// Cuts a `[N, dim]` output into N vectors, checking its size.
    fn split_output(&self, out: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        if out.len() != n * self.dim {
            return Err(Error::Model(format!(
                "output has {} values for {} images of dimension {}",
                out.len(),
                n,
                self.dim
            )));
        }
        Ok(out.chunks_exact(self.dim).map(<[f32]>::to_vec).collect())
    }
}
