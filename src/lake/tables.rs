//! Every table of the lake, defined once: columns, types and partition spec
//! (spec sections 5–7, plus the `ops` tables).
//!
//! Timestamps of the data timeline are Iceberg `timestamp` (no zone: the source is local
//! Brazil time without offset); wall-clock times (`_loaded_at`, job runs) are `timestamptz`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};
use iceberg::{NamespaceIdent, TableIdent};

use crate::error::{Error, Result};

/// Column types used by the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Str,
    Int,
    Long,
    Double,
    Bool,
    /// Exact money, two decimals.
    Money,
    /// Exact decimal with four places (means, hours).
    Dec4,
    Date,
    /// Data-time timestamp (no zone), microseconds.
    Ts,
    /// Wall-clock timestamp with zone, microseconds.
    TsTz,
    Binary,
}

impl Col {
    fn iceberg(self) -> PrimitiveType {
        match self {
            Col::Str => PrimitiveType::String,
            Col::Int => PrimitiveType::Int,
            Col::Long => PrimitiveType::Long,
            Col::Double => PrimitiveType::Double,
            Col::Bool => PrimitiveType::Boolean,
            Col::Money => PrimitiveType::Decimal {
                precision: 18,
                scale: 2,
            },
            Col::Dec4 => PrimitiveType::Decimal {
                precision: 18,
                scale: 4,
            },
            Col::Date => PrimitiveType::Date,
            Col::Ts => PrimitiveType::Timestamp,
            Col::TsTz => PrimitiveType::Timestamptz,
            Col::Binary => PrimitiveType::Binary,
        }
    }
}

/// How a table is partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Day(&'static str),
    Month(&'static str),
    Identity(&'static str),
}

/// A table definition: `(name, type, required)` columns and partition fields.
#[derive(Debug)]
pub struct TableDef {
    pub namespace: &'static str,
    pub name: &'static str,
    pub columns: &'static [(&'static str, Col, bool)],
    pub partition: &'static [Part],
    pub doc: &'static str,
}

impl TableDef {
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(
            NamespaceIdent::new(self.namespace.to_string()),
            self.name.to_string(),
        )
    }

    pub fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }

    /// The columns, quoted, in table order: `"a", "b"` (for a SELECT list in SQL).
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The Iceberg schema; field ids are assigned 1.. in column order.
    pub fn schema(&self) -> Result<Schema> {
        let fields = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, col, required))| {
                let id = i as i32 + 1;
                let ty = Type::Primitive(col.iceberg());
                Arc::new(if *required {
                    NestedField::required(id, *name, ty)
                } else {
                    NestedField::optional(id, *name, ty)
                })
            })
            .collect::<Vec<_>>();
        Schema::builder()
            .with_schema_id(0)
            .with_fields(fields)
            .build()
            .map_err(Error::from)
    }

    pub fn partition_spec(&self) -> Result<UnboundPartitionSpec> {
        let mut builder = UnboundPartitionSpec::builder().with_spec_id(0);
        for (i, part) in self.partition.iter().enumerate() {
            let (col, transform, suffix) = match part {
                Part::Day(c) => (*c, Transform::Day, "_day"),
                Part::Month(c) => (*c, Transform::Month, "_month"),
                Part::Identity(c) => (*c, Transform::Identity, ""),
            };
            let source_id = self
                .columns
                .iter()
                .position(|(n, _, _)| *n == col)
                .ok_or_else(|| {
                    Error::Config(format!("{}: partition column {col} missing", self.name))
                })? as i32
                + 1;
            builder =
                builder.add_partition_field(source_id, format!("{col}{suffix}"), transform)?;
            let _ = i;
        }
        Ok(builder.build())
    }

    /// The Parquet codec of the table's files. Bronze (a file per month per load, a small one
    /// per day on a daily schedule) and state (read and rewritten by silver-build's runs) are
    /// snappy: parquet-rs sets up a zstd compressor and decompressor for every column chunk it
    /// opens, which costs more than zstd saves on files of a few hundred rows.
    /// Silver and gold, read by the dashboards and kept longest, stay zstd.
    pub fn codec(&self) -> &'static str {
        match self.namespace {
            "bronze" | "state" => "snappy",
            _ => "zstd",
        }
    }

    pub fn properties(&self) -> HashMap<String, String> {
        HashMap::from([
            ("write.format.default".into(), "parquet".into()),
            (
                crate::lake::write::CODEC_PROPERTY.into(),
                self.codec().into(),
            ),
            ("comment".into(), self.doc.into()),
            // a commit deletes the metadata files older than the log's last 100: a catch-up
            // commits hundreds of times, and each commit writes one
            (
                crate::lake::catalog::DELETE_AFTER_COMMIT.into(),
                "true".into(),
            ),
        ])
    }
}

