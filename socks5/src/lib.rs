//! headway-socks5: the client side of a SOCKS5 proxy handshake (RFC 1928), sans-IO.
//!
//! This crate owns one thing: turning "connect to this target through a SOCKS5 proxy" into the
//! bytes to write to an already open TCP connection to the proxy, and the proxy's answers into
//! either "tunnel open" or a typed [`Socks5Error`]. It opens no socket, reads no clock, resolves
//! no name and spawns nothing, so the mio driver and the async-std driver share it unchanged.
//!
//! What it speaks, and what it does not:
//!
//! - the CONNECT command (RFC 1928 §4) only; BIND and UDP ASSOCIATE are not needed by a node;
//! - the method "no authentication required" (§3, `0x00`) only. A proxy that insists on
//!   username/password (RFC 1929, method `0x02`) or anything else is refused with
//!   [`Socks5Error::MethodNotOffered`] or [`Socks5Error::NoAcceptableMethod`];
//! - targets as an IPv4 or IPv6 socket address or as a domain name (§5, ATYP `0x03`, 1 to 255
//!   bytes). Domain names are sent to the proxy as they are, never resolved here: behind a proxy,
//!   DNS seeds and `.onion` names must be resolved by the proxy (Tor), or the lookup leaks;
//! - Tor's answers: Tor replies with the RFC's layout (a bound address of `0.0.0.0:0`), and with
//!   `ExtendedErrors` on its `SocksPort` it uses codes `0xF0..=0xF7` for onion-service failures
//!   (Tor proposal 304); those arrive as [`Socks5Error::Unassigned`] and are named in its message.
//!
//! The one rule a driver follows: after [`Socks5Connect::new`] and after every
//! [`Socks5Connect::received`], write out everything [`Socks5Connect::poll_transmit`] returns
//! until it returns `None`; read from the proxy and feed the bytes to `received` until it says
//! [`Progress::Connected`]; from then on the connection is the tunnelled stream, and the
//! `leftover` bytes of that answer are its first bytes. Nothing is pipelined: the request goes
//! out only after the proxy has accepted our method, because some servers (microsocks among
//! them) read one message per `recv` and would drop a request sent along with the greeting.
//! Time is the driver's: [`HANDSHAKE_TIMEOUT`] is the limit Bitcoin Core uses.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod error;
pub mod rfc1928;
mod target;

#[cfg(test)]
mod tests;

pub use connect::{Progress, Socks5Connect};
pub use error::Socks5Error;
pub use target::{BoundAddr, DomainName, Target};

use std::time::Duration;

/// How long a driver should wait for the whole handshake before giving up on the proxy: 20
/// seconds, Bitcoin Core's `socks5::g_recv_timeout` (`src/netbase.cpp`, "ample time for
/// negotiation for very slow proxies such as Tor"). The state machine never reads a clock; the
/// driver enforces this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
