//! The conformance suite's parts: the harness around the drivers, the normalised records and
//! their comparison, the scripted peer, and the scenarios by kind.

pub mod backpressure;
pub mod harness;
pub mod pairs;
pub mod script;
pub mod scripted;
pub mod timeouts;
pub mod transcript;
