//! headway's node binaries, `headway-mio` and `headway-async-std`, share everything here: the
//! command line ([`cli`]), the config file and how settings combine ([`config`]), logging
//! ([`logging`]), the run loop generic over the two drivers ([`run`]) and the read-only
//! inspection commands ([`inspect`]). Each binary is one call to [`main`] with its driver.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod inspect;
pub mod logging;
pub mod run;

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
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
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
            inspect::run_command(command, &cli.run, &file, &mut out)
        }
        None => {
            let settings = Settings::resolve(&cli.run, &file)?;
            logging::init(&settings.log_level)?;
            run::run_node::<D>(&settings)
        }
    }
}
