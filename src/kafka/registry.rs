//! Schema registry: the Confluent REST API over HTTP, or a `file:` registry with the same
//! semantics (subjects, versions, global ids, BACKWARD compatibility, refusal of an
//! incompatible schema) for the embedded setup. Ids are cached in memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The subject of a topic's value schema.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// Checks BACKWARD compatibility: data written with `previous` must be readable with `new`.
pub fn backward_compatible(previous: &Schema, new: &Schema) -> std::result::Result<(), String> {
    SchemaCompatibility::can_read(previous, new).map_err(|e| e.to_string())
}

#[derive(Debug)]
enum Backend {
    Http {
        base: String,
        client: reqwest::Client,
    },
    File {
        path: PathBuf,
    },
}

/// A registry client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    backend: Arc<Backend>,
    by_id: Arc<Mutex<HashMap<u32, Arc<Schema>>>>,
}

/// The `file:` registry's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FileState {
    next_id: u32,
    schemas: BTreeMap<u32, String>,
    /// subject → schema ids, version 1 first.
    subjects: BTreeMap<String, Vec<u32>>,
    compatibility: BTreeMap<String, String>,
}

impl Registry {
    /// `http(s)://host:port[/prefix]` or `file:PATH`.
    pub fn open(url: &str) -> Result<Registry> {
        let backend = if url.starts_with("http://") || url.starts_with("https://") {
            Backend::Http {
                base: url.trim_end_matches('/').to_string(),
                client: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(15))
                    .build()
                    .map_err(|e| Error::Config(format!("schema registry client: {e}")))?,
            }
        } else if let Some(path) = url.strip_prefix("file:") {
            Backend::File {
                path: PathBuf::from(path.trim_start_matches("//")),
            }
        } else {
            return Err(Error::Config(format!(
                "schema registry `{url}`: use http(s)://host:port or file:PATH"
            )));
        };
        Ok(Registry {
            backend: Arc::new(backend),
            by_id: Arc::default(),
        })
    }

    /// Checks that the registry exists before anything is read through it: a `file:` registry
    /// whose file is missing would make every message look like an unknown schema id, so it is
    /// a configuration error; an HTTP registry must answer (`GET /subjects`).
    pub async fn check_exists(&self) -> Result<()> {
        match &*self.backend {
            Backend::File { path } => {
                if path.is_file() {
                    Ok(())
                } else {
                    Err(Error::Config(format!(
                        "schema registry file {} does not exist: point --schema-registry \
                         (OLISTLAKE_SCHEMA_REGISTRY) at the registry the producer registered its \
                         schemas in",
                        path.display()
                    )))
                }
            }
            Backend::Http { base, client } => {
                get_json(client, &format!("{base}/subjects")).await?;
                Ok(())
            }
        }
    }

    /// Registers `schema` under `subject` (idempotent: an identical schema keeps its id) and
    /// returns its global id. An incompatible schema is refused with its reason.
    pub async fn register(&self, subject: &str, schema: &Schema) -> Result<u32> {
        // The full JSON, not the parsing canonical form: that one drops logical types.
        let text = serde_json::to_string(schema)
            .map_err(|e| Error::InvalidInput(format!("schema to JSON: {e}")))?;
        let id = match &*self.backend {
            Backend::Http { base, client } => {
                let url = format!("{base}/subjects/{subject}/versions");
                let resp = client
                    .post(&url)
                    .header("Content-Type", CONTENT_TYPE)
                    .json(&serde_json::json!({ "schema": text }))
                    .send()
                    .await
                    .map_err(|e| unreachable(&url, e))?;
                let status = resp.status();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                match status.as_u16() {
                    200 => body["id"].as_u64().ok_or_else(|| Error::Catalog(format!("registry answered without id: {body}")))? as u32,
                    409 => {
                        return Err(Error::InvalidInput(format!(
                            "schema for {subject} is incompatible with the registered versions (409): {}",
                            body["message"].as_str().unwrap_or_default()
                        )));
                    }
                    code => return Err(registry_error(code, &url, &body)),
                }
            }
            Backend::File { path } => self.with_file(path, |st| {
                let ids = st.subjects.get(subject).cloned().unwrap_or_default();
                for id in &ids {
                    if st.schemas.get(id) == Some(&text) {
                        return Ok(*id);
                    }
                }
                if let Some(last) = ids.last() {
                    let level = st.compatibility.get(subject).map(String::as_str).unwrap_or("BACKWARD");
                    if level != "NONE" {
                        let previous = Schema::parse_str(&st.schemas[last])
                            .map_err(|e| Error::Catalog(format!("registry file holds a bad schema {last}: {e}")))?;
                        backward_compatible(&previous, schema).map_err(|why| {
                            Error::InvalidInput(format!(
                                "schema for {subject} is incompatible with version {} (BACKWARD): {why}",
                                ids.len()
                            ))
                        })?;
                    }
                }
                let id = match st.schemas.iter().find(|(_, s)| **s == text) {
                    Some((id, _)) => *id,
                    None => {
                        st.next_id += 1;
                        st.schemas.insert(st.next_id, text.clone());
                        st.next_id
                    }
                };
                st.subjects.entry(subject.to_string()).or_default().push(id);
                st.compatibility.entry(subject.to_string()).or_insert_with(|| "BACKWARD".into());
                Ok(id)
            })?,
        };
        self.by_id
            .lock()
            .expect("cache lock")
            .insert(id, Arc::new(schema.clone()));
        Ok(id)
    }

    /// Sets a subject's compatibility level (`BACKWARD`, `NONE`, …).
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Result<()> {
        match &*self.backend {
            Backend::Http { base, client } => {
                let url = format!("{base}/config/{subject}");
                let resp = client
                    .put(&url)
                    .header("Content-Type", CONTENT_TYPE)
                    .json(&serde_json::json!({ "compatibility": level }))
                    .send()
                    .await
                    .map_err(|e| unreachable(&url, e))?;
                if !resp.status().is_success() {
                    let code = resp.status().as_u16();
                    let body = resp.json().await.unwrap_or_default();
                    return Err(registry_error(code, &url, &body));
                }
                Ok(())
            }
            Backend::File { path } => self.with_file(path, |st| {
                st.compatibility
                    .insert(subject.to_string(), level.to_string());
                Ok(())
            }),
        }
    }

    /// The schema with this global id (the writer schema of a message).
    pub async fn schema_by_id(&self, id: u32) -> Result<Option<Arc<Schema>>> {
        if let Some(s) = self.by_id.lock().expect("cache lock").get(&id) {
            return Ok(Some(s.clone()));
        }
        let text = match &*self.backend {
            Backend::Http { base, client } => get_json(client, &format!("{base}/schemas/ids/{id}"))
                .await?
                .and_then(|body| body["schema"].as_str().map(str::to_string)),
            Backend::File { path } => read_file(path)?.schemas.get(&id).cloned(),
        };
        let Some(text) = text else { return Ok(None) };
        let schema =
            Arc::new(Schema::parse_str(&text).map_err(|e| {
                Error::Catalog(format!("registry schema {id} does not parse: {e}"))
            })?);
        self.by_id
            .lock()
            .expect("cache lock")
            .insert(id, schema.clone());
        Ok(Some(schema))
    }

    /// Id and schema of a subject's latest version.
    pub async fn latest(&self, subject: &str) -> Result<Option<(u32, Schema)>> {
        let found = match &*self.backend {
            Backend::Http { base, client } => get_json(
                client,
                &format!("{base}/subjects/{subject}/versions/latest"),
            )
            .await?
            .and_then(|body| {
                body["id"]
                    .as_u64()
                    .zip(body["schema"].as_str().map(str::to_string))
                    .map(|(i, s)| (i as u32, s))
            }),
            Backend::File { path } => {
                let st = read_file(path)?;
                st.subjects
                    .get(subject)
                    .and_then(|ids| ids.last())
                    .map(|id| (*id, st.schemas[id].clone()))
            }
        };
        found
            .map(|(id, text)| {
                Schema::parse_str(&text)
                    .map(|s| (id, s))
                    .map_err(|e| Error::Catalog(format!("registry schema {id}: {e}")))
            })
            .transpose()
    }

    /// Runs `f` on the file registry's state under an exclusive lock, saving it atomically
    /// (a new file renamed over the old one, which is what lets readers go without a lock).
    fn with_file<T>(
        &self,
        path: &PathBuf,
        f: impl FnOnce(&mut FileState) -> Result<T>,
    ) -> Result<T> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(io_at(&lock_path))?;
        lock.lock().map_err(io_at(&lock_path))?;
        let mut state = read_file(path)?;
        let before = serde_json::to_vec(&state).unwrap_or_default();
        let out = f(&mut state)?;
        let after = serde_json::to_vec_pretty(&state).unwrap_or_default();
        if serde_json::to_vec(&state).unwrap_or_default() != before {
            let tmp = path.with_extension("tmp");
            let mut file = File::create(&tmp).map_err(io_at(&tmp))?;
            file.write_all(&after).map_err(io_at(&tmp))?;
            file.sync_all().map_err(io_at(&tmp))?;
            std::fs::rename(&tmp, path).map_err(io_at(path))?;
        }
        lock.unlock().map_err(io_at(&lock_path))?;
        Ok(out)
    }
}

