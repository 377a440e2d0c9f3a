//! `olist-prepare`: the nine raw Olist CSV files → the nine prepared tables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use olistlake::Exit;
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

fn main() -> ExitCode {
    olistlake::job::init_logging();
    let args = Args::parse();
    let start = Instant::now();
    match prepare(&args.input, &args.out, args.format) {
        Ok(report) => {
            eprint!("{}", report.render());
            let summary = serde_json::json!({
                "job": "olist-prepare", "status": "ok", "exit_code": 0,
                "duration_s": start.elapsed().as_secs_f64(), "tables": report.tables, "files": report.files,
            });
            println!("{summary}");
            Exit::Ok.into()
        }
        Err(e) => {
            eprintln!("error: {e}");
            println!(
                "{}",
                serde_json::json!({"job": "olist-prepare", "status": "failed", "exit_code": e.exit().code(), "error": e.to_string()})
            );
            e.exit().into()
        }
    }
}
