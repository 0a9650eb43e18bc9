//! The `zoo` command line: train, evaluate and use the models of burn-zoo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::data::{dataset_kind, load_splits};
use crate::evaluate::{evaluate, probabilities};
use crate::gan::{train_gan, GanSummary};
use crate::recipe::{Task, BUILTIN_RECIPES};
use crate::search::report::{leaderboard, ranked, write_reports};
use crate::search::runner::{search, validate, Metric, SearchOptions, Strategy};
use crate::search::storage::{SearchStorage, SqliteStorage};
use crate::study::{regularization_study, StudyOptions, Variant};
use crate::{load_run, train, Backend, Recipe, RunOptions, Summary};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

/// A model zoo and experiment runner built on Burn.
///
/// Data: MNIST is read from `--data-dir` / $ZOO_DATA_DIR (a folder holding `mnist/`), else the
/// user cache, else downloaded and verified. Recipes ending in `-mini` use a small set embedded
/// in the binary and need no data at all.
#[derive(Parser)]
#[command(name = "zoo", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in recipes.
    List,
    /// Print a built-in recipe's TOML (a starting point for your own file).
    Show {
        /// Recipe name, as listed by `zoo list`.
        recipe: String,
    },
    /// Train a recipe: progress on screen, then test accuracy and the run folder.
    Train(TrainArgs),
    /// Reload a finished run's model and print its test accuracy.
    Eval {
        /// The run folder printed by `zoo train`.
        run_dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run an experiment over many trainings of one recipe, or show a stored search.
    #[command(subcommand)]
    Study(StudyCommand),
    /// Search the hyperparameters of a recipe's [search] space; every trial is stored (SQLite),
    /// so the same command continues a killed search and several processes can share one study.
    Search(SearchArgs),
    /// Draw images from a GAN run's generator into one grid PNG and print its path.
    Sample {
        /// The run folder of a GAN recipe (finished, or the newest checkpoint of a running one).
        run_dir: PathBuf,
        /// Number of images in the grid.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Seed of the latent vectors: the same seed gives the same grid.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The PNG to write; default RUN_DIR/sample-seed<SEED>.png.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
    },
    /// Classify an image file (PNG or JPEG, any size) with a finished run's model.
    Predict {
        /// The run folder printed by `zoo train`.
        run_dir: PathBuf,
        /// The image to classify; converted to grayscale and resized to 28x28.
        image: PathBuf,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
    },
}

#[derive(Subcommand)]
enum StudyCommand {
    /// Train the recipe once per regularizer (and seed) with the same budget, then compare:
    /// results.csv, report.md (mean ± std, the reading) and curves.png in the study folder.
    /// Finished runs are kept: running the same command again continues an interrupted study.
    Regularization(RegularizationArgs),
    /// Print the leaderboard of a stored search.
    Show {
        /// The study name given to `zoo search --study`.
        name: String,
        /// Where the study is stored: sqlite:PATH.
        #[arg(long, default_value = "sqlite:studies.db")]
        storage: String,
    },
}

