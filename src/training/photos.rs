//! Shopper photos as training rows: each photo embedded as an upload is
//! (its located product, see [`crate::search::embed_query_image`]), and in a
//! few seeded variants of what a shopper might have framed instead:
//! mirrored, and with the product's box grown, shrunk and shifted a little
//! (embedded as an upload with that box would be).
//! The rows carry their kind's articleTypes ([`crate::eval::KINDS`]),
//! learned as "any of these" ([`super::Dataset::add_photos`]).

use rayon::prelude::*;

use crate::embedding::Embedder;
use crate::error::{IoResultExt, Result};
use crate::eval::{kind_types, ShopperPhoto};
use crate::imaging::{decode, locate_product, DecodeLimits, Region, RgbImage, Scene};
use crate::index::Index;
use crate::rng::SplitMix64;
use crate::search::{embed_photo_query, embed_query_image};

/// Most variants per photo: as uploaded, mirrored, and two jittered boxes.
pub const MAX_VARIANTS: usize = 4;

/// A training row made from a photo, with its kind's articleTypes.
pub type PhotoRow = (Vec<f32>, Vec<String>);

/// Embeds `variants` (1..=`MAX_VARIANTS`) rows of each photo; `on_photo`
/// is called once a photo is done (for a progress bar). A photo that cannot
/// be read is returned in the second list with why, and skipped.
pub fn photo_rows(
    index: &Index,
    embedder: &Embedder,
    photos: &[ShopperPhoto],
    variants: usize,
    on_photo: &(dyn Fn() + Sync),
) -> (Vec<PhotoRow>, Vec<(String, String)>) {
    let variants = variants.clamp(1, MAX_VARIANTS);
    let limits = DecodeLimits::default();
    let done: Vec<std::result::Result<Vec<PhotoRow>, (String, String)>> = photos
        .par_iter()
        .map(|photo| {
            let run = || -> Result<Vec<PhotoRow>> {
                let bytes = std::fs::read(&photo.path).at(&photo.path)?;
                let img = decode(&bytes, &limits)?;
                let types: Vec<String> = kind_types(&photo.kind)
                    .unwrap_or(&[])
                    .iter()
                    .map(|t| t.to_string())
                    .collect();
                let seed = u64::from_le_bytes(
                    blake3::hash(photo.id().as_bytes()).as_bytes()[..8]
                        .try_into()
                        .unwrap_or_default(),
                );
                let mut rng = SplitMix64(seed);
                let mut rows = Vec::with_capacity(variants);
                for v in 0..variants {
                    let e = variant(index, embedder, &img, v, &mut rng)?;
                    rows.push((e.to_row(), types.clone()));
                }
                Ok(rows)
            };
            let out = run().map_err(|e| (photo.path.display().to_string(), e.to_string()));
            on_photo();
            out
        })
        .collect();
    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    for d in done {
        match d {
            Ok(r) => rows.extend(r),
            Err(e) => skipped.push(e),
        }
    }
    (rows, skipped)
}

/// Variant `v` of a photo: 0 as uploaded, 1 mirrored, 2 a jittered box,
/// 3 mirrored with a jittered box.
fn variant(
    index: &Index,
    embedder: &Embedder,
    img: &RgbImage,
    v: usize,
    rng: &mut SplitMix64,
) -> Result<crate::embedding::Embedding> {
    let mirrored;
    let img = if v % 2 == 1 {
        mirrored = image::imageops::flip_horizontal(img);
        &mirrored
    } else {
        img
    };
    if v < 2 {
        return Ok(embed_query_image(index, embedder, img, None)?.embedding);
    }
    let found = locate_product(img);
    if found.scene == Scene::Packshot {
        return Ok(embed_query_image(index, embedder, img, None)?.embedding);
    }
    let region = jitter(&found.region, img.width(), img.height(), rng);
    Ok(embed_photo_query(index, embedder, img, &region, &found.mask)?.embedding)
}

/// The box scaled by 0.85..1.15 on each side and moved by up to 6 % of its
/// size, kept inside the image.
fn jitter(r: &Region, w: u32, h: u32, rng: &mut SplitMix64) -> Region {
    let mut uniform =
        |lo: f32, hi: f32| lo + (hi - lo) * ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32);
    let (cx, cy) = (
        r.x as f32 + r.width as f32 / 2.0,
        r.y as f32 + r.height as f32 / 2.0,
    );
    let nw = (r.width as f32 * uniform(0.85, 1.15)).clamp(8.0, w as f32);
    let nh = (r.height as f32 * uniform(0.85, 1.15)).clamp(8.0, h as f32);
    let cx = cx + r.width as f32 * uniform(-0.06, 0.06);
    let cy = cy + r.height as f32 * uniform(-0.06, 0.06);
    let x = (cx - nw / 2.0).clamp(0.0, w as f32 - nw);
    let y = (cy - nh / 2.0).clamp(0.0, h as f32 - nh);
    Region {
        x: x as u32,
        y: y as u32,
        width: (nw as u32).max(1).min(w - x as u32),
        height: (nh as u32).max(1).min(h - y as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_boxes_stay_inside_and_repeat_for_a_seed() {
        let r = Region {
            x: 300,
            y: 10,
            width: 100,
            height: 500,
        };
        let boxes = |seed| {
            let mut rng = SplitMix64(seed);
            (0..200)
                .map(|_| jitter(&r, 400, 534, &mut rng))
                .collect::<Vec<_>>()
        };
        for b in boxes(7) {
            assert!(b.check_within(400, 534).is_ok(), "{b}");
            assert!(b.width >= 8 && b.height >= 8, "{b}");
        }
        assert_eq!(boxes(7), boxes(7));
        assert_ne!(boxes(7), boxes(8));
    }
}
