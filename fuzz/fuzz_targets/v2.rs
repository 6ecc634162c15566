//! Fuzz target `v2`: the BIP324 session (`headway_core::transport::v2`) and its message
//! framing, against hostile bytes.
//!
//! Input layout: byte 0 picks the mode (low two bits) and seeds the chunking (the rest); the
//! remaining bytes are the mode's data.
//!
//! - Mode 0, a hostile peer: the data is everything a dialling peer sends to our responder,
//!   cut into chunks. Checks: no panic; the buffer stays within one handshake's bound or one
//!   packet plus the last chunk; the frames and the error are the same as when the same bytes
//!   arrive at once (the session does not depend on how TCP cut the stream).
//! - Mode 1, packet contents: the data is one genuine packet's contents. Checks: no panic;
//!   a decoded message re-encodes to contents that decode to the same message.
//! - Mode 2, a tampered stream: an honest initiator completes the handshake with our
//!   responder and sends pings and headers; the data says which ciphertext bytes to flip.
//!   Checks: no panic; every message the responder accepts is the one that was sent at that
//!   place (a flipped stream never yields a forged message), and a flip that lands ends the
//!   stream in an error or leaves it waiting.

#![no_main]

use bitcoin::p2p::message::NetworkMessage;
use headway_core::transport::message_id::{decode_contents, encode_contents};
use headway_core::transport::v2::{
    HANDSHAKE_BYTES_LIMIT, KEY_LEN, MAX_CONTENTS_LEN, MAX_GARBAGE_LEN, PACKET_EXPANSION,
};
use headway_core::transport::{V2Error, V2Secrets, V2Session};
use headway_core::wire::Frame;
use libfuzzer_sys::fuzz_target;

const MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

/// Chunk lengths from a seed: xorshift, mostly short, sometimes a few thousand bytes.
struct Chunker(u32);

impl Chunker {
    fn next_len(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        let r = self.0 as usize;
        match r % 4 {
            0 => 1 + (r >> 2) % 4,
            1 => 1 + (r >> 2) % 64,
            2 => 1 + (r >> 2) % 300,
            _ => 1 + (r >> 2) % 5000,
        }
    }
}

fn secrets(key: u8, garbage: usize) -> V2Secrets {
    let mut bytes = [key; 32];
    bytes[0] = 1;
    V2Secrets::from_parts(bytes, vec![key; garbage])
}

fn drain(session: &mut V2Session, out: &mut Vec<Frame>) -> Option<V2Error> {
    loop {
        match session.next_frame() {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => return None,
            Err(error) => return Some(error),
        }
    }
}

fn hostile_peer(seed: u32, data: &[u8]) {
    let mut whole = V2Session::responder(MAGIC, secrets(2, 10), data);
    let mut expected = Vec::new();
    let expected_error = drain(&mut whole, &mut expected);

    let mut chunked = V2Session::responder(MAGIC, secrets(2, 10), &[]);
    let mut chunker = Chunker(seed | 1);
    let mut frames = Vec::new();
    let mut error = None;
    let mut rest = data;
    // The handshake holds the key, the garbage and its terminator, and the packets up to the
    // version packet; after it, one partial packet.
    let handshake_bound = KEY_LEN + MAX_GARBAGE_LEN + 16 + HANDSHAKE_BYTES_LIMIT + 17 * 20;
    let packet_bound = MAX_CONTENTS_LEN + PACKET_EXPANSION;
    while !rest.is_empty() && error.is_none() {
        let n = chunker.next_len().min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        chunked.receive(chunk);
        error = drain(&mut chunked, &mut frames);
        assert!(
            chunked.buffered() <= handshake_bound.max(packet_bound) + chunk.len(),
            "{} bytes buffered",
            chunked.buffered()
        );
    }
    assert_eq!(frames, expected, "chunking changed the frames");
    assert_eq!(error, expected_error, "chunking changed the error");
}

fn contents(data: &[u8]) {
    if let Frame::Message(message) = decode_contents(data) {
        let again = encode_contents(&message);
        assert_eq!(decode_contents(&again), Frame::Message(message));
    }
}

fn tampered(data: &[u8]) {
    let mut initiator = V2Session::initiator(MAGIC, secrets(3, 7));
    let opening = initiator.take_outgoing();
    let mut responder = V2Session::responder(MAGIC, secrets(4, 5), &opening);
    initiator.receive(&responder.take_outgoing());
    responder.receive(&initiator.take_outgoing());
    initiator.receive(&responder.take_outgoing());
    assert!(initiator.is_established() && responder.is_established());
    let sent: Vec<NetworkMessage> = (0..8u64)
        .map(|i| {
            if i % 3 == 2 {
                NetworkMessage::Headers(Vec::new())
            } else {
                NetworkMessage::Ping(i)
            }
        })
        .collect();
    for m in &sent {
        initiator.send(m);
    }
    let mut stream = initiator.take_outgoing();
    for pair in data.chunks(3) {
        if let [hi, lo, flip] = *pair {
            let at = usize::from(u16::from_le_bytes([hi, lo])) % stream.len();
            stream[at] ^= flip;
        }
    }
    responder.receive(&stream);
    let mut got = Vec::new();
    let _ = drain(&mut responder, &mut got);
    for (i, frame) in got.iter().enumerate() {
        assert_eq!(frame, &Frame::Message(sent[i].clone()), "a forged message");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector & 3 {
        0 => hostile_peer(u32::from(selector >> 2) << 8 | 0x5a, rest),
        1 => contents(rest),
        _ => tampered(rest),
    }
});
