//! Byte-exact frames from independent implementations: each one must decode to the message
//! written out field by field here, and `wire::encode` of that message must give back exactly
//! the same bytes.
//!
//! Sources (public test data, hex copied verbatim):
//! - regtest `version`, `verack`, `ping`, `pong`, `getheaders`, `headers`: frames exchanged with
//!   bitcoinj 0.14.5, from gmagnotta's Java node, `BitcoinFrameTest.java`;
//! - mainnet `version` from Bitcoin Core 22.0 (`/Satoshi:22.0.0/`), from the TypeScript
//!   library bitcodec-bitcoin-p2p, `tests/data/version_message.ts`;
//! - mainnet `getheaders` (protocol 70002, locator = genesis): the "headers-first" example of the
//!   bitcoin.org developer guide;
//! - mainnet `ping` from parity-bitcoin's `read_any_message` test;
//! - the `ping` payload of nonce 123123 and the `getheaders` payload of btcd's
//!   `wire/msgping_test.go` and `wire/msggetheaders_test.go` (payload only; the frame header is
//!   checked field by field).

use std::str::FromStr;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::wire::{encode, FrameDecoder};

const REGTEST_VERSION: &str = "fabfb5da76657273696f6e000000000073000000078454dc711101000000000000000000ddf3ed5900000000000000000000000000000000000000000000ffff7f0000014a38000000000000000000000000000000000000ffff7f0000014a3800000000000000001d2f626974636f696e6a3a302e31342e352f554e49515549443a302e312f0000000001";
const REGTEST_VERACK: &str = "fabfb5da76657261636b000000000000000000005df6e0e2";
const REGTEST_PING: &str = "fabfb5da70696e670000000000000000080000007ff7de1902246433af0feb3c";
const REGTEST_PONG: &str = "fabfb5da706f6e670000000000000000080000007ff7de1902246433af0feb3c";
const REGTEST_HEADERS: &str = "fabfb5da686561646572730000000000a30000002e5cce1f020100000043497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000bac8b0fa927c0ac8234287e33c5f74d38d354820e24756ad709d7038fc5f31f020e7494dffff001d03e4b672000100000006128e87be8b1b4dea47a7247d5528d2702c96826c7a648497e773b800000000e241352e3bec0a95a6217e10c3abb54adfa05abb12c126695595580fb92e222032e7494dffff001d00d2353400";
const MAINNET_VERSION_CORE_22: &str = "f9beb4d976657273696f6e00000000006600000097302af5801101000904000000000000e577646100000000000000000000000000000000000000000000ffff1fdf0364085e090400000000000000000000000000000000000000000000000072036dbc6d407f7f102f5361746f7368693a32322e302e302f26c00a0001";
const MAINNET_GETHEADERS: &str = "f9beb4d967657468656164657273000045000000f5fcbcad72110100016fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d61900000000000000000000000000000000000000000000000000000000000000000000000000";
const MAINNET_PING: &str = "f9beb4d970696e6700000000000000000800000083c00c765845303b6da97786";

fn bytes(hex: &str) -> Vec<u8> {
    Vec::<u8>::from_hex(hex).expect("test vector is hex")
}

/// Decodes `frame` fed in one piece, checks it is exactly one message, and returns it.
fn decode_one(magic: Magic, frame: &[u8]) -> NetworkMessage {
    let mut decoder = FrameDecoder::new(magic);
    decoder.extend(frame);
    let msg = decoder
        .next_message()
        .expect("vector decodes")
        .expect("vector is a whole frame");
    assert_eq!(decoder.next_message(), Ok(None), "exactly one frame");
    assert_eq!(decoder.buffered(), 0);
    msg
}

/// The property every vector must meet: decodes to `expected`, and `expected` encodes to it.
fn assert_vector(magic: Magic, hex: &str, expected: NetworkMessage) {
    let frame = bytes(hex);
    assert_eq!(decode_one(magic, &frame), expected, "decoding {hex}");
    assert_eq!(
        encode(magic, expected),
        frame,
        "encoding must reproduce the vector"
    );
}

fn ipv4_mapped(a: u8, b: u8, c: u8, d: u8) -> [u16; 8] {
    [
        0,
        0,
        0,
        0,
        0,
        0xffff,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    ]
}

#[test]
fn regtest_version_from_bitcoinj() {
    let localhost = Address {
        services: ServiceFlags::NONE,
        address: ipv4_mapped(127, 0, 0, 1),
        port: 19000,
    };
    let expected = VersionMessage {
        version: 70001,
        services: ServiceFlags::NONE,
        timestamp: 1508766685,
        receiver: localhost.clone(),
        sender: localhost,
        nonce: 0,
        user_agent: "/bitcoinj:0.14.5/UNIQUID:0.1/".to_string(),
        start_height: 0,
        relay: true,
    };
    assert_vector(
        Magic::REGTEST,
        REGTEST_VERSION,
        NetworkMessage::Version(expected),
    );
}

#[test]
fn mainnet_version_from_bitcoin_core_22() {
    let expected = VersionMessage {
        version: 70016,
        services: ServiceFlags::NETWORK | ServiceFlags::WITNESS | ServiceFlags::NETWORK_LIMITED,
        timestamp: 1633974245,
        receiver: Address {
            services: ServiceFlags::NONE,
            address: ipv4_mapped(31, 223, 3, 100),
            port: 2142,
        },
        sender: Address {
            services: ServiceFlags::NETWORK | ServiceFlags::WITNESS | ServiceFlags::NETWORK_LIMITED,
            address: [0; 8],
            port: 0,
        },
        nonce: u64::from_le_bytes([0x72, 0x03, 0x6d, 0xbc, 0x6d, 0x40, 0x7f, 0x7f]),
        user_agent: "/Satoshi:22.0.0/".to_string(),
        start_height: 704550,
        relay: true,
    };
    assert_vector(
        Magic::BITCOIN,
        MAINNET_VERSION_CORE_22,
        NetworkMessage::Version(expected),
    );
}

