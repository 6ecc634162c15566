//! Property: whatever a proxy sends, in whatever pieces, the handshake never panics, never holds
//! more than one reply's worth of bytes (RFC 1928 §6: 4 + 1 + 255 + 2), reaches the same outcome
//! however the bytes are cut, and, when it connects, hands on exactly the bytes after the reply.

use headway_socks5::rfc1928::{MAX_REPLY_LEN, METHOD_REPLY_LEN};
use headway_socks5::{BoundAddr, Progress, Socks5Connect, Socks5Error, Target};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

/// A proxy's answers: what it sends before our request goes out (its two-byte method reply, or
/// that with bytes glued on), then a "reply" and whatever follows it, each cut into reads. The
/// turn between them is not a cut: the reply can only come after the request.
#[derive(Debug, Clone)]
struct Answers {
    method: Vec<u8>,
    reply: Vec<u8>,
    cuts: Vec<usize>,
}

fn bytes(g: &mut Gen, max: usize) -> Vec<u8> {
    let len = usize::arbitrary(g) % (max + 1);
    (0..len).map(|_| u8::arbitrary(g)).collect()
}

impl Arbitrary for Answers {
    fn arbitrary(g: &mut Gen) -> Self {
        // Mostly a well-formed start, so that the reply's parser is reached and then given
        // plausible and implausible headers, lengths and tails; sometimes pure noise.
        let method = match u8::arbitrary(g) % 8 {
            0 => vec![u8::arbitrary(g), u8::arbitrary(g)],
            1 => vec![0x05, u8::arbitrary(g)],
            2 => vec![0x05, 0x00, u8::arbitrary(g)],
            _ => vec![0x05, 0x00],
        };
        let mut reply = Vec::new();
        match u8::arbitrary(g) % 6 {
            0 => {}
            1 => reply.push(*g.choose(&[0x04, 0x05, 0x00, b'H']).unwrap()),
            _ => {
                reply.push(0x05);
                reply.push(*g.choose(&[0x00, 0x00, 0x00, 0x01, 0x05, 0xf0]).unwrap());
                reply.push(*g.choose(&[0x00, 0x00, 0x00, 0x01]).unwrap());
                reply.push(*g.choose(&[0x01, 0x03, 0x03, 0x04, 0x02]).unwrap());
            }
        }
        reply.extend(bytes(g, 600));
        let cuts = (0..usize::arbitrary(g) % 8)
            .map(|_| usize::arbitrary(g) % 40)
            .collect();
        Answers {
            method,
            reply,
            cuts,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let me = self.clone();
        Box::new(self.reply.shrink().map(move |reply| Answers {
            reply,
            ..me.clone()
        }))
    }
}

type Outcome = Result<Option<(BoundAddr, Vec<u8>)>, Socks5Error>;

/// Feeds the answers as a driver does, checking the buffer bound after every call; stops at
/// the first error, and after `Connected` treats the rest as the tunnelled stream.
fn drive(answers: &Answers, cut: bool) -> Result<Outcome, String> {
    let mut hs = Socks5Connect::new(Target::domain("seed.example", 8333).unwrap());
    let mut reads: Vec<&[u8]> = Vec::new();
    let mut rest: &[u8] = &answers.method;
    for &c in answers.cuts.iter().filter(|_| cut) {
        let (a, b) = rest.split_at(c.min(rest.len()));
        reads.push(a);
        rest = b;
    }
    reads.push(rest);
    let mut rest: &[u8] = &answers.reply;
    for &c in answers.cuts.iter().rev().filter(|_| cut) {
        let (a, b) = rest.split_at(c.min(rest.len()));
        reads.push(a);
        rest = b;
    }
    reads.push(rest);

    while hs.poll_transmit().is_some() {}
    let mut connected: Option<(BoundAddr, Vec<u8>)> = None;
    for read in reads {
        if let Some((_, stream)) = &mut connected {
            stream.extend_from_slice(read);
            continue;
        }
        let step = hs.received(read);
        if hs.buffered() > MAX_REPLY_LEN {
            return Err(format!("buffered {} bytes", hs.buffered()));
        }
        match step {
            Ok(Progress::NeedMore) => {}
            Ok(Progress::Connected { bound, leftover }) => connected = Some((bound, leftover)),
            Err(e) => return Ok(Err(e)),
        }
        while hs.poll_transmit().is_some() {}
    }
    Ok(Ok(connected))
}

fn prop_answers(answers: Answers) -> TestResult {
    let whole = match drive(&answers, false) {
        Ok(outcome) => outcome,
        Err(e) => return TestResult::error(e),
    };
    let split = match drive(&answers, true) {
        Ok(outcome) => outcome,
        Err(e) => return TestResult::error(e),
    };
    // A method reply with more glued on is refused when it arrives in one read; cut after the
    // method, the rest arrives once the request is out and is rightly read as the reply. So
    // only there may the cuts change the outcome.
    let glued = answers.method.len() > METHOD_REPLY_LEN
        && answers.method[..METHOD_REPLY_LEN] == [0x05, 0x00];
    if glued {
        if whole != Err(Socks5Error::UnsolicitedBytes) {
            return TestResult::error("bytes after the method reply were not refused");
        }
        return TestResult::passed();
    }
    if whole != split {
        return TestResult::error(format!("whole {whole:?} but split {split:?}"));
    }
    if let Ok(Some((_, stream))) = &whole {
        // Connected only on a well-formed method reply, and the reply is what the stream lacks.
        if answers.method != [0x05, 0x00] {
            return TestResult::error("connected after a bad method reply");
        }
        let reply_len = answers.reply.len() - stream.len();
        if reply_len > MAX_REPLY_LEN || !answers.reply.ends_with(stream) {
            return TestResult::error(format!("reply of {reply_len} bytes"));
        }
    }
    TestResult::passed()
}

#[test]
fn arbitrary_answers_never_panic_never_overbuffer_and_ignore_cuts() {
    for seed in [1, 2, 3, 0x50c5] {
        QuickCheck::new()
            .rng(Gen::from_size_and_seed(64, seed))
            .tests(2000)
            .quickcheck(prop_answers as fn(Answers) -> TestResult);
    }
}

#[test]
fn pure_noise_from_the_first_byte_never_panics() {
    let mut g = Gen::from_size_and_seed(300, 0x5eed);
    for _ in 0..5000 {
        let noise = bytes(&mut g, 400);
        let mut hs = Socks5Connect::new(Target::Addr("127.0.0.1:1".parse().unwrap()));
        while hs.poll_transmit().is_some() {}
        for read in noise.chunks(1 + usize::arbitrary(&mut g) % 7) {
            let _ = hs.received(read);
            assert!(hs.buffered() <= MAX_REPLY_LEN);
            while hs.poll_transmit().is_some() {}
        }
    }
}

#[test]
fn the_generator_reaches_success_and_every_kind_of_failure() {
    // Guards the property against a generator that silently stopped reaching the parser.
    let mut g = Gen::from_size_and_seed(64, 9);
    let (mut connected, mut refused, mut malformed, mut leftover, mut glued) = (0, 0, 0, 0, 0);
    for _ in 0..3000 {
        match drive(&Answers::arbitrary(&mut g), true).unwrap() {
            Ok(Some((_, stream))) => {
                connected += 1;
                leftover += usize::from(!stream.is_empty());
            }
            Err(Socks5Error::ConnectionRefused) => refused += 1,
            Err(Socks5Error::BadReserved(_) | Socks5Error::UnknownAddressType(_)) => malformed += 1,
            Err(Socks5Error::UnsolicitedBytes) => glued += 1,
            _ => {}
        }
    }
    assert!(
        connected > 100 && leftover > 50 && refused > 50 && malformed > 50 && glued > 20,
        "connected {connected}, with leftover {leftover}, refused {refused}, \
         malformed {malformed}, glued {glued}"
    );
}
