//! Unit tests: the messages of RFC 1928 byte for byte, every failure, every split of the
//! proxy's answers, and the bytes that follow the reply.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::rfc1928::*;
use crate::{BoundAddr, Progress, Socks5Connect, Socks5Error, Target};

/// The method selection that accepts "no authentication" (§3).
const METHOD_OK: [u8; 2] = [0x05, 0x00];

/// A success reply (§6) with an IPv4 bound address 0.0.0.0:0, as Tor and microsocks send.
const REPLY_V4_ZERO: [u8; 10] = [0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];

/// What the proxy's answers did to the handshake, with everything it sent on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    /// Every message `poll_transmit` gave, in order.
    sent: Vec<Vec<u8>>,
    /// `Ok(None)` while the reply is incomplete; `Ok(Some)` with the bound address and every
    /// byte of the tunnelled stream (the leftover and anything read after it).
    result: Result<Option<(BoundAddr, Vec<u8>)>, Socks5Error>,
}

/// Drives a handshake as a driver does: drain `poll_transmit`, feed one read, repeat.
fn run(target: Target, reads: &[&[u8]]) -> Outcome {
    let mut hs = Socks5Connect::new(target);
    let mut sent = Vec::new();
    let mut stream: Option<(BoundAddr, Vec<u8>)> = None;
    while let Some(bytes) = hs.poll_transmit() {
        sent.push(bytes);
    }
    for read in reads {
        if let Some((_, tunnel)) = &mut stream {
            tunnel.extend_from_slice(read);
            continue;
        }
        match hs.received(read) {
            Ok(Progress::NeedMore) => {}
            Ok(Progress::Connected { bound, leftover }) => stream = Some((bound, leftover)),
            Err(e) => {
                return Outcome {
                    sent,
                    result: Err(e),
                }
            }
        }
        assert!(hs.buffered() <= MAX_REPLY_LEN);
        while let Some(bytes) = hs.poll_transmit() {
            sent.push(bytes);
        }
    }
    Outcome {
        sent,
        result: Ok(stream),
    }
}

fn v4(a: [u8; 4], port: u16) -> Target {
    Target::Addr(SocketAddr::from((Ipv4Addr::from(a), port)))
}

fn connected(bound: BoundAddr, stream: &[u8]) -> Result<Option<(BoundAddr, Vec<u8>)>, Socks5Error> {
    Ok(Some((bound, stream.to_vec())))
}

// ---- The messages of RFC 1928, byte for byte -------------------------------------------------

#[test]
fn the_greeting_offers_only_no_authentication_and_the_request_waits_for_the_method() {
    let mut hs = Socks5Connect::new(v4([192, 0, 2, 1], 8333));
    // §3: VER 5, NMETHODS 1, METHODS {X'00'}.
    assert_eq!(hs.poll_transmit(), Some(vec![0x05, 0x01, 0x00]));
    // Nothing is pipelined: the request waits for the proxy's choice.
    assert_eq!(hs.poll_transmit(), None);
    assert_eq!(hs.received(&[0x05]), Ok(Progress::NeedMore));
    assert_eq!(hs.poll_transmit(), None);
    assert_eq!(hs.received(&[0x00]), Ok(Progress::NeedMore));
    assert!(hs.poll_transmit().is_some());
    assert_eq!(hs.poll_transmit(), None);
}

#[test]
fn ipv4_target_request_and_ipv4_bound_reply() {
    // §4 with ATYP X'01': 192.0.2.1 port 8333 (0x208d).
    let reply = [0x05, 0x00, 0x00, 0x01, 198, 51, 100, 7, 0xc3, 0x50];
    let out = run(v4([192, 0, 2, 1], 8333), &[&METHOD_OK, &reply]);
    assert_eq!(
        out.sent,
        vec![
            vec![0x05, 0x01, 0x00],
            vec![0x05, 0x01, 0x00, 0x01, 192, 0, 2, 1, 0x20, 0x8d],
        ]
    );
    let bound = BoundAddr::Addr("198.51.100.7:50000".parse().unwrap());
    assert_eq!(out.result, connected(bound, b""));
}

