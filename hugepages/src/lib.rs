//! The node binaries' global allocator: the system allocator, with every allocation of at
//! least [`HUGE_PAGE`] bytes made inside [`advising`] advised to transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`).
//!
//! Why: the header tree (48 bytes a header), its hash index and the work checkpoints are a
//! few large vectors, 58 MB at a million headers. In 4 KiB pages, loading them at startup is
//! about 15,000 page faults, and every hash-index probe of a sync is a TLB miss as well as a
//! cache miss. Most Linux systems ship THP in `madvise` mode, where only advised memory gets
//! huge pages, so the advice is what turns them on. Measured with `cargo bench -p headway
//! --bench sync_scale` (the commit that added this has the figures before and after).
//!
//! Why only inside [`advising`] (the bins wrap the chain's load in it): a huge page costs its
//! first touch too, and there it can cost far more than it saves. On the 2-core VM of issue
//! 13, touching fresh memory ran at 0.44 GB/s in huge pages against 2.6 GB/s in 4 KiB pages
//! (64 MiB, `madvise` THP, `defrag=madvise`), so a sync, which touches its tree as it grows
//! (58 bytes a header), paid about 0.13 s in page faults on its critical path at a million
//! headers. The load touches a block it fills at once, and there fewer faults win. Measured
//! with `cargo bench -p headway --bench sync_scale` (the commit that scoped the advice has the
//! figures).
//!
//! What it promises: exactly the system allocator's behaviour otherwise. The advice covers
//! the whole 2 MiB pages inside the block only (never memory outside it), is given again after
//! a `realloc` that moves or grows a block past the threshold, and its failure (THP off, an
//! old kernel, another OS) is ignored: it is a hint. Small allocations, the many message
//! buffers among them, are untouched. The library crates do not use it; an embedder picks its
//! own allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many [`advising`] calls are running (in any thread): large blocks are advised while it
/// is above zero.
static ADVISING: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` with large allocations advised to huge pages, for every thread of the process
/// while it runs (the advice is process-wide; a hint, so an allocation of another thread that
/// gets it loses nothing). Without this allocator installed it only runs `f`.
pub fn advising<T>(f: impl FnOnce() -> T) -> T {
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            ADVISING.fetch_sub(1, Ordering::Relaxed);
        }
    }
    ADVISING.fetch_add(1, Ordering::Relaxed);
    let _scope = Scope;
    f()
}

/// The size of a transparent huge page on x86-64 and most aarch64 kernels, and the smallest
/// allocation advised.
pub const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, advising large blocks to huge pages (see the crate docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct HugePageAlloc;

/// Advises the whole huge pages inside `[ptr, ptr + size)`.
fn advise(ptr: *mut u8, size: usize) {
    if ptr.is_null() || size < HUGE_PAGE || ADVISING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let start = (ptr as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let end = (ptr as usize).saturating_add(size) / HUGE_PAGE * HUGE_PAGE;
    if start >= end {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `[start, end)` lies inside a block the system allocator just handed out, so it
    // is mapped memory of this process; MADV_HUGEPAGE changes how it is backed, never its
    // contents, and its result is only a hint.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

// SAFETY: every call is forwarded to `System` with the same arguments, and its result is
// returned unchanged; `advise` only hints at the backing of memory inside the returned block.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as the caller gave it.
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as the caller gave it.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as the caller gave it.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as the caller gave it.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        advise(moved, new_size);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_blocks_keep_their_contents_through_realloc() {
        let a = HugePageAlloc;
        for size in [64, HUGE_PAGE - 1, HUGE_PAGE, 3 * HUGE_PAGE + 17] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero size; the block is written within its size, grown, read
            // within the old size, and freed with its current layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                for i in (0..size).step_by(4093) {
                    *p.add(i) = (i % 251) as u8;
                }
                let grown = 2 * size + HUGE_PAGE;
                let q = a.realloc(p, layout, grown);
                assert!(!q.is_null());
                for i in (0..size).step_by(4093) {
                    assert_eq!(*q.add(i), (i % 251) as u8);
                }
                a.dealloc(q, Layout::from_size_align(grown, 8).unwrap());
                let z = a.alloc_zeroed(layout);
                assert!((0..size).step_by(4093).all(|i| *z.add(i) == 0));
                a.dealloc(z, layout);
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_block_is_advised_inside_advising_only() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        let advised = advised_mapping(true);
        let plain = advised_mapping(false);
        if mode.is_empty() || mode.contains("[never]") {
            // Without THP (not built in, or switched off) the advice may be refused or not
            // recorded, and nothing else changes: only the allocation is checked here.
            eprintln!("transparent huge pages off ({mode:?}): the advice is not checked");
            return;
        }
        assert!(
            advised,
            "a 16 MiB block's mapping is not advised inside `advising` (THP mode {mode:?})"
        );
        assert!(
            !plain,
            "a 16 MiB block's mapping is advised outside `advising` (THP mode {mode:?})"
        );
    }

    /// Whether the mapping of a fresh 16 MiB block, allocated inside [`advising`] or not,
    /// carries the huge-page advice.
    #[cfg(target_os = "linux")]
    fn advised_mapping(inside_advising: bool) -> bool {
        let a = HugePageAlloc;
        let size = 8 * HUGE_PAGE;
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: written within its size, then freed with its layout.
        unsafe {
            let p = if inside_advising {
                advising(|| a.alloc(layout))
            } else {
                a.alloc(layout)
            };
            assert!(!p.is_null());
            std::ptr::write_bytes(p, 1, size);
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
            // The mapping that holds the block's first whole huge page carries the advice
            // ("hg" in VmFlags; the advice splits the block's mapping at that page).
            let start = (p as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE;
            let mut inside = false;
            let mut flagged = false;
            for line in smaps.lines() {
                if let Some((range, _)) = line.split_once(' ') {
                    if let Some((lo, hi)) = range.split_once('-') {
                        if let (Ok(lo), Ok(hi)) =
                            (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                        {
                            inside = lo <= start && start < hi;
                            continue;
                        }
                    }
                }
                if inside && line.starts_with("VmFlags:") {
                    flagged = line.split_whitespace().any(|f| f == "hg");
                }
            }
            a.dealloc(p, layout);
            flagged
        }
    }
}
