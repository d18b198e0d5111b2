//! The shopper-photo protocol (`shopper-photos-dev/README.md` of the shared
//! datasets): real phone photos in `<kind>/*.jpg`, each uploaded whole as a
//! query, its 10 hits judged by their catalogue articleType against the
//! kind's set of types ([`KINDS`], the one copy of the class map).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::embedding::Embedder;
use crate::error::{Error, IoResultExt, Result};
use crate::imaging::DecodeLimits;
use crate::search::SearchTarget;
use crate::search::{embed_upload, recognise, Query, SearchRequest};

/// The photo kinds and the catalogue articleTypes that count as the same
/// kind of product (the development set's README).
pub const KINDS: &[(&str, &[&str])] = &[
    ("dress", &["Dresses", "Nightdress", "Tunics", "Jumpsuit"]),
    ("hat", &["Caps", "Hat", "Headband"]),
    (
        "longsleeve",
        &[
            "Tshirts",
            "Tops",
            "Sweatshirts",
            "Sweaters",
            "Shirts",
            "Tunics",
            "Kurtis",
        ],
    ),
    (
        "outwear",
        &[
            "Jackets",
            "Sweatshirts",
            "Sweaters",
            "Blazers",
            "Rain Jacket",
            "Waistcoat",
            "Nehru Jackets",
            "Shrug",
            "Coats",
        ],
    ),
    (
        "pants",
        &[
            "Trousers",
            "Jeans",
            "Track Pants",
            "Jeggings",
            "Leggings",
            "Capris",
            "Lounge Pants",
            "Tracksuits",
            "Churidar",
            "Patiala",
            "Salwar",
        ],
    ),
    ("shirt", &["Shirts"]),
    (
        "shoes",
        &[
            "Casual Shoes",
            "Sports Shoes",
            "Formal Shoes",
            "Flats",
            "Heels",
            "Sandals",
            "Sports Sandals",
            "Flip Flops",
            "Booties",
        ],
    ),
    ("shorts", &["Shorts", "Lounge Shorts", "Swimwear", "Trunk"]),
    ("skirt", &["Skirts"]),
    ("t-shirt", &["Tshirts", "Tops"]),
];

/// The catalogue articleTypes of `kind`, or `None` for an unknown kind.
pub fn kind_types(kind: &str) -> Option<&'static [&'static str]> {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t)
}

/// One shopper photo: its file and its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShopperPhoto {
    /// The photo's kind (its folder's name).
    pub kind: String,
    /// The file.
    pub path: PathBuf,
}

impl ShopperPhoto {
    /// The photo's id: `<kind>/<file stem>`, what the split rule reads.
    pub fn id(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{stem}", self.kind)
    }
}

/// The images in the kind folders of `dir` (folders named after a kind of
/// [`KINDS`]; other folders are an error that lists the known kinds).
pub fn shopper_photos(dir: &Path) -> Result<Vec<ShopperPhoto>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if !path.is_dir() {
            continue;
        }
        let kind = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if kind_types(&kind).is_none() {
            return Err(Error::InvalidArgument(format!(
                "{}: `{kind}` is not a photo kind of the protocol ({})",
                path.display(),
                KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
            )));
        }
        for file in std::fs::read_dir(&path).at(&path)? {
            let file = file.at(&path)?.path();
            if crate::catalog::has_image_extension(&file) {
                out.push(ShopperPhoto {
                    kind: kind.clone(),
                    path: file,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{}: no photos in kind folders (`<kind>/*.jpg`, kinds: {})",
            dir.display(),
            KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
        )));
    }
    out.sort();
    Ok(out)
}

/// The figures of one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindReport {
    /// Photos of this kind.
    pub n: usize,
    /// Share whose first hit is of the kind.
    pub p1: f32,
    /// Mean share of the 10 hits that are of the kind.
    pub p10: f32,
    /// Share whose recognised articleType (first guess) is of the kind;
    /// `None` without a head.
    pub recognised: Option<f32>,
}

/// The protocol's figures: per kind, and their macro averages.
#[derive(Debug, Clone, Serialize)]
pub struct ShopperReport {
    /// Photos evaluated.
    pub photos: usize,
    /// Mean P@1 over the kinds.
    pub macro_p1: f32,
    /// Mean P@10 over the kinds.
    pub macro_p10: f32,
    /// Mean recognition accuracy over the kinds (`None` without a head).
    pub macro_recognised: Option<f32>,
    /// Per kind.
    pub kinds: BTreeMap<String, KindReport>,
    /// Photos searched whole, as packshots (the rest by their located
    /// product).
    pub searched_whole: usize,
    /// Photos that could not be read, with why (skipped, not counted).
    pub skipped: Vec<(String, String)>,
}

