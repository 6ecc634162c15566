//! Embeds a headway node in a program and prints every change of its stored tip, reorgs
//! included, until Ctrl-C (or the RPC's `stop`).
//!
//! ```sh
//! cargo run --example tip_changes -- --network regtest --connect 127.0.0.1:18444 --datadir /tmp/hw
//! cargo run --example tip_changes -- --driver async-std --network regtest --connect 127.0.0.1:18444
//! ```
//!
//! It takes the node's own flags (see `headway-mio --help`) plus `--driver mio|async-std`.

use std::process::ExitCode;

use clap::Parser;
use headway::cli::RunArgs;
use headway::config::{FileConfig, Settings};
use headway::embed::RunningNode;

/// The node's flags plus the choice of runtime.
#[derive(Debug, Parser)]
struct Args {
    /// Which driver runs the sockets: mio or async-std.
    #[arg(long, default_value = "mio")]
    driver: String,
    #[command(flatten)]
    node: RunArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", headway::one_line_error(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let settings = Settings::resolve(&args.node, &FileConfig::default())?;
    headway::logging::init(&settings.log_level)?;
    let node = match args.driver.as_str() {
        "mio" => RunningNode::start::<headway_driver_mio::Driver>(&settings)?,
        "async-std" => RunningNode::start::<headway_driver_async_std::Driver>(&settings)?,
        other => anyhow::bail!("unknown driver `{other}`: choose mio or async-std"),
    };
    let requester = node.requester();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            requester.request(headway_core::Request::Shutdown);
        }
    });
    let tip = node.tip();
    println!("tip {} at height {}", tip.hash, tip.height);
    let changes = node.subscribe();
    // The channel closes when the node stops.
    for change in changes {
        if !change.disconnected.is_empty() {
            println!(
                "reorg: {} block(s) left the best chain above height {}",
                change.disconnected.len(),
                change.fork_height
            );
        }
        // The store holds every change it announces: look the new tip up there.
        let time = node
            .chain()
            .read(|r| r.header_info(&change.tip))?
            .map(|info| info.header.time)
            .unwrap_or_default();
        println!(
            "tip {} at height {} (time {time}, +{} block(s))",
            change.tip,
            change.tip_height,
            change.connected.len()
        );
    }
    node.wait()?;
    Ok(())
}
