//! What kind of address a peer address is, whether it is worth dialing or relaying, and which
//! network group it falls in: Bitcoin Core's `CNetAddr` predicates (src/netaddress.cpp) and
//! `NetGroupManager::GetGroup` without an asmap (src/netgroup.cpp).
//!
//! The address book spreads addresses over buckets by group so that one /16, one provider or
//! one source cannot fill it (the eclipse defence of Core's addrman). Our groups are Core's
//! byte for byte, so an address lands in a group the way it would in Core.
//!
//! Everything here answers for the address as Core holds it after reading it. Core reads a
//! 16-byte legacy address with `SetLegacyIPv6`: `::ffff:a.b.c.d` becomes IPv4, the
//! `INTERNAL_IN_IPV6_PREFIX` becomes an internal (DNS seed name) address, and the TorV2 prefix
//! becomes the invalid `::`. Core v31 no longer knows TorV2 and skips unknown BIP155 network
//! ids; both read as `::` here too. [`canonical`] gives that reading as an [`AddrV2`], and every
//! predicate applies it first, so a non-canonical input is judged as Core would judge it.
//!
//! One reading differs by path in Core and the `addr` one is followed here: inside an `addrv2`
//! message Core takes an IPv6 entry carrying `::ffff:a.b.c.d` as invalid (BIP155 says to send
//! IPv4 as IPv4), where we read it as IPv4. It cannot reach us that way anyway: the `bitcoin`
//! crate's `addrv2` decoder refuses such an entry (and the TorV2 prefix) outright.
//!
//! Core v31's `IsRoutable` is mirrored as it stands; ranges Core does not exclude (240.0.0.0/4,
//! the RFC 9637 documentation block 3fff::/20, site-local fec0::/10) are routable here too.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bitcoin::p2p::address::AddrV2;

/// The prefix of an IPv4 address carried in a legacy 16-byte address, `::ffff:0:0/96`
/// (Core's `IPV4_IN_IPV6_PREFIX`, netaddress.h).
const IPV4_IN_IPV6_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];

/// The OnionCat prefix of a TorV2 address carried in a legacy 16-byte address,
/// `fd87:d87e:eb43::/48` (Core's `TORV2_IN_IPV6_PREFIX`); Core v31 reads it as invalid.
const TORV2_IN_IPV6_PREFIX: [u8; 6] = [0xFD, 0x87, 0xD8, 0x7E, 0xEB, 0x43];

/// The prefix of an internal address in a 16-byte address, `0xFD` then the first five bytes of
/// SHA-256("bitcoin") (Core's `INTERNAL_IN_IPV6_PREFIX`). Core's addrman stores DNS seed names
/// this way, as `fd6b:88c0:8724::/48` followed by [`ADDR_INTERNAL_SIZE`] hash bytes.
const INTERNAL_IN_IPV6_PREFIX: [u8; 6] = [0xFD, 0x6B, 0x88, 0xC0, 0x87, 0x24];

/// The hash bytes of an internal address (Core's `ADDR_INTERNAL_SIZE`).
const ADDR_INTERNAL_SIZE: usize = 10;

/// The first byte of every CJDNS address, `fc00::/8` (Core's `CJDNS_PREFIX`, netaddress.h);
/// `CNetAddr::IsValid` rejects a CJDNS address without it.
const CJDNS_PREFIX: u8 = 0xFC;

/// IPv4 `0.0.0.0` (`INADDR_ANY`), invalid in `CNetAddr::IsValid`.
const INADDR_ANY: u32 = 0;

/// IPv4 `255.255.255.255` (`INADDR_NONE`), invalid in `CNetAddr::IsValid`.
const INADDR_NONE: u32 = 0xFFFF_FFFF;

/// Group prefix of an IPv4 address, also one embedded in IPv6: a /16 (netgroup.cpp, "IPv4
/// addresses (and mapped IPv4 addresses) use /16 groups").
const IPV4_GROUP_BITS: usize = 16;

/// Group prefix of an IPv6 address: a /32 (netgroup.cpp, "for the rest of the IPv6 network").
const IPV6_GROUP_BITS: usize = 32;