impl fmt::Display for TableDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace, self.name)
    }
}

use Col::*;

/// The lineage columns every bronze row carries that no transform reads: the Kafka key (the
/// entity's key again, as text), the broker's timestamp, the writer's schema id and the load's
/// wall-clock time. The state tables leave them out.
pub const LINEAGE_COLUMNS: [&str; 4] =
    ["_kafka_key", "_kafka_timestamp", "_schema_id", "_loaded_at"];

/// A bronze table (the topic's fields, then the Kafka columns every bronze table carries,
/// partitioned by month of ingest: a load of the history writes ~25 files per topic, not ~700,
/// and an interval's scan prunes to its files by their `ingest_time` bounds) and its compacted
/// state table (unpartitioned: see `transform::state`). The state keeps the columns the
/// transforms read: the topic's fields, `ingest_time` and the Kafka partition and offset that
/// order copies ingested the same millisecond; the [`LINEAGE_COLUMNS`] stay in bronze only
/// (a third of the state's bytes, each scanned by every run and written by every refresh).
macro_rules! bronze {
    ($bronze:ident, $state:ident, $name:literal, $doc:literal, [$($col:expr),* $(,)?]) => {
        pub static $bronze: TableDef = TableDef {
            namespace: "bronze",
            name: $name,
            columns: bronze!(@columns $($col),*),
            partition: &[Part::Month("ingest_time")],
            doc: $doc,
        };
        pub static $state: TableDef = TableDef {
            namespace: "state",
            name: $name,
            columns: bronze!(@state_columns $($col),*),
            partition: &[],
            doc: concat!("bronze.", $name, " compacted: the copies the transforms can still pick"),
        };
    };
    (@columns $($col:expr),*) => {
        &[
            ("_kafka_key", Str, false),
            $($col,)*
            ("ingest_time", Ts, false),
            ("_kafka_partition", Int, true),
            ("_kafka_offset", Long, true),
            ("_kafka_timestamp", Ts, true),
            ("_schema_id", Int, true),
            ("_loaded_at", TsTz, true),
        ]
    };
    (@state_columns $($col:expr),*) => {
        &[
            $($col,)*
            ("ingest_time", Ts, false),
            ("_kafka_partition", Int, true),
            ("_kafka_offset", Long, true),
        ]
    };
}

