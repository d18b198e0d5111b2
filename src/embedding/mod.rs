//! Embeddings: image -> CNN feature vector + colour descriptor.
//!
//! An [`Embedding`] has two unit-length parts: `cnn` (shape and category,
//! from the model in `spec`) and `colour` (from `colour`). They are kept
//! apart so that search can weigh them at query time and explain each score.
//! Two more parts, `taps` (pooled intermediate feature maps) and
//! `head_colour` (a finer banded colour descriptor), are stored for a
//! trained head to read; search without a head does not use them. The
//! order of the parts in a stored row is [`crate::layout::RowLayout`]'s.

mod backend;
mod cnn;
mod colour;
mod head;
#[cfg(feature = "ort")]
mod ort_backend;
mod spec;

use serde::{Deserialize, Serialize};

pub use backend::{current as current_backend, Backend, ENV_VAR as ONNXRUNTIME_ENV_VAR};
pub use cnn::{CnnFeatures, CnnModel};
pub use colour::{colour_descriptor, ColourSpec, ProductPixels};
pub use head::{builtin_kaggle, Guess, Head, HeadDims, HeadInfo, HeadWeights, Part, TaskSpec};
pub use spec::{parse_input_size, ModelSpec, TensorLayout};

use crate::error::Result;
use crate::imaging::{fit, ProductMask, Region, RgbImage};
use crate::layout::RowLayout;
use crate::vector::l2_normalise;

/// The vector representation of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// L2-normalised CNN features.
    pub cnn: Vec<f32>,
    /// L2-normalised colour descriptor.
    pub colour: Vec<f32>,
    /// The model's taps, each average-pooled and L2-normalised, scaled so
    /// that they have unit length together (empty for a model without).
    pub taps: Vec<f32>,
    /// The head's colour descriptor ([`ColourSpec::for_head`], unit
    /// length; empty when the embedder makes none).
    pub head_colour: Vec<f32>,
}

impl Embedding {
    /// The lengths of its parts.
    pub fn layout(&self) -> RowLayout {
        RowLayout {
            cnn: self.cnn.len(),
            colour: self.colour.len(),
            taps: self.taps.len(),
            head_colour: self.head_colour.len(),
        }
    }

    /// The stored row: the parts in [`RowLayout`] order.
    pub fn to_row(&self) -> Vec<f32> {
        let mut row = Vec::with_capacity(self.layout().dim());
        for part in [&self.cnn, &self.colour, &self.taps, &self.head_colour] {
            row.extend_from_slice(part);
        }
        row
    }
}

/// Identifies exactly how vectors were made. Two indexes (or an index and a
/// query) are comparable only when their fingerprints are equal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedderFingerprint {
    /// Model name.
    pub model: String,
    /// BLAKE3 of the ONNX bytes (first 16 hex digits).
    pub model_hash: String,
    /// Input `[height, width]`.
    pub input_size: [u32; 2],
    /// How images are fitted.
    pub fit: crate::imaging::Fit,
    /// Input layout.
    pub layout: TensorLayout,
    /// Normalisation mean.
    pub mean: [f32; 3],
    /// Normalisation divisor.
    pub std: [f32; 3],
    /// Output used.
    pub output: String,
    /// CNN feature length.
    pub cnn_dim: usize,
    /// Colour histogram shape.
    pub colour: ColourSpec,
    /// Intermediate maps pooled into the `taps` part (none in indexes made
    /// before taps existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taps: Vec<String>,
    /// The colour descriptor stored at the end of the taps part for a
    /// head's colour branch (none in indexes made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_colour: Option<ColourSpec>,
    /// Version of the colour/preprocessing code; bumped when they change.
    pub pipeline_version: u32,
}

impl EmbedderFingerprint {
    /// Length of the head colour descriptor (the last part of a row).
    pub fn head_colour_dim(&self) -> usize {
        self.head_colour.map_or(0, |c| c.dim())
    }
}

impl std::fmt::Display for EmbedderFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) at {}x{} {}, colour {}, {} taps{}, pipeline v{}",
            self.model,
            self.model_hash,
            self.input_size[0],
            self.input_size[1],
            self.fit,
            self.colour,
            self.taps.len(),
            match &self.head_colour {
                Some(c) => format!(" + {} colour bands", c.bands),
                None => String::new(),
            },
            self.pipeline_version
        )
    }
}

/// Version of the preprocessing + colour code, part of the fingerprint.
pub const PIPELINE_VERSION: u32 = 1;

/// An image fitted to the model input, with its colour descriptor; the
/// CPU-cheap half of embedding, done before batching for the model.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The image at model input size.
    pub fitted: RgbImage,
    /// Its colour descriptor.
    pub colour: Vec<f32>,
    /// Its colour descriptor for the head (empty without one).
    pub head_colour: Vec<f32>,
}

