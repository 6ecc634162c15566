//! Shared test support: a real bcoin peer ([`bcoin`]), headway node processes ([`headway`]) and a
//! plain HTTP client for headway's JSON-RPC and REST server ([`http`]).
//! Every test binary uses a different part, so unused items are expected.
#![allow(dead_code)]

pub mod bcoin;
pub mod headway;
pub mod http;
pub mod load;
pub mod raw_http;