#[derive(Args)]
struct SearchArgs {
    /// A built-in recipe name or a recipe .toml file with a [search] table.
    recipe: String,
    /// How trials are proposed (and pruned: halving, hyperband prune by epochs).
    #[arg(long, value_enum)]
    strategy: Strategy,
    /// Number of finished trials (complete, pruned or failed) to reach.
    #[arg(long)]
    trials: usize,
    /// Study name in the storage; default <recipe>-<strategy>.
    #[arg(long)]
    study: Option<String>,
    /// Where trials are stored: sqlite:PATH.
    #[arg(long, default_value = "sqlite:studies.db")]
    storage: String,
    /// Trials trained at once by this process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The validation metric to optimize.
    #[arg(long, value_enum, default_value_t = Metric::ValidAccuracy)]
    metric: Metric,
    /// max or min; default max for accuracy, min for loss.
    #[arg(long)]
    direction: Option<String>,
    /// Seed of the proposals (one worker and the same seed give the same configurations).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of a trial that is never pruned (default: the recipe's training.epochs).
    #[arg(long)]
    epochs_max: Option<usize>,
    /// Folder for the trials' runs, best.toml, leaderboard.txt and the plots; default
    /// searches/<study>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Override any key of the base recipe (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct RegularizationArgs {
    /// A built-in recipe name or a recipe .toml file: the base every variant starts from
    /// (with all its own regularization removed).
    recipe: String,
    /// Comma-separated variants: none, l1, l2, weight-decay, dropout, maxnorm, early-stop,
    /// augment, label-smoothing, dropout+maxnorm.
    #[arg(
        long,
        default_value = "none,l1,l2,dropout,maxnorm,early-stop,augment,dropout+maxnorm"
    )]
    variants: String,
    /// Epochs per run (overrides training.epochs).
    #[arg(long)]
    epochs: Option<usize>,
    /// Seeds per variant (the recipe's seed, +1, ...).
    #[arg(long, default_value_t = 1)]
    seeds: usize,
    /// Train on only this many images, to make overfitting visible (e.g. 5000).
    #[arg(long, value_name = "N")]
    train_subset: Option<usize>,
    /// Override any key of the base recipe, e.g. --set model.hidden=[1024,1024] (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The study folder; default studies/<recipe>-regularization-<date>-<time>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CommonArgs {
    /// Where to compute: flex (CPU, default), ndarray (CPU), wgpu (GPU), cuda (GPU, needs the `cuda` feature).
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Folder with the datasets (`mnist/...`); defaults to $ZOO_DATA_DIR, then the user cache.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct TrainArgs {
    /// A built-in recipe name (see `zoo list`) or a path to a recipe .toml file. Optional with --resume.
    recipe: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    /// Number of epochs (overrides training.epochs).
    #[arg(long)]
    epochs: Option<usize>,
    /// Mini-batch size (overrides training.batch_size).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate (overrides optimizer.lr).
    #[arg(long)]
    lr: Option<f64>,
    /// Seed for weights, shuffling, dropout and the validation split (overrides training.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// The run folder to write; default runs/<recipe>-<date>-<time>.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Override any recipe key, e.g. --set model.hidden=[256,128] --set optimizer.kind=sgd (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Run a few batches of one epoch end to end, to check a recipe quickly.
    #[arg(long)]
    dry_run: bool,
    /// Continue an interrupted run from its last checkpoint (its recipe, plus any overrides given).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Plain progress lines instead of the full-screen dashboard, even in a terminal.
    #[arg(long)]
    plain: bool,
}

