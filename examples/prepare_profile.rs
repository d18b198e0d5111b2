//! Where the per-image work around the CNN goes (issue "Fast by default"):
//! decoding, fitting to the model input, the CIELAB conversion with the
//! background fill, each colour descriptor, the tensor fill, and the row.
//!
//!     cargo run --release --example prepare_profile -- ../shared/datasets/fashion-product-images-small 2000
//!
//! Prints microseconds per image for each step, single-threaded, and the
//! CIELAB conversion of the fitted pixels against the obvious alternative
//! (the same formula with the standard library's cube root, and the
//! previous code that reused only the pixel before), and both colour
//! descriptors in one pass against two.

use std::time::Instant;

use lookalike::embedding::{ColourSpec, ProductPixels};
use lookalike::imaging::{
    decode, fit, image_to_lab, srgb_to_linear, to_tensor, DecodeLimits, Fit, InputGeometry,
};

/// The conversion as it was before, with the standard library's cube root
/// (the linearisation is the library's own, shared by both).
fn reference_lab(rgb: [u8; 3]) -> [f32; 3] {
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

/// The conversion of every pixel as it was before the cache: only a pixel
/// equal to the one before it reuses its conversion.
fn previous_pixel_lab(img: &image::RgbImage) -> Vec<[f32; 3]> {
    let mut last: Option<([u8; 3], [f32; 3])> = None;
    img.pixels()
        .map(|p| match last {
            Some((rgb, lab)) if rgb == p.0 => lab,
            _ => {
                let lab = lookalike::imaging::srgb_to_lab(p.0);
                last = Some((p.0, lab));
                lab
            }
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let catalog = args
        .next()
        .unwrap_or_else(|| "../shared/datasets/fashion-product-images-small".into());
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let mut files: Vec<_> = std::fs::read_dir(std::path::Path::new(&catalog).join("images"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.truncate(n);
    let bytes: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let geometry = InputGeometry {
        height: 160,
        width: 120,
        fit: Fit::Letterbox,
    };
    let (search, head) = (ColourSpec::default(), ColourSpec::for_head());
    let mut t = [0f64; 6];
    let (mut lab_fast, mut lab_ref, mut worst) = (0f64, 0f64, 0f32);
    let (mut lab_prev, mut both_once) = (0f64, 0f64);
    let mut sink = 0f32;
    let mut tensor = vec![0f32; 3 * 160 * 120];
    for b in &bytes {
        let s = Instant::now();
        let Ok(img) = decode(b, &DecodeLimits::default()) else {
            continue;
        };
        t[0] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let fitted = fit(&img, &geometry);
        t[1] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let pixels = ProductPixels::new(&fitted);
        t[2] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let alone_search = pixels.descriptor(&search);
        t[3] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let alone_head = pixels.descriptor(&head);
        t[4] += s.elapsed().as_secs_f64();
        sink += alone_search[0] + alone_head[0];
        let s = Instant::now();
        let both = pixels.descriptors(&[search, head]);
        both_once += s.elapsed().as_secs_f64();
        anyhow::ensure!(
            both[..] == [alone_search, alone_head],
            "one pass and two passes differ"
        );
        let s = Instant::now();
        let fast = image_to_lab(&fitted);
        lab_fast += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let prev = previous_pixel_lab(&fitted);
        lab_prev += s.elapsed().as_secs_f64();
        anyhow::ensure!(prev == fast, "the cached conversion differs");
        let s = Instant::now();
        let slow: Vec<[f32; 3]> = fitted.pixels().map(|p| reference_lab(p.0)).collect();
        lab_ref += s.elapsed().as_secs_f64();
        for (a, b) in fast.iter().zip(&slow) {
            for k in 0..3 {
                worst = worst.max((a[k] - b[k]).abs());
            }
        }
        let s = Instant::now();
        to_tensor(&fitted, [127.0; 3], [128.0; 3], true, &mut tensor);
        sink += tensor[0];
        t[5] += s.elapsed().as_secs_f64();
    }
    let per = |x: f64| x * 1e6 / bytes.len() as f64;
    println!(
        "us per image over {} images: decode {:.0}, fit {:.0}, lab+background {:.0}, \
         search colour {:.0}, head colour {:.0}, tensor {:.0}; total {:.0} (checksum {sink:.3})",
        bytes.len(),
        per(t[0]),
        per(t[1]),
        per(t[2]),
        per(t[3]),
        per(t[4]),
        per(t[5]),
        per(t.iter().sum())
    );
    println!(
        "CIELAB conversion of the fitted pixels: {:.0} us per image; {:.0} reusing only the previous pixel's \
         ({:.2}x); {:.0} with f32::cbrt and no reuse ({:.2}x); largest difference {worst:.2e} in L*a*b* units",
        per(lab_fast),
        per(lab_prev),
        lab_prev / lab_fast.max(1e-12),
        per(lab_ref),
        lab_ref / lab_fast.max(1e-12)
    );
    println!(
        "both colour descriptors: {:.0} us per image in one pass, {:.0} in two ({:.2}x), equal values",
        per(both_once),
        per(t[3] + t[4]),
        (t[3] + t[4]) / both_once.max(1e-12)
    );
    Ok(())
}
