//! The Olist dataset: its nine raw files, a faithful synthetic generator, and the prepare step
//! that turns raw files into the nine event-ready tables the replay producer publishes.

pub mod facts;
pub mod prepare;
pub mod raw;
pub mod rng;
pub mod synth;
