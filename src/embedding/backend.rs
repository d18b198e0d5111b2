//! Which runtime runs the CNN: ONNX Runtime where its library can be found,
//! tract (pure Rust, always built in) otherwise.
//!
//! ONNX Runtime is loaded at run time, never downloaded: the library is found
//! the usual ways, in this order:
//! 1. [`ENV_VAR`] (`LOOKALIKE_ONNXRUNTIME`): the path of a `libonnxruntime.so`,
//!    or `tract` to turn ONNX Runtime off;
//! 2. `ORT_DYLIB_PATH` (the `ort` crate's own variable);
//! 3. `libonnxruntime.so` on the system library path (`LD_LIBRARY_PATH`,
//!    `ldconfig`'s directories).
//!
//! A named library that cannot be loaded (missing, broken, too old) is
//! reported once and tract takes over: the vectors are the same either way
//! (up to float rounding), only slower.

use std::path::PathBuf;

use serde::Serialize;

/// The environment variable that names the ONNX Runtime library (or `tract`).
pub const ENV_VAR: &str = "LOOKALIKE_ONNXRUNTIME";

/// The runtime that runs the CNN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Backend {
    /// tract: pure Rust, built in, needs nothing installed.
    Tract,
    /// ONNX Runtime, loaded from `library`.
    Onnxruntime {
        /// The shared library that was loaded.
        library: PathBuf,
        /// Its version, e.g. `1.32.0` (empty when the file name does not say).
        version: String,
    },
}

impl Backend {
    /// Images per model call that index fastest here (measured on 2 cores,
    /// `docs/speed.md`): tract one image at a time on each core, ONNX
    /// Runtime batches of 8 (278 img/s at 1 for int8; 8 and 32 equal within
    /// the noise, 316 and 317 img/s interleaved; 8 loses less work to an
    /// interrupt).
    pub fn preferred_batch_size(&self) -> usize {
        match self {
            Backend::Tract => 1,
            Backend::Onnxruntime { .. } => 8,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Tract => f.write_str("tract (pure Rust)"),
            Backend::Onnxruntime { library, version } if version.is_empty() => {
                write!(f, "onnxruntime ({})", library.display())
            }
            Backend::Onnxruntime { library, version } => {
                write!(f, "onnxruntime {version} ({})", library.display())
            }
        }
    }
}

/// How to get the fast backend, for messages.
#[cfg(feature = "ort")]
pub(crate) const ORT_HINT: &str = "ONNX Runtime runs the CNN about 3x faster: \
    `pip install onnxruntime`, then set LOOKALIKE_ONNXRUNTIME to the \
    `onnxruntime/capi/libonnxruntime.so.*` inside it (or put libonnxruntime.so \
    on the library path)";

/// Where the library comes from, in the order of the module docs.
#[cfg(feature = "ort")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// `LOOKALIKE_ONNXRUNTIME=tract` (or `off`, `none`).
    TractOnly,
    /// A path named by `variable`: failing to load it is worth a warning.
    Named {
        /// The environment variable that named it.
        variable: &'static str,
        /// The library.
        path: PathBuf,
    },
    /// The system library path: not finding it there is the common case.
    System,
}

#[cfg(feature = "ort")]
impl Request {
    /// The request the environment makes.
    pub(crate) fn from_env() -> Request {
        Request::parse(
            std::env::var_os(ENV_VAR).map(PathBuf::from),
            std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from),
        )
    }

    fn parse(ours: Option<PathBuf>, ort: Option<PathBuf>) -> Request {
        let set = |v: Option<PathBuf>| v.filter(|p| !p.as_os_str().is_empty());
        if let Some(path) = set(ours) {
            return match path.to_str() {
                Some("tract" | "off" | "none") => Request::TractOnly,
                _ => Request::Named {
                    variable: ENV_VAR,
                    path,
                },
            };
        }
        match set(ort) {
            Some(path) => Request::Named {
                variable: "ORT_DYLIB_PATH",
                path,
            },
            None => Request::System,
        }
    }
}

/// The backend this process uses, decided (and said) once.
pub fn current() -> Backend {
    #[cfg(feature = "ort")]
    {
        super::ort_backend::runtime()
            .map(super::ort_backend::Runtime::backend)
            .unwrap_or(Backend::Tract)
    }
    #[cfg(not(feature = "ort"))]
    {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            tracing::info!(
                "CNN on tract (pure Rust): this build has no ONNX Runtime backend \
                 (cargo feature `ort`)"
            )
        });
        Backend::Tract
    }
}

#[cfg(all(test, feature = "ort"))]
mod tests {
    use super::*;

    #[test]
    fn the_explicit_setting_wins_then_ort_dylib_path_then_the_system() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(Request::parse(p("tract"), p("/x.so")), Request::TractOnly);
        assert_eq!(
            Request::parse(p("/a/libonnxruntime.so"), p("/x.so")),
            Request::Named {
                variable: ENV_VAR,
                path: PathBuf::from("/a/libonnxruntime.so")
            }
        );
        assert_eq!(
            Request::parse(p(""), p("/x.so")),
            Request::Named {
                variable: "ORT_DYLIB_PATH",
                path: PathBuf::from("/x.so")
            }
        );
        assert_eq!(Request::parse(None, None), Request::System);
        assert_eq!(Request::parse(None, p("")), Request::System);
    }
}