/// Turns images into [`Embedding`]s.
#[derive(Debug)]
pub struct Embedder {
    cnn: CnnModel,
    fingerprint: EmbedderFingerprint,
}

impl Embedder {
    /// Loads the model described by `spec`, making rows for new indexes:
    /// with the head's colour descriptor ([`ColourSpec::for_head`]).
    pub fn new(spec: &ModelSpec, colour: ColourSpec) -> Result<Embedder> {
        Embedder::with_head_colour(spec, colour, Some(ColourSpec::for_head()))
    }

    /// Loads the model described by `spec`, making rows with the given head
    /// colour descriptor (what an index records, so that queries are made
    /// like its rows).
    pub fn with_head_colour(
        spec: &ModelSpec,
        colour: ColourSpec,
        head_colour: Option<ColourSpec>,
    ) -> Result<Embedder> {
        spec.validate().map_err(crate::Error::InvalidArgument)?;
        for c in std::iter::once(&colour).chain(&head_colour) {
            c.validate().map_err(crate::Error::InvalidArgument)?;
        }
        let bytes = spec.model_bytes()?;
        let hash = blake3::hash(&bytes).to_hex();
        drop(bytes);
        let cnn = CnnModel::load(spec)?;
        let fingerprint = EmbedderFingerprint {
            model: spec.name.clone(),
            model_hash: hash[..16].to_string(),
            input_size: [spec.height, spec.width],
            fit: spec.fit,
            layout: spec.layout,
            mean: spec.mean,
            std: spec.std,
            output: spec.output.clone(),
            cnn_dim: cnn.dim(),
            colour,
            taps: spec.taps.clone(),
            head_colour,
            pipeline_version: PIPELINE_VERSION,
        };
        Ok(Embedder { cnn, fingerprint })
    }

    /// How this embedder's vectors are made.
    pub fn fingerprint(&self) -> &EmbedderFingerprint {
        &self.fingerprint
    }

    /// The model spec.
    pub fn spec(&self) -> &ModelSpec {
        self.cnn.spec()
    }

    /// The runtime that runs the CNN.
    pub fn backend(&self) -> Backend {
        self.cnn.backend()
    }

    /// The same embedder with the CNN on tract, whatever the environment
    /// offers (parity checks; a machine where ONNX Runtime misbehaves).
    pub fn on_tract(mut self) -> Embedder {
        self.cnn.use_tract();
        self
    }

    /// The layout of the rows it makes.
    pub fn row_layout(&self) -> RowLayout {
        RowLayout {
            cnn: self.cnn.dim(),
            colour: self.fingerprint.colour.dim(),
            taps: self.cnn.tap_dim(),
            head_colour: self.fingerprint.head_colour_dim(),
        }
    }

    /// Fits a decoded image to the model input and computes its colour.
    pub fn prepare(&self, img: &RgbImage) -> Prepared {
        let fitted = fit(img, &self.cnn.spec().geometry());
        let pixels = ProductPixels::new(&fitted);
        self.with_colours(fitted, &pixels)
    }

    /// `fitted` with the colour descriptors of `pixels`.
    fn with_colours(&self, fitted: RgbImage, pixels: &ProductPixels) -> Prepared {
        // Both descriptors from one visit of the pixels.
        let specs: Vec<ColourSpec> = std::iter::once(self.fingerprint.colour)
            .chain(self.fingerprint.head_colour)
            .collect();
        let mut descriptors = pixels.descriptors(&specs).into_iter();
        Prepared {
            fitted,
            colour: descriptors.next().unwrap_or_default(),
            head_colour: descriptors.next().unwrap_or_default(),
        }
    }

    /// Makes each tap of the taps part unit length, then scales them to unit length together: each
    /// tap weighs the same whatever its width.
    fn normalise_taps(&self, taps: &mut [f32]) {
        let channels = self.cnn.tap_channels();
        let tap_scale = 1.0 / (channels.len().max(1) as f32).sqrt();
        let mut start = 0;
        for &c in channels {
            let Some(part) = taps.get_mut(start..start + c) else {
                break;
            };
            l2_normalise(part);
            part.iter_mut().for_each(|v| *v *= tap_scale);
            start += c;
        }
    }

