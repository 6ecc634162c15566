//! Who may use the JSON-RPC server of the built binaries, and where it listens, end to end over
//! real sockets with a node running alone on regtest (no peer needed):
//!
//! - Cookie (no `--rpc-user`): `<datadir>/regtest/.cookie` holds `__cookie__:<64 hex>` with
//!   mode 0600, logs in (by hand and through `bitcoincore-rpc`'s `Auth::CookieFile`), a wrong
//!   secret does not, and the file is gone after a SIGTERM exit; for both binaries.
//! - `--rpc-user`/`--rpc-password`: the right login works; a wrong password or a wrong user is
//!   answered 401 with `WWW-Authenticate: Basic realm="jsonrpc"` no sooner than Core's 250 ms
//!   deterrent; a request with no `Authorization` at all gets its 401 at once; no cookie file
//!   is written.
//! - `--rpc-auth`: Core's own vector (test/functional/rpc_users.py) logs in as `rt`; a
//!   malformed line stops the binary with a one-line error naming the flag.
//! - `--no-rpc`: nothing listens on the RPC port. A second node on a port already taken exits
//!   with a one-line error naming the port and the flags to change.
//! - REST: 404 without `--rest`; with it, served with no login while `/` still wants one.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitcoincore_rpc::{Auth, Client, RpcApi};
use serde_json::json;
use support::bcoin::free_port;
use support::headway::{
    assert_one_line_error, run_bounded, wait_for, HeadwayProcess, HEADWAY_ASYNC_STD, HEADWAY_MIO,
};
use support::http::{basic_auth, get, rpc_listening, rpc_post, rpc_result, Response};
use support::load::REGTEST_GENESIS;

/// How long a node may take to start listening.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM.
const EXIT_WAIT: Duration = Duration::from_secs(30);
/// How long a binary that must refuse to start may run.
const REFUSAL_WAIT: Duration = Duration::from_secs(30);
/// Core's wait before answering a wrong login (`HTTPReq_JSONRPC`: "Deter brute-forcing").
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(250);
/// A request without credentials is refused at once: the best of a few tries must be well
/// under [`FAILED_LOGIN_DELAY`].
const PROMPT_REFUSAL: Duration = Duration::from_millis(150);
/// Tries for [`PROMPT_REFUSAL`] (the best one counts, so a scheduling hiccup does not fail it).
const PROMPT_TRIES: usize = 3;
/// The `WWW-Authenticate` value of Core's 401 (`WWW_AUTH_HEADER_DATA`).
const WWW_AUTHENTICATE: &str = "Basic realm=\"jsonrpc\"";

/// Core's rpcauth test vector (test/functional/rpc_users.py): user `rt`, this line, this
/// password.
const CORE_RPCAUTH: &str =
    "rt:93648e835a54c573682c2eb19f882535$7681e9c5b74bdd85e78166031d2058e1069b3ed7ed967c93fc63abba06f31144";
const CORE_RPCAUTH_PASSWORD: &str = "cA773lm788buwYe4g4WT+05pKyNruVKjQ25x3n0DQcM=";

/// The regtest genesis header, serialized, in hex.
const GENESIS_HEADER_HEX: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000";

/// A node's data directory and the path of its cookie.
struct Dirs {
    tmp: tempfile::TempDir,
    datadir: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let datadir = tmp.path().join("data");
        Dirs { tmp, datadir }
    }

    fn datadir(&self) -> &str {
        self.datadir.to_str().expect("UTF-8 temp path")
    }

    fn cookie(&self) -> PathBuf {
        self.datadir.join("regtest").join(".cookie")
    }

    fn logs(&self) -> &Path {
        self.tmp.path()
    }
}

/// Starts `bin` alone on regtest with its RPC on a free port plus `extra` flags, and waits
/// until it says it listens there.
fn start(bin: &'static str, dirs: &Dirs, extra: &[&str]) -> (HeadwayProcess, SocketAddr) {
    let port = free_port().to_string();
    let mut args = vec![
        "--network",
        "regtest",
        "--datadir",
        dirs.datadir(),
        "--rpc-port",
        &port,
    ];
    args.extend_from_slice(extra);
    let node = HeadwayProcess::start(bin, &args, dirs.logs(), "headway");
    let addr = rpc_listening(&node, START_WAIT);
    assert_eq!(addr.port().to_string(), port, "listens on --rpc-port");
    (node, addr)
}

/// Asserts the 401 of a refused login.
fn assert_unauthorized(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some(WWW_AUTHENTICATE),
        "{what}: {:?}",
        response.headers
    );
}

