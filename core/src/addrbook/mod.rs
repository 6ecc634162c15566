//! The address book (being written): where the node finds peers.

pub mod netgroup;
pub mod record;

pub use record::{AddrBookChange, AddrBookKey, AddrRecord, StoredAddrBook};
