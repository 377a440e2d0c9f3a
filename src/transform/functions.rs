//! The SQL functions the models use beyond DataFusion's own, each exact and documented:
//!
//! - `days_between(later, earlier)` → INT: calendar-day difference of the two instants' dates
//!   (as Spark's `datediff(later, earlier)`: 23:59 → 00:01 next day is 1).
//! - `hours_between(later, earlier)` → DECIMAL(18,4): exact hours, rounded half away from zero.
//! - `quarter_of(ts)` → VARCHAR: the calendar quarter, `2017-Q4`.
//! - `mean_of(total, count)` → DECIMAL(18,4): total / count rounded half away from zero.
//!
//! Arguments of any timestamp unit or decimal scale are accepted; nulls give null.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Decimal128Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

type Kernel = fn(&[ArrayRef]) -> Result<ArrayRef, DataFusionError>;

/// A scalar function over whole arrays with a fixed return type (identified by its name).
#[derive(Debug)]
struct Function {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    kernel: Kernel,
}

impl PartialEq for Function {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Function {}
impl std::hash::Hash for Function {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Function {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(self.returns.clone())
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.kernel)(&arrays)?;
        Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

/// Registers the project's functions in a session.
pub fn register(ctx: &SessionContext) {
    let f = |name, arity, returns, kernel| {
        ScalarUDF::from(Function {
            name,
            signature: Signature::any(arity, Volatility::Immutable),
            returns,
            kernel,
        })
    };
    ctx.register_udf(f("days_between", 2, DataType::Int32, days_between));
    ctx.register_udf(f("hours_between", 2, DECIMAL_18_4, hours_between));
    ctx.register_udf(f("quarter_of", 1, DataType::Utf8, quarter_of));
    ctx.register_udf(f("mean_of", 2, DECIMAL_18_4, mean_of));
}

const DECIMAL_18_4: DataType = DataType::Decimal128(18, 4);
const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i128 = 3_600_000_000;

fn micros(a: &ArrayRef) -> Result<TimestampMicrosecondArray, DataFusionError> {
    let c = cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(c.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| DataFusionError::Internal("timestamp cast".into()))?
        .clone())
}

fn days_between(args: &[ArrayRef]) -> Result<ArrayRef, DataFusionError> {
    let (a, b) = (micros(&args[0])?, micros(&args[1])?);
    let day = |us: i64| us.div_euclid(MICROS_PER_DAY);
    let out: Int32Array = a
        .iter()
        .zip(b.iter())
        .map(|(a, b)| Some((day(a?) - day(b?)) as i32))
        .collect();
    Ok(Arc::new(out))
}

/// `num / den` at scale 4, rounded half away from zero (`num` already at scale 4 + extra).
fn div_round(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den.abs() {
        q + num.signum() * den.signum()
    } else {
        q
    }
}

fn hours_between(args: &[ArrayRef]) -> Result<ArrayRef, DataFusionError> {
    let (a, b) = (micros(&args[0])?, micros(&args[1])?);
    let out: Decimal128Array = a
        .iter()
        .zip(b.iter())
        .map(|(a, b)| Some(div_round((a? - b?) as i128 * 10_000, MICROS_PER_HOUR)))
        .collect();
    Ok(Arc::new(out.with_precision_and_scale(18, 4)?))
}

/// The calendar quarter of a date or time: `2017-Q4`.
pub(super) fn quarter_label(t: impl Datelike) -> String {
    format!("{}-Q{}", t.year(), t.month0() / 3 + 1)
}

fn quarter_of(args: &[ArrayRef]) -> Result<ArrayRef, DataFusionError> {
    let a = micros(&args[0])?;
    let out: StringArray = a
        .iter()
        .map(|t| {
            let t = DateTime::from_timestamp_micros(t?)?.naive_utc();
            Some(quarter_label(t))
        })
        .collect();
    Ok(Arc::new(out))
}

fn mean_of(args: &[ArrayRef]) -> Result<ArrayRef, DataFusionError> {
    let scale = match args[0].data_type() {
        DataType::Decimal128(_, s) => *s,
        other => {
            return Err(DataFusionError::Plan(format!(
                "mean_of: total must be a decimal, not {other}"
            )));
        }
    };
    let total = args[0]
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| DataFusionError::Internal("mean_of: decimal".into()))?;
    let count = cast(&args[1], &DataType::Int64)?;
    let count = count
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| DataFusionError::Internal("mean_of: count".into()))?;
    // total·10^(4−s) / count, rounded; s ≤ 4 for every money column.
    let shift = 10i128.pow((4 - scale.min(4)) as u32);
    let out: Decimal128Array = total
        .iter()
        .zip(count.iter())
        .map(|(t, c)| match (t, c) {
            (Some(t), Some(c)) if c != 0 => Some(div_round(t * shift, c as i128)),
            _ => None,
        })
        .collect();
    Ok(Arc::new(out.with_precision_and_scale(18, 4)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn ts(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    fn col(values: &[&str]) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(
            values.iter().map(|v| ts(v)).collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn days_between_counts_calendar_days() {
        let later = col(&[
            "2017-01-02 00:01:00",
            "2017-01-01 23:59:00",
            "2017-03-01 00:00:00",
            "2016-12-31 10:00:00",
        ]);
        let earlier = col(&[
            "2017-01-01 23:59:00",
            "2017-01-01 00:00:00",
            "2017-02-28 23:59:59",
            "2017-01-01 09:00:00",
        ]);
        let out = days_between(&[later, earlier]).unwrap();
        let out = out.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(out.values(), &[1, 0, 1, -1]);
    }

    #[test]
    fn hours_between_rounds_half_away_from_zero() {
        let later = col(&[
            "2017-01-02 00:00:00",
            "2017-01-01 00:00:18",
            "2017-01-01 00:00:00",
        ]);
        let earlier = col(&[
            "2017-01-01 00:00:00",
            "2017-01-01 00:00:00",
            "2017-01-01 00:00:18",
        ]);
        let out = hours_between(&[later, earlier]).unwrap();
        let out = out.as_any().downcast_ref::<Decimal128Array>().unwrap();
        // 24 h; 18 s = 0.005 h → 0.0050; −0.0050
        assert_eq!(out.values(), &[240_000, 50, -50]);
        let later = col(&["2017-01-01 00:00:01"]);
        let earlier = col(&["2017-01-01 00:00:00"]);
        let out = hours_between(&[later, earlier]).unwrap();
        let out = out.as_any().downcast_ref::<Decimal128Array>().unwrap();
        // 1 s = 0.000277… h → 0.0003
        assert_eq!(out.value(0), 3);
    }

    #[test]
    fn quarters() {
        let t = col(&[
            "2017-01-01 00:00:00",
            "2017-03-31 23:59:59",
            "2017-04-01 00:00:00",
            "2017-12-31 12:00:00",
        ]);
        let out = quarter_of(&[t]).unwrap();
        let out = out.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<_> = out.iter().map(|s| s.unwrap()).collect();
        assert_eq!(got, ["2017-Q1", "2017-Q1", "2017-Q2", "2017-Q4"]);
    }

    #[test]
    fn mean_of_rounds_to_four_places() {
        let total: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1000, 2000, 1, -2000])
                .with_precision_and_scale(28, 2)
                .unwrap(),
        );
        let count: ArrayRef = Arc::new(Int64Array::from(vec![3, 3, 8, 3]));
        let out = mean_of(&[total, count]).unwrap();
        let out = out.as_any().downcast_ref::<Decimal128Array>().unwrap();
        // 10.00/3 = 3.3333; 20.00/3 = 6.6667; 0.01/8 = 0.00125 → 0.0013; −6.6667
        assert_eq!(out.values(), &[33_333, 66_667, 13, -66_667]);
    }
}