/// Group prefix inside Hurricane Electric's 2001:470::/32: a /36, since one tunnel broker
/// hands out addresses to many unrelated users (netgroup.cpp).
const HE_NET_GROUP_BITS: usize = 36;

/// Group prefix of a Tor v3 or I2P address: 4 bits of a public key, so 16 groups per network
/// (netgroup.cpp, `nBits = 4`).
const ONION_I2P_GROUP_BITS: usize = 4;

/// Group prefix of a CJDNS address: the constant `fc` byte and 4 bits of key-derived bytes
/// (netgroup.cpp, `nBits = 12`).
const CJDNS_GROUP_BITS: usize = 12;

/// Group of an internal address: all its hash bytes, so each seed name is its own group
/// (netgroup.cpp, `nBits = ADDR_INTERNAL_SIZE * 8`).
const INTERNAL_GROUP_BITS: usize = ADDR_INTERNAL_SIZE * 8;

/// The longest address Core holds: Tor v3 and I2P, 32 bytes (`ADDR_TORV3_SIZE`,
/// `ADDR_I2P_SIZE`).
const MAX_ADDR_LEN: usize = 32;

/// The longest group: a network byte and a whole address ([`NetGroup::of_address`]). Core's
/// own groups are at most the class byte and an internal address's ten hash bytes.
const MAX_GROUP_LEN: usize = 1 + MAX_ADDR_LEN;

/// Which network an address belongs to, Core's `enum Network` (netaddress.h) with its numbering,
/// which is also the first byte of a [`NetGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum NetKind {
    /// Not publicly routable: private, local, documentation, invalid (`NET_UNROUTABLE`).
    Unroutable = 0,
    /// IPv4 (`NET_IPV4`).
    Ipv4 = 1,
    /// IPv6 (`NET_IPV6`).
    Ipv6 = 2,
    /// Tor v3 (`NET_ONION`).
    Onion = 3,
    /// I2P (`NET_I2P`).
    I2p = 4,
    /// CJDNS (`NET_CJDNS`).
    Cjdns = 5,
    /// A name (a DNS seed) standing in as an address in the book (`NET_INTERNAL`).
    Internal = 6,
}

impl NetKind {
    /// The kind with Core's number `n`, if there is one.
    pub fn from_u8(n: u8) -> Option<NetKind> {
        Some(match n {
            0 => NetKind::Unroutable,
            1 => NetKind::Ipv4,
            2 => NetKind::Ipv6,
            3 => NetKind::Onion,
            4 => NetKind::I2p,
            5 => NetKind::Cjdns,
            6 => NetKind::Internal,
            _ => return None,
        })
    }
}

/// An address as Core holds it after reading: `CNetAddr`'s `m_net` with its `m_addr`.
#[derive(Clone, Copy)]
enum Net {
    Ipv4([u8; 4]),
    Ipv6([u8; 16]),
    Onion([u8; 32]),
    I2p([u8; 32]),
    Cjdns([u8; 16]),
    Internal([u8; ADDR_INTERNAL_SIZE]),
}

/// What Core reads for `addr` (`CNetAddr::SetLegacyIPv6`; a default `CNetAddr`, the invalid
/// `::`, for networks it drops).
fn read(addr: &AddrV2) -> Net {
    match addr {
        AddrV2::Ipv4(ip) => Net::Ipv4(ip.octets()),
        AddrV2::Ipv6(ip) => {
            let o = ip.octets();
            if let Some(v4) = o.strip_prefix(&IPV4_IN_IPV6_PREFIX[..]) {
                Net::Ipv4(fixed(v4))
            } else if o.starts_with(&TORV2_IN_IPV6_PREFIX) {
                Net::Ipv6([0; 16])
            } else if let Some(hash) = o.strip_prefix(&INTERNAL_IN_IPV6_PREFIX[..]) {
                Net::Internal(fixed(hash))
            } else {
                Net::Ipv6(o)
            }
        }
        AddrV2::TorV3(key) => Net::Onion(*key),
        AddrV2::I2p(hash) => Net::I2p(*hash),
        AddrV2::Cjdns(ip) => Net::Cjdns(ip.octets()),
        // TorV2 support is gone from Core (v22) and unknown ids are skipped on read.
        AddrV2::TorV2(_) | AddrV2::Unknown(..) => Net::Ipv6([0; 16]),
    }
}

