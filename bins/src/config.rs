//! The node's settings: the TOML file format, its one-line error messages, and how the command
//! line, the file and the defaults combine (command line over file over defaults).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bitcoin::Work;
use headway_core::{Network, Reachable};
use serde::Deserialize;

use crate::cli::RunArgs;
use crate::discovery_settings::DiscoverySettings;
use crate::proxy_settings::{
    refuse_seed_names_behind_proxy, resolve_peers, resolve_proxy, resolve_reachable, PeerName,
};
use crate::rpc_settings::RpcSettings;

/// Where data lives when neither the command line nor the file says: `./headway-data`.
pub const DEFAULT_DATADIR: &str = "headway-data";
/// The network joined when neither the command line nor the file says (as Bitcoin Core).
pub const DEFAULT_NETWORK: Network = Network::Mainnet;
/// The log filter when neither the command line, the file nor `RUST_LOG` says.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Most hex digits a chain work may have: 256 bits (Core's `uint256::FromUserHex`).
pub const MAX_CHAIN_WORK_HEX_DIGITS: usize = 64;

/// The config file as written: every key optional, unknown keys refused.
///
/// Values stay close to the text (strings for the network and addresses) so that a bad value
/// can be reported with the key that holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Network name (`mainnet`, `testnet3`, `testnet4`, `signet`, `regtest`, `simnet`).
    pub network: Option<String>,
    /// Peers to keep connections to: `host`, `host:port`, `ip`, `ip:port`.
    pub connect: Option<Vec<String>>,
    /// Address to accept inbound connections on.
    pub listen: Option<String>,
    /// Data directory; the store lives in `<datadir>/<network>/`.
    pub datadir: Option<PathBuf>,
    /// A `tracing` filter: `info`, `debug`, `headway_core=debug,info`, ...
    pub log_level: Option<String>,
    /// Seconds between our pings.
    pub ping_interval_secs: Option<u64>,
    /// Seconds a ping may stay unanswered before the peer is dropped.
    pub ping_timeout_secs: Option<u64>,
    /// Seconds a peer has to complete version/verack.
    pub handshake_timeout_secs: Option<u64>,
    /// Seed of the generator behind wire values (nonces, tie-breaks); never the secrets'.
    pub seed: Option<u64>,
    /// Replaces the network's minimum chain work: hex, as Core's `-minimumchainwork`.
    pub minimum_chain_work: Option<String>,
    /// `false`: ask no DNS seeds (Core's `-dnsseed=0`).
    pub dns_seed: Option<bool>,
    /// DNS seed host names, replacing the network's list.
    pub dns_seeds: Option<Vec<String>>,
    /// `false`: never fall back to the network's fixed seeds (Core's `-fixedseeds=0`).
    pub fixed_seeds: Option<bool>,
    /// Peers dialled once for addresses, then left (Core's `-seednode`).
    pub seednode: Option<Vec<String>>,
    /// Peers kept connected beside the automatic ones (Core's `-addnode`).
    pub addnode: Option<Vec<String>>,
    /// Automatic outbound connections.
    pub max_outbound: Option<usize>,
    /// Connections in total (Core's `-maxconnections`).
    pub max_connections: Option<usize>,
    /// `false`: no JSON-RPC server.
    pub rpc: Option<bool>,
    /// JSON-RPC listening addresses.
    pub rpc_bind: Option<Vec<String>>,
    /// JSON-RPC port.
    pub rpc_port: Option<u16>,
    /// JSON-RPC user (with `rpc_password`).
    pub rpc_user: Option<String>,
    /// JSON-RPC password.
    pub rpc_password: Option<String>,
    /// Salted logins, Core's `rpcauth` lines.
    pub rpc_auth: Option<Vec<String>>,
    /// JSON-RPC worker threads.
    pub rpc_threads: Option<usize>,
    /// Requests that may wait for a worker.
    pub rpc_work_queue: Option<usize>,
    /// Seconds a client has to send a request or read the answer.
    pub rpc_timeout_secs: Option<u64>,
    /// `true`: serve REST under `/rest/`.
    pub rest: Option<bool>,
    /// A SOCKS5 proxy for every outbound connection (Core's `-proxy`).
    pub proxy: Option<String>,
    /// `false`: speak v1 only (Core's `-v2transport=0`).
    pub v2transport: Option<bool>,
    /// The networks automatic connections may go to (Core's `-onlynet`).
    pub onlynet: Option<Vec<String>>,
}

