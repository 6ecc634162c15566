//! Scenarios between real nodes on loopback, run for every ordered pair of drivers (mio and
//! async-std each listening while the other dials, and each with itself); the four runs of a
//! scenario must leave the same records.
//!
//! Two deterministic nodes joined by one connection produce the same two byte streams however
//! the machine schedules them (each node's output is a function of the stream it reads, and of
//! timers, which are all at [`super::harness::FAR`] unless a scenario shortens one), so their
//! transcripts are the same too, as long as the test acts (a request, a new connection) only
//! at points where each node has nothing left to hear: [`settle`] waits for those.

use headway_core::bitcoin::block::Header;
use headway_core::Notification;
use headway_core::{Direction, DisconnectReason, Event, Request};

use super::harness::{
    config, disconnected, disconnects, expected_transport, is_ping_measured, is_synced, negotiated,
    negotiated_transport, v2_on, Running, TestDriver, GENESIS_ONLY,
};
use super::script::{served_chain, CHAIN_LEN};
use super::transcript::Record;

const LISTENER_SEED: u64 = 11;
const DIALLER_SEED: u64 = 12;
const SECOND_DIALLER_SEED: u64 = 13;

/// The ping interval of the ping scenario: short, so that a ping at the interval comes soon.
const PAIR_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits until a node has heard everything its peer says after a handshake: the pong to its
/// first ping and the answer to its first getheaders (both nodes ask each other for headers,
/// and a node at the other's tip answers "nothing newer", which ends its sync).
fn settle<D: TestDriver>(node: &mut Running<D>) {
    node.wait_until("the pong to the first ping and the end of sync", |events| {
        events.iter().any(|e| is_ping_measured(e)) && events.iter().any(|e| is_synced(e))
    });
}

fn listener<D: TestDriver>(
    role: &'static str,
    config: headway_core::Config,
    stored: &[Header],
) -> Running<D> {
    Running::start(role, config, stored, true, None)
}

fn dialler<D: TestDriver>(
    role: &'static str,
    seed: u64,
    target: &Running<impl TestDriver>,
) -> Running<D> {
    let node: Running<D> = Running::start(role, config(seed), GENESIS_ONLY, false, None);
    node.request(Request::AddPeer(target.listen_addr()));
    node
}

/// Waits for a node's (only) peer to go, closed from the other end.
fn peer_leaves<D: TestDriver>(node: &mut Running<D>) {
    let (_, reason) = node.next_event("the peer's disconnect", disconnected);
    assert!(
        matches!(reason, DisconnectReason::Closed(_)),
        "{}: the peer left with {reason:?}",
        node.who()
    );
}

// --- handshake and shutdown ------------------------------------------------------------------

/// `L` listens, `D` dials it: both complete the handshake (each seeing the right direction and
/// the other's user agent), and shutdowns end both.
pub fn handshake<L: TestDriver, D: TestDriver>() -> Record {
    let mut listener: Running<L> = listener("listener", config(LISTENER_SEED), GENESIS_ONLY);
    let mut dialler: Running<D> = dialler("dialler", DIALLER_SEED, &listener);
    let target = listener.listen_addr();

    let (_, addr, direction, agent) = dialler.next_event("PeerNegotiated", negotiated);
    let who = dialler.who();
    assert_eq!(
        dialler.events().find_map(negotiated_transport),
        Some(expected_transport()),
        "{who}"
    );
    assert_eq!(direction, Direction::Outbound, "{who}");
    assert_eq!(
        addr, target,
        "{who} names the peer by the address it dialled"
    );
    assert!(
        agent.starts_with("/headway:"),
        "{who} saw user agent {agent:?}"
    );
    let (_, _, direction, agent) = listener.next_event("PeerNegotiated", negotiated);
    let who = listener.who();
    assert_eq!(direction, Direction::Inbound, "{who}");
    assert!(
        agent.starts_with("/headway:"),
        "{who} saw user agent {agent:?}"
    );

    settle(&mut dialler);
    settle(&mut listener);
    let dialler = dialler.finish();
    peer_leaves(&mut listener);
    let listener = listener.finish();

    let mut record = Record::default();
    record.node("listener", &listener.log);
    record.node("dialler", &dialler.log);
    record
}

// --- header sync -------------------------------------------------------------------------------

/// `S` serves [`served_chain`], `C` starts from genesis and adds `S` as a peer: `C` must end
/// with exactly the served chain, hash for hash, whichever drivers run the two ends.
pub fn header_sync<S: TestDriver, C: TestDriver>() -> Record {
    let headers = served_chain();
    let Some(tip) = headers.last().map(|h| h.block_hash()) else {
        panic!("empty served chain")
    };

    let mut server: Running<S> = listener("server", config(LISTENER_SEED), headers);
    let mut client: Running<C> = dialler("client", DIALLER_SEED, &server);
    client.next_event("the served tip", |e| match e {
        Event::Synced { tip: synced, .. } if *synced == tip => Some(()),
        _ => None,
    });
    settle(&mut client);
    settle(&mut server);
    let client = client.finish();
    peer_leaves(&mut server);
    let server = server.finish();

    let chain = client.node.chain();
    let names = format!("{} client from {} server", C::NAME, S::NAME);
    assert_eq!(chain.tip_hash(), tip, "{names}");
    assert_eq!(chain.tip_height() as usize, CHAIN_LEN, "{names}");
    for (height, header) in (0u32..).zip(headers) {
        assert_eq!(
            chain.hash_at(height),
            Some(header.block_hash()),
            "{names}: height {height}"
        );
    }
    let persisted: usize = client
        .log
        .iter()
        .map(|n| match n {
            Notification::Persist(p) => p.connected.len(),
            Notification::Event(_)
            | Notification::PersistAddrs(_)
            | Notification::ServeHeaders(_) => 0,
        })
        .sum();
    assert_eq!(persisted, CHAIN_LEN, "{names}: every header persisted once");
    assert_eq!(
        server.node.chain().tip_hash(),
        tip,
        "{names}: the server's chain is unchanged"
    );

    let mut record = Record::default();
    record.node("server", &server.log);
    record.node("client", &client.log);
    record
}