bronze!(
    BRONZE_ORDER_STATUS,
    STATE_ORDER_STATUS,
    "order_status",
    "order status change events",
    [
        ("order_id", Str, false),
        ("status", Str, false),
        ("timestamp", Ts, false)
    ]
);
bronze!(
    BRONZE_PAYMENT,
    STATE_PAYMENT,
    "payment",
    "payments, published on purchase",
    [
        ("order_id", Str, false),
        ("customer_id", Str, false),
        ("payment_sequential", Int, false),
        ("payment_type", Str, false),
        ("payment_installments", Int, false),
        ("payment_value", Money, false),
        ("timestamp", Ts, false)
    ]
);
bronze!(
    BRONZE_ORDER_ITEM,
    STATE_ORDER_ITEM,
    "order_item",
    "order items, published on purchase",
    [
        ("order_id", Str, false),
        ("order_item_id", Int, false),
        ("product_id", Str, false),
        ("seller_id", Str, false),
        ("shipping_limit_date", Ts, false),
        ("price", Money, false),
        ("freight_value", Money, false)
    ]
);
bronze!(
    BRONZE_PRODUCT,
    STATE_PRODUCT,
    "product",
    "product CDC copies",
    [
        ("product_id", Str, false),
        ("category", Str, false),
        ("weight_g", Int, false),
        ("length_cm", Int, false),
        ("height_cm", Int, false),
        ("width_cm", Int, false)
    ]
);
bronze!(
    BRONZE_SELLER,
    STATE_SELLER,
    "seller",
    "seller CDC copies",
    [("seller_id", Str, false), ("zip_code", Str, false)]
);
bronze!(
    BRONZE_CUSTOMER,
    STATE_CUSTOMER,
    "customer",
    "customer CDC copies",
    [
        ("customer_id", Str, false),
        ("customer_unique_id", Str, false),
        ("zip_code", Str, false)
    ]
);
bronze!(
    BRONZE_GEOLOCATION,
    STATE_GEOLOCATION,
    "geolocation",
    "geolocation CDC copies, one per zip prefix",
    [
        ("zip_code", Str, false),
        ("lat", Double, false),
        ("lng", Double, false),
        ("city", Str, false),
        ("state", Str, false)
    ]
);
bronze!(
    BRONZE_ESTIMATED_DELIVERY_DATE,
    STATE_ESTIMATED_DELIVERY_DATE,
    "estimated_delivery_date",
    "estimated delivery dates, published on approval",
    [
        ("order_id", Str, false),
        ("estimated_delivery_date", Ts, false)
    ]
);
bronze!(
    BRONZE_REVIEW,
    STATE_REVIEW,
    "review",
    "reviews, published at their creation date",
    [
        ("review_id", Str, false),
        ("order_id", Str, false),
        ("review_score", Int, false),
        ("review_comment_title", Str, false),
        ("review_comment_message", Str, false),
        ("review_creation_date", Ts, false),
        ("review_answer_timestamp", Ts, false)
    ]
);
pub static BRONZE_QUARANTINE: TableDef = TableDef {
    namespace: "bronze",
    name: "_quarantine",
    columns: &[
        ("topic", Str, true),
        ("partition", Int, true),
        ("offset", Long, true),
        ("key", Str, false),
        ("value", Binary, false),
        ("error", Str, true),
        ("_kafka_timestamp", Ts, true),
        ("_loaded_at", TsTz, true),
    ],
    partition: &[Part::Day("_kafka_timestamp")],
    doc: "messages that could not be decoded, with the reason",
};

pub static SILVER_ORDER_TIMESTAMP: TableDef = TableDef {
    namespace: "silver",
    name: "order_timestamp",
    columns: &[
        ("order_id", Str, true),
        ("customer_id", Str, false),
        ("purchase", Ts, false),
        ("approved", Ts, false),
        ("delivered_carrier", Ts, false),
        ("delivered_customer", Ts, false),
        ("canceled_at", Ts, false),
        ("estimated_delivery_date", Ts, false),
    ],
    partition: &[Part::Month("purchase")],
    doc: "one row per order: first time of each status",
};
pub static SILVER_ORDER_PRODUCT: TableDef = TableDef {
    namespace: "silver",
    name: "order_product",
    columns: &[
        ("order_id", Str, true),
        ("order_item_id", Int, true),
        ("product_id", Str, false),
        ("category", Str, false),
        ("seller_id", Str, false),
        ("shipping_limit_date", Ts, false),
        ("price", Money, false),
        ("freight_value", Money, false),
        ("total_price", Money, false),
        ("delivered_customer", Ts, false),
    ],
    partition: &[Part::Month("delivered_customer")],
    doc: "order items of delivered orders",
};
pub static SILVER_DELIVERED_ORDER_TIMESTAMP: TableDef = TableDef {
    namespace: "silver",
    name: "delivered_order_timestamp",
    columns: &[
        ("order_id", Str, true),
        ("shipping_limit_date", Ts, true),
        ("customer_id", Str, true),
        ("purchase", Ts, true),
        ("approved", Ts, true),
        ("delivered_carrier", Ts, true),
        ("delivered_customer", Ts, true),
        ("estimated_delivery_date", Ts, true),
    ],
    partition: &[Part::Month("delivered_customer")],
    doc: "one row per (delivered order, shipping limit date) with every timestamp",
};
pub static SILVER_DELIVERED_ORDER_PRODUCT: TableDef = TableDef {
    namespace: "silver",
    name: "delivered_order_product",
    columns: &[
        ("order_id", Str, true),
        ("order_item_id", Int, true),
        ("product_id", Str, false),
        ("category", Str, false),
        ("seller_id", Str, false),
        ("price", Money, false),
        ("freight_value", Money, false),
        ("total_price", Money, false),
        ("delivered_customer", Ts, false),
    ],
    partition: &[Part::Month("delivered_customer")],
    doc: "order_product without shipping_limit_date",
};
pub static SILVER_USER_LOCATION: TableDef = TableDef {
    namespace: "silver",
    name: "user_location",
    columns: &[
        ("user_id", Str, true),
        ("user_type", Str, true),
        ("zip_code", Str, false),
        ("lat", Double, false),
        ("lng", Double, false),
        ("city", Str, false),
        ("state", Str, false),
    ],
    partition: &[Part::Identity("user_type")],
    doc: "customers and sellers with coordinates",
};

