//! A model is one SQL file of `jobs/`: a `SELECT` that computes a whole table, with a header
//! of directives in comments (like a dbt config block):
//!
//! ```sql
//! -- table: silver.order_product
//! -- scope: order_id IN (SELECT order_id FROM touched_orders)
//! -- check error unique: order_id, order_item_id
//! SELECT ...
//! ```
//!
//! - `table:` the target table (defined in `lake::tables`).
//! - `scope:` a predicate over the table's columns selecting the rows a run's touched keys
//!   affect; several lines are OR-ed; `scope: all` means every run rewrites the whole table.
//! - `scope within:` (optional) a predicate selecting whole partitions of the table that hold
//!   every row the scope can select, in the table as it is; an interval run of a restricted
//!   job reads only those (the rows it replaces, and the rows it keeps in the partitions it
//!   rewrites) instead of the whole table, and another job's interval run looks there only
//!   for the table's rows in scope.
//! - `check <error|warn> <kind>: <args>`, kinds: `not_null: a, b` · `unique: a, b` ·
//!   `references: a, b -> relation(x, y)` · `accepted: col IN (...)` · `expect: predicate`.
//!
//! A `_drop_reason` column, when the model has one, marks rows that are left out of the table
//! and counted by reason.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::TableDef;
use crate::lake::tables;

/// The column a model uses to leave rows out, with the reason.
pub const DROP_REASON: &str = "_drop_reason";

/// Which rows of a table a run recomputes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every run rewrites the whole table.
    All,
    /// Rows matching this predicate (in the new result or the current table) name the
    /// partitions a run overwrites.
    Rows(String),
}

/// How serious a failed check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Aborts the job before any commit.
    Error,
    /// Logged and counted.
    Warn,
}

/// One data check of a model's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    NotNull(Vec<String>),
    Unique(Vec<String>),
    References {
        columns: Vec<String>,
        relation: String,
        target: Vec<String>,
    },
    Accepted {
        column: String,
        predicate: String,
    },
    Expect(String),
}

impl Check {
    /// The condition a row violating the check meets, for the checks that look at one row at
    /// a time (`not_null`, `accepted`, `expect`): those of a table are counted in one scan.
    pub fn row_violation(&self) -> Option<String> {
        match self {
            Check::NotNull(cols) => Some(
                cols.iter()
                    .map(|c| format!("{c} IS NULL"))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            ),
            Check::Accepted { column, predicate } => {
                Some(format!("{column} IS NOT NULL AND NOT ({predicate})"))
            }
            Check::Expect(predicate) => Some(format!("NOT coalesce(({predicate}), TRUE)")),
            Check::Unique(_) | Check::References { .. } => None,
        }
    }

