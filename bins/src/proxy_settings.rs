//! The proxy part of the settings: `--proxy` (or the file's `proxy`) sends every outbound
//! connection through a SOCKS5 proxy, as Bitcoin Core's `-proxy`; with it, DNS seeds are
//! connected to by name through the proxy instead of resolved, and onion services become
//! reachable. Peers given by name on the command line are refused behind a proxy (the
//! settings resolve them at start, which would be a lookup outside the proxy). `--onlynet`
//! limits the networks automatic connections go to, as Core's `-onlynet`.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};

use headway_core::node::named_peers;
use headway_core::Reachable;

use crate::cli::RunArgs;
use crate::config::{resolve_addr, split_host_port, FileConfig};

/// The proxy's port when none is given: Tor's `SocksPort` (Core's `-proxy` example too).
pub const DEFAULT_PROXY_PORT: u16 = 9050;

/// The proxy to dial through, if any. The proxy's own name (usually `127.0.0.1`) is resolved
/// here, like any address in the settings.
pub fn resolve_proxy(cli: &RunArgs, file: &FileConfig) -> anyhow::Result<Option<SocketAddr>> {
    match (&cli.proxy, &file.proxy) {
        (Some(addr), _) => Ok(Some(
            resolve_addr(addr, DEFAULT_PROXY_PORT).context("--proxy")?,
        )),
        (None, Some(addr)) => Ok(Some(
            resolve_addr(addr, DEFAULT_PROXY_PORT).context("key `proxy`")?,
        )),
        (None, None) => Ok(None),
    }
}

/// The networks automatic connections may use: `--onlynet` (or the file's `onlynet`) if
/// given, else IPv4 and IPv6, and onion services when there is a proxy (Core makes onion
/// reachable with `-proxy`). `onion` without a proxy is an error, as in Core ("Outbound
/// connections restricted to Tor (-onlynet=onion) but the proxy for reaching the Tor network
/// is not provided").
pub fn resolve_reachable(
    cli: &RunArgs,
    file: &FileConfig,
    proxy: Option<SocketAddr>,
) -> anyhow::Result<Reachable> {
    let (source, names): (&str, &[String]) = if !cli.onlynet.is_empty() {
        ("--onlynet", &cli.onlynet)
    } else if let Some(names) = &file.onlynet {
        ("key `onlynet`", names)
    } else {
        return Ok(Reachable {
            onion: proxy.is_some(),
            ..Reachable::default()
        });
    };
    let mut reachable = Reachable {
        ipv4: false,
        ipv6: false,
        onion: false,
    };
    for name in names {
        match name.trim().to_ascii_lowercase().as_str() {
            "ipv4" => reachable.ipv4 = true,
            "ipv6" => reachable.ipv6 = true,
            "onion" if proxy.is_none() => {
                bail!("{source}: onion needs --proxy (a Tor SOCKS5 proxy such as 127.0.0.1:9050)")
            }
            "onion" => reachable.onion = true,
            "i2p" | "cjdns" => bail!("{source}: {name} is not supported (ipv4, ipv6, onion)"),
            other => bail!("{source}: unknown network {other:?} (ipv4, ipv6, onion)"),
        }
    }
    Ok(reachable)
}

/// Whether `text` is an IP address, with or without a port: something that needs no lookup.
fn is_ip_literal(text: &str) -> bool {
    let text = text.trim();
    text.parse::<SocketAddr>().is_ok()
        || text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
}

/// A peer given by name behind a proxy: never looked up here, dialled by this name through
/// the proxy, which resolves it (an `.onion` service needs that too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerName {
    /// The name, as the proxy is asked for it.
    pub host: String,
    /// The port, the network's when none was given.
    pub port: u16,
}

/// The peers of a `--connect` or `--addnode` list (`ip`, `ip:port`, `[v6]:port`, `host`,
/// `host:port`): IP addresses as they are; names looked up once here, or, behind a proxy
/// (`through_proxy`), kept as names for the proxy to resolve.
pub fn resolve_peers(
    list: &[String],
    default_port: u16,
    through_proxy: bool,
) -> anyhow::Result<(Vec<SocketAddr>, Vec<PeerName>)> {
    let mut addrs = Vec::new();
    let mut names = Vec::new();
    for text in list {
        if through_proxy && !is_ip_literal(text) {
            names.push(parse_name(text, default_port)?);
        } else {
            addrs.push(resolve_addr(text, default_port)?);
        }
    }
    Ok((addrs, names))
}

/// `host` or `host:port` as a [`PeerName`]; the error says what is wrong with it.
fn parse_name(text: &str, default_port: u16) -> anyhow::Result<PeerName> {
    let text = text.trim();
    let (host, port) = split_host_port(text, default_port)?;
    let Some(host) = named_peers::host_name(host) else {
        bail!(
            "`{text}` is neither an IP address nor a host name (letters, digits, `.`, `-` and \
             `_`, at most {} bytes)",
            named_peers::MAX_HOST_LEN
        );
    };
    Ok(PeerName { host, port })
}