pub static GOLD_SALE_STATS: TableDef = TableDef {
    namespace: "gold",
    name: "sale_stats",
    columns: &[
        ("period", Str, true),
        ("product_id", Str, true),
        ("category", Str, false),
        ("seller_id", Str, true),
        ("order_count", Long, true),
        ("total_sales", Money, true),
        ("mean_sale", Dec4, true),
    ],
    partition: &[Part::Identity("period")],
    doc: "sales per quarter of delivery (and ALL) per product and seller",
};
pub static GOLD_BCG: TableDef = TableDef {
    namespace: "gold",
    name: "health_beauty_sales_stats_bcg",
    columns: &[
        ("period", Str, true),
        ("product_id", Str, true),
        ("category", Str, false),
        ("seller_id", Str, true),
        ("order_count", Long, true),
        ("total_sales", Money, true),
        ("mean_sale", Dec4, true),
        ("segment", Str, true),
        // The period's thresholds, for charts (the segment is decided exactly, in SQL).
        ("order_count_p75", Double, true),
        ("mean_sale_median", Double, true),
    ],
    partition: &[Part::Identity("period")],
    doc: "BCG portfolio of one category per period",
};
pub static GOLD_DELIVERED_ORDER_PRODUCT_BCG: TableDef = TableDef {
    namespace: "gold",
    name: "delivered_order_product_bcg",
    columns: &[
        ("period", Str, true),
        ("order_id", Str, true),
        ("order_item_id", Int, true),
        ("product_id", Str, false),
        ("category", Str, false),
        ("seller_id", Str, false),
        ("price", Money, false),
        ("freight_value", Money, false),
        ("total_price", Money, false),
        ("delivered_customer", Ts, false),
        ("segment", Str, false),
        ("segment_all", Str, false),
    ],
    partition: &[Part::Identity("period")],
    doc: "delivered items of the BCG category, one row each, with their product's segment in \
          their quarter and overall",
};
pub static GOLD_ORDER_LOCATION: TableDef = TableDef {
    namespace: "gold",
    name: "order_location",
    columns: &[
        ("product_id", Str, true),
        ("category", Str, false),
        ("segment", Str, false),
        ("user_id", Str, true),
        ("user_type", Str, true),
        ("zip_code", Str, false),
        ("lat", Double, false),
        ("lng", Double, false),
        ("city", Str, false),
        ("state", Str, false),
    ],
    partition: &[],
    doc: "customer and seller coordinates of the BCG category's products",
};
pub static GOLD_REVIEW_METADATA_PRODUCT: TableDef = TableDef {
    namespace: "gold",
    name: "review_metadata_product",
    columns: &[
        ("order_id", Str, true),
        ("product_id", Str, true),
        ("review_id", Str, true),
        ("review_score", Int, false),
        ("review_creation_date", Ts, false),
        ("review_answer_timestamp", Ts, false),
        ("answer_lead_hours", Dec4, false),
    ],
    partition: &[Part::Month("review_creation_date")],
    doc: "reviews of the BCG category's orders",
};
pub static GOLD_TIMESTAMP_STATS_WIDE: TableDef = TableDef {
    namespace: "gold",
    name: "timestamp_stats_wide",
    columns: &[
        ("order_id", Str, true),
        ("shipping_limit_date", Ts, true),
        ("purchase", Ts, true),
        ("approved", Ts, true),
        ("delivered_carrier", Ts, true),
        ("delivered_customer", Ts, true),
        ("estimated_delivery_date", Ts, true),
        ("lead_time_approve_days", Int, true),
        ("lead_time_carrier_days", Int, true),
        ("lead_time_customer_days", Int, true),
        ("total_delivery_days", Int, true),
        ("delivery_delay_days", Int, true),
        ("lead_time_approve_hours", Dec4, true),
        ("lead_time_carrier_hours", Dec4, true),
        ("lead_time_customer_hours", Dec4, true),
        ("total_delivery_hours", Dec4, true),
        ("is_late_delivery", Bool, true),
        ("is_late_shipping", Bool, true),
    ],
    partition: &[Part::Month("delivered_customer")],
    doc: "lead times and lateness per delivered order",
};
pub static GOLD_DELIVERY_MONITOR: TableDef = TableDef {
    namespace: "gold",
    name: "delivery_monitor",
    columns: &[
        ("as_of", Ts, true),
        ("order_id", Str, true),
        ("stage", Str, true),
        ("stage_entered_at", Ts, true),
        ("hours_in_stage", Dec4, true),
        ("estimated_delivery_date", Ts, false),
        ("days_overdue", Int, false),
        ("category", Str, false),
        ("segment", Str, false),
    ],
    partition: &[],
    doc: "open orders as of the run's end: stage, time in stage, overdue days",
};

