//! The read-only `peers` inspection command: the address book as the store holds it, one line
//! per address (or one JSON array), tried addresses first, then by last seen, newest first.
//!
//! Records are decoded with the core's own decoder ([`Entry::from_record`]); one that does not
//! decode is counted and reported as a warning, never a failure, as the node skips it at start.

use std::cmp::Reverse;
use std::io::Write;

use anyhow::Context;
use bitcoin::p2p::ServiceFlags;
use headway_core::addrbook::{address_key, Entry, StoredAddrBook};
use headway_store_lmdb::HeaderStore;
use serde_json::json;

use crate::inspect::utc_time;
use headway_core::addrbook::names as addr_names;

/// Service bits and the names Core's `getpeerinfo` gives them (`servicesnames`).
const SERVICE_NAMES: [(ServiceFlags, &str); 7] = [
    (ServiceFlags::NETWORK, "NETWORK"),
    (ServiceFlags::GETUTXO, "GETUTXO"),
    (ServiceFlags::BLOOM, "BLOOM"),
    (ServiceFlags::WITNESS, "WITNESS"),
    (ServiceFlags::COMPACT_FILTERS, "COMPACT_FILTERS"),
    (ServiceFlags::NETWORK_LIMITED, "NETWORK_LIMITED"),
    (ServiceFlags::P2P_V2, "P2P_V2"),
];

/// The book's entries in report order, and how many records did not decode.
pub fn decode_book(stored: &StoredAddrBook) -> (Vec<Entry>, usize) {
    let mut entries = Vec::with_capacity(stored.records.len());
    let mut skipped = 0;
    for record in &stored.records {
        match Entry::from_record(record) {
            Some(entry) => entries.push(entry),
            None => skipped += 1,
        }
    }
    // Tried first, then newest first; the address breaks ties so the order is stable.
    entries.sort_by_cached_key(|e| {
        (
            Reverse(e.in_tried),
            Reverse(e.time),
            address_key(&e.addr, e.port),
        )
    });
    (entries, skipped)
}

/// Core's names for the bits of `services`; unknown bits read `UNKNOWN[2^n]` as in Core's
/// `serviceFlagToStr`.
pub fn service_names(services: ServiceFlags) -> Vec<String> {
    let bits = services.to_u64();
    (0..64)
        .filter(|bit| bits & (1u64 << bit) != 0)
        .map(|bit| {
            let flag = ServiceFlags::from(1u64 << bit);
            SERVICE_NAMES
                .iter()
                .find(|(f, _)| *f == flag)
                .map(|(_, name)| (*name).to_string())
                .unwrap_or_else(|| format!("UNKNOWN[2^{bit}]"))
        })
        .collect()
}

fn table(entry: &Entry) -> &'static str {
    if entry.in_tried {
        "tried"
    } else {
        "new"
    }
}

fn last_success(entry: &Entry) -> String {
    if entry.last_success == 0 {
        "never".to_string()
    } else {
        utc_time(entry.last_success)
    }
}

/// One report line: address, services, last seen, attempts, last success, table.
pub fn describe_entry(entry: &Entry) -> String {
    let names = service_names(entry.services);
    let names = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    };
    format!(
        "{address}  services={services:016x} ({names})  last_seen={seen}  attempts={attempts}  \
         last_success={success}  table={table}",
        address = addr_names::describe(&entry.addr, entry.port),
        services = entry.services.to_u64(),
        seen = utc_time(u64::from(entry.time)),
        attempts = entry.attempts,
        success = last_success(entry),
        table = table(entry),
    )
}

/// One entry as a JSON object with the fields of [`describe_entry`].
pub fn entry_json(entry: &Entry) -> serde_json::Value {
    json!({
        "address": addr_names::describe(&entry.addr, entry.port),
        "services": format!("{:016x}", entry.services.to_u64()),
        "servicesnames": service_names(entry.services),
        "last_seen": utc_time(u64::from(entry.time)),
        "last_seen_time": entry.time,
        "attempts": entry.attempts,
        "last_success": (entry.last_success != 0).then(|| utc_time(entry.last_success)),
        "last_success_time": entry.last_success,
        "table": table(entry),
    })
}

/// The `peers` command: writes the report to `out` and the skipped-records warning to
/// `warnings`.
pub fn print_peers(
    store: &HeaderStore,
    json: bool,
    out: &mut dyn Write,
    warnings: &mut dyn Write,
) -> anyhow::Result<()> {
    let stored = store
        .load_addr_book()
        .context("cannot load the address book")?;
    let (entries, skipped) = decode_book(&stored);
    if skipped > 0 {
        writeln!(warnings, "warning: skipped {skipped} unreadable records")
            .context("cannot write to standard error")?;
    }
    let text = if json {
        let list: Vec<serde_json::Value> = entries.iter().map(entry_json).collect();
        let mut text =
            serde_json::to_string_pretty(&list).context("cannot encode the report as JSON")?;
        text.push('\n');
        text
    } else if entries.is_empty() {
        "the address book is empty\n".to_string()
    } else {
        let tried = entries.iter().filter(|e| e.in_tried).count();
        let mut text = format!(
            "{} addresses ({} tried, {} new)\n",
            entries.len(),
            tried,
            entries.len() - tried
        );
        for entry in &entries {
            text.push_str(&describe_entry(entry));
            text.push('\n');
        }
        text
    };
    out.write_all(text.as_bytes())
        .context("cannot write the report")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_follow_core() {
        assert!(service_names(ServiceFlags::NONE).is_empty());
        assert_eq!(
            service_names(ServiceFlags::from(0x409 | (1 << 20))),
            vec!["NETWORK", "WITNESS", "NETWORK_LIMITED", "UNKNOWN[2^20]"]
        );
    }
}
