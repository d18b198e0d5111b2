//! Fitting a decoded image to a model's input geometry.
//!
//! The catalogue photos are portrait packshots (60x80); a square centre crop
//! would cut off shoe tips and hems, so the default is [`Fit::Letterbox`]:
//! scale to fit inside the input and pad with white, the packshots' own
//! background. Resizing uses `fast_image_resize` (SIMD convolution).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

use super::RgbImage;

/// How an image is fitted into the input rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Scale to fit inside, pad with white (keeps the whole product).
    Letterbox,
    /// Scale to cover, cut the overflow evenly from both sides.
    CentreCrop,
    /// Scale each axis independently (distorts the aspect ratio).
    Stretch,
}

impl std::str::FromStr for Fit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "letterbox" => Ok(Fit::Letterbox),
            "centre-crop" | "center-crop" | "crop" => Ok(Fit::CentreCrop),
            "stretch" => Ok(Fit::Stretch),
            _ => Err(format!(
                "unknown fit `{s}` (letterbox, centre-crop, stretch)"
            )),
        }
    }
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fit::Letterbox => "letterbox",
            Fit::CentreCrop => "centre-crop",
            Fit::Stretch => "stretch",
        })
    }
}

/// The model's input rectangle and how images are fitted into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputGeometry {
    /// Input height in pixels.
    pub height: u32,
    /// Input width in pixels.
    pub width: u32,
    /// How images are fitted.
    pub fit: Fit,
}

/// Resizes `img` to exactly `geom.width` x `geom.height` according to `geom.fit`.
pub fn fit(img: &RgbImage, geom: &InputGeometry) -> RgbImage {
    let (w, h) = img.dimensions();
    let (tw, th) = (geom.width.max(1), geom.height.max(1));
    match geom.fit {
        Fit::Stretch => resize(img, tw, th, None),
        Fit::CentreCrop => {
            // Largest centred source rectangle with the target's aspect ratio.
            let (sw, sh) = (w as f64, h as f64);
            let target = tw as f64 / th as f64;
            let (cw, ch) = if sw / sh > target {
                (sh * target, sh)
            } else {
                (sw, sw / target)
            };
            let crop = ((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch);
            resize(img, tw, th, Some(crop))
        }
        Fit::Letterbox => {
            let scale = (tw as f64 / w as f64).min(th as f64 / h as f64);
            let nw = ((w as f64 * scale).round() as u32).clamp(1, tw);
            let nh = ((h as f64 * scale).round() as u32).clamp(1, th);
            let inner = resize(img, nw, nh, None);
            let mut canvas = RgbImage::from_pixel(tw, th, image::Rgb([255, 255, 255]));
            let (x0, y0) = ((tw - nw) / 2, (th - nh) / 2);
            let row = nw as usize * 3;
            let (src, dst) = (inner.as_raw(), &mut *canvas);
            for y in 0..nh as usize {
                let d = ((y0 as usize + y) * tw as usize + x0 as usize) * 3;
                dst[d..d + row].copy_from_slice(&src[y * row..(y + 1) * row]);
            }
            canvas
        }
    }
}

/// Shrinks `img` (keeping its aspect ratio) to fit in `width` x `height` if
/// it is larger; `None` when it already fits.
///
/// Queries are brought to the catalogue's own image scale this way: a
/// 1800x2400 photo and a 60x80 catalogue thumbnail of the same product then
/// go through the same blur before the model sees them, which makes their
/// features much closer than when the photo is scaled straight to the input.
pub fn shrink_to(img: &RgbImage, width: u32, height: u32) -> Option<RgbImage> {
    let (w, h) = img.dimensions();
    let scale = (width as f64 / w as f64).min(height as f64 / h as f64);
    if scale >= 1.0 {
        return None;
    }
    let nw = ((w as f64 * scale).round() as u32).max(1);
    let nh = ((h as f64 * scale).round() as u32).max(1);
    Some(resize(img, nw, nh, None))
}

fn resize(img: &RgbImage, tw: u32, th: u32, crop: Option<(f64, f64, f64, f64)>) -> RgbImage {
    let (w, h) = img.dimensions();
    if (w, h) == (tw, th) && crop.is_none() {
        return img.clone();
    }
    let mut options =
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom));
    if let Some((l, t, cw, ch)) = crop {
        options = options.crop(l, t, cw, ch);
    }
    let mut dst = Image::new(tw, th, PixelType::U8x3);
    // The source buffer is exactly w*h*3 bytes of u8 (always aligned), and the
    // pixel types match, so neither call can fail; fall back to the nearest
    // pixel rather than panic if that ever changes.
    let done = ImageRef::new(w, h, img.as_raw(), PixelType::U8x3)
        .ok()
        .and_then(|src| Resizer::new().resize(&src, &mut dst, &options).ok());
    match done {
        Some(()) => RgbImage::from_raw(tw, th, dst.into_vec()).unwrap_or_else(|| {
            image::imageops::resize(img, tw, th, image::imageops::FilterType::Triangle)
        }),
        None => image::imageops::resize(img, tw, th, image::imageops::FilterType::Triangle),
    }
}

