//! The Iceberg catalog — SQL (SQLite or PostgreSQL) or REST — and how a commit is published.
//!
//! Tables are created and loaded through the crates' catalogs (`iceberg-catalog-sql`,
//! `iceberg-catalog-rest`). The project builds each new table metadata itself
//! (`commit.rs`); [`Publisher`] then makes it current:
//! - SQL catalog: the JDBC catalog protocol. Write a new `metadata.json`, then
//!   `UPDATE iceberg_tables SET metadata_location = new WHERE … AND metadata_location = old`.
//!   Zero rows updated means another writer won the race. This is the statement the crate,
//!   Spark's JdbcCatalog and pyiceberg's SqlCatalog all use, so every client sees every commit.
//! - REST catalog: the REST `commitTable` request, with the metadata changes as its updates and
//!   the base it was built on as its requirements (`assert-table-uuid`, `assert-ref-snapshot-id`
//!   on `main`, `assert-current-schema-id`, `assert-last-assigned-field-id`); the server writes
//!   the metadata file. 409 means another writer won; 5xx means the outcome is unknown.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg::spec::{MAIN_BRANCH, TableMetadataBuildResult};
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, MetadataLocation, TableIdent, TableRequirement};
use iceberg_catalog_rest::RestCatalogBuilder;
use iceberg_catalog_sql::SqlCatalogBuilder;
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use super::table_cache::{CachedCatalog, LoadedTables};
use crate::config::{CatalogUri, LakeConfig, Warehouse};
use crate::error::{Error, Result};

/// The catalog table of the JDBC/SQL catalog protocol.
const CATALOG_TABLE: &str = "iceberg_tables";

/// The storage of the lake's files: the iceberg crate's local file system storage for a local
/// warehouse (plain blocking reads and writes, each file synced on close), OpenDAL's S3 for an
/// S3 one. OpenDAL's file system service hands every open, read and close to tokio's blocking
/// pool; on a full refresh reading ~6,000 small bronze files those thread hand-offs cost more
/// than the reads (which come from the page cache). A REST catalog's tables live where its
/// server says, so it keeps the scheme-resolving OpenDAL storage.
pub(crate) fn storage_factory(cfg: &LakeConfig) -> Arc<dyn StorageFactory> {
    match (&cfg.catalog, &cfg.warehouse) {
        (CatalogUri::Rest(_), _) | (_, Warehouse::S3 { .. }) => {
            Arc::new(OpenDalResolvingStorageFactory::new())
        }
        (_, Warehouse::Local(_)) => Arc::new(LocalFsStorageFactory),
    }
}

/// Opens the catalog: the database of a SQL catalog (creating a SQLite file's directory when
/// needed), or a REST catalog's configuration. An unreachable catalog is `CatalogUnreachable`
/// (retryable).
pub(crate) async fn open(cfg: &LakeConfig) -> Result<(Arc<dyn Catalog>, Publisher)> {
    if let CatalogUri::Rest(uri) = &cfg.catalog {
        return open_rest(cfg, uri).await;
    }
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
            message: source.to_string(),
        })?;

    let bind_style = match cfg.catalog {
        CatalogUri::Postgres(_) => "DollarNumeric",
        _ => "QMark",
    };
    let mut props: HashMap<String, String> = cfg.storage_props.clone();
    props.insert("uri".into(), url);
    props.insert("warehouse".into(), cfg.warehouse.url());
    props.insert("sql_bind_style".into(), bind_style.into());
    props.insert("pool.max-connections".into(), "4".into());
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(storage_factory(cfg))
        .load(cfg.catalog_name.clone(), props)
        .await
        .map_err(|e| Error::Catalog(format!("opening {}: {e}", cfg.catalog.redacted())))?;

    let pointer = MetadataPointer {
        pool,
        catalog_name: cfg.catalog_name.clone(),
        dollar: matches!(cfg.catalog, CatalogUri::Postgres(_)),
    };
    let loaded = LoadedTables::default();
    let catalog = CachedCatalog::new(Arc::new(catalog), pointer.clone(), loaded.clone());
    Ok((Arc::new(catalog), Publisher::Sql(pointer, loaded)))
}

async fn open_rest(cfg: &LakeConfig, uri: &str) -> Result<(Arc<dyn Catalog>, Publisher)> {
    let committer = RestCommitter::connect(uri, &cfg.rest.0).await?;
    // The crate's client does the reads, table creation and namespaces; the storage
    // properties configure the FileIO of the tables it loads.
    let mut props: HashMap<String, String> = cfg.storage_props.clone();
    props.extend(cfg.rest.0.clone());
    props.insert("uri".into(), uri.to_string());
    let factory: Arc<dyn StorageFactory> = Arc::new(OpenDalResolvingStorageFactory::new());
    let catalog = RestCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(cfg.catalog_name.clone(), props)
        .await
        .map_err(|e| Error::Catalog(format!("opening {}: {e}", cfg.catalog.redacted())))?;
    Ok((Arc::new(catalog), Publisher::Rest(committer)))
}

