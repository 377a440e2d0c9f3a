//! `silver-build`: conform bronze into the five silver tables for a data interval.
//! Flags and run: `olistlake::transform::main` with the job's spec.

pub fn main() -> std::process::ExitCode {
    olistlake::job::block_on(olistlake::transform::main(
        &olistlake::transform::SILVER_BUILD,
    ))
    .into()
}
