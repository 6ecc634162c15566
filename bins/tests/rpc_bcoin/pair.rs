//! The fixture every test here runs on: bcoin with a chain and a headway node synced from it
//! over `--connect`, RPC and REST on a free port, logged in with a user and password or with
//! the cookie; headway's and bcoin's answers and errors, and both logs for failure messages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoincore_rpc::{Auth, Client};
use serde_json::{json, Value};

use crate::support::bcoin::{free_port, Bcoin};
use crate::support::headway::{wait_for, HeadwayProcess};
use crate::support::http::{basic_auth, rpc_listening, rpc_post, rpc_result};

/// Liveness bounds (a stuck node fails the test instead of hanging it).
const START_WAIT: Duration = Duration::from_secs(30);
const SYNC_WAIT: Duration = Duration::from_secs(120);
pub const EXIT_WAIT: Duration = Duration::from_secs(20);

/// The RPC password of the user/password nodes.
const PASSWORD: &str = "correct horse battery staple";

/// How a test logs in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// `--rpc-user`/`--rpc-password`.
    UserPassword,
    /// The `.cookie` file headway writes.
    Cookie,
}

/// bcoin with a chain and a headway node synced from it, RPC and REST on a free port.
pub struct Pair {
    pub bcoin: Bcoin,
    pub node: HeadwayProcess,
    _tmp: tempfile::TempDir,
    pub datadir: PathBuf,
    pub addr: SocketAddr,
    authorization: String,
    auth: Auth,
    pub started: Instant,
}

impl Pair {
    pub fn start(bin: &'static str, blocks: u64, login: Login) -> Pair {
        let bcoin = Bcoin::start();
        bcoin.mine(u32::try_from(blocks).expect("a small chain"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let datadir = tmp.path().join("data");
        let connect = bcoin.p2p_addr().to_string();
        let port = free_port().to_string();
        let mut args = vec![
            "--network",
            "regtest",
            "--connect",
            &connect,
            "--datadir",
            datadir.to_str().expect("UTF-8 temp path"),
            "--rest",
            "--rpc-port",
            &port,
        ];
        if login == Login::UserPassword {
            args.extend(["--rpc-user", "headway-test", "--rpc-password", PASSWORD]);
        }
        let started = Instant::now();
        let node = HeadwayProcess::start(bin, &args, tmp.path(), "headway");
        let addr = rpc_listening(&node, START_WAIT);
        let cookie = datadir.join("regtest").join(".cookie");
        let (authorization, auth) = match login {
            Login::UserPassword => (
                basic_auth("headway-test", PASSWORD),
                Auth::UserPass("headway-test".into(), PASSWORD.into()),
            ),
            Login::Cookie => {
                let text = std::fs::read_to_string(&cookie)
                    .unwrap_or_else(|e| panic!("{}: {e}; log:\n{}", cookie.display(), node.log()));
                let (user, secret) = text.split_once(':').expect("cookie is user:secret");
                (basic_auth(user, secret), Auth::CookieFile(cookie))
            }
        };
        let pair = Pair {
            bcoin,
            node,
            _tmp: tmp,
            datadir,
            addr,
            authorization,
            auth,
            started,
        };
        pair.wait_synced();
        pair
    }

    pub fn datadir(&self) -> &str {
        self.datadir.to_str().expect("UTF-8 temp path")
    }

    /// The end of both logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "headway log (end):\n{}\nbcoin log (end):\n{}",
            tail(self.node.log()),
            tail(self.bcoin.log())
        )
    }

    /// headway's `result` for `method`.
    pub fn hw(&self, method: &str, params: Value) -> Value {
        rpc_result(self.addr, &self.authorization, method, params)
    }

    /// headway's `error` for `method`, which must fail.
    pub fn hw_error(&self, method: &str, params: Value) -> Value {
        let response = rpc_post(self.addr, Some(&self.authorization), method, params);
        let value = response.json();
        assert!(
            !value["error"].is_null(),
            "headway {method} did not fail: {value}"
        );
        value["error"].clone()
    }

    /// bcoin's `error` for `method`, which must fail.
    pub fn bcoin_error(&self, method: &str, params: Value) -> Value {
        match self.bcoin.try_rpc(method, params) {
            Ok(value) => panic!("bcoin {method} did not fail: {value}"),
            Err(text) => {
                let start = text
                    .find('{')
                    .unwrap_or_else(|| panic!("no error object: {text}"));
                serde_json::from_str(&text[start..])
                    .unwrap_or_else(|e| panic!("bcoin error {text:?} is not JSON: {e}"))
            }
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.addr), self.auth.clone()).expect("an RPC client")
    }

    /// Waits until headway's best block is bcoin's.
    pub fn wait_synced(&self) {
        let best = self.bcoin.best_hash();
        wait_for(
            SYNC_WAIT,
            &format!("headway's best block to be bcoin's {best}"),
            || (self.hw("getbestblockhash", json!([])) == json!(best)).then_some(()),
            || self.logs(),
        );
    }

    pub fn bcoin_hash(&self, height: u64) -> String {
        self.bcoin
            .rpc("getblockhash", json!([height]))
            .as_str()
            .expect("bcoin's getblockhash is a string")
            .to_string()
    }
}
