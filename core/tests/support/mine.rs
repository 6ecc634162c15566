//! Mining regtest headers in tests: the workspace's one miner, `headway-regtest`.

#[allow(unused_imports)]
pub use headway_regtest::mine;
