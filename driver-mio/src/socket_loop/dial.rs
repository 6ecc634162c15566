//! The socket thread's outbound side: dialling, the dial's completion, its deadline, and, with a
//! proxy configured, the SOCKS5 handshake between the two.
//!
//! Without a proxy a dial is `Dialling` until the socket is writable, then `Open`, and the core
//! hears `Connected`. With one, the TCP connection goes to the proxy; once it is up the
//! connection is `Handshaking` (see `crate::proxy`), and only when the proxy has connected the
//! peer does it become `Open` and the core hear `Connected` (with the peer's address) followed
//! at once by the peer's first bytes, if the proxy's reply brought any. The core cannot send to
//! a connection it has not heard of, so nothing of its reaches the proxy before that. Every
//! failure on the way, timeouts included, is one `ConnectFailed` for the peer's address.

use super::*;
use crate::proxy::{self, ProxyHandshake, Step};
use headway_socks5::Target;

impl SocketLoop {
    /// Opens a non-blocking TCP connection to `addr`, or to the proxy if there is one. A
    /// `host` (a peer by name) can only be reached through the proxy.
    pub(super) fn dial(&mut self, addr: SocketAddr, host: Option<String>) {
        if let (Some(host), None) = (&host, self.proxy) {
            self.report(Input::ConnectFailed {
                addr,
                error: format!("{host} can only be reached through a proxy (--proxy)"),
            });
            return;
        }
        let Some((peer, token)) = self.allocate_peer() else {
            self.report(Input::ConnectFailed {
                addr,
                error: "peer ids exhausted".into(),
            });
            return;
        };
        let remote = self.proxy.unwrap_or(addr);
        let stream = TcpStream::connect(remote).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match stream {
            Ok(stream) => {
                match self.proxy {
                    Some(proxy) => {
                        debug!(peer = %peer, %addr, ?host, %proxy, "dialling through SOCKS5 proxy")
                    }
                    None => debug!(peer = %peer, %addr, "dialling"),
                }
                let deadline = Instant::now() + self.connect_timeout;
                self.connections.insert(
                    token,
                    Connection {
                        peer,
                        addr,
                        direction: Direction::Outbound,
                        stream,
                        state: ConnectionState::Dialling { deadline, host },
                        outbox: Outbox::default(),
                        reading_paused: false,
                    },
                );
            }
            Err(error) => {
                debug!(%addr, proxy = ?self.proxy, %error, "dial failed at once");
                let error = self.dial_error(error);
                self.report(Input::ConnectFailed { addr, error });
            }
        }
    }

    /// The text of a failed TCP connect: the operating system's, and behind a proxy, naming it.
    fn dial_error(&self, error: io::Error) -> String {
        match self.proxy {
            Some(proxy) => {
                proxy::failure(proxy, format_args!("cannot connect to the proxy: {error}"))
            }
            None => error.to_string(),
        }
    }

