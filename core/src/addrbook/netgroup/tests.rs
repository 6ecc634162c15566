//! Vectors from Bitcoin Core's src/test/netbase_tests.cpp (`netbase_networks`,
//! `netbase_properties`, `embedded_test`, `netbase_getgroup`) and, where Core has no vector,
//! computed from the rule in src/netaddress.cpp / src/netgroup.cpp that the comment names.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::p2p::address::AddrV2;

use super::*;

fn ip(s: &str) -> AddrV2 {
    match s.parse::<std::net::IpAddr>().expect("test literal") {
        std::net::IpAddr::V4(a) => AddrV2::Ipv4(a),
        std::net::IpAddr::V6(a) => AddrV2::Ipv6(a),
    }
}

fn bytes(addr: &AddrV2) -> Vec<u8> {
    group(addr).as_bytes().to_vec()
}

/// Core's `CNetAddr::SetInternal(name)` in its 16-byte form: the internal prefix then the first
/// ten bytes of SHA-256(name).
fn internal(name: &str) -> AddrV2 {
    let hash = sha256::Hash::hash(name.as_bytes()).to_byte_array();
    let mut o = [0u8; 16];
    o[..6].copy_from_slice(&INTERNAL_IN_IPV6_PREFIX);
    o[6..].copy_from_slice(&hash[..ADDR_INTERNAL_SIZE]);
    AddrV2::Ipv6(Ipv6Addr::from(o))
}

#[test]
fn core_netbase_getgroup() {
    // netbase_getgroup, NetGroupManager::NoAsmap().
    assert_eq!(bytes(&ip("127.0.0.1")), [0]); // Local -> !Routable()
                                              // "257.0.0.1" (!Valid -> !Routable()) does not parse; Core is left with a default
                                              // CNetAddr, which is `::`.
    assert_eq!(bytes(&ip("::")), [0]);
    assert_eq!(bytes(&ip("10.0.0.1")), [0]); // RFC1918 -> !Routable()
    assert_eq!(bytes(&ip("169.254.1.1")), [0]); // RFC3927 -> !Routable()
    assert_eq!(bytes(&ip("1.2.3.4")), [1, 1, 2]); // IPv4
    assert_eq!(bytes(&ip("::FFFF:0:102:304")), [1, 1, 2]); // RFC6145
    assert_eq!(bytes(&ip("64:FF9B::102:304")), [1, 1, 2]); // RFC6052
    assert_eq!(
        bytes(&ip("2002:102:304:9999:9999:9999:9999:9999")),
        [1, 1, 2]
    ); // RFC3964
    assert_eq!(
        bytes(&ip("2001:0:9999:9999:9999:9999:FEFD:FCFB")),
        [1, 1, 2]
    ); // RFC4380
    assert_eq!(
        bytes(&ip("2001:470:abcd:9999:9999:9999:9999:9999")),
        [2, 32, 1, 4, 112, 175]
    ); // he.net
    assert_eq!(
        bytes(&ip("2001:2001:9999:9999:9999:9999:9999:9999")),
        [2, 32, 1, 32, 1]
    ); // IPv6
       // baz.net sha256 hash: 12929400eb4607c4ac075f087167e75286b179c693eb059a01774b864e8fe505
    let internal_group = [
        6, 0x12, 0x92, 0x94, 0x00, 0xeb, 0x46, 0x07, 0xc4, 0xac, 0x07,
    ];
    assert_eq!(bytes(&internal("baz.net")), internal_group);
}

#[test]
fn core_netbase_networks() {
    // netbase_networks: GetNetwork().
    assert_eq!(net_kind(&ip("127.0.0.1")), NetKind::Unroutable);
    assert_eq!(net_kind(&ip("::1")), NetKind::Unroutable);
    assert_eq!(net_kind(&ip("8.8.8.8")), NetKind::Ipv4);
    assert_eq!(net_kind(&ip("2001::8888")), NetKind::Ipv6);
    assert_eq!(net_kind(&AddrV2::TorV3([7; 32])), NetKind::Onion);
    assert_eq!(net_kind(&internal("foo.com")), NetKind::Internal);
    // GetNetwork keeps m_net for a tunnel; GetNetClass makes it IPv4 (netaddress.cpp).
    let teredo = ip("2001:0:9999:9999:9999:9999:FEFD:FCFB");
    assert_eq!(
        (net_kind(&teredo), net_class(&teredo)),
        (NetKind::Ipv6, NetKind::Ipv4)
    );
}