    /// SQL counting the rows of `relation` that violate the check (for `unique`, the keys that
    /// occur more than once).
    pub fn violations_sql(&self, relation: &str) -> String {
        if let Some(violation) = self.row_violation() {
            return format!("SELECT count(*) AS n FROM {relation} WHERE {violation}");
        }
        match self {
            Check::Unique(cols) => {
                let key = cols.join(", ");
                format!(
                    "SELECT count(*) AS n FROM (SELECT {key} FROM {relation} \
                     GROUP BY {key} HAVING count(*) > 1)"
                )
            }
            Check::References {
                columns,
                relation: target_rel,
                target,
            } => {
                let on = columns
                    .iter()
                    .zip(target)
                    .map(|(c, t)| format!("r.{t} = o.{c}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let present = columns
                    .iter()
                    .map(|c| format!("o.{c} IS NOT NULL"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!(
                    "SELECT count(*) AS n FROM {relation} o WHERE {present} AND NOT EXISTS \
                     (SELECT 1 FROM {target_rel} r WHERE {on})"
                )
            }
            Check::NotNull(_) | Check::Accepted { .. } | Check::Expect(_) => {
                unreachable!("a row check is counted above")
            }
        }
    }
}

/// SQL counting, in one scan of `relation`, the rows meeting each of `violations` (one column
/// per condition, `c0`, `c1`, …): a condition that is NULL does not count, as in a WHERE.
pub fn row_violations_sql(relation: &str, violations: &[String]) -> String {
    let counts = violations
        .iter()
        .enumerate()
        .map(|(i, v)| format!("count(CASE WHEN {v} THEN 1 END) AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {counts} FROM {relation}")
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::NotNull(c) => write!(f, "not_null({})", c.join(", ")),
            Check::Unique(c) => write!(f, "unique({})", c.join(", ")),
            Check::References {
                columns,
                relation,
                target,
            } => write!(
                f,
                "references({} -> {relation}({}))",
                columns.join(", "),
                target.join(", ")
            ),
            Check::Accepted { predicate, .. } => write!(f, "accepted({predicate})"),
            Check::Expect(p) => write!(f, "expect({p})"),
        }
    }
}

/// A parsed model file.
#[derive(Debug, Clone)]
pub struct Model {
    /// The file it came from (for error messages).
    pub file: &'static str,
    pub table: &'static TableDef,
    pub scope: Scope,
    /// Every scope line is bound by the interval's touched keys (see
    /// [`bound_by_touched_keys`]): an interval that touched no key cannot rewrite anything.
    pub needs_touched_keys: bool,
    /// Where the table's rows in scope can be (`scope within:`), unrendered.
    pub within: Option<String>,
    pub checks: Vec<(Level, Check)>,
    /// The whole file: DataFusion skips the comments.
    pub sql: &'static str,
}

/// Whether a scope line matches no row when every `touched_*` relation is empty: it reads one
/// (or an `affected_*` relation, which silver-build derives from them and is empty with them)
/// and is a plain conjunction (no `OR`, no `NOT`, which could make it true without them).
/// Conservative: a line this cannot tell about counts as not bound.
pub fn bound_by_touched_keys(line: &str) -> bool {
    let l = format!(" {} ", line.to_ascii_lowercase().replace(['(', ')'], " "));
    (l.contains(" from touched_") || l.contains(" from affected_"))
        && !l.contains(" or ")
        && !l.contains(" not ")
}

impl Model {
    /// Name the model's result is registered under for later models and checks of the job.
    pub fn name(&self) -> &'static str {
        self.table.name
    }

    pub fn parse(file: &'static str, sql: &'static str) -> Result<Model> {
        let bad = |line: usize, msg: String| Error::Model(format!("{file}:{line}: {msg}"));
        let mut table = None;
        let mut scopes = Vec::new();
        let mut within = None;
        let mut checks = Vec::new();
        for (i, line) in sql.lines().enumerate() {
            let Some(comment) = line.trim().strip_prefix("--") else {
                break;
            };
            let comment = comment.trim();
            if let Some(t) = comment.strip_prefix("table:") {
                let t = t.trim();
                table = Some(
                    tables::by_name(t).ok_or_else(|| bad(i + 1, format!("unknown table `{t}`")))?,
                );
            } else if let Some(w) = comment.strip_prefix("scope within:") {
                within = Some(w.trim().to_string());
            } else if let Some(s) = comment.strip_prefix("scope:") {
                scopes.push(s.trim().to_string());
            } else if let Some(c) = comment.strip_prefix("check ") {
                checks.push(parse_check(c).map_err(|m| bad(i + 1, m))?);
            }
        }
        let table = table.ok_or_else(|| bad(1, "no `-- table:` line in the header".into()))?;
        let needs_touched_keys = scopes.iter().all(|s| bound_by_touched_keys(s));
        let scope = match scopes.as_slice() {
            [] => return Err(bad(1, "no `-- scope:` line in the header".into())),
            [one] if one == "all" => Scope::All,
            many => Scope::Rows(
                many.iter()
                    .map(|s| format!("({s})"))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            ),
        };
        Ok(Model {
            file,
            table,
            scope,
            needs_touched_keys,
            within,
            checks,
            sql,
        })
    }
}

fn parse_check(text: &str) -> std::result::Result<(Level, Check), String> {
    let (head, args) = text
        .split_once(':')
        .ok_or_else(|| format!("check `{text}`: expected `<level> <kind>: <args>`"))?;
    let mut words = head.split_whitespace();
    let level = match words.next() {
        Some("error") => Level::Error,
        Some("warn") => Level::Warn,
        other => return Err(format!("check level must be error or warn, not {other:?}")),
    };
    let kind = words.next().unwrap_or_default();
    let args = args.trim();
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    };
    let check = match kind {
        "not_null" => Check::NotNull(list(args)),
        "unique" => Check::Unique(list(args)),
        "references" => {
            let (cols, target) = args
                .split_once("->")
                .ok_or_else(|| "references: expected `a, b -> relation(x, y)`".to_string())?;
            let target = target.trim();
            let (relation, tcols) = target
                .strip_suffix(')')
                .and_then(|t| t.split_once('('))
                .ok_or_else(|| format!("references: `{target}` is not `relation(columns)`"))?;
            let (columns, target) = (list(cols), list(tcols));
            if columns.len() != target.len() || columns.is_empty() {
                return Err("references: column lists differ in length".into());
            }
            Check::References {
                columns,
                relation: relation.trim().to_string(),
                target,
            }
        }
        "accepted" => {
            let column = args
                .split_whitespace()
                .next()
                .ok_or("accepted: expected `column IN (...)`")?
                .to_string();
            Check::Accepted {
                column,
                predicate: args.to_string(),
            }
        }
        "expect" => Check::Expect(args.to_string()),
        other => return Err(format!("unknown check kind `{other}`")),
    };
    if matches!(&check, Check::NotNull(c) | Check::Unique(c) if c.is_empty()) {
        return Err(format!("{kind}: no columns"));
    }
    Ok((level, check))
}

/// Fills `{name}` placeholders; an unknown one is an error (a typo must not reach the engine).
pub fn render(file: &str, sql: &str, params: &BTreeMap<&str, String>) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| Error::Model(format!("{file}: unclosed `{{`")))?;
        let name = &after[..close];
        let value = params
            .get(name)
            .ok_or_else(|| Error::Model(format!("{file}: unknown placeholder `{{{name}}}`")))?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The statements of a file of several: each ends with a `;` at the end of a code line
