//! The numbers of the SOCKS5 protocol, each with the section of RFC 1928 (or RFC 1929, or Tor's
//! proposal 304) that defines it.

/// The protocol version byte, first in every message both ways (§3, §4, §6: `VER` = X'05').
pub const VERSION: u8 = 0x05;

/// Method "NO AUTHENTICATION REQUIRED" (§3: X'00'): the only method this client offers.
pub const METHOD_NO_AUTH: u8 = 0x00;
/// Method "GSSAPI" (§3: X'01'); never offered.
pub const METHOD_GSSAPI: u8 = 0x01;
/// Method "USERNAME/PASSWORD" (§3: X'02', specified by RFC 1929); never offered, refused.
pub const METHOD_USERNAME_PASSWORD: u8 = 0x02;
/// "NO ACCEPTABLE METHODS" (§3: X'FF'): the server refuses every method we offered.
pub const METHOD_NO_ACCEPTABLE: u8 = 0xFF;

/// The length of the server's method selection message, `VER METHOD` (§3).
pub const METHOD_REPLY_LEN: usize = 2;

/// Command CONNECT (§4: `CMD` X'01').
pub const CMD_CONNECT: u8 = 0x01;
/// The reserved byte of requests and replies (§4, §6: `RSV` X'00'); anything else in a reply is
/// malformed.
pub const RESERVED: u8 = 0x00;

/// Address type IPv4, four bytes (§4, §5: `ATYP` X'01').
pub const ATYP_IPV4: u8 = 0x01;
/// Address type domain name: one length byte, then the name without a terminating NUL (§4, §5:
/// `ATYP` X'03').
pub const ATYP_DOMAIN: u8 = 0x03;
/// Address type IPv6, sixteen bytes (§4, §5: `ATYP` X'04').
pub const ATYP_IPV6: u8 = 0x04;

/// The longest domain name a request can carry: its length is one byte (§5).
pub const MAX_DOMAIN_LEN: usize = 255;

/// `VER REP RSV ATYP`, the fixed start of a reply (§6).
pub const REPLY_HEADER_LEN: usize = 4;
/// The longest reply a server can send (§6): the header, a length byte, a 255-byte domain name
/// and the two-byte port, 4 + 1 + 255 + 2 = 262 bytes. The handshake never buffers more.
pub const MAX_REPLY_LEN: usize = REPLY_HEADER_LEN + 1 + MAX_DOMAIN_LEN + 2;

/// Reply "succeeded" (§6: `REP` X'00').
pub const REP_SUCCEEDED: u8 = 0x00;
/// Reply "general SOCKS server failure" (§6: X'01').
pub const REP_GENERAL_FAILURE: u8 = 0x01;
/// Reply "connection not allowed by ruleset" (§6: X'02').
pub const REP_NOT_ALLOWED: u8 = 0x02;
/// Reply "Network unreachable" (§6: X'03').
pub const REP_NETWORK_UNREACHABLE: u8 = 0x03;
/// Reply "Host unreachable" (§6: X'04').
pub const REP_HOST_UNREACHABLE: u8 = 0x04;
/// Reply "Connection refused" (§6: X'05').
pub const REP_CONNECTION_REFUSED: u8 = 0x05;
/// Reply "TTL expired" (§6: X'06').
pub const REP_TTL_EXPIRED: u8 = 0x06;
/// Reply "Command not supported" (§6: X'07').
pub const REP_COMMAND_NOT_SUPPORTED: u8 = 0x07;
/// Reply "Address type not supported" (§6: X'08').
pub const REP_ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
/// The first reply code RFC 1928 leaves "unassigned" (§6: X'09' to X'FF').
pub const REP_FIRST_UNASSIGNED: u8 = 0x09;

/// What Tor means by an extended reply code, sent only when its `SocksPort` has the
/// `ExtendedErrors` flag (Tor proposal 304, "Extending SOCKS5 Onion Service Error Codes", and the
/// tor manual); `None` for a code Tor does not use.
pub fn tor_extended_error(code: u8) -> Option<&'static str> {
    Some(match code {
        0xF0 => "onion service descriptor can not be found",
        0xF1 => "onion service descriptor is invalid",
        0xF2 => "onion service introduction failed",
        0xF3 => "onion service rendezvous failed",
        0xF4 => "onion service missing client authorization",
        0xF5 => "onion service wrong client authorization",
        0xF6 => "onion service invalid address",
        0xF7 => "onion service introduction timed out",
        _ => return None,
    })
}
