//! Logging: the `tracing` subscriber (to standard error, so that `export` can use standard
//! output) and how the node's events read in the log.

use std::io::IsTerminal;

use anyhow::anyhow;
use headway_core::Event;
use tracing::{debug, info, warn};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `filter` (a level or `tracing` directives). The error is
/// one line naming the bad filter.
pub fn init(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .parse(filter)
        .map_err(|e| anyhow!("log level `{filter}`: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal; log files and pipes get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow!("cannot install the logger: {e}"))
}

/// Writes node events to the log: operator-level events at info, per-message ones at debug.
/// Text the peer chose (its user agent) is logged quoted and escaped.
///
/// Until the first sync completes, every 2000-header batch moves the tip; those tip changes go
/// to debug (the rate-limited sync progress line says the same at info), reorgs stay at info.
#[derive(Debug, Default)]
pub struct EventLog {
    synced: bool,
}

impl EventLog {
    /// Logs one event.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::TipChanged(change) if !self.synced && change.disconnected.is_empty() => {
                debug!(
                    height = change.tip_height,
                    hash = %change.tip,
                    connected = change.connected.len(),
                    "tip changed"
                );
            }
            Event::Synced { .. } => {
                self.synced = true;
                log_event(event);
            }
            _ => log_event(event),
        }
    }
}

fn log_event(event: &Event) {
    match event {
        Event::PeerConnected {
            peer,
            addr,
            direction,
        } => {
            info!(%peer, %addr, %direction, "peer connected");
        }
        Event::PeerNegotiated {
            peer,
            addr,
            direction,
            version,
            user_agent,
            services,
            start_height,
        } => {
            info!(
                %peer, %addr, %direction, version, ?user_agent, %services, start_height,
                "peer negotiated"
            );
        }
        Event::PeerDisconnected { peer, addr, reason } => {
            info!(%peer, %addr, %reason, "peer disconnected");
        }
        Event::ConnectFailed {
            addr,
            error,
            retry_in,
        } => {
            warn!(%addr, %error, retry_in_secs = retry_in.as_secs_f64(), "connect failed");
        }
        Event::PingMeasured { peer, addr, rtt } => {
            debug!(%peer, %addr, rtt_ms = rtt.as_secs_f64() * 1000.0, "ping answered");
        }
        Event::TipChanged(change) => {
            info!(
                height = change.tip_height,
                hash = %change.tip,
                fork_height = change.fork_height,
                connected = change.connected.len(),
                disconnected = change.disconnected.len(),
                "tip changed"
            );
        }
        Event::SyncProgress {
            height,
            peer_height,
            headers_per_sec,
        } => {
            info!(height, peer_height, headers_per_sec, "sync progress");
        }
        Event::Synced { height, tip } => {
            info!(height, %tip, "synced");
        }
        Event::PeerMisbehaved { peer, addr, reason } => {
            warn!(%peer, %addr, %reason, "peer misbehaved");
        }
        Event::ShutdownComplete => {
            info!("all connections closed");
        }
    }
}
