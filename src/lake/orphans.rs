//! Orphan data files: Parquet files under a table's `data/` that no snapshot references —
//! left by a writer killed between writing its files and committing, or by a job whose checks
//! failed after the files were written elsewhere. Only files older than a cutoff are removed,
//! so a writer still working is never robbed of its files.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use iceberg::TableIdent;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use super::Lake;
use crate::config::Warehouse;
use crate::error::{Error, Result};

/// What `remove_orphan_files` found (and removed unless `dry_run`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrphanOutcome {
    pub table: String,
    pub data_files_listed: usize,
    pub referenced: usize,
    pub orphans: Vec<String>,
    pub deleted: usize,
}

fn listing_error(e: object_store::Error) -> Error {
    Error::StorageUnreachable {
        location: String::new(),
        message: e.to_string(),
    }
}

/// A client of the warehouse's store (`object_store`, the object-store crate DataFusion is
/// built on), and paths relative to its root: `/` for a local warehouse, the bucket for S3.
fn store(lake: &Lake) -> Result<Arc<dyn ObjectStore>> {
    let cfg = lake.config();
    Ok(match &cfg.warehouse {
        Warehouse::Local(_) => Arc::new(LocalFileSystem::new()),
        Warehouse::S3 { bucket, .. } => {
            // The same endpoint, region and credentials the lake's FileIO uses.
            let prop = |k: &str| cfg.storage_props.get(k).cloned().unwrap_or_default();
            let region = Some(prop("s3.region")).filter(|r| !r.is_empty());
            let mut b = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region.unwrap_or_else(|| "us-east-1".into()))
                .with_access_key_id(prop("s3.access-key-id"))
                .with_secret_access_key(prop("s3.secret-access-key"));
            let endpoint = prop("s3.endpoint");
            if !endpoint.is_empty() {
                b = b
                    .with_endpoint(&endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            Arc::new(
                b.build()
                    .map_err(|e| Error::Config(format!("S3 store: {e}")))?,
            )
        }
    })
}

/// `file:///a/b` → `a/b`; `s3://bucket/a/b` → `a/b`: the store's path of a location.
fn op_path(location: &str) -> String {
    let rest = location
        .strip_prefix("file://")
        .or_else(|| {
            location
                .strip_prefix("s3://")
                .or_else(|| location.strip_prefix("s3a://"))
                .map(|r| r.split_once('/').map_or("", |(_, p)| p))
        })
        .unwrap_or(location);
    rest.trim_start_matches('/').to_string()
}

pub(super) async fn remove_orphan_files(
    lake: &Lake,
    ident: &TableIdent,
    older_than: Duration,
    dry_run: bool,
) -> Result<OrphanOutcome> {
    let table = lake.table(ident).await?;
    let location = table
        .metadata()
        .location()
        .trim_end_matches('/')
        .to_string();
    let mut referenced = HashSet::new();
    let snapshots: Vec<i64> = table
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();
    for id in snapshots {
        for f in lake.data_files(ident, Some(id)).await? {
            referenced.insert(op_path(&f.path));
        }
    }
    let store = store(lake)?;
    let dir = ObjectPath::from(op_path(&format!("{location}/data")));
    let cutoff = SystemTime::now() - older_than;
    let mut out = OrphanOutcome {
        table: ident.to_string(),
        referenced: referenced.len(),
        ..Default::default()
    };
    let mut listing = store.list(Some(&dir));
    let mut orphans = Vec::new();
    while let Some(entry) = listing.next().await {
        let meta = match entry {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => break,
            Err(e) => return Err(listing_error(e)),
        };
        out.data_files_listed += 1;
        let path = meta.location.to_string();
        if referenced.contains(&path) {
            continue;
        }
        if SystemTime::from(meta.last_modified) < cutoff {
            orphans.push(meta.location);
        }
    }
    for location in orphans {
        if !dry_run {
            store.delete(&location).await.map_err(listing_error)?;
            out.deleted += 1;
        }
        out.orphans.push(location.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::op_path;

    #[test]
    fn paths_relative_to_the_store() {
        assert_eq!(
            op_path("file:///tmp/w/t/data/a.parquet"),
            "tmp/w/t/data/a.parquet"
        );
        assert_eq!(op_path("/tmp/w/t"), "tmp/w/t");
        assert_eq!(op_path("s3://lake/wh/ns/t/data/x"), "wh/ns/t/data/x");
    }
}
