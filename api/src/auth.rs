//! Who may call the RPC: HTTP basic authentication against the logins the operator allowed, as
//! Bitcoin Core's `src/httprpc.cpp` decides it (`RPCAuthorized`, `CheckUserAuthorized`, and
//! `InitRPCAuthentication` for reading `-rpcauth`).
//!
//! This module owns the decision only: which `Authorization` header values log in, as whom.
//! Answering 401, the `WWW-Authenticate` header and the wait after a failure belong to the
//! server, which takes [`WWW_AUTHENTICATE`] and [`FAILED_LOGIN_DELAY`] from here. The cookie
//! file itself is [`crate::cookie`]'s.
//!
//! Three kinds of login, as in Core: `rpcuser`/`rpcpassword` ([`Credentials::allow_user_password`]),
//! the cookie ([`Credentials::allow_cookie`]), and `rpcauth` lines with a salted HMAC of the
//! password ([`Credentials::allow_rpcauth`]). Secrets are compared in time that does not depend
//! on where they differ (Core's `TimingResistantEqual`), and never appear in `Debug` output or
//! logs.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::{sha256, Hash as _, HashEngine as _};
use bitcoin::hex::DisplayHex;

use crate::cookie::COOKIE_USER;

/// How long the server waits before it answers a wrong login: Core's `HTTPReq_JSONRPC`
/// (httprpc.cpp) sleeps 250 ms ("Deter brute-forcing") before its 401. A missing header is
/// answered at once.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(250);

/// The `WWW-Authenticate` value of a 401: Core's `WWW_AUTH_HEADER_DATA` (httprpc.cpp).
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"jsonrpc\"";

/// The only scheme Core accepts, with its space: `strAuth.starts_with("Basic ")` in
/// `RPCAuthorized` (httprpc.cpp). Case-sensitive, as there.
const BASIC_PREFIX: &str = "Basic ";

/// What `RPCAuthorized` trims around the base64 (httprpc.cpp, `TrimStringView`'s default
/// pattern in util/string.h): space, form feed, newline, carriage return, tab, vertical tab.
const CORE_WHITESPACE: [char; 6] = [' ', '\x0c', '\n', '\r', '\t', '\x0b'];

/// The separator of user and password, in the decoded basic credentials and in an rpcauth line
/// (`find(':')` in `RPCAuthorized`, `SplitString(rpcauth, ':')` in `InitRPCAuthentication`).
const USER_SEPARATOR: char = ':';

/// The separator of salt and hash in an rpcauth line (`SplitString(fields.back(), '$')` in
/// `InitRPCAuthentication`, httprpc.cpp).
const SALT_SEPARATOR: char = '$';

/// Hex digits of an rpcauth hash: `HexStr` of a 32-byte HMAC-SHA256 (`CHMAC_SHA256::OUTPUT_SIZE`
/// in `CheckUserAuthorized`, httprpc.cpp).
const RPCAUTH_HASH_HEX_LEN: usize = 64;

/// The logins the RPC accepts.
///
/// Starts empty ([`Credentials::new`]), which accepts nobody: like Core's belt-and-braces check
/// in `RPCAuthorized`, an empty set refuses every header rather than opening the door.
///
/// `Debug` lists the user names and the kind of each login, never a password, salt or hash.
#[derive(Clone, Default)]
pub struct Credentials {
    logins: Vec<Login>,
}

/// One accepted login.
#[derive(Clone)]
struct Login {
    user: String,
    proof: Proof,
}

/// How a login's password is checked.
#[derive(Clone)]
enum Proof {
    /// `rpcuser`/`rpcpassword` or the cookie: the password itself.
    Password { password: String, kind: PlainKind },
    /// An rpcauth line: HMAC-SHA256 keyed by the salt's ASCII text, in lowercase hex.
    Rpcauth { salt: String, hash: String },
}

/// Where a plain password came from, for `Debug`.
#[derive(Clone, Copy, Debug)]
enum PlainKind {
    UserPassword,
    Cookie,
}