impl FileConfig {
    /// Reads and parses `path`; any error is one line naming the file and, when it can, the key.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        FileConfig::parse(&text).map_err(|e| anyhow!("config file {}: {e}", path.display()))
    }

    /// Parses TOML text; the error is one line that names the offending key.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| describe_toml_error(text, &e))
    }
}

/// Turns a (multi-line, caret-decorated) toml error into one line: position, key, message.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = one_line(error.message());
    let Some(span) = error.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    // A value error points at the value; the key is at the start of the nearest line above
    // (or on) the span that has `key =`. An unknown-field error names the key in its message.
    let key = text[..start]
        .rsplit('\n')
        .chain(text[start..].split('\n').take(1))
        .filter_map(|line| line.split_once('=').map(|(k, _)| k.trim()))
        .find(|k| is_bare_key(k));
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => {
            format!("line {line_no}, key `{key}`: {message}")
        }
        _ => format!("line {line_no}: {message}"),
    }
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Everything the node runs with, resolved from command line, file and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The network to join.
    pub network: Network,
    /// Peers to keep connections to, with the network's port filled in where none was given.
    pub connect: Vec<SocketAddr>,
    /// Peers to keep connections to given by name behind the proxy, dialled by name through it.
    pub connect_names: Vec<PeerName>,
    /// Where to accept inbound connections, if at all.
    pub listen: Option<SocketAddr>,
    /// The data directory (the store is in `datadir/<network>/`).
    pub datadir: PathBuf,
    /// The `tracing` filter.
    pub log_level: String,
    /// Seconds between pings, if not the core's default.
    pub ping_interval: Option<Duration>,
    /// Ping timeout, if not the core's default.
    pub ping_timeout: Option<Duration>,
    /// Handshake timeout, if not the core's default.
    pub handshake_timeout: Option<Duration>,
    /// The wire generator's seed; `None` lets the binary draw one from the operating system.
    /// (The secret generator's seed is always drawn; no setting names it.)
    pub seed: Option<u64>,
    /// The minimum chain work replacing the network's, if one was given.
    pub minimum_chain_work: Option<Work>,
    /// Peer discovery: seeds, added nodes, connection slots.
    pub discovery: DiscoverySettings,
    /// The JSON-RPC and REST server.
    pub rpc: RpcSettings,
    /// Every outbound connection goes through this SOCKS5 proxy.
    pub proxy: Option<SocketAddr>,
    /// Speak BIP324 v2 (on unless `--v2transport=false` or `v2transport = false`).
    pub v2_transport: bool,
    /// The networks automatic connections may go to.
    pub reachable: Reachable,
}

impl Settings {
    /// Combines the command line with the file: a flag given on the command line wins, then the
    /// file's key, then the default. `--connect` flags replace the file's `connect` list.
    pub fn resolve(cli: &RunArgs, file: &FileConfig) -> anyhow::Result<Settings> {
        let network = match (&cli.network, &file.network) {
            (Some(name), _) => parse_network(name).context("--network")?,
            (None, Some(name)) => parse_network(name).context("key `network`")?,
            (None, None) => DEFAULT_NETWORK,
        };
        let port = network.params().default_port;
        let proxy = resolve_proxy(cli, file)?;
        let through_proxy = proxy.is_some();
        if through_proxy {
            // Before anything below resolves a name.
            refuse_seed_names_behind_proxy(cli, file)?;
        }
        let (connect, connect_names) = if !cli.connect.is_empty() {
            resolve_peers(&cli.connect, port, through_proxy).context("--connect")?
        } else {
            resolve_peers(
                file.connect.as_deref().unwrap_or_default(),
                port,
                through_proxy,
            )
            .context("key `connect`")?
        };
        let listen = match (&cli.listen, &file.listen) {
            (Some(addr), _) => Some(resolve_addr(addr, port).context("--listen")?),
            (None, Some(addr)) => Some(resolve_addr(addr, port).context("key `listen`")?),
            (None, None) => None,
        };
        let datadir = cli
            .datadir
            .clone()
            .or_else(|| file.datadir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATADIR));
        let log_level = cli
            .log_level
            .clone()
            .or_else(|| file.log_level.clone())
            .or_else(|| {
                std::env::var("RUST_LOG")
                    .ok()
                    .filter(|s| !s.trim().is_empty())
            })
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string());
        let minimum_chain_work = match (&cli.minimum_chain_work, &file.minimum_chain_work) {
            (Some(hex), _) => Some(parse_chain_work(hex).context("--minimum-chain-work")?),
            (None, Some(hex)) => Some(parse_chain_work(hex).context("key `minimum_chain_work`")?),
            (None, None) => None,
        };
        let connect_only = !connect.is_empty() || !connect_names.is_empty();
        let discovery =
            DiscoverySettings::resolve(cli, file, network, connect_only, through_proxy)?;
        let reachable = resolve_reachable(cli, file, proxy)?;
        let rpc = RpcSettings::resolve(&cli.rpc, file, network)?;
        let secs = |cli: Option<u64>, file: Option<u64>| cli.or(file).map(Duration::from_secs);
        Ok(Settings {
            network,
            connect,
            connect_names,
            listen,
            datadir,
            log_level,
            ping_interval: secs(cli.ping_interval, file.ping_interval_secs),
            ping_timeout: secs(cli.ping_timeout, file.ping_timeout_secs),
            handshake_timeout: secs(cli.handshake_timeout, file.handshake_timeout_secs),
            seed: cli.seed.or(file.seed),
            minimum_chain_work,
            discovery,
            rpc,
            proxy,
            v2_transport: cli.v2transport.or(file.v2transport).unwrap_or(true),
            reachable,
        })
    }

    /// The directory of this network's store: `<datadir>/<network>/`.
    pub fn store_dir(&self) -> PathBuf {
        self.datadir.join(self.network.name())
    }
}

