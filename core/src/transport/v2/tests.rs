//! The v2 session against itself and against the `bip324` crate driven directly, byte by
//! byte and in one piece, and every hostile case of the module's table.

use bip324::{
    CipherSession, GarbageResult, Handshake, Initialized, OutboundCipher, PacketType, ReceivedKey,
    Role, VersionResult,
};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::secp256k1::Secp256k1;

use super::*;
use crate::rng::{SecretRng, SecretSeed};
use crate::wire::Rejected;

const MAGIC: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

fn secrets(seed: u8) -> V2Secrets {
    V2Secrets::draw(&mut SecretRng::from_seed(&SecretSeed::from_bytes(
        [seed; 32],
    )))
}

/// Moves bytes both ways, `chunk` at a time, until neither side has anything to send.
fn pump(a: &mut V2Session, b: &mut V2Session, chunk: usize) {
    for _ in 0..10_000 {
        let ab = a.take_outgoing();
        let ba = b.take_outgoing();
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        for piece in ab.chunks(chunk.max(1)) {
            b.receive(piece);
        }
        for piece in ba.chunks(chunk.max(1)) {
            a.receive(piece);
        }
    }
    panic!("the exchange did not settle");
}

fn drain(s: &mut V2Session) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = s.next_frame().expect("a healthy stream") {
        frames.push(frame);
    }
    frames
}

/// A responder as the transport makes one: it sees the initiator's first bytes.
fn pair(init: V2Secrets, resp: V2Secrets) -> (V2Session, V2Session) {
    let mut initiator = V2Session::initiator(MAGIC, init);
    let opening = initiator.take_outgoing();
    let responder = V2Session::responder(MAGIC, resp, &opening);
    (initiator, responder)
}

#[test]
fn both_sides_agree_and_messages_flow_whole_or_byte_by_byte() {
    for chunk in [usize::MAX, 1, 7, 100] {
        let (mut a, mut b) = pair(secrets(1), secrets(2));
        a.send(&NetworkMessage::Verack);
        pump(&mut a, &mut b, chunk);
        assert!(a.is_established() && b.is_established(), "chunk {chunk}");
        assert_eq!(a.session_id(), b.session_id());
        assert_eq!(drain(&mut b), vec![Frame::Message(NetworkMessage::Verack)]);
        b.send(&NetworkMessage::Ping(9));
        b.send(&NetworkMessage::Headers(headway_regtest::chain(50, 3)));
        pump(&mut a, &mut b, chunk);
        assert_eq!(
            drain(&mut a),
            vec![
                Frame::Message(NetworkMessage::Ping(9)),
                Frame::Message(NetworkMessage::Headers(headway_regtest::chain(50, 3))),
            ]
        );
        assert_eq!(a.buffered(), 0);
    }
}

#[test]
fn garbage_of_every_allowed_size_works() {
    for len in [0, 1, 15, 16, 17, 4094, MAX_GARBAGE_LEN] {
        let key = |k: u8| {
            let mut key = [k; 32];
            key[0] = 1;
            key
        };
        let (mut a, mut b) = pair(
            V2Secrets::from_parts(key(3), vec![0xaa; len]),
            V2Secrets::from_parts(key(4), vec![0x55; MAX_GARBAGE_LEN - len]),
        );
        a.send(&NetworkMessage::Verack);
        pump(&mut a, &mut b, 1000);
        assert_eq!(
            drain(&mut b),
            vec![Frame::Message(NetworkMessage::Verack)],
            "{len}"
        );
    }
}

#[test]
fn the_ciphers_rekey_across_thousands_of_packets() {
    // FSChaCha20Poly1305 rekeys every 224 packets; 1000 each way crosses that four times
    // on both ciphers of both sides.
    let (mut a, mut b) = pair(secrets(5), secrets(6));
    pump(&mut a, &mut b, usize::MAX);
    for i in 0..1000u64 {
        a.send(&NetworkMessage::Ping(i));
        b.send(&NetworkMessage::Pong(i));
    }
    pump(&mut a, &mut b, 4096);
    let pings: Vec<Frame> = (0..1000)
        .map(|i| Frame::Message(NetworkMessage::Ping(i)))
        .collect();
    let pongs: Vec<Frame> = (0..1000)
        .map(|i| Frame::Message(NetworkMessage::Pong(i)))
        .collect();
    assert_eq!(drain(&mut b), pings);
    assert_eq!(drain(&mut a), pongs);
}

/// The other end driven with the crate's own API (as its `io` module does): garbage, decoys
/// before its version packet, and its own packets.
struct CratePeer {
    cipher: CipherSession,
}

