//! Shared test support: a real bcoin peer ([`bcoin`]), headway node processes ([`headway`]), an
//! HTTP/1.1 client for headway's JSON-RPC and REST server ([`http`]) and the RPC load scenario
//! ([`load`]). Every test binary uses a different part, so unused items are expected.
#![allow(dead_code)]

pub mod bcoin;
pub mod headway;
pub mod http;
pub mod load;
