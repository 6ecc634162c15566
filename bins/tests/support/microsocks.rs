//! A real SOCKS5 proxy for tests: Debian's `microsocks`, started on a free loopback port and
//! killed when dropped. Missing from the PATH, it fails the test with how to install it
//! (`.ci/run` installs it); it never lets a test skip itself.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::bcoin::free_port;

/// How long microsocks has to start answering.
const START_WAIT: Duration = Duration::from_secs(5);

/// A running microsocks.
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
    /// Starts microsocks on 127.0.0.1, its outgoing connections bound to `outgoing` (its `-b`),
    /// so that the far end can tell proxied connections from direct ones.
    pub fn start(outgoing: Ipv4Addr) -> Microsocks {
        // Ports are found free and then released: serialise starts so that two of ours never
        // race for one.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for _attempt in 0..5 {
            let port = free_port();
            let spawned = Command::new("microsocks")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-b", &outgoing.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => panic!(
                    "microsocks is not on the PATH: the proxy tests need a real SOCKS5 server. \
                     Install it with `sudo apt-get install -y microsocks` (.ci/run does this)"
                ),
                Err(e) => panic!("cannot start microsocks: {e}"),
            };
            let mut proxy = Microsocks {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + START_WAIT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = proxy.child.try_wait() {
                    break; // the port was taken in between: another one
                }
                if answers_socks5(proxy.addr) {
                    return proxy;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("microsocks did not start listening on 127.0.0.1");
    }
}

/// Whether a SOCKS5 server answers a greeting at `addr`.
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
