//! `olist-prepare`: the nine raw Olist CSV files → the nine prepared tables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use olistlake::olist::prepare::{Format, prepare};

#[derive(Parser, Debug)]
#[command(
    name = "olist-prepare",
    version,
    about = "Validate the raw Olist files and write the nine prepared tables"
)]
struct Args {
    /// Directory with the nine raw CSV files (real Kaggle download or olist-synth output;
    /// each file may be gzip-compressed as NAME.csv.gz).
    #[arg(long, default_value = "data/raw")]
    input: PathBuf,
    /// Output directory; existing tables there are replaced only when every input is valid.
    #[arg(long, default_value = "data/prepared")]
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    format: Format,
}

pub fn main() -> ExitCode {
    olistlake::job::init_logging();
    let args = Args::parse();
    let start = Instant::now();
    let result = prepare(&args.input, &args.out, args.format).map(|report| {
        eprint!("{}", report.render());
        serde_json::json!({"tables": report.tables, "files": report.files})
    });
    olistlake::job::tool_summary("olist-prepare", start, result).into()
}
