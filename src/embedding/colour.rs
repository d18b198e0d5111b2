//! The colour descriptor: what colours the product itself is made of.
//!
//! CNN features trained on ImageNet know shapes well but barely tell navy from
//! black. This descriptor is a soft histogram of the product's pixels in
//! CIELAB, the colour space where Euclidean distance follows perceived
//! difference:
//!
//! 1. the background (near-white pixels connected to the border) is removed
//!    by a flood fill, so white padding and backdrop do not count; white
//!    details inside the product do. For a white product on white, where the
//!    fill eats everything, every non-pure-white pixel is used instead;
//! 2. each remaining pixel votes for the `L x a x b` bins around it with
//!    trilinear weights (no hard bin edges, so a colour on a boundary does
//!    not flip between bins);
//! 3. the histogram is square-rooted and L2-normalised (Hellinger mapping),
//!    so that the cosine of two descriptors is the Bhattacharyya coefficient
//!    of the colour distributions.

use serde::{Deserialize, Serialize};

use crate::imaging::{image_to_lab, is_backdrop, RgbImage};

/// Shape of the colour histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColourSpec {
    /// Bins along lightness L* (0..100).
    pub l_bins: usize,
    /// Bins along a* and along b* (each over `-ab_range..=ab_range`).
    pub ab_bins: usize,
    /// Half-range of the a*/b* axes; values beyond are clamped.
    pub ab_range: f32,
    /// Exponent applied to the normalised histogram before L2 normalisation
    /// (0.5: Hellinger; 1: plain histogram, which stresses the dominant colour).
    #[serde(default = "half")]
    pub power: f32,
    /// Weight pixels by a Gaussian around the image centre with this sigma,
    /// as a fraction of the image diagonal (0: uniform).
    #[serde(default)]
    pub centre_sigma: f32,
    /// Horizontal bands over the product's height, each with its own
    /// histogram (1: one global histogram). Bands tell "blue shirt over
    /// jeans" from "black shirt over jeans".
    #[serde(default = "one")]
    pub bands: usize,
    /// Gaussian blur of each histogram, sigma in bins (0: none). Without it,
    /// colours more than one bin apart have similarity 0, so navy would be as
    /// far from black as from red.
    #[serde(default)]
    pub blur: f32,
}

fn one() -> usize {
    1
}

fn half() -> f32 {
    0.5
}

impl Default for ColourSpec {
    fn default() -> Self {
        ColourSpec {
            l_bins: 5,
            ab_bins: 7,
            ab_range: 60.0,
            power: 0.5,
            centre_sigma: 0.0,
            bands: 1,
            blur: 0.0,
        }
    }
}

/// `L x a x b` bins, and the bands when there are several: "6x7x7 in 3 bands".
impl std::fmt::Display for ColourSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.l_bins, self.ab_bins, self.ab_bins)?;
        if self.bands > 1 {
            write!(f, " in {} bands", self.bands)?;
        }
        Ok(())
    }
}

impl ColourSpec {
    /// The finer descriptor stored for a trained head's colour branch: one
    /// 6x7x7 histogram for each third of the product's height. The top band
    /// holds a shirt, the bottom its trousers; "Navy Blue" against "Blue"
    /// and "Grey" against "Black" are lightness steps the 5 coarse L* bins
    /// blur. It lifted held-out baseColour top-1 by about 0.01 (docs/training.md).
    pub fn for_head() -> ColourSpec {
        ColourSpec {
            l_bins: 6,
            ab_bins: 7,
            bands: 3,
            ..ColourSpec::default()
        }
    }

    /// Checks a descriptor read from outside (an index's manifest): at
    /// least one bin on every axis, and sizes a histogram can have.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let bins_ok = |n: usize| (1..=64).contains(&n);
        if !bins_ok(self.l_bins) || !bins_ok(self.ab_bins) || !(1..=16).contains(&self.bands) {
            return Err(format!(
                "colour descriptor {self}: bins must be 1..=64 per axis and bands 1..=16"
            ));
        }
        let finite_positive = |v: f32| v.is_finite() && v > 0.0;
        let finite_not_negative = |v: f32| v.is_finite() && v >= 0.0;
        let fine = finite_positive(self.ab_range)
            && finite_positive(self.power)
            && finite_not_negative(self.centre_sigma)
            && finite_not_negative(self.blur);
        if !fine {
            return Err(format!(
                "colour descriptor {self}: ab_range and power must be finite and positive, \
                 centre_sigma and blur finite and not negative"
            ));
        }
        Ok(())
    }

    /// Length of the descriptor.
    pub fn dim(&self) -> usize {
        self.bins() * self.bands.max(1)
    }

    /// Length of one band's histogram.
    pub fn bins(&self) -> usize {
        self.l_bins * self.ab_bins * self.ab_bins
    }
}