fn cookie_logs_in_and_is_removed_at_exit(bin: &'static str) {
    let dirs = Dirs::new();
    let (mut node, addr) = start(bin, &dirs, &[]);
    let path = dirs.cookie();
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; log:\n{}", path.display(), node.log()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "cookie mode {mode:o}");
    let content = std::fs::read_to_string(&path).expect("read the cookie");
    let secret = content
        .strip_prefix("__cookie__:")
        .unwrap_or_else(|| panic!("cookie {content:?} does not start with __cookie__:"));
    assert_eq!(secret.len(), 64, "{content:?}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "not lowercase hex, or a trailing newline: {content:?}"
    );

    let login = basic_auth("__cookie__", secret);
    assert_eq!(
        rpc_result(addr, &login, "getblockcount", json!([])),
        json!(0)
    );
    let client = Client::new(&format!("http://{addr}"), Auth::CookieFile(path.clone()))
        .expect("a client from the cookie file");
    assert_eq!(
        client.get_block_count().expect("getblockcount"),
        0,
        "bitcoincore-rpc logs in with the cookie file"
    );
    let mut wrong = secret.to_string();
    let flipped = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(63.., flipped);
    let refused = rpc_post(
        addr,
        Some(&basic_auth("__cookie__", &wrong)),
        "getblockcount",
        json!([]),
    );
    assert_unauthorized(&refused, "a wrong cookie secret");

    let status = node.terminate(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "log:\n{}", node.log());
    assert!(!path.exists(), "the cookie outlived the node");
}

#[test]
fn headway_mio_cookie_logs_in_and_is_removed_at_exit() {
    cookie_logs_in_and_is_removed_at_exit(HEADWAY_MIO);
}

#[test]
fn headway_async_std_cookie_logs_in_and_is_removed_at_exit() {
    cookie_logs_in_and_is_removed_at_exit(HEADWAY_ASYNC_STD);
}

#[test]
fn user_and_password_log_in_and_wrong_ones_wait_before_their_401() {
    let dirs = Dirs::new();
    let (mut node, addr) = start(
        HEADWAY_MIO,
        &dirs,
        &["--rpc-user", "alice", "--rpc-password", "s3cret"],
    );
    assert!(
        !dirs.cookie().exists(),
        "a cookie was written although a password was given"
    );

    let good = basic_auth("alice", "s3cret");
    let hash = rpc_result(addr, &good, "getbestblockhash", json!([]));
    assert_eq!(hash, json!(REGTEST_GENESIS));
    let client = Client::new(
        &format!("http://{addr}"),
        Auth::UserPass("alice".into(), "s3cret".into()),
    )
    .expect("client");
    assert_eq!(
        client
            .get_best_block_hash()
            .expect("getbestblockhash")
            .to_string(),
        REGTEST_GENESIS
    );

    for (user, password, what) in [
        ("alice", "s3cre", "a wrong password"),
        ("alice", "", "an empty password"),
        ("bob", "s3cret", "a wrong user"),
    ] {
        let refused = rpc_post(
            addr,
            Some(&basic_auth(user, password)),
            "getblockcount",
            json!([]),
        );
        assert_unauthorized(&refused, what);
        assert!(
            refused.elapsed >= FAILED_LOGIN_DELAY,
            "{what} refused after only {:?}",
            refused.elapsed
        );
    }
    // A client that is not a Core client's HTTP library at all: not basic auth.
    let refused = rpc_post(addr, Some("Bearer s3cret"), "getblockcount", json!([]));
    assert_unauthorized(&refused, "a non-basic scheme");
    let client = Client::new(
        &format!("http://{addr}"),
        Auth::UserPass("alice".into(), "wrong".into()),
    )
    .expect("client");
    assert!(
        client.get_block_count().is_err(),
        "bitcoincore-rpc with a wrong password got an answer"
    );

    let fastest = (0..PROMPT_TRIES)
        .map(|_| {
            let refused = rpc_post(addr, None, "getblockcount", json!([]));
            assert_unauthorized(&refused, "no Authorization header");
            refused.elapsed
        })
        .min()
        .expect("at least one try");
    assert!(
        fastest < PROMPT_REFUSAL,
        "a request without credentials took {fastest:?} to refuse"
    );

    assert_eq!(node.terminate(EXIT_WAIT).code(), Some(0));
}

#[test]
fn cores_rpcauth_vector_logs_in_as_rt() {
    let dirs = Dirs::new();
    let (mut node, addr) = start(HEADWAY_MIO, &dirs, &["--rpc-auth", CORE_RPCAUTH]);
    let good = basic_auth("rt", CORE_RPCAUTH_PASSWORD);
    assert_eq!(
        rpc_result(addr, &good, "getblockcount", json!([])),
        json!(0)
    );
    let client = Client::new(
        &format!("http://{addr}"),
        Auth::UserPass("rt".into(), CORE_RPCAUTH_PASSWORD.into()),
    )
    .expect("client");
    assert_eq!(client.get_block_count().expect("getblockcount"), 0);
    // Core's functional test also tries the password with one more character, and the user
    // with another name.
    let longer = format!("{CORE_RPCAUTH_PASSWORD}x");
    for (user, password) in [("rt", longer.as_str()), ("rt2", CORE_RPCAUTH_PASSWORD)] {
        let refused = rpc_post(
            addr,
            Some(&basic_auth(user, password)),
            "getblockcount",
            json!([]),
        );
        assert_unauthorized(&refused, &format!("{user}:{password}"));
        assert!(refused.elapsed >= FAILED_LOGIN_DELAY);
    }
    // An rpcauth line alone leaves the cookie on, as in Core.
    assert!(dirs.cookie().exists(), "no cookie beside the rpcauth login");
    assert_eq!(node.terminate(EXIT_WAIT).code(), Some(0));
}

