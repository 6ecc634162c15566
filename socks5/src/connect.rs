//! The CONNECT handshake as a state machine: greeting, method selection, request, reply.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::rfc1928::{
    ATYP_DOMAIN, ATYP_IPV4, ATYP_IPV6, CMD_CONNECT, MAX_REPLY_LEN, METHOD_NO_ACCEPTABLE,
    METHOD_NO_AUTH, METHOD_REPLY_LEN, REPLY_HEADER_LEN, RESERVED, VERSION,
};
use crate::{BoundAddr, Socks5Error, Target};

/// What the handshake needs after a call to [`Socks5Connect::received`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Progress {
    /// The proxy's answer is incomplete: drain [`Socks5Connect::poll_transmit`] (the request goes
    /// out once the method reply is in), then read more.
    NeedMore,
    /// The proxy connected to the target: the TCP connection to the proxy is now the tunnelled
    /// stream.
    Connected {
        /// The address the proxy reports for its end (RFC 1928 §6); informational.
        bound: BoundAddr,
        /// Bytes that came after the reply, in the same read: the target's first bytes. They
        /// belong to the stream and must be handed on, exactly and first.
        leftover: Vec<u8>,
    },
}

/// Where the handshake stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// The greeting waits for `poll_transmit`.
    SendGreeting,
    /// The greeting is out; the two-byte method selection (§3) is being read.
    AwaitMethod,
    /// The method is accepted; the CONNECT request waits for `poll_transmit`.
    SendRequest,
    /// The request is out; the reply (§6) is being read.
    AwaitReply,
    /// The reply said "succeeded".
    Connected,
    /// The handshake failed; every later call repeats why.
    Failed(Socks5Error),
}

/// The client side of a SOCKS5 CONNECT with no authentication (RFC 1928), sans-IO.
///
/// Drive it with two calls: write out whatever [`poll_transmit`](Self::poll_transmit) returns
/// (first the greeting, later the request) and feed what the proxy sends to
/// [`received`](Self::received), in any pieces, until it returns [`Progress::Connected`] or an
/// error. It buffers at most [`MAX_REPLY_LEN`] bytes, and never anything after the reply.
#[derive(Debug, Clone)]
pub struct Socks5Connect {
    target: Target,
    state: State,
    buf: [u8; MAX_REPLY_LEN],
    len: usize,
}

impl Socks5Connect {
    /// A handshake that asks the proxy to connect to `target`. Nothing happens until the driver
    /// takes the greeting from [`poll_transmit`](Self::poll_transmit).
    pub fn new(target: Target) -> Self {
        Self {
            target,
            state: State::SendGreeting,
            buf: [0; MAX_REPLY_LEN],
            len: 0,
        }
    }