impl CratePeer {
    /// Completes a handshake as the responder against `ours` (an initiator session), with
    /// `garbage` and `decoys` in its handshake. Returns the peer and what it sent.
    fn respond(ours: &mut V2Session, garbage: &[u8], decoys: &[&[u8]]) -> CratePeer {
        let curve = Secp256k1::signing_only();
        let theirs = Handshake::<Initialized>::new_with_rng(
            MAGIC,
            Role::Responder,
            &mut FixedKey([9; 32]),
            &curve,
        )
        .expect("valid key");
        let mut key_out = vec![0; Handshake::<Initialized>::send_key_len(Some(garbage))];
        let theirs = theirs.send_key(Some(garbage), &mut key_out).expect("key");
        let opening = ours.take_outgoing();
        let their_key: [u8; 64] = opening[..64].try_into().expect("64 bytes");
        let theirs = theirs.receive_key(their_key).expect("ecdh");
        let mut version_out = vec![0; Handshake::<ReceivedKey>::send_version_len(Some(decoys))];
        let theirs = theirs
            .send_version(&mut version_out, Some(decoys))
            .expect("version");
        // Everything they send, one byte at a time, to exercise every replay.
        for b in key_out.iter().chain(version_out.iter()) {
            ours.receive(&[*b]);
        }
        let reply = ours.take_outgoing();
        let received: Vec<u8> = opening[64..].iter().chain(reply.iter()).copied().collect();
        let GarbageResult::FoundGarbage {
            handshake,
            consumed_bytes,
        } = theirs.receive_garbage(&received).expect("terminator")
        else {
            panic!("our terminator is missing");
        };
        let rest = received[consumed_bytes..].to_vec();
        let mut handshake = handshake;
        let len = handshake
            .decrypt_packet_len(rest[..3].try_into().expect("3 bytes"))
            .expect("length");
        let mut packet = rest[3..3 + len].to_vec();
        let VersionResult::Complete { cipher } = handshake
            .receive_version(&mut packet)
            .expect("our version packet")
        else {
            panic!("we sent no decoys");
        };
        CratePeer { cipher }
    }

    fn packet(&mut self, contents: &[u8], kind: PacketType) -> Vec<u8> {
        let mut out = vec![0; OutboundCipher::encryption_buffer_len(contents.len())];
        self.cipher
            .outbound()
            .encrypt(contents, &mut out, kind, None)
            .expect("sized buffer");
        out
    }
}

