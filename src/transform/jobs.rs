//! The three transform jobs: which SQL files each runs, in which order, and what it reads.

use crate::error::Result;
use crate::transform::model::Model;

/// A SQL file compiled into the binary: `(path under jobs/, text)`.
pub type SqlFile = (&'static str, &'static str);

macro_rules! sql_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/", $path)),
        )
    };
}

/// One transform job.
#[derive(Debug)]
pub struct JobSpec {
    pub name: &'static str,
    /// The binary's one-line `--help` description.
    pub about: &'static str,
    /// Takes `--category` (the BCG portfolio's category): the gold jobs.
    pub category: bool,
    /// Files of `CREATE VIEW` statements run before the models.
    pub preludes: &'static [SqlFile],
    /// Models of another job computed here as inputs only (never committed): the job then
    /// does not depend on when that job last committed.
    pub borrowed: &'static [SqlFile],
    /// Model files, in dependency order.
    pub models: &'static [SqlFile],
    /// Figures added to the run summary, computed after the models.
    pub figures: Option<SqlFile>,
    /// Tables (or `namespace.` prefixes) whose snapshots the job reads.
    pub reads: &'static [&'static str],
    /// Sees bronze as of the interval's end (`{known}`), for the delivery monitor.
    pub as_of_end: bool,
    /// Keeps the `state.` tables (refreshes them); the other jobs only read them.
    pub keeps_state: bool,
    /// The prelude that lists the keys an interval run recomputes (`affected_*`), run on
    /// interval runs only. With it the staging views hold only those keys' copies, so each
    /// model computes exactly the rows its scope names, and the runner keeps the table's other
    /// rows in the partitions it rewrites. Every model of such a job is scoped by rows.
    pub restricted_by: Option<&'static str>,
    /// Computes the touched quarters only and the `ALL` period from the table's (its `ALL`
    /// rows less its rows of those quarters, plus their new rows: `{sales_replaced}`), and
    /// keeps the other quarters as they are (`{sales_kept}`), so silver is read for the
    /// touched quarters only (`{sales_read}`). Without it (gold-leadtime's borrowed sales,
    /// whose segments must come from its own silver snapshot) every delivered item is read.
    pub sales_from_quarters: bool,
    /// Reads the delivered items of its `--category` only (`{sales_read}`): the job borrows
    /// the sales models for that category's segments alone (gold-leadtime's monitor). Exact:
    /// the sales are grouped by category, so the category's rows are the same from its items
    /// alone, and ten times fewer items are read, aggregated and ranked.
    pub sales_of_category: bool,
}

impl JobSpec {
    pub fn models(&self) -> Result<Vec<Model>> {
        self.models
            .iter()
            .map(|(file, sql)| Model::parse(file, sql))
            .collect()
    }

    pub fn reads(&self, qualified: &str) -> bool {
        self.reads
            .iter()
            .any(|r| qualified == *r || (r.ends_with('.') && qualified.starts_with(r)))
    }
}

pub static SILVER_BUILD: JobSpec = JobSpec {
    name: "silver-build",
    about: "Rebuild the silver partitions touched by the bronze rows ingested in [--start, --end)",
    category: false,
    preludes: &[
        sql_file!("scope.sql"),
        sql_file!("silver/affected.sql"),
        sql_file!("staging.sql"),
    ],
    borrowed: &[],
    models: &[
        sql_file!("silver/order_timestamp.sql"),
        sql_file!("silver/order_product.sql"),
        sql_file!("silver/delivered_order_timestamp.sql"),
        sql_file!("silver/delivered_order_product.sql"),
        sql_file!("silver/user_location.sql"),
    ],
    figures: None,
    reads: &["bronze.", "state."],
    as_of_end: false,
    keeps_state: true,
    restricted_by: Some("silver/affected.sql"),
    sales_from_quarters: false,
    sales_of_category: false,
};

pub static GOLD_BCG: JobSpec = JobSpec {
    name: "gold-bcg",
    about: "Rebuild the sales and BCG periods touched by the data interval [--start, --end)",
    category: true,
    preludes: &[
        sql_file!("scope.sql"),
        sql_file!("staging.sql"),
        sql_file!("gold/bcg_inputs.sql"),
        sql_file!("gold/bcg_kept.sql"),
        sql_file!("gold/bcg_reviews.sql"),
    ],
    borrowed: &[],
    models: &[
        sql_file!("gold/sale_stats.sql"),
        sql_file!("gold/health_beauty_sales_stats_bcg.sql"),
        sql_file!("gold/delivered_order_product_bcg.sql"),
        sql_file!("gold/order_location.sql"),
        sql_file!("gold/review_metadata_product.sql"),
    ],
    figures: Some(sql_file!("gold/bcg_figures.sql")),
    reads: &["bronze.", "state.", "silver."],
    as_of_end: false,
    keeps_state: false,
    restricted_by: None,
    sales_from_quarters: true,
    sales_of_category: false,
};

