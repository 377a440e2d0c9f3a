//! Orphan data files: Parquet files under a table's `data/` that no snapshot references —
//! left by a writer killed between writing its files and committing, or by a job whose checks
//! failed after the files were written elsewhere. Only files older than a cutoff are removed,
//! so a writer still working is never robbed of its files.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use iceberg::TableIdent;
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

fn listing_error(e: opendal::Error) -> Error {
    Error::StorageUnreachable {
        location: String::new(),
        message: e.to_string(),
    }
}

/// An operator over the warehouse's storage, and the path prefix of a location in it.
fn operator(lake: &Lake) -> Result<opendal::Operator> {
    let cfg = lake.config();
    let op = match &cfg.warehouse {
        Warehouse::Local(_) => opendal::Operator::new(opendal::services::Fs::default().root("/"))
            .map_err(listing_error)?
            .finish(),
        Warehouse::S3 { bucket, .. } => {
            // The same endpoint, region and credentials the lake's FileIO uses.
            let prop = |k: &str| cfg.storage_props.get(k).cloned().unwrap_or_default();
            let mut b = opendal::services::S3::default()
                .bucket(bucket)
                .region(&prop("s3.region"))
                .access_key_id(&prop("s3.access-key-id"))
                .secret_access_key(&prop("s3.secret-access-key"));
            let endpoint = prop("s3.endpoint");
            if !endpoint.is_empty() {
                b = b.endpoint(&endpoint);
            }
            opendal::Operator::new(b).map_err(listing_error)?.finish()
        }
    };
    Ok(op)
}

/// `file:///a/b` → `a/b`; `s3://bucket/a/b` → `a/b`: the operator's path of a location.
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
    let op = operator(lake)?;
    let dir = format!("{}/data/", op_path(&location));
    let cutoff = SystemTime::now() - older_than;
    let mut out = OrphanOutcome {
        table: ident.to_string(),
        referenced: referenced.len(),
        ..Default::default()
    };
    let entries = match op.list_with(&dir).recursive(true).await {
        Ok(e) => e,
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(listing_error(e)),
    };
    for entry in entries {
        let path = entry.path().to_string();
        if path.ends_with('/') {
            continue;
        }
        out.data_files_listed += 1;
        if referenced.contains(&path) {
            continue;
        }
        let meta = op.stat(&path).await.map_err(listing_error)?;
        let old = meta
            .last_modified()
            .map(SystemTime::from)
            .is_some_and(|t| t < cutoff);
        if !old {
            continue;
        }
        if !dry_run {
            op.delete(&path).await.map_err(listing_error)?;
            out.deleted += 1;
        }
        out.orphans.push(path);
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