#[test]
fn a_malformed_rpcauth_line_is_a_one_line_error() {
    let dirs = Dirs::new();
    let port = free_port().to_string();
    for bad in [
        "rt",
        "rt:93648e835a54c573682c2eb19f882535",
        "rt:salt$7681E9C5B74BDD85E78166031D2058E1069B3ED7ED967C93FC63ABBA06F31144",
        "rt:salt$abc",
    ] {
        let out = run_bounded(
            HEADWAY_MIO,
            &[
                "--network",
                "regtest",
                "--datadir",
                dirs.datadir(),
                "--rpc-port",
                &port,
                "--rpc-auth",
                bad,
            ],
            REFUSAL_WAIT,
        );
        assert_one_line_error(&out, &["--rpc-auth"]);
    }
    assert!(
        !dirs.cookie().exists(),
        "a refused start left a cookie behind"
    );
}

#[test]
fn no_rpc_listens_nowhere() {
    let dirs = Dirs::new();
    let port = free_port();
    let port_text = port.to_string();
    let mut node = HeadwayProcess::start(
        HEADWAY_MIO,
        &[
            "--network",
            "regtest",
            "--datadir",
            dirs.datadir(),
            "--no-rpc",
            "--rpc-port",
            &port_text,
        ],
        dirs.logs(),
        "headway",
    );
    // The API server, when on, is up before the node logs how it discovers peers.
    wait_for(
        START_WAIT,
        "the node to start",
        || node.log().contains("discovering peers").then_some(()),
        || node.log(),
    );
    node.assert_running();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let connected = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(
        connected.is_err(),
        "something listens on {addr} with --no-rpc"
    );
    assert!(
        !node.log().contains("RPC server listening"),
        "{}",
        node.log()
    );
    assert!(!dirs.cookie().exists(), "a cookie with --no-rpc");
    assert_eq!(node.terminate(EXIT_WAIT).code(), Some(0));
}

#[test]
fn a_second_node_on_a_taken_rpc_port_exits_naming_it() {
    let first_dirs = Dirs::new();
    let (mut first, addr) = start(HEADWAY_MIO, &first_dirs, &[]);
    let port = addr.port().to_string();
    let second_dirs = Dirs::new();
    // Logging off: what is left on standard error is the error itself.
    for log_level in ["off", "info"] {
        let out = run_bounded(
            HEADWAY_MIO,
            &[
                "--network",
                "regtest",
                "--datadir",
                second_dirs.datadir(),
                "--rpc-port",
                &port,
                "--log-level",
                log_level,
            ],
            REFUSAL_WAIT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        if log_level == "off" {
            assert_one_line_error(&out, &[&addr.to_string(), "--rpc-port"]);
        } else {
            assert!(!out.status.success(), "{stderr}");
            let last = stderr.trim_end().lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: ") && last.contains(&addr.to_string()),
                "last line {last:?} of {stderr}"
            );
        }
        assert!(
            !second_dirs.cookie().exists(),
            "the refused node left its cookie"
        );
    }
    // The first node is untouched: still serving, its cookie still there.
    first.assert_running();
    let secret = std::fs::read_to_string(first_dirs.cookie()).expect("first node's cookie");
    let (user, password) = secret.split_once(':').expect("user:secret");
    assert_eq!(
        rpc_result(
            addr,
            &basic_auth(user, password),
            "getblockcount",
            json!([])
        ),
        json!(0)
    );
    assert_eq!(first.terminate(EXIT_WAIT).code(), Some(0));
}

#[test]
fn rest_is_off_by_default_and_needs_no_login_when_on() {
    let chaininfo = "/rest/chaininfo.json";
    let headers = format!("/rest/headers/{REGTEST_GENESIS}.hex?count=1");

    let dirs = Dirs::new();
    let (mut node, addr) = start(HEADWAY_MIO, &dirs, &[]);
    for target in [chaininfo, headers.as_str()] {
        let response = get(addr, target);
        assert_eq!(response.status, 404, "{target} without --rest");
        assert!(response.body.is_empty(), "{target}: {}", response.text());
    }
    assert_eq!(node.terminate(EXIT_WAIT).code(), Some(0));

    let dirs = Dirs::new();
    let (mut node, addr) = start(HEADWAY_MIO, &dirs, &["--rest"]);
    let info = get(addr, chaininfo);
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.header("Content-Type"), Some("application/json"));
    let info = info.json();
    assert_eq!(info["chain"], "regtest");
    assert_eq!(info["blocks"], 0);
    assert_eq!(info["bestblockhash"], REGTEST_GENESIS);
    let header = get(addr, &headers);
    assert_eq!(header.status, 200);
    assert_eq!(header.text(), format!("{GENESIS_HEADER_HEX}\n"));
    // JSON-RPC on the same port still wants a login.
    assert_unauthorized(
        &rpc_post(addr, None, "getblockcount", json!([])),
        "JSON-RPC with --rest",
    );
    assert_eq!(node.terminate(EXIT_WAIT).code(), Some(0));
}
