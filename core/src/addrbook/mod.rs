//! The address book: where the node finds peers, after Bitcoin Core's addrman.
//!
//! - [`netgroup`]: which addresses are valid and routable, and the network group each
//!   belongs to (the unit of diversity);
//! - `buckets` and `table`: the keyed bucket arithmetic and the fixed-size tables;
//! - `entry`: one address, how it is judged, and its stored form;
//! - `book`: [`AddrBook`] itself;
//! - [`record`]: what the store keeps.
//!
//! Everything here is deterministic: the bucket key and every random pick come from the
//! node's cryptographic generator, time from the node's inputs.

mod book;
mod buckets;
mod entry;
pub mod names;
pub mod netgroup;
pub mod record;
mod table;
#[cfg(test)]
mod tests;

pub use book::{AddrBook, KnownAddr, CAPACITY, GOSSIP_TIME_PENALTY_SECS};
pub use buckets::{BUCKET_SIZE, NEW_BUCKETS, NEW_BUCKETS_PER_SOURCE_GROUP, TRIED_BUCKETS};
pub use entry::{address_key, parse_address_key, Entry};
pub use record::{AddrBookChange, AddrBookKey, AddrRecord, StoredAddrBook};
