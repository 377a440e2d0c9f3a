//! The nine raw Kaggle files: names, columns, on-disk format (writer) and a validating reader
//! whose errors name the file, line and column.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One raw file of the dataset.
#[derive(Debug)]
pub struct RawFile {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

pub const ORDERS: RawFile = RawFile {
    name: "olist_orders_dataset.csv",
    columns: &[
        "order_id",
        "customer_id",
        "order_status",
        "order_purchase_timestamp",
        "order_approved_at",
        "order_delivered_carrier_date",
        "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ],
};
pub const ITEMS: RawFile = RawFile {
    name: "olist_order_items_dataset.csv",
    columns: &[
        "order_id",
        "order_item_id",
        "product_id",
        "seller_id",
        "shipping_limit_date",
        "price",
        "freight_value",
    ],
};
pub const PAYMENTS: RawFile = RawFile {
    name: "olist_order_payments_dataset.csv",
    columns: &[
        "order_id",
        "payment_sequential",
        "payment_type",
        "payment_installments",
        "payment_value",
    ],
};
pub const REVIEWS: RawFile = RawFile {
    name: "olist_order_reviews_dataset.csv",
    columns: &[
        "review_id",
        "order_id",
        "review_score",
        "review_comment_title",
        "review_comment_message",
        "review_creation_date",
        "review_answer_timestamp",
    ],
};
pub const CUSTOMERS: RawFile = RawFile {
    name: "olist_customers_dataset.csv",
    columns: &[
        "customer_id",
        "customer_unique_id",
        "customer_zip_code_prefix",
        "customer_city",
        "customer_state",
    ],
};
pub const GEOLOCATION: RawFile = RawFile {
    name: "olist_geolocation_dataset.csv",
    columns: &[
        "geolocation_zip_code_prefix",
        "geolocation_lat",
        "geolocation_lng",
        "geolocation_city",
        "geolocation_state",
    ],
};
pub const PRODUCTS: RawFile = RawFile {
    name: "olist_products_dataset.csv",
    columns: &[
        "product_id",
        "product_category_name",
        "product_name_lenght",
        "product_description_lenght",
        "product_photos_qty",
        "product_weight_g",
        "product_length_cm",
        "product_height_cm",
        "product_width_cm",
    ],
};
pub const SELLERS: RawFile = RawFile {
    name: "olist_sellers_dataset.csv",
    columns: &[
        "seller_id",
        "seller_zip_code_prefix",
        "seller_city",
        "seller_state",
    ],
};
pub const TRANSLATION: RawFile = RawFile {
    name: "product_category_name_translation.csv",
    columns: &["product_category_name", "product_category_name_english"],
};

pub const ALL: [&RawFile; 9] = [
    &ORDERS,
    &ITEMS,
    &PAYMENTS,
    &REVIEWS,
    &CUSTOMERS,
    &GEOLOCATION,
    &PRODUCTS,
    &SELLERS,
    &TRANSLATION,
];

/// Finds `name` or `name.gz` in `dir`.
pub fn locate(dir: &Path, file: &RawFile) -> Result<PathBuf> {
    let plain = dir.join(file.name);
    if plain.exists() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{}.gz", file.name));
    if gz.exists() {
        return Ok(gz);
    }
    Err(Error::InvalidInput(format!(
        "{}: missing in {} (neither {} nor {}.gz)",
        file.name,
        dir.display(),
        file.name,
        file.name
    )))
}

// ---------------------------------------------------------------------------------------------
// Writing, in the Kaggle format

/// A field of a raw row.
pub enum Field<'a> {
    /// Free text: quoted only when it starts with a digit or holds `,` `"` or a line break.
    Text(&'a str),
    /// A number or timestamp, never quoted.
    Plain(&'a str),
    Null,
}

/// Writes one raw file with the dataset's quoting rules: quoted header (the translation file:
/// BOM, unquoted header, CRLF, no final newline).
pub struct RawWriter {
    out: BufWriter<File>,
    crlf: bool,
}

impl RawWriter {
    pub fn create(dir: &Path, file: &RawFile) -> Result<RawWriter> {
        let path = dir.join(file.name);
        let f = File::create(&path)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let translation = file.name == TRANSLATION.name;
        if translation {
            out.write_all("\u{feff}".as_bytes())?;
            out.write_all(file.columns.join(",").as_bytes())?;
        } else {
            let header: Vec<String> = file.columns.iter().map(|c| format!("\"{c}\"")).collect();
            out.write_all(header.join(",").as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(RawWriter {
            out,
            crlf: translation,
        })
    }

    pub fn row(&mut self, fields: &[Field]) -> Result<()> {
        if self.crlf {
            // CRLF between lines and none after the last: the separator precedes each row.
            self.out.write_all(b"\r\n")?;
        }
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            match f {
                Field::Null => {}
                Field::Plain(s) => self.out.write_all(s.as_bytes())?,
                Field::Text(s) => {
                    let needs = s.starts_with(|c: char| c.is_ascii_digit())
                        || s.contains([',', '"', '\n', '\r']);
                    if needs {
                        self.out.write_all(b"\"")?;
                        self.out.write_all(s.replace('"', "\"\"").as_bytes())?;
                        self.out.write_all(b"\"")?;
                    } else {
                        self.out.write_all(s.as_bytes())?;
                    }
                }
            }
        }
        if !self.crlf {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Money with exactly two decimals from cents.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

// ---------------------------------------------------------------------------------------------
// Reading, with validation

/// Reads one raw file record by record. Every error names the file, the line and the column.
pub struct RawReader {
    file: String,
    /// The file name as on disk, for messages.
    shown: String,
    reader: csv::Reader<Box<dyn Read>>,
    record: csv::StringRecord,
}

impl RawReader {
    /// Opens `dir/name` (or `name.gz`), strips a BOM and checks the header.
    pub fn open(dir: &Path, spec: &RawFile) -> Result<RawReader> {
        let path = locate(dir, spec)?;
        let f = File::open(&path)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        let inner: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::GzDecoder::new(f))
        } else {
            Box::new(f)
        };
        let mut buffered = BufReader::with_capacity(1 << 20, inner);
        // Skip a UTF-8 BOM.
        let peek = buffered
            .fill_buf()
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", spec.name)))?;
        if peek.starts_with(&[0xEF, 0xBB, 0xBF]) {
            buffered.consume(3);
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(Box::new(buffered) as Box<dyn Read>);
        // errors name the file as it is on disk (`….csv.gz` when compressed)
        let shown = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.name.to_string());
        let header = reader
            .headers()
            .map_err(|e| csv_error(&shown, spec.columns, 1, e))?
            .clone();
        let got: Vec<&str> = header.iter().map(str::trim).collect();
        if got != spec.columns {
            let missing: Vec<_> = spec.columns.iter().filter(|c| !got.contains(c)).collect();
            let extra: Vec<_> = got.iter().filter(|c| !spec.columns.contains(c)).collect();
            let what = if missing.is_empty() && extra.is_empty() {
                format!("the columns are in another order: {got:?}")
            } else {
                format!("missing {missing:?}, unexpected {extra:?}")
            };
            return Err(Error::InvalidInput(format!(
                "{shown} line 1: header does not match the dataset's ({what}; expected {:?})",
                spec.columns
            )));
        }
        Ok(RawReader {
            file: spec.name.to_string(),
            shown,
            reader,
            record: csv::StringRecord::new(),
        })
    }

    /// Advances to the next record; false at the end.
    pub fn advance(&mut self) -> Result<bool> {
        let columns = self.reader_columns();
        // a read error (a truncated .gz) has no record position: name the line reached
        let reached = self.reader.position().line();
        self.reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.shown, &columns, reached, e))
    }

    pub fn line(&self) -> u64 {
        self.record.position().map(|p| p.line()).unwrap_or(0)
    }

    fn err(&self, col: usize, what: &str) -> Error {
        let columns = self.reader_columns();
        Error::InvalidInput(format!(
            "{} line {}, column {}: {what}",
            self.shown,
            self.line(),
            columns.get(col).copied().unwrap_or("?")
        ))
    }

    fn reader_columns(&self) -> Vec<&'static str> {
        ALL.iter()
            .find(|f| f.name == self.file)
            .map(|f| f.columns.to_vec())
            .unwrap_or_default()
    }

    /// The raw text of a field ("" for an empty one).
    pub fn str(&self, col: usize) -> &str {
        self.record.get(col).unwrap_or("")
    }

    /// A text field; empty → None.
    pub fn opt_str(&self, col: usize) -> Option<&str> {
        let s = self.str(col);
        (!s.is_empty()).then_some(s)
    }

    /// A required non-empty text field.
    pub fn req_str(&self, col: usize) -> Result<&str> {
        self.opt_str(col).ok_or_else(|| self.err(col, "is empty"))
    }

    pub fn opt_int(&self, col: usize) -> Result<Option<i32>> {
        let s = self.str(col);
        if s.is_empty() {
            return Ok(None);
        }
        // Integer columns may be written as `3.0` by some tools; accept an all-zero fraction.
        let t = s.strip_suffix(".0").unwrap_or(s);
        t.parse::<i32>()
            .map(Some)
            .map_err(|_| self.err(col, &format!("`{s}` is not an integer")))
    }

    pub fn req_int(&self, col: usize) -> Result<i32> {
        self.opt_int(col)?.ok_or_else(|| self.err(col, "is empty"))
    }

    pub fn req_f64(&self, col: usize) -> Result<f64> {
        let s = self.str(col);
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| self.err(col, &format!("`{s}` is not a number")))
    }

    /// Money as cents; at most two decimals, no float rounding.
    pub fn req_money(&self, col: usize) -> Result<i64> {
        let s = self.str(col);
        parse_money(s).ok_or_else(|| {
            self.err(
                col,
                &format!("`{s}` is not an amount with at most 2 decimals"),
            )
        })
    }

    /// `YYYY-MM-DD HH:MM:SS` → microseconds since the epoch (zone-less).
    pub fn opt_ts(&self, col: usize) -> Result<Option<i64>> {
        let s = self.str(col);
        if s.is_empty() {
            return Ok(None);
        }
        parse_timestamp(s).map(Some).ok_or_else(|| {
            self.err(
                col,
                &format!("`{s}` is not a timestamp YYYY-MM-DD HH:MM:SS"),
            )
        })
    }

    pub fn req_ts(&self, col: usize) -> Result<i64> {
        self.opt_ts(col)?.ok_or_else(|| self.err(col, "is empty"))
    }

    /// A zip prefix as a 5-character string (left-padded with zeros).
    pub fn zip(&self, col: usize) -> Result<Option<String>> {
        let s = self.str(col);
        if s.is_empty() {
            return Ok(None);
        }
        if s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(
                col,
                &format!("`{s}` is not a zip code prefix (up to 5 digits)"),
            ));
        }
        Ok(Some(format!("{s:0>5}")))
    }
}

