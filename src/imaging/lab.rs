//! sRGB to CIELAB (D65), the colour space where distance follows perceived
//! difference; shared by the colour descriptors and the product locator.

/// sRGB (0..255) to linear light, tabulated once: the transfer function's
/// `powf` per channel was most of the descriptor's cost.
fn srgb_to_linear(c: u8) -> f32 {
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

/// Converts sRGB (0..255) to CIELAB (D65).
pub fn srgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let lin = srgb_to_linear;
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| {
        if t > 0.008_856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// True for pixels that look like the packshots' white backdrop.
pub fn is_backdrop(lab: &[f32; 3]) -> bool {
    lab[0] > 92.0 && lab[1].abs() < 6.0 && lab[2].abs() < 6.0
}
