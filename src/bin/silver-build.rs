//! `silver-build`: conform bronze into the five silver tables for a data interval.
//! Flags and run: `olistlake::transform::main` with the job's spec.

#[tokio::main]
pub async fn main() -> std::process::ExitCode {
    olistlake::transform::main(&olistlake::transform::SILVER_BUILD)
        .await
        .into()
}