// --- a disconnect asked for by the user --------------------------------------------------------

/// After the handshake the listener's user asks to drop the peer: the listener reports it as
/// requested, and the dialler sees the connection end.
pub fn requested_disconnect<L: TestDriver, D: TestDriver>() -> Record {
    let mut listener: Running<L> = listener("listener", config(LISTENER_SEED), GENESIS_ONLY);
    let mut dialler: Running<D> = dialler("dialler", DIALLER_SEED, &listener);
    let (peer, ..) = listener.next_event("PeerNegotiated", negotiated);
    settle(&mut dialler);
    settle(&mut listener);

    listener.request(Request::Disconnect(peer));
    let (gone, reason) = listener.next_event("PeerDisconnected", disconnected);
    assert_eq!(
        (gone, reason),
        (peer, DisconnectReason::Requested),
        "{}",
        listener.who()
    );
    peer_leaves(&mut dialler);
    // The dialler keeps its peer (`AddPeer`) and would redial 5 s after the disconnect
    // (`outbound::RETRY_STEP`): it shuts down at once, long before.
    let dialler = dialler.finish();
    let listener = listener.finish();

    let mut record = Record::default();
    record.node("listener", &listener.log);
    record.node("dialler", &dialler.log);
    record
}

// --- ping and pong -----------------------------------------------------------------------------

/// Both nodes ping at a short interval: each answers the other's pings and measures its own,
/// on negotiation and again at the interval.
pub fn ping<L: TestDriver, D: TestDriver>() -> Record {
    let mut fast = config(LISTENER_SEED);
    fast.ping_interval = PAIR_PING_INTERVAL;
    let mut listener: Running<L> = listener("listener", fast, GENESIS_ONLY);
    let mut fast = config(DIALLER_SEED);
    fast.ping_interval = PAIR_PING_INTERVAL;
    let mut dialler: Running<D> = Running::start("dialler", fast, GENESIS_ONLY, false, None);
    dialler.request(Request::AddPeer(listener.listen_addr()));

    settle(&mut dialler);
    settle(&mut listener);
    dialler.wait_count("a second PingMeasured", 2, is_ping_measured);
    listener.wait_count("a second PingMeasured", 2, is_ping_measured);
    let dialler = dialler.finish();
    peer_leaves(&mut listener);
    let listener = listener.finish();

    let mut record = Record::default();
    record.node("listener", &listener.log);
    record.node("dialler", &dialler.log);
    // Pings go on every interval until the end: how many more were measured before the
    // shutdown depends on how long the test took, so only the first two count.
    for role in ["listener", "dialler"] {
        record.edit_node(role, |log| {
            let mut pings = 0;
            log.retain(|n| match n {
                Notification::Event(e) if is_ping_measured(e) => {
                    pings += 1;
                    pings <= 2
                }
                _ => true,
            });
        });
    }
    record
}

// --- the inbound limit -------------------------------------------------------------------------

/// A listener that takes one inbound peer: the first dialler is served, the second refused
/// with `TooManyInbound`, and the first keeps its connection.
pub fn inbound_limit<L: TestDriver, D: TestDriver>() -> Record {
    let mut one = config(LISTENER_SEED);
    one.max_inbound = 1;
    let mut listener: Running<L> = listener("listener", one, GENESIS_ONLY);
    let mut first: Running<D> = dialler("first dialler", DIALLER_SEED, &listener);
    let (kept, ..) = listener.next_event("PeerNegotiated", negotiated);
    settle(&mut first);
    settle(&mut listener);

    let mut second: Running<D> = dialler("second dialler", SECOND_DIALLER_SEED, &listener);
    let refused = listener.next_event("the second dialler's PeerConnected", |e| match e {
        Event::PeerConnected { peer, .. } => Some(*peer),
        _ => None,
    });
    let (gone, reason) = listener.next_event("the refusal", disconnected);
    assert_eq!(
        (gone, reason),
        (refused, DisconnectReason::TooManyInbound(1)),
        "{}",
        listener.who()
    );
    if v2_on() {
        // Closed before a byte came back, the v2 attempt looks like a v1-only listener to the
        // dialler, which retries once with v1, as Core does (`ShouldReconnectV1`), and is
        // refused again.
        let retry = listener.next_event("the v1 retry's PeerConnected", |e| match e {
            Event::PeerConnected { peer, .. } => Some(*peer),
            _ => None,
        });
        let (gone, reason) = listener.next_event("the second refusal", disconnected);
        assert_eq!(
            (gone, reason),
            (retry, DisconnectReason::TooManyInbound(1)),
            "{}",
            listener.who()
        );
        peer_leaves(&mut second);
    }
    peer_leaves(&mut second);
    // It would redial 5 s later (`outbound::RETRY_STEP`): it shuts down at once, long before.
    let second = second.finish();

    let first = first.finish();
    let (gone, _) = listener.next_event("the first dialler's disconnect", disconnected);
    assert_eq!(
        gone,
        kept,
        "{}: the first dialler was kept to the end",
        L::NAME
    );
    let listener = listener.finish();
    assert_eq!(
        disconnects(&first.log),
        vec![DisconnectReason::Shutdown],
        "{} first dialler: connected until its shutdown",
        D::NAME
    );

    let mut record = Record::default();
    record.node("listener", &listener.log);
    record.node("first dialler", &first.log);
    record.node("second dialler", &second.log);
    record
}
