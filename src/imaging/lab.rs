//! sRGB to CIELAB (D65), the colour space where distance follows perceived
//! difference; shared by the colour descriptors and the product locator.

/// sRGB (0..255) to linear light, tabulated once: the transfer function's
/// `powf` per channel was most of the descriptor's cost.
pub fn srgb_to_linear(c: u8) -> f32 {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0f32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f32 / 255.0;
            *v = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        t
    })[usize::from(c)]
}

/// The cube root of `x` (positive, normal) to within 2 ulp of `f32::cbrt`,
/// without a libm call: the three per pixel were most of the CIELAB
/// conversion's cost. A bit-level first guess (3.5 % off at worst), then two
/// Halley steps, each of which cubes the relative error.
#[inline]
fn cbrt(x: f32) -> f32 {
    let mut y = f32::from_bits(x.to_bits() / 3 + 709_921_077);
    for _ in 0..2 {
        let y3 = y * y * y;
        y *= (y3 + 2.0 * x) / (2.0 * y3 + x);
    }
    y
}

/// Converts sRGB (0..255) to CIELAB (D65).
pub fn srgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let lin = srgb_to_linear;
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| {
        if t > 0.008_856 {
            cbrt(t)
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Bits of a slot number in [`image_to_lab`]'s cache of recent conversions:
/// 1,024 slots, 16 KiB, so it stays in L1.
const LAB_CACHE_BITS: u32 = 10;

/// Every pixel of `img` in CIELAB, row by row. Colours repeat within an
/// image (the backdrop and padding, a garment's flat areas): each is
/// converted once and looked up after that, in a small direct-mapped cache
/// keyed by the RGB triple, so the values are exactly those of
/// [`srgb_to_lab`] (docs/speed.md, "The per-image work around the CNN").
pub fn image_to_lab(img: &image::RgbImage) -> Vec<[f32; 3]> {
    // A key holds the RGB in its low 24 bits; an empty slot's key has a bit
    // above them set, so it never matches.
    let mut keys = [u32::MAX; 1 << LAB_CACHE_BITS];
    let mut values = [[0f32; 3]; 1 << LAB_CACHE_BITS];
    img.pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            let key = u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b);
            // Multiplicative hashing: the top bits of the product mix all
            // three channels.
            let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - LAB_CACHE_BITS)) as usize;
            if keys[slot] != key {
                keys[slot] = key;
                values[slot] = srgb_to_lab(p.0);
            }
            values[slot]
        })
        .collect()
}

/// True for pixels that look like the packshots' white backdrop.
pub fn is_backdrop(lab: &[f32; 3]) -> bool {
    lab[0] > 92.0 && lab[1].abs() < 6.0 && lab[2].abs() < 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_conversion_equals_the_direct_one() {
        // Repeated colours (cache hits), colliding slots and every channel.
        let img = image::RgbImage::from_fn(97, 61, |x, y| {
            let v = (x * 37 + y * 11) % 256;
            image::Rgb([v as u8, ((x * y) % 7 * 40) as u8, (255 - v) as u8])
        });
        let lab = image_to_lab(&img);
        for (p, got) in img.pixels().zip(&lab) {
            assert_eq!(*got, srgb_to_lab(p.0), "{:?}", p.0);
        }
    }

    #[test]
    fn the_fast_cube_root_matches_the_library_one() {
        // The range the conversion feeds it: 0.008856 ..= about 1.09.
        let mut worst = 0f32;
        for i in 0..=200_000 {
            let x = 0.008_856 + i as f32 * (1.1 / 200_000.0);
            let (fast, exact) = (cbrt(x), x.cbrt());
            worst = worst.max((fast - exact).abs() / exact);
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        let white = srgb_to_lab([255, 255, 255]);
        assert!(
            (white[0] - 100.0).abs() < 1e-3 && white[1].abs() < 1e-3,
            "{white:?}"
        );
    }
}