#[test]
fn core_netbase_properties() {
    // netbase_properties and embedded_test.
    assert_eq!(canonical(ip("::FFFF:192.168.1.1")), ip("192.168.1.1"));
    assert_eq!(canonical(ip("::FFFF:0102:0304")), ip("1.2.3.4"));
    assert!(is_local(&ip("127.0.0.1")) && is_local(&ip("::1")));
    assert!(is_routable(&ip("8.8.8.8")) && is_routable(&ip("2001::1")));
    assert!(is_valid(&ip("127.0.0.1")) && !is_routable(&ip("127.0.0.1")));
    assert!(!is_valid(&internal("bar.com")) && !is_routable(&internal("bar.com")));
    for s in [
        "10.0.0.1",
        "192.168.1.1",
        "172.31.255.255",
        "198.18.0.0",
        "198.19.255.255",
    ] {
        assert!(is_valid(&ip(s)) && !is_routable(&ip(s)), "{s}");
    }
    for s in ["169.254.1.1", "FC00::", "2001:10::", "2001:20::", "FE80::"] {
        assert!(is_valid(&ip(s)) && !is_routable(&ip(s)), "{s}");
    }
    // RFC3849 is IsValid() false, not just unroutable.
    assert!(!is_valid(&ip("2001:0DB8::")));
    // 6to4, Teredo and RFC6052 are routable IPv6 in their own right.
    for s in ["2002::1", "2001::2", "64:FF9B::"] {
        assert!(is_routable(&ip(s)), "{s}");
    }
}

/// `(address, valid, routable)` for the first and last address of each range and the
/// neighbours outside it, from the predicates in netaddress.cpp.
#[test]
fn range_boundaries() {
    let cases: &[(&str, bool, bool)] = &[
        // IsValid: INADDR_ANY and INADDR_NONE; IsLocal: 0.0.0.0/8 and 127.0.0.0/8.
        ("0.0.0.0", false, false),
        ("0.0.0.1", true, false),
        ("0.255.255.255", true, false),
        ("1.0.0.0", true, true),
        ("126.255.255.255", true, true),
        ("127.0.0.0", true, false),
        ("127.255.255.255", true, false),
        ("128.0.0.0", true, true),
        ("255.255.255.254", true, true),
        ("255.255.255.255", false, false),
        // IsRFC1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
        ("9.255.255.255", true, true),
        ("10.0.0.0", true, false),
        ("10.255.255.255", true, false),
        ("11.0.0.0", true, true),
        ("172.15.255.255", true, true),
        ("172.16.0.0", true, false),
        ("172.31.255.255", true, false),
        ("172.32.0.0", true, true),
        ("192.167.255.255", true, true),
        ("192.168.0.0", true, false),
        ("192.168.255.255", true, false),
        ("192.169.0.0", true, true),
        // IsRFC2544: 198.18.0.0/15.
        ("198.17.255.255", true, true),
        ("198.18.0.0", true, false),
        ("198.19.255.255", true, false),
        ("198.20.0.0", true, true),
        // IsRFC3927: 169.254.0.0/16.
        ("169.253.255.255", true, true),
        ("169.254.0.0", true, false),
        ("169.254.255.255", true, false),
        ("169.255.0.0", true, true),
        // IsRFC6598: 100.64.0.0/10.
        ("100.63.255.255", true, true),
        ("100.64.0.0", true, false),
        ("100.64.0.1", true, false),
        ("100.127.255.255", true, false),
        ("100.128.0.0", true, true),
        // IsRFC5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24.
        ("192.0.1.255", true, true),
        ("192.0.2.0", true, false),
        ("192.0.2.1", true, false),
        ("192.0.2.255", true, false),
        ("192.0.3.0", true, true),
        ("198.51.99.255", true, true),
        ("198.51.100.1", true, false),
        ("198.51.100.255", true, false),
        ("198.51.101.0", true, true),
        ("203.0.112.255", true, true),
        ("203.0.113.1", true, false),
        ("203.0.113.255", true, false),
        ("203.0.114.0", true, true),
        // IsValid: `::`; IsLocal: `::1` only.
        ("::", false, false),
        ("::1", true, false),
        ("::2", true, true),
        // IsRFC3849: 2001:db8::/32, invalid.
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true, true),
        ("2001:db8::", false, false),
        ("2001:db8::1", false, false),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, false),
        ("2001:db9::", true, true),
        // IsRFC4193: fc00::/7.
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, true),
        ("fc00::", true, false),
        ("fc00::1", true, false),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, false),
        ("fe00::", true, true),
        // IsRFC4862 as Core tests it: fe80::/64, not the RFC's fe80::/10.
        ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, true),
        ("fe80::", true, false),
        ("fe80::1", true, false),
        ("fe80::ffff:ffff:ffff:ffff", true, false),
        ("fe80:0:0:1::", true, true),
        // IsRFC4843: 2001:10::/28; IsRFC7343: 2001:20::/28.
        ("2001:f:ffff:ffff:ffff:ffff:ffff:ffff", true, true),
        ("2001:10::", true, false),
        ("2001:10::1", true, false),
        ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", true, false),
        ("2001:20::", true, false),
        ("2001:20::1", true, false),
        ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", true, false),
        ("2001:30::", true, true),
        // Not excluded by Core v31: reserved 240/4, RFC 9637 3fff::/20, site-local fec0::/10.
        ("240.0.0.1", true, true),
        ("3fff::1", true, true),
        ("fec0::1", true, true),
    ];
    for &(s, valid, routable) in cases {
        let a = ip(s);
        assert_eq!((is_valid(&a), is_routable(&a)), (valid, routable), "{s}");
        if !routable {
            assert_eq!(bytes(&a), [0], "{s} groups as unroutable");
            assert_eq!(net_kind(&a), NetKind::Unroutable, "{s}");
        }
    }
}