#[test]
fn verack_is_a_bare_header_with_the_empty_checksum() {
    assert_vector(Magic::REGTEST, REGTEST_VERACK, NetworkMessage::Verack);
    // The checksum of an empty payload is 5df6e0e2 on every network.
    let mainnet = encode(Magic::BITCOIN, NetworkMessage::Verack);
    assert_eq!(
        mainnet,
        bytes("f9beb4d976657261636b000000000000000000005df6e0e2")
    );
}

#[test]
fn ping_and_pong_from_bitcoinj_and_parity() {
    let nonce = 4389619506958574594;
    assert_vector(Magic::REGTEST, REGTEST_PING, NetworkMessage::Ping(nonce));
    assert_vector(Magic::REGTEST, REGTEST_PONG, NetworkMessage::Pong(nonce));
    let parity_nonce = u64::from_le_bytes([0x58, 0x45, 0x30, 0x3b, 0x6d, 0xa9, 0x77, 0x86]);
    assert_vector(
        Magic::BITCOIN,
        MAINNET_PING,
        NetworkMessage::Ping(parity_nonce),
    );
}

#[test]
fn ping_payload_matches_btcd() {
    // btcd msgping_test.go: nonce 123123 is f3 e0 01 00 00 00 00 00.
    let frame = encode(Magic::BITCOIN, NetworkMessage::Ping(123123));
    assert_eq!(&frame[..4], &[0xf9, 0xbe, 0xb4, 0xd9]);
    assert_eq!(&frame[4..16], b"ping\0\0\0\0\0\0\0\0");
    assert_eq!(&frame[16..20], &8u32.to_le_bytes());
    assert_eq!(
        &frame[24..],
        &[0xf3, 0xe0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
    assert_eq!(
        decode_one(Magic::BITCOIN, &frame),
        NetworkMessage::Ping(123123)
    );
}

#[test]
fn getheaders_from_the_developer_guide() {
    let genesis =
        BlockHash::from_str("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
            .expect("hash");
    let expected = GetHeadersMessage {
        version: 70002,
        locator_hashes: vec![genesis],
        stop_hash: BlockHash::all_zeros(),
    };
    assert_vector(
        Magic::BITCOIN,
        MAINNET_GETHEADERS,
        NetworkMessage::GetHeaders(expected),
    );
}

#[test]
fn getheaders_payload_matches_btcd() {
    // btcd msggetheaders_test.go, multiLocatorsEncoded (protocol 60002, blocks 99500 and 99499,
    // stop at 100000).
    let payload = bytes(concat!(
        "62ea0000",
        "02",
        "e0de064468132c63d220cc691283cb65bcaae47994ef9e7bade7020000000000",
        "357595b7f68cb160ccba2c9ac5425fd96f0a013dc97ec8400f71020000000000",
        "06e533fd1ada86391f3f6c343204b0d278d4aaec1c0b20aa27ba030000000000",
    ));
    let hash = |s: &str| BlockHash::from_str(s).expect("hash");
    let msg = GetHeadersMessage {
        version: 60002,
        locator_hashes: vec![
            hash("000000000002e7ad7b9eef9479e4aabc65cb831269cc20d2632c13684406dee0"),
            hash("000000000002710f40c87ec93d010a6fd95f42c59a2cbacc60b18cf6b7957535"),
        ],
        stop_hash: hash("000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"),
    };
    let frame = encode(Magic::BITCOIN, NetworkMessage::GetHeaders(msg.clone()));
    assert_eq!(&frame[4..16], b"getheaders\0\0");
    assert_eq!(&frame[16..20], &(payload.len() as u32).to_le_bytes());
    assert_eq!(&frame[24..], &payload[..]);
    assert_eq!(
        decode_one(Magic::BITCOIN, &frame),
        NetworkMessage::GetHeaders(msg)
    );
}

#[test]
fn headers_from_bitcoinj() {
    // Testnet3 blocks 1 and 2, sent over regtest magic.
    let header = |prev: &str, merkle: &str, time: u32, nonce: u32| Header {
        version: Version::ONE,
        prev_blockhash: BlockHash::from_str(prev).expect("hash"),
        merkle_root: TxMerkleNode::from_str(merkle).expect("merkle"),
        time,
        bits: CompactTarget::from_consensus(0x1d00ffff),
        nonce,
    };
    let expected = vec![
        header(
            "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
            "f0315ffc38709d70ad5647e22048358dd3745f3ce3874223c80a7c92fab0c8ba",
            1296688928,
            1924588547,
        ),
        header(
            "00000000b873e79784647a6c82962c70d228557d24a747ea4d1b8bbe878e1206",
            "20222eb90f5895556926c112bb5aa0df4ab5abc3107e21a6950aec3b2e3541e2",
            1296688946,
            875942400,
        ),
    ];
    assert_eq!(
        expected[1].prev_blockhash,
        expected[0].block_hash(),
        "the two headers link, so they were transcribed right"
    );
    assert_vector(
        Magic::REGTEST,
        REGTEST_HEADERS,
        NetworkMessage::Headers(expected),
    );
}
