//! Helpers of the admin CLI: rendering, input files, and the lake self-check.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, Date32Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Exit, Result};
use crate::job::{JobRun, parse_instant};
use crate::lake::{CommitKind, Lake, ReadAt, SnapshotInfo, TableStats, tables};

/// Reads Parquet files whole; errors name the file.
pub fn read_parquet_files(files: &[PathBuf]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for path in files {
        let file = File::open(path)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| {
                Error::InvalidInput(format!("{}: not a Parquet file: {e}", path.display()))
            })?;
        for batch in reader {
            out.push(batch.map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?);
        }
    }
    Ok(out)
}

/// `7d`, `12h`, `30m`, `10s` before now, or an ISO 8601 instant → epoch ms.
pub fn parse_cutoff(s: &str) -> Result<i64> {
    let now = Utc::now().timestamp_millis();
    let unit = s.chars().last().unwrap_or(' ');
    let number = &s[..s.len().saturating_sub(1)];
    let factor = match unit {
        'd' => Some(86_400_000),
        'h' => Some(3_600_000),
        'm' => Some(60_000),
        's' => Some(1_000),
        _ => None,
    };
    if let (Some(f), Ok(n)) = (factor, number.parse::<i64>()) {
        return Ok(now - n * f);
    }
    Ok(parse_instant(s)?.and_utc().timestamp_millis())
}

/// A size: bytes (`1048576`) or with a binary or decimal unit (`512MiB`, `64MB`, `8KiB`, `1GiB`).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if factor > 0 && n > 0 => Ok(n * factor),
        _ => Err(Error::Config(format!(
            "`{s}` is not a size (e.g. 134217728, 128MiB, 64MB)"
        ))),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

