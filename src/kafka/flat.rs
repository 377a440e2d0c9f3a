//! A strict, fast Avro codec for the shape every topic schema has: a record whose fields are
//! primitives or `["null", primitive]` unions (with timestamp-millis/micros and decimal logical
//! types). Reading past the end of the body is an error here (apache-avro 0.21 pads a short
//! body with zeros). Other schemas fall back to apache-avro in `codec`.

use apache_avro::types::Value;
use apache_avro::{Decimal, Schema};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Prim {
    Str,
    Int,
    Long,
    Float,
    Double,
    Bool,
    Bytes,
    Decimal,
    TsMillis,
    TsMicros,
}

/// A record schema of (optionally nullable) primitives.
#[derive(Debug, Clone)]
pub struct FlatSchema {
    /// (name, primitive, index of the null branch when the field is a union with null)
    fields: Vec<(String, Prim, Option<u8>)>,
}

fn prim(s: &Schema) -> Option<Prim> {
    Some(match s {
        Schema::String => Prim::Str,
        Schema::Int => Prim::Int,
        Schema::Long => Prim::Long,
        Schema::Float => Prim::Float,
        Schema::Double => Prim::Double,
        Schema::Boolean => Prim::Bool,
        Schema::Bytes => Prim::Bytes,
        Schema::Decimal(d) if matches!(*d.inner, Schema::Bytes) => Prim::Decimal,
        Schema::TimestampMillis => Prim::TsMillis,
        Schema::TimestampMicros => Prim::TsMicros,
        _ => return None,
    })
}

impl FlatSchema {
    /// The flat view of a schema, or None when it has another shape.
    pub fn of(schema: &Schema) -> Option<FlatSchema> {
        let Schema::Record(r) = schema else {
            return None;
        };
        let mut fields = Vec::with_capacity(r.fields.len());
        for f in &r.fields {
            let (p, null) = match &f.schema {
                Schema::Union(u) => {
                    let v = u.variants();
                    match v {
                        [Schema::Null, t] => (prim(t)?, Some(0)),
                        [t, Schema::Null] => (prim(t)?, Some(1)),
                        _ => return None,
                    }
                }
                other => (prim(other)?, None),
            };
            fields.push((f.name.clone(), p, null));
        }
        Some(FlatSchema { fields })
    }

    /// Decodes a whole body; every byte must be used and none may be missing.
    pub fn decode(&self, body: &[u8]) -> Result<Vec<(String, Value)>, String> {
        let values = self.decode_values(body)?;
        Ok(self
            .fields
            .iter()
            .map(|(name, _, _)| name.clone())
            .zip(values)
            .collect())
    }

    /// (name, primitive, index of the null branch if nullable) of each field, in order.
    pub(crate) fn fields(&self) -> &[(String, Prim, Option<u8>)] {
        &self.fields
    }

    /// The position of a field among the record's fields.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _, _)| n == name)
    }

    /// Decodes a whole body into its values in field order (the loader's hot path: no names).
    pub fn decode_values(&self, body: &[u8]) -> Result<Vec<Value>, String> {
        let mut r = Reader { buf: body, pos: 0 };
        let mut out = Vec::with_capacity(self.fields.len());
        for (name, p, null) in &self.fields {
            let v = match null {
                Some(null_idx) => {
                    let idx = r.long().map_err(|e| format!("field {name}: {e}"))?;
                    if idx == *null_idx as i64 {
                        Value::Null
                    } else if idx == 1 - *null_idx as i64 {
                        r.prim(*p).map_err(|e| format!("field {name}: {e}"))?
                    } else {
                        return Err(format!("field {name}: union branch {idx} does not exist"));
                    }
                }
                None => r.prim(*p).map_err(|e| format!("field {name}: {e}"))?,
            };
            out.push(v);
        }
        if r.pos != body.len() {
            return Err(format!(
                "{} trailing byte(s) after the Avro record",
                body.len() - r.pos
            ));
        }
        Ok(out)
    }

    /// Encodes values given in field order (Null for a null field).
    pub fn encode(&self, values: &[(&str, Value)], out: &mut Vec<u8>) -> Result<(), String> {
        if values.len() != self.fields.len() {
            return Err(format!(
                "{} values for {} fields",
                values.len(),
                self.fields.len()
            ));
        }
        for ((name, p, null), (given, v)) in self.fields.iter().zip(values) {
            if name != given {
                return Err(format!("value for {given} where {name} is expected"));
            }
            let v = match v {
                Value::Union(_, inner) => inner.as_ref(),
                other => other,
            };
            match (null, v) {
                (Some(n), Value::Null) => long(*n as i64, out),
                (None, Value::Null) => return Err(format!("field {name} is not nullable")),
                (Some(n), v) => {
                    long(1 - *n as i64, out);
                    put(*p, v, out).map_err(|e| format!("field {name}: {e}"))?;
                }
                (None, v) => put(*p, v, out).map_err(|e| format!("field {name}: {e}"))?,
            }
        }
        Ok(())
    }
}

