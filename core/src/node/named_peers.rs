//! Peers reached by name through the proxy: Tor v3 `.onion` services from the address book,
//! and DNS seeds, which behind a proxy are not resolved here but connected to by name, so that
//! the proxy resolves them (Core's `AddAddrFetch(seed)` in `ThreadDNSAddressSeed` when it has a
//! name proxy).
//!
//! Everything else in the node names a connection by a `SocketAddr`, and such a peer has none
//! we could know. Each name gets a stand-in, [`identity`]: an IPv6 address in
//! [`NAMED_PREFIX`], a unique-local range (fd00::/8, never routed, so it can neither collide
//! with a real peer's address nor be dialled by mistake), fixed by the name. The driver is told
//! the name with the stand-in ([`crate::Output::Connect`]'s `host`) and asks the proxy for the
//! name; the rest of the node uses the stand-in as any address, and this table maps it back to
//! the name and, for an onion service, to its entry in the address book.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::p2p::address::AddrV2;

/// The first 48 bits of every stand-in address: fd68:7761:6d65 ("hwame", in a unique-local
/// range of our own; RFC 4193 lets anyone pick a /48 under fd00::/8).
pub const NAMED_PREFIX: [u8; 6] = [0xfd, 0x68, 0x77, 0x61, 0x6d, 0x65];

/// Most names remembered; the oldest is forgotten first (a connection to it that is still
/// open keeps its stand-in, only the way back to the name is lost, so it is not redialled).
pub const NAMED_LIMIT: usize = 4096;

/// The stand-in address of `host` at `port`: [`NAMED_PREFIX`] and the first 80 bits of
/// SHA-256 of the name.
pub fn identity(host: &str, port: u16) -> SocketAddr {
    let hash = sha256::Hash::hash(host.as_bytes());
    let mut octets = [0u8; 16];
    octets[..6].copy_from_slice(&NAMED_PREFIX);
    octets[6..].copy_from_slice(&hash.as_byte_array()[..10]);
    SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), port, 0, 0))
}

/// The longest name a peer can be given by: what a SOCKS5 request carries (RFC 1928 §5, a
/// one-byte length; `headway-socks5`'s `DomainName` refuses longer ones at the wire).
pub const MAX_HOST_LEN: usize = 255;

/// `host` as a peer's name to be dialled through the proxy, lower-cased, if it is one: 1 to
/// [`MAX_HOST_LEN`] letters, digits, `.`, `-` and `_` (a DNS name or an `.onion` service).
/// The one rule for names a user gives (`--connect`, `--addnode`, the `addnode` RPC), so the
/// settings and the RPC accept the same names and name the same stand-in.
pub fn host_name(host: &str) -> Option<String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    (!host.is_empty() && host.len() <= MAX_HOST_LEN && host.chars().all(valid))
        .then(|| host.to_ascii_lowercase())
}

/// Whether `addr` is a stand-in.
pub fn is_stand_in(addr: &SocketAddr) -> bool {
    match addr {
        SocketAddr::V6(v6) => v6.ip().octets()[..6] == NAMED_PREFIX,
        SocketAddr::V4(_) => false,
    }
}

/// One name behind a stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// What the proxy is asked to connect to.
    pub host: String,
    /// The address book's key for it (onion services); `None` for a DNS seed.
    pub book: Option<(AddrV2, u16)>,
}

/// The names the node dialled, by stand-in.
#[derive(Debug, Clone, Default)]
pub struct NamedPeers {
    names: BTreeMap<SocketAddr, Named>,
    order: VecDeque<SocketAddr>,
}

impl NamedPeers {
    /// Records `host` at `port` and returns its stand-in.
    pub fn insert(&mut self, host: String, port: u16, book: Option<(AddrV2, u16)>) -> SocketAddr {
        let addr = identity(&host, port);
        if self.names.insert(addr, Named { host, book }).is_none() {
            self.order.push_back(addr);
            while self.order.len() > NAMED_LIMIT {
                if let Some(old) = self.order.pop_front() {
                    self.names.remove(&old);
                }
            }
        }
        addr
    }

    /// Records `host` at `port` for good and returns its stand-in: a peer the user asked to
    /// keep ([`crate::Request::AddNamedPeer`]) is redialled by its name for as long as the
    /// node runs, so the name is never forgotten to make room ([`NAMED_LIMIT`] counts only
    /// the names the node found itself).
    pub fn pin(&mut self, host: String, port: u16) -> SocketAddr {
        let addr = identity(&host, port);
        let book = self.names.get(&addr).and_then(|n| n.book.clone());
        self.names.insert(addr, Named { host, book });
        self.order.retain(|a| *a != addr);
        addr
    }

    /// The name behind a stand-in.
    pub fn get(&self, addr: &SocketAddr) -> Option<&Named> {
        self.names.get(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_fixed_by_the_name_and_never_real() {
        let a = identity("seed.bitcoin.sipa.be", 8333);
        assert_eq!(a, identity("seed.bitcoin.sipa.be", 8333));
        assert_ne!(a, identity("seed.bitcoin.sprovoost.nl", 8333));
        assert_eq!(a.port(), 8333);
        assert!(is_stand_in(&a));
        assert!(!is_stand_in(&"[fd00::1]:1".parse().unwrap()));
        assert!(!is_stand_in(&"1.2.3.4:1".parse().unwrap()));
        let (kind, _) = crate::addrbook::netgroup::from_socket(a);
        assert!(!crate::addrbook::netgroup::is_routable(&kind));
    }

    #[test]
    fn host_names_are_lower_cased_and_bounded() {
        assert_eq!(host_name("Node.Example").as_deref(), Some("node.example"));
        assert_eq!(host_name("a_b-c.onion").as_deref(), Some("a_b-c.onion"));
        for bad in ["", "a b", "a:1", "[::1]"] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
        assert!(host_name(&"a".repeat(MAX_HOST_LEN)).is_some());
        assert_eq!(host_name(&"a".repeat(MAX_HOST_LEN + 1)), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = NamedPeers::default();
        let first = t.insert("n0.example".into(), 1, None);
        for i in 1..=NAMED_LIMIT {
            t.insert(format!("n{i}.example"), 1, None);
        }
        assert!(t.get(&first).is_none(), "the oldest went first");
        let last = identity(&format!("n{NAMED_LIMIT}.example"), 1);
        assert_eq!(t.get(&last).map(|n| n.host.as_str()), Some("n4096.example"));
    }

    #[test]
    fn a_pinned_name_outlives_any_number_of_others() {
        let mut t = NamedPeers::default();
        let kept = t.pin("mynode.example".into(), 8333);
        // A name the node found first and the user named after: pinned too.
        let found = t.insert("found.example".into(), 8333, None);
        assert_eq!(t.pin("found.example".into(), 8333), found);
        for i in 0..=2 * NAMED_LIMIT {
            t.insert(format!("n{i}.example"), 1, None);
        }
        assert_eq!(
            t.get(&kept).map(|n| n.host.as_str()),
            Some("mynode.example")
        );
        assert_eq!(
            t.get(&found).map(|n| n.host.as_str()),
            Some("found.example")
        );
        assert!(
            t.get(&identity("n0.example", 1)).is_none(),
            "the others are still bounded"
        );
        assert!(t.order.len() <= NAMED_LIMIT);
    }
}
