//! A Qdrant cluster as the store of the vectors, for catalogues past one
//! machine (issue "Scale-out"): lookalike keeps ingestion, the CNN, the
//! head and the ranking rules; the cluster holds the search rows, sharded
//! and replicated.
//!
//! * `client`: the REST API over HTTP, trying the nodes in turn, with
//!   timeouts, and errors that name the node;
//! * `collection`: the collection's shape (one vector per product, its
//!   payload indexes) and the record of the index that filled it;
//! * `filters`: label filters as Qdrant filters, with the CLI's meaning;
//! * `catalogue`: searching a collection with the local search's rules;
//! * `sync`: a local index generation written as points, kept in step on
//!   every run (only changed products are sent; removed ones deleted).

mod catalogue;
mod client;
mod collection;
mod filters;
mod sync;

pub use catalogue::QdrantCatalogue;
pub use client::{QdrantNodes, SEARCH_TIMEOUT};
pub use collection::{CollectionSpec, PAYLOAD_KEYWORDS};
pub use sync::{sync_collection, SyncReport};
