//! An uploaded image as a query: which part of it is searched with.
//!
//! A packshot on white is searched whole, as the catalogue's own images are
//! embedded. In a photo the product is located first
//! ([`crate::imaging::locate_product`]) and only its region is embedded,
//! with the colour of its own pixels, not of the bed it lies on. One kind of
//! photo is searched whole all the same: a studio shot of a catalogue
//! product on a grey or coloured backdrop, whose thumbnail in the catalogue
//! shows that backdrop too. Both embeddings are made (in parallel), and the
//! whole frame wins when its nearest product by looks is a near-duplicate
//! ([`NEAR_DUPLICATE`]): a shopper's photo rarely comes that close to a
//! packshot (about 1 in 100 of the development photos). Otherwise the query is the located product's embedding with
//! the whole frame's CNN features blended in ([`WHOLE_FRAME_SHARE`]): the
//! frame keeps what a box cut off, and the colour stays the product's.

use serde::Serialize;

use super::SearchTarget;
use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use crate::imaging::{decode, locate_product, DecodeLimits, ProductMask, Region, RgbImage, Scene};

/// Looks similarity (cosine at the vote's colour weight) from which a
/// photo's whole frame counts as a catalogue image (see the module docs;
/// chosen from the full-size catalogue photos against the shopper photos,
/// docs/shopper-photos.md).
pub const NEAR_DUPLICATE: f32 = 0.78;

/// Share of a photo's whole frame in its query, beside the located
/// product's region: the frame keeps what a box cut off (docs/shopper-photos.md).
pub const WHOLE_FRAME_SHARE: f32 = 0.3;

/// A query image embedded, with the part of it that was searched with.
#[derive(Debug, Clone)]
pub struct QueryImage {
    /// The embedding searched with.
    pub embedding: Embedding,
    /// Packshot or photo.
    pub scene: Scene,
    /// The region embedded, in the image's pixels (after its EXIF
    /// orientation; the whole image for a packshot).
    pub region: Region,
    /// The decoded image's `[width, height]`.
    pub image_size: [u32; 2],
}

/// The part of a query the answer reports (see [`QueryImage`]).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QueryRegion {
    /// Packshot or photo.
    pub scene: Scene,
    /// The region embedded, in the image's pixels.
    pub region: Region,
    /// The decoded image's size.
    pub image: ImageSize,
}

/// Width and height in pixels.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ImageSize {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl From<&QueryImage> for QueryRegion {
    fn from(q: &QueryImage) -> QueryRegion {
        QueryRegion {
            scene: q.scene,
            region: q.region,
            image: ImageSize {
                width: q.image_size[0],
                height: q.image_size[1],
            },
        }
    }
}

/// Decodes an upload and embeds it for searching `index` (see the module
/// docs); `crop`, in the image's pixels, replaces the located region.
pub fn embed_upload(
    target: &dyn SearchTarget,
    embedder: &Embedder,
    bytes: &[u8],
    limits: &DecodeLimits,
    crop: Option<Region>,
) -> Result<QueryImage> {
    let img = decode(bytes, limits)?;
    embed_query_image(target, embedder, &img, crop)
}

/// Embeds a decoded query image for searching `index` (see [`embed_upload`]).
pub fn embed_query_image(
    target: &dyn SearchTarget,
    embedder: &Embedder,
    img: &RgbImage,
    crop: Option<Region>,
) -> Result<QueryImage> {
    let (w, h) = img.dimensions();
    let size = target.model().manifest().catalog_image_size;
    let done = |embedding, scene, region| QueryImage {
        embedding,
        scene,
        region,
        image_size: [w, h],
    };
    if let Some(region) = crop {
        region.check_within(w, h).map_err(Error::InvalidArgument)?;
        let part = region.crop(img);
        let found = locate_product(&part);
        let whole = Region::whole(part.width(), part.height());
        let e = match found.scene {
            Scene::Packshot => embedder.embed_packshot(&part, size)?,
            Scene::Photo => embedder.embed_photo(&part, &whole, &found.mask)?,
        };
        return Ok(done(e, found.scene, region));
    }
    let found = locate_product(img);
    if found.scene == Scene::Packshot {
        let e = embedder.embed_packshot(img, size)?;
        return Ok(done(e, Scene::Packshot, Region::whole(w, h)));
    }
    embed_photo_query(target, embedder, img, &found.region, &found.mask)
}

/// The query of the photo `img` whose product lies in `region`, with the
/// pixels `mask` holds (see the module docs): the whole frame when it is a
/// near-duplicate of a catalogue product, else the region with a share of
/// the frame. Training embeds its photo variants (other boxes) this way too.
pub fn embed_photo_query(
    target: &dyn SearchTarget,
    embedder: &Embedder,
    img: &RgbImage,
    region: &Region,
    mask: &ProductMask,
) -> Result<QueryImage> {
    let (w, h) = img.dimensions();
    let size = target.model().manifest().catalog_image_size;
    let (whole, located) = rayon::join(
        || embedder.embed_packshot(img, size),
        || embedder.embed_photo(img, region, mask),
    );
    let whole = whole?;
    let (embedding, scene, region) = if target
        .nearest_similarity(&whole)?
        .is_some_and(|s| s >= NEAR_DUPLICATE)
    {
        (whole, Scene::Packshot, Region::whole(w, h))
    } else {
        let e = embedder.blend_views(&located?, &whole, WHOLE_FRAME_SHARE);
        (e, Scene::Photo, *region)
    };
    Ok(QueryImage {
        embedding,
        scene,
        region,
        image_size: [w, h],
    })
}
