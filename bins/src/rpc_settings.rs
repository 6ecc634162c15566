//! The RPC and REST part of the settings: whether the API server runs, where it listens,
//! who may log in, and its worker pool, combined as the rest of [`crate::config`] does
//! (command line over file over defaults). Names follow Bitcoin Core's (`-rpcbind`,
//! `-rpcport`, `-rpcuser`, `-rpcpassword`, `-rpcauth`, `-rpcthreads`, `-rpcworkqueue`,
//! `-rpcservertimeout`, `-rest`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use headway_api::auth::Credentials;
use headway_api::default_rpc_port;
use headway_api::http::{
    DEFAULT_HTTP_SERVER_TIMEOUT, DEFAULT_HTTP_THREADS, DEFAULT_HTTP_WORKQUEUE,
};
use headway_core::Network;

use crate::cli::RpcArgs;
use crate::config::{resolve_addr, FileConfig};

/// How the API server runs.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// Whether it runs at all (off with `--no-rpc`).
    pub enabled: bool,
    /// The addresses it listens on (default: 127.0.0.1 on the network's RPC port).
    pub bind: Vec<SocketAddr>,
    /// The logins from rpcuser/rpcpassword and rpcauth lines.
    pub credentials: Credentials,
    /// Whether a cookie file is written: as Core, unless a password was given.
    pub cookie: bool,
    /// Worker threads.
    pub threads: usize,
    /// Requests that may wait for a worker before 503.
    pub work_queue: usize,
    /// How long a client has to send a request or read its answer.
    pub timeout: Duration,
    /// Whether `/rest/` is served.
    pub rest: bool,
}

impl PartialEq for RpcSettings {
    fn eq(&self, other: &RpcSettings) -> bool {
        // Logins are compared by what they print (user names and kinds), never by secrets.
        self.enabled == other.enabled
            && self.bind == other.bind
            && format!("{:?}", self.credentials) == format!("{:?}", other.credentials)
            && self.cookie == other.cookie
            && self.threads == other.threads
            && self.work_queue == other.work_queue
            && self.timeout == other.timeout
            && self.rest == other.rest
    }
}

impl Eq for RpcSettings {}

impl RpcSettings {
    /// Resolves the RPC settings for `network`; errors are one line naming the flag or key.
    pub fn resolve(cli: &RpcArgs, file: &FileConfig, network: Network) -> anyhow::Result<Self> {
        let enabled = !cli.no_rpc && file.rpc.unwrap_or(true);
        let port = cli
            .rpc_port
            .or(file.rpc_port)
            .unwrap_or_else(|| default_rpc_port(network));
        let binds: Vec<String> = if !cli.rpc_bind.is_empty() {
            cli.rpc_bind.clone()
        } else {
            file.rpc_bind.clone().unwrap_or_default()
        };
        let bind = if binds.is_empty() {
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]
        } else {
            binds
                .iter()
                .map(|b| resolve_addr(b, port))
                .collect::<anyhow::Result<Vec<_>>>()
                .context(if cli.rpc_bind.is_empty() {
                    "key `rpc_bind`"
                } else {
                    "--rpc-bind"
                })?
        };
        let user = cli.rpc_user.clone().or_else(|| file.rpc_user.clone());
        let password = cli
            .rpc_password
            .clone()
            .or_else(|| file.rpc_password.clone());
        let mut credentials = Credentials::new();
        let cookie = match (user, password) {
            (Some(user), Some(password)) if !password.is_empty() => {
                credentials.allow_user_password(&user, &password);
                false
            }
            (None, None) => true,
            (Some(_), None) | (Some(_), Some(_)) => {
                bail!("--rpc-user needs a non-empty --rpc-password (or give neither and use the cookie file)")
            }
            (None, Some(_)) => bail!("--rpc-password needs --rpc-user"),
        };
        let auth_lines: Vec<String> = if !cli.rpc_auth.is_empty() {
            cli.rpc_auth.clone()
        } else {
            file.rpc_auth.clone().unwrap_or_default()
        };
        for line in &auth_lines {
            credentials
                .allow_rpcauth(line)
                .context(if cli.rpc_auth.is_empty() {
                    "key `rpc_auth`"
                } else {
                    "--rpc-auth"
                })?;
        }
        let positive = |value: Option<usize>, what: &str, default: usize| match value {
            Some(0) => bail!("{what} must be at least 1"),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let threads = positive(
            cli.rpc_threads.or(file.rpc_threads),
            "--rpc-threads",
            DEFAULT_HTTP_THREADS,
        )?;
        let work_queue = positive(
            cli.rpc_work_queue.or(file.rpc_work_queue),
            "--rpc-work-queue",
            DEFAULT_HTTP_WORKQUEUE,
        )?;
        let timeout = match cli.rpc_timeout.or(file.rpc_timeout_secs) {
            Some(0) => bail!("--rpc-timeout must be at least 1 second"),
            Some(secs) => Duration::from_secs(secs),
            None => DEFAULT_HTTP_SERVER_TIMEOUT,
        };
        Ok(RpcSettings {
            enabled,
            bind,
            credentials,
            cookie,
            threads,
            work_queue,
            timeout,
            rest: cli.rest || file.rest.unwrap_or(false),
        })
    }

    /// Whether any listening address is reachable from other machines.
    pub fn exposed(&self) -> bool {
        self.bind.iter().any(|a| !a.ip().is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cli: RpcArgs, file: &str) -> anyhow::Result<RpcSettings> {
        RpcSettings::resolve(&cli, &FileConfig::parse(file).unwrap(), Network::Regtest)
    }

    #[test]
    fn defaults_are_loopback_on_our_port_with_a_cookie() {
        let s = resolve(RpcArgs::default(), "").unwrap();
        assert!(s.enabled && s.cookie && !s.rest && !s.exposed());
        assert_eq!(s.bind, vec!["127.0.0.1:18453".parse().unwrap()]);
        assert_eq!((s.threads, s.work_queue), (16, 64));
        assert!(s.credentials.is_empty(), "only the cookie will log in");
    }

    #[test]
    fn flags_override_the_file() {
        let cli = RpcArgs {
            rpc_port: Some(9000),
            rpc_bind: vec!["0.0.0.0".into()],
            rpc_user: Some("u".into()),
            rpc_password: Some("p".into()),
            rest: true,
            ..RpcArgs::default()
        };
        let s = resolve(cli, "rpc_port = 1\nrpc_threads = 2\nrest = false\n").unwrap();
        assert_eq!(s.bind, vec!["0.0.0.0:9000".parse().unwrap()]);
        assert!(s.exposed() && s.rest && !s.cookie);
        assert_eq!(s.threads, 2);
        let off = resolve(RpcArgs::default(), "rpc = false\n").unwrap();
        assert!(!off.enabled);
    }

    #[test]
    fn bad_values_are_one_line_errors_naming_the_setting() {
        let half = RpcArgs {
            rpc_user: Some("u".into()),
            ..RpcArgs::default()
        };
        assert!(resolve(half, "")
            .unwrap_err()
            .to_string()
            .contains("--rpc-password"));
        let auth = RpcArgs {
            rpc_auth: vec!["nonsense".into()],
            ..RpcArgs::default()
        };
        let error = format!("{:#}", resolve(auth, "").unwrap_err());
        assert!(error.starts_with("--rpc-auth: "), "{error}");
        assert!(!error.contains('\n'));
        let zero = RpcArgs {
            rpc_threads: Some(0),
            ..RpcArgs::default()
        };
        assert!(resolve(zero, "").is_err());
    }
}
