//! Images in: decoding untrusted bytes and fitting them to a model's input.
//!
//! [`decode`] turns any supported file into an upright 8-bit RGB image on white;
//! [`fit`] resizes it to the model's input geometry without losing the
//! product (letterbox by default) using a SIMD resizer.

mod decode;
mod fit;
mod lab;
mod locate;
#[doc(hidden)]
pub mod test_support;

pub use decode::{decode, decode_file, DecodeLimits, ImageError};
pub use fit::{fit, shrink_to, to_tensor, Fit, InputGeometry};
pub use lab::{image_to_lab, is_backdrop, srgb_to_lab, srgb_to_linear};
pub use locate::{locate_product, ProductLocation, ProductMask, Region, Scene};

/// An upright 8-bit RGB image, the common currency of the pipeline.
pub type RgbImage = image::RgbImage;
