//! `zoo search`: trials proposed by a strategy, trained by [`crate::train`], pruned by
//! successive halving where asked, stored in a [`SearchStorage`] so that a killed search
//! continues and several processes cooperate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::sampler::{Observation, RandomSampler, Sampler, TpeSampler};
use super::space::{to_overrides, Assignment, SearchSpace};
use super::storage::{process_id, SearchStorage, StudySpec, TrialRecord, TrialStatus};
use zoo_train::recipe::Recipe;
use zoo_train::{train, EpochCallback, EpochFigures, RunOptions};

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

/// Which validation figure a search optimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Validation accuracy.
    ValidAccuracy,
    /// Validation loss.
    ValidLoss,
}

impl Metric {
    /// The name stored with the study.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ValidAccuracy => "valid_accuracy",
            Metric::ValidLoss => "valid_loss",
        }
    }

    fn of(self, (_, figures): EpochFigures) -> f64 {
        figures
            .iter()
            .find(|(name, _)| *name == self.name())
            .map_or(f64::NAN, |(_, value)| *value)
    }
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
    /// Trials trained at once by this process.
    pub workers: usize,
    /// The metric optimized.
    pub metric: Metric,
    /// `true` to maximize the metric.
    pub maximize: bool,
    /// Seed of the proposals (the trials train with the recipe's seed).
    pub seed: u64,
    /// Epochs of a trial that is never pruned (the recipe's when `None`).
    pub epochs_max: Option<usize>,
    /// Folder for the trials' run folders and the reports.
    pub out: PathBuf,
    /// Backend and data folder of every trial.
    pub run: RunOptions,
}

/// Successive-halving reduction factor.
const ETA: usize = 3;

/// Runs (or continues) the study until `trials` trials are finished; returns the parsed space.
pub fn search(base: &Recipe, options: &SearchOptions) -> Result<SearchSpace> {
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
        metric: options.metric.name().to_string(),
        direction: if options.maximize { "max" } else { "min" }.to_string(),
        seed: options.seed,
    };
    let study = options.storage.open_study(&spec)?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create '{}'", options.out.display()))?;
    let worker = |index: usize| -> Result<()> {
        let name = format!("{}:{index}", process_id());
        loop {
            let mut propose = |number: usize, trials: &[TrialRecord]| {
                propose(options, &space, &grid, &bare, number, trials)
            };
            let Some(trial) = options.storage.claim(study, budget, &name, &mut propose)? else {
                return Ok(());
            };
            run_trial(&bare, options, study, &trial)?;
        }
    };
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..options.workers.max(1))
            .map(|i| scope.spawn(move || worker(i)))
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a search worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(space)
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
    if options.maximize {
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
    let run_dir = options
        .out
        .join("trials")
        .join(format!("trial-{:04}", trial.number));
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
    let pruned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let last = Arc::new(std::sync::Mutex::new(None::<f64>));
    let hook = {
        let (storage, pruned, last, metric) = (
            options.storage.clone(),
            pruned.clone(),
            last.clone(),
            options.metric,
        );
        let (trial, options, rungs) = (trial.clone(), options.clone(), rungs.clone());
        move |figures: EpochFigures| -> bool {
            let epoch = figures.0;
            let value = metric.of(figures);
            *last.lock().expect("lock") = Some(value);
            if storage.report(trial.id, epoch, value).is_err() {
                return false;
            }
            let prune =
                should_prune(&options, study, &trial, epoch, value, &rungs).unwrap_or(false);
            if prune {
                pruned.store(true, std::sync::atomic::Ordering::Relaxed);
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
        run_dir: Some(run_dir),
        skip_test: true,
        plain_progress: true,
        after_epoch: Some(EpochCallback(Arc::new(hook))),
        ..options.run.clone()
    };
    let started = Instant::now();
    let outcome = recipe.and_then(|recipe| train(&recipe, &run));
    let value = *last.lock().expect("lock");
    let (status, reason) = match &outcome {
        Ok(_) if pruned.load(std::sync::atomic::Ordering::Relaxed) => (TrialStatus::Pruned, None),
        Ok(_) => (TrialStatus::Complete, None),
        Err(err) => (TrialStatus::Failed, Some(format!("{err:#}"))),
    };
    let value = match (&outcome, status) {
        (Ok(summary), TrialStatus::Complete) => match options.metric {
            Metric::ValidAccuracy => summary.metrics.valid_accuracy,
            Metric::ValidLoss => summary.metrics.valid_loss,
        },
        _ => value.filter(|v| v.is_finite()),
    };
    options
        .storage
        .finish(trial.id, status, value, reason.as_deref())?;
    println!(
        "trial {} {}: {} {} ({:.1} s){}",
        trial.number,
        status.as_str(),
        options.metric.name(),
        value.map_or("-".to_string(), |v| format!("{v:.4}")),
        started.elapsed().as_secs_f64(),
        reason.map_or(String::new(), |r| format!(": {r}"))
    );
    Ok(())
}

/// Checks the knobs of a search before it starts.
pub fn validate(options: &SearchOptions) -> Result<()> {
    if options.trials == 0 {
        bail!("--trials must be >= 1");
    }
    if options.workers == 0 {
        bail!("--workers must be >= 1");
    }
    Ok(())
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