pub static OPS_JOB_RUNS: TableDef = TableDef {
    namespace: "ops",
    name: "job_runs",
    columns: &[
        ("run_id", Str, true),
        ("job", Str, true),
        ("interval_start", Ts, false),
        ("interval_end", Ts, false),
        ("full_refresh", Bool, true),
        ("started_at", TsTz, true),
        ("finished_at", TsTz, true),
        ("status", Str, true),
        ("exit_code", Int, true),
        ("table_name", Str, false),
        ("commit_kind", Str, false),
        ("snapshot_id", Long, false),
        ("rows_written", Long, false),
        ("input_snapshots", Str, false),
        ("summary", Str, false),
    ],
    partition: &[Part::Month("started_at")],
    doc: "one row per job run and table committed",
};
pub static OPS_SELF_CHECK: TableDef = TableDef {
    namespace: "ops",
    name: "self_check",
    columns: &[
        ("day", Date, true),
        ("id", Long, true),
        ("value", Str, false),
        ("amount", Money, false),
        ("run_id", Str, true),
    ],
    partition: &[Part::Identity("day")],
    doc: "scratch table of `olistlake self-check`",
};

pub const NAMESPACES: [&str; 5] = ["bronze", "state", "silver", "gold", "ops"];

/// Every table, in layer order.
pub static ALL: &[&TableDef] = &[
    &BRONZE_ORDER_STATUS,
    &BRONZE_PAYMENT,
    &BRONZE_ORDER_ITEM,
    &BRONZE_PRODUCT,
    &BRONZE_SELLER,
    &BRONZE_CUSTOMER,
    &BRONZE_GEOLOCATION,
    &BRONZE_ESTIMATED_DELIVERY_DATE,
    &BRONZE_REVIEW,
    &BRONZE_QUARANTINE,
    &STATE_ORDER_STATUS,
    &STATE_PAYMENT,
    &STATE_ORDER_ITEM,
    &STATE_PRODUCT,
    &STATE_SELLER,
    &STATE_CUSTOMER,
    &STATE_GEOLOCATION,
    &STATE_ESTIMATED_DELIVERY_DATE,
    &STATE_REVIEW,
    &SILVER_ORDER_TIMESTAMP,
    &SILVER_ORDER_PRODUCT,
    &SILVER_DELIVERED_ORDER_TIMESTAMP,
    &SILVER_DELIVERED_ORDER_PRODUCT,
    &SILVER_USER_LOCATION,
    &GOLD_SALE_STATS,
    &GOLD_BCG,
    &GOLD_DELIVERED_ORDER_PRODUCT_BCG,
    &GOLD_ORDER_LOCATION,
    &GOLD_REVIEW_METADATA_PRODUCT,
    &GOLD_TIMESTAMP_STATS_WIDE,
    &GOLD_DELIVERY_MONITOR,
    &OPS_JOB_RUNS,
    &OPS_SELF_CHECK,
];

