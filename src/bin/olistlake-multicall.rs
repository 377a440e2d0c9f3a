//! Every olistlake program in one executable, chosen by the name it is called by (as busybox):
//! the container image installs it once with a link per program name, so DataFusion, Arrow and
//! Iceberg are in the image once instead of once per program.

use std::path::Path;
use std::process::ExitCode;

#[path = "bronze-load.rs"]
mod bronze_load;
#[path = "gold-bcg.rs"]
mod gold_bcg;
#[path = "gold-leadtime.rs"]
mod gold_leadtime;
#[path = "olist-prepare.rs"]
mod olist_prepare;
#[path = "olist-replay.rs"]
mod olist_replay;
#[path = "olist-synth.rs"]
mod olist_synth;
#[path = "olistlake.rs"]
mod olistlake_cli;
#[path = "silver-build.rs"]
mod silver_build;

/// A program's `main`.
type Main = fn() -> ExitCode;

/// The programs, by the names they are installed under.
const PROGRAMS: [(&str, Main); 8] = [
    ("olistlake", olistlake_cli::main),
    ("olist-synth", olist_synth::main),
    ("olist-prepare", olist_prepare::main),
    ("olist-replay", olist_replay::main),
    ("bronze-load", bronze_load::main),
    ("silver-build", silver_build::main),
    ("gold-bcg", gold_bcg::main),
    ("gold-leadtime", gold_leadtime::main),
];

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    match PROGRAMS.iter().find(|(n, _)| *n == name) {
        Some((_, program)) => program(),
        None => {
            let names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "olistlake-multicall: called as `{name}`; link it under one of: {}",
                names.join(", ")
            );
            ExitCode::from(1)
        }
    }
}