/// The first `N` bytes of `bytes` as an array, zero-padded (the callers pass exactly `N`).
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// `addr` as Core holds it once read: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4, the
/// TorV2-in-IPv6 prefix, `TorV2` and unknown networks become the invalid `::`, anything else is
/// unchanged (`CNetAddr::SetLegacyIPv6`, used by the `addr` reader and by `CService` from a
/// socket address). An internal address stays in its IPv6 form, which is how [`AddrV2`] spells
/// it.
pub fn canonical(addr: AddrV2) -> AddrV2 {
    match addr {
        AddrV2::Ipv6(ip) => match read(&AddrV2::Ipv6(ip)) {
            Net::Ipv4(v4) => AddrV2::Ipv4(Ipv4Addr::from(v4)),
            Net::Ipv6(o) => AddrV2::Ipv6(Ipv6Addr::from(o)),
            _ => AddrV2::Ipv6(ip),
        },
        AddrV2::TorV2(_) | AddrV2::Unknown(..) => AddrV2::Ipv6(Ipv6Addr::UNSPECIFIED),
        other => other,
    }
}

/// The canonical address and the port of a socket address, as Core's `CService` constructors
/// read a `sockaddr_in` / `sockaddr_in6` (an IPv4-mapped IPv6 peer is an IPv4 peer).
pub fn from_socket(addr: SocketAddr) -> (AddrV2, u16) {
    let a = match addr.ip() {
        IpAddr::V4(ip) => AddrV2::Ipv4(ip),
        IpAddr::V6(ip) => canonical(AddrV2::Ipv6(ip)),
    };
    (a, addr.port())
}

/// The socket address to dial for an IPv4 or IPv6 address (in canonical form), `None` for an
/// internal address and for Tor, I2P and CJDNS, which go through a proxy or a tunnel set up by
/// the driver later. (Core's `CService::GetSockAddr` hands CJDNS out as plain IPv6, to be
/// dialed only when `-cjdnsreachable` is set.)
pub fn to_socket(addr: &AddrV2, port: u16) -> Option<SocketAddr> {
    match read(addr) {
        Net::Ipv4(ip) => Some(SocketAddr::V4(SocketAddrV4::new(ip.into(), port))),
        Net::Ipv6(ip) => Some(SocketAddr::V6(SocketAddrV6::new(ip.into(), port, 0, 0))),
        Net::Onion(_) | Net::I2p(_) | Net::Cjdns(_) | Net::Internal(_) => None,
    }
}

/// The network of `addr`, Core's `CNetAddr::GetNetwork`: [`NetKind::Internal`] for an internal
/// address, [`NetKind::Unroutable`] for anything not [`is_routable`] (including TorV2 and
/// unknown networks), else the network it belongs to. A 6to4 or Teredo address is IPv6 here;
/// its group is the embedded IPv4's (see [`group`]).
pub fn net_kind(addr: &AddrV2) -> NetKind {
    let net = read(addr);
    if let Net::Internal(_) = net {
        NetKind::Internal
    } else if !routable(&net) {
        NetKind::Unroutable
    } else {
        kind(&net)
    }
}

/// The network class of `addr`, the first byte of its group: as [`net_kind`], but an address
/// with an embedded IPv4 address is IPv4 (Core's `CNetAddr::GetNetClass`).
pub fn net_class(addr: &AddrV2) -> NetKind {
    class(&read(addr))
}

/// Whether `addr` could name a real host, Core's `CNetAddr::IsValid`: not `::`, not the IPv6
/// documentation prefix 2001:db8::/32 (RFC 3849), not an internal address, not IPv4 `0.0.0.0`
/// or `255.255.255.255`, not a CJDNS address outside fc00::/8; TorV2 and unknown networks are
/// invalid (read as `::`). Valid addresses may still be private or local.
pub fn is_valid(addr: &AddrV2) -> bool {
    valid(&read(addr))
}

/// Whether `addr` is this host, Core's `CNetAddr::IsLocal`: IPv4 127.0.0.0/8 and 0.0.0.0/8,
/// IPv6 `::1`.
pub fn is_local(addr: &AddrV2) -> bool {
    local(&read(addr))
}

