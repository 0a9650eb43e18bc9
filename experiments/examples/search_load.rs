//! Load on a search storage: WORKERS processes share one study of TRIALS trivial trials (claim,
//! one report, finish: nothing trains) through the [`SearchStorage`] trait, as `zoo search`
//! workers do. Prints trials per second, claim latency (p50, p99), duplicates and lost trials.
//!
//! ```sh
//! cargo run --release -p zoo-experiments --example search_load -- \
//!     --storage postgresql://postgres@127.0.0.1:5432/zoo --workers 8 --trials 300
//! cargo run --release -p zoo-experiments --example search_load -- \
//!     --storage sqlite:/tmp/load.db --workers 8 --trials 300
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use zoo_experiments::search::open_storage;
use zoo_experiments::search::space::Assignment;
use zoo_experiments::search::storage::{claim_token, StudySpec, TrialStatus};

/// Drives a search storage with trivial trials from several processes.
#[derive(Parser)]
struct Args {
    /// sqlite:PATH or postgresql://USER@HOST:PORT/DB.
    #[arg(long)]
    storage: String,
    /// Worker processes.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Trials of the study.
    #[arg(long, default_value_t = 300)]
    trials: usize,
    /// Study name (default: a new one per run).
    #[arg(long)]
    study: Option<String>,
    /// Run as one worker (what the first process starts).
    #[arg(long, hide = true)]
    child: bool,
}

fn spec(name: &str) -> StudySpec {
    StudySpec {
        name: name.to_string(),
        recipe: "name = \"load\"\n".to_string(),
        strategy: "random".to_string(),
        metric: "valid_accuracy".to_string(),
        direction: "max".to_string(),
        seed: 0,
        epochs_max: 1,
    }
}

/// One worker: claims until the study is done; prints `claim MICROS` per claimed trial and
/// `done NUMBER` per trial it finished.
fn worker(args: &Args, study: &str) -> Result<()> {
    let storage = open_storage(&args.storage)?;
    let id = storage.open_study(&spec(study))?;
    loop {
        let token = claim_token();
        let start = Instant::now();
        let claimed = storage.claim(id, args.trials, &token, 60.0, &mut |number, _| {
            let mut params = Assignment::new();
            params.insert(
                "optimizer.lr".into(),
                toml::Value::Float(1e-3 * (number + 1) as f64),
            );
            Ok((params, 0))
        })?;
        let micros = start.elapsed().as_micros();
        match claimed {
            Some(trial) => {
                println!("claim {micros}");
                let value = 1.0 / (trial.number + 1) as f64;
                storage.report(trial.id, &token, 1, value)?;
                if storage.finish(trial.id, &token, TrialStatus::Complete, Some(value), None)? {
                    println!("done {}", trial.number);
                }
            }
            None if storage
                .trials(id)?
                .iter()
                .any(|t| t.status == TrialStatus::Running) =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            None => return Ok(()),
        }
    }
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64 / 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    let study = args.study.clone().unwrap_or_else(|| {
        format!(
            "load-{}-{}",
            std::process::id(),
            claim_token().rsplit(':').next().unwrap_or("0")
        )
    });
    if args.child {
        return worker(&args, &study);
    }
    if args.workers == 0 || args.trials == 0 {
        bail!("--workers and --trials must be >= 1");
    }
    // The schema and the study exist before the workers start.
    let storage = open_storage(&args.storage)?;
    let id = storage.open_study(&spec(&study))?;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let children = (0..args.workers)
        .map(|_| {
            Command::new(&exe)
                .args(["--child", "--storage", &args.storage, "--study", &study])
                .args(["--trials", &args.trials.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .context("cannot start a worker")
        })
        .collect::<Result<Vec<_>>>()?;
    let mut claims = Vec::new();
    let mut done: BTreeMap<usize, usize> = BTreeMap::new();
    for mut child in children {
        let stdout = child.stdout.take().context("worker output")?;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            match line.split_once(' ') {
                Some(("claim", micros)) => claims.push(micros.parse::<u128>()?),
                Some(("done", number)) => *done.entry(number.parse()?).or_default() += 1,
                _ => {}
            }
        }
        if !child.wait()?.success() {
            bail!("a worker failed");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    claims.sort_unstable();
    let stored = storage.trials(id)?;
    let finished: std::collections::BTreeSet<usize> = stored
        .iter()
        .filter(|t| t.status.is_finished())
        .map(|t| t.number)
        .collect();
    let duplicates =
        done.values().map(|n| n - 1).sum::<usize>() + stored.len().saturating_sub(args.trials);
    let lost = (0..args.trials)
        .filter(|n| !finished.contains(n) || !done.contains_key(n))
        .count();
    let kind = args.storage.split(':').next().unwrap_or("");
    println!("| storage | workers | trials | trials/s | claim p50 (ms) | claim p99 (ms) | duplicates | lost |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {kind} | {} | {} | {:.0} | {:.2} | {:.2} | {duplicates} | {lost} |",
        args.workers,
        stored.len(),
        finished.len() as f64 / seconds,
        percentile(&claims, 0.50),
        percentile(&claims, 0.99),
    );
    if duplicates > 0 || lost > 0 {
        bail!("{duplicates} duplicate(s), {lost} lost trial(s)");
    }
    Ok(())
}