#[test]
fn ipv6_target_request_and_ipv6_bound_reply() {
    // §4 with ATYP X'04': [2001:db8::1] port 18444 (0x480c); the scope id is not sent.
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let target = Target::Addr(SocketAddr::V6(std::net::SocketAddrV6::new(ip, 18444, 7, 3)));
    let mut reply = vec![0x05, 0x00, 0x00, 0x04];
    reply.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    reply.extend_from_slice(&[0x01, 0xbb]);
    let out = run(target, &[&METHOD_OK, &reply]);
    let mut request = vec![0x05, 0x01, 0x00, 0x04];
    request.extend_from_slice(&ip.octets());
    request.extend_from_slice(&[0x48, 0x0c]);
    assert_eq!(out.sent[1], request);
    let bound = BoundAddr::Addr("[::1]:443".parse().unwrap());
    assert_eq!(out.result, connected(bound, b""));
}

#[test]
fn domain_target_request_and_domain_bound_reply() {
    // §4 and §5 with ATYP X'03': a length byte, the name without NUL, the port.
    let target = Target::domain("seed.bitcoin.sipa.be", 8333).unwrap();
    let reply = [
        0x05, 0x00, 0x00, 0x03, 5, b'p', b'r', b'o', b'x', b'y', 0x04, 0x38,
    ];
    let out = run(target, &[&METHOD_OK, &reply]);
    let mut request = vec![0x05, 0x01, 0x00, 0x03, 20];
    request.extend_from_slice(b"seed.bitcoin.sipa.be");
    request.extend_from_slice(&[0x20, 0x8d]);
    assert_eq!(out.sent[1], request);
    assert_eq!(
        out.result,
        connected(BoundAddr::Domain(b"proxy".to_vec(), 1080), b"")
    );
}

#[test]
fn an_onion_name_goes_to_the_proxy_as_a_domain_name() {
    // A TorV3 address is 56 base32 characters and ".onion": never resolved here.
    let onion = format!("{}.onion", "a".repeat(56));
    let out = run(
        Target::domain(onion.clone(), 8333).unwrap(),
        &[&METHOD_OK, &REPLY_V4_ZERO],
    );
    assert_eq!(out.sent[1][3], ATYP_DOMAIN);
    assert_eq!(out.sent[1][4], 62);
    assert_eq!(&out.sent[1][5..67], onion.as_bytes());
    let bound = BoundAddr::Addr("0.0.0.0:0".parse().unwrap());
    assert_eq!(out.result, connected(bound, b""));
}

#[test]
fn domain_names_of_1_and_255_bytes_are_sent_and_empty_or_256_refused() {
    for len in [1, 255] {
        let name = "x".repeat(len);
        let out = run(Target::domain(name.clone(), 1).unwrap(), &[&METHOD_OK]);
        assert_eq!(out.sent[1].len(), 4 + 1 + len + 2);
        assert_eq!(usize::from(out.sent[1][4]), len);
        assert_eq!(&out.sent[1][5..5 + len], name.as_bytes());
    }
    assert_eq!(Target::domain("", 1), Err(Socks5Error::EmptyDomain));
    assert_eq!(
        Target::domain("x".repeat(256), 1),
        Err(Socks5Error::DomainTooLong(256))
    );
    // The limit is in bytes, not characters: 128 two-byte characters are 256 bytes.
    assert_eq!(
        Target::domain("é".repeat(128), 1),
        Err(Socks5Error::DomainTooLong(256))
    );
    assert_eq!(Target::from_host("", 1), Err(Socks5Error::EmptyDomain));
}

#[test]
fn from_host_keeps_ip_literals_as_addresses_and_names_as_names() {
    assert_eq!(
        Target::from_host("127.0.0.1", 80),
        Ok(v4([127, 0, 0, 1], 80))
    );
    let v6 = Target::Addr("[::1]:80".parse().unwrap());
    assert_eq!(Target::from_host("::1", 80), Ok(v6.clone()));
    assert_eq!(Target::from_host("[::1]", 80), Ok(v6.clone()));
    assert_eq!(
        Target::from_host("localhost", 80),
        Target::domain("localhost", 80)
    );
    assert_eq!(v6.to_string(), "[::1]:80");
    assert_eq!(
        Target::domain("localhost", 80).unwrap().to_string(),
        "localhost:80"
    );
}