/// Marks the background: backdrop-coloured pixels reachable from the border.
fn background_mask(lab: &[[f32; 3]], w: usize, h: usize) -> Vec<bool> {
    let mut bg = vec![false; w * h];
    let mut stack = Vec::new();
    let seed = |i: usize, bg: &mut Vec<bool>, stack: &mut Vec<usize>| {
        if !bg[i] && is_backdrop(&lab[i]) {
            bg[i] = true;
            stack.push(i);
        }
    };
    for x in 0..w {
        seed(x, &mut bg, &mut stack);
        seed((h - 1) * w + x, &mut bg, &mut stack);
    }
    for y in 0..h {
        seed(y * w, &mut bg, &mut stack);
        seed(y * w + w - 1, &mut bg, &mut stack);
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        if x > 0 {
            seed(i - 1, &mut bg, &mut stack);
        }
        if x + 1 < w {
            seed(i + 1, &mut bg, &mut stack);
        }
        if y > 0 {
            seed(i - w, &mut bg, &mut stack);
        }
        if y + 1 < h {
            seed(i + w, &mut bg, &mut stack);
        }
    }
    bg
}

/// Computes the colour descriptor of a product image (unit length).
pub fn colour_descriptor(img: &RgbImage, spec: &ColourSpec) -> Vec<f32> {
    ProductPixels::new(img).descriptor(spec)
}

/// A product image's pixels in CIELAB with its background removed: computed
/// once, then binned for each descriptor wanted (search and head colour).
pub struct ProductPixels {
    lab: Vec<[f32; 3]>,
    /// Per pixel: part of the product (not background).
    product: Vec<bool>,
    width: usize,
    /// First and last rows that hold product pixels.
    rows: (usize, usize),
}