    /// Checks whether a dial in progress completed, failed, or is still under way.
    pub(super) fn finish_dial(&mut self, token: Token) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let outcome = match connection.stream.take_error() {
            Ok(Some(error)) | Err(error) => Err(error),
            Ok(None) => match connection.stream.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // spurious wake-up
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => Err(error),
            },
        };
        let (peer, addr) = (connection.peer, connection.addr);
        let host = match &connection.state {
            ConnectionState::Dialling { host, .. } => host.clone(),
            _ => None,
        };
        match (outcome, self.proxy) {
            (Ok(()), None) => {
                set_nodelay(&connection.stream, peer, addr);
                self.open(token, Vec::new());
            }
            (Ok(()), Some(proxy)) => {
                set_nodelay(&connection.stream, peer, addr);
                debug!(peer = %peer, %addr, %proxy, "connected to the proxy; SOCKS5 handshake");
                let deadline = Instant::now() + self.proxy_handshake_timeout;
                let target = match Target::for_peer(addr, host.as_deref()) {
                    Ok(target) => target,
                    Err(error) => {
                        self.drop_connection(token);
                        let error = proxy::failure(proxy, format_args!("{error}"));
                        self.report(Input::ConnectFailed { addr, error });
                        return;
                    }
                };
                connection.state = ConnectionState::Handshaking(Box::new(ProxyHandshake::new(
                    proxy, target, deadline,
                )));
                self.advance_handshake(token);
            }
            (Err(error), _) => {
                debug!(peer = %peer, %addr, proxy = ?self.proxy, %error, "dial failed");
                self.drop_connection(token);
                let error = self.dial_error(error);
                self.report(Input::ConnectFailed { addr, error });
            }
        }
    }

    /// Moves a connection's SOCKS5 handshake on as far as the socket allows: opens the
    /// connection when the proxy has connected the peer, fails the dial when it will not.
    pub(super) fn advance_handshake(&mut self, token: Token) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let ConnectionState::Handshaking(handshake) = &mut connection.state else {
            return;
        };
        let proxy = handshake.proxy();
        match handshake.advance(&mut connection.stream, &mut connection.outbox) {
            Ok(Step::Pending) => {}
            Ok(Step::Connected { leftover }) => {
                debug!(peer = %connection.peer, addr = %connection.addr, %proxy, "SOCKS5 tunnel open");
                self.open(token, leftover);
            }
            Err(error) => {
                let (peer, addr) = (connection.peer, connection.addr);
                debug!(peer = %peer, %addr, %proxy, %error, "SOCKS5 handshake failed");
                self.drop_connection(token);
                self.report(Input::ConnectFailed { addr, error });
            }
        }
    }

    /// An outbound connection is the peer's: tells the core (`Connected`, then `first_bytes`
    /// if any, before anything read later) and services it as open from now on.
    fn open(&mut self, token: Token, first_bytes: Vec<u8>) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        connection.state = ConnectionState::Open;
        let (peer, addr) = (connection.peer, connection.addr);
        let local_addr = connection.stream.local_addr().ok();
        debug!(peer = %peer, %addr, "connected");
        self.report(Input::Connected {
            peer,
            addr,
            local_addr,
            direction: Direction::Outbound,
        });
        if !first_bytes.is_empty() {
            // Counted before sending, so the core's decrement never comes first.
            self.reader.backlog.add(first_bytes.len());
            self.report(Input::Received {
                peer,
                bytes: first_bytes,
            });
        }
        self.service(token, true, true);
    }

    /// The earliest deadline of a dial or a SOCKS5 handshake in progress.
    pub(super) fn next_dial_deadline(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(|c| dial_deadline(&c.state))
            .min()
    }

    /// Fails every dial and SOCKS5 handshake whose deadline has passed.
    pub(super) fn expire_dials(&mut self, now: Instant) {
        let expired: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, c)| dial_deadline(&c.state).is_some_and(|deadline| deadline <= now))
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            let Some(connection) = self.drop_connection(token) else {
                continue;
            };
            let error = match (&connection.state, self.proxy) {
                (ConnectionState::Handshaking(handshake), _) => proxy::failure(
                    handshake.proxy(),
                    format_args!(
                        "no answer to the SOCKS5 handshake within {:?}",
                        self.proxy_handshake_timeout
                    ),
                ),
                (_, Some(proxy)) => proxy::failure(
                    proxy,
                    format_args!(
                        "connect to the proxy timed out after {:?}",
                        self.connect_timeout
                    ),
                ),
                (_, None) => format!("connect timed out after {:?}", self.connect_timeout),
            };
            debug!(peer = %connection.peer, addr = %connection.addr, %error, "dial timed out");
            self.report(Input::ConnectFailed {
                addr: connection.addr,
                error,
            });
        }
    }
}

/// When a connection still dialling or handshaking fails; `None` once it is open.
fn dial_deadline(state: &ConnectionState) -> Option<Instant> {
    match state {
        ConnectionState::Dialling { deadline, .. } => Some(*deadline),
        ConnectionState::Handshaking(handshake) => Some(handshake.deadline()),
        ConnectionState::Open => None,
    }
}
