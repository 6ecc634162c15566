//! The API server: one HTTP server ([`crate::http`]) routing `/` to JSON-RPC (after
//! authentication, as Core's `HTTPReq_JSONRPC`) and `/rest/` to REST when enabled (no
//! authentication, as Core's `-rest`), the cookie file for the life of the server, and the
//! per-network default ports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use headway_core::Network;
use tracing::{info, warn};

use crate::auth::{AuthOutcome, Credentials, FAILED_LOGIN_DELAY, WWW_AUTHENTICATE};
use crate::chain_json::blockchain_info_json;
use crate::cookie::AuthCookie;
use crate::http::{Handler, HttpRequest, HttpResponse, HttpServer, ServerConfig};
use crate::rest;
use crate::rpc::blockchain::now_secs;
use crate::rpc::RpcContext;

/// The JSON-RPC port of `network` when none is given: Core's port plus 10 (Core: 8332,
/// 18332, 48332, 38332, 18443), so that headway and Core run side by side on one machine
/// with their defaults; simnet takes btcd's simnet RPC port plus 10.
pub fn default_rpc_port(network: Network) -> u16 {
    match network {
        Network::Mainnet => 8342,
        Network::Testnet3 => 18342,
        Network::Testnet4 => 48342,
        Network::Signet => 38342,
        Network::Regtest => 18453,
        Network::Simnet => 18566,
    }
}

/// How to run the API server.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The HTTP server's addresses, threads, queue and limits.
    pub http: ServerConfig,
    /// Whether `/rest/` is served.
    pub rest: bool,
    /// The logins JSON-RPC accepts (rpcuser/rpcpassword, rpcauth lines).
    pub credentials: Credentials,
    /// Where to write the `.cookie` file, which adds the cookie's login; `None` for none.
    pub cookie_dir: Option<PathBuf>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The cookie file could not be written.
    #[error("cannot write the RPC cookie file in {dir}: {source}")]
    Cookie {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// An address could not be bound (in use, or not ours).
    #[error("cannot start the RPC server: {source} (choose another --rpc-port or --rpc-bind, or --no-rpc)")]
    Bind {
        /// The addresses asked for.
        addrs: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// No login is possible: no cookie and no credentials.
    #[error("RPC has no login: give --rpc-user and --rpc-password, an rpcauth line, or let it write a cookie")]
    NoLogin,
}

/// A running API server; stopping it (or dropping it) closes the ports and removes the cookie.
#[derive(Debug)]
pub struct ApiServer {
    http: Option<HttpServer>,
    cookie: Option<AuthCookie>,
}

struct Router {
    rpc: RpcContext,
    credentials: Credentials,
    rest: bool,
}

impl Handler for Router {
    fn handle(&self, request: HttpRequest) -> HttpResponse {
        let path = request.path();
        if path.starts_with("/rest/") {
            if !self.rest {
                // Core registers no REST handler without -rest: an unknown path.
                return HttpResponse::new(404, Vec::new());
            }
            let ctx = &self.rpc;
            return rest::handle(&ctx.chain, &request, || {
                ctx.chain.read(|r| {
                    blockchain_info_json(&ctx.chain, r, now_secs(), ctx.params.minimum_chain_work)
                })
            });
        }
        if path != "/" {
            return HttpResponse::new(404, Vec::new());
        }
        if request.method != "POST" {
            // Core's `HTTPReq_JSONRPC` checks the method before the login.
            return HttpResponse::new(405, "JSONRPC server handles only POST requests");
        }
        match self.credentials.check(request.header("authorization")) {
            AuthOutcome::Accepted { .. } => self.rpc.handle_http(&request),
            AuthOutcome::Missing => unauthorized(),
            AuthOutcome::Refused => {
                warn!(peer = %request.peer, "RPC: incorrect password attempt");
                // Core's deterrent against brute force (`HTTPReq_JSONRPC`).
                thread::sleep(FAILED_LOGIN_DELAY);
                unauthorized()
            }
        }
    }
}

fn unauthorized() -> HttpResponse {
    HttpResponse::new(401, Vec::new()).header("WWW-Authenticate", WWW_AUTHENTICATE)
}

impl ApiServer {
    /// Writes the cookie (if asked), binds the addresses and starts serving `rpc`.
    pub fn start(config: ApiConfig, rpc: RpcContext) -> Result<ApiServer, ApiError> {
        let mut credentials = config.credentials;
        let cookie = match &config.cookie_dir {
            Some(dir) => {
                let cookie = AuthCookie::create(dir).map_err(|source| ApiError::Cookie {
                    dir: dir.clone(),
                    source,
                })?;
                credentials.allow_cookie(cookie.secret());
                Some(cookie)
            }
            None => None,
        };
        if credentials.is_empty() {
            return Err(ApiError::NoLogin);
        }
        let addrs = config
            .http
            .bind
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let router = Router {
            rpc,
            credentials,
            rest: config.rest,
        };
        let http = HttpServer::start(config.http, Arc::new(router))
            .map_err(|source| ApiError::Bind { addrs, source })?;
        for addr in http.local_addrs() {
            info!(%addr, rest = config.rest, "RPC server listening");
        }
        Ok(ApiServer {
            http: Some(http),
            cookie,
        })
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.http
            .as_ref()
            .map(HttpServer::local_addrs)
            .unwrap_or_default()
    }

    /// The cookie file, if one was written.
    pub fn cookie_path(&self) -> Option<&std::path::Path> {
        self.cookie.as_ref().map(AuthCookie::path)
    }

    /// Stops serving (requests being answered finish first) and removes the cookie.
    pub fn stop(mut self) {
        if let Some(http) = self.http.take() {
            http.stop();
        }
        self.cookie = None;
    }
}