/// Parses a network name; the error names the valid ones.
pub fn parse_network(name: &str) -> anyhow::Result<Network> {
    name.parse::<Network>().map_err(|e| anyhow!("{e}"))
}

/// Parses a chain work as Bitcoin Core's `-minimumchainwork` takes it (`uint256::FromUserHex`):
/// an optional `0x`, then 1 to 64 hex digits of a big-endian number, which is how Core prints
/// `chainwork` (`getblockheader`); leading zeros may be left out. Unlike Core, an empty value
/// is refused rather than read as zero.
pub fn parse_chain_work(text: &str) -> anyhow::Result<Work> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.is_empty() {
        bail!("empty chain work `{text}`: expected 1 to {MAX_CHAIN_WORK_HEX_DIGITS} hex digits, optionally after 0x");
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        bail!("chain work `{text}` is not hex: {bad:?} is not a hex digit");
    }
    if digits.len() > MAX_CHAIN_WORK_HEX_DIGITS {
        bail!(
            "chain work `{text}` has {} hex digits; at most {MAX_CHAIN_WORK_HEX_DIGITS} fit in 256 bits",
            digits.len()
        );
    }
    // Right-align the digits in 32 big-endian bytes (all ASCII, checked above).
    let padded = format!("{digits:0>width$}", width = MAX_CHAIN_WORK_HEX_DIGITS);
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16)
            .expect("two checked hex digits make a byte");
    }
    Ok(Work::from_be_bytes(bytes))
}

