//! Shared code of the benchmarks in `benches/benches/`: the PACS export tree generator.
#![warn(missing_docs)]

pub mod tree;