/// How a new table metadata is made current.
#[derive(Debug, Clone)]
pub(crate) enum Publisher {
    /// The catalog's pointer, and the tables this process has loaded (a published commit is
    /// added, so reading the table again parses nothing).
    Sql(MetadataPointer, LoadedTables),
    Rest(RestCommitter),
}

/// What publishing a commit came to.
pub(crate) enum Published {
    /// The table now points at this metadata file.
    Won(String),
    /// Another writer changed the table first; nothing of this attempt is left behind.
    Lost,
}

impl Publisher {
    /// Publishes `built`, made from `base`'s metadata, if the table has not moved since.
    pub(crate) async fn publish(
        &self,
        base: &Table,
        built: TableMetadataBuildResult,
    ) -> Result<Published> {
        let ident = base.identifier();
        let old = base
            .metadata_location()
            .ok_or_else(|| Error::Catalog(format!("{ident} has no metadata location")))?;
        match self {
            Publisher::Sql(pointer, loaded) => {
                let location = MetadataLocation::from_str(old)?
                    .with_next_version()
                    .with_new_metadata(&built.metadata);
                built.metadata.write_to(base.file_io(), &location).await?;
                let location = location.to_string();
                if pointer.swap(ident, old, &location).await? {
                    // Iceberg's delete-after-commit: the metadata files that fell off the
                    // log (`write.metadata.previous-versions-max`) are no one's history now
                    let dropped: Vec<String> = if deletes_old_metadata(&built.metadata) {
                        let logs = built.expired_metadata_logs.iter();
                        logs.map(|l| l.metadata_file.clone()).collect()
                    } else {
                        Vec::new()
                    };
                    loaded.published(base, built.metadata, &location);
                    for file in dropped {
                        if let Err(e) = base.file_io().delete(&file).await {
                            tracing::debug!(table = %ident, "old metadata file {file} not deleted: {e}");
                        }
                    }
                    Ok(Published::Won(location))
                } else {
                    let _ = base.file_io().delete(&location).await;
                    Ok(Published::Lost)
                }
            }
            Publisher::Rest(rest) => rest.commit(base, built).await,
        }
    }
}

/// Iceberg's table property: delete the metadata files that fall off the metadata log
/// (`write.metadata.previous-versions-max`, default 100) when a commit publishes a new one.
pub const DELETE_AFTER_COMMIT: &str = "write.metadata.delete-after-commit.enabled";

/// Whether commits to a table delete its old metadata files ([`DELETE_AFTER_COMMIT`]; off
/// unless set, as in Iceberg).
fn deletes_old_metadata(md: &iceberg::spec::TableMetadata) -> bool {
    md.properties()
        .get(DELETE_AFTER_COMMIT)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Publishes commits with the REST `commitTable` request (`POST …/namespaces/{ns}/tables/{t}`).
/// The crate's catalog keeps its commit request private (`TableCommit`'s builder), so the
/// request is made here, with the same authentication.
#[derive(Clone)]
pub(crate) struct RestCommitter {
    http: reqwest::Client,
    /// `{uri}/v1[/{prefix}]`
    base: String,
    /// `Authorization` header value, when the catalog wants one.
    auth: Option<String>,
    redacted: String,
}

impl std::fmt::Debug for RestCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestCommitter")
            .field("base", &self.redacted)
            .finish_non_exhaustive()
    }
}

