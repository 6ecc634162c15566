//! Everything that can end a SOCKS5 handshake, one variant per cause.

use crate::rfc1928;

/// Why a SOCKS5 handshake failed, or why a target was refused before anything was sent.
///
/// The variants `GeneralFailure` to `Unassigned` are the proxy's own answer to our CONNECT (RFC
/// 1928 §6, field `REP`), named as the RFC names them; the others are a proxy that does not speak
/// the protocol as we do, or a target we cannot express. None of them is a panic, whatever the
/// proxy sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    /// The proxy answered with a version byte other than 5 (§3, §6: `VER`): not a SOCKS5 server
    /// (an HTTP proxy answers `H`, a SOCKS4 server 0 or 4).
    #[error("the proxy answered with version byte {0:#04x}, not SOCKS5 (0x05)")]
    WrongVersion(u8),
    /// The proxy accepts none of the methods we offered (§3: X'FF'). We offer only "no
    /// authentication", so this is a proxy that requires a login.
    #[error("the proxy accepts none of our authentication methods (0xff); we offer only \"no authentication\"")]
    NoAcceptableMethod,
    /// The proxy chose a method we did not offer (§3): we offer only X'00'. X'02' is RFC 1929's
    /// username/password, which this client does not speak.
    #[error("the proxy chose authentication method {0:#04x}, which we did not offer (only 0x00, no authentication)")]
    MethodNotOffered(u8),
    /// Reply X'01' (§6): general SOCKS server failure. microsocks also answers this when it
    /// cannot resolve a domain name, as the RFC has no code for that.
    #[error("proxy: general SOCKS server failure (0x01)")]
    GeneralFailure,
    /// Reply X'02' (§6): connection not allowed by ruleset.
    #[error("proxy: connection not allowed by ruleset (0x02)")]
    NotAllowedByRuleset,
    /// Reply X'03' (§6): network unreachable.
    #[error("proxy: network unreachable (0x03)")]
    NetworkUnreachable,
    /// Reply X'04' (§6): host unreachable.
    #[error("proxy: host unreachable (0x04)")]
    HostUnreachable,
    /// Reply X'05' (§6): connection refused by the target.
    #[error("proxy: connection refused (0x05)")]
    ConnectionRefused,
    /// Reply X'06' (§6): TTL expired (microsocks and Tor use it for a connect that timed out).
    #[error("proxy: TTL expired (0x06)")]
    TtlExpired,
    /// Reply X'07' (§6): command not supported.
    #[error("proxy: command not supported (0x07)")]
    CommandNotSupported,
    /// Reply X'08' (§6): address type not supported (for example IPv6 on a proxy without it).
    #[error("proxy: address type not supported (0x08)")]
    AddressTypeNotSupported,
    /// A reply code RFC 1928 leaves unassigned (§6: X'09' to X'FF'). Tor's extended codes
    /// X'F0' to X'F7' (proposal 304) land here; the message names them.
    #[error("proxy: unassigned reply code {code:#04x}{tor}", code = .0, tor = tor_suffix(*.0))]
    Unassigned(u8),
    /// The reply's reserved byte is not X'00' (§6: `RSV`): a malformed reply.
    #[error("malformed proxy reply: reserved byte {0:#04x}, must be 0x00")]
    BadReserved(u8),
    /// The reply's address type is none of X'01', X'03', X'04' (§5, §6: `ATYP`): a malformed reply
    /// whose length we cannot know.
    #[error("malformed proxy reply: unknown address type {0:#04x}")]
    UnknownAddressType(u8),
    /// The proxy sent bytes before it could have received our next message: more than the two
    /// bytes of its method selection (§3), or anything before our greeting or request went out.
    /// We never pipeline, so this is a proxy that does not follow the protocol's turns.
    #[error("the proxy sent bytes before our request went out")]
    UnsolicitedBytes,
    /// A domain-name target that is empty (§5: at least one byte); refused before anything is sent.
    #[error("an empty domain name cannot be sent to a SOCKS5 proxy")]
    EmptyDomain,
    /// A domain-name target longer than 255 bytes (§5: its length is one byte); refused before
    /// anything is sent.
    #[error("a domain name of {0} bytes is longer than SOCKS5's limit of 255")]
    DomainTooLong(usize),
    /// The proxy closed the connection before the handshake finished. The state machine cannot
    /// see a close; drivers report it with this variant.
    #[error("the proxy closed the connection during the SOCKS5 handshake")]
    ProxyClosed,
    /// [`crate::Socks5Connect::received`] was called again after it reported
    /// [`crate::Progress::Connected`]: from then on the bytes belong to the tunnelled stream.
    #[error("the SOCKS5 handshake is already complete; these bytes belong to the tunnel")]
    AlreadyConnected,
}

fn tor_suffix(code: u8) -> String {
    match rfc1928::tor_extended_error(code) {
        Some(meaning) => format!(" (Tor extended error: {meaning})"),
        None => String::new(),
    }
}

impl Socks5Error {
    /// The error for a non-success reply code (§6); `None` for X'00', "succeeded".
    pub fn from_reply_code(code: u8) -> Option<Self> {
        Some(match code {
            rfc1928::REP_SUCCEEDED => return None,
            rfc1928::REP_GENERAL_FAILURE => Self::GeneralFailure,
            rfc1928::REP_NOT_ALLOWED => Self::NotAllowedByRuleset,
            rfc1928::REP_NETWORK_UNREACHABLE => Self::NetworkUnreachable,
            rfc1928::REP_HOST_UNREACHABLE => Self::HostUnreachable,
            rfc1928::REP_CONNECTION_REFUSED => Self::ConnectionRefused,
            rfc1928::REP_TTL_EXPIRED => Self::TtlExpired,
            rfc1928::REP_COMMAND_NOT_SUPPORTED => Self::CommandNotSupported,
            rfc1928::REP_ADDRESS_TYPE_NOT_SUPPORTED => Self::AddressTypeNotSupported,
            other => Self::Unassigned(other),
        })
    }

    /// The proxy's reply code (§6) when the error is the proxy's answer to our CONNECT, so that a
    /// driver can log or count it; `None` for every other failure.
    pub fn reply_code(&self) -> Option<u8> {
        Some(match self {
            Self::GeneralFailure => rfc1928::REP_GENERAL_FAILURE,
            Self::NotAllowedByRuleset => rfc1928::REP_NOT_ALLOWED,
            Self::NetworkUnreachable => rfc1928::REP_NETWORK_UNREACHABLE,
            Self::HostUnreachable => rfc1928::REP_HOST_UNREACHABLE,
            Self::ConnectionRefused => rfc1928::REP_CONNECTION_REFUSED,
            Self::TtlExpired => rfc1928::REP_TTL_EXPIRED,
            Self::CommandNotSupported => rfc1928::REP_COMMAND_NOT_SUPPORTED,
            Self::AddressTypeNotSupported => rfc1928::REP_ADDRESS_TYPE_NOT_SUPPORTED,
            Self::Unassigned(code) => *code,
            _ => return None,
        })
    }
}
