//! The two faults that break a stream (wrong magic, an oversized length) end in their own
//! `WireError` and the decoder stays dead afterwards. The faults that spoil one frame only (a
//! bad checksum, a malformed command, an undecodable payload) come back as `Frame::Rejected`
//! and the stream flows on, as in Bitcoin Core's v1 transport. Well-formed streams (several
//! frames per chunk, unknown commands) flow on.

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::p2p::message::{CommandString, NetworkMessage};
use bitcoin::p2p::Magic;
use headway_core::wire::{
    encode, Frame, FrameDecoder, Rejected, WireError, FRAME_HEADER_LEN, MAX_MESSAGE_LENGTH,
};

const MAGIC: Magic = Magic::REGTEST;

/// A frame built by hand: any command bytes, any declared length, any checksum.
fn raw_frame(command: &[u8; 12], declared_len: u32, checksum: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut frame = MAGIC.to_bytes().to_vec();
    frame.extend_from_slice(command);
    frame.extend_from_slice(&declared_len.to_le_bytes());
    frame.extend_from_slice(&checksum);
    frame.extend_from_slice(payload);
    frame
}

/// The correct checksum of `payload`, computed independently of the decoder.
fn checksum(payload: &[u8]) -> [u8; 4] {
    let hash = sha256d::Hash::hash(payload).to_byte_array();
    [hash[0], hash[1], hash[2], hash[3]]
}

fn valid_frame(command: &[u8; 12], payload: &[u8]) -> Vec<u8> {
    raw_frame(command, payload.len() as u32, checksum(payload), payload)
}

fn decode_all(decoder: &mut FrameDecoder) -> Result<Vec<NetworkMessage>, WireError> {
    let mut out = Vec::new();
    while let Some(msg) = decoder.next_message()? {
        out.push(msg);
    }
    Ok(out)
}

/// Checks that the frame just taken was rejected for `why` and that the stream goes on: a
/// valid frame after it decodes.
fn assert_rejected_then_flows(decoder: &mut FrameDecoder, why: Rejected) {
    assert_eq!(decoder.next_frame(), Ok(Some(Frame::Rejected(why))));
    assert_eq!(decoder.next_frame(), Ok(None));
    decoder.extend(&encode(MAGIC, NetworkMessage::Ping(9)));
    assert_eq!(
        decoder.next_frame(),
        Ok(Some(Frame::Message(NetworkMessage::Ping(9))))
    );
    assert_eq!(decoder.error(), None);
}

/// Checks that the decoder is dead: the same error again, even after valid bytes arrive.
fn assert_stays_failed(decoder: &mut FrameDecoder, error: &WireError) {
    decoder.extend(&encode(MAGIC, NetworkMessage::Verack));
    assert_eq!(decoder.next_message().as_ref(), Err(error));
    assert_eq!(decoder.error(), Some(error));
    assert_eq!(decoder.buffered(), 0, "a dead stream holds no bytes");
}

#[test]
fn wrong_magic_is_bad_magic() {
    let mut frame = encode(Magic::BITCOIN, NetworkMessage::Verack);
    frame.extend_from_slice(&encode(MAGIC, NetworkMessage::Verack));
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&frame);
    let error = decoder.next_message().unwrap_err();
    assert_eq!(error, WireError::BadMagic([0xf9, 0xbe, 0xb4, 0xd9]));
    assert_stays_failed(&mut decoder, &error);
}

#[test]
fn oversize_length_fails_from_the_header_alone_and_buffers_nothing() {
    let declared = MAX_MESSAGE_LENGTH as u32 + 1;
    let header = raw_frame(b"headers\0\0\0\0\0", declared, [0; 4], &[]);
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&header);
    // Only the 24 header bytes are there: the error cannot wait for the payload.
    let error = decoder.next_message().unwrap_err();
    assert_eq!(error, WireError::Oversize(declared));
    // The peer keeps sending its 4 MB; none of it is kept.
    for _ in 0..100 {
        decoder.extend(&[0u8; 40_000]);
        assert_eq!(decoder.buffered(), 0);
    }
    assert_stays_failed(&mut decoder, &error);

    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&raw_frame(
        b"ping\0\0\0\0\0\0\0\0",
        u32::MAX,
        [0; 4],
        &[1, 2, 3],
    ));
    assert_eq!(decoder.next_message(), Err(WireError::Oversize(u32::MAX)));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn length_at_the_limit_is_waited_for_not_refused() {
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&raw_frame(
        b"block\0\0\0\0\0\0\0",
        MAX_MESSAGE_LENGTH as u32,
        [0; 4],
        &[],
    ));
    assert_eq!(decoder.next_message(), Ok(None));
    assert_eq!(
        decoder.buffered(),
        FRAME_HEADER_LEN,
        "no room reserved for the promised payload"
    );
}

#[test]
fn checksum_mismatch_drops_the_frame_and_the_stream_goes_on() {
    let payload = 42u64.to_le_bytes();
    let mut wrong = checksum(&payload);
    wrong[0] ^= 1;
    let frame = raw_frame(b"ping\0\0\0\0\0\0\0\0", 8, wrong, &payload);
    let mut decoder = FrameDecoder::new(MAGIC);
    // Not an error until the payload is complete.
    decoder.extend(&frame[..frame.len() - 1]);
    assert_eq!(decoder.next_frame(), Ok(None));
    decoder.extend(&frame[frame.len() - 1..]);
    assert_rejected_then_flows(&mut decoder, Rejected::BadChecksum("ping".to_string()));
    // `next_message` skips rejected frames.
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&frame);
    decoder.extend(&encode(MAGIC, NetworkMessage::Pong(3)));
    assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Pong(3))));
}