#[test]
fn local_is_exactly_core_is_local() {
    // IsLocal: IPv4 0/8 and 127/8, IPv6 ::1; nothing else, whatever the network.
    for s in [
        "0.0.0.1",
        "0.255.255.255",
        "127.0.0.1",
        "127.255.255.255",
        "::1",
    ] {
        assert!(is_local(&ip(s)), "{s}");
    }
    for s in [
        "1.0.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "::",
        "::2",
        "fe80::1",
        "10.0.0.1",
    ] {
        assert!(!is_local(&ip(s)), "{s}");
    }
    assert!(is_local(&ip("::ffff:127.0.0.1")), "read as IPv4 127.0.0.1");
    assert!(!is_local(&AddrV2::Cjdns(Ipv6Addr::LOCALHOST)));
}

#[test]
fn canonical_reads_as_core() {
    // SetLegacyIPv6: IPv4-in-IPv6 becomes IPv4.
    assert_eq!(
        canonical(ip("::ffff:1.2.3.4")),
        AddrV2::Ipv4(Ipv4Addr::new(1, 2, 3, 4))
    );
    // TorV2-in-IPv6, TorV2 and unknown networks become the default (invalid) `::`.
    let unspecified = AddrV2::Ipv6(Ipv6Addr::UNSPECIFIED);
    assert_eq!(
        canonical(ip("fd87:d87e:eb43:edb1:8e4:3588:e546:35ca")),
        unspecified
    );
    assert_eq!(canonical(AddrV2::TorV2([1; 10])), unspecified);
    assert_eq!(canonical(AddrV2::Unknown(42, vec![1, 2, 3])), unspecified);
    // Everything else, including the internal form and the other IPv4-carrying forms, stays.
    for s in [
        "::ffff:0:1.2.3.4",
        "64:ff9b::1.2.3.4",
        "2002:102:304::",
        "::1.2.3.4",
        "1.2.3.4",
    ] {
        assert_eq!(canonical(ip(s)), ip(s), "{s}");
    }
    assert_eq!(canonical(internal("x")), internal("x"));
    assert_eq!(canonical(AddrV2::TorV3([9; 32])), AddrV2::TorV3([9; 32]));
    // A non-canonical input is judged as its canonical form.
    assert_eq!(group(&ip("::ffff:1.2.3.4")), group(&ip("1.2.3.4")));
    assert_eq!(net_kind(&ip("::ffff:8.8.8.8")), NetKind::Ipv4);
    assert!(!is_routable(&ip("::ffff:10.0.0.1")));
}