#[test]
fn a_crate_driven_peer_with_garbage_and_decoys_completes_and_its_decoys_are_dropped() {
    let mut ours = V2Session::initiator(MAGIC, secrets(7));
    ours.send(&NetworkMessage::Verack);
    let mut peer = CratePeer::respond(&mut ours, &[1, 2, 3, 4, 5], &[b"decoy one", &[0; 300]]);
    assert!(ours.is_established());
    // Decoys after the handshake, a short-ID message, a long-form one, an unassigned ID.
    let mut stream = peer.packet(b"noise", PacketType::Decoy);
    stream.extend(peer.packet(&[18, 1, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine));
    stream.extend(peer.packet(b"\0sendheaders\0", PacketType::Genuine));
    stream.extend(peer.packet(&[31], PacketType::Genuine));
    stream.extend(peer.packet(&[], PacketType::Decoy));
    ours.receive(&stream);
    assert_eq!(
        drain(&mut ours),
        vec![
            Frame::Message(NetworkMessage::Ping(1)),
            Frame::Message(NetworkMessage::SendHeaders),
            Frame::Rejected(Rejected::UnknownShortId(31)),
        ]
    );
}

#[test]
fn too_many_decoys_in_the_handshake_end_it() {
    let mut ours = V2Session::initiator(MAGIC, secrets(8));
    let decoys: Vec<&[u8]> = vec![b"d"; HANDSHAKE_PACKET_LIMIT];
    let curve = Secp256k1::signing_only();
    let theirs = Handshake::<Initialized>::new_with_rng(
        MAGIC,
        Role::Responder,
        &mut FixedKey([9; 32]),
        &curve,
    )
    .expect("valid key");
    let mut key_out = vec![0; 64];
    let theirs = theirs.send_key(None, &mut key_out).expect("key");
    let opening = ours.take_outgoing();
    let theirs = theirs
        .receive_key(opening[..64].try_into().expect("64"))
        .expect("ecdh");
    let mut version_out = vec![0; Handshake::<ReceivedKey>::send_version_len(Some(&decoys))];
    theirs
        .send_version(&mut version_out, Some(&decoys))
        .expect("version");
    ours.receive(&key_out);
    ours.receive(&version_out);
    assert_eq!(ours.next_frame(), Err(V2Error::HandshakeTooLarge));
}

#[test]
fn hostile_handshakes_end_in_typed_errors() {
    // Garbage without a terminator: 4095 bytes and the 16 that could have been it.
    let (mut a, _) = pair(secrets(10), secrets(11));
    a.take_outgoing();
    let mut hostile = vec![0x42u8; KEY_LEN];
    hostile.extend(vec![0x17u8; MAX_GARBAGE_LEN + GARBAGE_TERMINATOR_LEN - 1]);
    a.receive(&hostile);
    assert_eq!(a.next_frame(), Ok(None), "one byte short is still garbage");
    a.receive(&[0x17]);
    assert_eq!(a.next_frame(), Err(V2Error::NoGarbageTerminator));
    assert_eq!(a.buffered(), 0, "the buffer is released");

    // Altered garbage: the first packet's authenticated data no longer matches.
    let mut a = V2Session::initiator(MAGIC, secrets(12));
    let opening = a.take_outgoing();
    // The responder saw our whole key: it sent its key, 40 bytes of garbage, its terminator
    // and its version packet.
    let mut b = V2Session::responder(MAGIC, V2Secrets::from_parts([5; 32], vec![7; 40]), &opening);
    let from_b = b.take_outgoing();
    let mut altered = from_b.clone();
    altered[KEY_LEN + 3] ^= 1;
    a.receive(&altered);
    assert_eq!(a.next_frame(), Err(V2Error::HandshakeAuthentication));

    // Another network: the keys are salted with the magic, so neither side ever sees the
    // other's terminator; with the most garbage, that shows at once.
    let mut a = V2Session::initiator(MAGIC, secrets(13));
    let opening = a.take_outgoing();
    let elsewhere = V2Secrets::from_parts([6; 32], vec![1; MAX_GARBAGE_LEN]);
    let mut b = V2Session::responder([1, 2, 3, 4], elsewhere, &opening);
    pump(&mut a, &mut b, usize::MAX);
    assert_eq!(a.next_frame(), Err(V2Error::NoGarbageTerminator));
    assert_eq!(b.next_frame(), Ok(None), "left to the handshake timeout");
    assert!(!b.is_established());

    // An inbound v1 version header of another network.
    let mut header = vec![0xf9, 0xbe, 0xb4, 0xd9];
    header.extend_from_slice(b"version\0\0\0\0\0");
    let mut b = V2Session::responder(MAGIC, secrets(15), &header);
    assert_eq!(
        b.next_frame(),
        Err(V2Error::WrongNetworkV1([0xf9, 0xbe, 0xb4, 0xd9]))
    );

    // The dialled peer answers in v1.
    let mut a = V2Session::initiator(MAGIC, secrets(16));
    a.take_outgoing();
    let mut v1 = MAGIC.to_vec();
    v1.extend_from_slice(b"version\0\0\0\0\0");
    v1.extend_from_slice(&[0; 48]);
    a.receive(&v1);
    assert_eq!(a.next_frame(), Err(V2Error::V1Reply));
    assert!(
        a.should_reconnect_v1(),
        "a v1 peer that speaks first gets the v1 retry"
    );
}

#[test]
fn hostile_packets_end_in_typed_errors() {
    // A flipped bit in a packet.
    let mut ours = V2Session::initiator(MAGIC, secrets(20));
    let mut peer = CratePeer::respond(&mut ours, &[], &[]);
    let mut packet = peer.packet(&[18, 0, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine);
    packet[5] ^= 0x80;
    ours.receive(&packet);
    assert_eq!(ours.next_frame(), Err(V2Error::Authentication));
    assert_eq!(
        ours.next_frame(),
        Err(V2Error::Authentication),
        "it stays dead"
    );

    // A length over the limit is refused before its bytes arrive.
    let mut ours = V2Session::initiator(MAGIC, secrets(21));
    let mut peer = CratePeer::respond(&mut ours, &[], &[]);
    let huge = vec![0u8; MAX_CONTENTS_LEN + 1];
    let packet = peer.packet(&huge, PacketType::Decoy);
    ours.receive(&packet[..LENGTH_LEN]);
    assert_eq!(
        ours.next_frame(),
        Err(V2Error::Oversize(MAX_CONTENTS_LEN + 1))
    );

    // The largest allowed packet is taken.
    let mut ours = V2Session::initiator(MAGIC, secrets(22));
    let mut peer = CratePeer::respond(&mut ours, &[], &[]);
    let largest = vec![0u8; MAX_CONTENTS_LEN];
    ours.receive(&peer.packet(&largest, PacketType::Decoy));
    ours.receive(&peer.packet(&[19, 2, 0, 0, 0, 0, 0, 0, 0], PacketType::Genuine));
    assert_eq!(
        drain(&mut ours),
        vec![Frame::Message(NetworkMessage::Pong(2))]
    );
}

#[test]
fn a_silent_refusal_is_a_v1_peer_and_an_answer_is_not() {
    let mut a = V2Session::initiator(MAGIC, secrets(30));
    assert!(!a.should_reconnect_v1(), "nothing sent yet");
    let opening = a.take_outgoing();
    assert!(opening.len() >= KEY_LEN);
    assert!(a.should_reconnect_v1(), "sent a key, heard nothing");
    a.receive(&[1]);
    assert!(
        !a.should_reconnect_v1(),
        "it answered: a v2 peer that failed"
    );
    let mut b = V2Session::responder(MAGIC, secrets(31), &opening);
    b.take_outgoing();
    assert!(!b.should_reconnect_v1(), "only the dialling side retries");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let s = V2Secrets::from_parts([0x5a; 32], vec![0x77; 3]);
    let shown = format!("{s:?} {:?}", V2Session::initiator(MAGIC, s.clone()));
    assert!(!shown.contains("5a") && !shown.contains("90"), "{shown}");
}