/// (comments may contain `;`).
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut has_code = false;
    for line in sql.lines() {
        let code = !line.trim().is_empty() && !line.trim_start().starts_with("--");
        has_code |= code;
        if code && line.trim_end().ends_with(';') {
            current.push_str(line.trim_end().trim_end_matches(';'));
            out.push(std::mem::take(&mut current));
            has_code = false;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if has_code {
        out.push(current);
    }
    out
}

/// A named statement of a figures file (`-- name: x` before it).
pub fn named_statements(sql: &str) -> Vec<(String, String)> {
    statements(sql)
        .into_iter()
        .map(|s| {
            let name = s
                .lines()
                .find_map(|l| l.trim().strip_prefix("-- name:"))
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|| "figures".into());
            (name, s)
        })
        .collect()
}

/// What a model reads, for [`needed_statements`]: its code (comments left out), its scope and
/// its checks (which can name relations).
pub fn reads_of(m: &Model, rendered: &str) -> String {
    let mut text = code(rendered);
    if let Scope::Rows(predicate) = &m.scope {
        text.push('\n');
        text.push_str(predicate);
    }
    // `{affected_delivery_months}` is derived from the relation of that name
    if let Some(within) = &m.within {
        text.push('\n');
        text.push_str(within);
    }
    for (_, check) in &m.checks {
        text.push('\n');
        text.push_str(&check.to_string());
    }
    text
}

