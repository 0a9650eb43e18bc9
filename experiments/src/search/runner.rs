//! `zoo search`: trials proposed by a strategy, trained by [`zoo_train::train`] (and scored by
//! [`crate::gan_quality`] for a GAN), pruned by successive halving where asked, stored in a
//! [`SearchStorage`] so that a killed search continues and workers anywhere share a study.
//!
//! One call of [`search`] is one worker: it claims a trial, trains it, records it, and claims
//! the next until the study has its trials. `zoo search --workers K` starts K such processes;
//! each trial runs alone in its process, so its figures depend on its parameters and seed only,
//! whatever ran beside it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use zoo_train::recipe::{Recipe, Task};
use zoo_train::{train, EpochCallback, EpochFigures, RunOptions};

use super::sampler::{Observation, RandomSampler, Sampler, TpeSampler};
use super::space::{to_overrides, Assignment, SearchSpace};
use super::storage::{
    claim_token, SearchStorage, StudySpec, TrialRecord, TrialStatus, HEARTBEAT_SECONDS,
};
use crate::gan_quality::score_run;

/// How trials are proposed and pruned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Every combination of the space (choice and int parameters only), in order.
    Grid,
    /// Independent uniform draws.
    Random,
    /// Random draws, pruned by asynchronous successive halving (reduction factor 3).
    Halving,
    /// Random draws spread over Hyperband brackets, each pruned by successive halving.
    Hyperband,
    /// Tree-structured Parzen Estimator after 10 random start-up trials.
    Tpe,
}

impl Strategy {
    /// The name stored with the study.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
            Strategy::Halving => "halving",
            Strategy::Hyperband => "hyperband",
            Strategy::Tpe => "tpe",
        }
    }
}

/// A figure a search can optimize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Its name in `summary.json` and in the per-epoch figures (`valid_accuracy`, ...).
    pub name: &'static str,
    /// Whether higher is better.
    pub maximize: bool,
    /// Whether every epoch reports it (what pruning needs); a GAN's quality is scored once, at
    /// the end.
    pub per_epoch: bool,
}

/// The figures a search can optimize for a task; the first is the default.
pub fn task_metrics(task: Task) -> &'static [Metric] {
    const fn m(name: &'static str, maximize: bool, per_epoch: bool) -> Metric {
        Metric {
            name,
            maximize,
            per_epoch,
        }
    }
    const CLASSIFY: [Metric; 2] = [
        m("valid_accuracy", true, true),
        m("valid_loss", false, true),
    ];
    const LANGUAGE: [Metric; 2] = [
        m("valid_loss", false, true),
        m("valid_accuracy", true, true),
    ];
    const FORECAST: [Metric; 1] = [m("valid_loss", false, true)];
    const GAN: [Metric; 2] = [
        m("mnist_score", true, false),
        m("frechet_distance", false, false),
    ];
    match task {
        Task::ImageClassification => &CLASSIFY,
        Task::CharLm => &LANGUAGE,
        Task::Forecast => &FORECAST,
        Task::Gan => &GAN,
    }
}

/// The metric called `name` for `task` (its default when `None`); an error listing the task's
/// metrics otherwise.
pub fn metric_for(task: Task, name: Option<&str>) -> Result<Metric> {
    let metrics = task_metrics(task);
    let Some(name) = name else {
        return Ok(metrics[0]);
    };
    metrics
        .iter()
        .copied()
        .find(|m| m.name == name)
        .with_context(|| {
            let names: Vec<&str> = metrics.iter().map(|m| m.name).collect();
            format!(
                "--metric {name}: a {} recipe is searched by {}",
                task.name(),
                names.join(" or ")
            )
        })
}

/// Everything a search needs besides the recipe.
#[derive(Clone)]
pub struct SearchOptions {
    /// Proposal and pruning strategy.
    pub strategy: Strategy,
    /// Finished trials wanted (complete, pruned or failed).
    pub trials: usize,
    /// Study name in the storage.
    pub study: String,
    /// The storage.
    pub storage: Arc<dyn SearchStorage>,
    /// The metric optimized (see [`metric_for`]).
    pub metric: Metric,
    /// Seed of the proposals (the trials train with the recipe's seed).
    pub seed: u64,
    /// Epochs of a trial that is never pruned (the recipe's when `None`).
    pub epochs_max: Option<usize>,
    /// A running trial silent for longer than this many seconds is re-run by another worker.
    pub grace_seconds: f64,
    /// The study's folder: its trials' run folders and its reports (nothing else in it).
    pub out: PathBuf,
    /// Backend and data folder of every trial.
    pub run: RunOptions,
}

