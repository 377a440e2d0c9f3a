//! olistlake: idempotent batch jobs that turn a replayed Olist e-commerce event stream into an
//! Apache Iceberg lakehouse (bronze → silver → gold).
//!
//! Modules, one concern each:
//! - [`config`]: flags and environment shared by every binary;
//! - [`lake`]: the Iceberg catalog, table definitions, writes with append / partition
//!   overwrite / replace commits, SQL reads, snapshots and maintenance;
//! - [`transform`]: the silver and gold jobs (SQL models in `jobs/`, scoping, checks);
//! - [`job`]: the batch-job contract (interval, run id, exit codes, JSON summary);
//! - [`error`]: typed errors and their exit codes;
//! - [`avro_names`]: Avro name checks without a regex (Iceberg manifests are Avro).

pub mod avro_names;
pub mod cli;
pub mod config;
pub mod error;
pub mod job;
pub mod kafka;
pub mod lake;
pub mod metrics;
pub mod olist;
pub mod transform;

pub use error::{Error, Exit, Result};

/// The allocator of every binary (and test) linking the library: mimalloc, as DataFusion's own
/// CLI uses. The jobs allocate and free buffers per column per batch, and glibc's allocator
/// spent a tenth of a day run's CPU on it (`perf`: malloc, free and their chunk bookkeeping).
/// It keeps more memory resident (about 60 MiB more for a run). It would also ask the kernel
/// for transparent huge pages; the lake programs turn them off ([`job::without_huge_pages`]:
/// zeroing and compacting memory for them cost more than they saved).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