fn human_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub fn render_tables(stats: &[TableStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<42} {:>12} {:>7} {:>11} {:>6}  {:<20} {:<10} snapshot",
        "table", "rows", "files", "size", "snaps", "last commit (UTC)", "operation"
    );
    for s in stats {
        let _ = writeln!(
            out,
            "{:<42} {:>12} {:>7} {:>11} {:>6}  {:<20} {:<10} {}",
            s.table,
            s.rows,
            s.files,
            human_bytes(s.size_bytes),
            s.snapshots,
            s.last_commit_ms
                .map(human_time)
                .unwrap_or_else(|| "-".into()),
            s.last_operation.clone().unwrap_or_else(|| "-".into()),
            s.current_snapshot_id
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    out
}

pub fn render_snapshots(snaps: &[SnapshotInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<20} {:<20} {:>4} {:<20} {:<10} {:>9} {:>9} {:>11}  job / run",
        "snapshot",
        "parent",
        "seq",
        "committed (UTC)",
        "operation",
        "+records",
        "-records",
        "total",
    );
    for s in snaps {
        let g = |k: &str| s.summary.get(k).cloned().unwrap_or_else(|| "0".into());
        let job = match (
            s.summary.get("olistlake.job"),
            s.summary.get("olistlake.run-id"),
        ) {
            (Some(j), Some(r)) => format!("{j} / {r}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{} {:<20} {:<20} {:>4} {:<20} {:<10} {:>9} {:>9} {:>11}  {}",
            if s.is_current { "*" } else { " " },
            s.snapshot_id,
            s.parent_id
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            s.sequence_number,
            human_time(s.timestamp_ms),
            s.operation,
            g("added-records"),
            g("deleted-records"),
            g("total-records"),
            job
        );
    }
    out
}

/// One JSON object per row.
pub fn batches_to_json_lines(batches: &[RecordBatch]) -> Result<String> {
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        writer.write_batches(&refs)?;
        writer.finish()?;
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn check_batch(days: &[(&str, i64)], run_id: &str) -> Result<RecordBatch> {
    let mut day = Vec::new();
    let mut id = Vec::new();
    let mut value = Vec::new();
    let mut amount = Vec::new();
    for (d, n) in days {
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("valid literal date");
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        for i in 0..*n {
            day.push((date - epoch).num_days() as i32);
            id.push(i);
            value.push(format!("{d}#{i}"));
            amount.push(i as i128 * 101 + 99); // cents
        }
    }
    let n = id.len();
    Ok(RecordBatch::try_from_iter(vec![
        ("day", Arc::new(Date32Array::from(day)) as Arc<dyn Array>),
        ("id", Arc::new(Int64Array::from(id))),
        ("value", Arc::new(StringArray::from(value))),
        (
            "amount",
            Arc::new(Decimal128Array::from(amount).with_precision_and_scale(18, 2)?),
        ),
        ("run_id", Arc::new(StringArray::from(vec![run_id; n]))),
    ])?)
}

async fn counts_per_day(lake: &Lake, at: &ReadAt) -> Result<BTreeMap<String, i64>> {
    let batches = lake
        .sql(
            "SELECT CAST(day AS VARCHAR) AS d, COUNT(*) AS n FROM ops.self_check GROUP BY day ORDER BY day",
            at,
        )
        .await?;
    let mut out = BTreeMap::new();
    for b in &batches {
        let d = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
        let d = d.as_any().downcast_ref::<StringArray>().expect("utf8");
        let n = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Int64)?;
        let n = n.as_any().downcast_ref::<Int64Array>().expect("int64");
        for i in 0..b.num_rows() {
            out.insert(d.value(i).to_string(), n.value(i));
        }
    }
    Ok(out)
}

fn expect_counts(step: &str, got: &BTreeMap<String, i64>, want: &[(&str, i64)]) -> Result<()> {
    let want: BTreeMap<String, i64> = want.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    if *got != want {
        return Err(Error::InvalidInput(format!(
            "self-check failed after {step}: rows per day {got:?}, expected {want:?}"
        )));
    }
    tracing::info!("self-check: {step}: rows per day as expected {got:?}");
    Ok(())
}

/// Creates every table, then exercises the three commit kinds and time travel on
/// `ops.self_check`, checking the rows after each step. Safe to re-run: it starts with a
/// replace.
pub async fn self_check(lake: &Lake, run: &mut JobRun) -> Result<Exit> {
    lake.ensure_tables(tables::ALL).await?;
    let ident = tables::OPS_SELF_CHECK.ident();
    let ctx = run.commit_context();
    let rid = run.run_id.clone();

    let first = [("2017-11-23", 100), ("2017-11-24", 250), ("2017-11-25", 80)];
    let c = lake
        .write(
            &ident,
            CommitKind::Replace,
            &[check_batch(&first, &rid)?],
            &ctx,
        )
        .await?;
    let first_snapshot = c.snapshot_id;
    run.commits.push(c);
    expect_counts(
        "replace",
        &counts_per_day(lake, &ReadAt::current()).await?,
        &first,
    )?;

    let batch = check_batch(&[("2017-11-24", 40)], &rid)?;
    let parts = lake
        .partitions_of(&ident, std::slice::from_ref(&batch))
        .await?;
    let c = lake
        .write(
            &ident,
            CommitKind::OverwritePartitions(parts),
            &[batch],
            &ctx,
        )
        .await?;
    run.commits.push(c);
    expect_counts(
        "overwrite of 2017-11-24",
        &counts_per_day(lake, &ReadAt::current()).await?,
        &[("2017-11-23", 100), ("2017-11-24", 40), ("2017-11-25", 80)],
    )?;

    let c = lake
        .write(
            &ident,
            CommitKind::Append,
            &[check_batch(&[("2017-11-26", 7)], &rid)?],
            &ctx,
        )
        .await?;
    run.commits.push(c);
    let now = counts_per_day(lake, &ReadAt::current()).await?;
    expect_counts(
        "append of 2017-11-26",
        &now,
        &[
            ("2017-11-23", 100),
            ("2017-11-24", 40),
            ("2017-11-25", 80),
            ("2017-11-26", 7),
        ],
    )?;

    let then = counts_per_day(lake, &ReadAt::snapshot(&ident.to_string(), first_snapshot)).await?;
    expect_counts("time travel to the first snapshot", &then, &first)?;

    let total: i64 = now.values().sum();
    run.metric("rows", total);
    run.metric("snapshots_checked", 4);
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("128MiB").unwrap(), 128 << 20);
        assert_eq!(parse_size("64MB").unwrap(), 64_000_000);
        assert_eq!(parse_size("8 KiB").unwrap(), 8192);
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn cutoffs() {
        let now = Utc::now().timestamp_millis();
        let d = parse_cutoff("7d").unwrap();
        assert!((now - 7 * 86_400_000 - d).abs() < 5_000);
        assert!((parse_cutoff("0s").unwrap() - now).abs() < 5_000);
        assert_eq!(parse_cutoff("2020-01-01").unwrap(), 1_577_836_800_000);
        assert!(parse_cutoff("soon").is_err());
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
