//! Optional ONNX Runtime backend (cargo feature `ort`).
//!
//! tract (pure Rust, the default) needs nothing installed; ONNX Runtime's
//! convolution kernels are several times faster on x86-64. With the feature
//! built in and `LOOKALIKE_ONNXRUNTIME` naming a `libonnxruntime.so` (for
//! example the one inside the PyPI `onnxruntime` wheel), the CNN runs there.
//! The library is loaded at run time (`load-dynamic`): nothing is downloaded
//! at build time. The vectors equal tract's up to float rounding, so an index
//! built with one backend is searched with the other.

use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::value::Tensor;

use super::spec::ModelSpec;
use crate::error::{Error, Result};

/// The environment variable naming the ONNX Runtime shared library.
pub const ENV_VAR: &str = "LOOKALIKE_ONNXRUNTIME";

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("onnxruntime: {e}"))
}

/// Loads the library once per process.
fn init(lib: &str) -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ort::init_from(lib)
            .map(|b| {
                b.commit();
            })
            .map_err(|e| format!("cannot load {lib}: {e}"))
    })
    .clone()
    .map_err(Error::Model)
}

/// ONNX Runtime sessions for one model: one single-threaded session per
/// worker thread, like the tract backend (one image stream per core beats
/// one multi-threaded run at a time, which leaves cores idle while images
/// are decoded).
pub struct OrtModel {
    sessions: Vec<Mutex<Session>>,
    input: String,
    /// The pooled output, then the taps.
    outputs: Vec<String>,
}

/// The model with `extra` intermediate values added to its graph outputs
/// (ONNX Runtime returns nothing else).
fn with_outputs(bytes: &[u8], extra: &[String]) -> Result<Vec<u8>> {
    use prost::Message;
    use tract_onnx::pb::{type_proto, TypeProto, ValueInfoProto};
    use tract_onnx::prelude::Framework;
    if extra.is_empty() {
        return Ok(bytes.to_vec());
    }
    let mut proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| Error::Model(format!("cannot read ONNX: {e:#}")))?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| Error::Model("ONNX model has no graph".into()))?;
    for name in extra {
        if graph.output.iter().any(|o| &o.name == name) {
            continue;
        }
        graph.output.push(ValueInfoProto {
            name: name.clone(),
            r#type: Some(TypeProto {
                denotation: String::new(),
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
                    shape: None,
                })),
            }),
            doc_string: String::new(),
        });
    }
    Ok(proto.encode_to_vec())
}

impl OrtModel {
    /// The backend named by [`ENV_VAR`], if set.
    pub fn from_env(spec: &ModelSpec, bytes: &[u8]) -> Result<Option<OrtModel>> {
        let Ok(lib) = std::env::var(ENV_VAR) else {
            return Ok(None);
        };
        init(&lib)?;
        let bytes = with_outputs(bytes, &spec.taps)?;
        let threads = rayon::current_num_threads().max(1);
        let sessions = (0..threads)
            .map(|_| {
                Session::builder()
                    .map_err(model_err)?
                    .with_intra_threads(1)
                    .map_err(model_err)?
                    .commit_from_memory(&bytes)
                    .map(Mutex::new)
                    .map_err(model_err)
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::info!("CNN on ONNX Runtime from {lib} ({threads} sessions)");
        Ok(Some(OrtModel {
            sessions,
            input: spec.input.clone(),
            outputs: std::iter::once(&spec.output)
                .chain(&spec.taps)
                .cloned()
                .collect(),
        }))
    }

    /// Runs a batch: `data` holds `shape` (`[N, 3, H, W]` or `[N, H, W, 3]`).
    /// Returns the pooled output, then each tap.
    pub fn run(&self, shape: [usize; 4], data: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let tensor = Tensor::from_array((dims, data)).map_err(model_err)?;
        // The worker's own session; callers outside the pool share the first.
        let slot = rayon::current_thread_index().unwrap_or(0) % self.sessions.len();
        let mut session = self.sessions[slot]
            .lock()
            .map_err(|_| Error::Model("onnxruntime session poisoned".into()))?;
        let outputs = session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(model_err)?;
        self.outputs
            .iter()
            .map(|name| {
                let value = outputs
                    .get(name.as_str())
                    .ok_or_else(|| Error::Model(format!("no output named `{name}`")))?;
                let (_, values) = value.try_extract_tensor::<f32>().map_err(model_err)?;
                Ok(values.to_vec())
            })
            .collect()
    }
}