    /// Runs the CNN on a batch of prepared images.
    pub fn embed_prepared(&self, batch: &[Prepared]) -> Result<Vec<Embedding>> {
        let images: Vec<&RgbImage> = batch.iter().map(|p| &p.fitted).collect();
        let feats = self.cnn.features(&images)?;
        Ok(feats
            .into_iter()
            .zip(batch)
            .map(|(f, p)| {
                let mut cnn = f.pooled;
                l2_normalise(&mut cnn);
                let mut taps = f.taps;
                self.normalise_taps(&mut taps);
                Embedding {
                    cnn,
                    colour: p.colour.clone(),
                    taps,
                    head_colour: p.head_colour.clone(),
                }
            })
            .collect())
    }

    /// Two views of one product, e.g. a photo's located region `a` and its
    /// whole frame `b`, as one embedding: the CNN features and taps averaged
    /// with weights `1 - w` and `w` (each part made unit length again, as
    /// [`Embedder::embed_prepared`] makes it), the colour parts `a`'s.
    /// Embeddings of another embedder (other lengths) give `a` back.
    pub fn blend_views(&self, a: &Embedding, b: &Embedding, w: f32) -> Embedding {
        let mix = |x: &[f32], y: &[f32]| -> Vec<f32> {
            x.iter()
                .zip(y)
                .map(|(p, q)| (1.0 - w) * p + w * q)
                .collect()
        };
        if a.cnn.len() != b.cnn.len() || a.taps.len() != b.taps.len() {
            return a.clone();
        }
        let mut cnn = mix(&a.cnn, &b.cnn);
        l2_normalise(&mut cnn);
        let mut taps = mix(&a.taps, &b.taps);
        self.normalise_taps(&mut taps);
        Embedding {
            cnn,
            colour: a.colour.clone(),
            taps,
            head_colour: a.head_colour.clone(),
        }
    }

    /// Embeds one decoded image.
    pub fn embed_image(&self, img: &RgbImage) -> Result<Embedding> {
        self.embed_one(&self.prepare(img))
    }

    fn embed_one(&self, prepared: &Prepared) -> Result<Embedding> {
        let mut out = self.embed_prepared(std::slice::from_ref(prepared))?;
        out.pop()
            .ok_or_else(|| crate::Error::Model("model returned no output".into()))
    }

    /// Fits a photo's product region `crop` to the model input, with the
    /// colour of the pixels where `is_product(x, y)` holds (coordinates in
    /// `crop`), not of its background.
    pub fn prepare_photo(
        &self,
        crop: &RgbImage,
        is_product: impl Fn(u32, u32) -> bool,
    ) -> Prepared {
        let geometry = self.cnn.spec().geometry();
        // The crop goes to the model as it is: whitening its background
        // (a cut-out like a packshot's) or shrinking it to the thumbnails'
        // size first both lost shopper-photo P@10 (docs/shopper-photos.md).
        let fitted = fit(crop, &geometry);
        // The colour needs no more pixels than the model input has.
        let (cw, ch) = crop.dimensions();
        let small = crate::imaging::shrink_to(crop, geometry.width, geometry.height);
        let (sw, sh) = small.as_ref().map_or((cw, ch), |s| s.dimensions());
        let pixels = ProductPixels::with_mask(small.as_ref().unwrap_or(crop), |x, y| {
            is_product(rescale(x, sw, cw), rescale(y, sh, ch))
        });
        self.with_colours(fitted, &pixels)
    }

    /// Embeds a packshot as the catalogue's images are, first shrunk to the
    /// catalogue's typical image size `catalog_size` (`[width, height]`, see
    /// [`crate::imaging::shrink_to`]) when it is larger: a 1800x2400 photo
    /// of a product then goes through the same blur as its thumbnail.
    pub fn embed_packshot(
        &self,
        img: &RgbImage,
        catalog_size: Option<[u32; 2]>,
    ) -> Result<Embedding> {
        let small = catalog_size.and_then(|[w, h]| crate::imaging::shrink_to(img, w, h));
        self.embed_image(small.as_ref().unwrap_or(img))
    }

    /// Embeds `region` of the photo `img`, with the colour of the pixels
    /// `mask` holds (a photo's product on its own background, see
    /// [`crate::imaging::locate_product`]).
    pub fn embed_photo(
        &self,
        img: &RgbImage,
        region: &Region,
        mask: &ProductMask,
    ) -> Result<Embedding> {
        let crop = region.crop(img);
        let (cw, ch) = crop.dimensions();
        let prepared = self.prepare_photo(&crop, |x, y| {
            mask.contains(
                region.x + rescale(x, cw, region.width),
                region.y + rescale(y, ch, region.height),
            )
        });
        self.embed_one(&prepared)
    }
}

/// A coordinate `v` along a side of `from` pixels, on a side of `to`.
fn rescale(v: u32, from: u32, to: u32) -> u32 {
    (u64::from(v) * u64::from(to) / u64::from(from.max(1))) as u32
}
