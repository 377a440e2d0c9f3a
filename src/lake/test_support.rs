//! Helpers for the unit tests of the lake's users: table metadata built in memory.

use std::collections::HashMap;

use iceberg::spec::{Operation, TableMetadata};

/// Metadata whose history is one snapshot per summary, oldest first.
pub fn history(summaries: &[&[(&str, &str)]]) -> TableMetadata {
    let appends: Vec<_> = summaries.iter().map(|s| (Operation::Append, *s)).collect();
    history_of(&appends)
}

/// Metadata whose history is one snapshot per (operation, summary), oldest first.
pub fn history_of(snapshots: &[(Operation, &[(&str, &str)])]) -> TableMetadata {
    use iceberg::spec::{
        FormatVersion, NestedField, PrimitiveType, Schema, Snapshot, SortOrder, Summary, Type,
        UnboundPartitionSpec,
    };
    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "x", Type::Primitive(PrimitiveType::Int)).into(),
        ])
        .build()
        .unwrap();
    let mut md = iceberg::spec::TableMetadataBuilder::new(
        schema,
        UnboundPartitionSpec::builder().build(),
        SortOrder::unsorted_order(),
        "memory://bronze/t".into(),
        FormatVersion::V2,
        HashMap::new(),
    )
    .unwrap()
    .build()
    .unwrap()
    .metadata;
    for (i, (operation, props)) in snapshots.iter().enumerate() {
        let id = i as i64 + 1;
        let snapshot = Snapshot::builder()
            .with_snapshot_id(id)
            .with_parent_snapshot_id((id > 1).then_some(id - 1))
            .with_sequence_number(id)
            .with_timestamp_ms(md.last_updated_ms() + 1)
            .with_manifest_list(format!("memory://bronze/t/snap-{id}.avro"))
            .with_schema_id(0)
            .with_summary(Summary {
                operation: operation.clone(),
                additional_properties: props
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .build();
        md = md
            .into_builder(None)
            .set_branch_snapshot(snapshot, "main")
            .unwrap()
            .build()
            .unwrap()
            .metadata;
    }
    md
}
