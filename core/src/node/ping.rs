//! Liveness of one negotiated peer: we ping every interval, measure the round trip, and drop a
//! peer whose ping stays unanswered past the timeout (Core's `PING_INTERVAL`, `TIMEOUT_INTERVAL`).

use std::time::Duration;

use crate::time::Time;

/// One peer's ping state.
#[derive(Debug, Clone, Default)]
pub struct Ping {
    /// The nonce and send time of the ping awaiting its pong.
    pub outstanding: Option<(u64, Time)>,
    /// When the last ping went out.
    pub last_sent: Option<Time>,
    /// The last measured round trip.
    pub last_rtt: Option<Duration>,
    /// The shortest round trip measured (Core's `m_min_ping_time`, used to protect fast peers
    /// from inbound eviction).
    pub min_rtt: Option<Duration>,
}

impl Ping {
    /// When the next ping is due, given the interval (none while one is outstanding).
    pub fn next_ping_at(&self, interval: Duration) -> Option<Time> {
        match (self.outstanding, self.last_sent) {
            (Some(_), _) => None,
            (None, Some(sent)) => Some(sent + interval),
            (None, None) => Some(Time::ZERO),
        }
    }

    /// When the outstanding ping times out.
    pub fn timeout_at(&self, timeout: Duration) -> Option<Time> {
        self.outstanding.map(|(_, sent)| sent + timeout)
    }

    /// Records a ping sent at `now`.
    pub fn sent(&mut self, nonce: u64, now: Time) {
        self.outstanding = Some((nonce, now));
        self.last_sent = Some(now);
    }

    /// Handles a pong; returns the round trip when it answers our outstanding ping. A pong
    /// with another nonce is ignored (pings may overlap, as Core notes).
    pub fn on_pong(&mut self, nonce: u64, now: Time) -> Option<Duration> {
        match self.outstanding {
            Some((expected, sent)) if expected == nonce => {
                self.outstanding = None;
                let rtt = now.saturating_since(sent);
                self.last_rtt = Some(rtt);
                self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
                Some(rtt)
            }
            _ => None,
        }
    }
}
