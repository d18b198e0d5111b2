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

/// Every pixel of `img` in CIELAB, row by row. A pixel equal to the one
/// before it (the white rows of a packshot's backdrop and padding) reuses
/// its conversion.
pub fn image_to_lab(img: &image::RgbImage) -> Vec<[f32; 3]> {
    let mut last: Option<([u8; 3], [f32; 3])> = None;
    img.pixels()
        .map(|p| match last {
            Some((rgb, lab)) if rgb == p.0 => lab,
            _ => {
                let lab = srgb_to_lab(p.0);
                last = Some((p.0, lab));
                lab
            }
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
