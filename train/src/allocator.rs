//! Keeps freed tensor buffers in the process instead of handing them back to the kernel.
//!
//! A training step allocates and frees the same tensor buffers every batch, many of them above
//! glibc's default mmap threshold (128 KiB, raised only as such blocks are freed): each of those
//! allocations then maps fresh pages, takes a page fault and a page clear per 4 KiB, and unmaps
//! them when freed. On this project's 2-core machine that made copying a 784x512 `f32` matrix out
//! of a tensor take 1.5 ms instead of 0.07 ms, and a `[784, 64] x [64, 512]` matmul 1.6 ms
//! instead of 0.5 ms. [`keep_freed_memory`] serves every allocation up to 32 MiB from the heap
//! and keeps up to 1 GiB of freed memory at its top, so the next batch reuses the pages.
//!
//! It also puts every thread on that one heap (one arena). Training runs on rayon's threads, and
//! glibc gives each thread an arena of its own, made of 64 MiB heaps that it unmaps as soon as
//! one is empty, whatever the trim threshold: `perf` found 4% of the training threads in page
//! faults, page clearing and `munmap` called from `heap_trim`. glibc picks a thread's arena at
//! the thread's first allocation, and `M_ARENA_MAX` only limits the arenas made after it is set,
//! so the call must come before the threads start: [`train`](crate::train) makes it before it
//! starts rayon's pool, the `zoo` binary first thing in `main`, and
//! [`Backend::device`](crate::backend::Backend::device) too, for code that builds a device and
//! trains on its own. The arena's lock is taken once per tensor or scratch buffer, not per
//! element.
//!
//! Until 2026-12-06 only `Backend::device` made the call, on a rayon worker, so a worker that
//! had allocated before it kept its own arena. `zoo bench cnn-mnist --backends flex --batches
//! 80 --warmup 5` at 2 threads then took 152,000-294,000 page faults, against 55,000-57,000 with
//! the call first; five alternating rounds at 150 batches gave 1,515-1,861 samples/s (median
//! 1,705) against 1,655-1,906 (median 1,856), and at 1 thread 875-886 against 987-999.
//! `tests/malloc_arenas.rs` checks that a run leaves one arena.
//!
//! Measured against glibc's defaults and against mimalloc (README, "mallopt or a global
//! allocator?"): the classic CNN trains at 980-1,081 samples/s with it, 664-673 without, 953-967
//! with mimalloc; so no global allocator.

/// Largest allocation served from the heap: glibc's upper limit for the mmap threshold.
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory kept at the top of the heap before glibc returns it to the kernel.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Sets glibc's allocator to reuse freed memory (see the module documentation); call it once at
/// start-up, before the first tensor and before any other thread starts. Returns whether the
/// settings took effect (always false off glibc, where nothing is changed).
///
/// ```
/// let applied = zoo_train::allocator::keep_freed_memory();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (MMAP_THRESHOLD, TRIM_THRESHOLD);
        false
    }
}
