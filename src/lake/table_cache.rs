//! A SQL catalog that parses each table metadata file once per process.
//!
//! A run loads the same table several times (creating missing columns, the read session, each
//! commit attempt, the consistency check of another job's run), and every load of the crate's
//! SQL catalog reads and parses the table's whole `metadata.json`. That file lists every
//! snapshot the table keeps: after a daily catch-up of the timeline it is ~1.3 MB per table, and
//! parsing it is most of what makes a late day cost more than an early one.
//!
//! Metadata files are immutable (a commit writes a new one and swaps the catalog's pointer), so
//! a loaded table stays valid for as long as the catalog still points at its file. Every load
//! asks the catalog database for the pointer (one indexed query, as the crate's catalog does)
//! and parses only when the pointer moved. A cached `Table` also keeps its manifest cache, so a
//! table read twice in a run does not read its manifests twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error as IcebergError, ErrorKind, Namespace, NamespaceIdent, Result, Runtime,
    TableCommit, TableCreation, TableIdent,
};

use super::catalog::MetadataPointer;

/// The tables this process has parsed, by identifier, each with the metadata file it was read
/// from. Shared by the catalog (loads) and the publisher (commits it made).
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadedTables(Arc<Mutex<HashMap<TableIdent, Table>>>);

impl LoadedTables {
    fn get(&self, ident: &TableIdent, location: &str) -> Option<Table> {
        let loaded = self.0.lock().expect("table cache lock");
        loaded
            .get(ident)
            .filter(|t| t.metadata_location() == Some(location))
            .cloned()
    }

    fn remember(&self, table: &Table) {
        let mut loaded = self.0.lock().expect("table cache lock");
        loaded.insert(table.identifier().clone(), table.clone());
    }

    fn forget(&self, ident: &TableIdent) {
        self.0.lock().expect("table cache lock").remove(ident);
    }

    /// Records that this process published `metadata` at `location` for `base`'s table, so the
    /// next load of it reads nothing back.
    pub(crate) fn published(&self, base: &Table, metadata: TableMetadata, location: &str) {
        let Ok(runtime) = Runtime::try_current() else {
            return;
        };
        let table = Table::builder()
            .file_io(base.file_io().clone())
            .identifier(base.identifier().clone())
            .metadata_location(location)
            .metadata(metadata)
            .runtime(runtime)
            .build();
        match table {
            Ok(table) => self.remember(&table),
            Err(_) => self.forget(base.identifier()),
        }
    }
}

/// The crate's SQL catalog with every `load_table` answered from the tables already parsed
/// when the catalog's pointer has not moved.
#[derive(Debug)]
pub(crate) struct CachedCatalog {
    inner: Arc<dyn Catalog>,
    pointer: MetadataPointer,
    loaded: LoadedTables,
}

impl CachedCatalog {
    pub(crate) fn new(
        inner: Arc<dyn Catalog>,
        pointer: MetadataPointer,
        loaded: LoadedTables,
    ) -> CachedCatalog {
        CachedCatalog {
            inner,
            pointer,
            loaded,
        }
    }
}

fn pointer_error(ident: &TableIdent, e: crate::error::Error) -> IcebergError {
    IcebergError::new(
        ErrorKind::Unexpected,
        format!("reading the metadata location of {ident}: {e}"),
    )
}

#[async_trait]
impl Catalog for CachedCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn load_table(&self, ident: &TableIdent) -> Result<Table> {
        let location = self
            .pointer
            .current(ident)
            .await
            .map_err(|e| pointer_error(ident, e))?;
        if let Some(location) = &location
            && let Some(table) = self.loaded.get(ident, location)
        {
            return Ok(table);
        }
        // Not cached, moved, or not a table: the crate's catalog reads it (or says why not).
        let table = self.inner.load_table(ident).await?;
        self.loaded.remember(&table);
        Ok(table)
    }

    async fn drop_table(&self, ident: &TableIdent) -> Result<()> {
        self.loaded.forget(ident);
        self.inner.drop_table(ident).await
    }

    async fn purge_table(&self, ident: &TableIdent) -> Result<()> {
        self.loaded.forget(ident);
        self.inner.purge_table(ident).await
    }

    async fn table_exists(&self, ident: &TableIdent) -> Result<bool> {
        self.inner.table_exists(ident).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.loaded.forget(src);
        self.loaded.forget(dest);
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, ident: &TableIdent, metadata_location: String) -> Result<Table> {
        self.loaded.forget(ident);
        self.inner.register_table(ident, metadata_location).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.loaded.forget(commit.identifier());
        self.inner.update_table(commit).await
    }
}