/// Whether `addr` is publicly routable, Core's `CNetAddr::IsRoutable`: valid and in none of the
/// private, link-local, shared, benchmarking, documentation, ORCHID or local ranges, and not
/// internal. Tor, I2P and valid CJDNS addresses are routable.
pub fn is_routable(addr: &AddrV2) -> bool {
    routable(&read(addr))
}

/// The network Core's `m_net` names, routable or not.
fn kind(net: &Net) -> NetKind {
    match net {
        Net::Ipv4(_) => NetKind::Ipv4,
        Net::Ipv6(_) => NetKind::Ipv6,
        Net::Onion(_) => NetKind::Onion,
        Net::I2p(_) => NetKind::I2p,
        Net::Cjdns(_) => NetKind::Cjdns,
        Net::Internal(_) => NetKind::Internal,
    }
}

/// Core's `GetNetClass`: internal first (internal addresses are also unroutable), then
/// unroutable, then IPv4 for anything with a linked IPv4 address.
fn class(net: &Net) -> NetKind {
    if let Net::Internal(_) = net {
        NetKind::Internal
    } else if !routable(net) {
        NetKind::Unroutable
    } else if linked_ipv4(net).is_some() {
        NetKind::Ipv4
    } else {
        kind(net)
    }
}

/// Core's `CNetAddr::IsValid`.
fn valid(net: &Net) -> bool {
    match net {
        Net::Ipv4(ip) => {
            let a = u32::from_be_bytes(*ip);
            a != INADDR_ANY && a != INADDR_NONE
        }
        Net::Ipv6(ip) => *ip != [0; 16] && !rfc3849(ip),
        Net::Cjdns(ip) => ip[0] == CJDNS_PREFIX,
        Net::Internal(_) => false,
        Net::Onion(_) | Net::I2p(_) => true,
    }
}

/// Core's `CNetAddr::IsLocal`.
fn local(net: &Net) -> bool {
    match net {
        // 127.0.0.0/8 loopback and 0.0.0.0/8 "this network".
        Net::Ipv4(ip) => ip[0] == 127 || ip[0] == 0,
        Net::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST.octets(),
        _ => false,
    }
}

/// Core's `CNetAddr::IsRoutable`.
fn routable(net: &Net) -> bool {
    valid(net)
        && !match net {
            Net::Ipv4(ip) => {
                rfc1918(ip) || rfc2544(ip) || rfc3927(ip) || rfc6598(ip) || rfc5737(ip)
            }
            Net::Ipv6(ip) => rfc4862(ip) || rfc4193(ip) || rfc4843(ip) || rfc7343(ip),
            Net::Internal(_) => true,
            Net::Onion(_) | Net::I2p(_) | Net::Cjdns(_) => false,
        }
        && !local(net)
}

/// RFC 1918 private networks: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (`IsRFC1918`).
fn rfc1918(ip: &[u8; 4]) -> bool {
    ip[0] == 10 || (ip[0] == 192 && ip[1] == 168) || (ip[0] == 172 && (16..=31).contains(&ip[1]))
}

/// RFC 2544 benchmarking: 198.18.0.0/15 (`IsRFC2544`).
fn rfc2544(ip: &[u8; 4]) -> bool {
    ip[0] == 198 && (ip[1] == 18 || ip[1] == 19)
}

/// RFC 3927 IPv4 link-local autoconfiguration: 169.254.0.0/16 (`IsRFC3927`).
fn rfc3927(ip: &[u8; 4]) -> bool {
    ip[0] == 169 && ip[1] == 254
}

/// RFC 6598 shared address space (carrier-grade NAT): 100.64.0.0/10 (`IsRFC6598`).
fn rfc6598(ip: &[u8; 4]) -> bool {
    ip[0] == 100 && (64..=127).contains(&ip[1])
}

/// RFC 5737 documentation: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (`IsRFC5737`).
fn rfc5737(ip: &[u8; 4]) -> bool {
    matches!(ip[..3], [192, 0, 2] | [198, 51, 100] | [203, 0, 113])
}

