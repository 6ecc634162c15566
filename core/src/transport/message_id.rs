//! BIP324 message types: the one-byte short IDs and the 12-byte long form that name a message
//! inside a v2 packet's contents, and the contents' encoding and decoding.
//!
//! The table is our own, copied from the BIP (and Core's `V2_MESSAGE_IDS` in `net.cpp`), not
//! taken from a crate: `bip324` 0.11 carries none, and the 0.10 table is tied to
//! rust-bitcoin's `NetworkMessage` variants and its `Network` enum (see [`super`] for why we
//! build on 0.11). A message type with a short ID is always sent by it, as Core does; every
//! other type goes in the long form.

use bitcoin::consensus::Encodable;
use bitcoin::p2p::message::NetworkMessage;

use crate::wire::{self, Frame, Rejected, COMMAND_LEN};

/// The message types with one-byte IDs, index = ID (BIP324 "v2 Bitcoin P2P message
/// structure"; Core's `V2_MESSAGE_IDS`). ID 0 announces the 12-byte long form; IDs 29–32 are
/// assigned by the BIP to messages we do not know, so they are empty here, as in Core, and a
/// packet using one is dropped like any unknown ID.
pub const SHORT_IDS: [&str; 33] = [
    "",
    "addr",
    "block",
    "blocktxn",
    "cmpctblock",
    "feefilter",
    "filteradd",
    "filterclear",
    "filterload",
    "getblocks",
    "getblocktxn",
    "getdata",
    "getheaders",
    "headers",
    "inv",
    "mempool",
    "merkleblock",
    "notfound",
    "ping",
    "pong",
    "sendcmpct",
    "tx",
    "getcfilters",
    "cfilter",
    "getcfheaders",
    "cfheaders",
    "getcfcheckpt",
    "cfcheckpt",
    "addrv2",
    "",
    "",
    "",
    "",
];

/// The short ID of a message type, if it has one.
pub fn short_id(command: &str) -> Option<u8> {
    if command.is_empty() {
        return None;
    }
    SHORT_IDS
        .iter()
        .position(|&c| c == command)
        .and_then(|i| u8::try_from(i).ok())
}

/// A message's packet contents: its short ID or `0` and the 12-byte type, then the payload.
pub fn encode_contents(msg: &NetworkMessage) -> Vec<u8> {
    let command = msg.command();
    let command = command.as_ref();
    let mut contents = Vec::with_capacity(1 + COMMAND_LEN + 64);
    match short_id(command) {
        Some(id) => contents.push(id),
        None => {
            let mut long = [0u8; 1 + COMMAND_LEN];
            // A `CommandString` is at most 12 ASCII bytes, so it always fits.
            for (slot, byte) in long.iter_mut().skip(1).zip(command.bytes()) {
                *slot = byte;
            }
            contents.extend_from_slice(&long);
        }
    }
    // Writing to a Vec cannot fail.
    let _ = msg.consensus_encode(&mut contents);
    contents
}

/// Decodes a genuine packet's contents (the header byte already stripped) into a message.
///
/// A malformed type (empty contents, an unassigned short ID, a long form that is short or not
/// printable ASCII padded with zeros) or a payload that does not decode spoils only this
/// message: [`Frame::Rejected`], and the stream goes on, as Core's
/// `V2Transport::GetReceivedMessage` sets `reject_message`.
pub fn decode_contents(contents: &[u8]) -> Frame {
    let Some((&first, rest)) = contents.split_first() else {
        return Frame::Rejected(Rejected::BadCommand);
    };
    let (command, payload) = if first != 0 {
        match SHORT_IDS.get(usize::from(first)) {
            Some(name) if !name.is_empty() => {
                let mut command = [0u8; COMMAND_LEN];
                for (slot, byte) in command.iter_mut().zip(name.bytes()) {
                    *slot = byte;
                }
                (command, rest)
            }
            _ => return Frame::Rejected(Rejected::UnknownShortId(first)),
        }
    } else {
        let Some((command, payload)) = rest.split_first_chunk::<COMMAND_LEN>() else {
            return Frame::Rejected(Rejected::BadCommand);
        };
        (*command, payload)
    };
    match wire::decode_payload(&command, payload) {
        Ok(message) => Frame::Message(message),
        Err(rejected) => Frame::Rejected(rejected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::p2p::message_network::VersionMessage;

    #[test]
    fn the_table_is_the_bips() {
        // Spot checks against BIP324's table, and Core's lookup: every named type has its
        // index, the long-form types have none.
        assert_eq!(short_id("addr"), Some(1));
        assert_eq!(short_id("getheaders"), Some(12));
        assert_eq!(short_id("headers"), Some(13));
        assert_eq!(short_id("ping"), Some(18));
        assert_eq!(short_id("pong"), Some(19));
        assert_eq!(short_id("addrv2"), Some(28));
        for long in [
            "version",
            "verack",
            "sendheaders",
            "sendaddrv2",
            "getaddr",
            "wtxidrelay",
        ] {
            assert_eq!(short_id(long), None, "{long}");
        }
        assert_eq!(short_id(""), None);
    }

    #[test]
    fn contents_round_trip_in_both_forms() {
        let ping = encode_contents(&NetworkMessage::Ping(7));
        assert_eq!(ping, [&[18u8][..], &7u64.to_le_bytes()].concat());
        assert_eq!(
            decode_contents(&ping),
            Frame::Message(NetworkMessage::Ping(7))
        );
        let verack = encode_contents(&NetworkMessage::Verack);
        assert_eq!(verack, b"\0verack\0\0\0\0\0\0".to_vec());
        assert_eq!(
            decode_contents(&verack),
            Frame::Message(NetworkMessage::Verack)
        );
        let headers = NetworkMessage::Headers(headway_regtest::chain(3, 1));
        assert_eq!(
            decode_contents(&encode_contents(&headers)),
            Frame::Message(headers)
        );
        let version = NetworkMessage::Version(VersionMessage::new(
            bitcoin::p2p::ServiceFlags::NONE,
            0,
            bitcoin::p2p::Address::new(
                &"127.0.0.1:1".parse().unwrap(),
                bitcoin::p2p::ServiceFlags::NONE,
            ),
            bitcoin::p2p::Address::new(
                &"127.0.0.1:2".parse().unwrap(),
                bitcoin::p2p::ServiceFlags::NONE,
            ),
            9,
            "/t/".into(),
            5,
        ));
        assert_eq!(
            decode_contents(&encode_contents(&version)),
            Frame::Message(version)
        );
    }

    #[test]
    fn a_malformed_type_spoils_only_its_message() {
        assert_eq!(decode_contents(&[]), Frame::Rejected(Rejected::BadCommand));
        assert_eq!(
            decode_contents(&[29, 1, 2]),
            Frame::Rejected(Rejected::UnknownShortId(29))
        );
        assert_eq!(
            decode_contents(&[200]),
            Frame::Rejected(Rejected::UnknownShortId(200))
        );
        assert_eq!(
            decode_contents(b"\0verack"),
            Frame::Rejected(Rejected::BadCommand),
            "long form shorter than 12 bytes"
        );
        assert_eq!(
            decode_contents(b"\0ver\x01ack\0\0\0\0\0"),
            Frame::Rejected(Rejected::BadCommand)
        );
        assert!(matches!(
            decode_contents(&[18, 1, 2]),
            Frame::Rejected(Rejected::Decode { .. })
        ));
        // An unknown long-form type is a message the node ignores, as in v1.
        assert!(matches!(
            decode_contents(b"\0frobnicate\0\0xyz"),
            Frame::Message(NetworkMessage::Unknown { .. })
        ));
    }
}
