//! Tests of the seed tables against Bitcoin Core's (see the parent module's docs for sources).

use std::net::{Ipv4Addr, Ipv6Addr};

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;

use super::*;

/// Counts the entries of a BIP155 array by framing alone, whether or not they decode.
fn framed_entries(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = bytes;
    while let Some((_, tail)) = next_entry(rest) {
        n += 1;
        rest = tail;
    }
    assert!(rest.is_empty(), "trailing bytes after the last entry");
    n
}

fn ipv6(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("test hex");
    }
    out
}

#[test]
fn dns_seed_lists_are_cores() {
    let main = dns_seeds(Network::Mainnet);
    assert_eq!(main.len(), 8);
    assert_eq!(main[0], "seed.bitcoin.sipa.be.");
    assert_eq!(main[1], "dnsseed.bluematt.me.");
    assert_eq!(main[7], "seed.mainnet.achownodes.xyz.");
    assert!(
        !main.iter().any(|h| h.contains("dashjr")),
        "Core dropped Luke Dashjr's seed"
    );

    let t3 = dns_seeds(Network::Testnet3);
    assert_eq!(t3.len(), 5);
    assert_eq!(t3[0], "testnet-seed.bitcoin.jonasschnelli.ch.");
    assert_eq!(t3[3], "testnet-seed.bluematt.me.");

    assert_eq!(
        dns_seeds(Network::Testnet4),
        [
            "seed.testnet4.bitcoin.sprovoost.nl.",
            "seed.testnet4.wiz.biz."
        ]
    );
    assert_eq!(
        dns_seeds(Network::Signet),
        [
            "seed.signet.bitcoin.sprovoost.nl.",
            "seed.signet.achownodes.xyz."
        ]
    );
    assert!(dns_seeds(Network::Regtest).is_empty());
    assert!(dns_seeds(Network::Simnet).is_empty());
}

#[test]
fn seed_info_matches_host_lists() {
    for network in Network::ALL {
        let info: Vec<&str> = dns_seed_info(network).iter().map(|s| s.host).collect();
        assert_eq!(info, dns_seeds(network), "{network}");
        for host in dns_seeds(network) {
            assert!(host.ends_with('.') && !host.starts_with('.'), "{host}");
        }
    }
    assert_eq!(dns_seed_info(Network::Mainnet)[1].x9, X9Support::Documented);
    assert_eq!(dns_seed_info(Network::Mainnet)[4].x9, X9Support::Unstated);
}

#[test]
fn x9_is_network_and_witness_and_comes_first() {
    let flags = ServiceFlags::NETWORK | ServiceFlags::WITNESS;
    assert_eq!(flags.to_u64(), SEED_SERVICE_FLAGS);
    assert_eq!(
        seed_queries("seed.bitcoin.sipa.be."),
        [
            "x9.seed.bitcoin.sipa.be.".to_string(),
            "seed.bitcoin.sipa.be.".to_string()
        ]
    );
    for network in Network::ALL {
        for host in dns_seeds(network) {
            let [filtered, bare] = seed_queries(host);
            assert_eq!(filtered, format!("x9.{host}"));
            assert_eq!(bare, *host);
        }
    }
}

#[test]
fn fixed_seeds_decode_fully_and_count_as_core() {
    // Entries in Core's nodes_*.txt as carried (see the module docs): mainnet CJDNS 8 + IPv4 512
    // + IPv6 512; signet and testnet4 every entry.
    let cases: [(Network, &[u8], usize); 3] = [
        (Network::Mainnet, &mainnet::MAINNET, 1032),
        (Network::Signet, &signet::SIGNET, 170),
        (Network::Testnet4, &testnet4::TESTNET4, 230),
    ];
    for (network, bytes, core_count) in cases {
        assert_eq!(framed_entries(bytes), core_count, "{network} framing");
        assert_eq!(fixed_seeds(network).len(), core_count, "{network} decoded");
    }
}

#[test]
fn fixed_seed_counts_per_address_kind() {
    fn kinds(seeds: &[(AddrV2, u16)]) -> [usize; 5] {
        let mut k = [0; 5];
        for (addr, _) in seeds {
            let i = match addr {
                AddrV2::Ipv4(_) => 0,
                AddrV2::Ipv6(_) => 1,
                AddrV2::TorV3(_) => 2,
                AddrV2::I2p(_) => 3,
                AddrV2::Cjdns(_) => 4,
                other => panic!("unexpected {other:?}"),
            };
            k[i] += 1;
        }
        k
    }
    assert_eq!(kinds(&fixed_seeds(Network::Mainnet)), [512, 512, 0, 0, 8]);
    assert_eq!(kinds(&fixed_seeds(Network::Signet)), [46, 47, 67, 9, 1]);
    assert_eq!(kinds(&fixed_seeds(Network::Testnet4)), [63, 70, 78, 18, 1]);
}

#[test]
fn ports_are_each_networks_default_except_i2p() {
    for (network, port) in [
        (Network::Mainnet, 8333),
        (Network::Signet, 38333),
        (Network::Testnet4, 48333),
    ] {
        assert_eq!(network.params().default_port, port);
        for (addr, p) in fixed_seeds(network) {
            let expected = if matches!(addr, AddrV2::I2p(_)) {
                0
            } else {
                port
            };
            assert_eq!(p, expected, "{network} {addr:?}");
        }
    }
}

