//! Where the product is in an image: a packshot on white, or a shopper's
//! photo (a dress on a bed, shoes on tiles) whose background is anything.
//!
//! The image is reduced to a small grid of CIELAB cells. A packshot is
//! recognised by its border: mostly the near-white backdrop. For a photo,
//! the border is the background model: its colours are clustered (k-means,
//! seeded from lightness quantiles, so the result is deterministic) and a
//! cell is product when it lies far from every background cluster, in units
//! of that cluster's own spread (a textured wooden floor spreads wide, a
//! plain sheet narrow). The mask is cleaned by a 3x3 majority vote, and the
//! product is the bounding box of the large connected parts of it (two shoes
//! are two parts). When nothing sensible is found (almost no foreground, or
//! almost all of it), the centre of the frame is used.

use super::RgbImage;
use super::{is_backdrop, srgb_to_lab};

/// A rectangle in an image's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

impl Region {
    /// The whole of an image of `width` x `height`.
    pub fn whole(width: u32, height: u32) -> Region {
        Region {
            x: 0,
            y: 0,
            width,
            height,
        }
    }

    /// Parses `x,y,w,h` (non-negative integers; `w` and `h` at least 1).
    /// Whether it fits an image is checked by [`Region::check_within`].
    pub fn parse(s: &str) -> Result<Region, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(format!(
                "crop must be `x,y,w,h` (four integers, in the image's pixels), got `{s}`"
            ));
        }
        let mut v = [0u32; 4];
        for (slot, (part, name)) in v.iter_mut().zip(parts.iter().zip(["x", "y", "w", "h"])) {
            *slot = part.parse::<u32>().map_err(|_| {
                format!("crop `{s}`: {name} must be a non-negative integer, got `{part}`")
            })?;
        }
        if v[2] == 0 || v[3] == 0 {
            return Err(format!("crop `{s}` is empty: w and h must be at least 1"));
        }
        Ok(Region {
            x: v[0],
            y: v[1],
            width: v[2],
            height: v[3],
        })
    }

    /// Refuses a region that does not lie inside a `width` x `height` image.
    pub fn check_within(&self, width: u32, height: u32) -> Result<(), String> {
        let right = u64::from(self.x) + u64::from(self.width);
        let bottom = u64::from(self.y) + u64::from(self.height);
        if right > u64::from(width) || bottom > u64::from(height) {
            return Err(format!(
                "crop {self} reaches outside the {width}x{height} image \
                 (x + w must be <= {width}, y + h <= {height})"
            ));
        }
        Ok(())
    }

    /// The pixels of `img` inside this region (clamped to the image).
    pub fn crop(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        let x = self.x.min(w.saturating_sub(1));
        let y = self.y.min(h.saturating_sub(1));
        let cw = self.width.min(w - x).max(1);
        let ch = self.height.min(h - y).max(1);
        image::imageops::crop_imm(img, x, y, cw, ch).to_image()
    }

    /// Share of a `width` x `height` image this region covers.
    pub fn area_share(&self, width: u32, height: u32) -> f32 {
        (f64::from(self.width) * f64::from(self.height)
            / (f64::from(width.max(1)) * f64::from(height.max(1)))) as f32
    }
}

/// `x,y,w,h`, the form [`Region::parse`] reads.
impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.width, self.height)
    }
}

/// What kind of image the product is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scene {
    /// A studio packshot on a white backdrop, like the catalogue's.
    Packshot,
    /// Anything else: a photo with its own background.
    Photo,
}

/// Which pixels of an image belong to the product, on a coarse grid.
#[derive(Debug, Clone)]
pub struct ProductMask {
    /// Grid width and height in cells.
    cols: usize,
    rows: usize,
    /// Image size the grid covers.
    width: u32,
    height: u32,
    cells: Vec<bool>,
}

impl ProductMask {
    /// A mask that holds every pixel.
    pub fn full(width: u32, height: u32) -> ProductMask {
        ProductMask {
            cols: 1,
            rows: 1,
            width: width.max(1),
            height: height.max(1),
            cells: vec![true],
        }
    }