/// Writes `img` into `out` as planar (NCHW, `channels_first`) or interleaved
/// (NHWC) floats, each value mapped to `(x - mean[c]) / std[c]`.
///
/// `out` must hold `3 * width * height` floats.
pub fn to_tensor(
    img: &RgbImage,
    mean: [f32; 3],
    std: [f32; 3],
    channels_first: bool,
    out: &mut [f32],
) {
    let n = (img.width() * img.height()) as usize;
    debug_assert_eq!(out.len(), 3 * n);
    let inv = [1.0 / std[0], 1.0 / std[1], 1.0 / std[2]];
    let raw = img.as_raw();
    if channels_first {
        let (r, rest) = out.split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        for (i, px) in raw.chunks_exact(3).enumerate() {
            r[i] = (f32::from(px[0]) - mean[0]) * inv[0];
            g[i] = (f32::from(px[1]) - mean[1]) * inv[1];
            b[i] = (f32::from(px[2]) - mean[2]) * inv[2];
        }
    } else {
        for (o, (i, &v)) in out.iter_mut().zip(raw.iter().enumerate()) {
            let c = i % 3;
            *o = (f32::from(v) - mean[c]) * inv[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(height: u32, width: u32, fit: Fit) -> InputGeometry {
        InputGeometry { height, width, fit }
    }

    /// A 60x80 portrait: white, with a black product touching top and bottom.
    fn portrait() -> RgbImage {
        let mut img = RgbImage::from_pixel(60, 80, image::Rgb([255, 255, 255]));
        for y in 0..80 {
            for x in 20..40 {
                img.put_pixel(x, y, image::Rgb([0, 0, 0]));
            }
        }
        img
    }

    #[test]
    fn letterbox_keeps_the_whole_product() {
        let out = fit(&portrait(), &geom(224, 224, Fit::Letterbox));
        assert_eq!(out.dimensions(), (224, 224));
        // The product still reaches the top and bottom rows (nothing cut)...
        assert!(out.get_pixel(112, 0)[0] < 50);
        assert!(out.get_pixel(112, 223)[0] < 50);
        // ...and the sides are white padding.
        assert_eq!(out.get_pixel(5, 112).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(218, 112).0, [255, 255, 255]);
    }

    #[test]
    fn centre_crop_cuts_the_long_side() {
        let out = fit(&portrait(), &geom(224, 224, Fit::CentreCrop));
        assert_eq!(out.dimensions(), (224, 224));
        // The 20-px-wide bar of a 60-px-wide image now spans a third of 224.
        assert!(out.get_pixel(112, 112)[0] < 50);
        assert!(out.get_pixel(40, 112)[0] > 200);
    }

    #[test]
    fn same_aspect_is_a_plain_resize() {
        let out = fit(&portrait(), &geom(128, 96, Fit::Letterbox));
        assert_eq!(out.dimensions(), (96, 128));
        assert!(out.get_pixel(48, 0)[0] < 50);
        assert!(out.get_pixel(2, 64)[0] > 200);
    }

    #[test]
    fn huge_photo_downscales() {
        let img = RgbImage::from_pixel(1800, 2400, image::Rgb([10, 20, 30]));
        let out = fit(&img, &geom(128, 96, Fit::Letterbox));
        assert_eq!(out.dimensions(), (96, 128));
        assert_eq!(out.get_pixel(48, 64).0, [10, 20, 30]);
    }

    #[test]
    fn tensor_layouts() {
        let img = RgbImage::from_raw(2, 1, vec![0, 127, 255, 255, 127, 0]).expect("raw");
        let mut planar = vec![0.0; 6];
        to_tensor(&img, [127.0; 3], [128.0; 3], true, &mut planar);
        assert_eq!(planar, [-127.0 / 128.0, 1.0, 0.0, 0.0, 1.0, -127.0 / 128.0]);
        let mut inter = vec![0.0; 6];
        to_tensor(&img, [127.0; 3], [128.0; 3], false, &mut inter);
        assert_eq!(inter, [-127.0 / 128.0, 0.0, 1.0, 1.0, 0.0, -127.0 / 128.0]);
    }
}
