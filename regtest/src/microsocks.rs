//! The real SOCKS5 proxy of the proxy tests (the socks5 crate's, both drivers', the
//! binaries'): Debian's `microsocks`, started on a free loopback port and killed when dropped.
//! Missing from the PATH, it fails the test with how to install it (`.ci/run` installs it); it
//! never lets a test skip itself.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// How long microsocks has to start answering.
const START_WAIT: Duration = Duration::from_secs(5);
/// Ports tried before giving up (a port found free may be taken before microsocks binds it).
const START_ATTEMPTS: usize = 5;

/// A running microsocks.
#[derive(Debug)]
pub struct Microsocks {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Microsocks {
    /// Starts `microsocks -i 127.0.0.1 -p PORT` plus `extra` (for example `["-b", "127.0.0.2"]`
    /// to bind its outgoing connections, or `["-u", U, "-P", P]` to demand a login) and waits
    /// until it answers a SOCKS5 greeting.
    ///
    /// The port is found free and then released, so something else may take it before
    /// microsocks binds it (microsocks then exits): starts are serialised within the process,
    /// and readiness is a SOCKS5 answer from a process that is still running.
    pub fn start(extra: &[&str]) -> Microsocks {
        static STARTING: Mutex<()> = Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _attempt in 0..START_ATTEMPTS {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let spawned = Command::new("microsocks")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                    "microsocks is not on the PATH: the proxy tests need a real SOCKS5 server. \
                     Install it with `sudo apt-get install -y microsocks` (Debian/Ubuntu; \
                     .ci/run does this)"
                ),
                Err(e) => panic!("cannot start microsocks: {e}"),
            };
            let mut proxy = Microsocks {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + START_WAIT;
            while Instant::now() < deadline {
                if let Ok(Some(_exited)) = proxy.child.try_wait() {
                    break; // the port was taken in between: another one
                }
                if answers_socks5(proxy.addr) && matches!(proxy.child.try_wait(), Ok(None)) {
                    return proxy;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("microsocks did not start listening on 127.0.0.1");
    }
}

/// Whether a SOCKS5 server answers a greeting (version 5, no authentication offered) at
/// `addr`, with any method, `0xFF` included.
fn answers_socks5(addr: SocketAddr) -> bool {
    let Ok(mut probe) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = probe.set_read_timeout(Some(Duration::from_secs(2)));
    let mut answer = [0u8; 2];
    probe.write_all(&[0x05, 0x01, 0x00]).is_ok()
        && probe.read_exact(&mut answer).is_ok()
        && answer[0] == 0x05
}
