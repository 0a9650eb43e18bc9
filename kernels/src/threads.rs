//! Runs a whole job on one of rayon's worker threads, so the kernels' parallel parts start
//! without a hand-over between threads.
//!
//! A parallel loop started from a thread outside rayon's pool (the program's main thread) is
//! queued for the pool, and the caller sleeps on a lock until a worker has run it: two wake-ups
//! through the kernel's scheduler for every parallel region. A training step starts dozens of
//! regions of tens of microseconds each (a dense layer at batch 64, an element-wise pass, an Adam
//! update), so at `RAYON_NUM_THREADS=1` `perf` found 6% of the MLP GAN's cycles in
//! `try_to_wake_up` and 3% in `finish_task_switch`, and a second thread made it slower, not
//! faster. Started from a worker, a region runs its first part on that worker at once and only
//! wakes the others. Measured with `zoo bench gan-mnist --backends flex --batches 200`, two
//! alternating rounds on 2 cores (README, "Performance against PyTorch"): at 2 threads
//! 4,932-5,465 samples/s from the main thread, 5,569-5,752 from a worker.
//!
//! ```
//! use zoo_kernels::threads::run_on_worker;
//!
//! assert!(rayon::current_thread_index().is_none()); // the caller is outside the pool
//! let worker = run_on_worker(rayon::current_thread_index);
//! assert!(worker.is_some()); // the job ran on one of the pool's threads
//! // Called from a worker, a job runs in place, on that same worker.
//! let (outer, inner) =
//!     run_on_worker(|| (rayon::current_thread_index(), run_on_worker(rayon::current_thread_index)));
//! assert_eq!(outer, inner);
//! ```

/// Stack of the pool's threads when [`run_on_worker`] builds it: a program's main thread gets
/// 8 MiB on Linux, rayon's threads 2 MiB by default.
const WORKER_STACK_BYTES: usize = 8 << 20;

/// Runs `work` on a thread of rayon's global pool and returns its result; the calling thread
/// waits. Called from a worker already, it runs `work` in place.
///
/// The first call builds the global pool with [`WORKER_STACK_BYTES`] stacks and the thread
/// count rayon would choose (`RAYON_NUM_THREADS`, else one per core), unless something built
/// it before.
pub fn run_on_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    // An error only says that the global pool exists already; it is used as it is.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK_BYTES)
        .build_global();
    rayon::scope(|_| work())
}