    /// The target this handshake asks for.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The next bytes to write to the proxy, or `None` when it is the proxy's turn (or the
    /// handshake is over). Call it after `new` and after every `received`, until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self.state {
            State::SendGreeting => {
                self.state = State::AwaitMethod;
                // §3: VER, NMETHODS, METHODS.
                Some(vec![VERSION, 1, METHOD_NO_AUTH])
            }
            State::SendRequest => {
                self.state = State::AwaitReply;
                Some(self.request())
            }
            _ => None,
        }
    }

    /// Feeds bytes read from the proxy. Returns [`Progress::NeedMore`] while the proxy's answer
    /// is incomplete, [`Progress::Connected`] once the reply says "succeeded", or why the
    /// handshake failed; after a failure every call returns the same error.
    pub fn received(&mut self, bytes: &[u8]) -> Result<Progress, Socks5Error> {
        let result = match self.state {
            State::Failed(ref error) => return Err(error.clone()),
            State::Connected => return Err(Socks5Error::AlreadyConnected),
            State::SendGreeting | State::SendRequest if bytes.is_empty() => Ok(Progress::NeedMore),
            State::SendGreeting | State::SendRequest => Err(Socks5Error::UnsolicitedBytes),
            State::AwaitMethod => self.read_method(bytes),
            State::AwaitReply => self.read_reply(bytes),
        };
        if let Err(error) = &result {
            self.state = State::Failed(error.clone());
            self.len = 0;
        }
        result
    }

    /// How many bytes of the proxy's current message are held: at most [`MAX_REPLY_LEN`].
    pub fn buffered(&self) -> usize {
        self.len
    }

    fn read_method(&mut self, bytes: &[u8]) -> Result<Progress, Socks5Error> {
        let rest = self.fill(bytes, METHOD_REPLY_LEN);
        let reply = &self.buf[..self.len];
        if let Some(&version) = reply.first() {
            if version != VERSION {
                return Err(Socks5Error::WrongVersion(version));
            }
        }
        match reply.get(1) {
            None => Ok(Progress::NeedMore),
            Some(&METHOD_NO_AUTH) => {
                if !rest.is_empty() {
                    return Err(Socks5Error::UnsolicitedBytes);
                }
                self.len = 0;
                self.state = State::SendRequest;
                Ok(Progress::NeedMore)
            }
            Some(&METHOD_NO_ACCEPTABLE) => Err(Socks5Error::NoAcceptableMethod),
            Some(&method) => Err(Socks5Error::MethodNotOffered(method)),
        }
    }

    fn read_reply(&mut self, mut bytes: &[u8]) -> Result<Progress, Socks5Error> {
        loop {
            // The reply's length is known only as its bytes arrive: the header gives the address
            // type, a domain name's first byte its length. Each round reads no further than what
            // is known to belong to the reply.
            let need = reply_len(&self.buf[..self.len])?;
            if self.len == need {
                let bound = parse_bound(&self.buf[..self.len]);
                self.len = 0;
                self.state = State::Connected;
                return Ok(Progress::Connected {
                    bound,
                    leftover: bytes.to_vec(),
                });
            }
            if bytes.is_empty() {
                return Ok(Progress::NeedMore);
            }
            bytes = self.fill(bytes, need);
        }
    }

    /// Copies from `bytes` until `upto` bytes are buffered; returns what was not taken.
    fn fill<'a>(&mut self, bytes: &'a [u8], upto: usize) -> &'a [u8] {
        let upto = upto.min(MAX_REPLY_LEN);
        let take = upto.saturating_sub(self.len).min(bytes.len());
        let (head, rest) = bytes.split_at(take);
        self.buf[self.len..self.len + take].copy_from_slice(head);
        self.len += take;
        rest
    }

    /// The CONNECT request (§4): VER CMD RSV ATYP DST.ADDR DST.PORT.
    fn request(&self) -> Vec<u8> {
        let mut out = vec![VERSION, CMD_CONNECT, RESERVED];
        match &self.target {
            Target::Addr(SocketAddr::V4(addr)) => {
                out.push(ATYP_IPV4);
                out.extend_from_slice(&addr.ip().octets());
            }
            Target::Addr(SocketAddr::V6(addr)) => {
                out.push(ATYP_IPV6);
                out.extend_from_slice(&addr.ip().octets());
            }
            Target::Domain(name, _) => {
                out.push(ATYP_DOMAIN);
                // DomainName guarantees 1..=255 bytes, so the length fits its byte (§5).
                out.push(name.as_str().len() as u8);
                out.extend_from_slice(name.as_str().as_bytes());
            }
        }
        out.extend_from_slice(&self.target.port().to_be_bytes());
        out
    }
}

/// Checks a reply prefix byte by byte, in order (§6), and returns the reply's total length as far
/// as the prefix tells it: the header first, then the address's length once its type (and, for a
/// domain name, its length byte) is in. Never more than [`MAX_REPLY_LEN`].
fn reply_len(prefix: &[u8]) -> Result<usize, Socks5Error> {
    if let Some(&version) = prefix.first() {
        if version != VERSION {
            return Err(Socks5Error::WrongVersion(version));
        }
    }
    if let Some(&code) = prefix.get(1) {
        if let Some(error) = Socks5Error::from_reply_code(code) {
            return Err(error);
        }
    }
    if let Some(&reserved) = prefix.get(2) {
        if reserved != RESERVED {
            return Err(Socks5Error::BadReserved(reserved));
        }
    }
    Ok(match prefix.get(3) {
        None => REPLY_HEADER_LEN,
        Some(&ATYP_IPV4) => REPLY_HEADER_LEN + 4 + 2,
        Some(&ATYP_IPV6) => REPLY_HEADER_LEN + 16 + 2,
        Some(&ATYP_DOMAIN) => match prefix.get(4) {
            None => REPLY_HEADER_LEN + 1,
            Some(&name_len) => REPLY_HEADER_LEN + 1 + usize::from(name_len) + 2,
        },
        Some(&other) => return Err(Socks5Error::UnknownAddressType(other)),
    })
}

/// The bound address of a reply that [`reply_len`] has checked and found complete.
fn parse_bound(reply: &[u8]) -> BoundAddr {
    let port = match reply {
        [.., hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    };
    let addr = reply
        .get(REPLY_HEADER_LEN..reply.len().saturating_sub(2))
        .unwrap_or_default();
    let atyp = reply.get(3).copied();
    if let (Some(ATYP_IPV4), Ok(ip)) = (atyp, <[u8; 4]>::try_from(addr)) {
        return BoundAddr::Addr(SocketAddrV4::new(Ipv4Addr::from(ip), port).into());
    }
    if let (Some(ATYP_IPV6), Ok(ip)) = (atyp, <[u8; 16]>::try_from(addr)) {
        return BoundAddr::Addr(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0).into());
    }
    // ATYP_DOMAIN, the only other type reply_len lets through: the length byte, then the name.
    BoundAddr::Domain(addr.get(1..).unwrap_or_default().to_vec(), port)
}
