//! The nine replay topics: key field, Avro value schema (from the `.avsc` files beside this
//! module, compiled in), and the bronze table each one lands in.

use std::sync::OnceLock;

use apache_avro::Schema;

use crate::lake::tables::{self, TableDef};

/// One topic of the replay.
#[derive(Debug)]
pub struct Topic {
    pub name: &'static str,
    /// The field whose value is the message key.
    pub key: &'static str,
    pub avsc: &'static str,
    pub bronze: &'static TableDef,
}

macro_rules! topic {
    ($name:literal, $key:literal, $table:expr) => {
        Topic {
            name: $name,
            key: $key,
            avsc: include_str!(concat!("schemas/", $name, ".avsc")),
            bronze: &$table,
        }
    };
}

pub static TOPICS: [Topic; 9] = [
    topic!("order_status", "order_id", tables::BRONZE_ORDER_STATUS),
    topic!("payment", "order_id", tables::BRONZE_PAYMENT),
    topic!("order_item", "order_id", tables::BRONZE_ORDER_ITEM),
    topic!("product", "product_id", tables::BRONZE_PRODUCT),
    topic!("seller", "seller_id", tables::BRONZE_SELLER),
    topic!("customer", "customer_id", tables::BRONZE_CUSTOMER),
    topic!("geolocation", "zip_code", tables::BRONZE_GEOLOCATION),
    topic!(
        "estimated_delivery_date",
        "order_id",
        tables::BRONZE_ESTIMATED_DELIVERY_DATE
    ),
    topic!("review", "review_id", tables::BRONZE_REVIEW),
];

impl Topic {
    /// The compiled-in value schema.
    pub fn schema(&self) -> &'static Schema {
        static PARSED: OnceLock<Vec<Schema>> = OnceLock::new();
        let all = PARSED.get_or_init(|| {
            TOPICS
                .iter()
                .map(|t| {
                    Schema::parse_str(t.avsc).unwrap_or_else(|e| panic!("{}.avsc: {e}", t.name))
                })
                .collect()
        });
        &all[TOPICS
            .iter()
            .position(|t| t.name == self.name)
            .expect("topic in TOPICS")]
    }

    /// Field names of the value schema, in order.
    pub fn fields(&self) -> Vec<String> {
        match self.schema() {
            Schema::Record(r) => r.fields.iter().map(|f| f.name.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

pub fn by_name(name: &str) -> Option<&'static Topic> {
    TOPICS.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_parse_and_match_bronze_tables() {
        for t in &TOPICS {
            let fields = t.fields();
            assert!(
                fields.contains(&t.key.to_string()),
                "{}: key {} not a field",
                t.name,
                t.key
            );
            assert_eq!(fields.last().map(String::as_str), Some("ingest_time"));
            let cols: Vec<&str> = t.bronze.columns.iter().map(|c| c.0).collect();
            for f in &fields {
                assert!(
                    cols.contains(&f.as_str()),
                    "{}: field {f} has no bronze column",
                    t.name
                );
            }
            // every value field is nullable
            if let Schema::Record(r) = t.schema() {
                for f in &r.fields {
                    assert!(
                        matches!(f.schema, Schema::Union(_)),
                        "{}.{} must be nullable",
                        t.name,
                        f.name
                    );
                }
            }
        }
        assert_eq!(by_name("review").unwrap().key, "review_id");
    }
}
