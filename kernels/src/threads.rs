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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::Yield;

/// Stack of the pool's threads when [`run_on_worker`] builds it: a program's main thread gets
/// 8 MiB on Linux, rayon's threads 2 MiB by default.
const WORKER_STACK_BYTES: usize = 8 << 20;

/// Runs `work` on a thread of rayon's global pool and returns its result; the calling thread
/// waits. Called from a worker already, it runs `work` in place.
///
/// The first call builds the global pool with 8 MiB stacks and the thread count rayon would
/// choose (`RAYON_NUM_THREADS`, else one per core), unless something built it before.
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

/// How long a woken worker keeps looking for work before it goes back to rayon's sleep.
const SPIN: Duration = Duration::from_millis(1);

/// The workers spinning for work now (see [`keep_awake`]).
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// Keeps the pool's other workers awake, looking for work, for the next [`SPIN`] after their
/// last job, so that the parallel parts of the next operations start on them at once.
///
/// rayon puts a worker to sleep after about 32 rounds without work (tens of microseconds), and
/// the next parallel region wakes it through the kernel's scheduler: the gaps between a
/// training step's regions are longer than that. On this 2-core machine `perf` found 11% of the
/// MLP GAN's training thread in those wake-ups at 2 threads. OpenMP runtimes, and so PyTorch,
/// keep their workers spinning for a while instead; this does the same within rayon: each other
/// worker runs a job that takes work through `rayon::yield_now` until it has found none for
/// [`SPIN`]. A no-op at one thread, or while the workers are still awake from the last call.
/// Every flex kernel calls it first.
///
/// Measured with `zoo bench RECIPE --backends flex --batches 150 --warmup 10` on 2 cores,
/// alternating with a build without it (samples/s at 2 threads; at 1 thread nothing changes).
/// With workers that looked again as soon as they found nothing: gan-mnist 10,709-11,315 →
/// 13,758-13,844 (two rounds), cnn-mnist 1,739 → 1,788 and lstm-seqmnist 11,997 → 12,259 (one
/// round each), but mlp-mnist, whose regions are Burn's tiny matrix products, 2-5% slower
/// (118,419-126,904 → 111,331-121,176 over five rounds), `perf` showing the waiting worker in
/// the queues' shared atomics (crossbeam's steal and epoch pinning) beside the working thread.
/// A pause of 32 `spin_loop` hints between looks did not help it, and kept the core from other
/// processes: two `zoo bench gan-mnist` at 2 threads each, side by side on the 2 cores (as
/// `zoo search --workers 2` runs), gave 6,099-6,830 samples/s each, against 7,763-8,595 with
/// sleeping workers. So between two looks a waiting worker gives its core to any other thread
/// that is ready (`std::thread::yield_now`), which costs nothing when none is: side by side
/// 8,909-9,093 each (two cnn-mnist: 1,046-1,063 against 997-999 sleeping), and alone, against
/// the pauses, one round: gan-mnist 14,456 → 15,003, cnn-mnist 1,985 → 2,013, lstm-seqmnist
/// 12,475 → 12,119, mlp-mnist 135,079 → 143,318.
pub(crate) fn keep_awake() {
    let threads = rayon::current_num_threads();
    let owner = rayon::current_thread_index();
    let others = threads - usize::from(owner.is_some());
    if threads < 2
        || SPINNING
            .compare_exchange(0, others, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    rayon::spawn_broadcast(move |context| {
        if Some(context.index()) == owner {
            return;
        }
        let mut last_job = Instant::now();
        loop {
            match rayon::yield_now() {
                Some(Yield::Executed) => last_job = Instant::now(),
                // Between looks the core goes to any other thread that is ready (see above).
                Some(Yield::Idle) if last_job.elapsed() < SPIN => std::thread::yield_now(),
                _ => break,
            }
        }
        SPINNING.fetch_sub(1, Ordering::AcqRel);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn awake_workers_run_the_work_and_go_back_to_sleep() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a thread pool");
        let sum: u64 = pool.install(|| {
            keep_awake();
            (0..100_000u64).into_par_iter().sum()
        });
        assert_eq!(sum, 99_999 * 100_000 / 2);
        // The other workers stop looking for work a millisecond after their last job (other
        // tests in this binary may wake them again meanwhile, hence the long deadline).
        let deadline = Instant::now() + Duration::from_secs(10);
        while SPINNING.load(Ordering::Acquire) != 0 {
            assert!(
                Instant::now() < deadline,
                "workers still spinning after 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
