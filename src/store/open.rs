//! Opens the stores a configuration names.

use std::sync::Arc;

use super::fs::FsBlobStore;
use super::postgres::PgMetaStore;
use super::sqlite::SqliteMetaStore;
use super::{BlobStore, MetaStore, Result};
use crate::config::store::{Blobs, Metadata};
use crate::config::Config;

/// The blob store `config` names, created if it is the embedded one.
pub async fn blobs(config: &Config) -> Result<Arc<dyn BlobStore>> {
    match &config.store.blobs {
        Blobs::Fs => Ok(Arc::new(FsBlobStore::open(&config.data_dir.join("blobs"))?)),
        Blobs::S3 {
            bucket,
            endpoint,
            region,
        } => Ok(Arc::new(super::s3::s3(
            bucket,
            endpoint.as_deref(),
            region,
        )?)),
    }
}

/// The metadata store `config` names, its schema brought up to date.
pub async fn meta(config: &Config) -> Result<Arc<dyn MetaStore>> {
    match &config.store.metadata {
        Metadata::Sqlite => Ok(Arc::new(
            SqliteMetaStore::open(&config.data_dir.join("meta.sqlite")).await?,
        )),
        Metadata::Postgres(url) => Ok(Arc::new(PgMetaStore::connect(url).await?)),
    }
}