impl ProductPixels {
    /// Converts `img` and finds its product pixels.
    pub fn new(img: &RgbImage) -> ProductPixels {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return ProductPixels {
                lab: Vec::new(),
                product: Vec::new(),
                width: 0,
                rows: (0, 0),
            };
        }
        let lab = image_to_lab(img);
        let bg = background_mask(&lab, w, h);
        let foreground = bg.iter().filter(|b| !**b).count();
        // A white product on white: the fill reached almost everything, so
        // use all pixels that are not the pure-white backdrop.
        let product: Vec<bool> = if foreground * 50 >= w * h {
            bg.iter().map(|b| !b).collect()
        } else {
            img.pixels().map(|p| p.0.iter().any(|&c| c < 250)).collect()
        };
        ProductPixels::from_parts(lab, product, w)
    }

    /// Converts `img`, whose product pixels are those where `is_product(x,
    /// y)` holds: a photo's, located on a background that is not white
    /// ([`crate::imaging::locate_product`]). With no product pixel at all,
    /// every pixel counts.
    pub fn with_mask(img: &RgbImage, is_product: impl Fn(u32, u32) -> bool) -> ProductPixels {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let lab = image_to_lab(img);
        let mut product: Vec<bool> = (0..w * h)
            .map(|i| is_product((i % w) as u32, (i / w) as u32))
            .collect();
        if !product.contains(&true) {
            product.iter_mut().for_each(|p| *p = true);
        }
        ProductPixels::from_parts(lab, product, w)
    }

    fn from_parts(lab: Vec<[f32; 3]>, product: Vec<bool>, w: usize) -> ProductPixels {
        let h = lab.len().checked_div(w).unwrap_or(0);
        // Bands split the rows that hold product pixels, not the whole canvas.
        let (mut top, mut bottom) = (h, 0);
        for i in (0..w * h).filter(|&i| product[i]) {
            top = top.min(i / w);
            bottom = bottom.max(i / w);
        }
        ProductPixels {
            lab,
            product,
            width: w,
            rows: (top, bottom),
        }
    }

    /// The descriptor `spec` of these pixels (unit length).
    pub fn descriptor(&self, spec: &ColourSpec) -> Vec<f32> {
        self.descriptors(std::slice::from_ref(spec))
            .pop()
            .unwrap_or_default()
    }

    /// The descriptor of each of `specs` (each unit length), from one pass
    /// over the pixels: an index row's search and head colours share the
    /// visit of each product pixel. Each histogram sums its votes in pixel
    /// order, so the values equal [`ProductPixels::descriptor`]'s one by one.
    pub fn descriptors(&self, specs: &[ColourSpec]) -> Vec<Vec<f32>> {
        let mut hists: Vec<Vec<f32>> = specs.iter().map(|s| vec![0f32; s.dim()]).collect();
        let w = self.width;
        let Some(first) = specs.first().filter(|_| w > 0) else {
            return hists;
        };
        let h = self.lab.len() / w;
        let (top, bottom) = self.rows;
        let span = (bottom + 1).saturating_sub(top).max(1);
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let sigma2: Vec<f32> = specs
            .iter()
            .map(|s| (s.centre_sigma * ((w * w + h * h) as f32).sqrt()).powi(2))
            .collect();
        let mut totals = vec![0f32; specs.len()];
        // A spec binning a* and b* like the first reuses its coordinates.
        let same_ab: Vec<bool> = specs
            .iter()
            .map(|s| s.ab_bins == first.ab_bins && s.ab_range == first.ab_range)
            .collect();
        // A spec without bins (refused by `ColourSpec::validate`) keeps its
        // empty descriptor rather than panicking.
        let binned: Vec<bool> = specs.iter().map(|s| s.dim() > 0).collect();
        let mut bands = vec![0usize; specs.len()];
        for (y, (lab, product)) in self
            .lab
            .chunks_exact(w)
            .zip(self.product.chunks_exact(w))
            .enumerate()
        {
            for (band, spec) in bands.iter_mut().zip(specs) {
                let n = spec.bands.max(1);
                *band = (y.saturating_sub(top) * n / span).min(n - 1);
            }
            for (x, px) in lab.iter().enumerate().filter(|&(x, _)| product[x]) {
                let first_ab = AbCoords::new(first, px);
                for (s, spec) in specs.iter().enumerate().filter(|&(s, _)| binned[s]) {
                    let weight = if sigma2[s] > 0.0 {
                        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                        (-(dx * dx + dy * dy) / (2.0 * sigma2[s])).exp()
                    } else {
                        1.0
                    };
                    let ab = if same_ab[s] {
                        first_ab
                    } else {
                        AbCoords::new(spec, px)
                    };
                    let bins = spec.bins();
                    let hist = &mut hists[s][bands[s] * bins..(bands[s] + 1) * bins];
                    vote_at(hist, spec, px[0], ab, weight);
                    totals[s] += weight;
                }
            }
        }
        for (((spec, hist), total), _) in specs
            .iter()
            .zip(&mut hists)
            .zip(totals)
            .zip(&binned)
            .filter(|(_, binned)| **binned)
        {
            let bins = spec.bins();
            if total == 0.0 {
                // Nothing but pure white: the descriptor of white.
                for band in hist.chunks_exact_mut(bins) {
                    vote(band, spec, &[100.0, 0.0, 0.0], 1.0);
                }
            }
            // Each band is a distribution of its own; an empty band stays zero.
            for band in hist.chunks_exact_mut(bins) {
                if spec.blur > 0.0 {
                    blur3(band, [spec.l_bins, spec.ab_bins, spec.ab_bins], spec.blur);
                }
                let sum: f32 = band.iter().sum();
                if sum > 0.0 {
                    for v in band.iter_mut() {
                        *v = (*v / sum).powf(spec.power);
                    }
                }
            }
            crate::vector::l2_normalise(hist);
        }
        hists
    }
}