/// What one photo scored.
struct PhotoScore {
    kind: String,
    p1: f32,
    p10: f32,
    recognised: Option<bool>,
    whole: bool,
}

/// Runs the protocol: each photo uploaded whole, judged on its 10 hits.
pub fn evaluate_photos(
    target: &dyn SearchTarget,
    embedder: &Embedder,
    photos: &[ShopperPhoto],
    req: &SearchRequest,
) -> Result<ShopperReport> {
    let req = SearchRequest {
        k: 10,
        filters: Vec::new(),
        ..req.clone()
    };
    let limits = DecodeLimits::default();
    let scored: Vec<std::result::Result<PhotoScore, (String, String)>> = photos
        .par_iter()
        .map(|photo| {
            let types = kind_types(&photo.kind).unwrap_or(&[]);
            let run = || -> Result<PhotoScore> {
                let bytes = std::fs::read(&photo.path).at(&photo.path)?;
                let q = embed_upload(target, embedder, &bytes, &limits, None)?;
                let results = target.search(&Query::Embedding(&q.embedding), &req)?;
                let relevant = |labels: &crate::catalog::Labels| {
                    labels
                        .get("articleType")
                        .is_some_and(|t| types.contains(&t))
                };
                let hits = &results.hits;
                let p1 = hits.first().is_some_and(|h| relevant(&h.labels));
                let p10 = hits.iter().filter(|h| relevant(&h.labels)).count() as f32 / 10.0;
                let recognised = recognise(target, &results, 1).map(|r| {
                    r.iter()
                        .find(|(field, _)| field == "articleType")
                        .and_then(|(_, g)| g.first())
                        .is_some_and(|g| types.contains(&g.label.as_str()))
                });
                Ok(PhotoScore {
                    whole: q.scene == crate::imaging::Scene::Packshot,
                    kind: photo.kind.clone(),
                    p1: f32::from(u8::from(p1)),
                    p10,
                    recognised,
                })
            };
            run().map_err(|e| (photo.path.display().to_string(), e.to_string()))
        })
        .collect();
    let mut kinds: BTreeMap<String, (KindReport, usize)> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut searched_whole = 0;
    for s in scored {
        match s {
            Ok(s) => {
                searched_whole += usize::from(s.whole);
                let (k, rec) = kinds.entry(s.kind).or_default();
                k.n += 1;
                k.p1 += s.p1;
                k.p10 += s.p10;
                if let Some(r) = s.recognised {
                    *k.recognised.get_or_insert(0.0) += f32::from(u8::from(r));
                    *rec += 1;
                }
            }
            Err(e) => skipped.push(e),
        }
    }
    let kinds: BTreeMap<String, KindReport> = kinds
        .into_iter()
        .map(|(kind, (mut k, rec))| {
            let n = k.n.max(1) as f32;
            k.p1 /= n;
            k.p10 /= n;
            k.recognised = k.recognised.map(|r| r / rec.max(1) as f32);
            (kind, k)
        })
        .collect();
    let m = kinds.len().max(1) as f32;
    let macro_recognised = if kinds.values().all(|k| k.recognised.is_some()) && !kinds.is_empty() {
        Some(kinds.values().filter_map(|k| k.recognised).sum::<f32>() / m)
    } else {
        None
    };
    Ok(ShopperReport {
        photos: kinds.values().map(|k| k.n).sum(),
        macro_p1: kinds.values().map(|k| k.p1).sum::<f32>() / m,
        macro_p10: kinds.values().map(|k| k.p10).sum::<f32>() / m,
        macro_recognised,
        kinds,
        searched_whole,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_types_and_kinds_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (kind, types) in KINDS {
            assert!(seen.insert(*kind), "{kind} twice");
            assert!(!types.is_empty());
        }
        assert_eq!(kind_types("skirt"), Some(&["Skirts"][..]));
        assert_eq!(kind_types("sock"), None);
    }

    #[test]
    fn photo_folders_are_read_and_strangers_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hat")).unwrap();
        std::fs::write(dir.path().join("hat/a.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("hat/notes.txt"), b"x").unwrap();
        let photos = shopper_photos(dir.path()).unwrap();
        assert_eq!(photos.len(), 1);
        assert_eq!(photos[0].id(), "hat/a");
        std::fs::create_dir(dir.path().join("socks")).unwrap();
        let e = shopper_photos(dir.path()).unwrap_err().to_string();
        assert!(e.contains("`socks` is not a photo kind"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(shopper_photos(empty.path()).is_err());
    }
}