    /// Whether pixel `(x, y)` of the image is product.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        let c = (x as usize * self.cols / self.width as usize).min(self.cols - 1);
        let r = (y as usize * self.rows / self.height as usize).min(self.rows - 1);
        self.cells[r * self.cols + c]
    }
}

/// Where the product is in an image.
#[derive(Debug, Clone)]
pub struct ProductLocation {
    /// Packshot or photo.
    pub scene: Scene,
    /// The product's bounding box, with a small margin.
    pub region: Region,
    /// The product's pixels (for the colour descriptors of a photo).
    pub mask: ProductMask,
}

/// Long side of the analysis grid, in cells: enough to outline a garment,
/// cheap enough (under a millisecond) to run on every upload.
const GRID: usize = 96;
/// Share of border cells that must be backdrop-white for a packshot.
const PACKSHOT_BORDER: f32 = 0.6;
/// Background colour clusters.
const CLUSTERS: usize = 4;
/// A cluster needs this share of the border to count as background (a
/// product touching one edge leaves a small cluster of its own there).
const MIN_CLUSTER_SHARE: f32 = 0.08;
/// Foreground below this share of the frame, or above the next, is not a
/// plausible product outline: the centre of the frame is used instead.
const MIN_FOREGROUND: f32 = 0.02;
const MAX_FOREGROUND: f32 = 0.92;
/// The fall-back region's share of each side.
const CENTRE_SHARE: f32 = 0.9;
/// Margin added around the box, as a share of its size.
const MARGIN: f32 = 0.04;

/// Finds the product in `img`.
pub fn locate_product(img: &RgbImage) -> ProductLocation {
    let (w, h) = img.dimensions();
    if w < 4 || h < 4 {
        return ProductLocation {
            scene: Scene::Packshot,
            region: Region::whole(w.max(1), h.max(1)),
            mask: ProductMask::full(w, h),
        };
    }
    let grid = LabGrid::new(img);
    let border = grid.border_cells();
    let backdrop = border
        .iter()
        .filter(|&&i| is_backdrop(&grid.lab[i]))
        .count();
    if backdrop as f32 >= PACKSHOT_BORDER * border.len() as f32 {
        // The packshot path (flood fill from the white border) handles it;
        // the region is the whole image, as for any catalogue image.
        return ProductLocation {
            scene: Scene::Packshot,
            region: Region::whole(w, h),
            mask: ProductMask::full(w, h),
        };
    }
    let model = BackgroundModel::fit(&grid, &border);
    let mut cells: Vec<bool> = grid.lab.iter().map(|p| model.is_foreground(p)).collect();
    cells = majority3(&cells, grid.cols, grid.rows);
    let share = cells.iter().filter(|c| **c).count() as f32 / cells.len() as f32;
    let boxed = if (MIN_FOREGROUND..=MAX_FOREGROUND).contains(&share) {
        main_parts_box(&cells, grid.cols, grid.rows)
    } else {
        None
    };
    let mask = ProductMask {
        cols: grid.cols,
        rows: grid.rows,
        width: w,
        height: h,
        cells,
    };
    let region = match boxed {
        Some([c0, r0, c1, r1]) => {
            let to_px =
                |cell: f32, cells: usize, px: u32| -> f32 { cell * px as f32 / cells as f32 };
            let (mut x0, mut y0) = (
                to_px(c0 as f32, grid.cols, w),
                to_px(r0 as f32, grid.rows, h),
            );
            let (mut x1, mut y1) = (
                to_px((c1 + 1) as f32, grid.cols, w),
                to_px((r1 + 1) as f32, grid.rows, h),
            );
            let (mx, my) = ((x1 - x0) * MARGIN, (y1 - y0) * MARGIN);
            x0 = (x0 - mx).max(0.0);
            y0 = (y0 - my).max(0.0);
            x1 = (x1 + mx).min(w as f32);
            y1 = (y1 + my).min(h as f32);
            let (x, y) = (x0.floor() as u32, y0.floor() as u32);
            Region {
                x,
                y,
                width: ((x1.ceil() as u32).min(w) - x).max(1),
                height: ((y1.ceil() as u32).min(h) - y).max(1),
            }
        }
        None => centre_region(w, h),
    };
    let mask = if boxed.is_some() {
        mask
    } else {
        ProductMask::full(w, h)
    };
    ProductLocation {
        scene: Scene::Photo,
        region,
        mask,
    }
}