/// RFC 3849 IPv6 documentation: 2001:db8::/32 (`IsRFC3849`); invalid, not just unroutable.
fn rfc3849(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x01, 0x0D, 0xB8])
}

/// RFC 3964 6to4: 2002::/16, the IPv4 address in bytes 2..6 (`IsRFC3964`).
fn rfc3964(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x02])
}

/// RFC 6052 IPv4-embedded with the well-known prefix: 64:ff9b::/96 (`IsRFC6052`).
fn rfc6052(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0])
}

/// RFC 4380 Teredo: 2001::/32, the IPv4 address in the last 4 bytes, bits flipped
/// (`IsRFC4380`).
fn rfc4380(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x01, 0, 0])
}

/// RFC 4862 IPv6 link-local autoconfiguration. The RFC's block is fe80::/10, but Core tests
/// fe80::/64 and so do we (`IsRFC4862`).
fn rfc4862(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0xFE, 0x80, 0, 0, 0, 0, 0, 0])
}

/// RFC 4193 unique local: fc00::/7 (`IsRFC4193`). Only plain IPv6: CJDNS lives in fc00::/8
/// and is routable on its own network.
fn rfc4193(ip: &[u8; 16]) -> bool {
    ip[0] & 0xFE == 0xFC
}

/// RFC 6145 IPv4-translated (SIIT): ::ffff:0:0:0/96 (`IsRFC6145`).
fn rfc6145(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0])
}

/// RFC 4843 ORCHID (deprecated): 2001:10::/28 (`IsRFC4843`).
fn rfc4843(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x01, 0]) && ip[3] & 0xF0 == 0x10
}

/// RFC 7343 ORCHIDv2: 2001:20::/28 (`IsRFC7343`).
fn rfc7343(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x01, 0]) && ip[3] & 0xF0 == 0x20
}

/// Hurricane Electric's tunnel broker: 2001:470::/32 (`IsHeNet`).
fn he_net(ip: &[u8; 16]) -> bool {
    ip.starts_with(&[0x20, 0x01, 0x04, 0x70])
}

/// The IPv4 address an address carries, Core's `GetLinkedIPv4`: itself for IPv4, the last four
/// bytes for RFC 6052 and RFC 6145, bytes 2..6 for 6to4, the last four flipped for Teredo.
/// Core's `HasLinkedIPv4` also asks `IsRoutable`, which [`class`] and [`group`] check first.
fn linked_ipv4(net: &Net) -> Option<[u8; 4]> {
    match net {
        Net::Ipv4(ip) => Some(*ip),
        Net::Ipv6(ip) if rfc6052(ip) || rfc6145(ip) => Some(fixed(&ip[12..])),
        Net::Ipv6(ip) if rfc3964(ip) => Some(fixed(&ip[2..6])),
        Net::Ipv6(ip) if rfc4380(ip) => Some(fixed::<4>(&ip[12..]).map(|b| !b)),
        _ => None,
    }
}

/// A network group, Core's `NetGroupManager::GetGroup` without an asmap: the class byte
/// ([`NetKind`] number) then a prefix of the address. Compares and hashes as its bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NetGroup {
    /// The group bytes, zero past `len` (so the derived equality and hash are the bytes').
    bytes: [u8; MAX_GROUP_LEN],
    len: u8,
}

impl NetGroup {
    /// The group's bytes, as Core's `GetGroup` returns them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A group from stored bytes: `None` unless they are 1 to 33 bytes starting with a known
    /// class byte (the shapes [`group`] and [`NetGroup::of_address`] produce).
    pub fn from_bytes(bytes: &[u8]) -> Option<NetGroup> {
        let (&first, rest) = bytes.split_first()?;
        if bytes.len() > MAX_GROUP_LEN {
            return None;
        }
        let mut group = NetGroup::new(NetKind::from_u8(first)?);
        for &b in rest {
            group.push(b);
        }
        Some(group)
    }

