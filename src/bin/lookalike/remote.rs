//! `--qdrant URL[,URL..] --collection NAME --kit DIR`: search a Qdrant
//! collection instead of the local index (README "Scale-out").

#[cfg(feature = "qdrant")]
use std::path::PathBuf;

#[cfg(feature = "qdrant")]
use anyhow::Context;
use anyhow::Result;
use lookalike::search::SearchTarget;
use lookalike::Index;

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

/// What a command searches.
pub enum Target {
    /// The local index.
    Local(Box<Index>),
    /// A Qdrant collection.
    #[cfg(feature = "qdrant")]
    Remote(Box<lookalike::qdrant::QdrantCatalogue>),
}

impl Target {
    /// The catalogue as the search API sees it.
    pub fn get(&self) -> &dyn SearchTarget {
        match self {
            Target::Local(i) => i.as_ref(),
            #[cfg(feature = "qdrant")]
            Target::Remote(r) => r.as_ref(),
        }
    }

    /// Number of products.
    pub fn len(&self) -> Result<usize> {
        Ok(match self {
            Target::Local(i) => i.len(),
            #[cfg(feature = "qdrant")]
            Target::Remote(r) => r.len()?,
        })
    }

    /// Every product's record (a remote collection's are read in pages).
    pub fn products(&self) -> Result<std::borrow::Cow<'_, [lookalike::index::ProductRecord]>> {
        Ok(match self {
            Target::Local(i) => std::borrow::Cow::Borrowed(i.products()),
            #[cfg(feature = "qdrant")]
            Target::Remote(r) => std::borrow::Cow::Owned(r.products()?),
        })
    }
}

impl RemoteArgs {
    /// The Qdrant collection of `--qdrant`, if given, checked against its kit.
    #[cfg(feature = "qdrant")]
    pub fn open_remote(&self) -> Result<Option<lookalike::qdrant::QdrantCatalogue>> {
        let Some(urls) = &self.qdrant else {
            return Ok(None);
        };
        self.check_kit(urls)?;
        let nodes = lookalike::qdrant::QdrantNodes::for_search(urls)?;
        let cat = lookalike::qdrant::QdrantCatalogue::open(nodes, &self.collection, &self.kit)
            .with_context(|| format!("opening Qdrant collection `{}`", self.collection))?;
        Ok(Some(cat))
    }

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

    /// The collection of `--qdrant`, else the local index in `index_dir`.
    pub fn open(&self, index_dir: &std::path::Path) -> Result<Target> {
        #[cfg(feature = "qdrant")]
        if let Some(r) = self.open_remote()? {
            return Ok(Target::Remote(Box::new(r)));
        }
        Ok(Target::Local(Box::new(Index::open(index_dir)?)))
    }
}