#[test]
fn socket_round_trip() {
    // CService(sockaddr_in6) reads through SetLegacyIPv6.
    let mapped: SocketAddr = "[::ffff:1.2.3.4]:8333".parse().expect("test literal");
    let (a, port) = from_socket(mapped);
    assert_eq!((a.clone(), port), (ip("1.2.3.4"), 8333));
    assert_eq!(to_socket(&a, port), "1.2.3.4:8333".parse().ok());
    let v6: SocketAddr = "[2001:db9::1]:18444".parse().expect("test literal");
    let (a, port) = from_socket(v6);
    assert_eq!(a, ip("2001:db9::1"));
    assert_eq!(to_socket(&a, port), Some(v6));
    assert_eq!(to_socket(&AddrV2::TorV3([1; 32]), 8333), None);
    assert_eq!(to_socket(&AddrV2::I2p([1; 32]), 8333), None);
    assert_eq!(to_socket(&AddrV2::Cjdns(ip6("fc00::1")), 8333), None);
    assert_eq!(to_socket(&internal("seed.example"), 8333), None);
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().expect("test literal")
}

#[test]
fn embedded_ipv4_groups_as_the_ipv4() {
    // GetGroup: HasLinkedIPv4 -> the /16 of GetLinkedIPv4, class NET_IPV4.
    let v4 = bytes(&ip("8.8.4.4"));
    assert_eq!(v4, [1, 8, 8]);
    assert_eq!(bytes(&ip("2002:808:404::1")), v4); // 6to4, bytes 2..6
    assert_eq!(bytes(&ip("2001:0:1:2:3:4:f7f7:fbfb")), v4); // Teredo, flipped
    assert_eq!(bytes(&ip("64:ff9b::808:404")), v4); // RFC6052
    assert_eq!(bytes(&ip("::ffff:0:808:404")), v4); // RFC6145
    assert_eq!(bytes(&ip("::ffff:808:404")), v4); // mapped, read as IPv4
                                                  // The embedded address is not checked: a routable 6to4 address carrying 10.0.0.1 is in
                                                  // IPv4 group 10.0 (HasLinkedIPv4 asks IsRoutable of the IPv6 address).
    assert_eq!(bytes(&ip("2002:a00:1::")), [1, 10, 0]);
    // Just outside each prefix: plain IPv6 /32 groups.
    assert_eq!(bytes(&ip("2003:808:404::1")), [2, 0x20, 0x03, 0x08, 0x08]);
    assert_eq!(bytes(&ip("2001:1::f7f7:fbfb")), [2, 0x20, 0x01, 0x00, 0x01]);
    assert_eq!(
        bytes(&ip("64:ff9b:0:0:0:1:808:404")),
        [2, 0x00, 0x64, 0xff, 0x9b]
    );
    // IPv4-compatible `::a.b.c.d` is not a linked form in Core.
    assert_eq!(bytes(&ip("::808:404")), [2, 0, 0, 0, 0]);
}

#[test]
fn ipv6_group_prefixes() {
    // IsHeNet: 2001:470::/32 gets a /36, its neighbours a /32.
    assert_eq!(bytes(&ip("2001:46f:ffff::1")), [2, 0x20, 0x01, 0x04, 0x6f]);
    assert_eq!(bytes(&ip("2001:470::1")), [2, 0x20, 0x01, 0x04, 0x70, 0x0f]);
    assert_eq!(
        bytes(&ip("2001:470:f000::1")),
        [2, 0x20, 0x01, 0x04, 0x70, 0xff]
    );
    assert_eq!(bytes(&ip("2001:471::1")), [2, 0x20, 0x01, 0x04, 0x71]);
    // Two he.net /36s differ, two addresses of one /36 do not.
    assert_eq!(
        group(&ip("2001:470:1234::1")),
        group(&ip("2001:470:1fff::2"))
    );
    assert_ne!(
        group(&ip("2001:470:1234::1")),
        group(&ip("2001:470:2234::1"))
    );
}

#[test]
fn overlay_groups() {
    // Tor and I2P: nBits = 4 -> one byte, its low 4 bits set.
    let mut key = [0u8; 32];
    key[0] = 0xab;
    assert_eq!(bytes(&AddrV2::TorV3(key)), [3, 0xaf]);
    assert_eq!(bytes(&AddrV2::I2p(key)), [4, 0xaf]);
    assert_eq!(bytes(&AddrV2::TorV3([0; 32])), [3, 0x0f]);
    // CJDNS: nBits = 12 -> the fc byte, then 4 bits.
    assert_eq!(bytes(&AddrV2::Cjdns(ip6("fcab:cdef::1"))), [5, 0xfc, 0xaf]);
    assert_eq!(bytes(&AddrV2::Cjdns(ip6("fc00::1"))), [5, 0xfc, 0x0f]);
    assert_eq!(net_kind(&AddrV2::Cjdns(ip6("fc00::1"))), NetKind::Cjdns);
    // IsValid: a CJDNS address must start with fc (CJDNS_PREFIX).
    let off = AddrV2::Cjdns(ip6("fd00::1"));
    assert!(!is_valid(&off));
    assert_eq!(bytes(&off), [0]);
    // IsRFC4193 is for IPv6 only: the same bytes as plain IPv6 are unroutable.
    assert!(is_routable(&AddrV2::Cjdns(ip6("fc00::1"))) && !is_routable(&ip("fc00::1")));
}

