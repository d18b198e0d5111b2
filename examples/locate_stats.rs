//! Development tool: how `locate_product` reads a folder of images (scene
//! shares, region sizes), e.g. the catalogue's packshots against shopper
//! photos. `cargo run --release --example locate_stats -- DIR [LIMIT] [OUT.png]`
//! (OUT: a contact sheet of the first 40 images with their boxes).

use std::path::PathBuf;

use lookalike::imaging::{decode_file, locate_product, DecodeLimits, Scene};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: DIR [LIMIT] [OUT.png]"))?,
    );
    let limit: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let out = args.next().map(PathBuf::from);
    // The catalogue's own scan of a folder of images (sorted by path).
    let files: Vec<PathBuf> = lookalike::Catalog::open(&dir)?
        .products
        .into_iter()
        .map(|p| p.image)
        .collect();
    // A spread sample, not the first files of one folder.
    let step = (files.len() / limit.min(files.len()).max(1)).max(1);
    let files: Vec<_> = files.into_iter().step_by(step).take(limit).collect();
    let (mut packshots, mut share_sum) = (0usize, 0f32);
    let mut sheet = image::RgbImage::from_pixel(8 * 120, 5 * 160, image::Rgb([255, 255, 255]));
    let t = std::time::Instant::now();
    for (i, f) in files.iter().enumerate() {
        let img = decode_file(f, &DecodeLimits::default())?;
        let found = locate_product(&img);
        if found.scene == Scene::Packshot {
            packshots += 1;
        }
        share_sum += found.region.area_share(img.width(), img.height());
        if i < 40 && out.is_some() {
            let mut small =
                image::imageops::resize(&img, 120, 160, image::imageops::FilterType::Triangle);
            let (sx, sy) = (120.0 / img.width() as f32, 160.0 / img.height() as f32);
            let r = found.region;
            let (x0, y0) = ((r.x as f32 * sx) as u32, (r.y as f32 * sy) as u32);
            let (x1, y1) = (
                (((r.x + r.width) as f32 * sx) as u32).min(119),
                (((r.y + r.height) as f32 * sy) as u32).min(159),
            );
            let red = image::Rgb([255, 0, 0]);
            for x in x0..=x1 {
                small.put_pixel(x, y0, red);
                small.put_pixel(x, y1, red);
            }
            for y in y0..=y1 {
                small.put_pixel(x0, y, red);
                small.put_pixel(x1, y, red);
            }
            image::imageops::overlay(
                &mut sheet,
                &small,
                (i % 8) as i64 * 120,
                (i / 8) as i64 * 160,
            );
        }
    }
    println!(
        "{} images: {} packshots ({:.1} %), mean region share {:.2}, {:.2} ms each",
        files.len(),
        packshots,
        100.0 * packshots as f32 / files.len().max(1) as f32,
        share_sum / files.len().max(1) as f32,
        t.elapsed().as_secs_f64() * 1e3 / files.len().max(1) as f64
    );
    if let Some(out) = out {
        sheet.save(&out)?;
    }
    Ok(())
}
