//! The peer-discovery part of the settings: DNS seeds, fixed seeds, seed nodes, added nodes and
//! the connection slots, combined from the command line, the config file and the defaults as
//! the rest of [`crate::config`] does (command line over file over defaults).
//!
//! `--connect` (or the file's `connect`) keeps Bitcoin Core's meaning: only those peers. It
//! turns discovery off, and with it the DNS seeds, the fixed seeds and the seed nodes (Core:
//! `-connect` disables `-dnsseed` and automatic connections, and `ThreadOpenConnections` returns
//! before it processes `-seednode`). Added nodes stay: Core keeps `-addnode` peers with
//! `-connect` too.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context};
use headway_core::node::discovery::DEFAULT_MAX_OUTBOUND;
use headway_core::Network;

use crate::cli::RunArgs;
use crate::config::{resolve_addr, FileConfig};
use crate::proxy_settings::{resolve_peers, PeerName};

/// Connections in total when neither the command line nor the file says (Core's
/// `DEFAULT_MAX_PEER_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 125;
/// Connection slots kept for feelers, outside the automatic outbound ones (Core keeps one,
/// `MAX_FEELER_CONNECTIONS`).
pub const FEELER_SLOTS: usize = 1;
/// The longest DNS name (RFC 1035: 253 characters in text form, without the trailing dot).
pub const MAX_HOST_LEN: usize = 253;

/// How the node finds and keeps peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// Discovery on: the book, automatic outbound slots, feelers, seeding. Off with `--connect`.
    pub enabled: bool,
    /// DNS seeds to ask (empty: none).
    pub dns_seeds: Vec<String>,
    /// Fall back to the network's fixed seeds when the book stays empty.
    pub fixed_seeds: bool,
    /// Peers dialled once to ask for addresses, then left (`--seednode`).
    pub seed_nodes: Vec<SocketAddr>,
    /// Peers kept connected and redialled forever, beside the automatic ones (`--addnode`).
    pub add_nodes: Vec<SocketAddr>,
    /// `--addnode` peers given by name behind the proxy, dialled by name through it.
    pub add_node_names: Vec<PeerName>,
    /// Automatic outbound connections.
    pub max_outbound: usize,
    /// Connections in total: outbound, feeler and inbound.
    pub max_connections: usize,
    /// Inbound connections accepted: `max_connections - max_outbound - FEELER_SLOTS`.
    pub max_inbound: usize,
    /// Discovery settings that were given but do nothing because `--connect` turned discovery
    /// off (flag or key names, for a warning at start).
    pub ignored: Vec<&'static str>,
}

