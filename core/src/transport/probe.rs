//! Transport detection: which protocol an inbound peer speaks, told from its first 16 bytes as
//! Bitcoin Core does (`V2Transport::ProcessReceivedMaybeV1Bytes`, BIP324 "v1 fallback").
//!
//! A v1 peer that connects to us must open with a `version` frame, so its first 16 bytes are
//! our network magic followed by the command `version` and five zero bytes. A BIP324 (v2) peer
//! opens with a 64-byte ElligatorSwift public key instead, which matches that prefix only by
//! chance (2^-128). With v2 off (`--v2transport=false`) the answer to a v2 opening is to close
//! without penalty: Core then comes back with v1.

use bitcoin::p2p::Magic;

/// Bytes of an inbound stream that tell v1 from v2 (BIP324's `V1_PREFIX_LEN`).
pub const V1_PREFIX_LEN: usize = 16;

/// What the first bytes of an inbound stream say about its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// All 16 bytes match a v1 `version` frame: a v1 peer.
    V1,
    /// A byte differs from the v1 prefix: not v1, so (as Core assumes) a v2 handshake.
    V2,
    /// Every byte so far matches, but fewer than 16 arrived.
    Undecided,
}

/// The first 16 bytes of a v1 `version` frame on the network with `magic`.
pub fn v1_prefix(magic: Magic) -> [u8; V1_PREFIX_LEN] {
    let mut prefix = *b"\0\0\0\0version\0\0\0\0\0";
    prefix[..4].copy_from_slice(&magic.to_bytes());
    prefix
}

/// Classifies the first bytes received from an inbound peer (only the first 16 count).
pub fn probe(magic: Magic, received: &[u8]) -> Probe {
    let prefix = v1_prefix(magic);
    let seen = received.len().min(V1_PREFIX_LEN);
    if received.get(..seen) != prefix.get(..seen) {
        Probe::V2
    } else if seen == V1_PREFIX_LEN {
        Probe::V1
    } else {
        Probe::Undecided
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::p2p::message::NetworkMessage;

    #[test]
    fn a_v1_version_frame_is_v1_and_its_prefix_is_undecided() {
        let magic = Magic::REGTEST;
        let frame = crate::wire::encode(magic, NetworkMessage::Verack);
        // A verack shares the magic but not the command: not a v1 opening.
        assert_eq!(probe(magic, &frame), Probe::V2);
        let version = v1_prefix(magic);
        assert_eq!(probe(magic, &version), Probe::V1);
        assert_eq!(probe(magic, &version[..7]), Probe::Undecided);
        assert_eq!(probe(magic, &[]), Probe::Undecided);
        // The mainnet magic on regtest is as foreign as a v2 key.
        assert_eq!(probe(magic, &Magic::BITCOIN.to_bytes()), Probe::V2);
        // One wrong byte anywhere in the 16 decides at once.
        let mut off = version;
        off[15] = 1;
        assert_eq!(probe(magic, &off), Probe::V2);
    }
}
