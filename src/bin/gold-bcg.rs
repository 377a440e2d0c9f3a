//! `gold-bcg`: sales per quarter and the BCG portfolio of one category, for a data interval.
//! Flags and run: `olistlake::transform::main` with the job's spec.

pub fn main() -> std::process::ExitCode {
    olistlake::job::block_on(olistlake::transform::main(&olistlake::transform::GOLD_BCG)).into()
}