/// Parses the command line, runs it, prints any error on one line; the `zoo` binary's `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            eprintln!("{}", one_line_usage_error(&err.to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// clap's usage errors span several lines (message, possible values, a hint): keep them on one.
fn one_line_usage_error(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List => {
            for (name, _) in BUILTIN_RECIPES {
                let recipe = Recipe::load(name, &[])?;
                println!("{name:<20} {}", recipe.description);
            }
            Ok(())
        }
        Command::Show { recipe } => {
            let (_, text) = BUILTIN_RECIPES
                .iter()
                .find(|(name, _)| *name == recipe)
                .with_context(|| format!("no built-in recipe named '{recipe}' (see `zoo list`)"))?;
            print!("{text}");
            Ok(())
        }
        Command::Train(args) => train_command(args),
        Command::Study(StudyCommand::Regularization(args)) => regularization_command(args),
        Command::Study(StudyCommand::Show { name, storage }) => {
            let storage = SqliteStorage::from_url(&storage)?;
            let (id, spec) = storage.study(&name)?;
            println!(
                "study '{name}': {} search, {} {}",
                spec.strategy, spec.direction, spec.metric
            );
            print!(
                "{}",
                leaderboard(
                    &storage.trials(id)?,
                    &spec.metric,
                    spec.direction == "max",
                    10
                )
            );
            Ok(())
        }
        Command::Search(args) => search_command(args),
        Command::Eval { run_dir, common } => {
            let device = common.backend.device()?;
            let (recipe, model) = load_run(&run_dir, &device)?;
            let test = load_splits(&recipe.data, common.data_dir)?.test;
            let result = evaluate(&model, &test, dataset_kind(&recipe.data), 256, &device);
            println!(
                "{}: test accuracy {:.2}% ({} images), test loss {:.4}",
                recipe.name,
                100.0 * result.accuracy,
                test.len(),
                result.loss
            );
            Ok(())
        }
        Command::Sample {
            run_dir,
            n,
            seed,
            out,
            backend,
        } => {
            let device = backend.device()?;
            let out = out.unwrap_or_else(|| run_dir.join(format!("sample-seed{seed}.png")));
            crate::gan::sample_grid(&run_dir, n, seed, &out, &device)?;
            println!("{}", out.display());
            Ok(())
        }
        Command::Predict {
            run_dir,
            image,
            backend,
        } => {
            let device = backend.device()?;
            let (recipe, model) = load_run(&run_dir, &device)?;
            let kind = dataset_kind(&recipe.data);
            let shape = crate::data::dataset_shape(&recipe.data);
            let input = crate::predict::load_image(&image, shape, kind, &device)?;
            let probs = probabilities(&model, input).remove(0);
            let (best, _) = probs
                .iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |(bi, bp), (i, &p)| if p > bp { (i, p) } else { (bi, bp) },
                );
            let names = kind.class_names();
            println!("prediction: {}", names[best]);
            for (name, p) in names.iter().zip(&probs) {
                println!("  {name:>12} {:6.2}%", 100.0 * p);
            }
            Ok(())
        }
    }
}

fn train_command(args: TrainArgs) -> Result<()> {
    let mut overrides = Vec::new();
    if let Some(v) = args.epochs {
        overrides.push(format!("training.epochs={v}"));
    }
    if let Some(v) = args.batch_size {
        overrides.push(format!("training.batch_size={v}"));
    }
    if let Some(v) = args.lr {
        overrides.push(format!("optimizer.lr={v:e}"));
    }
    if let Some(v) = args.seed {
        overrides.push(format!("training.seed={v}"));
    }
    overrides.extend(args.set);
    let (recipe, run_dir) = match (&args.resume, &args.recipe) {
        (Some(run_dir), _) => {
            let path = run_dir.join(crate::run::files::RECIPE);
            (
                Recipe::load(
                    path.to_str().context("run folder path is not UTF-8")?,
                    &overrides,
                )?,
                Some(run_dir.clone()),
            )
        }
        (None, Some(name)) => (Recipe::load(name, &overrides)?, args.out),
        (None, None) => anyhow::bail!("name a recipe (see `zoo list`) or pass --resume RUN_DIR"),
    };
    let options = RunOptions {
        backend: args.common.backend,
        data_dir: args.common.data_dir,
        run_dir,
        resume: args.resume.is_some(),
        dry_run: args.dry_run,
        plain_progress: args.plain,
        ..Default::default()
    };
    if recipe.model.task() == Task::Gan {
        let summary = train_gan(&recipe, &options)?;
        print_gan_summary(&summary);
        return Ok(());
    }
    let summary = train(&recipe, &options)?;
    print_summary(&summary);
    Ok(())
}

fn print_gan_summary(s: &GanSummary) {
    let quality = match (
        s.mnist_score,
        s.frechet_distance,
        s.real_mnist_score,
        s.real_frechet_distance,
    ) {
        (Some(score), Some(fd), Some(real_score), Some(real_fd)) => format!(
            "MNIST score {score:.2} (real images {real_score:.2}), Fréchet distance {fd:.2} (real images {real_fd:.2})"
        ),
        _ => "quality not scored (gan.quality_samples = 0)".to_string(),
    };
    println!(
        "{} on {}: {quality}, {} epochs, {:.1} s, {:.0} train images/s",
        s.recipe, s.backend, s.epochs_run, s.train_seconds, s.train_samples_per_second
    );
    println!(
        "run folder: {} (last grid {})",
        s.run_dir.display(),
        s.last_grid.display()
    );
}

