//! The proxy part of the settings: `--proxy` (or the file's `proxy`) sends every outbound
//! connection through a SOCKS5 proxy, as Bitcoin Core's `-proxy`; with it, DNS seeds are
//! connected to by name through the proxy instead of resolved, and onion services become
//! reachable. Peers given by name on the command line are refused behind a proxy (the
//! settings resolve them at start, which would be a lookup outside the proxy). `--onlynet`
//! limits the networks automatic connections go to, as Core's `-onlynet`.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};

use headway_core::Reachable;

use crate::cli::RunArgs;
use crate::config::{resolve_addr, FileConfig};

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

/// A list of peers as given: the flag, the file's key, the flag's values, the file's values.
type PeerList<'a> = (&'a str, &'a str, &'a [String], Option<&'a Vec<String>>);

/// With a proxy, refuses peers given by name before anything resolves them: the lookup would
/// leave the machine outside the proxy. The error names the flag or key and what to do.
pub fn refuse_names_behind_proxy(cli: &RunArgs, file: &FileConfig) -> anyhow::Result<()> {
    let lists: [PeerList<'_>; 3] = [
        ("--connect", "connect", &cli.connect, file.connect.as_ref()),
        ("--addnode", "addnode", &cli.addnode, file.addnode.as_ref()),
        (
            "--seednode",
            "seednode",
            &cli.seednode,
            file.seednode.as_ref(),
        ),
    ];
    for (flag, key, given, in_file) in lists {
        let (source, names): (String, &[String]) = if !given.is_empty() {
            (flag.to_string(), given)
        } else {
            (
                format!("key `{key}`"),
                in_file.map(Vec::as_slice).unwrap_or_default(),
            )
        };
        if let Some(name) = names.iter().find(|n| !is_ip_literal(n)) {
            bail!(
                "{source}: `{name}` is a name, and with --proxy peers must be given as IP \
                 addresses (a name would be looked up outside the proxy; dialling by name \
                 through it is not supported yet)"
            );
        }
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
    fn names_are_refused_behind_a_proxy_and_ip_addresses_pass() {
        let ips = RunArgs {
            connect: vec!["127.0.0.1:18444".into(), "[::1]".into(), "10.0.0.1".into()],
            ..RunArgs::default()
        };
        assert!(refuse_names_behind_proxy(&ips, &FileConfig::default()).is_ok());
        let named = RunArgs {
            addnode: vec!["127.0.0.1".into(), "node.example:8333".into()],
            ..RunArgs::default()
        };
        let error = refuse_names_behind_proxy(&named, &FileConfig::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("--addnode: `node.example:8333` is a name"),
            "{text}"
        );
        let file = FileConfig::parse("seednode = [\"seed.example\"]\n").unwrap();
        let error = refuse_names_behind_proxy(&RunArgs::default(), &file).unwrap_err();
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
