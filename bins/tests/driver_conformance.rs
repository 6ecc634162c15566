//! The driver conformance suite: the same scenarios, on real loopback sockets, against the mio
//! driver and the async-std driver, and between two nodes for every ordered pair of drivers
//! (each driver listening while the other dials, and each with itself).
//!
//! The drivers are not only checked but compared. Every run of a scenario leaves a record
//! (`conformance::transcript`): each node's persist stream and event sequence, and the
//! messages each scripted peer read from the node, normalised where drivers and runs may
//! legitimately differ (peer ids, ephemeral ports, round trips, wall-clock-paced progress
//! reports, the operating system's wording). The records of all runs of a scenario must be
//! equal: the same scenario against the same peer gives the same chain, the same events in
//! the same order, and the same bytes on the wire.
//!
//! A scripted peer (`conformance::script`) is a raw std socket that sends byte for byte the
//! same script under every driver. Scenarios against it: a handshake that runs into header
//! sync and a reorg, ping and pong (a wrong nonce ignored), the handshake timeout both ways,
//! the inbound limit, garbage taken for BIP324 v2, a dial to a closed port, and back-pressure
//! with a peer that stops reading.
//!
//! Every scenario runs twice, with the nodes speaking v1 only and with BIP324 v2 on, and the
//! drivers must agree within each (the records differ between the two by the transport the
//! nodes negotiate, and in the garbage scenario by what v2 makes of garbage). The scripted
//! peer speaks v1: the scenarios where the node dials it run with v1 only, as a node would
//! after its one v2 attempt to a v1 peer (`pairs::inbound_limit` shows that retry).
//!
//! Every wait and every socket read is bounded (`harness::HANG_GUARD`) only to turn a hang
//! into a failure; the scripts wait for conditions (a message, an event), never for time.

mod conformance;

use conformance::harness::{with_transport, AsyncStd, Mio};
use conformance::transcript::assert_agree;
use conformance::{backpressure, pairs, scripted, timeouts};

/// Runs a one-node scenario under each driver, with v1 only and with v2 on (or, with
/// `v1 only`, only with v1); both drivers must leave the same record.
macro_rules! each_driver {
    ($name:literal, $($scenario:ident)::+) => {
        for v2 in [false, true] {
            with_transport(v2, || each_driver!(@run $name, v2, $($scenario)::+));
        }
    };
    (v1 only, $name:literal, $($scenario:ident)::+) => {
        with_transport(false, || each_driver!(@run $name, false, $($scenario)::+))
    };
    (@run $name:literal, $v2:expr, $($scenario:ident)::+) => {
        assert_agree(
            &format!("{} ({})", $name, if $v2 { "v2" } else { "v1" }),
            &[
                ("mio", $($scenario)::+::<Mio>()),
                ("async-std", $($scenario)::+::<AsyncStd>()),
            ],
        )
    };
}

/// Runs a two-node scenario for every ordered pair of drivers (the first listens or serves,
/// the second dials); all four must leave the same record.
macro_rules! all_pairs {
    ($name:literal, $($scenario:ident)::+) => {
        for v2 in [false, true] {
            with_transport(v2, || {
                assert_agree(
                    &format!("{} ({})", $name, if v2 { "v2" } else { "v1" }),
                    &[
                        ("mio with mio", $($scenario)::+::<Mio, Mio>()),
                        ("mio listening, async-std dialling", $($scenario)::+::<Mio, AsyncStd>()),
                        ("async-std listening, mio dialling", $($scenario)::+::<AsyncStd, Mio>()),
                        ("async-std with async-std", $($scenario)::+::<AsyncStd, AsyncStd>()),
                    ],
                )
            });
        }
    };
}

// --- two nodes ---------------------------------------------------------------------------------

#[test]
fn handshake_between_nodes() {
    all_pairs!("handshake between nodes", pairs::handshake);
}

#[test]
fn header_sync_between_nodes() {
    all_pairs!("header sync between nodes", pairs::header_sync);
}

#[test]
fn requested_disconnect_between_nodes() {
    all_pairs!("requested disconnect", pairs::requested_disconnect);
}

#[test]
fn ping_between_nodes() {
    all_pairs!("ping between nodes", pairs::ping);
}

#[test]
fn inbound_limit_between_nodes() {
    all_pairs!("inbound limit between nodes", pairs::inbound_limit);
}

// --- one node and a scripted peer ----------------------------------------------------------------

#[test]
fn garbage_is_refused() {
    each_driver!("garbage", scripted::garbage_is_refused);
}

#[test]
fn closed_port_fails() {
    each_driver!("closed port", scripted::closed_port_fails);
}

#[test]
fn sync_and_reorg_from_scripted_peer() {
    each_driver!(
        v1 only,
        "sync from a scripted peer",
        scripted::sync_from_scripted_peer
    );
}

#[test]
fn ping_and_pong() {
    each_driver!("ping and pong", scripted::ping_and_pong);
}

#[test]
fn inbound_limit() {
    each_driver!("inbound limit", scripted::inbound_limit);
}

#[test]
fn handshake_timeout_inbound() {
    each_driver!("handshake timeout, inbound", timeouts::silent_inbound);
}

#[test]
fn handshake_timeout_outbound() {
    each_driver!(
        v1 only,
        "handshake timeout, outbound",
        timeouts::silent_outbound
    );
}

#[test]
fn back_pressure_with_a_slow_reader() {
    each_driver!("back-pressure", backpressure::slow_reader);
}
