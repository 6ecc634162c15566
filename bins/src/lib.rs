//! headway's node binaries, `headway-mio` and `headway-async-std`, share everything here: the
//! command line ([`cli`]), the config file and how settings combine ([`config`], with peer
//! discovery's part in [`discovery_settings`] and the RPC server's in [`rpc_settings`]),
//! logging ([`logging`]), the node run in-process ([`embed`]) and by the binaries ([`run`]),
//! the store thread ([`store_thread`], merging address book changes with [`book_merge`]) and
//! the read-only inspection commands ([`inspect`], [`peers`], addresses written by
//! `headway_core::addrbook::names`). Each binary is one call to [`main`] with its driver.
//!
//! # Embedding a node
//!
//! A Rust program runs a node in-process with [`embed::RunningNode`], on either runtime
//! (`headway_driver_mio::Driver` or `headway_driver_async_std::Driver`): it follows tip
//! changes, reorgs included, and queries the stored chain, while the node finds peers, syncs
//! and (if asked) serves JSON-RPC as the binaries do. `examples/tip_changes.rs` prints every
//! tip change.
//!
//! ```no_run
//! use headway::cli::RunArgs;
//! use headway::config::{FileConfig, Settings};
//! use headway::embed::RunningNode;
//!
//! let args = RunArgs {
//!     network: Some("regtest".into()),
//!     connect: vec!["127.0.0.1:18444".into()],
//!     ..RunArgs::default()
//! };
//! let settings = Settings::resolve(&args, &FileConfig::default())?;
//! let node = RunningNode::start::<headway_driver_async_std::Driver>(&settings)?;
//! for change in node.subscribe() {
//!     println!("tip {} at {} ({} blocks left the best chain)",
//!         change.tip, change.tip_height, change.disconnected.len());
//!     let header = node.chain().read(|r| r.header_info(&change.tip))?;
//!     assert!(header.is_some(), "an announced tip is stored");
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod book_merge;
pub mod cli;
pub mod config;
pub mod discovery_settings;
pub mod embed;
pub mod inspect;
pub mod logging;
pub mod peers;
pub mod proxy_settings;
pub mod rpc_settings;
pub mod run;
pub mod store_thread;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::config::{FileConfig, Settings};
use crate::run::NodeDriver;

/// The whole program for driver `D`: parse the command line, then run a node or an inspection
/// command. Errors are printed as one line on standard error with a non-zero exit code; bad
/// flags exit with clap's usage message and code 2.
pub fn main<D: NodeDriver>() -> ExitCode {
    let about = format!(
        "A Bitcoin P2P node that syncs the block-header chain into LMDB ({} driver).",
        D::NAME
    );
    let long_about = format!(
        "{about}\n\nWithout a subcommand it runs a node. Flags override the config file, which \
         overrides the defaults. The subcommands only read the store and are safe while a node \
         is running."
    );
    let matches = Cli::command()
        .about(about)
        .long_about(long_about)
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match dispatch::<D>(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// `error` and its causes as one line, outermost first, separated by `: `. A cause whose text
/// the line already holds is left out: the store's errors print their source inside their own
/// message (so that they read well alone), and `{:#}` would repeat it.
pub fn one_line_error(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Runs what `cli` asks for with driver `D`.
pub fn dispatch<D: NodeDriver>(cli: &Cli) -> anyhow::Result<()> {
    let file = match &cli.run.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    match &cli.command {
        Some(command) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let stderr = std::io::stderr();
            let mut warnings = stderr.lock();
            inspect::run_command(command, &cli.run, &file, &mut out, &mut warnings)
        }
        None => {
            let settings = Settings::resolve(&cli.run, &file)?;
            logging::init(&settings.log_level)?;
            run::run_node::<D>(&settings)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        // A data file LMDB refuses: the store's error names LMDB's reason and has it as source.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.mdb"), vec![0x5a; 65_536]).unwrap();
        let store_error =
            headway_store_lmdb::HeaderStore::open(dir.path(), headway_core::Network::Regtest)
                .unwrap_err();
        let reason = std::error::Error::source(&store_error)
            .expect("the store error has a source")
            .to_string();
        let error = anyhow::Error::from(store_error).context("cannot open the store");
        let line = one_line_error(&error);
        assert_eq!(line.matches(&reason).count(), 1, "{line}");
        assert!(line.starts_with("cannot open the store: cannot open the header store in "));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn distinct_causes_are_all_kept() {
        let error = anyhow::anyhow!("inner\nsecond line")
            .context("middle")
            .context("outer");
        assert_eq!(one_line_error(&error), "outer: middle: inner second line");
    }
}
