//! Helpers shared by headway's fuzz targets (`fuzz_targets/`): a reader that turns fuzz bytes
//! into choices, a miner for cheap regtest proof of work, and a slow, obviously correct
//! reference of the regtest header rules that the `chain` target holds `HeaderChain` to.
//!
//! Run the targets with `cargo fuzz run --sanitizer none <wire|chain|node>` from the workspace
//! root (see `.ci/fuzz.sh`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod input;
pub mod invariants;
pub mod reference;
pub mod regtest;

pub use input::FuzzInput;
pub use invariants::assert_best_chain_links;
pub use reference::{ReferenceChain, RuleBroken};