/// The central part of the frame, where a shopper points the camera.
fn centre_region(w: u32, h: u32) -> Region {
    let cw = ((w as f32 * CENTRE_SHARE).round() as u32).clamp(1, w);
    let ch = ((h as f32 * CENTRE_SHARE).round() as u32).clamp(1, h);
    Region {
        x: (w - cw) / 2,
        y: (h - ch) / 2,
        width: cw,
        height: ch,
    }
}

/// An image averaged into at most [`GRID`] cells on its long side, in CIELAB.
struct LabGrid {
    cols: usize,
    rows: usize,
    lab: Vec<[f32; 3]>,
}

impl LabGrid {
    fn new(img: &RgbImage) -> LabGrid {
        // A large photo is first shrunk with the SIMD resizer: averaging its
        // millions of pixels one by one cost more than the CNN.
        let side = (4 * GRID) as u32;
        let small = super::shrink_to(img, side, side);
        let img = small.as_ref().unwrap_or(img);
        let (w, h) = (img.width() as usize, img.height() as usize);
        let scale = (GRID as f64 / w.max(h) as f64).min(1.0);
        let cols = ((w as f64 * scale).round() as usize).max(1);
        let rows = ((h as f64 * scale).round() as usize).max(1);
        let mut sum = vec![[0u32; 4]; cols * rows];
        let raw = img.as_raw();
        for y in 0..h {
            let r = y * rows / h;
            for x in 0..w {
                let c = x * cols / w;
                let p = &raw[(y * w + x) * 3..(y * w + x) * 3 + 3];
                let s = &mut sum[r * cols + c];
                s[0] += u32::from(p[0]);
                s[1] += u32::from(p[1]);
                s[2] += u32::from(p[2]);
                s[3] += 1;
            }
        }
        let lab = sum
            .iter()
            .map(|s| {
                let n = s[3].max(1);
                let avg = |v: u32| ((v + n / 2) / n).min(255) as u8;
                srgb_to_lab([avg(s[0]), avg(s[1]), avg(s[2])])
            })
            .collect();
        LabGrid { cols, rows, lab }
    }

    /// Cells within the outer ring (about 6 % of the short side, at least 2).
    fn border_cells(&self) -> Vec<usize> {
        let ring = ((self.cols.min(self.rows) as f32 * 0.06).round() as usize).max(2);
        let mut out = Vec::new();
        for r in 0..self.rows {
            for c in 0..self.cols {
                if r < ring || c < ring || r + ring >= self.rows || c + ring >= self.cols {
                    out.push(r * self.cols + c);
                }
            }
        }
        out
    }
}

/// The border's colours as a few clusters, each with its spread.
struct BackgroundModel {
    centres: Vec<([f32; 3], f32)>,
}

impl BackgroundModel {
    fn fit(grid: &LabGrid, border: &[usize]) -> BackgroundModel {
        let mut pts: Vec<[f32; 3]> = border.iter().map(|&i| grid.lab[i]).collect();
        pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let k = CLUSTERS.min(pts.len()).max(1);
        let mut centres: Vec<[f32; 3]> = (0..k)
            .map(|j| pts[((2 * j + 1) * pts.len() / (2 * k)).min(pts.len() - 1)])
            .collect();
        let mut assign = vec![0usize; pts.len()];
        for _ in 0..10 {
            for (a, p) in assign.iter_mut().zip(&pts) {
                *a = nearest(&centres, p).0;
            }
            let mut acc = vec![[0f32; 4]; k];
            for (a, p) in assign.iter().zip(&pts) {
                for d in 0..3 {
                    acc[*a][d] += p[d];
                }
                acc[*a][3] += 1.0;
            }
            for (c, s) in centres.iter_mut().zip(&acc) {
                if s[3] > 0.0 {
                    *c = [s[0] / s[3], s[1] / s[3], s[2] / s[3]];
                }
            }
        }
        let mut spread = vec![(0f32, 0usize); k];
        for (a, p) in assign.iter().zip(&pts) {
            spread[*a].0 += dist2(&centres[*a], p);
            spread[*a].1 += 1;
        }
        let kept: Vec<([f32; 3], f32)> = centres
            .iter()
            .zip(&spread)
            .filter(|(_, s)| s.1 as f32 >= MIN_CLUSTER_SHARE * pts.len() as f32)
            .map(|(c, s)| (*c, (s.0 / s.1.max(1) as f32).sqrt()))
            .collect();
        BackgroundModel { centres: kept }
    }

