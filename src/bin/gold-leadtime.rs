//! `gold-leadtime`: delivery lead times for a data interval and the open-order monitor as of
//! its end (its orders labelled with the --category portfolio's segments).
//! Flags and run: `olistlake::transform::main` with the job's spec.

pub fn main() -> std::process::ExitCode {
    olistlake::job::block_on(olistlake::transform::main(
        &olistlake::transform::GOLD_LEADTIME,
    ))
    .into()
}
