//! Finding the images of a catalogue on disk and pairing them with CSV rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::report::{IngestReport, ProblemKind};
use super::styles_csv::read_styles_csv;
use super::{has_image_extension, Catalog, Labels, Layout, Product};
use crate::error::{Error, Result};

/// Reads the Kaggle layout: `styles.csv` and `images/<id>.<ext>`.
///
/// Images are found by listing the image folder, never by building a path
/// from a CSV cell, so a hostile id cannot reach outside the folder.
pub(super) fn open_kaggle(root: &Path, csv: &Path) -> Result<Catalog> {
    let styles = read_styles_csv(csv)?;
    let image_dir = if root.join("images").is_dir() {
        root.join("images")
    } else {
        root.to_path_buf()
    };
    let mut report = styles.report;

    // stem -> path, for every image file directly in the image folder.
    let mut files: HashMap<String, PathBuf> = HashMap::new();
    let entries = std::fs::read_dir(&image_dir).map_err(|e| Error::io(&image_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&image_dir, e))?;
        let path = entry.path();
        if !path.is_file() || !has_image_extension(&path) {
            continue;
        }
        match path.file_stem().and_then(|s| s.to_str()) {
            Some(stem) => {
                // Two files with one stem (a.jpg, a.png): keep the first by name.
                let keep = match files.get(stem) {
                    Some(other) => path < *other,
                    None => true,
                };
                if keep {
                    files.insert(stem.to_string(), path);
                }
            }
            None => report.push(
                ProblemKind::BadFileName,
                path.display().to_string(),
                "file name is not UTF-8",
            ),
        }
    }

    let mut products = Vec::with_capacity(files.len());
    for (id, labels) in styles.rows {
        match files.remove(&id) {
            Some(image) => products.push(Product { id, image, labels }),
            None => report.push(
                ProblemKind::MissingImage,
                format!("id {id}"),
                format!("no image {}/{id}.jpg", image_dir.display()),
            ),
        }
    }
    for (id, image) in files {
        report.push(
            ProblemKind::Unlabelled,
            image.display().to_string(),
            "no row in styles.csv",
        );
        products.push(Product {
            id,
            image,
            labels: Labels::default(),
        });
    }
    products.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Catalog {
        root: root.to_path_buf(),
        layout: Layout::Kaggle,
        products,
        fields: styles.fields,
        report,
    })
}

/// Reads any folder of images recursively. Links to files are followed (a
/// shop may link its images in); links to folders are not, so a link cannot
/// pull a whole tree into the index or make the walk loop.
pub(super) fn open_plain_folder(root: &Path) -> Result<Catalog> {
    let mut report = IngestReport::default();
    let mut products = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if dir == root => return Err(Error::io(&dir, e)),
            Err(e) => {
                report.push(
                    ProblemKind::BadImage,
                    dir.display().to_string(),
                    e.to_string(),
                );
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden {
                    stack.push(path);
                }
                continue;
            }
            let is_file = ft.is_file() || (ft.is_symlink() && path.is_file());
            if !is_file || !has_image_extension(&path) {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let id = rel
                .components()
                .map(|c| c.as_os_str().to_str())
                .collect::<Option<Vec<_>>>()
                .map(|parts| parts.join("/"));
            match id {
                Some(id) => products.push(Product {
                    id,
                    image: path,
                    labels: Labels::default(),
                }),
                None => report.push(
                    ProblemKind::BadFileName,
                    path.display().to_string(),
                    "file name is not UTF-8",
                ),
            }
        }
    }
    products.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Catalog {
        root: root.to_path_buf(),
        layout: Layout::PlainFolder,
        products,
        fields: Vec::new(),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, b"x").expect("write");
    }

    #[test]
    fn kaggle_pairs_rows_and_images() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(
            root.join("styles.csv"),
            "id,articleType,productDisplayName\n1,Shirts,A\n2,Jeans,B\n2,Jeans,dup\n../../etc/passwd,X,Y\n",
        )
        .expect("csv");
        touch(&root.join("images/1.jpg"));
        touch(&root.join("images/3.JPG"));
        touch(&root.join("images/notes.txt"));
        let c = Catalog::open(root).expect("opens");
        assert_eq!(c.layout, Layout::Kaggle);
        let ids: Vec<_> = c.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
        assert_eq!(
            c.get("1").map(|p| p.labels.get("articleType")),
            Some(Some("Shirts"))
        );
        assert!(c.get("3").expect("3").labels.is_empty());
        assert_eq!(c.report.count(ProblemKind::MissingImage), 2);
        assert_eq!(c.report.count(ProblemKind::Unlabelled), 1);
        assert_eq!(c.report.count(ProblemKind::DuplicateId), 1);
    }

    #[test]
    fn plain_folder_ids_are_relative_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        touch(&root.join("a.png"));
        touch(&root.join("shoes/red/b.webp"));
        touch(&root.join(".hidden/c.jpg"));
        touch(&root.join("readme.md"));
        let c = Catalog::open(root).expect("opens");
        assert_eq!(c.layout, Layout::PlainFolder);
        let ids: Vec<_> = c.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a.png", "shoes/red/b.webp"]);
    }

    #[cfg(unix)]
    #[test]
    fn file_links_are_followed_folder_links_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        touch(&outside.join("x.jpg"));
        let root = dir.path().join("root");
        touch(&root.join("a.jpg"));
        std::os::unix::fs::symlink(outside.join("x.jpg"), root.join("linked.jpg")).expect("link");
        std::os::unix::fs::symlink(&outside, root.join("tree")).expect("link");
        std::os::unix::fs::symlink(&root, root.join("loop")).expect("link");
        let c = Catalog::open(&root).expect("opens");
        let ids: Vec<_> = c.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["a.jpg", "linked.jpg"]);
    }

    #[test]
    fn not_a_folder_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("file.jpg");
        touch(&f);
        assert!(Catalog::open(&f).is_err());
        assert!(Catalog::open(dir.path().join("absent")).is_err());
    }
}