/// A SQL text without its `--` comments.
pub fn code(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The relation a `CREATE TABLE <name> AS` or `CREATE VIEW <name> AS` statement defines.
pub fn defined_relation(statement: &str) -> Option<String> {
    let code = code(statement);
    let mut words = code.split_whitespace();
    let create = words.next()?;
    let kind = words.next()?;
    (create.eq_ignore_ascii_case("create")
        && (kind.eq_ignore_ascii_case("table") || kind.eq_ignore_ascii_case("view")))
    .then(|| words.next().map(|n| n.to_ascii_lowercase()))
    .flatten()
}

/// Whether `sql` names `relation` as a whole word (any case).
pub fn names_relation(sql: &str, relation: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    sql.to_ascii_lowercase()
        .split(|c: char| !word(c))
        .any(|w| w == relation)
}

/// Which of `columns` the SQL text `sql` names as a whole word (any case, quoted or not,
/// qualified or not; text in string literals left out). A superset of the columns it reads
/// (a name in a subquery counts too), which is what a narrow read of a table needs.
pub fn columns_named<'a>(sql: &str, columns: &[&'a str]) -> Vec<&'a str> {
    // the text outside '…' literals (a doubled '' inside one toggles twice)
    let code: String = sql.split('\'').step_by(2).collect::<Vec<_>>().join(" ");
    let words: HashSet<String> = code
        .to_ascii_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_string)
        .collect();
    columns
        .iter()
        .copied()
        .filter(|c| words.contains(&c.to_ascii_lowercase()))
        .collect()
}