/// Separable Gaussian blur of a 3-D histogram stored as `[l][a][b]`, with
/// mass that would leave the grid kept at the border (clamped).
fn blur3(hist: &mut [f32], dims: [usize; 3], sigma: f32) {
    let radius = (2.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let ksum: f32 = kernel.iter().sum();
    let strides = [dims[1] * dims[2], dims[2], 1];
    let mut tmp = vec![0f32; hist.len()];
    for axis in 0..3 {
        tmp.iter_mut().for_each(|v| *v = 0.0);
        let (n, stride) = (dims[axis] as isize, strides[axis]);
        for (i, &v) in hist.iter().enumerate() {
            if v == 0.0 {
                continue;
            }
            let pos = ((i / stride) % dims[axis]) as isize;
            for (k, &kw) in kernel.iter().enumerate() {
                let target = (pos + k as isize - radius).clamp(0, n - 1);
                let j = (i as isize + (target - pos) * stride as isize) as usize;
                tmp[j] += v * kw / ksum;
            }
        }
        hist.copy_from_slice(&tmp);
    }
}

/// A value's two neighbouring bins along an axis of `bins` bins over
/// `lo..=hi`, and its weight towards the upper one.
#[inline]
fn axis(v: f32, lo: f32, hi: f32, bins: usize) -> (usize, usize, f32) {
    if bins <= 1 {
        return (0, 0, 0.0);
    }
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0) * (bins - 1) as f32;
    let i0 = (t.floor() as usize).min(bins - 2);
    (i0, i0 + 1, t - i0 as f32)
}

/// A pixel's a* and b* bins ([`axis`]): the same for every descriptor that
/// bins them alike, so worked out once per pixel.
#[derive(Clone, Copy)]
struct AbCoords {
    a: (usize, usize, f32),
    b: (usize, usize, f32),
}

impl AbCoords {
    #[inline]
    fn new(spec: &ColourSpec, lab: &[f32; 3]) -> AbCoords {
        let r = spec.ab_range;
        AbCoords {
            a: axis(lab[1], -r, r, spec.ab_bins),
            b: axis(lab[2], -r, r, spec.ab_bins),
        }
    }
}

/// Adds one pixel to the histogram with trilinear weights.
fn vote(hist: &mut [f32], spec: &ColourSpec, lab: &[f32; 3], weight: f32) {
    vote_at(hist, spec, lab[0], AbCoords::new(spec, lab), weight);
}

