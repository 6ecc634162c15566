//! The inbound path when the process runs out of file descriptors: a connection that could not
//! be accepted then must be accepted once descriptors are free again, even if no further
//! connection arrives to raise a new readiness edge on the listener.
//!
//! Part of the driver conformance suite, run against both drivers, but in a file of its own
//! holding one test on purpose: it fills the whole process's descriptor table, which would break
//! any test running beside it. The two drivers take their turns inside that one test.

use std::fs::File;
use std::net::TcpStream as StdStream;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use headway_core::{Config, Direction, Event, HeaderChain, Network, Node, Notification, Request};

/// Long enough never to matter on a healthy machine; only a hung test hits it.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long the table stays full: time for the driver to try (and fail) to accept.
const EXHAUSTED_FOR: Duration = Duration::from_millis(500);
/// `EMFILE` on Linux and the BSDs.
const EMFILE: i32 = 24;

/// Opens `/dev/null` until the process may open no more files.
fn fill_descriptor_table() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) if e.raw_os_error() == Some(EMFILE) => return held,
            Err(e) => panic!("unexpected error while filling the descriptor table: {e}"),
        }
    }
}

fn inbound_connected(event: &Event) -> bool {
    matches!(
        event,
        Event::PeerConnected {
            direction: Direction::Inbound,
            ..
        }
    )
}

/// The scenario for one driver crate.
macro_rules! accepts_after_exhaustion {
    ($krate:ident) => {{
        let mut config = Config::new(Network::Regtest);
        config.seed = 41;
        let node = Node::new(config, HeaderChain::new(Network::Regtest.params()));
        let driver = $krate::Driver::start(
            node,
            $krate::DriverConfig {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..$krate::DriverConfig::default()
            },
        )
        .unwrap();
        let listen = driver.local_addr().unwrap();

        let mut held = fill_descriptor_table();
        // One descriptor for our side of the connection; the driver's accept finds none.
        drop(held.pop());
        let client = StdStream::connect(listen).unwrap();
        match driver.notifications().recv_timeout(EXHAUSTED_FOR) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("nothing can be accepted without a descriptor, got {other:?}"),
        }
        drop(held);

        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match driver.notifications().recv_timeout(left) {
                Ok(Notification::Event(event)) if inbound_connected(&event) => break,
                Ok(_) => {}
                Err(e) => panic!("the waiting connection was never accepted: {e}"),
            }
        }
        driver.handle().request(Request::Shutdown);
        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match driver.notifications().recv_timeout(left) {
                Ok(Notification::Event(Event::ShutdownComplete)) => break,
                Ok(_) => {}
                Err(e) => panic!("no shutdown: {e}"),
            }
        }
        driver.join();
        drop(client);
    }};
}

#[test]
fn a_connection_left_unaccepted_for_lack_of_descriptors_is_accepted_once_they_are_free() {
    accepts_after_exhaustion!(headway_driver_mio);
    accepts_after_exhaustion!(headway_driver_async_std);
}
