//! The command line of both binaries: running a node (no subcommand) and the read-only
//! inspection commands `tip`, `header`, `export` and `peers`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A Bitcoin P2P node that syncs the block-header chain into LMDB.
///
/// Without a subcommand it runs a node. Flags override the config file, which overrides the
/// defaults. The subcommands only read the store and are safe while a node is running.
#[derive(Debug, Clone, Parser)]
#[command(version, propagate_version = true)]
pub struct Cli {
    /// Settings for running a node (also read by the subcommands where they apply).
    #[command(flatten)]
    pub run: RunArgs,
    /// An inspection command; none runs the node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags of a running node. Every one is optional: unset means "ask the config file".
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RunArgs {
    /// TOML config file (keys: network, connect, listen, datadir, log_level, ping_interval_secs,
    /// ping_timeout_secs, handshake_timeout_secs, seed, minimum_chain_work, dns_seed,
    /// dns_seeds, fixed_seeds, seednode, addnode, max_outbound, max_connections, rpc,
    /// rpc_bind, rpc_port, rpc_user, rpc_password, rpc_auth, rpc_threads, rpc_work_queue,
    /// rpc_timeout_secs, rest, proxy, onlynet, v2transport).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Network: mainnet, testnet3, testnet4, signet, regtest or simnet [default: mainnet; the
    /// inspection commands pick the only network found in the data directory].
    #[arg(long, value_name = "NAME", global = true)]
    pub network: Option<String>,
    /// Data directory; the store lives in DIR/<network>/ [default: ./headway-data].
    #[arg(long, value_name = "DIR", global = true)]
    pub datadir: Option<PathBuf>,
    /// Log filter for tracing: error, warn, info, debug, trace, or directives such as
    /// "headway_core=debug,info" [default: $RUST_LOG, else info].
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
    /// Connect only to this peer (repeatable), as Bitcoin Core's -connect: no peer discovery
    /// (no DNS seeds, fixed seeds, seed nodes or automatic outbound peers). The network's port
    /// is used if none is given. Replaces the config file's list.
    #[arg(long, value_name = "ADDR")]
    pub connect: Vec<String>,
    /// Keep a connection to this peer (repeatable), redialled whenever it drops, beside the
    /// automatic outbound peers. Replaces the config file's list.
    #[arg(long, value_name = "ADDR")]
    pub addnode: Vec<String>,
    /// Connect to this peer once to ask for addresses, then disconnect (repeatable), as Core's
    /// -seednode. Replaces the config file's list.
    #[arg(long, value_name = "ADDR")]
    pub seednode: Vec<String>,
    /// Ask this DNS seed for peer addresses (repeatable); replaces the network's list of
    /// seeds [default: Bitcoin Core v31's seeds for the network; none on regtest and simnet].
    #[arg(long, value_name = "HOST", conflicts_with = "no_dns_seeds")]
    pub dns_seed: Vec<String>,
    /// Ask no DNS seeds for addresses.
    #[arg(long)]
    pub no_dns_seeds: bool,
    /// Never fall back to the network's built-in seed addresses (used when the address book
    /// is still empty a minute after start).
    #[arg(long)]
    pub no_fixed_seeds: bool,
    /// Automatic outbound connections kept open [default: 8].
    #[arg(long, value_name = "N")]
    pub max_outbound: Option<usize>,
    /// Connections in total; inbound peers get what is left after the outbound ones and one
    /// feeler slot (max-connections - max-outbound - 1) [default: 125].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Accept inbound connections on this address (port defaults to the network's).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seconds between pings to each peer [default: 120].
    #[arg(long, value_name = "SECS")]
    pub ping_interval: Option<u64>,
    /// Seconds a ping may go unanswered before the peer is dropped [default: 1200].
    #[arg(long, value_name = "SECS")]
    pub ping_timeout: Option<u64>,
    /// Seconds a peer has to complete the version/verack handshake [default: 60].
    #[arg(long, value_name = "SECS")]
    pub handshake_timeout: Option<u64>,
    /// Seed of the generator behind what goes on the wire (version and ping nonces,
    /// tie-breaks); fix it to replay a run. Logged at start only when given. Secrets (presync
    /// salts) come from a separate generator that is always seeded from the operating system
    /// [default: drawn from the operating system's random source].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Replace the network's minimum chain work, as Bitcoin Core's -minimumchainwork: a
    /// big-endian number in hex (optional 0x, 1 to 64 digits), as Core prints `chainwork`. A
    /// headers chain with less work is downloaded twice before it is stored [default: the
    /// network's value from Bitcoin Core v31; 0 on regtest and simnet].
    #[arg(long, value_name = "HEX")]
    pub minimum_chain_work: Option<String>,
    /// Dial every outbound peer through this SOCKS5 proxy (HOST[:PORT], port 9050 if none;
    /// Tor's SocksPort), as Core's -proxy. DNS seeds, and --connect and --addnode peers given
    /// by name (an .onion service too), are then connected to by name through the proxy,
    /// onion services from the address book are dialled, and --seednode peers must be IP
    /// addresses (a name would be looked up outside the proxy).
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<String>,
    /// Make automatic outbound connections only to this network (repeatable): ipv4, ipv6 or
    /// onion (needs --proxy), as Core's -onlynet. Peers you name are not limited [default:
    /// ipv4 and ipv6, and onion with --proxy].
    #[arg(long, value_name = "NET")]
    pub onlynet: Vec<String>,
    /// Speak the BIP324 v2 encrypted transport, as Core's -v2transport: announce NODE_P2P_V2,
    /// answer v2 peers, and open v2 to peers that advertise it and to the ones given by
    /// --connect, --addnode and --seednode, falling back to v1 once for a peer that refuses.
    /// `--v2transport=false`: v1 only [default: true].
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub v2transport: Option<bool>,
    /// The JSON-RPC and REST server.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// The flags of the JSON-RPC and REST server (Bitcoin Core's names, with dashes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RpcArgs {
    /// Do not start the JSON-RPC server.
    #[arg(long)]
    pub no_rpc: bool,
    /// Listen for JSON-RPC on this address (repeatable; port from --rpc-port if none given)
    /// [default: 127.0.0.1]. Anyone who reaches it and logs in can stop the node.
    #[arg(long, value_name = "ADDR")]
    pub rpc_bind: Vec<String>,
    /// JSON-RPC port [default: Core's port + 10: 8342 mainnet, 18342 testnet3, 48342
    /// testnet4, 38342 signet, 18453 regtest, 18566 simnet].
    #[arg(long, value_name = "PORT")]
    pub rpc_port: Option<u16>,
    /// JSON-RPC user name (with --rpc-password; without both, a cookie file
    /// <datadir>/<network>/.cookie is written, as Core does).
    #[arg(long, value_name = "USER")]
    pub rpc_user: Option<String>,
    /// JSON-RPC password.
    #[arg(long, value_name = "PASSWORD")]
    pub rpc_password: Option<String>,
    /// A salted login as Core's -rpcauth: USER:SALT$HASH, from Core's
    /// share/rpcauth/rpcauth.py (repeatable).
    #[arg(long, value_name = "LINE")]
    pub rpc_auth: Vec<String>,
    /// Threads answering JSON-RPC and REST requests [default: 16].
    #[arg(long, value_name = "N")]
    pub rpc_threads: Option<usize>,
    /// Requests that may wait for a thread; more are answered 503 [default: 64].
    #[arg(long, value_name = "N")]
    pub rpc_work_queue: Option<usize>,
    /// Seconds a client has to send its request or read the answer [default: 30].
    #[arg(long, value_name = "SECS")]
    pub rpc_timeout: Option<u64>,
    /// Serve Core's REST interface under /rest/ (no login, as Core's -rest).
    #[arg(long)]
    pub rest: bool,
}

/// The read-only inspection commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Print the best tip: height, hash, chain work and time.
    Tip {
        /// Print the tip as JSON with the fields of Bitcoin Core's `getblockheader`.
        #[arg(long)]
        json: bool,
    },
    /// Print one header's fields and its 80-byte serialization in hex.
    Header {
        /// A height on the best chain, or a block hash (64 hex digits).
        #[arg(value_name = "HEIGHT|HASH")]
        which: String,
        /// Print the header as JSON with the fields of Bitcoin Core's `getblockheader`.
        #[arg(long)]
        json: bool,
    },
    /// Write the raw 80-byte headers of the best chain, in height order.
    Export {
        /// First height to export [default: 0].
        #[arg(long, value_name = "H")]
        from: Option<u32>,
        /// Last height to export, inclusive [default: the tip].
        #[arg(long, value_name = "H")]
        to: Option<u32>,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List the address book: address, services, last seen, attempts, last success and table
    /// (tried first, then newest first).
    Peers {
        /// Print one JSON array of objects instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_into_run_args() {
        let cli = Cli::try_parse_from([
            "headway-mio",
            "--network",
            "regtest",
            "--connect",
            "127.0.0.1:1",
            "--connect",
            "127.0.0.1:2",
            "--seed",
            "9",
            "--ping-interval",
            "3",
            "--minimum-chain-work",
            "0x1f",
        ])
        .unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.run.connect, vec!["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(cli.run.seed, Some(9));
        assert_eq!(cli.run.ping_interval, Some(3));
        assert_eq!(cli.run.minimum_chain_work.as_deref(), Some("0x1f"));
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["headway-mio", "header", "12", "--datadir", "/d"]).unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Header {
                which: "12".into(),
                json: false
            })
        );
        assert_eq!(cli.run.datadir, Some(PathBuf::from("/d")));
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(Cli::try_parse_from(["headway-mio", "--seed", "x"]).is_err());
        assert!(Cli::try_parse_from(["headway-mio", "export", "--from", "-1"]).is_err());
    }

    #[test]
    fn v2transport_takes_core_style_booleans() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("headway-mio").chain(args.iter().copied()))
                .map(|c| c.run.v2transport)
        };
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["--v2transport"]).unwrap(), Some(true));
        assert_eq!(parse(&["--v2transport=false"]).unwrap(), Some(false));
        assert_eq!(parse(&["--v2transport=true"]).unwrap(), Some(true));
        assert!(parse(&["--v2transport=maybe"]).is_err());
        // `--v2transport false` would read `false` as a stray argument: only `=` binds.
        assert!(parse(&["--v2transport", "false"]).is_err());
    }
}
