//! The best chain's header groups (the `headers` database, see `layout.rs`): reading heights
//! and ranges on one cursor, appending at the right edge, and cutting the chain back at a
//! height. Free functions over a database handle, so that the store and the migration
//! (`migrate.rs`, which writes groups before a `HeaderStore` exists) share one implementation.

use std::ops::Bound;
use std::path::Path;

use bitcoin::block::Header;
use heed::types::Bytes;
use heed::{Database, PutFlags, RoTxn, RwTxn};

use crate::error::StoreError;
use crate::layout::{self, GROUP_HEADERS, GROUP_LEN, HEADER_LEN};

/// Checks a group value's length: whole headers, at most [`GROUP_HEADERS`] of them.
fn checked_group<'v>(dir: &Path, group: u32, value: &'v [u8]) -> Result<&'v [u8], StoreError> {
    if value.is_empty() || !value.len().is_multiple_of(HEADER_LEN) || value.len() > GROUP_LEN {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "best chain group {group} holds {} bytes, not 1 to {GROUP_HEADERS} headers",
                value.len()
            ),
        ));
    }
    Ok(value)
}

fn decode(dir: &Path, height: u32, bytes: &[u8]) -> Result<Header, StoreError> {
    layout::decode_header(bytes).ok_or_else(|| {
        StoreError::corrupt(
            dir,
            format!("malformed best chain header at height {height}"),
        )
    })
}

/// The best-chain header at `height`; `None` above the stored chain.
pub(crate) fn header_at(
    db: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
    height: u32,
) -> Result<Option<Header>, StoreError> {
    let (group, slot) = layout::group_of(height);
    let Some(value) = db.get(txn, &layout::height_key(group))? else {
        return Ok(None);
    };
    let value = checked_group(dir, group, value)?;
    match value.get(slot * HEADER_LEN..(slot + 1) * HEADER_LEN) {
        Some(bytes) => decode(dir, height, bytes).map(Some),
        None => Ok(None),
    }
}

/// Calls `f` for each best-chain header with height in `from..=to`, in height order, on one
/// cursor over the groups; returns the height after the last one visited (`from` if none).
/// A missing height below the last stored one, a group that is not full below the last
/// group, or a malformed value is [`StoreError::Corrupt`]; the caller compares the returned
/// height with the tip to find a chain that ends early. Stops at the first error of `f`.
pub(crate) fn visit(
    db: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
    from: u32,
    to: u32,
    mut f: impl FnMut(u32, &Header) -> Result<(), StoreError>,
) -> Result<u32, StoreError> {
    visit_bytes(db, txn, dir, from, to, |height, bytes| {
        f(height, &decode(dir, height, bytes)?)
    })
}

/// [`visit`] over the headers' 80-byte serializations, undecoded: for a reader of one field
/// (the index takes each header's `prev_blockhash`, [`layout::prev_hash_of`]).
pub(crate) fn visit_bytes(
    db: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
    from: u32,
    to: u32,
    mut f: impl FnMut(u32, &[u8; HEADER_LEN]) -> Result<(), StoreError>,
) -> Result<u32, StoreError> {
    if from > to {
        return Ok(from);
    }
    let (start, end) = (
        layout::height_key(layout::group_of(from).0),
        layout::height_key(layout::group_of(to).0),
    );
    let bounds = (
        Bound::Included(start.as_slice()),
        Bound::Included(end.as_slice()),
    );
    let mut next = from;
    for entry in db.range(txn, &bounds)? {
        let (key, value) = entry?;
        let group = layout::decode_height(key).ok_or_else(|| {
            StoreError::corrupt(dir, format!("best chain key {key:02x?} is not a group"))
        })?;
        let first = layout::group_start(group);
        if first > next {
            return Err(StoreError::corrupt(
                dir,
                format!("best chain lacks height {next}"),
            ));
        }
        let value = checked_group(dir, group, value)?;
        let skip = (next - first) as usize;
        if skip * HEADER_LEN > value.len() {
            // Only possible for the first group of the range: `from` is above the chain.
            return Err(StoreError::corrupt(
                dir,
                format!("best chain lacks height {next}"),
            ));
        }
        for bytes in value[skip * HEADER_LEN..].chunks_exact(HEADER_LEN) {
            if next > to {
                return Ok(next);
            }
            let Some(bytes) = bytes.first_chunk::<HEADER_LEN>() else {
                return Err(StoreError::corrupt(
                    dir,
                    format!("best chain lacks height {next}"),
                ));
            };
            f(next, bytes)?;
            next += 1;
        }
    }
    Ok(next)
}

