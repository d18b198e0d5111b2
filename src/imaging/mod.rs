//! Images in: decoding untrusted bytes and fitting them to a model's input.
//!
//! [`decode`] turns any supported file into an upright 8-bit RGB image on white;
//! [`fit`] resizes it to the model's input geometry without losing the
//! product (letterbox by default) using a SIMD resizer.

mod decode;
mod fit;
#[doc(hidden)]
pub mod test_support;

pub use decode::{decode, decode_file, DecodeLimits, ImageError};
pub use fit::{fit, shrink_to, to_tensor, Fit, InputGeometry};

/// An upright 8-bit RGB image, the common currency of the pipeline.
pub type RgbImage = image::RgbImage;