#[test]
fn dropped_networks_are_invalid() {
    // TorV2 left Core in v22 and unknown BIP155 ids are skipped: a default `CNetAddr`.
    for a in [
        AddrV2::TorV2([5; 10]),
        AddrV2::Unknown(7, vec![1; 16]),
        ip("fd87:d87e:eb43:edb1:8e4:3588:e546:35ca"),
    ] {
        assert!(!is_valid(&a) && !is_routable(&a) && !is_local(&a), "{a:?}");
        assert_eq!(net_kind(&a), NetKind::Unroutable, "{a:?}");
        assert_eq!(bytes(&a), [0], "{a:?}");
    }
}

#[test]
fn internal_prefix_boundaries() {
    // INTERNAL_IN_IPV6_PREFIX is the full 48 bits: one bit off is plain (unique-local) IPv6,
    // the "one-off" case of Core's netbase_lookupnumeric.
    let off = ip("fd6c:88c0:8724:1:2:3:4:5");
    assert_eq!(net_kind(&off), NetKind::Unroutable);
    assert!(is_valid(&off));
    assert_eq!(bytes(&off), [0]);
    let on = ip("fd6b:88c0:8724:1:2:3:4:5");
    assert_eq!(net_kind(&on), NetKind::Internal);
    assert!(!is_valid(&on));
    assert_eq!(bytes(&on), [6, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5]);
}

#[test]
fn single_address_groups() {
    // Not Core: the whole address, after the network byte, for local test networks.
    let a = NetGroup::of_address(&ip("127.0.0.2"));
    assert_eq!(a.as_bytes(), [1, 127, 0, 0, 2]);
    assert_ne!(a, NetGroup::of_address(&ip("127.0.0.3")));
    assert_eq!(a, NetGroup::of_address(&ip("::ffff:127.0.0.2")));
    let mut v6 = vec![2];
    v6.extend_from_slice(&ip6("fc00::1").octets());
    assert_eq!(NetGroup::of_address(&ip("fc00::1")).as_bytes(), v6);
    v6[0] = 5;
    assert_eq!(
        NetGroup::of_address(&AddrV2::Cjdns(ip6("fc00::1"))).as_bytes(),
        v6
    );
    assert_eq!(
        NetGroup::of_address(&internal("baz.net")),
        group(&internal("baz.net"))
    );
}

#[test]
fn net_group_bytes() {
    let g = group(&internal("baz.net"));
    assert_eq!(NetGroup::from_bytes(g.as_bytes()), Some(g.clone()));
    assert_eq!(
        NetGroup::from_bytes(&[1, 1, 2]),
        Some(group(&ip("1.2.3.4")))
    );
    assert_eq!(NetGroup::from_bytes(&[]), None);
    assert_eq!(NetGroup::from_bytes(&[7, 1]), None);
    assert_eq!(NetGroup::from_bytes(&[3; 34]), None);
    let onion = NetGroup::of_address(&AddrV2::TorV3([0xee; 32]));
    assert_eq!(onion.as_bytes().len(), 33);
    assert_eq!(NetGroup::from_bytes(onion.as_bytes()), Some(onion));
    // Ordered as byte strings: a prefix sorts first.
    assert!(group(&ip("127.0.0.1")) < group(&ip("1.2.3.4")));
    assert!(NetGroup::from_bytes(&[1, 1]) < NetGroup::from_bytes(&[1, 1, 0]));
    assert!(group(&ip("1.2.3.4")) < group(&ip("1.3.0.0")));
    assert_eq!(format!("{:?}", group(&ip("1.2.3.4"))), "NetGroup(010102)");
    for k in 0..=6 {
        assert_eq!(NetKind::from_u8(k).map(|k| k as u8), Some(k));
    }
    assert_eq!(NetKind::from_u8(7), None);
}
