//! The resume journal: embeddings computed by a run that has not committed yet.
//!
//! Each embedded image is appended as one self-checking record, keyed by the
//! BLAKE3 of its bytes. If the run is interrupted (Ctrl-C, crash, `kill -9`),
//! the next run reads the complete records back, drops a torn tail, and embeds
//! only what is missing. The journal is deleted once a generation is committed.
//!
//! ```text
//! header:  b"LKJ1" | fingerprint BLAKE3 (32 bytes) | dim (u32 LE)
//! record:  content hash (32 bytes) | dim x f32 LE | first 8 bytes of BLAKE3(hash | floats)
//! ```

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::embedding::EmbedderFingerprint;
use crate::error::{IoResultExt, Result};

const MAGIC: &[u8; 4] = b"LKJ1";
const HEADER: usize = 4 + 32 + 4;

/// A content hash (BLAKE3 of the image bytes).
pub type ContentHash = [u8; 32];

/// An open journal, appending.
pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    dim: usize,
    unsynced: usize,
}

fn fingerprint_hash(fp: &EmbedderFingerprint) -> [u8; 32] {
    let json = serde_json::to_vec(fp).unwrap_or_default();
    *blake3::hash(&json).as_bytes()
}

fn check(hash: &ContentHash, floats: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(hash);
    h.update(floats);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

impl Journal {
    /// Opens (or creates) the journal at `path` for vectors of length `dim`
    /// made by `fp`, returning the complete records it already holds.
    ///
    /// A journal written by another embedder is discarded; a torn last record
    /// is cut off.
    pub fn open(
        path: &Path,
        fp: &EmbedderFingerprint,
        dim: usize,
    ) -> Result<(Journal, HashMap<ContentHash, Vec<f32>>)> {
        let want = fingerprint_hash(fp);
        let mut records = HashMap::new();
        let mut valid_len = 0u64;
        if let Ok(mut f) = File::open(path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).at(path)?;
            let header_ok = bytes.len() >= HEADER
                && &bytes[..4] == MAGIC
                && bytes[4..36] == want
                && u32::from_le_bytes([bytes[36], bytes[37], bytes[38], bytes[39]]) as usize == dim;
            if header_ok {
                valid_len = HEADER as u64;
                let rec = 32 + dim * 4 + 8;
                for chunk in bytes[HEADER..].chunks_exact(rec) {
                    let (hash, rest) = chunk.split_at(32);
                    let (floats, sum) = rest.split_at(dim * 4);
                    let mut h = [0u8; 32];
                    h.copy_from_slice(hash);
                    if check(&h, floats) != sum {
                        break;
                    }
                    records.insert(h, bytemuck::pod_collect_to_vec(floats));
                    valid_len += rec as u64;
                }
            } else if !bytes.is_empty() {
                tracing::info!(
                    "{}: journal from another model or format, starting afresh",
                    path.display()
                );
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .at(path)?;
        if valid_len == 0 {
            file.set_len(0).at(path)?;
            file.write_all(MAGIC).at(path)?;
            file.write_all(&want).at(path)?;
            file.write_all(&(dim as u32).to_le_bytes()).at(path)?;
            valid_len = HEADER as u64;
        } else {
            file.set_len(valid_len).at(path)?;
        }
        file.seek(SeekFrom::Start(valid_len)).at(path)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                out: BufWriter::with_capacity(1 << 20, file),
                dim,
                unsynced: 0,
            },
            records,
        ))
    }

    /// Appends one embedding. Records reach the disk on [`Journal::sync`]
    /// (called every 256 records and at the end).
    pub fn append(&mut self, hash: &ContentHash, row: &[f32]) -> Result<()> {
        debug_assert_eq!(row.len(), self.dim);
        let floats: &[u8] = bytemuck::cast_slice(row);
        let sum = check(hash, floats);
        self.out.write_all(hash).at(&self.path)?;
        self.out.write_all(floats).at(&self.path)?;
        self.out.write_all(&sum).at(&self.path)?;
        self.unsynced += 1;
        if self.unsynced >= 256 {
            self.sync()?;
        }
        Ok(())
    }

    /// Flushes and fsyncs what was appended.
    pub fn sync(&mut self) -> Result<()> {
        self.out.flush().at(&self.path)?;
        self.out.get_ref().sync_data().at(&self.path)?;
        self.unsynced = 0;
        Ok(())
    }

    /// Deletes the journal (after a successful commit).
    pub fn remove(self) -> Result<()> {
        let path = self.path.clone();
        drop(self);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(crate::Error::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::{ColourSpec, TensorLayout};
    use crate::imaging::Fit;

    pub(crate) fn fp(model: &str) -> EmbedderFingerprint {
        EmbedderFingerprint {
            model: model.into(),
            model_hash: "0".into(),
            input_size: [8, 8],
            fit: Fit::Letterbox,
            layout: TensorLayout::Nchw,
            mean: [0.0; 3],
            std: [1.0; 3],
            output: "o".into(),
            cnn_dim: 2,
            colour: ColourSpec::default(),
            taps: Vec::new(),
            head_colour: None,
            pipeline_version: 1,
        }
    }

    #[test]
    fn records_survive_reopen_and_torn_tails_are_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.bin");
        let (mut j, old) = Journal::open(&path, &fp("a"), 3).expect("open");
        assert!(old.is_empty());
        j.append(&[1; 32], &[1.0, 2.0, 3.0]).expect("append");
        j.append(&[2; 32], &[4.0, 5.0, 6.0]).expect("append");
        j.sync().expect("sync");
        drop(j);

        // Simulate a crash in the middle of a third record.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[3; 32]);
        bytes.extend_from_slice(&[0; 5]);
        std::fs::write(&path, &bytes).expect("write");

        let (mut j, old) = Journal::open(&path, &fp("a"), 3).expect("reopen");
        assert_eq!(old.len(), 2);
        assert_eq!(old[&[2; 32]], vec![4.0, 5.0, 6.0]);
        j.append(&[3; 32], &[7.0, 8.0, 9.0]).expect("append");
        j.sync().expect("sync");
        drop(j);
        let (_, old) = Journal::open(&path, &fp("a"), 3).expect("reopen");
        assert_eq!(old.len(), 3);

        // A corrupted record ends the valid prefix.
        let mut bytes = std::fs::read(&path).expect("read");
        let second = HEADER + (32 + 12 + 8) + 40;
        bytes[second] ^= 0xFF;
        std::fs::write(&path, &bytes).expect("write");
        let (_, old) = Journal::open(&path, &fp("a"), 3).expect("reopen");
        assert_eq!(old.len(), 1);
    }

    #[test]
    fn another_models_journal_is_discarded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.bin");
        let (mut j, _) = Journal::open(&path, &fp("a"), 3).expect("open");
        j.append(&[1; 32], &[1.0, 2.0, 3.0]).expect("append");
        j.sync().expect("sync");
        drop(j);
        let (_, old) = Journal::open(&path, &fp("b"), 3).expect("open");
        assert!(old.is_empty());
        let (_, old) = Journal::open(&path, &fp("b"), 3).expect("open");
        assert!(old.is_empty());
    }
}