/// With a proxy, refuses seed nodes given by name before anything resolves them: the lookup
/// would leave the machine outside the proxy, and a seed node is dialled once by address. The
/// error names the flag or key and what to do.
pub fn refuse_seed_names_behind_proxy(cli: &RunArgs, file: &FileConfig) -> anyhow::Result<()> {
    let (source, names): (&str, &[String]) = if !cli.seednode.is_empty() {
        ("--seednode", &cli.seednode)
    } else {
        (
            "key `seednode`",
            file.seednode.as_deref().unwrap_or_default(),
        )
    };
    if let Some(name) = names.iter().find(|n| !is_ip_literal(n)) {
        bail!(
            "{source}: `{name}` is a name, and with --proxy seed nodes must be given as IP \
             addresses (a name would be looked up outside the proxy); give it with --addnode \
             or --connect to dial it by name through the proxy"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_port_defaults_to_tors() {
        let cli = RunArgs {
            proxy: Some("127.0.0.1".into()),
            ..RunArgs::default()
        };
        let proxy = resolve_proxy(&cli, &FileConfig::default()).unwrap();
        assert_eq!(proxy, "127.0.0.1:9050".parse().ok());
        let file = FileConfig::parse("proxy = \"127.0.0.1:1080\"\n").unwrap();
        let proxy = resolve_proxy(&RunArgs::default(), &file).unwrap();
        assert_eq!(proxy, "127.0.0.1:1080".parse().ok());
    }

    #[test]
    fn behind_a_proxy_names_stay_names_and_ip_addresses_pass() {
        let list: Vec<String> = ["127.0.0.1:18444", "[::1]", "Node.Example:8333", "abc.onion"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (addrs, names) = resolve_peers(&list, 18444, true).unwrap();
        assert_eq!(
            addrs,
            vec![
                "127.0.0.1:18444".parse::<SocketAddr>().unwrap(),
                "[::1]:18444".parse().unwrap()
            ]
        );
        assert_eq!(
            names,
            vec![
                PeerName {
                    host: "node.example".into(),
                    port: 8333
                },
                PeerName {
                    host: "abc.onion".into(),
                    port: 18444
                }
            ]
        );
        for bad in ["node.example:x", "no spaces.example", ":8333"] {
            let error = resolve_peers(&[bad.to_string()], 1, true).unwrap_err();
            assert!(error.to_string().contains(bad), "{bad}: {error}");
        }
        // Without a proxy a name is looked up here (`localhost` resolves everywhere).
        let (addrs, names) = resolve_peers(&["localhost:7".into()], 1, false).unwrap();
        assert!(names.is_empty() && addrs.len() == 1 && addrs[0].port() == 7);
    }

    #[test]
    fn seed_node_names_are_refused_behind_a_proxy() {
        let ips = RunArgs {
            seednode: vec!["127.0.0.1:18444".into(), "[::1]".into()],
            ..RunArgs::default()
        };
        assert!(refuse_seed_names_behind_proxy(&ips, &FileConfig::default()).is_ok());
        let named = RunArgs {
            seednode: vec!["127.0.0.1".into(), "seed.example:8333".into()],
            ..RunArgs::default()
        };
        let error = refuse_seed_names_behind_proxy(&named, &FileConfig::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("--seednode: `seed.example:8333` is a name"),
            "{text}"
        );
        let file = FileConfig::parse("seednode = [\"seed.example\"]\n").unwrap();
        let error = refuse_seed_names_behind_proxy(&RunArgs::default(), &file).unwrap_err();
        assert!(error.to_string().starts_with("key `seednode`"), "{error}");
    }

    #[test]
    fn onlynet_limits_the_networks_and_onion_needs_a_proxy() {
        let proxy = "127.0.0.1:9050".parse().ok();
        let none = RunArgs::default();
        let file = FileConfig::default();
        let plain = resolve_reachable(&none, &file, None).unwrap();
        assert!(plain.ipv4 && plain.ipv6 && !plain.onion);
        assert!(resolve_reachable(&none, &file, proxy).unwrap().onion);
        let only = |nets: &[&str], proxy| {
            let cli = RunArgs {
                onlynet: nets.iter().map(|n| n.to_string()).collect(),
                ..RunArgs::default()
            };
            resolve_reachable(&cli, &FileConfig::default(), proxy)
        };
        let v6 = only(&["IPv6"], None).unwrap();
        assert!(!v6.ipv4 && v6.ipv6 && !v6.onion);
        let tor = only(&["onion"], proxy).unwrap();
        assert!(!tor.ipv4 && !tor.ipv6 && tor.onion);
        let error = only(&["onion"], None).unwrap_err().to_string();
        assert!(
            error.starts_with("--onlynet: onion needs --proxy"),
            "{error}"
        );
        assert!(!error.contains('\n'));
        assert!(only(&["i2p"], proxy).is_err());
        let error = only(&["ipv5"], None).unwrap_err().to_string();
        assert!(error.contains("unknown network \"ipv5\""), "{error}");
        let file = FileConfig::parse("onlynet = [\"ipv4\"]\n").unwrap();
        let v4 = resolve_reachable(&RunArgs::default(), &file, proxy).unwrap();
        assert!(
            v4.ipv4 && !v4.ipv6 && !v4.onion,
            "the file's list, and no onion"
        );
    }
}
