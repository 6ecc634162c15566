//! Shared test support: a real bcoin peer ([`bcoin`]) and headway node processes ([`headway`]).
//! Every test binary uses a different part, so unused items are expected.
#![allow(dead_code)]

pub mod bcoin;
pub mod headway;