impl DiscoverySettings {
    /// Resolves the discovery settings for `network`; `connect_only` is whether `--connect` (or
    /// the file's `connect`) named peers, `through_proxy` whether outbound peers are dialled
    /// through a proxy (added nodes given by name then stay names). Errors are one line naming
    /// the flag or key.
    pub fn resolve(
        cli: &RunArgs,
        file: &FileConfig,
        network: Network,
        connect_only: bool,
        through_proxy: bool,
    ) -> anyhow::Result<DiscoverySettings> {
        let port = network.params().default_port;
        let dns_seed_on = if cli.no_dns_seeds {
            false
        } else if !cli.dns_seed.is_empty() {
            // Naming seeds on the command line overrides the file's `dns_seed = false`.
            true
        } else {
            file.dns_seed.unwrap_or(true)
        };
        let dns_seeds = if !cli.dns_seed.is_empty() {
            parse_hosts(&cli.dns_seed).context("--dns-seed")?
        } else if let Some(hosts) = &file.dns_seeds {
            parse_hosts(hosts).context("key `dns_seeds`")?
        } else {
            headway_core::seeds::dns_seeds(network)
                .iter()
                .map(|s| s.to_string())
                .collect()
        };
        let fixed_seeds = !cli.no_fixed_seeds && file.fixed_seeds.unwrap_or(true);
        let seed_nodes = if !cli.seednode.is_empty() {
            resolve_list(&cli.seednode, port).context("--seednode")?
        } else {
            resolve_list(file.seednode.as_deref().unwrap_or_default(), port)
                .context("key `seednode`")?
        };
        let (add_nodes, add_node_names) = if !cli.addnode.is_empty() {
            resolve_peers(&cli.addnode, port, through_proxy).context("--addnode")?
        } else {
            resolve_peers(
                file.addnode.as_deref().unwrap_or_default(),
                port,
                through_proxy,
            )
            .context("key `addnode`")?
        };
        let (max_outbound, outbound_from) = match (cli.max_outbound, file.max_outbound) {
            (Some(n), _) => (n, "--max-outbound"),
            (None, Some(n)) => (n, "key `max_outbound`"),
            (None, None) => (DEFAULT_MAX_OUTBOUND, "the default --max-outbound"),
        };
        let (max_connections, connections_from) = match (cli.max_connections, file.max_connections)
        {
            (Some(n), _) => (n, "--max-connections"),
            (None, Some(n)) => (n, "key `max_connections`"),
            (None, None) => (DEFAULT_MAX_CONNECTIONS, "the default --max-connections"),
        };
        let least = max_outbound.saturating_add(FEELER_SLOTS);
        if max_connections < least {
            bail!(
                "{connections_from} {max_connections} is less than {outbound_from} {max_outbound} \
                 plus {FEELER_SLOTS} feeler slot: give at least {least} connections or fewer \
                 outbound peers"
            );
        }
        let max_inbound = max_connections
            .saturating_sub(max_outbound)
            .saturating_sub(FEELER_SLOTS);

        let mut ignored = Vec::new();
        if connect_only {
            if !cli.seednode.is_empty() {
                ignored.push("--seednode");
            } else if file.seednode.as_ref().is_some_and(|l| !l.is_empty()) {
                ignored.push("key `seednode`");
            }
            if !cli.dns_seed.is_empty() {
                ignored.push("--dns-seed");
            } else if file.dns_seeds.as_ref().is_some_and(|l| !l.is_empty()) {
                ignored.push("key `dns_seeds`");
            }
        }
        let enabled = !connect_only;
        Ok(DiscoverySettings {
            enabled,
            dns_seeds: if enabled && dns_seed_on {
                dns_seeds
            } else {
                Vec::new()
            },
            fixed_seeds: enabled && fixed_seeds,
            seed_nodes: if enabled { seed_nodes } else { Vec::new() },
            add_nodes,
            add_node_names,
            max_outbound,
            max_connections,
            max_inbound,
            ignored,
        })
    }
}

/// Checks DNS seed host names: what a resolver could look up, without a port (seeds answer with
/// addresses on the network's port).
fn parse_hosts(hosts: &[String]) -> anyhow::Result<Vec<String>> {
    hosts.iter().map(|h| parse_host(h)).collect()
}

/// One DNS seed host name: letters, digits, `-`, `_` and dots, at most [`MAX_HOST_LEN`]
/// characters (a trailing dot, as in Core's list, is allowed).
pub fn parse_host(text: &str) -> anyhow::Result<String> {
    let host = text.trim();
    if host.is_empty() {
        bail!("empty DNS seed host name");
    }
    let bare = host.strip_suffix('.').unwrap_or(host);
    if bare.len() > MAX_HOST_LEN {
        bail!(
            "DNS seed host name `{host}` is {} characters long; at most {MAX_HOST_LEN}",
            bare.len()
        );
    }
    if let Some(bad) = bare
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        let hint = if bad == ':' {
            " (DNS seeds take no port: their addresses use the network's)"
        } else {
            ""
        };
        return Err(anyhow!(
            "bad DNS seed host name `{host}`: {bad:?} is not allowed{hint}"
        ));
    }
    if bare.split('.').any(str::is_empty) {
        bail!("bad DNS seed host name `{host}`: empty label");
    }
    Ok(host.to_string())
}

