//! A cache prefetch hint, for the core's hash index: [`prefetch`] asks the CPU to start
//! loading the cache line of one slice element, and returns at once.
//!
//! Why: during a sync each header's node index goes to a random slot of the hash index (5 MB
//! at a million headers), a cache miss per header. The core used to touch the slots of a
//! whole `headers` message up front with ordinary loads, which block the pipeline when they
//! miss and were evicted again before their inserts on the 2-core bench VM (`perf annotate`
//! of a 1M sync: 87% of the insert's time on its first slot load). A prefetch instruction a
//! few headers ahead blocks nothing. It needs `unsafe` (`_mm_prefetch`), which the core
//! forbids, so it lives here, alone.
//!
//! What it promises: nothing observable. A prefetch reads nothing architecturally and never
//! faults; an index out of range, or a target without the instruction (anything but x86-64
//! here), does nothing at all.

#![deny(unsafe_op_in_unsafe_fn)]

/// Hints that `slice[index]` will be read soon: its cache line is brought towards the core
/// (all cache levels, `_MM_HINT_T0`). Does nothing if `index` is out of range.
#[inline]
pub fn prefetch<T>(slice: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = slice.get(index) {
        let ptr = (item as *const T).cast::<i8>();
        // SAFETY: `_mm_prefetch` only needs SSE, which every x86-64 CPU has, and it is a hint:
        // it neither reads nor writes memory as far as the program can tell and cannot fault.
        // The pointer comes from a live reference anyway.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, index);
}

#[cfg(test)]
mod tests {
    use super::prefetch;

    #[test]
    fn a_prefetch_changes_nothing_in_range_or_out_of_it() {
        let values: Vec<u32> = (0..1000).collect();
        for index in [0, 1, 999, 1000, usize::MAX] {
            prefetch(&values, index);
        }
        prefetch::<u8>(&[], 0);
        assert_eq!(values, (0..1000).collect::<Vec<u32>>());
    }
}