/// Successive-halving reduction factor.
const ETA: usize = 3;

/// Checks a search before anything trains: trials and grace, the metric against the recipe's
/// task, and pruning against the metric.
pub fn validate(base: &Recipe, options: &SearchOptions) -> Result<()> {
    if options.trials == 0 {
        bail!("--trials must be >= 1");
    }
    if !(options.grace_seconds > 0.0 && options.grace_seconds.is_finite()) {
        bail!("--heartbeat-grace must be > 0 seconds");
    }
    if (options.grace_seconds as u64) < 2 * HEARTBEAT_SECONDS {
        eprintln!(
            "warning: a grace of {} s is shorter than two heartbeats ({HEARTBEAT_SECONDS} s each): a busy worker may lose its trial",
            options.grace_seconds
        );
    }
    let task = base.task();
    if !task_metrics(task).contains(&options.metric) {
        metric_for(task, Some(options.metric.name))?;
    }
    if matches!(options.strategy, Strategy::Halving | Strategy::Hyperband)
        && !options.metric.per_epoch
    {
        bail!(
            "--strategy {}: pruning compares trials after each epoch, but {} is scored once at the end of a {} run; use grid, random or tpe",
            options.strategy.name(),
            options.metric.name,
            task.name()
        );
    }
    Ok(())
}

/// Runs (or continues) the study until `trials` trials are finished, as one worker; returns the
/// parsed space.
pub fn search(base: &Recipe, options: &SearchOptions) -> Result<SearchSpace> {
    validate(base, options)?;
    let space = SearchSpace::parse(
        base.search
            .as_ref()
            .context("the recipe has no [search] table")?,
    )
    .context("key 'search'")?;
    let mut bare = base.clone();
    bare.search = None;
    if let Some(epochs) = options.epochs_max {
        bare.training.epochs = epochs;
    }
    // The grid is enumerated once (an error naming a continuous key otherwise).
    let grid = if options.strategy == Strategy::Grid {
        space.grid()?
    } else {
        Vec::new()
    };
    check_space_keys(&bare, &space, &grid, options)?;
    let budget = match options.strategy {
        Strategy::Grid => options.trials.min(grid.len()),
        _ => options.trials,
    };
    let spec = StudySpec {
        name: options.study.clone(),
        recipe: base.to_toml(),
        strategy: options.strategy.name().to_string(),
        metric: options.metric.name.to_string(),
        direction: if options.metric.maximize {
            "max"
        } else {
            "min"
        }
        .to_string(),
        seed: options.seed,
        epochs_max: bare.training.epochs,
    };
    let study = options.storage.open_study(&spec)?;
    claim_folder(options)?;
    loop {
        let worker = claim_token();
        let mut propose = |number: usize, trials: &[TrialRecord]| {
            propose(options, &space, &grid, &bare, number, trials)
        };
        match options
            .storage
            .claim(study, budget, &worker, options.grace_seconds, &mut propose)?
        {
            Some(trial) => run_trial(&bare, options, study, &trial)?,
            // Every trial is claimed; some may still run elsewhere. Wait for them: one whose
            // worker dies is claimed here once its heartbeat is older than the grace, so the
            // study ends with exactly its trials finished.
            None if options
                .storage
                .trials(study)?
                .iter()
                .any(|t| t.status == TrialStatus::Running) =>
            {
                std::thread::sleep(Duration::from_secs_f64(
                    (options.grace_seconds / 4.0).clamp(0.2, 2.0),
                ));
            }
            None => return Ok(space),
        }
    }
}

/// The study folder holds one study: a folder already holding another study's trials is
/// refused, so two searches never overwrite each other's trials or `best.toml`.
fn claim_folder(options: &SearchOptions) -> Result<()> {
    let marker = options.out.join("study.txt");
    let this = format!("{}\n", options.study);
    match std::fs::read_to_string(&marker) {
        Ok(owner) if owner != this => bail!(
            "'{}' holds the trials of study '{}', not '{}': choose another --out",
            options.out.display(),
            owner.trim(),
            options.study
        ),
        Ok(_) => Ok(()),
        Err(_) => {
            zoo_datasets::write_atomically(&marker, this.as_bytes())?;
            Ok(())
        }
    }
}

/// The run folder of trial `number` in a study folder.
pub fn trial_dir(out: &std::path::Path, number: usize) -> PathBuf {
    out.join("trials").join(format!("trial-{number:04}"))
}