fn resolve_list(addrs: &[String], default_port: u16) -> anyhow::Result<Vec<SocketAddr>> {
    addrs
        .iter()
        .map(|a| resolve_addr(a, default_port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cli: RunArgs, file: &str) -> anyhow::Result<DiscoverySettings> {
        let file = FileConfig::parse(file).map_err(|e| anyhow!(e))?;
        let connect_only =
            !cli.connect.is_empty() || file.connect.as_ref().is_some_and(|c| !c.is_empty());
        DiscoverySettings::resolve(&cli, &file, Network::Regtest, connect_only, false)
    }

    fn error(cli: RunArgs, file: &str) -> String {
        crate::one_line_error(&resolve(cli, file).unwrap_err())
    }

    #[test]
    fn defaults_follow_core() {
        let d = DiscoverySettings::resolve(
            &RunArgs::default(),
            &FileConfig::default(),
            Network::Mainnet,
            false,
            false,
        )
        .unwrap();
        assert!(d.enabled && d.fixed_seeds);
        assert_eq!(
            d.dns_seeds.len(),
            headway_core::seeds::dns_seeds(Network::Mainnet).len()
        );
        assert!(!d.dns_seeds.is_empty());
        assert_eq!((d.max_outbound, d.max_connections), (8, 125));
        assert_eq!(d.max_inbound, 125 - 8 - 1);
        assert!(d.seed_nodes.is_empty() && d.add_nodes.is_empty() && d.ignored.is_empty());
    }

    #[test]
    fn host_names_are_checked() {
        assert_eq!(
            parse_host(" seed.example.org. ").unwrap(),
            "seed.example.org."
        );
        for bad in [
            "",
            "seed.example.org:8333",
            "a b",
            "a..b",
            ".",
            &"a".repeat(254),
        ] {
            let e = parse_host(bad).unwrap_err().to_string();
            assert!(!e.contains('\n') && e.contains("DNS seed"), "{bad:?}: {e}");
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_key_parses_and_the_command_line_wins() {
        let file = "dns_seeds = [\"a.example\", \"b.example\"]\nfixed_seeds = false\n\
                    seednode = [\"127.0.0.1:1\"]\naddnode = [\"127.0.0.2\"]\n\
                    max_outbound = 4\nmax_connections = 20\n";
        let d = resolve(RunArgs::default(), file).unwrap();
        assert_eq!(d.dns_seeds, vec!["a.example", "b.example"]);
        assert!(!d.fixed_seeds);
        assert_eq!(d.seed_nodes, vec![addr("127.0.0.1:1")]);
        assert_eq!(d.add_nodes, vec![addr("127.0.0.2:18444")]);
        assert_eq!(
            (d.max_outbound, d.max_connections, d.max_inbound),
            (4, 20, 15)
        );

        let cli = RunArgs {
            dns_seed: vec!["c.example".into()],
            seednode: vec!["127.0.0.3".into(), "127.0.0.4:4".into()],
            addnode: vec!["127.0.0.5:5".into()],
            max_outbound: Some(2),
            max_connections: Some(30),
            ..RunArgs::default()
        };
        let d = resolve(cli, file).unwrap();
        assert_eq!(d.dns_seeds, vec!["c.example"]);
        assert!(!d.fixed_seeds, "not on the command line: the file's value");
        assert_eq!(
            d.seed_nodes,
            vec![addr("127.0.0.3:18444"), addr("127.0.0.4:4")]
        );
        assert_eq!(d.add_nodes, vec![addr("127.0.0.5:5")]);
        assert_eq!((d.max_outbound, d.max_inbound), (2, 27));
    }

    #[test]
    fn dns_seeding_can_be_turned_off_by_flag_or_key() {
        let cli = RunArgs {
            no_dns_seeds: true,
            no_fixed_seeds: true,
            ..RunArgs::default()
        };
        let d = resolve(cli, "dns_seeds = [\"a.example\"]\n").unwrap();
        assert!(d.dns_seeds.is_empty() && !d.fixed_seeds && d.enabled);
        let d = resolve(
            RunArgs::default(),
            "dns_seed = false\ndns_seeds = [\"a.example\"]\n",
        )
        .unwrap();
        assert!(d.dns_seeds.is_empty());
        // Seeds named on the command line override the file's `dns_seed = false`.
        let cli = RunArgs {
            dns_seed: vec!["b.example".into()],
            ..RunArgs::default()
        };
        let d = resolve(cli, "dns_seed = false\n").unwrap();
        assert_eq!(d.dns_seeds, vec!["b.example"]);
    }

    #[test]
    fn connect_turns_discovery_off_but_keeps_added_nodes() {
        let cli = RunArgs {
            connect: vec!["127.0.0.1:1".into()],
            seednode: vec!["127.0.0.9".into()],
            addnode: vec!["127.0.0.8".into()],
            dns_seed: vec!["a.example".into()],
            ..RunArgs::default()
        };
        let d = resolve(cli, "").unwrap();
        assert!(!d.enabled && !d.fixed_seeds);
        assert!(d.dns_seeds.is_empty() && d.seed_nodes.is_empty());
        assert_eq!(d.add_nodes, vec![addr("127.0.0.8:18444")]);
        assert_eq!(d.ignored, vec!["--seednode", "--dns-seed"]);
        // The file's `connect` does the same, and names the file's keys.
        let d = resolve(
            RunArgs::default(),
            "connect = [\"127.0.0.1\"]\nseednode = [\"127.0.0.9\"]\n",
        )
        .unwrap();
        assert!(!d.enabled && d.seed_nodes.is_empty());
        assert_eq!(d.ignored, vec!["key `seednode`"]);
    }

    #[test]
    fn bad_values_name_the_flag_or_the_key() {
        let cases: Vec<(RunArgs, &str, &str)> = vec![
            (
                RunArgs {
                    dns_seed: vec!["seed.example:8333".into()],
                    ..RunArgs::default()
                },
                "",
                "--dns-seed: ",
            ),
            (
                RunArgs::default(),
                "dns_seeds = [\"\"]\n",
                "key `dns_seeds`: ",
            ),
            (
                RunArgs {
                    seednode: vec!["127.0.0.1:notaport".into()],
                    ..RunArgs::default()
                },
                "",
                "--seednode: ",
            ),
            (
                RunArgs::default(),
                "seednode = [\"\"]\n",
                "key `seednode`: ",
            ),
            (
                RunArgs {
                    addnode: vec!["1.2.3.4:99999".into()],
                    ..RunArgs::default()
                },
                "",
                "--addnode: ",
            ),
            (RunArgs::default(), "addnode = [\" \"]\n", "key `addnode`: "),
        ];
        for (cli, file, prefix) in cases {
            let e = error(cli, file);
            assert!(e.starts_with(prefix), "{prefix}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        for text in [
            "max_outbound = -1\n",
            "dns_seed = \"no\"\n",
            "max_connections = 1.5\n",
        ] {
            let e = FileConfig::parse(text).unwrap_err();
            let key = text.split(' ').next().unwrap();
            assert!(e.contains(&format!("`{key}`")) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn slots_leave_one_feeler_and_refuse_too_few_connections() {
        let cli = RunArgs {
            max_connections: Some(3),
            max_outbound: Some(8),
            ..RunArgs::default()
        };
        let e = error(cli, "");
        assert!(
            e.contains("--max-connections 3") && e.contains("--max-outbound 8"),
            "{e}"
        );
        let e = error(RunArgs::default(), "max_connections = 8\n");
        assert!(e.contains("key `max_connections` 8"), "{e}");
        let d = resolve(RunArgs::default(), "max_connections = 9\n").unwrap();
        assert_eq!(d.max_inbound, 0);
        let d = resolve(
            RunArgs::default(),
            "max_outbound = 2\nmax_connections = 10\n",
        )
        .unwrap();
        assert_eq!((d.max_outbound, d.max_inbound), (2, 7));
    }
}