// ---- Every failure -------------------------------------------------------------------------

fn method_error(reply: &[u8]) -> Result<Option<(BoundAddr, Vec<u8>)>, Socks5Error> {
    run(v4([127, 0, 0, 1], 1), &[reply]).result
}

fn reply_error(reply: &[u8]) -> Result<Option<(BoundAddr, Vec<u8>)>, Socks5Error> {
    run(v4([127, 0, 0, 1], 1), &[&METHOD_OK, reply]).result
}

#[test]
fn method_selection_failures() {
    // A SOCKS4 server, an HTTP proxy and a plain peer all fail on the first byte.
    assert_eq!(method_error(&[0x04]), Err(Socks5Error::WrongVersion(0x04)));
    assert_eq!(
        method_error(b"HTTP/1.1 400"),
        Err(Socks5Error::WrongVersion(b'H'))
    );
    assert_eq!(
        method_error(&[0x05, 0xff]),
        Err(Socks5Error::NoAcceptableMethod)
    );
    // RFC 1929 username/password, GSSAPI, and anything else we did not offer.
    for method in [METHOD_USERNAME_PASSWORD, METHOD_GSSAPI, 0x03, 0x80, 0xfe] {
        assert_eq!(
            method_error(&[0x05, method]),
            Err(Socks5Error::MethodNotOffered(method))
        );
    }
    // A method reply with a reply glued on: the proxy answered a request it never got.
    assert_eq!(
        method_error(&[0x05, 0x00, 0x05]),
        Err(Socks5Error::UnsolicitedBytes)
    );
}

#[test]
fn every_reply_code_is_its_own_error() {
    let named = [
        (REP_GENERAL_FAILURE, Socks5Error::GeneralFailure),
        (REP_NOT_ALLOWED, Socks5Error::NotAllowedByRuleset),
        (REP_NETWORK_UNREACHABLE, Socks5Error::NetworkUnreachable),
        (REP_HOST_UNREACHABLE, Socks5Error::HostUnreachable),
        (REP_CONNECTION_REFUSED, Socks5Error::ConnectionRefused),
        (REP_TTL_EXPIRED, Socks5Error::TtlExpired),
        (REP_COMMAND_NOT_SUPPORTED, Socks5Error::CommandNotSupported),
        (
            REP_ADDRESS_TYPE_NOT_SUPPORTED,
            Socks5Error::AddressTypeNotSupported,
        ),
    ];
    for (code, error) in named {
        let mut reply = REPLY_V4_ZERO;
        reply[1] = code;
        assert_eq!(reply_error(&reply), Err(error.clone()));
        // The code alone decides: the rest of a failure reply is not waited for.
        assert_eq!(reply_error(&[0x05, code]), Err(error.clone()));
        assert_eq!(error.reply_code(), Some(code));
    }
    for code in REP_FIRST_UNASSIGNED..=0xff {
        let error = Socks5Error::Unassigned(code);
        assert_eq!(reply_error(&[0x05, code]), Err(error.clone()));
        assert_eq!(Socks5Error::from_reply_code(code), Some(error.clone()));
        assert_eq!(error.reply_code(), Some(code));
    }
    assert_eq!(Socks5Error::from_reply_code(REP_SUCCEEDED), None);
    assert_eq!(Socks5Error::WrongVersion(4).reply_code(), None);
}

#[test]
fn tor_extended_codes_are_named_in_the_message() {
    let msg = Socks5Error::Unassigned(0xf0).to_string();
    assert!(
        msg.contains("0xf0") && msg.contains("descriptor can not be found"),
        "{msg}"
    );
    assert!(Socks5Error::Unassigned(0xf6)
        .to_string()
        .contains("invalid address"));
    assert!(!Socks5Error::Unassigned(0x09).to_string().contains("Tor"));
    assert_eq!(tor_extended_error(0xef), None);
    assert_eq!(tor_extended_error(0xf8), None);
}

