//! Test support shared by the simulation tests: a deterministic network of cores on virtual
//! time, scripted raw peers, and a regtest header miner.
#![allow(dead_code)]

pub mod fixtures;
pub mod mine;
pub mod sim;
