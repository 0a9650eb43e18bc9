//! This CPU's FP32 peak, measured: every core runs chains of independent fused multiply-adds
//! (12 vector accumulators, more than the FMA latency times the FMA units) for a fixed time, with
//! AVX2+FMA (8 lanes) and, where the CPU has it, AVX-512 (16 lanes).
//!
//! The README's "share of peak" figures divide by this number rather than by a data-sheet
//! formula: the lent machines differ (a Zen 4 EPYC issues one 512-bit FMA per cycle, as two
//! 256-bit halves; an AVX-512 Xeon issues two), and the clock a VM runs at is not the one on the
//! box.
//!
//! ```sh
//! cargo run --release --features cpu --example fp32_peak
//! ```

use std::time::{Duration, Instant};

/// Vector accumulators per chain set: enough to hide a 4-cycle FMA latency on two units.
const CHAINS: usize = 12;

/// How long each measurement runs on every core.
const RUN: Duration = Duration::from_millis(1500);

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("FP32 fused multiply-add throughput, {cores} cores, {RUN:?} per measurement");
    for kind in Kind::available() {
        let one = kind.measure(1);
        let all = kind.measure(cores);
        println!(
            "{:>8}: {:6.1} GFLOP/s on one core, {:6.1} GFLOP/s on {cores} ({:.1} per core)",
            kind.name(),
            one / 1e9,
            all / 1e9,
            all / 1e9 / cores as f64
        );
    }
}

/// An instruction set whose FMA throughput is measured.
#[derive(Clone, Copy)]
enum Kind {
    Avx2,
    Avx512,
}

impl Kind {
    /// The kinds this CPU runs.
    fn available() -> Vec<Kind> {
        let mut kinds = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                kinds.push(Kind::Avx2);
            }
            if is_x86_feature_detected!("avx512f") {
                kinds.push(Kind::Avx512);
            }
        }
        if kinds.is_empty() {
            eprintln!("fp32_peak: this CPU has neither AVX2+FMA nor AVX-512; nothing to measure");
        }
        kinds
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Avx2 => "AVX2",
            Kind::Avx512 => "AVX-512",
        }
    }

    /// FLOP/s of `threads` threads running FMA chains at once, summed.
    fn measure(self, threads: usize) -> f64 {
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..threads)
                .map(|_| scope.spawn(move || self.run_for(RUN)))
                .collect();
            runs.into_iter()
                .map(|run| run.join().expect("an FMA thread panicked"))
                .sum()
        })
    }

    /// FLOP/s of this thread over `duration`, in blocks of a million iterations.
    fn run_for(self, duration: Duration) -> f64 {
        let start = Instant::now();
        let mut flop = 0.0;
        while start.elapsed() < duration {
            flop += self.block(1_000_000);
        }
        flop / start.elapsed().as_secs_f64()
    }

    /// Runs `iterations` rounds of one FMA on each chain; returns the FLOP done.
    fn block(self, iterations: usize) -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `available` only lists kinds whose features the CPU has.
            let lanes = match self {
                Kind::Avx2 => unsafe { x86::avx2(iterations) },
                Kind::Avx512 => unsafe { x86::avx512(iterations) },
            };
            (iterations * CHAINS * lanes * 2) as f64
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = iterations;
            unreachable!("no kind is available off x86_64")
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// `iterations` rounds of 12 independent 8-lane FMAs; returns the lanes per FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iterations: usize) -> usize {
        let (m, c) = (_mm256_set1_ps(0.999_9), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, m, c);
            }
        }
        black_box(acc);
        8
    }

    /// `iterations` rounds of 12 independent 16-lane FMAs; returns the lanes per FMA.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iterations: usize) -> usize {
        let (m, c) = (_mm512_set1_ps(0.999_9), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, m, c);
            }
        }
        black_box(acc);
        16
    }
}
