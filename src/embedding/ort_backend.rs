//! The ONNX Runtime backend (cargo feature `ort`, on by default).
//!
//! ONNX Runtime's convolution kernels are several times faster than tract's
//! on x86-64, and only it runs the int8 network faster than fp32. The library
//! is loaded at run time (`load-dynamic`: nothing is downloaded at build
//! time) from where [`super::backend`] finds it. The vectors equal tract's
//! up to float rounding, so an index built with one backend is searched with
//! the other.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

use super::backend::{Request, ORT_HINT};
use super::spec::ModelSpec;
use crate::error::{Error, Result};

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("onnxruntime: {e}"))
}

/// The ONNX Runtime library this process loaded.
#[derive(Debug)]
pub(crate) struct Runtime {
    library: PathBuf,
    version: String,
}

impl Runtime {
    /// How [`super::Backend`] names it.
    pub(crate) fn backend(&self) -> super::Backend {
        super::Backend::Onnxruntime {
            library: self.library.clone(),
            version: self.version.clone(),
        }
    }
}

/// The library found the ways [`super::backend`] describes, loaded once per
/// process (`None`: tract runs the CNN). Says once which backend runs.
pub(crate) fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let found = match Request::from_env() {
                Request::TractOnly => {
                    tracing::info!(
                        "CNN on tract (pure Rust): {} is `tract`",
                        super::backend::ENV_VAR
                    );
                    return None;
                }
                Request::Named { variable, path } => {
                    let path = resolve(&path);
                    probe(&path).and_then(|v| load(path.clone(), v)).map_err(|e| {
                        tracing::warn!(
                            "{variable}={}: {e}; the CNN runs on tract instead (same vectors, slower)",
                            path.display()
                        )
                    })
                }
                // Only a candidate that passed `probe` reaches `ort`, so at
                // most one `ort` load is ever attempted.
                Request::System => ["libonnxruntime.so", "libonnxruntime.so.1"]
                    .iter()
                    .map(|name| resolve(Path::new(name)))
                    .find_map(|path| probe(&path).ok().map(|v| (path, v)))
                    .ok_or(())
                    .and_then(|(path, v)| {
                        load(path.clone(), v).map_err(|e| {
                            tracing::warn!(
                                "{}: {e}; the CNN runs on tract instead",
                                path.display()
                            )
                        })
                    }),
            };
            match found {
                Ok(runtime) => {
                    tracing::info!("CNN on {}", runtime.backend());
                    Some(runtime)
                }
                Err(()) => {
                    tracing::info!("CNN on tract (pure Rust). {ORT_HINT}");
                    None
                }
            }
        })
        .as_ref()
}

/// Checks that `path` is an ONNX Runtime library this build can use and
/// returns its version. `ort` itself gets one try per process: a failed
/// load leaves its global state unusable, so candidates are checked here.
fn probe(path: &Path) -> std::result::Result<String, String> {
    // SAFETY: loading a shared library runs its initialisers; the library is
    // the one the user named, or the system's libonnxruntime, which is what
    // `ort`'s `load-dynamic` would load anyway.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        use std::error::Error as _;
        match e.source() {
            Some(why) => format!("cannot load: {why}"),
            None => format!("cannot load: {e}"),
        }
    })?;
    // SAFETY: the symbol has this signature in every ONNX Runtime release.
    let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase") }
            .map_err(|_| "not an ONNX Runtime library (no `OrtGetApiBase`)".to_string())?;
    // SAFETY: `OrtGetApiBase` takes nothing and returns a static table.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("`OrtGetApiBase` returned nothing".into());
    }
    // SAFETY: `base` is the library's static, non-null table; the version
    // string it returns is static and NUL-terminated.
    let (version, api) = unsafe {
        let version = std::ffi::CStr::from_ptr(((*base).GetVersionString)())
            .to_string_lossy()
            .into_owned();
        (version, ((*base).GetApi)(ort::MINOR_VERSION))
    };
    if api.is_null() {
        return Err(format!(
            "ONNX Runtime {version} is too old: lookalike needs 1.{} or newer",
            ort::MINOR_VERSION
        ));
    }
    // Keep it loaded: `ort` opens the same library next, and unloading a
    // runtime with threads is asking for trouble.
    std::mem::forget(lib);
    Ok(version)
}

