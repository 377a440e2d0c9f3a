//! The Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary) and the
//! conversion of decoded Avro records into Arrow rows of a table.

use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Decimal, Schema};
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};

use super::flat::FlatSchema;
use crate::error::{Error, Result};
use crate::lake::tables::{Col, TableDef};

/// Encodes a record as a Confluent-framed Avro message.
pub fn encode(schema_id: u32, schema: &Schema, fields: Vec<(&str, Value)>) -> Result<Vec<u8>> {
    if let Some(flat) = FlatSchema::of(schema) {
        let mut out = Vec::with_capacity(64);
        out.push(0);
        out.extend_from_slice(&schema_id.to_be_bytes());
        flat.encode(&fields, &mut out)
            .map_err(|e| Error::InvalidInput(format!("avro encode: {e}")))?;
        return Ok(out);
    }
    let record = Value::Record(
        fields
            .into_iter()
            .map(|(name, v)| {
                // every field is the union ["null", T]: index 0 for null, 1 for a value
                let u = match v {
                    Value::Null => Value::Union(0, Box::new(Value::Null)),
                    other => Value::Union(1, Box::new(other)),
                };
                (name.to_string(), u)
            })
            .collect(),
    );
    let body = apache_avro::to_avro_datum(schema, record)
        .map_err(|e| Error::InvalidInput(format!("avro encode: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Splits a Confluent-framed message into schema id and Avro body.
pub fn frame(bytes: &[u8]) -> std::result::Result<(u32, &[u8]), String> {
    match bytes {
        [] => Err("empty message".into()),
        [m, ..] if *m != 0 => Err(format!("bad magic byte {m:#04x} (expected 0x00)")),
        [_, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        _ => Err(format!(
            "message of {} bytes is shorter than the 5-byte header",
            bytes.len()
        )),
    }
}

/// Decodes an Avro body with its writer schema and returns the `reader` record's fields by
/// name: a field the writer lacks is null (every field of ours is nullable with a null
/// default), and types are checked when the values are put into columns. (The avro crate's
/// own schema resolution rejects bytes-backed decimals shorter than the precision's maximum
/// width, which other producers legitimately write, so resolution is done here.)
pub fn decode(
    body: &[u8],
    writer: &Schema,
    reader: &Schema,
) -> std::result::Result<Vec<(String, Value)>, String> {
    if let Some(flat) = FlatSchema::of(writer) {
        return by_reader_field(flat.decode(body)?, reader);
    }
    let mut cursor = body;
    let value = apache_avro::from_avro_datum(writer, &mut cursor, None)
        .map_err(|e| format!("avro: {e}"))?;
    if !cursor.is_empty() {
        return Err(format!(
            "{} trailing byte(s) after the Avro record",
            cursor.len()
        ));
    }
    // The avro crate reads past the end of a truncated body as zeros instead of failing, so a
    // cut-off message would "decode". The value must be valid for the writer schema and encode
    // back to exactly the body's length (records of primitives encode canonically).
    if !value.validate(writer) {
        return Err(
            "truncated or corrupt Avro record (the decoded value does not match the writer schema)"
                .into(),
        );
    }
    let again =
        apache_avro::to_avro_datum(writer, value.clone()).map_err(|e| format!("avro: {e}"))?;
    if again.len() != body.len() {
        return Err(format!(
            "truncated Avro record: {} bytes, the decoded record needs {}",
            body.len(),
            again.len()
        ));
    }
    let Value::Record(fields) = value else {
        return Err("the writer schema is not a record".into());
    };
    by_reader_field(fields, reader)
}

/// The reader record's fields by name from a decoded writer record: a field the writer lacks
/// is null (every field of ours is nullable with a null default).
fn by_reader_field(
    mut fields: Vec<(String, Value)>,
    reader: &Schema,
) -> std::result::Result<Vec<(String, Value)>, String> {
    let Schema::Record(r) = reader else {
        return Err("the reader schema is not a record".into());
    };
    Ok(r.fields
        .iter()
        .map(|f| {
            let v = fields
                .iter()
                .position(|(n, _)| *n == f.name)
                .map(|i| fields.swap_remove(i).1)
                .unwrap_or(Value::Null);
            (f.name.clone(), v)
        })
        .collect())
}

fn unwrap_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// Builds Arrow columns for a table from rows of named values, by the table's column types.
pub struct RowBuilder {
    def: &'static TableDef,
    cols: Vec<Builder>,
    rows: usize,
}

enum Builder {
    Str(StringBuilder),
    Int(Int32Builder),
    Long(Int64Builder),
    Double(Float64Builder),
    Bool(BooleanBuilder),
    Dec(Decimal128Builder, i8),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    TsTz(TimestampMicrosecondBuilder),
    Binary(BinaryBuilder),
}

/// A value for one column of a row.
#[derive(Debug, Clone)]
pub enum Cell {
    Null,
    Str(String),
    Int(i32),
    Long(i64),
    Double(f64),
    Bool(bool),
    /// Unscaled decimal at the column's scale.
    Dec(i128),
    /// Microseconds since the epoch.
    Micros(i64),
    Bytes(Vec<u8>),
}

impl RowBuilder {
    pub fn new(def: &'static TableDef) -> RowBuilder {
        let cols = def
            .columns
            .iter()
            .map(|(_, col, _)| match col {
                Col::Str => Builder::Str(StringBuilder::new()),
                Col::Int => Builder::Int(Int32Builder::new()),
                Col::Long => Builder::Long(Int64Builder::new()),
                Col::Double => Builder::Double(Float64Builder::new()),
                Col::Bool => Builder::Bool(BooleanBuilder::new()),
                Col::Money => Builder::Dec(
                    Decimal128Builder::new()
                        .with_precision_and_scale(18, 2)
                        .expect("decimal"),
                    2,
                ),
                Col::Dec4 => Builder::Dec(
                    Decimal128Builder::new()
                        .with_precision_and_scale(18, 4)
                        .expect("decimal"),
                    4,
                ),
                Col::Date => Builder::Date(Date32Builder::new()),
                Col::Ts => Builder::Ts(TimestampMicrosecondBuilder::new()),
                Col::TsTz => Builder::TsTz(TimestampMicrosecondBuilder::new()),
                Col::Binary => Builder::Binary(BinaryBuilder::new()),
            })
            .collect();
        RowBuilder { def, cols, rows: 0 }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends a row given as one cell per column, in column order.
    pub fn push(&mut self, cells: &[Cell]) -> std::result::Result<(), String> {
        debug_assert_eq!(cells.len(), self.cols.len());
        // Validate first so that a bad cell leaves no half-appended row behind.
        for ((name, _, _), (b, c)) in self.def.columns.iter().zip(self.cols.iter().zip(cells)) {
            let ok = matches!(
                (b, c),
                (_, Cell::Null)
                    | (Builder::Str(_), Cell::Str(_))
                    | (Builder::Int(_), Cell::Int(_))
                    | (Builder::Long(_), Cell::Long(_) | Cell::Int(_))
                    | (Builder::Double(_), Cell::Double(_))
                    | (Builder::Bool(_), Cell::Bool(_))
                    | (Builder::Dec(..), Cell::Dec(_))
                    | (Builder::Date(_), Cell::Int(_))
                    | (Builder::Ts(_) | Builder::TsTz(_), Cell::Micros(_))
                    | (Builder::Binary(_), Cell::Bytes(_))
            );
            if !ok {
                return Err(format!("field {name}: value {c:?} has the wrong type"));
            }
        }
        for (b, c) in self.cols.iter_mut().zip(cells) {
            match (b, c) {
                (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
                (Builder::Str(b), _) => b.append_null(),
                (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
                (Builder::Int(b), _) => b.append_null(),
                (Builder::Long(b), Cell::Long(v)) => b.append_value(*v),
                (Builder::Long(b), Cell::Int(v)) => b.append_value(*v as i64),
                (Builder::Long(b), _) => b.append_null(),
                (Builder::Double(b), Cell::Double(v)) => b.append_value(*v),
                (Builder::Double(b), _) => b.append_null(),
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Dec(b, _), Cell::Dec(v)) => b.append_value(*v),
                (Builder::Dec(b, _), _) => b.append_null(),
                (Builder::Date(b), Cell::Int(v)) => b.append_value(*v),
                (Builder::Date(b), _) => b.append_null(),
                (Builder::Ts(b) | Builder::TsTz(b), Cell::Micros(v)) => b.append_value(*v),
                (Builder::Ts(b) | Builder::TsTz(b), _) => b.append_null(),
                (Builder::Binary(b), Cell::Bytes(v)) => b.append_value(v),
                (Builder::Binary(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a batch (with plain Arrow types; the lake conforms them on write).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<(&str, ArrayRef)> = self
            .def
            .columns
            .iter()
            .zip(self.cols.iter_mut())
            .map(|((name, _, _), b)| {
                let a: ArrayRef = match b {
                    Builder::Str(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Long(b) => Arc::new(b.finish()),
                    Builder::Double(b) => Arc::new(b.finish()),
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Dec(b, scale) => Arc::new(
                        b.finish()
                            .with_precision_and_scale(18, *scale)
                            .expect("decimal"),
                    ),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Ts(b) => Arc::new(b.finish()),
                    Builder::TsTz(b) => Arc::new(b.finish().with_timezone("+00:00")),
                    Builder::Binary(b) => Arc::new(b.finish()),
                };
                (*name, a)
            })
            .collect();
        self.rows = 0;
        Ok(RecordBatch::try_from_iter(arrays)?)
    }
}

/// Precision of the lake's decimal columns (`decimal(18, 2)` money, `decimal(18, 4)`).
const DECIMAL_PRECISION: u32 = 18;

/// An Avro field value as a cell of a column of the given type.
pub fn avro_to_cell(v: &Value, col: Col) -> std::result::Result<Cell, String> {
    let v = unwrap_union(v);
    Ok(match (v, col) {
        (Value::Null, _) => Cell::Null,
        (Value::String(s), Col::Str) => Cell::Str(s.clone()),
        (Value::Int(i), Col::Int) => Cell::Int(*i),
        (Value::Int(i), Col::Long) => Cell::Long(*i as i64),
        (Value::Long(i), Col::Long) => Cell::Long(*i),
        (Value::Double(d), Col::Double) => Cell::Double(*d),
        (Value::Float(d), Col::Double) => Cell::Double(*d as f64),
        (Value::Decimal(d), Col::Money | Col::Dec4) => {
            let v = decimal_to_i128(d)?;
            // the columns are decimal(18, s): a wider value would be stored wrong
            if v.unsigned_abs() >= 10u128.pow(DECIMAL_PRECISION) {
                return Err(format!(
                    "decimal with unscaled value {v} does not fit precision {DECIMAL_PRECISION}"
                ));
            }
            Cell::Dec(v)
        }
        (Value::TimestampMillis(ms), Col::Ts | Col::TsTz) => Cell::Micros(
            ms.checked_mul(1000)
                .ok_or_else(|| format!("timestamp-millis {ms} is out of range"))?,
        ),
        (Value::TimestampMicros(us), Col::Ts | Col::TsTz) => Cell::Micros(*us),
        (Value::Boolean(b), Col::Bool) => Cell::Bool(*b),
        (other, col) => return Err(format!("{other:?} does not fit a {col:?} column")),
    })
}

/// Cents (or the decimal's unscaled value) from Avro's big-endian two's-complement bytes.
pub fn decimal_to_i128(d: &Decimal) -> std::result::Result<i128, String> {
    let bytes: Vec<u8> = d.try_into().map_err(|e| format!("decimal: {e}"))?;
    if bytes.len() > 16 {
        return Err(format!("decimal of {} bytes overflows", bytes.len()));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xffu8; 16] } else { [0u8; 16] };
    buf[16 - bytes.len()..].copy_from_slice(&bytes);
    Ok(i128::from_be_bytes(buf))
}

/// An unscaled decimal as Avro bytes (minimal big-endian two's complement).
pub fn i128_to_decimal(v: i128) -> Value {
    let bytes = v.to_be_bytes();
    Value::Decimal(Decimal::from(shortest_twos_complement(&bytes).to_vec()))
}

/// The shortest big-endian two's complement of a number given in 16 bytes: leading sign
/// bytes dropped while the next byte still carries the sign.
pub(crate) fn shortest_twos_complement(bytes: &[u8; 16]) -> &[u8] {
    let skip = bytes
        .windows(2)
        .take_while(|w| (w[0] == 0 && w[1] & 0x80 == 0) || (w[0] == 0xff && w[1] & 0x80 != 0))
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_fit_their_column_are_refused() {
        let huge_ms = Value::TimestampMillis(i64::MAX / 100);
        assert!(
            avro_to_cell(&huge_ms, Col::Ts)
                .unwrap_err()
                .contains("out of range")
        );
        let ok = Value::TimestampMillis(1_511_517_600_000);
        assert_eq!(
            avro_to_cell(&ok, Col::Ts).unwrap(),
            Cell::Micros(1_511_517_600_000_000)
        );
        // 1000000000000000000.00 has 21 digits: beyond decimal(18, 2)
        let wide = i128_to_decimal(100_000_000_000_000_000_000);
        assert!(
            avro_to_cell(&wide, Col::Money)
                .unwrap_err()
                .contains("precision 18")
        );
        let widest = i128_to_decimal(999_999_999_999_999_999);
        assert_eq!(
            avro_to_cell(&widest, Col::Money).unwrap(),
            Cell::Dec(999_999_999_999_999_999)
        );
        let negative = i128_to_decimal(-1_000_000_000_000_000_000);
        assert!(avro_to_cell(&negative, Col::Money).is_err());
    }
    use crate::kafka::topics;

    #[test]
    fn wire_format_round_trip_and_framing_errors() {
        let t = topics::by_name("payment").unwrap();
        let bytes = encode(
            7,
            t.schema(),
            vec![
                ("order_id", Value::String("o1".into())),
                ("customer_id", Value::Null),
                ("payment_sequential", Value::Int(1)),
                ("payment_type", Value::String("voucher".into())),
                ("payment_installments", Value::Int(1)),
                ("payment_value", i128_to_decimal(12_345)),
                ("timestamp", Value::TimestampMillis(1_511_517_600_000)),
                ("ingest_time", Value::TimestampMillis(1_511_517_600_050)),
            ],
        )
        .unwrap();
        let (id, body) = frame(&bytes).unwrap();
        assert_eq!(id, 7);
        let fields = decode(body, t.schema(), t.schema()).unwrap();
        assert_eq!(
            avro_to_cell(&fields[5].1, Col::Money).unwrap().clone() as Cell,
            Cell::Dec(12_345).clone()
        );
        assert!(matches!(
            avro_to_cell(&fields[1].1, Col::Str).unwrap(),
            Cell::Null
        ));
        assert!(frame(&[1, 0, 0, 0, 7]).unwrap_err().contains("magic"));
        assert!(frame(&[0, 0]).unwrap_err().contains("shorter"));
        for cut in 1..body.len() {
            assert!(
                decode(&body[..body.len() - cut], t.schema(), t.schema()).is_err(),
                "truncated by {cut}"
            );
        }
        // a record that ends in nulls, cut anywhere (the avro crate pads a short body)
        let os = topics::by_name("order_status").unwrap();
        let short = encode(
            1,
            os.schema(),
            vec![
                ("order_id", Value::String("x".into())),
                ("status", Value::String("purchase".into())),
                ("timestamp", Value::Null),
                ("ingest_time", Value::Null),
            ],
        )
        .unwrap();
        let body = &short[5..];
        assert!(decode(body, os.schema(), os.schema()).is_ok());
        for cut in 1..body.len() {
            assert!(
                decode(&body[..body.len() - cut], os.schema(), os.schema()).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn decimals_round_trip() {
        for v in [
            0i128,
            1,
            -1,
            99,
            128,
            -129,
            12_345_678,
            -987_654_321,
            i64::MAX as i128,
        ] {
            let Value::Decimal(d) = i128_to_decimal(v) else {
                panic!()
            };
            assert_eq!(decimal_to_i128(&d).unwrap(), v, "{v}");
        }
    }

    impl PartialEq for Cell {
        fn eq(&self, other: &Self) -> bool {
            format!("{self:?}") == format!("{other:?}")
        }
    }
}