#[test]
fn malformed_replies() {
    assert_eq!(
        reply_error(&[0x04, 0x5a]),
        Err(Socks5Error::WrongVersion(0x04))
    );
    assert_eq!(reply_error(&[0x00]), Err(Socks5Error::WrongVersion(0x00)));
    assert_eq!(
        reply_error(&[0x05, 0x00, 0x01, 0x01]),
        Err(Socks5Error::BadReserved(0x01))
    );
    for atyp in [0x00, 0x02, 0x05, 0xff] {
        assert_eq!(
            reply_error(&[0x05, 0x00, 0x00, atyp, 0, 0, 0, 0, 0, 0]),
            Err(Socks5Error::UnknownAddressType(atyp))
        );
    }
}

#[test]
fn bytes_before_our_turn_is_over_are_refused() {
    // Before the greeting went out.
    let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
    assert_eq!(hs.received(&[]), Ok(Progress::NeedMore));
    assert_eq!(hs.received(&METHOD_OK), Err(Socks5Error::UnsolicitedBytes));
    // After the method, before the driver took the request.
    let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
    let _greeting = hs.poll_transmit();
    assert_eq!(hs.received(&METHOD_OK), Ok(Progress::NeedMore));
    assert_eq!(hs.received(&[]), Ok(Progress::NeedMore));
    assert_eq!(hs.received(&[0x05]), Err(Socks5Error::UnsolicitedBytes));
    assert_eq!(
        hs.poll_transmit(),
        None,
        "a failed handshake sends nothing more"
    );
}

#[test]
fn errors_stick_and_a_finished_handshake_takes_no_more_bytes() {
    let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
    let _ = hs.poll_transmit();
    assert_eq!(
        hs.received(&[0x05, 0xff]),
        Err(Socks5Error::NoAcceptableMethod)
    );
    assert_eq!(
        hs.received(&[0x05, 0x00]),
        Err(Socks5Error::NoAcceptableMethod)
    );
    assert_eq!(hs.buffered(), 0);

    let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
    let _ = hs.poll_transmit();
    let _ = hs.received(&METHOD_OK);
    let _ = hs.poll_transmit();
    assert!(matches!(
        hs.received(&REPLY_V4_ZERO),
        Ok(Progress::Connected { .. })
    ));
    assert_eq!(hs.received(b"more"), Err(Socks5Error::AlreadyConnected));
    assert_eq!(hs.poll_transmit(), None);
    assert_eq!(hs.buffered(), 0);
}

#[test]
fn an_empty_read_changes_nothing() {
    let out = run(
        v4([127, 0, 0, 1], 1),
        &[
            &[],
            &METHOD_OK,
            &[],
            &REPLY_V4_ZERO[..3],
            &[],
            &REPLY_V4_ZERO[3..],
        ],
    );
    let bound = BoundAddr::Addr("0.0.0.0:0".parse().unwrap());
    assert_eq!(out.result, connected(bound, b""));
}

// ---- Splits and leftovers ------------------------------------------------------------------

