//! The socket thread on its own, against plain std sockets on 127.0.0.1, with the test acting
//! as the core thread.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};

use super::*;

/// Long enough never to matter on a healthy machine; only a hung test hits it.
const PATIENCE: Duration = Duration::from_secs(20);

/// A socket thread with the test in the core's seat.
struct Harness {
    link: Option<SocketLink>,
    inputs: Receiver<CoreMessage>,
    listen_addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Harness {
    fn start(config: DriverConfig) -> Harness {
        Harness::with_backlog_limit(config, usize::MAX)
    }

    fn with_backlog_limit(config: DriverConfig, limit: usize) -> Harness {
        let backlog = Arc::new(CoreBacklog::new(limit));
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        let listen_addr = listener.local_addr().unwrap();
        let (to_core, inputs) = mpsc::channel();
        let (commands_tx, commands) = mpsc::channel();
        let socket_loop = SocketLoop::new(
            poll,
            waker.clone(),
            Some(listener),
            commands,
            to_core,
            Arc::clone(&backlog),
            &config,
        );
        let thread = thread::spawn(move || socket_loop.run());
        Harness {
            link: Some(SocketLink::new(commands_tx, waker, backlog)),
            inputs,
            listen_addr,
            thread: Some(thread),
        }
    }

    fn command(&mut self, command: SocketCommand) {
        let link = self.link.as_mut().unwrap();
        assert_eq!(link.queue(command), None, "the socket thread is running");
        link.wake();
    }

    fn next_input(&self) -> Input {
        match self.inputs.recv_timeout(PATIENCE) {
            Ok(CoreMessage::Input(input)) => input,
            other => panic!("expected an input, got {other:?}"),
        }
    }

    /// Collects `Received` bytes of `peer` until `len` bytes arrived.
    fn receive_exactly(&self, peer: PeerId, len: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < len {
            match self.next_input() {
                Input::Received { peer: from, bytes } if from == peer => got.extend(bytes),
                other => panic!("expected bytes from {peer}, got {other:?}"),
            }
        }
        assert_eq!(got.len(), len, "no more bytes than were sent");
        got
    }

    /// Collects `Received` bytes of `peer` until at least `len` bytes arrived.
    fn receive_at_least(&self, peer: PeerId, len: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < len {
            match self.inputs.recv_timeout(PATIENCE) {
                Ok(CoreMessage::Input(Input::Received { peer: from, bytes })) if from == peer => {
                    got.extend(bytes)
                }
                Ok(other) => panic!("expected bytes from {peer}, got {other:?}"),
                Err(e) => panic!("no bytes from {peer}: {e}"),
            }
        }
        got
    }

    fn probe(&mut self, peer: PeerId) -> Option<ConnectionProbe> {
        let (reply, answer) = mpsc::channel();
        self.command(SocketCommand::Probe { peer, reply });
        answer.recv_timeout(PATIENCE).unwrap()
    }

    /// Stops the thread the way the core thread does: by dropping the link.
    fn stop(mut self) {
        drop(self.link.take());
        self.thread.take().unwrap().join().unwrap();
    }
}

fn accept_inbound(harness: &Harness) -> (StdStream, PeerId) {
    let client = StdStream::connect(harness.listen_addr).unwrap();
    match harness.next_input() {
        Input::Connected {
            peer,
            addr,
            local_addr: Some(_),
            direction: Direction::Inbound,
        } => {
            assert_eq!(
                addr,
                client.local_addr().unwrap(),
                "the core learns the remote address"
            );
            (client, peer)
        }
        other => panic!("expected an inbound connection, got {other:?}"),
    }
}

#[test]
fn inbound_bytes_flow_both_ways_and_eof_is_a_clean_disconnect() {
    let mut harness = Harness::start(DriverConfig {
        read_chunk: 7,
        ..DriverConfig::default()
    });
    let (mut client, peer) = accept_inbound(&harness);

    let message: Vec<u8> = (0..100u8).collect();
    client.write_all(&message).unwrap();
    assert_eq!(
        harness.receive_exactly(peer, message.len()),
        message,
        "bytes arrive in order"
    );

    harness.command(SocketCommand::Send {
        peer,
        bytes: b"first ".to_vec(),
    });
    harness.command(SocketCommand::Send {
        peer,
        bytes: b"second".to_vec(),
    });
    let mut reply = [0u8; 12];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"first second");

    client.shutdown(Shutdown::Both).unwrap();
    assert_eq!(
        harness.next_input(),
        Input::Disconnected { peer, error: None }
    );
    harness.stop();
}

