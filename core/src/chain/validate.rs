//! Contextual header checks, as Core's `ContextualCheckBlockHeader` (reference/protocol.md
//! §3.10), each a small function of plain values so it can be tested without a chain:
//! median time past, the 2-hour future limit, the BIP94 timewarp rule, and the version floor
//! of BIP34/BIP66/BIP65.

use crate::params::Params;
use crate::time::Time;

use super::HeaderError;

/// How many previous timestamps the median time past covers (Core's `nMedianTimeSpan`).
pub const MEDIAN_TIME_SPAN: usize = 11;

/// How far ahead of our clock a header's time may be (Core's `MAX_FUTURE_BLOCK_TIME`, 2 h).
pub const MAX_FUTURE_BLOCK_TIME_SECS: u64 = 2 * 60 * 60;

/// How far before its parent the first block of a period may be under BIP94 (Core's
/// `MAX_TIMEWARP`, 600 s).
pub const MAX_TIMEWARP_SECS: u32 = 600;

/// Core's `GetMedianTimePast` over up to [`MEDIAN_TIME_SPAN`] timestamps (the parent and the
/// blocks before it, fewer near genesis): the element at index `len / 2` once sorted. Zero
/// for an empty slice.
pub fn median_time_past(times: &mut [u32]) -> u32 {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

/// "time-too-old": the time must be strictly after the median time past.
pub fn check_median_time_past(time: u32, median: u32) -> Result<(), HeaderError> {
    if time <= median {
        return Err(HeaderError::TimeTooOld { time, median });
    }
    Ok(())
}

/// BIP94 "time-timewarp-attack": on networks that enforce it, the first block of a period
/// (`height.is_multiple_of(interval)`) may be at most 600 s before its parent.
pub fn check_timewarp(
    params: &Params,
    height: u32,
    time: u32,
    prev_time: u32,
) -> Result<(), HeaderError> {
    let interval = params.difficulty_adjustment_interval().max(1);
    if params.enforce_bip94
        && height.is_multiple_of(interval)
        && i64::from(time) < i64::from(prev_time) - i64::from(MAX_TIMEWARP_SECS)
    {
        return Err(HeaderError::TimewarpAttack {
            time,
            prev: prev_time,
        });
    }
    Ok(())
}

/// "time-too-new": the time may be at most 2 hours after `now`.
pub fn check_not_too_new(time: u32, now: Time) -> Result<(), HeaderError> {
    if u64::from(time) > now.as_secs().saturating_add(MAX_FUTURE_BLOCK_TIME_SECS) {
        return Err(HeaderError::TimeTooNew {
            time,
            now: now.as_secs(),
        });
    }
    Ok(())
}

/// "bad-version": the version must reach what BIP34/BIP66/BIP65 require at `height`.
///
/// Public so that a header can be judged at a height the local tree does not reach (for
/// example the July 2015 invalid fork at mainnet height 363731, in the tests).
pub fn check_version(params: &Params, height: u32, version: i32) -> Result<(), HeaderError> {
    let min = params.min_version_at(height);
    if version < min {
        return Err(HeaderError::BadVersion {
            version,
            min,
            height,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;

    #[test]
    fn median_is_the_middle_of_the_sorted_times() {
        assert_eq!(median_time_past(&mut [5, 1, 3]), 3);
        assert_eq!(median_time_past(&mut [4, 1]), 4);
        assert_eq!(median_time_past(&mut [7]), 7);
        assert_eq!(median_time_past(&mut []), 0);
        let mut eleven = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
        assert_eq!(median_time_past(&mut eleven), 6);
    }

    #[test]
    fn timewarp_only_at_period_start_on_bip94() {
        let t4 = Network::Testnet4.params();
        assert!(check_timewarp(&t4, 2016, 1000, 1600).is_ok());
        assert_eq!(
            check_timewarp(&t4, 2016, 999, 1600),
            Err(HeaderError::TimewarpAttack {
                time: 999,
                prev: 1600
            })
        );
        assert!(check_timewarp(&t4, 2017, 0, 1600).is_ok());
        assert!(check_timewarp(&Network::Testnet3.params(), 2016, 0, 1600).is_ok());
    }

    #[test]
    fn future_limit_is_two_hours() {
        let now = Time::from_secs(1_000_000);
        assert!(check_not_too_new(1_007_200, now).is_ok());
        assert_eq!(
            check_not_too_new(1_007_201, now),
            Err(HeaderError::TimeTooNew {
                time: 1_007_201,
                now: 1_000_000
            })
        );
    }
}