impl Credentials {
    /// No logins: every request is refused until one is allowed.
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// Accepts `user` with `password`: Core's `-rpcuser`/`-rpcpassword`
    /// (`InitRPCAuthentication`, httprpc.cpp).
    ///
    /// As in Core, an empty user with an empty password adds nothing (`if (!user.empty() ||
    /// !pass.empty())`), so that `Basic Og==` (a bare ":") never logs in. A user name containing
    /// ':' can never log in, since basic credentials split at their first ':'.
    pub fn allow_user_password(&mut self, user: &str, password: &str) {
        if user.is_empty() && password.is_empty() {
            return;
        }
        if user.contains(USER_SEPARATOR) {
            tracing::warn!(
                "an RPC user name contains ':', so no client can log in as it (basic \
                 authentication splits at the first ':')"
            );
        }
        self.logins.push(Login {
            user: user.to_owned(),
            proof: Proof::Password {
                password: password.to_owned(),
                kind: PlainKind::UserPassword,
            },
        });
    }

    /// Accepts the cookie's login, `__cookie__:<secret>` ([`COOKIE_USER`]): what Core's
    /// `GenerateAuthCookie` (rpc/request.cpp) hands `InitRPCAuthentication` (httprpc.cpp).
    pub fn allow_cookie(&mut self, secret: &str) {
        self.logins.push(Login {
            user: COOKIE_USER.to_owned(),
            proof: Proof::Password {
                password: secret.to_owned(),
                kind: PlainKind::Cookie,
            },
        });
    }

    /// Accepts an rpcauth line `USER:SALT$HASH`, as printed by Core's
    /// `share/rpcauth/rpcauth.py` (after its `rpcauth=`): the password logs in when the lowercase
    /// hex of HMAC-SHA256, keyed by the salt's text, over the password equals HASH
    /// (`CheckUserAuthorized`, httprpc.cpp).
    ///
    /// The line is split as Core's `InitRPCAuthentication` (httprpc.cpp) splits it: exactly one
    /// ':' (so the user name has none; it may contain '$'), and exactly one '$' after it. A line
    /// of another form is an error naming the expected form, to be reported when the node
    /// starts. Core since v0.21 (PR #20461) refuses to start on such a line too ("Invalid
    /// -rpcauth argument."); older Core silently skipped it (in `multiUserAuthorized`), which
    /// left the operator wondering why a login failed. We also refuse a HASH that is not 64 lowercase hex digits, which Core accepts but
    /// which can never equal the lowercase `HexStr` it compares with.
    pub fn allow_rpcauth(&mut self, line: &str) -> Result<(), AuthError> {
        let malformed = |problem| AuthError::MalformedRpcauth { problem };
        let mut fields = line.split(USER_SEPARATOR);
        let (Some(user), Some(salt_hash)) = (fields.next(), fields.next()) else {
            return Err(malformed("no ':' after the user name"));
        };
        if fields.next().is_some() {
            return Err(malformed("more than one ':'"));
        }
        let mut parts = salt_hash.split(SALT_SEPARATOR);
        let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
            return Err(malformed("no '$' between the salt and the hash"));
        };
        if parts.next().is_some() {
            return Err(malformed("more than one '$' after the ':'"));
        }
        if hash.len() != RPCAUTH_HASH_HEX_LEN
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed("the hash is not 64 lowercase hex digits"));
        }
        self.logins.push(Login {
            user: user.to_owned(),
            proof: Proof::Rpcauth {
                salt: salt.to_owned(),
                hash: hash.to_owned(),
            },
        });
        Ok(())
    }

    /// Whether no login is allowed, so that every request would be refused.
    pub fn is_empty(&self) -> bool {
        self.logins.is_empty()
    }

    /// Decides a request by its raw `Authorization` header value (`None` if it has none).
    ///
    /// Mirrors Core's `HTTPReq_JSONRPC` and `RPCAuthorized` (httprpc.cpp): no header is
    /// [`AuthOutcome::Missing`]; a header is accepted only as `Basic ` (that case, that space)
    /// followed by base64, trimmed of Core's whitespace, that decodes to `user:password` split at
    /// the first ':' (so a password may contain ':'), where the user and password match one of
    /// the allowed logins. Anything else (another scheme, bad base64, no ':', a wrong user or
    /// password, no logins at all) is [`AuthOutcome::Refused`].
    ///
    /// User names and passwords are compared as bytes in time that does not depend on where
    /// they differ. As in Core's `CheckUserAuthorized`, an rpcauth login's HMAC is computed only
    /// for a matching user name.
    pub fn check(&self, authorization: Option<&str>) -> AuthOutcome {
        let Some(header) = authorization else {
            return AuthOutcome::Missing;
        };
        if self.logins.is_empty() {
            return AuthOutcome::Refused;
        }
        let Some(encoded) = header.strip_prefix(BASIC_PREFIX) else {
            return AuthOutcome::Refused;
        };
        let encoded = encoded.trim_matches(CORE_WHITESPACE);
        // Core's `DecodeBase64` wants the standard alphabet with its '=' padding, and refuses
        // leftover bits; the standard engine does too.
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return AuthOutcome::Refused;
        };
        let Some(colon) = decoded.iter().position(|&b| b == USER_SEPARATOR as u8) else {
            return AuthOutcome::Refused;
        };
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        for login in &self.logins {
            if login.accepts(user, password) {
                return AuthOutcome::Accepted {
                    user: login.user.clone(),
                };
            }
        }
        AuthOutcome::Refused
    }
}

