//! Which image model to run and how to feed it: the model spec.
//!
//! The two EfficientNet-Lite models ship inside the binary; any other ONNX
//! image model can be described by a small JSON spec file:
//!
//! ```json
//! { "name": "my-resnet", "file": "resnet50.onnx", "input": "data",
//!   "output": "pool5", "layout": "nchw", "height": 224, "width": 224,
//!   "fit": "letterbox", "mean": [123.7, 116.3, 103.5], "std": [58.4, 57.1, 57.4],
//!   "taps": ["res4b_branch2c"] }
//! ```
//!
//! `file` is relative to the spec file. `mean`/`std` apply to 0..255 pixel values.
//! `taps` (optional) names intermediate feature maps that are average-pooled
//! and stored beside the embedding: a trained head reads them (earlier layers
//! keep texture and colour that the last layer has pooled away); search
//! without a head ignores them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::imaging::{Fit, InputGeometry};

/// EfficientNet-Lite0 (Apache-2.0), see `models/README.md`.
static LITE0: &[u8] = include_bytes!("../../models/efficientnet_lite0.onnx");
/// EfficientNet-Lite0 quantised to int8 for ONNX Runtime (QDQ, taps as
/// outputs), see `models/README.md` and `models/quantize_lite0.py`.
static LITE0_INT8: &[u8] = include_bytes!("../../models/efficientnet_lite0_int8.onnx");
/// EfficientNet-Lite2 (Apache-2.0), see `models/README.md`.
static LITE2: &[u8] = include_bytes!("../../models/efficientnet_lite2.onnx");

/// Tensor layout of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorLayout {
    /// `[N, 3, H, W]`.
    Nchw,
    /// `[N, H, W, 3]`.
    Nhwc,
}

/// Everything needed to turn an image into the model's feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Short name shown in `info` and recorded in the index.
    pub name: String,
    /// ONNX file; `None` for a model built into the binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Name of the image input.
    pub input: String,
    /// Name of the output used as the embedding (pooled features).
    pub output: String,
    /// Input tensor layout.
    pub layout: TensorLayout,
    /// Input height.
    pub height: u32,
    /// Input width.
    pub width: u32,
    /// How images are fitted into `height` x `width`.
    #[serde(default = "default_fit")]
    pub fit: Fit,
    /// Per-channel mean subtracted from 0..255 values.
    pub mean: [f32; 3],
    /// Per-channel divisor applied after the mean.
    pub std: [f32; 3],
    /// Intermediate feature maps (`[N, C, h, w]` for NCHW models, `[N, h, w, C]`
    /// for NHWC ones) to average-pool and keep for a trained head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taps: Vec<String>,
}

fn default_fit() -> Fit {
    Fit::Letterbox
}

/// The default input size for the 60x80 catalogue packshots: a 3:4 portrait
/// rectangle, chosen by the evaluation (see docs/quality.md, "Ablations").
pub const DEFAULT_INPUT: (u32, u32) = (160, 120);

impl ModelSpec {
    /// A built-in model by name: `lite0`, `lite0-int8` or `lite2` (also the
    /// full names).
    pub fn builtin(name: &str) -> Option<ModelSpec> {
        // The taps are the ends of stages 4, 5 and 6 and the projection of
        // stage 7 (strides 16, 16, 32, 32): see docs/training.md, "Taps".
        // The int8 network keeps the fp32 one's tensor names.
        const LITE0_TAPS: &[&str] = &["res7", "res10", "res14", "n48_c"];
        let (name, taps): (&str, &[&str]) = match name {
            "lite0" | "efficientnet-lite0" => ("efficientnet-lite0", LITE0_TAPS),
            "lite0-int8" | "efficientnet-lite0-int8" => ("efficientnet-lite0-int8", LITE0_TAPS),
            "lite2" | "efficientnet-lite2" => {
                ("efficientnet-lite2", &["res10", "res14", "res19", "n63_c"])
            }
            _ => return None,
        };
        Some(ModelSpec {
            name: name.to_string(),
            file: None,
            input: "input".into(),
            output: "features".into(),
            layout: TensorLayout::Nchw,
            height: DEFAULT_INPUT.0,
            width: DEFAULT_INPUT.1,
            fit: Fit::Letterbox,
            mean: [127.0; 3],
            std: [128.0; 3],
            taps: taps.iter().map(|t| t.to_string()).collect(),
        })
    }

    /// The model a new index gets when none is named, whatever the backend:
    /// the fp32 Lite0. The int8 Lite0 (`lite0-int8`) would be the default on
    /// ONNX Runtime only if every eval figure stayed within 0.005 of fp32's;
    /// with its own head its packshot figures do (type NDCG@10 +0.008), but
    /// the held-out shopper photos lose 0.014 P@1 and 0.015 P@10 (docs/speed.md). tract runs the int8 network slower than fp32 anyway.
    pub fn default_model() -> ModelSpec {
        ModelSpec::builtin("lite0").unwrap_or_else(|| unreachable!("`lite0` is built in"))
    }