/// Avro's zig-zag varint.
pub(crate) fn long(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

fn put(p: Prim, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match (p, v) {
        (Prim::Str, Value::String(s)) => {
            long(s.len() as i64, out);
            out.extend_from_slice(s.as_bytes());
        }
        (Prim::Int, Value::Int(i)) => long(*i as i64, out),
        (Prim::Long, Value::Long(i)) => long(*i, out),
        (Prim::Float, Value::Float(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (Prim::Double, Value::Double(d)) => out.extend_from_slice(&d.to_le_bytes()),
        (Prim::Bool, Value::Boolean(b)) => out.push(*b as u8),
        (Prim::Bytes, Value::Bytes(b)) => {
            long(b.len() as i64, out);
            out.extend_from_slice(b);
        }
        (Prim::Decimal, Value::Decimal(d)) => {
            let bytes: Vec<u8> = d.try_into().map_err(|e| format!("decimal: {e}"))?;
            long(bytes.len() as i64, out);
            out.extend_from_slice(&bytes);
        }
        (Prim::TsMillis, Value::TimestampMillis(t))
        | (Prim::TsMicros, Value::TimestampMicros(t)) => long(*t, out),
        (p, v) => return Err(format!("{v:?} is not a {p:?}")),
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.buf.len() - self.pos < n {
            return Err(format!(
                "truncated: {n} byte(s) needed at offset {}, {} left",
                self.pos,
                self.buf.len() - self.pos
            ));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            z |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("negative length {n}"))
    }

    fn prim(&mut self, p: Prim) -> Result<Value, String> {
        Ok(match p {
            Prim::Str => {
                let n = self.len()?;
                let b = self.take(n)?;
                Value::String(
                    std::str::from_utf8(b)
                        .map_err(|e| format!("invalid UTF-8: {e}"))?
                        .to_string(),
                )
            }
            Prim::Int => {
                let v = self.long()?;
                Value::Int(i32::try_from(v).map_err(|_| format!("{v} does not fit an int"))?)
            }
            Prim::Long => Value::Long(self.long()?),
            Prim::Float => Value::Float(f32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            Prim::Double => Value::Double(f64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            Prim::Bool => match self.take(1)?[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                b => return Err(format!("{b} is not a boolean")),
            },
            Prim::Bytes => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            Prim::Decimal => {
                let n = self.len()?;
                Value::Decimal(Decimal::from(self.take(n)?.to_vec()))
            }
            Prim::TsMillis => Value::TimestampMillis(self.long()?),
            Prim::TsMicros => Value::TimestampMicros(self.long()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::codec::i128_to_decimal;
    use crate::kafka::topics::TOPICS;

    #[test]
    fn matches_apache_avro_on_every_topic_schema() {
        for t in &TOPICS {
            let flat = FlatSchema::of(t.schema()).expect("every topic schema is flat");
            let Schema::Record(r) = t.schema() else {
                panic!()
            };
            // one value per field, every primitive kind the schemas use, and a null
            let values: Vec<(&str, Value)> = r
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let v = if i == 1 {
                        Value::Null
                    } else {
                        match &f.schema {
                            Schema::Union(u) => match &u.variants()[1] {
                                Schema::String => Value::String(format!("é{i}")),
                                Schema::Int => Value::Int(-(i as i32) * 1000),
                                Schema::Double => Value::Double(-23.5 + i as f64),
                                Schema::Decimal(_) => i128_to_decimal(-12_345),
                                Schema::TimestampMillis => {
                                    Value::TimestampMillis(1_511_517_600_123)
                                }
                                other => panic!("{other:?}"),
                            },
                            other => panic!("{other:?}"),
                        }
                    };
                    (f.name.as_str(), v)
                })
                .collect();
            let mut ours = Vec::new();
            flat.encode(&values, &mut ours).unwrap();
            let record = Value::Record(
                values
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            match v {
                                Value::Null => Value::Union(0, Box::new(Value::Null)),
                                v => Value::Union(1, Box::new(v.clone())),
                            },
                        )
                    })
                    .collect(),
            );
            let theirs = apache_avro::to_avro_datum(t.schema(), record).unwrap();
            assert_eq!(ours, theirs, "{}", t.name);
            let back = flat.decode(&ours).unwrap();
            for ((_, a), (_, b)) in back.iter().zip(&values) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{}", t.name);
            }
            for cut in 1..ours.len() {
                assert!(
                    flat.decode(&ours[..ours.len() - cut]).is_err(),
                    "{} cut {cut}",
                    t.name
                );
            }
            let mut longer = ours.clone();
            longer.push(0);
            assert!(flat.decode(&longer).unwrap_err().contains("trailing"));
        }
    }

    #[test]
    fn varints() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = Vec::new();
            long(v, &mut b);
            assert_eq!(Reader { buf: &b, pos: 0 }.long().unwrap(), v);
        }
    }
}