fn csv_error(file: &str, columns: &[&str], reached: u64, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).or(Some(reached));
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "invalid UTF-8 in column {}",
            columns.get(err.field()).copied().unwrap_or("?")
        ),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where {expected_len} are expected (truncated or malformed row)")
        }
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => e.to_string(),
    };
    match line {
        Some(l) => Error::InvalidInput(format!("{file} line {l}: {what}")),
        None => Error::InvalidInput(format!("{file}: {what}")),
    }
}

/// `12.30` → 1230 cents. Accepts an optional sign and at most two decimals.
pub fn parse_money(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut cents: i64 = int.parse::<i64>().ok()?.checked_mul(100)?;
    if !frac.is_empty() {
        let f: i64 = frac.parse().ok()?;
        cents += if frac.len() == 1 { f * 10 } else { f };
    }
    Some(if neg { -cents } else { cents })
}

/// Strict `YYYY-MM-DD HH:MM:SS` → microseconds since 1970-01-01 00:00:00.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(date.and_time(time).and_utc().timestamp_micros())
}

/// Microseconds since the epoch → `YYYY-MM-DD HH:MM:SS`.
pub fn format_timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parsing_is_exact() {
        assert_eq!(parse_money("99.33"), Some(9933));
        assert_eq!(parse_money("0.85"), Some(85));
        assert_eq!(parse_money("6735.00"), Some(673_500));
        assert_eq!(parse_money("12.3"), Some(1230));
        assert_eq!(parse_money("12"), Some(1200));
        assert_eq!(parse_money("-1.50"), Some(-150));
        for bad in ["", "abc", "1.234", "1,50", ".5", "1.x", "1e3"] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        assert_eq!(money(9933), "99.33");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(0), "0.00");
    }

    #[test]
    fn timestamps_are_strict() {
        let t = parse_timestamp("2017-11-24 10:30:05").unwrap();
        assert_eq!(format_timestamp(t), "2017-11-24 10:30:05");
        for bad in [
            "2017-11-24",
            "2017-11-24T10:30:05",
            "2017-13-01 00:00:00",
            "2017-02-30 00:00:00",
            "2017-11-24 25:00:00",
            "2017-11-24 10:30:5 ",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
    }
}