/// The prelude statements a job needs, in their order: a statement that defines a relation
/// nothing after it reads (`readers`: the job's models, borrowed models and figures; then the
/// later statements kept) is left out, so a job does not compute the shared preludes' tables
/// it never uses (gold-leadtime reads one of scope.sql's five). Statements that define nothing
/// are kept.
pub fn needed_statements<F: Copy>(
    statements: Vec<(F, String)>,
    readers: &[String],
) -> Vec<(F, String)> {
    let mut readers: Vec<String> = readers.to_vec();
    let mut kept = Vec::new();
    for (file, statement) in statements.into_iter().rev() {
        let keep = match defined_relation(&statement) {
            Some(name) => readers.iter().any(|r| names_relation(r, &name)),
            None => true,
        };
        if keep {
            readers.push(code(&statement));
            kept.push((file, statement));
        }
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prelude_relation_nothing_reads_is_left_out() {
        let statements = vec![
            (
                (),
                "-- the touched orders\nCREATE TABLE touched_orders AS SELECT 1".to_string(),
            ),
            ((), "CREATE TABLE touched_zips AS SELECT 2".to_string()),
            (
                (),
                "CREATE VIEW items AS SELECT * FROM touched_orders".to_string(),
            ),
            // read only by a comment of a model: not read
            ((), "create view unused AS SELECT 3".to_string()),
            ((), "SET datafusion.execution.batch_size = 8192".to_string()),
        ];
        let readers = vec![code(
            "-- unused\nSELECT * FROM Items WHERE x IN (SELECT x FROM touched_zips_2)",
        )];
        let kept: Vec<String> = needed_statements(statements, &readers)
            .into_iter()
            .map(|(_, s)| defined_relation(&s).unwrap_or_else(|| "set".into()))
            .collect();
        assert_eq!(kept, ["touched_orders", "items", "set"]);
        assert!(names_relation(
            "a JOIN b.touched_orders",
            "b.touched_orders"
        ));
        assert!(!names_relation("FROM touched_orders_x", "touched_orders"));
    }

    #[test]
    fn the_columns_a_scope_names_are_found_outside_its_literals() {
        let columns = ["user_id", "user_type", "zip_code", "lat", "timestamp"];
        let scope = "USER_TYPE = 'customer lat' AND u.user_id IN \
                     (SELECT customer_id FROM affected_customers) OR \"timestamp\" > 'it''s zip_code'";
        assert_eq!(
            columns_named(scope, &columns),
            ["user_id", "user_type", "timestamp"]
        );
        assert!(columns_named("user_ids IS NULL", &columns).is_empty());
    }

    #[test]
    fn parses_header_directives() {
        let m = Model::parse(
            "x.sql",
            "-- table: silver.order_product\n-- some doc\n-- scope: a = 1\n-- scope: b = 2\n\
             -- check error unique: order_id, order_item_id\n\
             -- check warn references: order_id -> order_timestamp(order_id)\n\
             -- check error accepted: s IN ('a', 'b')\nSELECT 1",
        )
        .unwrap();
        assert_eq!(m.table.name, "order_product");
        assert_eq!(m.scope, Scope::Rows("(a = 1) OR (b = 2)".into()));
        assert_eq!(m.checks.len(), 3);
        assert_eq!(
            m.checks[0],
            (
                Level::Error,
                Check::Unique(vec!["order_id".into(), "order_item_id".into()])
            )
        );
        assert_eq!(
            m.checks[1].1.to_string(),
            "references(order_id -> order_timestamp(order_id))"
        );
        assert!(
            m.checks[2]
                .1
                .violations_sql("t")
                .contains("s IS NOT NULL AND NOT (s IN ('a', 'b'))")
        );
    }

    #[test]
    fn row_checks_are_counted_in_one_scan_as_each_alone_would_count() {
        let checks = [
            Check::NotNull(vec!["a".into(), "b".into()]),
            Check::Accepted {
                column: "s".into(),
                predicate: "s IN ('x')".into(),
            },
            Check::Expect("a >= 0".into()),
        ];
        let conditions: Vec<String> = checks.iter().filter_map(Check::row_violation).collect();
        assert_eq!(
            row_violations_sql("t", &conditions),
            "SELECT count(CASE WHEN a IS NULL OR b IS NULL THEN 1 END) AS c0, \
             count(CASE WHEN s IS NOT NULL AND NOT (s IN ('x')) THEN 1 END) AS c1, \
             count(CASE WHEN NOT coalesce((a >= 0), TRUE) THEN 1 END) AS c2 FROM t"
        );
        assert_eq!(
            checks[2].violations_sql("t"),
            "SELECT count(*) AS n FROM t WHERE NOT coalesce((a >= 0), TRUE)"
        );
        assert!(Check::Unique(vec!["a".into()]).row_violation().is_none());
    }

    #[test]
    fn rejects_bad_headers() {
        for (text, needle) in [
            ("SELECT 1", "no `-- table:`"),
            ("-- table: silver.nope\nSELECT 1", "unknown table"),
            ("-- table: gold.sale_stats\nSELECT 1", "no `-- scope:`"),
            (
                "-- table: gold.sale_stats\n-- scope: all\n-- check fatal unique: a\nSELECT 1",
                "error or warn",
            ),
            (
                "-- table: gold.sale_stats\n-- scope: all\n-- check error unique:\nSELECT 1",
                "no columns",
            ),
        ] {
            let e = Model::parse("x.sql", text).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("x.sql"), "{e}");
        }
    }

    #[test]
    fn renders_placeholders_and_rejects_unknown_ones() {
        let p = BTreeMap::from([("category", "'health_beauty'".to_string())]);
        assert_eq!(
            render("f", "WHERE c = {category}", &p).unwrap(),
            "WHERE c = 'health_beauty'"
        );
        assert!(
            render("f", "{categry}", &p)
                .unwrap_err()
                .to_string()
                .contains("unknown placeholder `{categry}`")
        );
    }

    #[test]
    fn splits_statements() {
        let s = statements(
            "-- doc; with a semicolon\nCREATE VIEW a AS SELECT 1;\n\n-- b\nSELECT 2;\n-- end\n",
        );
        assert_eq!(s.len(), 2);
        let n = named_statements("-- name: x\nSELECT 1;\n-- name: y\nSELECT 2;");
        assert_eq!(n[0].0, "x");
        assert_eq!(n[1].0, "y");
    }
}
