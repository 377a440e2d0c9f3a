//! `gold-bcg`: sales per quarter and the BCG portfolio of one category, for a data interval.
//! Flags and run: `olistlake::transform::main` with the job's spec.

#[tokio::main]
pub async fn main() -> std::process::ExitCode {
    olistlake::transform::main(&olistlake::transform::GOLD_BCG)
        .await
        .into()
}
