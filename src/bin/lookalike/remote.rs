//! `--qdrant URL[,URL..] --collection NAME --kit DIR`: search a Qdrant
//! collection instead of the local index (README "Scale-out").

#[cfg(feature = "qdrant")]
use std::path::PathBuf;

#[cfg(feature = "qdrant")]
use anyhow::Context;
use anyhow::Result;
use lookalike::store::Store;

/// Where `search`, `eval` and `serve` read the catalogue from.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// Search this Qdrant cluster instead of the local index: its nodes'
    /// `http://host:port` REST URLs, comma-separated (tried in turn).
    #[cfg(feature = "qdrant")]
    #[arg(long, value_name = "URL[,URL..]", env = "LOOKALIKE_QDRANT")]
    pub qdrant: Option<String>,
    /// The Qdrant collection.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value = "lookalike", requires = "qdrant")]
    pub collection: String,
    /// With --qdrant: the kit (model record and head, a few MB) that
    /// `lookalike index --qdrant` wrote; an index directory serves too.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value = KIT, env = "LOOKALIKE_KIT", requires = "qdrant")]
    pub kit: PathBuf,
}

/// Where `index --qdrant` writes the kit, and where searches look for it.
#[cfg(feature = "qdrant")]
pub const KIT: &str = "./lookalike-kit";

impl RemoteArgs {
    /// Fails, saying what to do, unless the kit is there.
    #[cfg(feature = "qdrant")]
    pub fn check_kit(&self, urls: &str) -> Result<()> {
        anyhow::ensure!(
            self.kit.join("manifest.json").is_file(),
            "no kit in {}: `lookalike index CATALOG --qdrant {urls}` writes one there \
             (or pass --kit; an index directory serves too)",
            self.kit.display()
        );
        Ok(())
    }

    /// The collection of `--qdrant`, checked against its kit, else the
    /// local index in `index_dir`.
    pub fn open(&self, index_dir: &std::path::Path) -> Result<Store> {
        #[cfg(feature = "qdrant")]
        if let Some(urls) = &self.qdrant {
            self.check_kit(urls)?;
            return Store::open_qdrant(urls, &self.collection, &self.kit)
                .with_context(|| format!("opening Qdrant collection `{}`", self.collection));
        }
        Ok(Store::open_local(index_dir)?)
    }
}
