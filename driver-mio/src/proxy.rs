//! One outbound connection's SOCKS5 handshake, between the TCP connection to the proxy and the
//! moment the core hears of the peer.
//!
//! With [`crate::DriverConfig::proxy`] set, a dial opens the TCP connection to the proxy; once it
//! is up, the connection is `Handshaking` and this module drives `headway-socks5`'s sans-IO
//! state machine on it: what [`Socks5Connect::poll_transmit`] gives goes out through the
//! connection's outbox (the core cannot have queued anything, it does not know the peer yet),
//! and every read goes to [`Socks5Connect::received`]. Reads and writes never block: each call
//! goes on until the socket would block, and the next readiness edge continues it. Only
//! [`Step::Connected`] turns the connection into the peer's; every failure is one line that
//! names the proxy, for `Input::ConnectFailed`.

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use headway_socks5::{Progress, Socks5Connect, Target};
use mio::net::TcpStream;

use crate::outbox::Outbox;

/// Bytes read from the proxy per call during the handshake: more than its longest reply (262
/// bytes). Whatever follows the reply and is not read here stays in the socket for the
/// connection's ordinary reads.
const HANDSHAKE_READ: usize = 512;

/// Where one connection's SOCKS5 handshake stands, and until when it may take.
#[derive(Debug)]
pub(crate) struct ProxyHandshake {
    proxy: SocketAddr,
    socks: Socks5Connect,
    deadline: Instant,
}

/// What [`ProxyHandshake::advance`] got to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The proxy has not answered in full yet: wait for the next readiness event.
    Pending,
    /// The tunnel to the peer is open. `leftover` are the peer's first bytes, read along with
    /// the proxy's reply: they go to the core before anything read later.
    Connected { leftover: Vec<u8> },
}

impl ProxyHandshake {
    /// A handshake through `proxy` that asks it to connect to `target`, failing at `deadline`.
    pub(crate) fn new(proxy: SocketAddr, target: Target, deadline: Instant) -> Self {
        ProxyHandshake {
            proxy,
            socks: Socks5Connect::new(target),
            deadline,
        }
    }

    /// The proxy this handshake goes through.
    pub(crate) fn proxy(&self) -> SocketAddr {
        self.proxy
    }

    /// When the handshake counts as failed if the proxy has not answered by then.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Writes what the handshake has to say and reads the proxy's answers, until the socket
    /// would block or the proxy has answered in full.
    ///
    /// An `Err` is the failure's text for `Input::ConnectFailed`, naming the proxy: the proxy's
    /// refusal, a malformed answer, the proxy closing, or a socket error.
    pub(crate) fn advance(
        &mut self,
        stream: &mut TcpStream,
        outbox: &mut Outbox,
    ) -> Result<Step, String> {
        let mut buf = [0u8; HANDSHAKE_READ];
        loop {
            while let Some(bytes) = self.socks.poll_transmit() {
                outbox.push(bytes);
            }
            // On `WouldBlock` the next writable edge continues the flush.
            outbox
                .flush_to(stream)
                .map_err(|error| self.io_failure("writing to the proxy failed", &error))?;
            match stream.read(&mut buf) {
                Ok(0) => {
                    return Err(failure(
                        self.proxy,
                        headway_socks5::Socks5Error::ProxyClosed,
                    ))
                }
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    match self.socks.received(bytes) {
                        Ok(Progress::NeedMore) => continue,
                        Ok(Progress::Connected { leftover, .. }) => {
                            return Ok(Step::Connected { leftover })
                        }
                        Err(error) => return Err(failure(self.proxy, error)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(self.io_failure("reading from the proxy failed", &error)),
            }
        }
    }

    /// A socket error during the handshake, worded as the async-std driver words it.
    fn io_failure(&self, what: &str, error: &io::Error) -> String {
        failure(self.proxy, format_args!("{what}: {error}"))
    }
}

/// The text of a failed dial through `proxy`: "through SOCKS5 proxy ADDR: REASON", as the
/// async-std driver has it too.
pub(crate) fn failure(proxy: SocketAddr, reason: impl fmt::Display) -> String {
    format!("through SOCKS5 proxy {proxy}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_proxy_and_the_reason() {
        let proxy: SocketAddr = "127.0.0.1:9050".parse().unwrap();
        let text = failure(proxy, headway_socks5::Socks5Error::ConnectionRefused);
        assert!(
            text.starts_with("through SOCKS5 proxy 127.0.0.1:9050: "),
            "{text}"
        );
        assert!(text.contains("refused"), "{text}");
    }
}
