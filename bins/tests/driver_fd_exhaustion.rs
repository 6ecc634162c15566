//! The inbound path when the process runs out of file descriptors: a connection that could not
//! be accepted then must be accepted once descriptors are free again, even if no further
//! connection arrives to raise a new readiness edge on the listener.
//!
//! Part of the driver conformance suite, run against both drivers, but in a file of its own
//! holding one test on purpose: it lowers the process's descriptor limit and fills the whole
//! descriptor table, which would break any test running beside it (the test harness runs the
//! tests of one file in threads of one process). The two drivers take their turns inside that
//! one test.

use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream as StdStream;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headway_core::{Config, Direction, Event, HeaderChain, Network, Node, Notification, Request};

/// Long enough never to matter on a healthy machine; only a hung test hits it.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long the table stays full: time for the driver to try (and fail) to accept.
const EXHAUSTED_FOR: Duration = Duration::from_millis(500);
/// The soft descriptor limit the test runs under (or the current one, if lower): small, so
/// that filling the table takes a few hundred descriptors whatever the machine allows, and
/// the process runs out long before the system does.
const SOFT_LIMIT: libc::rlim_t = 256;

/// The process's descriptor limit lowered for the life of the value, restored on drop (also
/// when the test fails).
struct LoweredLimit {
    saved: libc::rlimit,
    soft: libc::rlim_t,
}

/// The process's descriptor limit as (soft, hard).
fn descriptor_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into memory we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    limit
}

impl LoweredLimit {
    fn to(soft: libc::rlim_t) -> LoweredLimit {
        let saved = descriptor_limit();
        let soft = soft.min(saved.rlim_cur);
        let lowered = libc::rlimit {
            rlim_cur: soft,
            rlim_max: saved.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` we own; only the soft limit goes down.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) };
        assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
        LoweredLimit { saved, soft }
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        // SAFETY: as above; the hard limit never went down, so raising the soft one is allowed.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.saved) };
        if rc != 0 && !std::thread::panicking() {
            panic!(
                "cannot restore the descriptor limit: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// Opens `/dev/null` until the process may open no more files; returns the files and the
/// error that ended the fill: `EMFILE` (our limit), or `ENFILE` (the system's table is full,
/// which exhausts us all the same). Opening more than `limit` files means the limit does not
/// hold, and fails the test rather than filling an unbounded table.
fn fill_descriptor_table(limit: libc::rlim_t) -> (Vec<File>, i32) {
    let limit = usize::try_from(limit).expect("a small limit");
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => {
                held.push(file);
                assert!(
                    held.len() <= limit,
                    "opened {} files under a soft limit of {limit}: the limit does not hold",
                    held.len()
                );
            }
            Err(e) => match e.raw_os_error() {
                Some(errno @ (libc::EMFILE | libc::ENFILE)) => return (held, errno),
                _ => panic!("unexpected error while filling the descriptor table: {e}"),
            },
        }
    }
}

/// Panics unless opening a file fails now with `errno`: the table is still full.
fn assert_table_full(errno: i32, when: &str) {
    match File::open("/dev/null") {
        Ok(_) => panic!("{when}: a descriptor was free, so nothing was exhausted"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(errno), "{when}: {e}"),
    }
}

/// What the drivers log, kept in memory: writing it needs no descriptor, even with the table
/// full.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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
    ($krate:ident, $limit:expr, $log:expr) => {{
        let limit: &LoweredLimit = $limit;
        let log: &CapturedLog = $log;
        let name = stringify!($krate);
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
        log.take();

        let (mut held, errno) = fill_descriptor_table(limit.soft);
        if errno == libc::ENFILE {
            eprintln!(
                "{name}: the system's file table filled before our limit; exhausted all the same"
            );
        }
        // One descriptor for our side of the connection; the driver's accept finds none.
        drop(held.pop());
        let client = StdStream::connect(listen).unwrap();
        assert_table_full(errno, &format!("{name}, once connected"));
        match driver.notifications().recv_timeout(EXHAUSTED_FOR) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("{name}: nothing can be accepted without a descriptor, got {other:?}"),
        }
        assert_table_full(errno, &format!("{name}, after the wait"));
        // The driver did try, and was refused for lack of a descriptor.
        let refused = log.take();
        let os_error = format!("(os error {errno})");
        assert!(
            refused
                .lines()
                .any(|l| l.contains("accept failed") && l.contains(&os_error)),
            "{name} logged no accept failing with {os_error} while the table was full:\n{refused}"
        );
        drop(held);

        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match driver.notifications().recv_timeout(left) {
                Ok(Notification::Event(event)) if inbound_connected(&event) => break,
                Ok(_) => {}
                Err(e) => panic!("{name}: the waiting connection was never accepted: {e}"),
            }
        }
        driver.handle().request(Request::Shutdown);
        let give_up = Instant::now() + PATIENCE;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match driver.notifications().recv_timeout(left) {
                Ok(Notification::Event(Event::ShutdownComplete)) => break,
                Ok(_) => {}
                Err(e) => panic!("{name}: no shutdown: {e}"),
            }
        }
        driver.join();
        drop(client);
    }};
}

#[test]
fn a_connection_left_unaccepted_for_lack_of_descriptors_is_accepted_once_they_are_free() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let before = descriptor_limit();
    let limit = LoweredLimit::to(SOFT_LIMIT);
    assert_eq!(descriptor_limit().rlim_cur, limit.soft);
    accepts_after_exhaustion!(headway_driver_mio, &limit, &log);
    accepts_after_exhaustion!(headway_driver_async_std, &limit, &log);
    drop(limit);
    let after = descriptor_limit();
    assert_eq!(
        (after.rlim_cur, after.rlim_max),
        (before.rlim_cur, before.rlim_max),
        "the limit is restored"
    );
}
