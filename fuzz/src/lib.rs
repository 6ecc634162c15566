//! Helpers shared by headway's fuzz targets (`fuzz_targets/`): a reader that turns fuzz bytes
//! into choices, a miner for cheap proof of work, a slow, obviously correct reference of Core's
//! header rules that the `chain` target holds `HeaderChain` to (it imports nothing from
//! `headway_core`), chains premined on it, the comparison of verdicts, and a model of the store
//! that replays `PersistChain` changes.
//!
//! Run the targets with `cargo fuzz run --sanitizer none <wire|chain|node>` from the workspace
//! root (see `.ci/fuzz.sh`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crosscheck;
pub mod input;
pub mod invariants;
pub mod premine;
pub mod reference;
pub mod regtest;
pub mod store_model;
pub mod verdict;

pub use input::FuzzInput;
pub use invariants::assert_best_chain_links;
pub use reference::{ReferenceChain, RuleBroken};
pub use store_model::ModelStore;
