//! olistlake: idempotent batch jobs that turn a replayed Olist e-commerce event stream into an
//! Apache Iceberg lakehouse (bronze → silver → gold).
//!
//! Modules, one concern each:
//! - [`config`]: flags and environment shared by every binary;
//! - [`lake`]: the Iceberg catalog, table definitions, writes with append / partition
//!   overwrite / replace commits, SQL reads, snapshots and maintenance;
//! - [`transform`]: the silver and gold jobs (SQL models in `jobs/`, scoping, checks);
//! - [`job`]: the batch-job contract (interval, run id, exit codes, JSON summary);
//! - [`error`]: typed errors and their exit codes.

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
