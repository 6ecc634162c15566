//! Tests of [`super`].

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
