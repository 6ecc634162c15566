//! Mining regtest headers in tests: the workspace's one miner, `headway-regtest`.

pub use headway_regtest::mine;
