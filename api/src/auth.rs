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
mod tests {
    use super::*;

    /// Core's own vector, test/functional/rpc_users.py `conf_setup`: user `rt`, this rpcauth
    /// line, this password.
    const RT_RPCAUTH: &str = "rt:93648e835a54c573682c2eb19f882535$7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144";
    const RT_PASSWORD: &str = "cA773lm788buwYe4g4WT+05pKyNruVKjQ25x3n0DQcM=";

    /// rpc_users.py's "Check interactions between blank and non-blank rpcauth": password
    /// "bitcoin" for both.
    const USER1_RPCAUTH: &str = "user1:6dd184e5e69271fdd69103464630014f$eb3d7ce67c4d1ff3564270519b03b636c0291012692a5fa3dd1d2075daedd07b";
    const USER2_RPCAUTH: &str = "user2:57b2f77c919eece63cfa46c2f06e46ae$266b63902f99f97eeaab882d4a87f8667ab84435c3799f2ce042ef5a994d620b";

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    fn accepted(user: &str) -> AuthOutcome {
        AuthOutcome::Accepted {
            user: user.to_owned(),
        }
    }

    fn rpcauth(lines: &[&str]) -> Credentials {
        let mut credentials = Credentials::new();
        for line in lines {
            credentials
                .allow_rpcauth(line)
                .expect("a valid rpcauth line");
        }
        credentials
    }

    #[test]
    fn cores_rpcauth_vector_logs_in() {
        let credentials = rpcauth(&[RT_RPCAUTH]);
        let header = basic(&format!("rt:{RT_PASSWORD}"));
        assert_eq!(credentials.check(Some(&header)), accepted("rt"));
    }

    #[test]
    fn rpcauth_refuses_wrong_password_and_wrong_user() {
        // rpc_users.py `test_auth`: password + "wrong", user + "wrong", both.
        let credentials = rpcauth(&[RT_RPCAUTH]);
        for user_password in [
            format!("rt:{RT_PASSWORD}wrong"),
            format!("rtwrong:{RT_PASSWORD}"),
            format!("rtwrong:{RT_PASSWORD}wrong"),
            format!("RT:{RT_PASSWORD}"),
            format!("rt:{}", &RT_PASSWORD[..RT_PASSWORD.len() - 1]),
            "rt:".to_owned(),
        ] {
            assert_eq!(
                credentials.check(Some(&basic(&user_password))),
                AuthOutcome::Refused,
                "{user_password}"
            );
        }
    }