/// What `ort` will open for `path`: it prefers a relative name next to the
/// executable.
fn resolve(path: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(path)))
        .filter(|p| path.is_relative() && p.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Hands `ort` the library at `path`, which [`probe`] found to be ONNX
/// Runtime `version`.
fn load(path: PathBuf, version: String) -> std::result::Result<Runtime, String> {
    let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
    builder.commit();
    Ok(Runtime {
        library: path,
        version,
    })
}

/// ONNX Runtime sessions for one model, as a pool: each is single-threaded
/// (one image stream per core beats one multi-threaded run at a time, which
/// leaves cores idle while images are decoded: 467 against 421 img/s for the
/// int8 network at batch 8, `scripts/ort_layouts.py`), and a caller takes
/// whichever is free, so an upload never queues behind another caller's
/// batch while a session idles. One more session uses every core for a
/// single image when nothing else runs: a lone upload's CNN takes 5.3
/// instead of 7.7 ms (fp32; 3.7 instead of 4.7 int8).
pub struct OrtModel {
    idle: Mutex<Vec<Session>>,
    freed: Condvar,
    /// The all-cores session for a lone single image (`None` on one core).
    wide: Option<Mutex<Session>>,
    /// Runs in flight, on any session.
    running: AtomicUsize,
    input: String,
    /// The pooled output, then the taps.
    outputs: Vec<String>,
}

/// A session taken from the pool; it goes back when dropped.
struct Lease<'a> {
    model: &'a OrtModel,
    session: Option<Session>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut idle)) = (self.session.take(), self.model.idle.lock()) {
            idle.push(s);
            self.model.freed.notify_one();
        }
    }
}

/// The model with exactly `output` and the intermediate values `extra` as
/// its graph outputs: ONNX Runtime returns nothing else, and computes outputs
/// nobody reads (Lite0's `logits`).
fn with_outputs(bytes: &[u8], output: &str, extra: &[String]) -> Result<Vec<u8>> {
    use prost::Message;
    use tract_onnx::pb::{type_proto, TypeProto, ValueInfoProto};
    use tract_onnx::prelude::Framework;
    let mut proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| Error::Model(format!("cannot read ONNX: {e:#}")))?;
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| Error::Model("ONNX model has no graph".into()))?;
    graph
        .output
        .retain(|o| o.name == output || extra.contains(&o.name));
    if !graph.output.iter().any(|o| o.name == output) {
        return Err(Error::Model(format!("no output named `{output}`")));
    }
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
    /// Sessions for `spec` when ONNX Runtime is available ([`runtime`]),
    /// one per worker thread.
    pub fn load(spec: &ModelSpec, bytes: &[u8]) -> Result<Option<OrtModel>> {
        if runtime().is_none() {
            return Ok(None);
        }
        let bytes = with_outputs(bytes, &spec.output, &spec.taps)?;
        let threads = rayon::current_num_threads().max(1);
        let session = |intra: usize| {
            Session::builder()
                .map_err(model_err)?
                // Below the full level the network runs at a quarter of the speed.
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(model_err)?
                .with_intra_threads(intra)
                .map_err(model_err)?
                .with_inter_threads(1)
                .map_err(model_err)?
                // Idle intra-op threads must not spin on cores that the
                // single-threaded sessions need.
                .with_intra_op_spinning(false)
                .map_err(model_err)?
                .commit_from_memory(&bytes)
                .map_err(|e| Error::Model(format!("{}: onnxruntime: {e}", spec.name)))
        };
        let sessions = (0..threads)
            .map(|_| session(1))
            .collect::<Result<Vec<_>>>()?;
        let wide = match threads {
            1 => None,
            n => Some(Mutex::new(session(n)?)),
        };
        tracing::debug!("{}: {threads} ONNX Runtime sessions", spec.name);
        Ok(Some(OrtModel {
            idle: Mutex::new(sessions),
            freed: Condvar::new(),
            wide,
            running: AtomicUsize::new(0),
            input: spec.input.clone(),
            outputs: std::iter::once(&spec.output)
                .chain(&spec.taps)
                .cloned()
                .collect(),
        }))
    }

    /// Waits for a free session.
    fn lease(&self) -> Result<Lease<'_>> {
        let poisoned = || Error::Model("onnxruntime session pool poisoned".into());
        let mut idle = self.idle.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(session) = idle.pop() {
                return Ok(Lease {
                    model: self,
                    session: Some(session),
                });
            }
            idle = self.freed.wait(idle).map_err(|_| poisoned())?;
        }
    }

    /// Runs a batch: `data` holds `shape` (`[N, 3, H, W]` or `[N, H, W, 3]`).
    /// Returns the pooled output, then each tap.
    pub fn run(&self, shape: [usize; 4], data: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let tensor = Tensor::from_array((dims, data)).map_err(model_err)?;
        let before = self.running.fetch_add(1, Ordering::SeqCst);
        let result = (|| {
            if shape[0] == 1 && before == 0 {
                if let Some(mut wide) = self.wide.as_ref().and_then(|w| w.try_lock().ok()) {
                    return self.run_on(&mut wide, tensor);
                }
            }
            let mut lease = self.lease()?;
            let session = lease
                .session
                .as_mut()
                .ok_or_else(|| Error::Model("onnxruntime: empty lease".into()))?;
            self.run_on(session, tensor)
        })();
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn run_on(&self, session: &mut Session, tensor: Tensor<f32>) -> Result<Vec<Vec<f32>>> {
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
