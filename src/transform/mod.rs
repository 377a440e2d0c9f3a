//! The silver and gold transforms: SQL models in `jobs/` (compiled into the binaries), run by
//! DataFusion over the lake, scoped to the partitions a data interval touches, checked, then
//! committed one atomic snapshot per table.
//!
//! A run, for every job:
//! 1. pins the current snapshot of every table it reads (recorded in each commit);
//! 2. creates the views of its prelude files: what the interval touched (`jobs/scope.sql`),
//!    the latest CDC copy of each entity (`jobs/staging.sql`), job-specific inputs;
//! 3. computes each model's whole result, in order (a model can read the earlier ones);
//! 4. picks what to rewrite: the partitions holding rows that match the model's scope
//!    predicate, in the new result or in the table as it is; `--full-refresh` and `scope: all`
//!    rewrite the whole table;
//! 5. runs every model's checks on the rows to be written; an error-level failure stops the
//!    job before any commit (exit 1);
//! 6. commits each table: overwrite of those partitions (other partitions keep their files),
//!    or a replace.
//!
//! Because every rewritten partition is recomputed from all the data it depends on, re-running
//! an interval gives the same content, and running every interval of a range in any order gives
//! what one full refresh gives.

pub mod functions;
pub mod jobs;
pub mod model;
mod runner;
pub mod state;

pub use jobs::{GOLD_BCG, GOLD_LEADTIME, JobSpec, SILVER_BUILD};
pub use model::{Check, Level, Model, Scope};
pub use runner::{CheckResult, Options, run};

use crate::config::LakeArgs;
use crate::error::Exit;
use crate::job::JobArgs;

/// `--category`, shared by gold-bcg and gold-leadtime.
#[derive(clap::Args, Debug, Clone)]
pub struct CategoryArg {
    /// Product category of the BCG portfolio (English name, as in silver).
    #[arg(long, env = "OLISTLAKE_BCG_CATEGORY", default_value = "health_beauty")]
    pub category: String,
}

/// The whole `main` of a transform binary: parses the flags every job takes (and
/// `--category` for the gold jobs), then runs `spec` as job `spec.name`.
pub async fn main(spec: &'static JobSpec) -> Exit {
    use clap::{Args, FromArgMatches};

    let mut cli = clap::Command::new(spec.name);
    if spec.category {
        cli = CategoryArg::augment_args(cli);
    }
    // after the flattened groups, whose doc comments would set their own `about`
    let matches = LakeArgs::augment_args(JobArgs::augment_args(cli))
        .version(env!("CARGO_PKG_VERSION"))
        .about(spec.about)
        .get_matches();
    let parsed = (|| {
        let opts = match spec.category {
            true => Options {
                category: CategoryArg::from_arg_matches(&matches)?.category,
            },
            false => Options::default(),
        };
        let job = JobArgs::from_arg_matches(&matches)?;
        Ok::<_, clap::Error>((opts, job, LakeArgs::from_arg_matches(&matches)?))
    })();
    let (opts, job, lake) = parsed.unwrap_or_else(|e| e.exit());
    crate::job::run_with_lake(spec.name, &job, &lake, |lake, run| {
        Box::pin(async move { runner::run(lake, spec, &opts, run).await })
    })
    .await
}