    /// Resolves `--model`: a built-in name, or the path of a JSON spec file.
    pub fn resolve(name_or_path: &str) -> Result<ModelSpec> {
        if let Some(spec) = ModelSpec::builtin(name_or_path) {
            return Ok(spec);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(Error::InvalidArgument(format!(
                "unknown model `{name_or_path}`: use lite0, lite0-int8, lite2, or the path of a JSON model spec"
            )));
        }
        ModelSpec::from_file(path)
    }

    /// Reads a JSON spec file; a relative `file` is taken relative to it.
    pub fn from_file(path: &Path) -> Result<ModelSpec> {
        let bad = |reason: String| Error::ModelSpec {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec: ModelSpec = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let file = spec
            .file
            .take()
            .ok_or_else(|| bad("`file` (the ONNX model) is required".into()))?;
        let file = if file.is_relative() {
            path.parent().unwrap_or(Path::new(".")).join(file)
        } else {
            file
        };
        spec.file = Some(file);
        spec.validate().map_err(bad)?;
        Ok(spec)
    }

    /// Checks the numbers make sense.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(16..=1024).contains(&self.height) || !(16..=1024).contains(&self.width) {
            return Err(format!(
                "input size {}x{} is outside 16..=1024",
                self.height, self.width
            ));
        }
        if self.std.iter().any(|s| !s.is_finite() || *s == 0.0)
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err("`mean` must be finite and `std` finite and non-zero".into());
        }
        if self.taps.len() > 16 {
            return Err(format!("{} taps (at most 16)", self.taps.len()));
        }
        Ok(())
    }

    /// Returns a copy with another input size.
    pub fn with_input_size(mut self, height: u32, width: u32) -> Result<ModelSpec> {
        self.height = height;
        self.width = width;
        self.validate().map_err(Error::InvalidArgument)?;
        Ok(self)
    }

    /// The input geometry for [`crate::imaging::fit`].
    pub fn geometry(&self) -> InputGeometry {
        InputGeometry {
            height: self.height,
            width: self.width,
            fit: self.fit,
        }
    }

    /// The ONNX bytes: built in, or read from `file`.
    pub fn model_bytes(&self) -> Result<std::borrow::Cow<'static, [u8]>> {
        match &self.file {
            Some(path) => std::fs::read(path)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| Error::io(path, e)),
            None => match self.name.as_str() {
                "efficientnet-lite0" => Ok(std::borrow::Cow::Borrowed(LITE0)),
                "efficientnet-lite0-int8" => Ok(std::borrow::Cow::Borrowed(LITE0_INT8)),
                "efficientnet-lite2" => Ok(std::borrow::Cow::Borrowed(LITE2)),
                other => Err(Error::Model(format!("no built-in model named `{other}`"))),
            },
        }
    }
}

/// Parses `HxW` (e.g. `128x96`) into `(height, width)`.
pub fn parse_input_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (h, w) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}`: expected HEIGHTxWIDTH, e.g. 128x96"))?;
    let h: u32 = h.trim().parse().map_err(|_| format!("`{s}`: bad height"))?;
    let w: u32 = w.trim().parse().map_err(|_| format!("`{s}`: bad width"))?;
    Ok((h, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve() {
        assert_eq!(
            ModelSpec::resolve("lite0").expect("lite0").name,
            "efficientnet-lite0"
        );
        assert_eq!(
            ModelSpec::resolve("lite2").expect("lite2").name,
            "efficientnet-lite2"
        );
        assert!(ModelSpec::resolve("resnet9000").is_err());
    }

    #[test]
    fn spec_file_round_trip_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.json");
        std::fs::write(
            &p,
            r#"{"name":"x","file":"x.onnx","input":"in","output":"out","layout":"nhwc","height":64,"width":48,"mean":[0,0,0],"std":[255,255,255]}"#,
        )
        .expect("write");
        let s = ModelSpec::from_file(&p).expect("spec");
        assert_eq!(s.file.as_deref(), Some(dir.path().join("x.onnx").as_path()));
        assert_eq!(s.fit, Fit::Letterbox);
        assert_eq!(s.layout, TensorLayout::Nhwc);

        std::fs::write(&p, r#"{"name":"x","input":"in"}"#).expect("write");
        let e = ModelSpec::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("m.json"), "{e}");

        std::fs::write(
            &p,
            r#"{"name":"x","file":"x.onnx","input":"in","output":"out","layout":"nchw","height":64,"width":48,"mean":[0,0,0],"std":[0,1,1]}"#,
        )
        .expect("write");
        assert!(ModelSpec::from_file(&p).is_err());
    }

    #[test]
    fn input_size_parsing() {
        assert_eq!(parse_input_size("128x96"), Ok((128, 96)));
        assert!(parse_input_size("128").is_err());
        assert!(parse_input_size("ax9").is_err());
    }
}