pub static GOLD_LEADTIME: JobSpec = JobSpec {
    name: "gold-leadtime",
    about: "Rebuild lead times touched by [--start, --end) and the delivery monitor as of --end",
    category: true,
    preludes: &[
        sql_file!("scope.sql"),
        sql_file!("staging.sql"),
        sql_file!("gold/bcg_inputs.sql"),
        sql_file!("gold/monitor_inputs.sql"),
    ],
    // The monitor's segments come from the same silver snapshot as its lead times, not from
    // whatever gold-bcg (running alongside) last committed.
    borrowed: &[
        sql_file!("gold/sale_stats.sql"),
        sql_file!("gold/health_beauty_sales_stats_bcg.sql"),
    ],
    models: &[
        sql_file!("gold/timestamp_stats_wide.sql"),
        sql_file!("gold/delivery_monitor.sql"),
    ],
    figures: Some(sql_file!("gold/leadtime_figures.sql")),
    reads: &["bronze.", "state.", "silver."],
    as_of_end: true,
    keeps_state: false,
    restricted_by: None,
    sales_from_quarters: false,
    sales_of_category: true,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_model_parses_and_each_table_has_one_model() {
        let mut seen = HashSet::new();
        for job in [&SILVER_BUILD, &GOLD_BCG, &GOLD_LEADTIME] {
            for m in job.models().unwrap() {
                assert!(seen.insert(m.table.qualified()), "{} twice", m.table);
                assert!(!m.checks.is_empty(), "{} has no checks", m.file);
            }
        }
        let expected = crate::lake::tables::ALL
            .iter()
            .filter(|t| t.namespace == "silver" || t.namespace == "gold")
            .count();
        assert_eq!(seen.len(), expected);
    }

    #[test]
    fn silver_build_and_gold_bcg_stop_early_on_an_interval_that_touched_nothing() {
        // every scope of theirs is bound by the touched keys; the monitor's `scope: all` is not
        for job in [&SILVER_BUILD, &GOLD_BCG] {
            assert!(job.models().unwrap().iter().all(|m| m.needs_touched_keys));
        }
        assert!(
            !GOLD_LEADTIME
                .models()
                .unwrap()
                .iter()
                .all(|m| m.needs_touched_keys)
        );
        use super::super::model::bound_by_touched_keys as bound;
        assert!(bound("order_id IN (SELECT order_id FROM touched_orders)"));
        assert!(bound(
            "user_type = 'seller' AND user_id IN (SELECT seller_id FROM touched_sellers)"
        ));
        assert!(bound("EXISTS (SELECT 1 FROM touched_zips)"));
        assert!(bound("order_id IN (SELECT order_id FROM affected_orders)"));
        assert!(!bound("all"));
        assert!(!bound("NOT EXISTS (SELECT 1 FROM touched_zips)"));
        assert!(!bound("a = 1 OR b IN (SELECT b FROM touched_b)"));
        assert!(!bound(
            "delivered_customer >= TIMESTAMP '2017-01-01 00:00:00'"
        ));
    }

    #[test]
    fn a_restricted_job_scopes_every_model_by_rows() {
        for job in [&SILVER_BUILD, &GOLD_BCG, &GOLD_LEADTIME] {
            let Some(file) = job.restricted_by else {
                continue;
            };
            assert!(job.preludes.iter().any(|(f, _)| *f == file));
            for m in job.models().unwrap() {
                assert!(
                    matches!(m.scope, super::super::model::Scope::Rows(_)),
                    "{} is restricted but {} is not scoped by rows",
                    job.name,
                    m.file
                );
            }
        }
    }

    #[test]
    fn reads() {
        assert!(GOLD_LEADTIME.reads("bronze.order_status"));
        assert!(GOLD_LEADTIME.reads("silver.delivered_order_product"));
        assert!(!GOLD_LEADTIME.reads("gold.health_beauty_sales_stats_bcg"));
    }
}
