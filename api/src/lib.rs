//! headway's interfaces for applications: Bitcoin Core-compatible JSON-RPC and REST over HTTP.
//!
//! Reads come from LMDB read transactions on the node's store ([`chain_view`]), so a query
//! never waits for the sync and the sync never waits for a query; tip waits and peer questions
//! go to the running node through [`node_link`].
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | routing `/` to JSON-RPC after a login and `/rest/` to REST, the cookie's life, default ports |
//! | [`http`] | the HTTP/1.1 server: one IO thread, a bounded work queue, worker threads, every limit |
//! | [`auth`], [`cookie`] | Core's logins (user/password, rpcauth, cookie) and the `.cookie` file |
//! | [`rpc`] | the JSON-RPC envelope, argument checks, and the methods |
//! | [`rest`] | Core's REST endpoints |
//! | [`chain_view`], [`chain_json`] | the chain as the API reads it, and Core's JSON objects for it |
//! | [`format`] | Core's number and hex formats (`%.16g` doubles, compact bits, targets, amounts) |
//! | [`node_link`] | requests to the node, peer reports, the stored tip that waits and subscribers follow |
//!
//! The HTTP server is our own, on `mio` and `httparse`, rather than a server crate: what the
//! interface must promise (Core's bounded work queue with an immediate 503, a fixed pool whose
//! long-poll `waitfor*` calls cannot starve the IO, one deadline per request that trickled
//! bytes do not extend, a connection cap, bodies refused before they are read) is the part a
//! general server leaves to its async runtime, and both runtimes here are already one too
//! many to add a third (tokio) for ~1,000 lines.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod chain_json;
pub mod chain_view;
pub mod cookie;
pub mod format;
pub mod http;
pub mod node_link;
pub mod rest;
pub mod rpc;
pub mod server;

pub use server::{default_rpc_port, ApiConfig, ApiError, ApiServer};