/// Turns `ip`, `ip:port`, `[v6]:port`, `host` or `host:port` into one socket address, using
/// `default_port` when none is given. Host names are resolved once, here.
pub fn resolve_addr(text: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    if text.is_empty() {
        bail!("empty address");
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let (host, port) = split_host_port(text, default_port)?;
    let mut found = (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow!("cannot resolve `{text}`: {e}"))?;
    found
        .next()
        .ok_or_else(|| anyhow!("`{text}` resolves to no address"))
}

/// `host:port` or `host` (then `default_port`) as its two parts; the error names the address
/// whose port is not a number.
pub fn split_host_port(text: &str, default_port: u16) -> anyhow::Result<(&str, u16)> {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| anyhow!("bad port in address `{text}`"))?;
            Ok((host, port))
        }
        None => Ok((text, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RunArgs {
        RunArgs::default()
    }

    /// The chain work `low` (in the low 128 bits).
    fn work(low: u128) -> Work {
        let mut bytes = [0u8; 32];
        bytes[16..].copy_from_slice(&low.to_be_bytes());
        Work::from_be_bytes(bytes)
    }

    #[test]
    fn chain_work_is_read_as_core_reads_it() {
        // Core v31's mainnet value, as `getblockheader` prints it, with and without 0x.
        let mainnet = "0000000000000000000000000000000000000001128750f82f4c366153a3a030";
        let expected = work(0x1_1287_50f8_2f4c_3661_53a3_a030);
        assert_eq!(parse_chain_work(mainnet).unwrap(), expected);
        assert_eq!(parse_chain_work(&format!("0x{mainnet}")).unwrap(), expected);
        // Leading zeros may go; upper case is hex too.
        assert_eq!(
            parse_chain_work("1128750F82F4C366153A3A030").unwrap(),
            expected
        );
        assert_eq!(parse_chain_work("0x1").unwrap(), work(1));
        assert_eq!(parse_chain_work("0").unwrap(), work(0));
        assert_eq!(parse_chain_work("abc").unwrap(), work(0xabc));
        // All 64 digits count: the top byte lands at the top.
        let top = parse_chain_work(&format!("ff{}", "0".repeat(62))).unwrap();
        assert_eq!(top.to_be_bytes()[0], 0xff);
        assert_eq!(format!("{top:x}"), format!("ff{}", "0".repeat(62)));
    }

    #[test]
    fn malformed_chain_work_is_refused() {
        for bad in [
            "",
            "0x",
            "xyz",
            "0x12g4",
            " 12",
            "0X12",
            "-1",
            "１",
            &"f".repeat(65),
            &format!("0x{}", "0".repeat(65)),
        ] {
            let err = parse_chain_work(bad).unwrap_err().to_string();
            assert!(!err.contains('\n'), "{err}");
            assert!(err.contains("chain work"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn malformed_chain_work_names_the_flag_or_the_key() {
        let too_long = "1".repeat(65);
        for bad in ["", "0x", "0xnothex", too_long.as_str()] {
            let cli = RunArgs {
                minimum_chain_work: Some(bad.to_string()),
                ..RunArgs::default()
            };
            let err = crate::one_line_error(
                &Settings::resolve(&cli, &FileConfig::default()).unwrap_err(),
            );
            assert!(err.starts_with("--minimum-chain-work: "), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "{err}");

            let file = FileConfig {
                minimum_chain_work: Some(bad.to_string()),
                ..FileConfig::default()
            };
            let err = crate::one_line_error(&Settings::resolve(&args(), &file).unwrap_err());
            assert!(
                err.starts_with("key `minimum_chain_work`: "),
                "{bad:?}: {err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
        // A number where a string belongs is the file parser's one-line error, naming the key.
        let err = FileConfig::parse("minimum_chain_work = 5\n").unwrap_err();
        assert!(err.contains("`minimum_chain_work`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn chain_work_flag_overrides_the_file() {
        let file = FileConfig::parse("minimum_chain_work = \"0x10\"\n").unwrap();
        let s = Settings::resolve(&args(), &file).unwrap();
        assert_eq!(s.minimum_chain_work, Some(work(0x10)));
        let cli = RunArgs {
            minimum_chain_work: Some("20".into()),
            ..RunArgs::default()
        };
        let s = Settings::resolve(&cli, &file).unwrap();
        assert_eq!(s.minimum_chain_work, Some(work(0x20)));
        // The file's value is not even read when the flag replaces it.
        let bad_file = FileConfig::parse("minimum_chain_work = \"zz\"\n").unwrap();
        assert!(Settings::resolve(&cli, &bad_file).is_ok());
        // Neither: the network's own value stays.
        let s = Settings::resolve(&args(), &FileConfig::default()).unwrap();
        assert_eq!(s.minimum_chain_work, None);
    }

    #[test]
    fn a_complete_file_parses() {
        let text = r#"
network = "regtest"
connect = ["127.0.0.1:18444", "10.0.0.1"]
listen = "127.0.0.1:0"
datadir = "/tmp/hw"
log_level = "debug"
ping_interval_secs = 30
ping_timeout_secs = 90
handshake_timeout_secs = 10
seed = 7
minimum_chain_work = "0x00000000000000000000000000000000000000000000000000000000000000ff"
dns_seed = true
dns_seeds = ["seed.example.org"]
fixed_seeds = false
seednode = ["127.0.0.2"]
addnode = ["127.0.0.3:18445"]
max_outbound = 4
max_connections = 40
"#;
        let file = FileConfig::parse(text).unwrap();
        let s = Settings::resolve(&args(), &file).unwrap();
        assert_eq!(s.network, Network::Regtest);
        assert_eq!(
            s.connect,
            vec![
                "127.0.0.1:18444".parse().unwrap(),
                "10.0.0.1:18444".parse().unwrap()
            ]
        );
        assert_eq!(s.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(s.datadir, PathBuf::from("/tmp/hw"));
        assert_eq!(s.log_level, "debug");
        assert_eq!(s.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(s.ping_timeout, Some(Duration::from_secs(90)));
        assert_eq!(s.handshake_timeout, Some(Duration::from_secs(10)));
        assert_eq!(s.seed, Some(7));
        assert_eq!(s.minimum_chain_work, Some(work(0xff)));
        assert_eq!(s.store_dir(), PathBuf::from("/tmp/hw/regtest"));
        // `connect` is set, so discovery is off: the seeds and seed nodes are dropped.
        let d = &s.discovery;
        assert!(!d.enabled && d.dns_seeds.is_empty() && d.seed_nodes.is_empty());
        assert_eq!(d.ignored, vec!["key `seednode`", "key `dns_seeds`"]);
        assert_eq!(d.add_nodes, vec!["127.0.0.3:18445".parse().unwrap()]);
        assert_eq!(
            (d.max_outbound, d.max_connections, d.max_inbound),
            (4, 40, 35)
        );
    }

    #[test]
    fn command_line_overrides_file_which_overrides_defaults() {
        let file = FileConfig::parse(
            "network = \"regtest\"\nconnect = [\"127.0.0.1\"]\nseed = 1\nping_interval_secs = 5\n",
        )
        .unwrap();
        let cli = RunArgs {
            network: Some("signet".into()),
            connect: vec!["127.0.0.2:9".into()],
            seed: Some(2),
            ..RunArgs::default()
        };
        let s = Settings::resolve(&cli, &file).unwrap();
        assert_eq!(s.network, Network::Signet);
        assert_eq!(s.connect, vec!["127.0.0.2:9".parse().unwrap()]);
        assert_eq!(s.seed, Some(2));
        // Not on the command line: the file's value.
        assert_eq!(s.ping_interval, Some(Duration::from_secs(5)));
        // In neither: the default.
        assert_eq!(s.datadir, PathBuf::from(DEFAULT_DATADIR));
        assert_eq!(s.listen, None);
        assert_eq!(s.ping_timeout, None);

        let s = Settings::resolve(&args(), &FileConfig::default()).unwrap();
        assert_eq!(s.network, DEFAULT_NETWORK);
        assert!(s.connect.is_empty());
    }

    #[test]
    fn file_port_default_follows_the_resolved_network() {
        let file = FileConfig::parse("connect = [\"127.0.0.1\"]\n").unwrap();
        let cli = RunArgs {
            network: Some("testnet4".into()),
            ..RunArgs::default()
        };
        let s = Settings::resolve(&cli, &file).unwrap();
        assert_eq!(s.connect, vec!["127.0.0.1:48333".parse().unwrap()]);
    }

    #[test]
    fn unknown_key_is_one_line_naming_it() {
        let err = FileConfig::parse("network = \"regtest\"\nbogus_key = 3\n").unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("bogus_key"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn wrong_type_is_one_line_naming_the_key() {
        let err = FileConfig::parse("network = \"regtest\"\nping_interval_secs = \"soon\"\n")
            .unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("`ping_interval_secs`"), "{err}");
        let err = FileConfig::parse("connect = [\n  \"127.0.0.1\",\n  5,\n]\n").unwrap_err();
        assert!(err.contains("`connect`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_network_names_the_key() {
        let file = FileConfig::parse("network = \"moonnet\"\n").unwrap();
        let err = format!("{:#}", Settings::resolve(&args(), &file).unwrap_err());
        assert!(
            err.contains("`network`") && err.contains("moonnet"),
            "{err}"
        );
        let cli = RunArgs {
            network: Some("moonnet".into()),
            ..RunArgs::default()
        };
        let err = format!(
            "{:#}",
            Settings::resolve(&cli, &FileConfig::default()).unwrap_err()
        );
        assert!(
            err.contains("--network") && err.contains("moonnet"),
            "{err}"
        );
    }

    #[test]
    fn addresses_get_the_default_port_only_when_missing() {
        assert_eq!(
            resolve_addr("1.2.3.4", 18444).unwrap(),
            "1.2.3.4:18444".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("1.2.3.4:5", 18444).unwrap(),
            "1.2.3.4:5".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("::1", 8333).unwrap(),
            "[::1]:8333".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("[::1]", 8333).unwrap(),
            "[::1]:8333".parse().unwrap()
        );
        assert_eq!(
            resolve_addr("[::1]:9", 8333).unwrap(),
            "[::1]:9".parse().unwrap()
        );
        assert!(resolve_addr("", 8333).is_err());
        assert!(resolve_addr("1.2.3.4:notaport", 8333).is_err());
    }

    #[test]
    fn v2transport_is_on_unless_the_flag_or_the_key_says_false() {
        let on =
            |cli: RunArgs, file: FileConfig| Settings::resolve(&cli, &file).unwrap().v2_transport;
        assert!(on(args(), FileConfig::default()));
        let file_off = FileConfig::parse("v2transport = false").unwrap();
        assert!(!on(args(), file_off.clone()));
        let cli_on = RunArgs {
            v2transport: Some(true),
            ..args()
        };
        assert!(on(cli_on, file_off), "the command line wins");
        assert!(FileConfig::parse("v2transport = \"no\"").is_err());
    }
}