/// The number of stored best-chain headers: where the last group ends (`0` for an empty
/// database). A malformed last group is [`StoreError::Corrupt`].
pub(crate) fn len(
    db: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
) -> Result<u32, StoreError> {
    let Some((key, value)) = db.last(txn)? else {
        return Ok(0);
    };
    let group = layout::decode_height(key).ok_or_else(|| {
        StoreError::corrupt(dir, format!("best chain key {key:02x?} is not a group"))
    })?;
    let value = checked_group(dir, group, value)?;
    Ok(layout::group_start(group) + (value.len() / HEADER_LEN) as u32)
}

/// Appends `headers` at heights `first..`: `first` must be the right edge of the stored chain
/// (the last group ends at `first - 1`), else [`StoreError::Corrupt`]. Writes each group once:
/// the last stored group, if it is not full, is rewritten with the new headers after its own;
/// new groups go in with `MDB_APPEND`.
pub(crate) fn append(
    db: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    dir: &Path,
    first: u32,
    headers: &[Header],
) -> Result<(), StoreError> {
    if headers.is_empty() {
        return Ok(());
    }
    let stored = len(db, txn, dir)?;
    if stored != first {
        return Err(StoreError::corrupt(
            dir,
            format!("best chain ends below height {stored}, not at {first}"),
        ));
    }
    let (mut group, slot) = layout::group_of(first);
    let mut buf = Vec::with_capacity(GROUP_LEN);
    let mut rewrite = slot != 0;
    if rewrite {
        let value = db.get(txn, &layout::height_key(group))?.ok_or_else(|| {
            StoreError::corrupt(dir, format!("best chain group {group} is missing"))
        })?;
        buf.extend_from_slice(value);
    }
    let put = |txn: &mut RwTxn, group: u32, bytes: &[u8], rewrite: bool| {
        let key = layout::height_key(group);
        let flags = if rewrite {
            PutFlags::empty()
        } else {
            PutFlags::APPEND
        };
        db.put_with_flags(txn, flags, &key, bytes)
    };
    for header in headers {
        buf.extend_from_slice(&layout::encode_header(header));
        if buf.len() == GROUP_LEN {
            put(txn, group, &buf, rewrite)?;
            buf.clear();
            group += 1;
            rewrite = false;
        }
    }
    if !buf.is_empty() {
        put(txn, group, &buf, rewrite)?;
    }
    Ok(())
}

/// Removes the best-chain headers at heights `from` and above (a group that straddles `from`
/// keeps its lower part).
pub(crate) fn truncate(
    db: Database<'_, Bytes, Bytes>,
    txn: &mut RwTxn,
    dir: &Path,
    from: u32,
) -> Result<(), StoreError> {
    let (group, slot) = layout::group_of(from);
    let first_dropped = if slot == 0 { group } else { group + 1 };
    let key = layout::height_key(first_dropped);
    let bounds = (Bound::Included(key.as_slice()), Bound::Unbounded);
    db.delete_range(txn, &bounds)?;
    if slot != 0 {
        let kept = match db.get(txn, &layout::height_key(group))? {
            Some(value) => {
                let value = checked_group(dir, group, value)?;
                value[..(slot * HEADER_LEN).min(value.len())].to_vec()
            }
            None => {
                return Err(StoreError::corrupt(
                    dir,
                    format!("best chain group {group} is missing"),
                ))
            }
        };
        db.put(txn, &layout::height_key(group), &kept)?;
    }
    Ok(())
}