#[test]
fn a_peer_by_name_fails_at_once_without_a_proxy() {
    // Only a proxy can resolve a name for us; dialling the stand-in address would reach
    // nothing (or worse, something), and resolving here would leak the name.
    let mut harness = Harness::start(DriverConfig::default());
    let addr: SocketAddr = "[fd68:7761:6d65::1]:8333".parse().unwrap();
    harness.command(SocketCommand::Connect {
        addr,
        host: Some("example.onion".into()),
    });
    match harness.next_input() {
        Input::ConnectFailed { addr: got, error } => {
            assert_eq!(got, addr);
            assert!(
                error.contains("example.onion can only be reached through a proxy"),
                "{error}"
            );
        }
        other => panic!("expected a failed dial, got {other:?}"),
    }
    harness.stop();
}

#[test]
fn outbound_dial_connects_and_core_disconnect_closes_the_socket() {
    let remote = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = remote.local_addr().unwrap();
    let mut harness = Harness::start(DriverConfig::default());
    harness.command(SocketCommand::Connect { addr, host: None });
    let (mut server_side, _) = remote.accept().unwrap();
    let peer = match harness.next_input() {
        Input::Connected {
            peer,
            addr: got,
            local_addr: Some(_),
            direction: Direction::Outbound,
        } => {
            assert_eq!(got, addr);
            peer
        }
        other => panic!("expected an outbound connection, got {other:?}"),
    };

    harness.command(SocketCommand::Send {
        peer,
        bytes: b"bye".to_vec(),
    });
    harness.command(SocketCommand::Disconnect {
        peer,
        reason: DisconnectReason::Requested,
    });
    assert_eq!(
        harness.next_input(),
        Input::Disconnected { peer, error: None }
    );
    let mut rest = Vec::new();
    server_side.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, b"bye",
        "bytes queued before the disconnect still leave, then EOF"
    );

    // A second disconnect of the same peer is not reported twice.
    harness.command(SocketCommand::Disconnect {
        peer,
        reason: DisconnectReason::Requested,
    });
    harness.command(SocketCommand::Connect { addr, host: None });
    let (_again, _) = remote.accept().unwrap();
    match harness.next_input() {
        Input::Connected { peer: second, .. } => assert_ne!(second, peer, "ids are never reused"),
        other => panic!("expected the second connection, got {other:?}"),
    }
    harness.stop();
}

#[test]
fn dial_to_a_closed_port_fails() {
    let mut harness = Harness::start(DriverConfig::default());
    let addr = {
        let probe = StdListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    }; // closed again: nothing listens there now
    harness.command(SocketCommand::Connect { addr, host: None });
    match harness.next_input() {
        Input::ConnectFailed { addr: got, error } => {
            assert_eq!(got, addr);
            assert!(
                !error.is_empty(),
                "the operating system's reason is passed on"
            );
        }
        other => panic!("expected a failed dial, got {other:?}"),
    }
    harness.stop();
}

#[test]
fn an_endless_connect_timeout_is_not_an_overflow() {
    let mut harness = Harness::start(DriverConfig {
        connect_timeout: Duration::MAX,
        ..DriverConfig::default()
    });
    let target = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = target.local_addr().unwrap();
    harness.command(SocketCommand::Connect { addr, host: None });
    match harness.next_input() {
        Input::Connected {
            addr: got,
            direction: Direction::Outbound,
            ..
        } => assert_eq!(got, addr),
        other => panic!("expected the dial to complete, got {other:?}"),
    }
    harness.stop();
}

#[test]
fn a_peer_that_does_not_read_is_not_read_until_it_drains() {
    const CAP: usize = 64 * 1024;
    let mut harness = Harness::start(DriverConfig {
        send_buffer_cap: CAP,
        ..DriverConfig::default()
    });
    let (mut client, peer) = accept_inbound(&harness);

    // Far more than loopback socket buffers hold, so most of it stays with us.
    let chunk = vec![0xab_u8; 256 * 1024];
    let total = 64 * chunk.len();
    for _ in 0..64 {
        harness.command(SocketCommand::Send {
            peer,
            bytes: chunk.clone(),
        });
    }
    let probe = harness.probe(peer).unwrap();
    assert!(
        probe.reading_paused,
        "over the cap, reading stops: {probe:?}"
    );
    assert!(probe.queued > CAP, "{probe:?}");

    // The peer talks while we are not reading it; once it drains our queue, we must pick up
    // what it said even though that readable edge came while we were not listening for it.
    client.write_all(b"still here").unwrap();
    let mut sink = vec![0u8; total];
    client.read_exact(&mut sink).unwrap();
    assert!(sink.iter().all(|b| *b == 0xab));
    assert_eq!(harness.receive_exactly(peer, 10), b"still here");
    let probe = harness.probe(peer).unwrap();
    assert_eq!(
        probe,
        ConnectionProbe {
            queued: 0,
            reading_paused: false,
            read_deferred: false,
        }
    );
    harness.stop();
}