/// Every key of the space must be a recipe key with a valid value: checked on one draw (every
/// point for grid) before anything trains.
fn check_space_keys(
    bare: &Recipe,
    space: &SearchSpace,
    grid: &[Assignment],
    options: &SearchOptions,
) -> Result<()> {
    let points = match options.strategy {
        Strategy::Grid => grid.to_vec(),
        _ => vec![space.sample(&mut StdRng::seed_from_u64(options.seed))],
    };
    for point in points {
        Recipe::parse("search space", &bare.to_toml(), &to_overrides(&point))
            .context("a value from [search] does not fit the recipe")?;
    }
    Ok(())
}

fn propose(
    options: &SearchOptions,
    space: &SearchSpace,
    grid: &[Assignment],
    bare: &Recipe,
    number: usize,
    trials: &[TrialRecord],
) -> Result<(Assignment, usize)> {
    // One stream per trial number: the same seed proposes the same sequence.
    let mut rng = StdRng::seed_from_u64(
        options
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(number as u64),
    );
    let bracket = match options.strategy {
        Strategy::Hyperband => number % brackets(epochs_of(options, bare)),
        _ => 0,
    };
    let params = match options.strategy {
        Strategy::Grid => grid.get(number).cloned().context("grid exhausted")?,
        Strategy::Random | Strategy::Halving | Strategy::Hyperband => {
            RandomSampler.suggest(space, &[], &mut rng)
        }
        Strategy::Tpe => {
            let observations: Vec<Observation> = trials
                .iter()
                .filter(|t| t.status == TrialStatus::Complete)
                .filter_map(|t| {
                    t.value.map(|v| Observation {
                        params: t.params.clone(),
                        value: objective(options, v),
                    })
                })
                .collect();
            TpeSampler::default().suggest(space, &observations, &mut rng)
        }
    };
    Ok((params, bracket))
}

/// The value samplers minimize.
fn objective(options: &SearchOptions, value: f64) -> f64 {
    if options.metric.maximize {
        -value
    } else {
        value
    }
}

fn epochs_of(options: &SearchOptions, bare: &Recipe) -> usize {
    options.epochs_max.unwrap_or(bare.training.epochs)
}

/// Hyperband brackets for a maximum of `epochs`: s = 0..=floor(log3(epochs)).
fn brackets(epochs: usize) -> usize {
    let mut s = 0;
    while ETA.pow(s as u32 + 1) <= epochs {
        s += 1;
    }
    s + 1
}