    #[test]
    fn several_rpcauth_users_each_log_in_as_themselves() {
        let credentials = rpcauth(&[RT_RPCAUTH, USER1_RPCAUTH, USER2_RPCAUTH]);
        assert_eq!(
            credentials.check(Some(&basic("user1:bitcoin"))),
            accepted("user1")
        );
        assert_eq!(
            credentials.check(Some(&basic("user2:bitcoin"))),
            accepted("user2")
        );
        assert_eq!(
            credentials.check(Some(&basic(&format!("rt:{RT_PASSWORD}")))),
            accepted("rt")
        );
        // One user's password is not another's.
        assert_eq!(
            credentials.check(Some(&basic(&format!("user1:{RT_PASSWORD}")))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn rpcauth_hash_is_rpcauth_py_hmac() {
        // The salt is keyed as its text, not its hex-decoded bytes.
        assert_eq!(
            rpcauth_hash("93648e835a54c573682c2eb19f882535", RT_PASSWORD.as_bytes()),
            "7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144"
        );
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            rpcauth_hash("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn user_password_logs_in_and_refuses_others() {
        let mut credentials = Credentials::new();
        // rpc_users.py's node 1: non-ASCII user and password.
        credentials.allow_user_password("rpcuser💻", "rpcpassword🔑");
        assert_eq!(
            credentials.check(Some(&basic("rpcuser💻:rpcpassword🔑"))),
            accepted("rpcuser💻")
        );
        for user_password in [
            "rpcuser💻:rpcpassword🔑wrong",
            "rpcuser💻wrong:rpcpassword🔑",
            "rpcuser💻wrong:rpcpassword🔑wrong",
            "rpcuser💻:",
            ":rpcpassword🔑",
            "rpcuser💻:rpcpassword",
        ] {
            assert_eq!(
                credentials.check(Some(&basic(user_password))),
                AuthOutcome::Refused,
                "{user_password}"
            );
        }
    }

    #[test]
    fn a_password_may_contain_colons() {
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "pa:ss:word");
        assert_eq!(
            credentials.check(Some(&basic("alice:pa:ss:word"))),
            accepted("alice")
        );
        // Split at the first ':': user "alice:pa" is not alice.
        let mut other = Credentials::new();
        other.allow_user_password("alice:pa", "ss:word");
        assert_eq!(
            other.check(Some(&basic("alice:pa:ss:word"))),
            AuthOutcome::Refused
        );
        // rpcauth too: rpcauth.py's HMAC of "a:b" with salt "s".
        let mut with_rpcauth = Credentials::new();
        let hash = rpcauth_hash("s", b"a:b");
        with_rpcauth
            .allow_rpcauth(&format!("carol:s${hash}"))
            .expect("valid");
        assert_eq!(
            with_rpcauth.check(Some(&basic("carol:a:b"))),
            accepted("carol")
        );
    }

    #[test]
    fn cookie_logs_in_as_cookie_user() {
        let secret = "ab".repeat(32);
        let mut credentials = Credentials::new();
        credentials.allow_cookie(&secret);
        assert_eq!(
            credentials.check(Some(&basic(&format!("__cookie__:{secret}")))),
            accepted(COOKIE_USER)
        );
        assert_eq!(
            credentials.check(Some(&basic(&format!("__cookie__:{}", "ab".repeat(31))))),
            AuthOutcome::Refused
        );
        assert_eq!(
            credentials.check(Some(&basic(&format!("cookie:{secret}")))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn all_kinds_together() {
        let mut credentials = rpcauth(&[RT_RPCAUTH]);
        credentials.allow_user_password("bob", "hunter2");
        credentials.allow_cookie("s3cret");
        assert_eq!(
            credentials.check(Some(&basic("bob:hunter2"))),
            accepted("bob")
        );
        assert_eq!(
            credentials.check(Some(&basic("__cookie__:s3cret"))),
            accepted("__cookie__")
        );
        assert_eq!(
            credentials.check(Some(&basic(&format!("rt:{RT_PASSWORD}")))),
            accepted("rt")
        );
        assert_eq!(
            credentials.check(Some(&basic("bob:s3cret"))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn missing_header_is_missing_even_with_no_logins() {
        assert_eq!(Credentials::new().check(None), AuthOutcome::Missing);
        assert_eq!(rpcauth(&[RT_RPCAUTH]).check(None), AuthOutcome::Missing);
    }

    #[test]
    fn no_logins_refuse_everything() {
        let credentials = Credentials::new();
        assert!(credentials.is_empty());
        assert_eq!(credentials.check(Some(&basic(":"))), AuthOutcome::Refused);
        assert_eq!(credentials.check(Some(&basic("a:b"))), AuthOutcome::Refused);
        assert_eq!(credentials.check(Some("")), AuthOutcome::Refused);
    }

    #[test]
    fn empty_credentials() {
        // Core adds no login for an empty rpcuser with an empty rpcpassword.
        let mut credentials = Credentials::new();
        credentials.allow_user_password("", "");
        assert!(credentials.is_empty());
        assert_eq!(credentials.check(Some(&basic(":"))), AuthOutcome::Refused);

        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "secret");
        assert!(!credentials.is_empty());
        for header in [
            "",
            "Basic",
            "Basic ",
            "Basic    ",
            "Basic Og==", // ":"
            &basic(""),
            &basic(":"),
            &basic("alice:"),
            &basic(":secret"),
            &basic("alice"),
        ] {
            assert_eq!(
                credentials.check(Some(header)),
                AuthOutcome::Refused,
                "{header:?}"
            );
        }

        // An empty password with a user is a login, as in Core.
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "");
        assert_eq!(credentials.check(Some(&basic("alice:"))), accepted("alice"));
        assert_eq!(
            credentials.check(Some(&basic("alice:x"))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn bad_base64_is_refused() {
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "secret");
        let good = base64::engine::general_purpose::STANDARD.encode("alice:secret");
        assert_eq!(
            credentials.check(Some(&format!("Basic {good}"))),
            accepted("alice")
        );
        for encoded in [
            "!!!!".to_owned(),
            format!("{good}="),
            format!("{good}A"),
            good.trim_end_matches('=').to_owned() + "x",
            format!("{} {}", &good[..4], &good[4..]),
            // The URL-safe alphabet is not Core's.
            base64::engine::general_purpose::URL_SAFE.encode("alice:secret?>"),
        ] {
            assert_eq!(
                credentials.check(Some(&format!("Basic {encoded}"))),
                AuthOutcome::Refused,
                "{encoded}"
            );
        }
        // Unpadded base64 of a length that needs padding is refused, as Core's DecodeBase64.
        let mut short = Credentials::new();
        short.allow_user_password("al", "x");
        let padded = base64::engine::general_purpose::STANDARD.encode("al:x");
        assert!(padded.ends_with('='));
        assert_eq!(
            short.check(Some(&format!("Basic {padded}"))),
            accepted("al")
        );
        assert_eq!(
            short.check(Some(&format!("Basic {}", padded.trim_end_matches('=')))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn whitespace_around_the_base64_is_trimmed() {
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "secret");
        let good = base64::engine::general_purpose::STANDARD.encode("alice:secret");
        for header in [
            format!("Basic  {good}"),
            format!("Basic {good} "),
            format!("Basic \t{good}\r\n"),
            format!("Basic \x0b\x0c{good}\x0b\x0c"),
        ] {
            assert_eq!(
                credentials.check(Some(&header)),
                accepted("alice"),
                "{header:?}"
            );
        }
        // No space after "Basic" is not Core's prefix.
        assert_eq!(
            credentials.check(Some(&format!("Basic\t{good}"))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn other_schemes_are_refused() {
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "secret");
        let good = base64::engine::general_purpose::STANDARD.encode("alice:secret");
        for header in [
            format!("Bearer {good}"),
            format!("Digest {good}"),
            // Core compares the scheme case-sensitively.
            format!("basic {good}"),
            format!("BASIC {good}"),
            format!(" Basic {good}"),
            good.clone(),
        ] {
            assert_eq!(
                credentials.check(Some(&header)),
                AuthOutcome::Refused,
                "{header:?}"
            );
        }
    }

    #[test]
    fn non_utf8_passwords_are_compared_as_bytes() {
        let mut credentials = Credentials::new();
        credentials.allow_user_password("alice", "secret");
        let mut raw = b"alice:secret".to_vec();
        raw.push(0xff);
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&raw)
        );
        assert_eq!(credentials.check(Some(&header)), AuthOutcome::Refused);
    }

    #[test]
    fn malformed_rpcauth_lines_are_errors_naming_the_form() {
        // rpc_users.py "Check malformed -rpcauth" and "Empty -rpcauth are treated as error".
        for line in [
            "",
            "\"\"",
            "foo",
            "foo:bar",
            "foo:bar:baz",
            "foo$bar:baz",
            "foo$bar$baz",
            // Ours: a hash that can never match.
            "foo:salt$",
            "foo:salt$7681E9C5B74BDD85E78166031D2058E1069B3ED7ED967C93FC63ABBA06F31144",
            "foo:salt$7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f3114",
            "foo:salt$7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144 ",
            "foo:s$a$lt",
            "rpcauth=rt:93648e835a54c573682c2eb19f882535$7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144x",
        ] {
            let mut credentials = Credentials::new();
            let error = credentials
                .allow_rpcauth(line)
                .expect_err(&format!("{line:?} is malformed"));
            assert!(matches!(error, AuthError::MalformedRpcauth { .. }));
            let message = error.to_string();
            assert!(message.contains("USER:SALT$HASH"), "{message}");
            assert!(message.contains("rpcauth.py"), "{message}");
            assert!(credentials.is_empty(), "{line:?}");
        }
    }

    #[test]
    fn rpcauth_lines_split_as_core_does() {
        // The user name may contain '$' (only the part after ':' is split at '$'), and an
        // empty user or salt is accepted, as Core's InitRPCAuthentication accepts them.
        let hash = rpcauth_hash("salt", b"pw");
        let mut credentials = Credentials::new();
        credentials
            .allow_rpcauth(&format!("d$ve:salt${hash}"))
            .expect("valid");
        assert_eq!(credentials.check(Some(&basic("d$ve:pw"))), accepted("d$ve"));

        let empty_salt_hash = rpcauth_hash("", b"pw");
        let mut credentials = Credentials::new();
        credentials
            .allow_rpcauth(&format!(":${empty_salt_hash}"))
            .expect("valid");
        assert_eq!(credentials.check(Some(&basic(":pw"))), accepted(""));
        assert_eq!(
            credentials.check(Some(&basic(":pw2"))),
            AuthOutcome::Refused
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut credentials = rpcauth(&[RT_RPCAUTH]);
        credentials.allow_user_password("bob", "hunter2");
        credentials.allow_cookie("c00k1e5ecret");
        let debug = format!("{credentials:?}");
        for secret in [
            "hunter2",
            "c00k1e5ecret",
            "93648e835a54c573682c2eb19f882535",
            "7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        for shown in [
            "rt",
            "bob",
            "__cookie__",
            "rpcauth",
            "cookie",
            "rpcuser/rpcpassword",
        ] {
            assert!(debug.contains(shown), "{debug}");
        }
    }

    #[test]
    fn timing_resistant_equal_is_equality() {
        assert!(timing_resistant_equal(b"", b""));
        assert!(timing_resistant_equal(b"abc", b"abc"));
        assert!(!timing_resistant_equal(b"abc", b"abd"));
        assert!(!timing_resistant_equal(b"abc", b"ab"));
        assert!(!timing_resistant_equal(b"ab", b"abc"));
        assert!(!timing_resistant_equal(b"", b"a"));
        assert!(!timing_resistant_equal(b"a", b""));
        // A repetition of the expected value is not equal to it, though the loop wraps.
        assert!(!timing_resistant_equal(b"abcabc", b"abc"));
        assert!(!timing_resistant_equal(b"\x00", b"\x00\x00"));
    }

    #[test]
    fn delay_and_header_are_cores() {
        assert_eq!(FAILED_LOGIN_DELAY, Duration::from_millis(250));
        assert_eq!(WWW_AUTHENTICATE, r#"Basic realm="jsonrpc""#);
    }
}
