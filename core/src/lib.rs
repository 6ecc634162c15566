//! headway-core: the sans-IO heart of headway.
//!
//! One deterministic state machine, [`Node`], takes [`Input`]s with the time they happened and
//! gives [`Output`]s: bytes to send, connections to open or close, header-tree changes to
//! persist, and events for the application. It does no IO, reads no clock and draws randomness
//! only from a generator seeded through [`Config`]: the same inputs in the same order give the
//! same outputs, byte for byte.
//!
//! Modules by concern: [`wire`] (framing), [`transport`] (telling v1 from v2), [`params`] (networks), [`chain`] (header tree,
//! validation, locators), and the node's own handshake, ping, sync and serving logic.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addrbook;
pub mod archive;
pub mod chain;
pub mod input;
pub mod node;
pub mod output;
pub mod params;
pub mod peer;
pub mod rng;
pub mod seeds;
pub mod time;
pub mod transport;
pub mod wire;

pub use archive::HeaderArchive;
pub use chain::{ChainEntry, ChainLoader, HeaderChain, HeaderError, HeaderRange};
pub use input::{Input, Request};
pub use node::report::{ConnectionKind, PeerSummary, Traffic};
pub use node::{Config, Node, Reachable};
pub use output::{
    DisconnectReason, Event, Notification, Output, PeerReport, PersistChain, ServeHeaders,
    TipChange,
};
pub use params::{Network, Params};
pub use peer::{Direction, PeerId};
pub use rng::SecretSeed;
pub use time::Time;

/// The `bitcoin` crate headway builds on, re-exported so users name the same types.
pub use bitcoin;
