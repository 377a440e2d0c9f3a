//! The Iceberg SQL catalog (SQLite or PostgreSQL) and the metadata pointer swap.
//!
//! Tables are created and loaded through `iceberg-catalog-sql`. Commits are published by the
//! project itself with the JDBC catalog protocol: write a new `metadata.json`, then
//! `UPDATE iceberg_tables SET metadata_location = new WHERE … AND metadata_location = old`.
//! Zero rows updated means another writer won the race. This is the statement the crate, Spark's
//! JdbcCatalog and pyiceberg's SqlCatalog all use, so every client sees every commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use iceberg::io::StorageFactory;
use iceberg::{CatalogBuilder, TableIdent};
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::config::{CatalogUri, LakeConfig};
use crate::error::{Error, Result};

/// The catalog table of the JDBC/SQL catalog protocol.
const CATALOG_TABLE: &str = "iceberg_tables";

/// Opens the catalog database (creating a SQLite file's directory when needed), failing with
/// `CatalogUnreachable` when the database cannot be reached.
pub(crate) async fn open(cfg: &LakeConfig) -> Result<(Arc<SqlCatalog>, MetadataPointer)> {
    install_default_drivers();
    if let CatalogUri::Sqlite(path) = &cfg.catalog
        && let Some(dir) = path.parent()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "cannot create catalog directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let url = cfg.catalog.sqlx_url();
    // Connect once ourselves first: a clear, classified error beats the crate's generic one.
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|source| Error::CatalogUnreachable {
            uri: cfg.catalog.redacted(),
            source,
        })?;

    let bind_style = match cfg.catalog {
        CatalogUri::Sqlite(_) => "QMark",
        CatalogUri::Postgres(_) => "DollarNumeric",
    };
    let mut props: HashMap<String, String> = cfg.storage_props.clone();
    props.insert("uri".into(), url);
    props.insert("warehouse".into(), cfg.warehouse.url());
    props.insert("sql_bind_style".into(), bind_style.into());
    props.insert("pool.max-connections".into(), "4".into());
    let factory: Arc<dyn StorageFactory> = Arc::new(OpenDalResolvingStorageFactory::new());
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(cfg.catalog_name.clone(), props)
        .await
        .map_err(|e| Error::Catalog(format!("opening {}: {e}", cfg.catalog.redacted())))?;

    let pointer = MetadataPointer {
        pool,
        catalog_name: cfg.catalog_name.clone(),
        dollar: matches!(cfg.catalog, CatalogUri::Postgres(_)),
    };
    Ok((Arc::new(catalog), pointer))
}

/// Reads and swaps a table's metadata location in the catalog database.
#[derive(Debug, Clone)]
pub(crate) struct MetadataPointer {
    pool: AnyPool,
    catalog_name: String,
    /// PostgreSQL wants `$n` placeholders, SQLite `?`.
    dollar: bool,
}

impl MetadataPointer {
    fn sql(&self, template: &str) -> String {
        if !self.dollar {
            return template.to_string();
        }
        let mut n = 0;
        template
            .chars()
            .fold(String::with_capacity(template.len() + 8), |mut acc, c| {
                if c == '?' {
                    n += 1;
                    acc.push('$');
                    acc.push_str(&n.to_string());
                } else {
                    acc.push(c);
                }
                acc
            })
    }

    /// Compare-and-swap: publishes `new` only if the table still points at `old`.
    /// Returns false when another writer committed first.
    pub(crate) async fn swap(&self, table: &TableIdent, old: &str, new: &str) -> Result<bool> {
        let sql = self.sql(&format!(
            "UPDATE {CATALOG_TABLE} SET metadata_location = ?, previous_metadata_location = ? \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
             AND metadata_location = ?"
        ));
        let namespace = table.namespace().join(".");
        let result = sqlx::query(&sql)
            .bind(new)
            .bind(old)
            .bind(&self.catalog_name)
            .bind(&namespace)
            .bind(table.name())
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(|e| Error::Catalog(format!("swapping metadata of {table}: {e}")))?;
        Ok(result.rows_affected() == 1)
    }
}