/// The file registry's state as last saved. Lookups take no lock (saves replace the file
/// whole), so consumers can read a registry they may not write, e.g. a read-only mount.
fn read_file(path: &Path) -> Result<FileState> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Catalog(format!("schema registry file {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileState::default()),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// An I/O error that names the registry file it happened on (its kind kept for the exit code).
fn io_at(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("schema registry file {}: {e}", path.display()),
        ))
    }
}

/// GET a registry resource: the JSON body on 200, None on 404 (Confluent's "not found"
/// answers), an error otherwise.
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Option<serde_json::Value>> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| unreachable(url, e))?;
    match resp.status().as_u16() {
        200 => Ok(Some(resp.json().await.unwrap_or_default())),
        404 => Ok(None),
        code => {
            let body = resp.json().await.unwrap_or_default();
            Err(registry_error(code, url, &body))
        }
    }
}

fn unreachable(url: &str, e: reqwest::Error) -> Error {
    Error::RegistryUnreachable {
        url: url.to_string(),
        message: e.to_string(),
    }
}

fn registry_error(code: u16, url: &str, body: &serde_json::Value) -> Error {
    let msg = format!(
        "schema registry {url} answered {code}: {}",
        body["message"].as_str().unwrap_or(&body.to_string())
    );
    if code >= 500 {
        Error::RegistryUnreachable {
            url: url.to_string(),
            message: msg,
        }
    } else {
        Error::InvalidInput(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(extra: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":["null","string"],"default":null}}{extra}]}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn file_registry_versions_ids_and_compatibility() {
        let dir = tempfile::TempDir::new().unwrap();
        let reg =
            Registry::open(&format!("file:{}", dir.path().join("reg.json").display())).unwrap();
        let v1 = schema("");
        let id1 = reg.register("t-value", &v1).await.unwrap();
        assert_eq!(
            reg.register("t-value", &v1).await.unwrap(),
            id1,
            "same schema, same id"
        );
        // adding an optional field with a default is BACKWARD compatible
        let v2 = schema(r#",{"name":"b","type":["null","int"],"default":null}"#);
        let id2 = reg.register("t-value", &v2).await.unwrap();
        assert_ne!(id1, id2);
        assert_eq!(reg.latest("t-value").await.unwrap().unwrap().0, id2);
        // a new required field without default is not
        let bad = schema(r#",{"name":"c","type":"int"}"#);
        let e = reg.register("t-value", &bad).await.unwrap_err().to_string();
        assert!(e.contains("incompatible"), "{e}");
        // another process sees the same ids
        let other =
            Registry::open(&format!("file:{}", dir.path().join("reg.json").display())).unwrap();
        assert_eq!(
            other
                .schema_by_id(id1)
                .await
                .unwrap()
                .unwrap()
                .canonical_form(),
            v1.canonical_form()
        );
        assert!(other.schema_by_id(999).await.unwrap().is_none());
        // NONE lets anything through
        reg.set_compatibility("t-value", "NONE").await.unwrap();
        reg.register("t-value", &bad).await.unwrap();
    }

    /// Consumers only look schemas up: they write nothing beside the registry file, so a
    /// registry on a read-only mount serves them (the jobs' containers mount it so).
    #[tokio::test]
    async fn file_registry_lookups_write_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("file:{}", dir.path().join("reg.json").display());
        let id = Registry::open(&url)
            .unwrap()
            .register("t-value", &schema(""))
            .await
            .unwrap();
        std::fs::remove_file(dir.path().join("reg.lock")).unwrap();
        let reader = Registry::open(&url).unwrap();
        reader.check_exists().await.unwrap();
        assert!(reader.schema_by_id(id).await.unwrap().is_some());
        assert_eq!(reader.latest("t-value").await.unwrap().unwrap().0, id);
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["reg.json"], "a lookup wrote beside the registry");
    }
}
