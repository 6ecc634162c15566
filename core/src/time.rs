//! Time as the core sees it: a wall-clock instant handed in by the driver with every input.
//! The core never reads a clock; virtual time in tests is just a number.

use std::ops::{Add, Sub};
use std::time::Duration;

/// Milliseconds since the Unix epoch, as given by the driver.
///
/// The core compares header timestamps with it (the 2-hour future rule) and runs its timers on
/// it. A driver passes `SystemTime::now()`; a simulation passes whatever it likes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The epoch itself.
    pub const ZERO: Time = Time(0);

    /// A time `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Time {
        Time(millis)
    }

    /// A time `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: u64) -> Time {
        Time(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The time elapsed since `earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;

    fn add(self, rhs: Duration) -> Time {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(ms))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;

    fn sub(self, rhs: Duration) -> Time {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_sub(ms))
    }
}
