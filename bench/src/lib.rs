//! What the benchmarks and the reliability scenario share: the load generator.

pub mod load;
