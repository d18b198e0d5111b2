//! Decoding untrusted image bytes.
//!
//! The format is sniffed from the content (never from the file name), the
//! header's dimensions are checked against a pixel budget before any pixel
//! buffer is allocated, EXIF orientation is applied, and every colour type
//! (grey, CMYK JPEG, 16-bit, palette, alpha) ends as RGB8 with transparency
//! composited on white, the catalogue's background.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

/// Why an image was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Zero bytes.
    #[error("empty file")]
    Empty,
    /// The content is not a supported image format.
    #[error("not a supported image (JPEG, PNG, WebP, GIF, BMP or TIFF expected)")]
    NotAnImage,
    /// The header claims more pixels than the limit allows.
    #[error("image is {width}x{height}, over the limit of {limit} pixels")]
    TooLarge {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// The pixel limit.
        limit: u64,
    },
    /// The file is over the byte limit.
    #[error("file is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        /// File size.
        size: u64,
        /// The byte limit.
        limit: u64,
    },
    /// The decoder failed (truncated or corrupt data).
    #[error("cannot decode {format}: {reason}")]
    Corrupt {
        /// The sniffed format.
        format: String,
        /// The decoder's message.
        reason: String,
    },
    /// Reading the file failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Resource limits for decoding one image.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted width x height (decompression-bomb guard).
    pub max_pixels: u64,
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    /// 64 megapixels (an 8000x8000 photo) and 64 MiB.
    fn default() -> Self {
        DecodeLimits {
            max_pixels: 64_000_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Reads and decodes the image file at `path`.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<image::RgbImage, ImageError> {
    let size = std::fs::metadata(path)?.len();
    if size > limits.max_bytes {
        return Err(ImageError::FileTooLarge {
            size,
            limit: limits.max_bytes,
        });
    }
    let bytes = std::fs::read(path)?;
    decode(&bytes, limits)
}

/// Decodes image bytes into upright RGB8 on white. See the module docs.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<image::RgbImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ImageError::FileTooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(ImageError::Io)?;
    let Some(format) = reader.format() else {
        return Err(ImageError::NotAnImage);
    };
    let format_name = format!("{format:?}").to_uppercase();
    // The JPEG decoder fills a cut-off file with grey instead of failing; a
    // file without its end-of-image marker is refused, not half indexed.
    if format == image::ImageFormat::Jpeg && !has_jpeg_end(bytes) {
        return Err(ImageError::Corrupt {
            format: format_name,
            reason: "truncated: no end-of-image marker".into(),
        });
    }
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Unsupported(_) if !is_enabled(format) => ImageError::NotAnImage,
        e => ImageError::Corrupt {
            format: format_name.clone(),
            reason: e.to_string(),
        },
    };

    let mut reader = reader;
    let mut decoder_limits = image::Limits::default();
    // Output buffer (up to 16-bit RGBA) plus decoder scratch.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            // Name the claimed size: read the header alone, without limits.
            let (width, height) = ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .unwrap_or((0, 0));
            ImageError::TooLarge {
                width,
                height,
                limit: limits.max_pixels,
            }
        }
        e => corrupt(e),
    })?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt {
            format: format_name,
            reason: format!("zero-sized image ({width}x{height})"),
        });
    }
    // A broken EXIF block is not worth refusing the picture for.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    img.apply_orientation(orientation);
    Ok(flatten_on_white(img))
}

/// True when an EOI marker (FF D9) is near the end (padding may follow it).
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn is_enabled(format: image::ImageFormat) -> bool {
    use image::ImageFormat::*;
    matches!(format, Jpeg | Png | WebP | Gif | Bmp | Tiff)
}