fn regularization_command(args: RegularizationArgs) -> Result<()> {
    let mut overrides = args.set;
    if let Some(v) = args.epochs {
        overrides.push(format!("training.epochs={v}"));
    }
    if let Some(v) = args.train_subset {
        overrides.push(format!("data.train_subset={v}"));
    }
    let base = Recipe::load(&args.recipe, &overrides)?;
    let variants = Variant::parse_list(&args.variants)?;
    let out = args.out.unwrap_or_else(|| {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        PathBuf::from("studies").join(format!("{}-regularization-{stamp}", base.name))
    });
    let options = StudyOptions {
        variants,
        seeds: args.seeds,
        out: out.clone(),
        run: RunOptions {
            backend: args.common.backend,
            data_dir: args.common.data_dir,
            plain_progress: true,
            ..Default::default()
        },
    };
    regularization_study(&base, &options)?;
    print!("{}", std::fs::read_to_string(out.join("report.md"))?);
    println!("study folder: {}", out.display());
    Ok(())
}

fn search_command(args: SearchArgs) -> Result<()> {
    let base = Recipe::load(&args.recipe, &args.set)?;
    let maximize = match (args.direction.as_deref(), args.metric) {
        (Some("max"), _) => true,
        (Some("min"), _) => false,
        (Some(other), _) => anyhow::bail!("--direction must be max or min, got '{other}'"),
        (None, Metric::ValidAccuracy) => true,
        (None, Metric::ValidLoss) => false,
    };
    let study = args
        .study
        .unwrap_or_else(|| format!("{}-{}", base.name, args.strategy.name()));
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("searches").join(&study));
    let storage: Arc<dyn SearchStorage> = Arc::new(SqliteStorage::from_url(&args.storage)?);
    let options = SearchOptions {
        strategy: args.strategy,
        trials: args.trials,
        study: study.clone(),
        storage: storage.clone(),
        workers: args.workers,
        metric: args.metric,
        maximize,
        seed: args.seed,
        epochs_max: args.epochs_max,
        out: out.clone(),
        run: RunOptions {
            backend: args.common.backend,
            data_dir: args.common.data_dir.clone(),
            ..Default::default()
        },
    };
    validate(&options)?;
    let space = search(&base, &options)?;
    let (id, _) = storage.study(&study)?;
    let trials = storage.trials(id)?;
    print!(
        "{}",
        write_reports(&out, &base, &space, &trials, args.metric.name(), maximize)?
    );
    if let Some(best) = ranked(&trials, maximize).first() {
        // Only now, once, is the test set read: for the best trial's model.
        let device = args.common.backend.device()?;
        let run_dir = out.join("trials").join(format!("trial-{:04}", best.number));
        let (recipe, model) = load_run(&run_dir, &device)?;
        let test = load_splits(&recipe.data, args.common.data_dir)?.test;
        let result = evaluate(&model, &test, dataset_kind(&recipe.data), 256, &device);
        println!(
            "best trial {}: {} {:.4}, test accuracy {:.2}% ({} images)",
            best.number,
            args.metric.name(),
            best.value.unwrap_or(f64::NAN),
            100.0 * result.accuracy,
            test.len()
        );
    }
    println!(
        "search folder: {} (best.toml, leaderboard.txt, history.png, params.png)",
        out.display()
    );
    Ok(())
}

fn print_summary(s: &Summary) {
    let m = &s.metrics;
    println!(
        "{} on {}: test accuracy {:.2}% (valid {:.2}%, train {:.2}%), best epoch {} of {}, {:.1} s, {:.0} train images/s",
        s.recipe,
        s.backend,
        100.0 * m.test_accuracy.unwrap_or(f64::NAN),
        100.0 * m.valid_accuracy,
        100.0 * m.train_accuracy,
        s.best_epoch,
        s.epochs_run,
        s.train_seconds,
        s.train_samples_per_second
    );
    println!("run folder: {}", s.run_dir.display());
}
