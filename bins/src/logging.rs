//! Logging: the `tracing` subscriber (to standard error, so that `export` can use standard
//! output) and how the node's events read in the log.

use std::io::IsTerminal;

use anyhow::anyhow;
use headway_core::bitcoin::Work;
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
            transport,
        } => {
            info!(
                %peer, %addr, %direction, version, ?user_agent, %services, start_height,
                %transport, "peer negotiated"
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
        Event::PresyncProgress {
            peer,
            addr,
            height,
            estimated_height,
        } => {
            info!(
                %peer, %addr, height,
                progress = %presync_percent(*height, *estimated_height),
                "pre-synchronising headers (first download, to measure the chain's work; nothing stored yet)"
            );
        }
        Event::LowWorkChain {
            peer,
            addr,
            height,
            work,
            threshold,
        } => {
            info!(
                %peer, %addr, height, work = %work_hex(work), threshold = %work_hex(threshold),
                "ignoring low-work chain: it ended below the work needed to store it"
            );
        }
        Event::PeerMisbehaved { peer, addr, reason } => {
            warn!(%peer, %addr, %reason, "peer misbehaved");
        }
        Event::PeersChanged {
            outbound,
            inbound,
            book_new,
            book_tried,
        } => {
            info!(outbound, inbound, book_new, book_tried, "peers changed");
        }
        // An empty answer is common (the `x9.` name first, then the bare one) and the end of
        // seeding says when none gave anything: debug, so that a start without DNS is not
        // sixteen lines of nothing.
        Event::SeedResolved { host, found, added } if *found == 0 => {
            debug!(%host, found, added, "DNS seed answered");
        }
        Event::SeedResolved { host, found, added } => {
            info!(%host, found, added, "DNS seed answered");
        }
        Event::SeedingFinished { skipped, addresses } => {
            if *skipped {
                info!(
                    addresses,
                    "DNS seeding skipped: enough outbound peers are already up"
                );
            } else if *addresses == 0 {
                // Every seed answered with nothing: most often DNS itself is unreachable
                // (the resolver's errors are at debug level).
                warn!(
                    "DNS seeding finished with no addresses: are DNS and the network reachable? \
                     The network's fixed seeds are tried a minute after start; \
                     --connect, --addnode or --seednode name a peer directly"
                );
            } else {
                info!(addresses, "DNS seeding finished");
            }
        }
        Event::FixedSeedsAdded { count: 0 } => {
            info!(
                count = 0,
                "address book still empty a minute after start, and the network has no fixed seeds to add"
            );
        }
        Event::FixedSeedsAdded { count } => {
            info!(
                count,
                "address book still empty a minute after start: added the network's fixed seeds"
            );
        }
        Event::PeerReport(report) => {
            // An answer to an application's question (the RPC's getpeerinfo), not news.
            debug!(
                token = report.token,
                peers = report.peers.len(),
                "peer report"
            );
        }
        Event::ShutdownComplete => {
            info!("all connections closed");
        }
    }
}

/// `height / estimated_height` as Core prints its presync progress: `~12.34%`.
pub fn presync_percent(height: u32, estimated_height: u32) -> String {
    let percent = if estimated_height == 0 {
        100.0
    } else {
        100.0 * f64::from(height) / f64::from(estimated_height)
    };
    format!("~{percent:.2}%")
}

/// Chain work as Core prints `chainwork`, without the leading zeros: `0x1128750f...`.
pub fn work_hex(work: &Work) -> String {
    let hex: String = work
        .to_be_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digits = hex.trim_start_matches('0');
    format!("0x{}", if digits.is_empty() { "0" } else { digits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_work_read_as_cores() {
        assert_eq!(presync_percent(2000, 8000), "~25.00%");
        assert_eq!(presync_percent(0, 0), "~100.00%");
        let mut be = [0u8; 32];
        be[30] = 0x1f;
        be[31] = 0x42;
        assert_eq!(work_hex(&Work::from_be_bytes(be)), "0x1f42");
        assert_eq!(work_hex(&Work::from_be_bytes([0; 32])), "0x0");
    }
}