/// Converts any colour type to RGB8, compositing transparency on white.
fn flatten_on_white(img: DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = image::RgbImage::new(w, h);
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            // Rounded a*c + (1-a)*255 in integer arithmetic.
            let v = (a * u32::from(src[c]) + (255 - a) * 255 + 127) / 255;
            dst[c] = v as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, ImageFormat, Luma, Rgb, Rgba};

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).expect("encode");
        buf.into_inner()
    }

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn red_square() -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_pixel(8, 6, Rgb([200, 10, 10])))
    }

    #[test]
    fn every_format_decodes() {
        for format in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::WebP,
            ImageFormat::Gif,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ] {
            let img = if format == ImageFormat::Gif {
                DynamicImage::ImageRgba8(red_square().to_rgba8())
            } else {
                red_square()
            };
            let bytes = encode(&img, format);
            let out = decode(&bytes, &limits()).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(out.dimensions(), (8, 6), "{format:?}");
            let p = out.get_pixel(4, 3);
            assert!(p[0] > 150 && p[1] < 60 && p[2] < 60, "{format:?}: {p:?}");
        }
    }

    #[test]
    fn grayscale_and_16_bit() {
        let grey = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(4, 4, Luma([77u8])));
        let out = decode(&encode(&grey, ImageFormat::Png), &limits()).expect("grey");
        assert_eq!(out.get_pixel(0, 0).0, [77, 77, 77]);

        let deep: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_pixel(4, 4, Rgb([65535, 0, 32768]));
        let out = decode(
            &encode(&DynamicImage::ImageRgb16(deep), ImageFormat::Png),
            &limits(),
        )
        .expect("16-bit");
        assert_eq!(out.get_pixel(1, 1).0, [255, 0, 128]);
    }

    #[test]
    fn transparency_is_composited_on_white() {
        let mut img: ImageBuffer<Rgba<u8>, Vec<u8>> =
            ImageBuffer::from_pixel(2, 1, Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, Rgba([0, 0, 0, 128]));
        let out = decode(
            &encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png),
            &limits(),
        )
        .expect("rgba");
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(1, 0).0, [127, 127, 127]);
    }

    #[test]
    fn cmyk_jpeg_decodes_to_rgb() {
        // A 1x1 CMYK JPEG (Adobe APP14, 4 components) of pure cyan-ish ink.
        let bytes = include_bytes!("testdata/cmyk.jpg");
        let out = decode(bytes, &limits()).expect("cmyk");
        assert_eq!(out.dimensions(), (8, 8));
        let p = out.get_pixel(4, 4);
        assert!(p[0] < p[2], "cyan ink should leave blue above red: {p:?}");
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 8x4 landscape JPEG tagged "rotate 90 CW" (orientation 6) → 4x8 portrait.
        let bytes = include_bytes!("testdata/orientation6.jpg");
        let out = decode(bytes, &limits()).expect("exif");
        assert_eq!(out.dimensions(), (4, 8));
    }

    #[test]
    fn hostile_inputs_are_refused_cleanly() {
        assert!(matches!(decode(b"", &limits()), Err(ImageError::Empty)));
        assert!(matches!(
            decode(b"hello, I am text", &limits()),
            Err(ImageError::NotAnImage)
        ));
        let jpeg = encode(&red_square(), ImageFormat::Jpeg);
        let truncated = &jpeg[..jpeg.len() / 3];
        assert!(matches!(
            decode(truncated, &limits()),
            Err(ImageError::Corrupt { .. })
        ));
        let header_only = &jpeg[..20];
        assert!(decode(header_only, &limits()).is_err());
    }

    #[test]
    fn bomb_header_is_refused_before_allocating() {
        // A PNG header claiming 50,000 x 50,000 with no pixel data behind it.
        let bytes = super::super::test_support::bomb_png(50_000, 50_000);
        match decode(&bytes, &limits()) {
            Err(ImageError::TooLarge { width, height, .. }) => {
                assert_eq!((width, height), (50_000, 50_000));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let small = DecodeLimits {
            max_pixels: 10,
            ..limits()
        };
        assert!(matches!(
            decode(&encode(&red_square(), ImageFormat::Png), &small),
            Err(ImageError::TooLarge { .. })
        ));
    }
}
