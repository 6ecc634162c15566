//! headway's interfaces for applications: Bitcoin Core-compatible JSON-RPC and REST over HTTP.
//!
//! Reads come from LMDB read transactions on the node's store ([`chain_view`]), so a query
//! never waits for the sync and the sync never waits for a query; tip waits and peer questions
//! go to the running node through [`node_link`].

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