impl RestCommitter {
    /// Authenticates (a bearer `token`, or a `credential` exchanged for one with the OAuth2
    /// client-credentials grant) and reads the server's configuration (`GET /v1/config`) for the
    /// path `prefix`.
    async fn connect(uri: &str, props: &HashMap<String, String>) -> Result<RestCommitter> {
        let redacted = crate::config::redact_url(uri);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Catalog(format!("REST client: {e}")))?;
        let auth = match (props.get("token"), props.get("credential")) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, Some(credential)) => {
                let (id, secret) = credential
                    .split_once(':')
                    .unwrap_or(("", credential.as_str()));
                let endpoint = props
                    .get("oauth2-server-uri")
                    .cloned()
                    .unwrap_or_else(|| format!("{uri}/v1/oauth/tokens"));
                let mut form = vec![
                    ("grant_type", "client_credentials".to_string()),
                    ("client_secret", secret.to_string()),
                    (
                        "scope",
                        props
                            .get("scope")
                            .cloned()
                            .unwrap_or_else(|| "catalog".into()),
                    ),
                ];
                if !id.is_empty() {
                    form.push(("client_id", id.to_string()));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let request = http
                    .post(&endpoint)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                let token = json_answer(request, &redacted, "OAuth2 token request").await?;
                let token = token["access_token"].as_str().ok_or_else(|| {
                    Error::Catalog(format!("{redacted}: OAuth2 response has no access_token"))
                })?;
                Some(format!("Bearer {token}"))
            }
            (None, None) => None,
        };
        let config_url = match props.get("warehouse") {
            Some(w) => format!("{uri}/v1/config?warehouse={}", form_encode(w)),
            None => format!("{uri}/v1/config"),
        };
        let mut request = http.get(config_url);
        if let Some(a) = &auth {
            request = request.header("authorization", a);
        }
        let config = json_answer(request, &redacted, "GET /v1/config").await?;
        // overrides win over the client's settings, which win over defaults (the REST spec)
        let prefix = config["overrides"]["prefix"]
            .as_str()
            .or(props.get("prefix").map(String::as_str))
            .or(config["defaults"]["prefix"].as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let base = match prefix {
            Some(p) => format!("{uri}/v1/{p}"),
            None => format!("{uri}/v1"),
        };
        Ok(RestCommitter {
            http,
            base,
            auth,
            redacted,
        })
    }

    async fn commit(&self, base: &Table, built: TableMetadataBuildResult) -> Result<Published> {
        let ident = base.identifier();
        let md = base.metadata();
        let requirements = vec![
            TableRequirement::UuidMatch { uuid: md.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN_BRANCH.to_string(),
                snapshot_id: md.current_snapshot_id(),
            },
            TableRequirement::CurrentSchemaIdMatch {
                current_schema_id: md.current_schema_id(),
            },
            TableRequirement::LastAssignedFieldIdMatch {
                last_assigned_field_id: md.last_column_id(),
            },
        ];
        let body = serde_json::json!({
            "identifier": {"namespace": ident.namespace().as_ref(), "name": ident.name()},
            "requirements": requirements,
            "updates": built.changes,
        });
        let url = format!(
            "{}/namespaces/{}/tables/{}",
            self.base,
            form_encode(&ident.namespace().join("\u{1f}")),
            form_encode(ident.name())
        );
        let mut request = self.http.post(url).json(&body);
        if let Some(a) = &self.auth {
            request = request.header("authorization", a);
        }
        // Once the request is sent, a lost answer leaves the outcome unknown: the commit may
        // have happened. Only a refused connection is known not to have committed.
        let resp = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Error::CatalogUnreachable {
                    uri: self.redacted.clone(),
                    message: e.without_url().to_string(),
                });
            }
            Err(e) => {
                return Err(Error::CommitStateUnknown {
                    table: ident.to_string(),
                    message: e.without_url().to_string(),
                });
            }
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            200 => {
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| Error::CommitStateUnknown {
                        table: ident.to_string(),
                        message: format!("unreadable commit response: {e}"),
                    })?;
                let location = v["metadata-location"].as_str().unwrap_or_default();
                Ok(Published::Won(location.to_string()))
            }
            409 => Ok(Published::Lost),
            // Iceberg's REST spec: 500, 502, 504 (and timeouts) on commit mean the state is
            // unknown; 503 means the server did not take the request.
            503 => Err(http_error(&self.redacted, "commitTable", status, &text)),
            500..=599 => Err(Error::CommitStateUnknown {
                table: ident.to_string(),
                message: format!("HTTP {status}: {}", error_message(&text)),
            }),
            _ => Err(Error::Catalog(format!(
                "{ident}: commit refused by {}: HTTP {status}: {}",
                self.redacted,
                error_message(&text)
            ))),
        }
    }
}

/// Sends `request` and reads its JSON answer: no answer is `CatalogUnreachable`, an error status
/// is [`http_error`]'s, a body that is not JSON names `what`.
async fn json_answer(
    request: reqwest::RequestBuilder,
    redacted: &str,
    what: &str,
) -> Result<serde_json::Value> {
    let unreachable = |e: reqwest::Error| Error::CatalogUnreachable {
        uri: redacted.to_string(),
        message: e.without_url().to_string(),
    };
    let resp = request.send().await.map_err(unreachable)?;
    let status = resp.status();
    let text = resp.text().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(http_error(redacted, what, status, &text));
    }
    serde_json::from_str(&text).map_err(|e| Error::Catalog(format!("{redacted}: {what}: {e}")))
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `error.message` of an Iceberg REST error response, or the body's start.
fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// 5xx: the catalog is unavailable (retryable); anything else: refused (fatal).
fn http_error(redacted: &str, what: &str, status: reqwest::StatusCode, text: &str) -> Error {
    let message = format!("{what}: HTTP {status}: {}", error_message(text));
    if status.is_server_error() {
        Error::CatalogUnreachable {
            uri: redacted.to_string(),
            message,
        }
    } else {
        Error::Catalog(format!("{redacted}: {message}"))
    }
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

    /// The metadata file the catalog points at for `table` (None: no such table).
    pub(crate) async fn current(&self, table: &TableIdent) -> Result<Option<String>> {
        let sql = self.sql(&format!(
            "SELECT metadata_location FROM {CATALOG_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        ));
        let namespace = table.namespace().join(".");
        let row: Option<(Option<String>,)> = sqlx::query_as(&sql)
            .bind(&self.catalog_name)
            .bind(&namespace)
            .bind(table.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| {
                Error::Catalog(format!("reading the metadata location of {table}: {e}"))
            })?;
        Ok(row.and_then(|(location,)| location))
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