#[test]
fn stopping_closes_every_connection() {
    let harness = Harness::start(DriverConfig::default());
    let (mut client, _peer) = accept_inbound(&harness);
    harness.stop();
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).unwrap(),
        0,
        "the socket closed with the thread"
    );
}

#[test]
fn reading_waits_while_the_core_is_behind_and_resumes_when_it_catches_up() {
    const LIMIT: usize = 1000;
    let config = DriverConfig {
        read_chunk: 100,
        ..DriverConfig::default()
    };
    let mut harness = Harness::with_backlog_limit(config, LIMIT);
    let (mut client, peer) = accept_inbound(&harness);
    let message: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    client.write_all(&message).unwrap();

    let mut got = Vec::new();
    while got.len() < message.len() {
        // The core (this test) has handled nothing yet: reading stops at the limit, and no
        // readiness event will come for the rest, which is already in the socket.
        let batch = harness.receive_at_least(peer, LIMIT.min(message.len() - got.len()));
        assert!(
            batch.len() < LIMIT + 100,
            "at most one chunk beyond the limit: {}",
            batch.len()
        );
        if got.len() + batch.len() < message.len() {
            let probe = harness.probe(peer).unwrap();
            assert!(probe.read_deferred, "{probe:?}");
        }
        got.extend_from_slice(&batch);
        // Handling what arrived makes room; the link wakes the socket thread.
        let link = harness.link.as_mut().unwrap();
        link.handled(batch.len());
        link.wake();
    }
    assert_eq!(got, message, "every byte arrives once, in order");
    let probe = harness.probe(peer).unwrap();
    assert!(!probe.read_deferred, "{probe:?}");
    harness.stop();
}

#[test]
fn through_a_proxy_the_core_hears_of_the_peer_only_once_the_tunnel_is_open() {
    let proxy = StdListener::bind("127.0.0.1:0").unwrap();
    let target: SocketAddr = "192.0.2.1:8333".parse().unwrap(); // never dialled itself
    let mut harness = Harness::start(DriverConfig {
        proxy: Some(proxy.local_addr().unwrap()),
        ..DriverConfig::default()
    });
    harness.command(SocketCommand::Connect {
        addr: target,
        host: None,
    });
    let (mut proxy_side, _) = proxy.accept().unwrap();
    proxy_side.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut greeting = [0u8; 3];
    proxy_side.read_exact(&mut greeting).unwrap();
    assert_eq!(greeting, [0x05, 0x01, 0x00]);

    // A send for the id the connection will get, before the core could know it: dropped, and
    // nothing of it reaches the proxy. The probe returns once the send has been handled.
    let peer = PeerId(1);
    harness.command(SocketCommand::Send {
        peer,
        bytes: b"early".to_vec(),
    });
    assert_eq!(harness.probe(peer).map(|p| p.queued), Some(0));

    proxy_side.write_all(&[0x05, 0x00]).unwrap();
    let mut request = [0u8; 10];
    proxy_side.read_exact(&mut request).unwrap();
    let [hi, lo] = 8333u16.to_be_bytes();
    assert_eq!(request, [0x05, 0x01, 0x00, 0x01, 192, 0, 2, 1, hi, lo]);
    // The reply and the peer's first bytes in one write: Connected, then exactly those bytes.
    proxy_side
        .write_all(&[
            0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, b'f', b'i', b'r', b's', b't',
        ])
        .unwrap();
    match harness.next_input() {
        Input::Connected {
            peer: got,
            addr,
            local_addr: Some(_),
            direction: Direction::Outbound,
        } => assert_eq!(
            (got, addr),
            (peer, target),
            "the peer's address, not the proxy's"
        ),
        other => panic!("expected the tunnelled connection, got {other:?}"),
    }
    assert_eq!(
        harness.next_input(),
        Input::Received {
            peer,
            bytes: b"first".to_vec()
        }
    );
    proxy_side.write_all(b"later").unwrap();
    assert_eq!(harness.receive_exactly(peer, 5), b"later");

    // From now on the connection is the peer's, both ways; "early" never went out.
    harness.command(SocketCommand::Send {
        peer,
        bytes: b"after".to_vec(),
    });
    let mut sent = [0u8; 5];
    proxy_side.read_exact(&mut sent).unwrap();
    assert_eq!(&sent, b"after");
    harness.stop();
}