/// [`vote`] with the pixel's a*/b* bins worked out. A zero weight adds
/// `+0.0`, which leaves a bin's value as it is, so there is no test for it.
#[inline]
fn vote_at(hist: &mut [f32], spec: &ColourSpec, l: f32, ab: AbCoords, weight: f32) {
    let (l0, l1, lf) = axis(l, 0.0, 100.0, spec.l_bins);
    let ((a0, a1, af), (b0, b1, bf)) = (ab.a, ab.b);
    let n = spec.ab_bins;
    for (li, lw) in [(l0, 1.0 - lf), (l1, lf)] {
        for (ai, aw) in [(a0, 1.0 - af), (a1, af)] {
            for (bi, bw) in [(b0, 1.0 - bf), (b1, bf)] {
                hist[(li * n + ai) * n + bi] += weight * lw * aw * bw;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::srgb_to_lab;
    use crate::vector::dot;

    fn product(colour: [u8; 3]) -> RgbImage {
        let mut img = RgbImage::from_pixel(60, 80, image::Rgb([255, 255, 255]));
        for y in 10..70 {
            for x in 15..45 {
                img.put_pixel(x, y, image::Rgb(colour));
            }
        }
        img
    }

    #[test]
    fn lab_reference_values() {
        let white = srgb_to_lab([255, 255, 255]);
        assert!((white[0] - 100.0).abs() < 0.1 && white[1].abs() < 0.1 && white[2].abs() < 0.1);
        let black = srgb_to_lab([0, 0, 0]);
        assert!(black[0].abs() < 0.1);
        // sRGB red is L=53.2, a=80.1, b=67.2.
        let red = srgb_to_lab([255, 0, 0]);
        assert!(
            (red[0] - 53.2).abs() < 0.3
                && (red[1] - 80.1).abs() < 0.5
                && (red[2] - 67.2).abs() < 0.5
        );
    }

    #[test]
    fn background_does_not_count() {
        let spec = ColourSpec::default();
        let small = colour_descriptor(&product([20, 30, 90]), &spec);
        let mut big = RgbImage::from_pixel(60, 80, image::Rgb([20, 30, 90]));
        big.put_pixel(0, 0, image::Rgb([255, 255, 255]));
        let full = colour_descriptor(&big, &spec);
        assert!(dot(&small, &full) > 0.99, "{}", dot(&small, &full));
    }

    #[test]
    fn navy_is_closer_to_blue_than_to_red_and_black() {
        let spec = ColourSpec {
            blur: 1.0,
            ..ColourSpec::default()
        };
        let navy = colour_descriptor(&product([20, 30, 90]), &spec);
        let navy2 = colour_descriptor(&product([25, 35, 100]), &spec);
        let black = colour_descriptor(&product([15, 15, 15]), &spec);
        let red = colour_descriptor(&product([200, 20, 20]), &spec);
        let norm = dot(&navy, &navy);
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(dot(&navy, &navy2) > dot(&navy, &black));
        assert!(dot(&navy, &black) > dot(&navy, &red));
    }

    #[test]
    fn a_product_on_a_coloured_background_has_its_own_colour_with_a_mask() {
        // A navy product on a grey bed sheet: the white flood fill finds no
        // backdrop, so without a mask the sheet floods the descriptor.
        let mut img = RgbImage::from_pixel(60, 80, image::Rgb([150, 150, 145]));
        let inside = |x: u32, y: u32| (15..45).contains(&x) && (10..70).contains(&y);
        for (x, y, p) in img.enumerate_pixels_mut() {
            if inside(x, y) {
                *p = image::Rgb([20, 30, 90]);
            }
        }
        let spec = ColourSpec::default();
        let navy = colour_descriptor(&product([20, 30, 90]), &spec);
        let flooded = colour_descriptor(&img, &spec);
        let masked = ProductPixels::with_mask(&img, inside).descriptor(&spec);
        assert!(dot(&masked, &navy) > 0.99, "{}", dot(&masked, &navy));
        assert!(dot(&flooded, &navy) < 0.8, "{}", dot(&flooded, &navy));
        // An empty mask counts every pixel rather than nothing.
        let all = ProductPixels::with_mask(&img, |_, _| false).descriptor(&spec);
        assert!((dot(&all, &all) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn white_product_on_white_is_white_not_empty() {
        let spec = ColourSpec::default();
        let white_shirt = colour_descriptor(&product([245, 245, 245]), &spec);
        let black = colour_descriptor(&product([10, 10, 10]), &spec);
        assert!((dot(&white_shirt, &white_shirt) - 1.0).abs() < 1e-4);
        assert!(dot(&white_shirt, &black) < 0.5);
        let blank = colour_descriptor(
            &RgbImage::from_pixel(8, 8, image::Rgb([255, 255, 255])),
            &spec,
        );
        assert!((dot(&blank, &blank) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn a_colour_spec_without_bins_is_refused_not_a_panic() {
        assert!(ColourSpec::default().validate().is_ok());
        assert!(ColourSpec::for_head().validate().is_ok());
        let bad = [
            ColourSpec {
                ab_bins: 0,
                ..ColourSpec::default()
            },
            ColourSpec {
                l_bins: 1000,
                ..ColourSpec::default()
            },
            ColourSpec {
                ab_range: f32::NAN,
                ..ColourSpec::default()
            },
            ColourSpec {
                power: 0.0,
                ..ColourSpec::default()
            },
        ];
        let img = RgbImage::from_pixel(8, 8, image::Rgb([200, 20, 20]));
        for spec in bad {
            assert!(spec.validate().is_err(), "{spec:?}");
        }
        let empty = ColourSpec {
            ab_bins: 0,
            ..ColourSpec::default()
        };
        assert!(ProductPixels::new(&img).descriptor(&empty).is_empty());
        assert!(ProductPixels::new(&img).descriptors(&[]).is_empty());
    }

    #[test]
    fn descriptors_in_one_pass_equal_each_alone() {
        let img = RgbImage::from_fn(60, 80, |x, y| {
            if (10..50).contains(&x) && (8..72).contains(&y) {
                image::Rgb([(x * 4) as u8, (y * 3) as u8, 90])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let pixels = ProductPixels::new(&img);
        let centred = ColourSpec {
            centre_sigma: 0.3,
            blur: 0.7,
            ..ColourSpec::default()
        };
        let specs = [ColourSpec::default(), ColourSpec::for_head(), centred];
        let together = pixels.descriptors(&specs);
        for (spec, got) in specs.iter().zip(&together) {
            let alone = ProductPixels::new(&img).descriptor(spec);
            assert_eq!(got, &alone, "{spec}");
            assert_eq!(got.len(), spec.dim());
        }
    }
}