/// The epochs at which a trial of `bracket` is compared with its peers: min·3^k up to `epochs`.
/// Successive halving uses the most aggressive bracket (min = 1).
fn rungs(strategy: Strategy, bracket: usize, epochs: usize) -> Vec<usize> {
    let min = match strategy {
        Strategy::Halving => 1,
        Strategy::Hyperband => {
            let top = brackets(epochs) - 1;
            ETA.pow((top - bracket.min(top)) as u32).max(1)
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut r = min;
    while r < epochs {
        out.push(r);
        r *= ETA;
    }
    out
}

/// Asynchronous successive halving: at a rung, a trial continues only if its value is in the
/// best third of the values its bracket's trials reached at that rung (once three exist).
fn should_prune(
    options: &SearchOptions,
    study: i64,
    trial: &TrialRecord,
    epoch: usize,
    value: f64,
    rungs: &[usize],
) -> Result<bool> {
    if !rungs.contains(&epoch) {
        return Ok(false);
    }
    let peers: Vec<f64> = options
        .storage
        .trials(study)?
        .iter()
        .filter(|t| t.bracket == trial.bracket && t.id != trial.id)
        .filter_map(|t| t.epochs.get(epoch - 1).copied())
        .chain([value])
        .map(|v| objective(options, v))
        .collect();
    if peers.len() < ETA {
        return Ok(false);
    }
    let mut sorted = peers.clone();
    sorted.sort_by(f64::total_cmp);
    let keep = sorted.len() / ETA; // the best third
    let threshold = sorted[keep.max(1) - 1];
    Ok(objective(options, value) > threshold)
}

fn run_trial(
    bare: &Recipe,
    options: &SearchOptions,
    study: i64,
    trial: &TrialRecord,
) -> Result<()> {
    let epochs = epochs_of(options, bare);
    let rungs = rungs(options.strategy, trial.bracket, epochs);
    let run_dir = trial_dir(&options.out, trial.number);
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot clear '{}'", run_dir.display()))?;
    }
    println!(
        "trial {} ({}): {}",
        trial.number,
        options.strategy.name(),
        to_overrides(&trial.params).join(" ")
    );
    let pruned = Arc::new(AtomicBool::new(false));
    let taken_over = Arc::new(AtomicBool::new(false));
    let last = Arc::new(Mutex::new(None::<f64>));
    let hook = {
        let (storage, pruned, taken_over, last) = (
            options.storage.clone(),
            pruned.clone(),
            taken_over.clone(),
            last.clone(),
        );
        let (trial, options, rungs) = (trial.clone(), options.clone(), rungs.clone());
        move |(epoch, figures): EpochFigures| -> bool {
            let Some(value) = figures
                .iter()
                .find(|(name, _)| *name == options.metric.name)
                .map(|(_, v)| *v)
            else {
                return false; // scored at the end (a GAN)
            };
            *last.lock().expect("lock") = Some(value);
            match storage.report(trial.id, &trial.worker, epoch, value) {
                Ok(true) => {}
                Ok(false) => {
                    taken_over.store(true, Ordering::SeqCst);
                    return true;
                }
                Err(_) => return false,
            }
            let prune =
                should_prune(&options, study, &trial, epoch, value, &rungs).unwrap_or(false);
            if prune {
                pruned.store(true, Ordering::SeqCst);
            }
            prune
        }
    };
    let recipe = Recipe::parse(
        "search trial",
        &bare.to_toml(),
        &to_overrides(&trial.params),
    );
    let run = RunOptions {
        run_dir: Some(run_dir.clone()),
        skip_test: true,
        plain_progress: true,
        after_epoch: Some(EpochCallback(Arc::new(hook))),
        ..options.run.clone()
    };
    let started = Instant::now();
    let beating = Heartbeat::start(options.storage.clone(), trial, taken_over.clone());
    let outcome = recipe.and_then(|recipe| {
        let summary = train(&recipe, &run)?;
        match recipe.task() {
            Task::Gan => score_run(&run_dir, &run),
            _ => Ok(summary),
        }
    });
    beating.stop();
    let value = *last.lock().expect("lock");
    let (status, reason) = match &outcome {
        Ok(_) if pruned.load(Ordering::SeqCst) => (TrialStatus::Pruned, None),
        Ok(_) => (TrialStatus::Complete, None),
        Err(err) => (TrialStatus::Failed, Some(format!("{err:#}"))),
    };
    let value = match (&outcome, status) {
        (Ok(summary), TrialStatus::Complete) => summary.metrics.get(options.metric.name),
        _ => value.filter(|v| v.is_finite()),
    };
    let recorded = !taken_over.load(Ordering::SeqCst)
        && options
            .storage
            .finish(trial.id, &trial.worker, status, value, reason.as_deref())?;
    if !recorded {
        println!(
            "trial {} was taken over by another worker (silent past the {} s grace): this run's result is dropped",
            trial.number, options.grace_seconds
        );
        return Ok(());
    }
    println!(
        "trial {} {}: {} {} ({:.1} s){}",
        trial.number,
        status.as_str(),
        options.metric.name,
        value.map_or("-".to_string(), |v| format!("{v:.4}")),
        started.elapsed().as_secs_f64(),
        reason.map_or(String::new(), |r| format!(": {r}"))
    );
    Ok(())
}

/// The heartbeat of a running trial: a thread that refreshes it every [`HEARTBEAT_SECONDS`]
/// until stopped, and flags the trial as taken over when the storage says it is no longer this
/// worker's.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(
        storage: Arc<dyn SearchStorage>,
        trial: &TrialRecord,
        taken_over: Arc<AtomicBool>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (id, worker, flag) = (trial.id, trial.worker.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let tick = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= Duration::from_secs(HEARTBEAT_SECONDS) {
                    waited = Duration::ZERO;
                    if let Ok(false) = storage.heartbeat(id, &worker) {
                        taken_over.store(true, Ordering::SeqCst);
                    }
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperband_brackets_and_rungs() {
        assert_eq!(brackets(1), 1);
        assert_eq!(brackets(9), 3); // s = 0, 1, 2
        assert_eq!(rungs(Strategy::Halving, 0, 9), vec![1, 3]);
        assert_eq!(rungs(Strategy::Hyperband, 0, 9), Vec::<usize>::new()); // min 9: no pruning
        assert_eq!(rungs(Strategy::Hyperband, 1, 9), vec![3]);
        assert_eq!(rungs(Strategy::Hyperband, 2, 9), vec![1, 3]);
        assert!(rungs(Strategy::Random, 0, 9).is_empty());
    }
}