    /// Far from every background cluster: beyond a fixed colour difference
    /// plus a few of the cluster's own spreads.
    fn is_foreground(&self, p: &[f32; 3]) -> bool {
        self.centres
            .iter()
            .all(|(c, s)| dist2(c, p).sqrt() > 10.0 + 2.5 * s)
    }
}

fn nearest(centres: &[[f32; 3]], p: &[f32; 3]) -> (usize, f32) {
    centres
        .iter()
        .enumerate()
        .map(|(i, c)| (i, dist2(c, p)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((0, 0.0))
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Each cell takes the majority of its 3x3 neighbourhood: removes specks of
/// texture and fills pinholes in the product.
fn majority3(cells: &[bool], cols: usize, rows: usize) -> Vec<bool> {
    let mut out = vec![false; cells.len()];
    for r in 0..rows {
        for c in 0..cols {
            let (mut n, mut on) = (0, 0);
            for rr in r.saturating_sub(1)..=(r + 1).min(rows - 1) {
                for cc in c.saturating_sub(1)..=(c + 1).min(cols - 1) {
                    n += 1;
                    on += usize::from(cells[rr * cols + cc]);
                }
            }
            out[r * cols + c] = on * 2 > n;
        }
    }
    out
}

/// Bounding box `[col0, row0, col1, row1]` (inclusive) of the connected
/// parts of the mask at least a quarter the size of the largest.
fn main_parts_box(cells: &[bool], cols: usize, rows: usize) -> Option<[usize; 4]> {
    let mut label = vec![0u32; cells.len()];
    let mut parts: Vec<(usize, [usize; 4])> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..cells.len() {
        if !cells[start] || label[start] != 0 {
            continue;
        }
        let id = parts.len() as u32 + 1;
        label[start] = id;
        stack.push(start);
        let (mut n, mut bb) = (0usize, [cols, rows, 0, 0]);
        while let Some(i) = stack.pop() {
            let (c, r) = (i % cols, i / cols);
            n += 1;
            bb = [bb[0].min(c), bb[1].min(r), bb[2].max(c), bb[3].max(r)];
            let mut visit = |j: usize| {
                if cells[j] && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if c > 0 {
                visit(i - 1);
            }
            if c + 1 < cols {
                visit(i + 1);
            }
            if r > 0 {
                visit(i - cols);
            }
            if r + 1 < rows {
                visit(i + cols);
            }
        }
        parts.push((n, bb));
    }
    let largest = parts.iter().map(|p| p.0).max()?;
    let min_cells = (largest / 4).max(cells.len() / 200);
    parts
        .iter()
        .filter(|p| p.0 >= min_cells)
        .map(|p| p.1)
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wood-like textured background: stripes of two browns with noise.
    fn textured(w: u32, h: u32) -> RgbImage {
        let mut state = 7u32;
        RgbImage::from_fn(w, h, |x, y| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (state >> 28) as u8;
            let base = if (x / 9 + y / 40) % 2 == 0 {
                [150u8, 110, 70]
            } else {
                [170, 125, 85]
            };
            image::Rgb([base[0] + noise, base[1] + noise, base[2] + noise])
        })
    }

    fn overlap(a: &Region, b: &Region) -> f32 {
        let x0 = a.x.max(b.x);
        let y0 = a.y.max(b.y);
        let x1 = (a.x + a.width).min(b.x + b.width);
        let y1 = (a.y + a.height).min(b.y + b.height);
        if x1 <= x0 || y1 <= y0 {
            return 0.0;
        }
        let inter = f64::from((x1 - x0) * (y1 - y0));
        let union = f64::from(a.width * a.height) + f64::from(b.width * b.height) - inter;
        (inter / union) as f32
    }

    #[test]
    fn a_coloured_shape_on_a_textured_background_is_boxed() {
        let mut img = textured(400, 534);
        let product = Region {
            x: 120,
            y: 90,
            width: 170,
            height: 300,
        };
        for y in product.y..product.y + product.height {
            for x in product.x..product.x + product.width {
                img.put_pixel(x, y, image::Rgb([30, 60, 160]));
            }
        }
        let found = locate_product(&img);
        assert_eq!(found.scene, Scene::Photo);
        let r = found.region;
        // The box covers the product, with at most a small margin.
        assert!(r.x <= product.x && r.y <= product.y, "{r}");
        assert!(r.x + r.width >= product.x + product.width, "{r}");
        assert!(r.y + r.height >= product.y + product.height, "{r}");
        assert!(
            overlap(&r, &product) > 0.8,
            "{r}: IoU {}",
            overlap(&r, &product)
        );
        assert!(found.mask.contains(200, 200));
        assert!(!found.mask.contains(20, 20));
    }

    #[test]
    fn two_shoes_are_one_box() {
        let mut img = RgbImage::from_pixel(533, 400, image::Rgb([200, 200, 195]));
        for (x0, x1) in [(60u32, 220u32), (300, 470)] {
            for y in 150..260 {
                for x in x0..x1 {
                    img.put_pixel(x, y, image::Rgb([20, 20, 20]));
                }
            }
        }
        let r = locate_product(&img).region;
        assert!(r.x <= 60 && r.x + r.width >= 470, "{r}");
        assert!(r.y <= 150 && r.y + r.height >= 260, "{r}");
    }

    #[test]
    fn a_packshot_on_white_is_the_whole_image() {
        let mut img = RgbImage::from_pixel(60, 80, image::Rgb([255, 255, 255]));
        for y in 10..70 {
            for x in 15..45 {
                img.put_pixel(x, y, image::Rgb([200, 20, 20]));
            }
        }
        let found = locate_product(&img);
        assert_eq!(found.scene, Scene::Packshot);
        assert_eq!(found.region, Region::whole(60, 80));
    }

    #[test]
    fn a_plain_frame_falls_back_to_its_centre() {
        let img = RgbImage::from_pixel(300, 400, image::Rgb([90, 120, 60]));
        let found = locate_product(&img);
        assert_eq!(found.scene, Scene::Photo);
        assert_eq!(found.region, centre_region(300, 400));
        assert!(found.mask.contains(0, 0));
    }

    #[test]
    fn tiny_images_do_not_panic() {
        for (w, h) in [(1, 1), (3, 9), (4, 4), (5, 1)] {
            let img = RgbImage::from_pixel(w, h, image::Rgb([10, 10, 10]));
            let r = locate_product(&img).region;
            assert!(r.width >= 1 && r.height >= 1 && r.x + r.width <= w.max(1));
        }
    }

    #[test]
    fn crops_are_parsed_and_checked() {
        let r = Region::parse("10, 20,30,40").unwrap();
        assert_eq!((r.x, r.y, r.width, r.height), (10, 20, 30, 40));
        assert_eq!(r.to_string(), "10,20,30,40");
        assert!(r.check_within(40, 60).is_ok());
        assert!(r.check_within(39, 60).unwrap_err().contains("outside"));
        assert!(Region::parse("1,2,0,4").unwrap_err().contains("empty"));
        assert!(Region::parse("1,2,3")
            .unwrap_err()
            .contains("four integers"));
        assert!(Region::parse("-1,2,3,4").unwrap_err().contains("x must be"));
        assert!(Region::parse("1,2,3,x").unwrap_err().contains("h must be"));
        let huge = Region::parse("4294967295,0,4294967295,1").unwrap();
        assert!(huge.check_within(100, 100).is_err());
        let img = RgbImage::from_pixel(50, 50, image::Rgb([0, 0, 0]));
        assert_eq!(r.crop(&img).dimensions(), (30, 30));
    }
}