impl Login {
    /// Whether `user` with `password`, as the client sent them, is this login.
    fn accepts(&self, user: &[u8], password: &[u8]) -> bool {
        let user_matches = timing_resistant_equal(user, self.user.as_bytes());
        match &self.proof {
            Proof::Password { password: ours, .. } => {
                // Both comparisons always run (`&`, not `&&`), as Core's single-user check ran
                // one comparison over the whole "user:password".
                user_matches & timing_resistant_equal(password, ours.as_bytes())
            }
            Proof::Rpcauth { salt, hash } => {
                if !user_matches {
                    return false;
                }
                timing_resistant_equal(rpcauth_hash(salt, password).as_bytes(), hash.as_bytes())
            }
        }
    }
}

/// The lowercase hex HMAC-SHA256 of `password` keyed by the ASCII text of `salt`, as Core's
/// `CheckUserAuthorized` (`CHMAC_SHA256(salt.data(), salt.size()).Write(pass)`, then `HexStr`)
/// and `password_to_hmac` in share/rpcauth/rpcauth.py compute it.
fn rpcauth_hash(salt: &str, password: &[u8]) -> String {
    let mut engine = HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    engine.input(password);
    Hmac::<sha256::Hash>::from_engine(engine)
        .to_byte_array()
        .to_lower_hex_string()
}

/// Whether `given` equals `expected`, in time that depends on the length of `given` only, not
/// on where the two differ: Core's `TimingResistantEqual` (util/strencodings.h), which takes
/// time proportional to its first argument. Pass what the client sent first, so that the time
/// says nothing about the length of the secret.
fn timing_resistant_equal(given: &[u8], expected: &[u8]) -> bool {
    if expected.is_empty() {
        return given.is_empty();
    }
    let mut accumulator = given.len() ^ expected.len();
    for (i, &byte) in given.iter().enumerate() {
        // `black_box` keeps the optimiser from ending the loop at the first difference.
        accumulator =
            std::hint::black_box(accumulator | usize::from(byte ^ expected[i % expected.len()]));
    }
    accumulator == 0
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("logins", &self.logins)
            .finish()
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.proof {
            Proof::Password {
                kind: PlainKind::UserPassword,
                ..
            } => "rpcuser/rpcpassword",
            Proof::Password {
                kind: PlainKind::Cookie,
                ..
            } => "cookie",
            Proof::Rpcauth { .. } => "rpcauth",
        };
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// What [`Credentials::check`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The request has no `Authorization` header: answer 401 with
    /// [`WWW_AUTHENTICATE`] at once (Core's `HTTPReq_JSONRPC`, httprpc.cpp).
    Missing,
    /// The header does not log in: wait [`FAILED_LOGIN_DELAY`], then answer 401 with
    /// [`WWW_AUTHENTICATE`] (Core's `HTTPReq_JSONRPC`, httprpc.cpp).
    Refused,
    /// The header logs in.
    Accepted {
        /// The login's user name, Core's `JSONRPCRequest::authUser` ([`COOKIE_USER`] for the
        /// cookie).
        user: String,
    },
}

/// A login the operator configured that cannot be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// An rpcauth line that is not of the form `USER:SALT$HASH`. The message never includes
    /// the line, whose hash would let a reader of the log guess the password offline.
    #[error(
        "invalid rpcauth entry ({problem}): expected USER:SALT$HASH with a 64-digit lowercase \
         hex HASH, as printed by Bitcoin Core's share/rpcauth/rpcauth.py (without \"rpcauth=\")"
    )]
    MalformedRpcauth {
        /// What is wrong with it.
        problem: &'static str,
    },
}

#[cfg(test)]
mod tests;