/// Proxy answers worth splitting: a method reply, then a reply followed by tunnelled bytes.
fn scenarios() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v6 = vec![0x05, 0x00, 0x00, 0x04];
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v6.extend_from_slice(&[0x20, 0x8d]);
    let mut long_domain = vec![0x05, 0x00, 0x00, 0x03, 255];
    long_domain.extend_from_slice(&[b'n'; 255]);
    long_domain.extend_from_slice(&[0x00, 0x50]);
    let mut leftover_v4 = REPLY_V4_ZERO.to_vec();
    leftover_v4.extend_from_slice(b"\xf9\xbe\xb4\xd9version\0\0\0\0\0");
    let mut leftover_long = long_domain.clone();
    leftover_long.extend_from_slice(b"after");
    vec![
        (METHOD_OK.to_vec(), REPLY_V4_ZERO.to_vec()),
        (METHOD_OK.to_vec(), v6),
        (
            METHOD_OK.to_vec(),
            vec![0x05, 0x00, 0x00, 0x03, 0, 0x12, 0x34],
        ),
        (METHOD_OK.to_vec(), long_domain),
        (METHOD_OK.to_vec(), leftover_v4),
        (METHOD_OK.to_vec(), leftover_long),
        (
            METHOD_OK.to_vec(),
            vec![0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0],
        ),
        (
            METHOD_OK.to_vec(),
            vec![0x05, 0x00, 0x07, 0x01, 0, 0, 0, 0, 0, 0],
        ),
        (
            METHOD_OK.to_vec(),
            vec![0x05, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0, 0],
        ),
        (
            METHOD_OK.to_vec(),
            vec![0x05, 0x00, 0x00, 0x03, 200, b'a', b'b'],
        ),
        (vec![0x05, 0x02], vec![]),
        (vec![0x06, 0x00], vec![]),
    ]
}

#[test]
fn every_split_of_the_answers_gives_the_same_outcome() {
    let target = || Target::domain("example.com", 8333).unwrap();
    for (method, reply) in scenarios() {
        let whole = run(target(), &[&method, &reply]);
        // One byte a read.
        let bytes: Vec<&[u8]> = method.chunks(1).chain(reply.chunks(1)).collect();
        assert_eq!(run(target(), &bytes), whole, "byte by byte: {reply:02x?}");
        // Every pair of cuts: the method reply at m, the reply at i and j.
        for m in 0..=method.len() {
            for i in 0..=reply.len() {
                for j in i..=reply.len() {
                    let reads = [
                        &method[..m],
                        &method[m..],
                        &reply[..i],
                        &reply[i..j],
                        &reply[j..],
                    ];
                    assert_eq!(
                        run(target(), &reads),
                        whole,
                        "cuts {m}, {i}, {j} of {reply:02x?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_bytes_after_the_reply_are_handed_on_exactly() {
    let stream: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    for (_, reply) in scenarios().into_iter().take(4) {
        let mut read = reply.clone();
        read.extend_from_slice(&stream);
        let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
        let _ = hs.poll_transmit();
        let _ = hs.received(&METHOD_OK);
        let _ = hs.poll_transmit();
        match hs.received(&read) {
            Ok(Progress::Connected { leftover, .. }) => assert_eq!(leftover, stream),
            other => panic!("{other:?}"),
        }
        assert_eq!(hs.buffered(), 0, "nothing of the stream stays behind");
    }
}

#[test]
fn a_partial_reply_is_buffered_no_further_than_it_is_known() {
    let mut hs = Socks5Connect::new(v4([127, 0, 0, 1], 1));
    let _ = hs.poll_transmit();
    let _ = hs.received(&METHOD_OK);
    let _ = hs.poll_transmit();
    let mut reply = vec![0x05, 0x00, 0x00, 0x03, 255];
    reply.extend_from_slice(&[b'n'; 200]);
    assert_eq!(hs.received(&reply), Ok(Progress::NeedMore));
    assert_eq!(hs.buffered(), reply.len());
    assert_eq!(hs.received(&[b'n'; 55]), Ok(Progress::NeedMore));
    assert_eq!(hs.buffered(), MAX_REPLY_LEN - 2);
    match hs.received(&[0x00, 0x50, 0xaa]) {
        Ok(Progress::Connected { bound, leftover }) => {
            assert_eq!(bound, BoundAddr::Domain(vec![b'n'; 255], 80));
            assert_eq!(leftover, vec![0xaa]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(MAX_REPLY_LEN, 262);
}

#[test]
fn the_handshake_can_move_between_threads_and_tasks() {
    // Drivers keep one per connecting peer, in a poll loop or an async task.
    fn is_send_sync<T: Send + Sync + 'static>() {}
    is_send_sync::<Socks5Connect>();
    is_send_sync::<Socks5Error>();
    is_send_sync::<Progress>();
    assert!(std::mem::size_of::<Socks5Connect>() < 512);
}