#[test]
fn malformed_commands_drop_the_frame_and_the_stream_goes_on() {
    let cases: [&[u8; 12]; 4] = [
        b"ping\0x\0\0\0\0\0\0",     // text after the padding
        b"pi\x01g\0\0\0\0\0\0\0\0", // control character
        b"ping\x80\0\0\0\0\0\0\0",  // not ASCII
        b"\0ping\0\0\0\0\0\0\0",    // padding first
    ];
    for command in cases {
        let mut decoder = FrameDecoder::new(MAGIC);
        decoder.extend(&valid_frame(command, &[1, 2, 3]));
        assert_rejected_then_flows(&mut decoder, Rejected::BadCommand);
    }
}

#[test]
fn undecodable_payload_drops_the_frame_and_the_stream_goes_on() {
    // A ping needs 8 bytes; a headers count that promises more than is there; trailing bytes.
    let cases: [(&[u8; 12], &[u8], &str); 3] = [
        (b"ping\0\0\0\0\0\0\0\0", &[1, 2, 3], "ping"),
        (b"headers\0\0\0\0\0", &[0x02, 0, 0], "headers"),
        (b"verack\0\0\0\0\0\0", &[0], "verack"),
    ];
    for (command, payload, name) in cases {
        let mut decoder = FrameDecoder::new(MAGIC);
        decoder.extend(&valid_frame(command, payload));
        match decoder.next_frame() {
            Ok(Some(Frame::Rejected(Rejected::Decode { command, .. }))) => {
                assert_eq!(command, name)
            }
            other => panic!("{name}: expected a Decode rejection, got {other:?}"),
        }
        decoder.extend(&encode(MAGIC, NetworkMessage::Ping(9)));
        assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Ping(9))));
    }
}

#[test]
fn frames_before_an_error_are_delivered() {
    let mut stream = encode(MAGIC, NetworkMessage::Ping(1));
    stream.extend_from_slice(&encode(MAGIC, NetworkMessage::Pong(1)));
    stream.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    stream.extend_from_slice(&[0; 20]);
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&stream);
    assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Ping(1))));
    assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Pong(1))));
    assert_eq!(
        decoder.next_message(),
        Err(WireError::BadMagic([0xde, 0xad, 0xbe, 0xef]))
    );
}

#[test]
fn several_frames_in_one_chunk_all_decode() {
    let messages = vec![
        NetworkMessage::Verack,
        NetworkMessage::Ping(7),
        NetworkMessage::SendHeaders,
        NetworkMessage::Pong(7),
        NetworkMessage::Headers(Vec::new()),
        NetworkMessage::GetAddr,
    ];
    let stream: Vec<u8> = messages
        .iter()
        .flat_map(|m| encode(MAGIC, m.clone()))
        .collect();
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&stream);
    assert_eq!(decode_all(&mut decoder), Ok(messages));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn unknown_commands_come_through_and_the_stream_continues() {
    let mut stream = valid_frame(b"xyzzy\0\0\0\0\0\0\0", b"opaque payload");
    stream.extend_from_slice(&encode(MAGIC, NetworkMessage::Ping(9)));
    // Twelve characters, no padding at all.
    stream.extend_from_slice(&valid_frame(b"abcdefghijkl", &[]));
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&stream);
    let unknown = |name: &str, payload: &[u8]| NetworkMessage::Unknown {
        command: CommandString::try_from(name.to_string()).expect("valid command"),
        payload: payload.to_vec(),
    };
    assert_eq!(
        decode_all(&mut decoder),
        Ok(vec![
            unknown("xyzzy", b"opaque payload"),
            NetworkMessage::Ping(9),
            unknown("abcdefghijkl", &[]),
        ])
    );
}

#[test]
fn a_partial_frame_waits_without_error() {
    let frame = encode(MAGIC, NetworkMessage::Ping(5));
    let mut decoder = FrameDecoder::new(MAGIC);
    for (i, byte) in frame.iter().enumerate() {
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered(), i);
        decoder.extend(&[*byte]);
    }
    assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Ping(5))));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn a_lenient_bool_reencodes_to_a_consistent_frame() {
    // A version whose relay byte is 2: decoded as `true`, re-encoded as 1 with a new checksum.
    let msg = bitcoin::p2p::message_network::VersionMessage {
        relay: true,
        ..bitcoin::p2p::message_network::VersionMessage::new(
            bitcoin::p2p::ServiceFlags::NONE,
            0,
            bitcoin::p2p::Address::new(
                &([127, 0, 0, 1], 1).into(),
                bitcoin::p2p::ServiceFlags::NONE,
            ),
            bitcoin::p2p::Address::new(
                &([127, 0, 0, 1], 2).into(),
                bitcoin::p2p::ServiceFlags::NONE,
            ),
            3,
            "/t/".to_string(),
            0,
        )
    };
    let good = encode(MAGIC, NetworkMessage::Version(msg.clone()));
    let mut payload = good[FRAME_HEADER_LEN..].to_vec();
    *payload.last_mut().expect("relay byte") = 2;
    let mut decoder = FrameDecoder::new(MAGIC);
    decoder.extend(&valid_frame(b"version\0\0\0\0\0", &payload));
    let decoded = decoder
        .next_message()
        .expect("lenient bool decodes")
        .expect("whole frame");
    assert_eq!(decoded, NetworkMessage::Version(msg));
    assert_eq!(encode(MAGIC, decoded), good);
}
