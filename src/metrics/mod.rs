//! Prometheus metrics. The replay producer serves `/metrics`; batch jobs push their run's
//! figures to a Pushgateway. Every metric is described in `docs/metrics.md`.

mod exposition;
pub mod jobs;
mod push;
mod serve;

pub use exposition::{Exposition, Kind};
pub use push::push;
pub use serve::serve;