    /// A group holding just `addr`: its network's number (as Core holds the address, not its
    /// class) then all its bytes as Core holds them. Not one of Core's groups: it is for local
    /// test networks, where Core's grouping puts every peer in the one unroutable group `[0]`
    /// and so would let only one of them in per group limit. It never equals a [`group`] of a
    /// different address (the lengths differ by network), only an internal address's own.
    pub fn of_address(addr: &AddrV2) -> NetGroup {
        let net = read(addr);
        let mut g = NetGroup::new(kind(&net));
        let bytes: &[u8] = match &net {
            Net::Ipv4(ip) => ip,
            Net::Ipv6(ip) | Net::Cjdns(ip) => ip,
            Net::Onion(key) | Net::I2p(key) => key,
            Net::Internal(hash) => hash,
        };
        for &b in bytes {
            g.push(b);
        }
        g
    }

    /// The group of a source that is not a peer: a DNS seed or the fixed seeds, by name.
    /// Core names such a source with an internal address (`CNetAddr::SetInternal`: the first
    /// 10 bytes of SHA-256 of the name) whose group is [`NetKind::Internal`] and those bytes.
    pub fn internal_source(name: &str) -> NetGroup {
        use bitcoin::hashes::{sha256, Hash};
        let hash = sha256::Hash::hash(name.as_bytes());
        let mut g = NetGroup::new(NetKind::Internal);
        for &b in &hash.as_byte_array()[..10] {
            g.push(b);
        }
        g
    }

    fn new(class: NetKind) -> NetGroup {
        let mut bytes = [0; MAX_GROUP_LEN];
        bytes[0] = class as u8;
        NetGroup { bytes, len: 1 }
    }

    /// Appends a byte; the longest group Core makes fits, so nothing is ever dropped.
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    /// Appends the first `bits` bits of `addr`, a partial last byte with its low bits set to 1
    /// (`addr_bytes[n] | ((1 << (8 - nBits)) - 1)` in `GetGroup`).
    fn push_prefix(&mut self, addr: &[u8], bits: usize) {
        let whole = bits / 8;
        for &b in addr.iter().take(whole) {
            self.push(b);
        }
        let rest = bits % 8;
        if rest > 0 {
            if let Some(&b) = addr.get(whole) {
                self.push(b | ((1u8 << (8 - rest)) - 1));
            }
        }
    }
}

impl Ord for NetGroup {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for NetGroup {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for NetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetGroup(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The network group of `addr`, Core's `NetGroupManager::GetGroup` with no asmap loaded. The
/// first byte is the class ([`net_class`]), then:
/// - local and other unroutable addresses: nothing more (one group each, `[0]`);
/// - internal addresses: all ten hash bytes;
/// - anything with an IPv4 address (IPv4, 6to4, Teredo, RFC 6052, RFC 6145): the IPv4 /16;
/// - Tor v3 and I2P: the first 4 bits; CJDNS: the first 12 bits;
/// - he.net IPv6 (2001:470::/32): the /36; other IPv6: the /32.
///
/// A partial last byte has its remaining low bits set to 1, as in Core.
pub fn group(addr: &AddrV2) -> NetGroup {
    let net = read(addr);
    let mut g = NetGroup::new(class(&net));
    if local(&net) {
        // All local addresses share one group.
    } else if let Net::Internal(hash) = &net {
        g.push_prefix(hash, INTERNAL_GROUP_BITS);
    } else if !routable(&net) {
        // So do all other unroutable ones.
    } else if let Some(v4) = linked_ipv4(&net) {
        g.push_prefix(&v4, IPV4_GROUP_BITS);
    } else {
        match &net {
            Net::Onion(key) | Net::I2p(key) => g.push_prefix(key, ONION_I2P_GROUP_BITS),
            Net::Cjdns(ip) => g.push_prefix(ip, CJDNS_GROUP_BITS),
            Net::Ipv6(ip) if he_net(ip) => g.push_prefix(ip, HE_NET_GROUP_BITS),
            Net::Ipv6(ip) => g.push_prefix(ip, IPV6_GROUP_BITS),
            // Routable IPv4 took the linked-IPv4 branch and internal the branch above; the
            // answers below are theirs anyway.
            Net::Ipv4(ip) => g.push_prefix(ip, IPV4_GROUP_BITS),
            Net::Internal(hash) => g.push_prefix(hash, INTERNAL_GROUP_BITS),
        }
    }
    g
}

#[cfg(test)]
mod tests;