/// Each bronze topic table with its state table.
pub static TOPICS: &[(&TableDef, &TableDef)] = &[
    (&BRONZE_ORDER_STATUS, &STATE_ORDER_STATUS),
    (&BRONZE_PAYMENT, &STATE_PAYMENT),
    (&BRONZE_ORDER_ITEM, &STATE_ORDER_ITEM),
    (&BRONZE_PRODUCT, &STATE_PRODUCT),
    (&BRONZE_SELLER, &STATE_SELLER),
    (&BRONZE_CUSTOMER, &STATE_CUSTOMER),
    (&BRONZE_GEOLOCATION, &STATE_GEOLOCATION),
    (
        &BRONZE_ESTIMATED_DELIVERY_DATE,
        &STATE_ESTIMATED_DELIVERY_DATE,
    ),
    (&BRONZE_REVIEW, &STATE_REVIEW),
];

/// Looks a table up by `namespace.name`.
pub fn by_name(qualified: &str) -> Option<&'static TableDef> {
    ALL.iter().copied().find(|t| t.qualified() == qualified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_valid_schema_and_spec() {
        for def in ALL {
            let schema = def.schema().unwrap();
            let spec = def.partition_spec().unwrap();
            spec.clone()
                .bind(Arc::new(schema))
                .unwrap_or_else(|e| panic!("{def}: {e}"));
            assert!(NAMESPACES.contains(&def.namespace), "{def}");
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        let mut names: Vec<_> = ALL.iter().map(|t| t.qualified()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(by_name("gold.sale_stats").unwrap().name, "sale_stats");
        assert!(by_name("gold.nope").is_none());
    }

    #[test]
    fn bronze_tables_carry_kafka_columns_and_month_partition() {
        for def in ALL
            .iter()
            .filter(|t| t.namespace == "bronze" && t.name != "_quarantine")
        {
            let cols: Vec<_> = def.columns.iter().map(|c| c.0).collect();
            for c in [
                "_kafka_key",
                "_kafka_partition",
                "_kafka_offset",
                "_kafka_timestamp",
                "_schema_id",
                "_loaded_at",
                "ingest_time",
            ] {
                assert!(cols.contains(&c), "{def} lacks {c}");
            }
            assert_eq!(def.partition, &[Part::Month("ingest_time")]);
        }
    }

    #[test]
    fn a_state_table_has_its_topics_columns_but_the_lineage_ones() {
        for (bronze, state) in TOPICS {
            let kept: Vec<_> = bronze
                .columns
                .iter()
                .filter(|c| !LINEAGE_COLUMNS.contains(&c.0))
                .collect();
            assert_eq!(kept, state.columns.iter().collect::<Vec<_>>(), "{state}");
            for c in LINEAGE_COLUMNS {
                assert!(
                    bronze.columns.iter().any(|b| b.0 == c),
                    "{bronze} lacks {c}"
                );
            }
            assert!(state.partition.is_empty(), "{state}");
        }
    }
}
