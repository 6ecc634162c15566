//! Where the proxy should connect to, and where it says it connected from.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::rfc1928::MAX_DOMAIN_LEN;
use crate::Socks5Error;

/// A domain name that fits in a SOCKS5 request: 1 to 255 bytes (RFC 1928 §5). The proxy
/// resolves it; this crate only carries it. Its content is not checked further: Tor and other
/// proxies judge names (`.onion` among them) themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Checks the length; an empty name or one longer than 255 bytes is refused here, before a
    /// byte goes to the proxy.
    pub fn new(name: impl Into<String>) -> Result<Self, Socks5Error> {
        let name = name.into();
        match name.len() {
            0 => Err(Socks5Error::EmptyDomain),
            len if len > MAX_DOMAIN_LEN => Err(Socks5Error::DomainTooLong(len)),
            _ => Ok(Self(name)),
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The destination of a CONNECT (RFC 1928 §4, `DST.ADDR` and `DST.PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// An IPv4 or IPv6 address (ATYP X'01' or X'04'). An IPv6 scope id and flow label are not
    /// part of SOCKS5 and are not sent.
    Addr(SocketAddr),
    /// A domain name that the proxy resolves (ATYP X'03'), and a port.
    Domain(DomainName, u16),
}

impl Target {
    /// A domain-name target; refused if the name is empty or longer than 255 bytes.
    pub fn domain(name: impl Into<String>, port: u16) -> Result<Self, Socks5Error> {
        Ok(Self::Domain(DomainName::new(name)?, port))
    }

    /// A target from a host as a user writes it: an IP literal (IPv6 with or without brackets)
    /// becomes [`Target::Addr`], anything else a [`Target::Domain`] left for the proxy to
    /// resolve. Nothing is looked up here.
    pub fn from_host(host: &str, port: u16) -> Result<Self, Socks5Error> {
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match literal.parse::<IpAddr>() {
            Ok(ip) => Ok(Self::Addr(SocketAddr::new(ip, port))),
            Err(_) => Self::domain(host, port),
        }
    }

    /// The target for a peer the core asked to dial: `host`, if it named one (an onion
    /// service, a seed behind the proxy), at `addr`'s port; else `addr` itself.
    pub fn for_peer(addr: SocketAddr, host: Option<&str>) -> Result<Self, Socks5Error> {
        match host {
            Some(host) => Self::domain(host, addr.port()),
            None => Ok(Self::Addr(addr)),
        }
    }

    /// The destination port.
    pub fn port(&self) -> u16 {
        match self {
            Self::Addr(addr) => addr.port(),
            Self::Domain(_, port) => *port,
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(addr) => write!(f, "{addr}"),
            Self::Domain(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// The address the proxy reports for its end of the tunnel (RFC 1928 §6, `BND.ADDR` and
/// `BND.PORT`). For CONNECT it is informational only: Tor and microsocks both answer
/// `0.0.0.0:0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BoundAddr {
    /// An IPv4 or IPv6 address and port (ATYP X'01' or X'04').
    Addr(SocketAddr),
    /// A domain name (ATYP X'03'), as raw bytes: the proxy's bytes need not be UTF-8 and may be
    /// empty; and the port.
    Domain(Vec<u8>, u16),
}

impl fmt::Display for BoundAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Addr(addr) => write!(f, "{addr}"),
            Self::Domain(name, port) => write!(f, "{}:{port}", String::from_utf8_lossy(name)),
        }
    }
}
