//! Consistent reads across the tables of a multi-table run.
//!
//! A job commits its tables one at a time (Iceberg has no multi-table transaction), so a
//! reader that pins each table's current snapshot while silver-build is half-way through
//! would mix two silver runs. Each commit therefore names, in its summary, every table its run
//! commits ([`RUN_TABLES`]) besides the run id. A run is *complete* once each of those tables
//! holds a snapshot of it; a reader pins, per table, the newest snapshot whose run is complete
//! (or that no olistlake run announced, e.g. another engine's maintenance commit). A crashed
//! run stays incomplete until its interval is run again.

use std::collections::{HashMap, HashSet};

use iceberg::spec::{Operation, TableMetadata};

use super::summary_keys::RUN_ID;
use super::{Lake, TableDef, current_ancestry};
use crate::error::Result;

/// Snapshot-summary key: the tables (`namespace.table`, comma-separated) the commit's run commits.
pub const RUN_TABLES: &str = "olistlake.run-tables";

/// One snapshot of a table's current history: id, run id and announced tables.
struct Step {
    id: i64,
    run: Option<String>,
    run_tables: Option<Vec<String>>,
}

/// The current snapshot and its ancestors, newest first. A `replace` snapshot without a run
/// of its own (a compaction: the same rows in other files, by `rewrite-data-files` or Spark)
/// stands for the run whose rows it holds: its parent's.
fn ancestry(md: &TableMetadata) -> Vec<Step> {
    let mut out = Vec::new();
    let mut replaces = Vec::new();
    for s in current_ancestry(md) {
        let props = &s.summary().additional_properties;
        let run = props.get(RUN_ID).cloned();
        replaces.push(run.is_none() && s.summary().operation == Operation::Replace);
        out.push(Step {
            id: s.snapshot_id(),
            run,
            run_tables: props
                .get(RUN_TABLES)
                .map(|t| t.split(',').map(str::to_string).collect()),
        });
    }
    inherit_runs(&mut out, &replaces);
    out
}

/// Gives each step flagged in `replaces` the run of the step below it (newest-first steps;
/// walked oldest first, so that a chain of compactions inherits from the run beneath it).
fn inherit_runs(steps: &mut [Step], replaces: &[bool]) {
    for i in (0..steps.len().saturating_sub(1)).rev() {
        if replaces[i] {
            steps[i].run = steps[i + 1].run.clone();
            steps[i].run_tables = steps[i + 1].run_tables.clone();
        }
    }
}

/// For each table of `defs` that has a snapshot, the newest one written by a complete run
/// (`namespace.table` → snapshot id). Tables whose every snapshot belongs to an incomplete run
/// (a first run that crashed) are left out: they are read at their current snapshot.
fn complete_run_snapshots(histories: &[(String, Vec<Step>)]) -> HashMap<String, i64> {
    // run id → the tables whose history holds a snapshot of it
    let mut runs: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (table, steps) in histories {
        for run in steps.iter().filter_map(|s| s.run.as_deref()) {
            runs.entry(run).or_default().insert(table);
        }
    }
    let complete = |s: &Step| match (&s.run, &s.run_tables) {
        (Some(run), Some(tables)) => {
            let seen = &runs[run.as_str()];
            tables.iter().all(|t| seen.contains(t.as_str()))
        }
        _ => true,
    };
    histories
        .iter()
        .filter_map(|(table, steps)| {
            let pinned = steps.iter().find(|s| complete(s))?;
            Some((table.clone(), pinned.id))
        })
        .collect()
}

impl Lake {
    /// The snapshot of each table of `defs` as of the last complete run (see the module docs).
    pub async fn consistent_snapshots(&self, defs: &[&TableDef]) -> Result<HashMap<String, i64>> {
        let mut histories = Vec::new();
        for def in defs {
            let table = self.table(&def.ident()).await?;
            histories.push((def.qualified(), ancestry(table.metadata())));
        }
        Ok(complete_run_snapshots(&histories))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: i64, run: &str, tables: &str) -> Step {
        Step {
            id,
            run: Some(run.into()),
            run_tables: Some(tables.split(',').map(str::to_string).collect()),
        }
    }

    #[test]
    fn a_half_committed_run_is_not_read() {
        // run r2 announced a, b, c and has committed a and b only
        let h = vec![
            (
                "a".into(),
                vec![step(12, "r2", "a,b,c"), step(11, "r1", "a,b,c")],
            ),
            (
                "b".into(),
                vec![step(22, "r2", "a,b,c"), step(21, "r1", "a,b,c")],
            ),
            ("c".into(), vec![step(31, "r1", "a,b,c")]),
        ];
        let pinned = complete_run_snapshots(&h);
        assert_eq!(pinned["a"], 11);
        assert_eq!(pinned["b"], 21);
        assert_eq!(pinned["c"], 31);
    }

    #[test]
    fn a_run_that_commits_some_tables_is_complete_when_those_are() {
        let h = vec![
            ("a".into(), vec![step(12, "r2", "a"), step(11, "r1", "a,b")]),
            ("b".into(), vec![step(21, "r1", "a,b")]),
        ];
        let pinned = complete_run_snapshots(&h);
        assert_eq!((pinned["a"], pinned["b"]), (12, 21));
    }

    #[test]
    fn a_compaction_of_a_half_committed_run_is_not_read() {
        let compaction = |id| Step {
            id,
            run: None,
            run_tables: None,
        };
        // r2 committed a only, then a was compacted twice: a's compactions hold r2's rows
        let mut a = vec![
            compaction(14),
            compaction(13),
            step(12, "r2", "a,b"),
            step(11, "r1", "a,b"),
        ];
        inherit_runs(&mut a, &[true, true, false, false]);
        let h = vec![("a".into(), a), ("b".into(), vec![step(21, "r1", "a,b")])];
        assert_eq!(complete_run_snapshots(&h)["a"], 11);

        // once r2 has committed b too, the newest compaction is read
        let mut a = vec![compaction(14), compaction(13), step(12, "r2", "a,b")];
        inherit_runs(&mut a, &[true, true, false]);
        let h = vec![("a".into(), a), ("b".into(), vec![step(22, "r2", "a,b")])];
        assert_eq!(complete_run_snapshots(&h)["a"], 14);
    }

    #[test]
    fn foreign_commits_count_as_complete_and_a_crashed_first_run_is_left_out() {
        let foreign = Step {
            id: 13,
            run: None,
            run_tables: None,
        };
        let h = vec![
            ("a".into(), vec![foreign, step(12, "r1", "a,b")]),
            ("b".into(), vec![step(31, "r0", "b,c")]),
            ("c".into(), vec![]),
        ];
        let pinned = complete_run_snapshots(&h);
        assert_eq!(pinned.get("a"), Some(&13));
        assert_eq!(pinned.get("b"), None);
    }
}