#[test]
fn known_entries_decode_to_cores_addresses() {
    let main = fixed_seeds(Network::Mainnet);
    assert_eq!(
        main[0],
        (
            AddrV2::Cjdns(ipv6("fc1f:22c3:95dc:a3af:4a93:8251:beb9:1858")),
            8333
        )
    );
    assert_eq!(
        main[8],
        (AddrV2::Ipv4(Ipv4Addr::new(2, 39, 163, 191)), 8333)
    );
    assert_eq!(
        main[519],
        (AddrV2::Ipv4(Ipv4Addr::new(222, 239, 166, 108)), 8333)
    );
    assert_eq!(
        main[520],
        (
            AddrV2::Ipv6(ipv6("2001:13d8:1c01:21:215:17ff:fe63:2a7e")),
            8333
        )
    );
    assert_eq!(main[1031], (AddrV2::Ipv6(ipv6("2c0f:fb18:402:5::3")), 8333));

    let signet = fixed_seeds(Network::Signet);
    // 25g5trd4qasb2sbpkk5cvl256l6aiwcwjjqq7xso3ajvlgcvkpaq.b32.i2p:0
    let i2p = hex32("d74dd9c47c80241d482f52ba2aaf5df2fc0458564a610fde4ed81355985553c1");
    assert_eq!(signet[1], (AddrV2::I2p(i2p), 0));
    assert_eq!(
        signet[10],
        (AddrV2::Ipv4(Ipv4Addr::new(34, 135, 189, 101)), 38333)
    );
    // 2uqd5pbaxn26o7fl7nqtm2khetqocislppxtxrpqg55wtbcqdrf2y5qd.onion:38333
    let onion = hex32("d5203ebc20bb75e77cabfb6136694724e0e1224b7bef3bc5f0377b6984501c4b");
    assert_eq!(signet[103], (AddrV2::TorV3(onion), 38333));

    let t4 = fixed_seeds(Network::Testnet4);
    assert_eq!(
        t4[19],
        (AddrV2::Ipv4(Ipv4Addr::new(2, 59, 134, 244)), 48333)
    );
    assert_eq!(t4[229].1, 48333);
}

#[test]
fn serialisation_is_chainparamsseeds_h() {
    // This line of Core's generated chainparamsseeds.h ([2001:648:2800:131:4b1f:f6fc:20f7:f99f]:8333)
    // must appear verbatim in the generated mainnet array.
    let core_line: [u8; 20] = [
        0x02, 0x10, 0x20, 0x01, 0x06, 0x48, 0x28, 0x00, 0x01, 0x31, 0x4b, 0x1f, 0xf6, 0xfc, 0x20,
        0xf7, 0xf9, 0x9f, 0x20, 0x8d,
    ];
    assert!(mainnet::MAINNET
        .windows(core_line.len())
        .any(|w| w == core_line));
}

#[test]
fn networks_without_fixed_seeds() {
    assert!(fixed_seeds(Network::Regtest).is_empty());
    assert!(fixed_seeds(Network::Simnet).is_empty());
    assert!(fixed_seeds(Network::Testnet3).is_empty());
}

#[test]
fn malformed_entries_are_skipped_without_panic() {
    let good = [0x01, 0x04, 1, 2, 3, 4, 0x20, 0x8d];
    let want = (AddrV2::Ipv4(Ipv4Addr::new(1, 2, 3, 4)), 8333);

    // Unknown network id with a length: skipped, decoding goes on.
    let mut bytes = vec![0x09, 0x03, 0xaa, 0xbb, 0xcc, 0x00, 0x01];
    bytes.extend_from_slice(&good);
    assert_eq!(decode_bip155_seeds(&bytes), vec![want.clone()]);

    // Wrong length for a known network, TorV2, IPv4-mapped IPv6, CJDNS outside fc00::/8.
    let mut bytes = vec![0x01, 0x05, 1, 2, 3, 4, 5, 0x20, 0x8d];
    bytes.extend_from_slice(&[0x03, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x47, 0x9d]);
    bytes.extend_from_slice(&[
        0x02, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4,
    ]);
    bytes.extend_from_slice(&[0x20, 0x8d]);
    bytes.extend_from_slice(&[
        0x06, 0x10, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
    bytes.extend_from_slice(&[0x20, 0x8d]);
    bytes.extend_from_slice(&good);
    assert_eq!(decode_bip155_seeds(&bytes), vec![want.clone()]);

    // Truncated entry: what came before is kept.
    let mut bytes = good.to_vec();
    bytes.extend_from_slice(&[0x02, 0x10, 0x20, 0x01]);
    assert_eq!(decode_bip155_seeds(&bytes), vec![want.clone()]);
    assert_eq!(decode_bip155_seeds(&good[..7]), []);

    // Oversized length (513 > MAX_ADDRV2_SIZE) stops decoding.
    let mut bytes = good.to_vec();
    bytes.extend_from_slice(&[0x09, 0xfd, 0x01, 0x02]);
    bytes.extend_from_slice(&[0u8; 515]);
    bytes.extend_from_slice(&good);
    assert_eq!(decode_bip155_seeds(&bytes), vec![want.clone()]);

    // Non-canonical compact size (0xfd encoding 4) stops decoding.
    let mut bytes = good.to_vec();
    bytes.extend_from_slice(&[0x01, 0xfd, 0x04, 0x00, 1, 2, 3, 4, 0x20, 0x8d]);
    assert_eq!(decode_bip155_seeds(&bytes), vec![want]);

    // Huge compact sizes and empty input.
    assert_eq!(
        decode_bip155_seeds(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        []
    );
    assert_eq!(decode_bip155_seeds(&[]), []);
    assert_eq!(decode_bip155_seeds(&[0x01]), []);
}

#[test]
fn decoder_never_panics_on_prefixes_of_real_data() {
    for cut in 0..signet::SIGNET.len() {
        let got = decode_bip155_seeds(&signet::SIGNET[..cut]);
        assert!(got.len() <= 170);
    }
}
