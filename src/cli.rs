//! The `zoo` command line: parses the flags and calls the training library (`zoo-train`) and
//! the experiments (`zoo-experiments`); no training logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use zoo_experiments::bench::{bench, write_report, BenchOptions};
use zoo_experiments::gan_quality::score_run;
use zoo_experiments::search::open_storage;
use zoo_experiments::search::report::{leaderboard, ranked, write_reports};
use zoo_experiments::search::runner::{metric_for, search, trial_dir, SearchOptions, Strategy};
use zoo_experiments::search::storage::DEFAULT_GRACE_SECONDS;
use zoo_experiments::study::{regularization_study, StudyOptions, Variant};
use zoo_interop::{export_run, import_run, ExportFormat};
use zoo_train::recipe::BUILTIN_RECIPES;
use zoo_train::run::folder::RunFolder;
use zoo_train::run::listing::{list_runs, RunEntry, RunState};
use zoo_train::tasks::classify::{
    evaluate, load_classifier, load_image, load_image_sets, probabilities,
};
use zoo_train::tasks::forecast::{
    self, evaluate_series, load_forecaster, load_series, load_series_csv,
};
use zoo_train::tasks::gan::sample::sample_grid;
use zoo_train::tasks::gan::train::files as gan_files;
use zoo_train::tasks::language_model::{evaluate_text, generate, load_corpus, load_language_model};
use zoo_train::{train, Backend, Recipe, RunOptions, Summary, Task};

/// A model zoo and experiment runner built on Burn: MLP, CNN, LSTM and GAN recipes.
///
/// Data: MNIST, Fashion-MNIST and tiny-shakespeare are read from `--data-dir` / $ZOO_DATA_DIR (a
/// folder holding `mnist/`, `fashion-mnist/`, `tinyshakespeare/`), else the user cache, else
/// downloaded and verified. The image `-mini` recipes use a small MNIST set embedded in the
/// binary and the `sines` series is generated, so those need no data at all.
#[derive(Parser)]
#[command(name = "zoo", version, propagate_version = true)]
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
    /// List the run folders under a folder side by side: recipe, task, backend, epochs, the
    /// task's headline figure, training time and speed, date; unfinished and broken runs are
    /// listed with their state.
    Runs(RunsArgs),
    /// Reload a finished run's model and print its test figures (accuracy, nats/char or MSE).
    Eval {
        /// The run folder printed by `zoo train`.
        run_dir: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run an experiment over many trainings of one recipe (the regularization study).
    #[command(subcommand)]
    Study(StudyCommand),
    /// Search the hyperparameters of a recipe's [search] space; every trial is stored (SQLite),
    /// so the same command continues a killed search and several processes can share one study.
    /// `zoo search show NAME` prints a stored search's leaderboard.
    Search(SearchCommand),
    /// Generate text with a language-model run, continuing a prompt.
    Generate(GenerateArgs),
    /// Measure training and inference samples/s of recipes on each backend (real data
    /// pipeline and optimizer, after a warm-up); prints a table and writes bench.json.
    Bench(BenchArgs),
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
    /// Use a finished run's model: classify an image file (PNG or JPEG, any size), or, for a
    /// forecaster run, forecast the values after a series read from a CSV file.
    Predict {
        /// The run folder printed by `zoo train`.
        run_dir: PathBuf,
        /// An image to classify (converted to grayscale, resized to 28x28), or for a forecaster
        /// a CSV/text file of numbers (one or more per line; the last `window` are used).
        input: PathBuf,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = Backend::Flex)]
        backend: Backend,
    },
    /// Write a run's model for other frameworks: safetensors with PyTorch's parameter names and
    /// layouts (load it with `model.load_state_dict(safetensors.torch.load_file(FILE))` into the
    /// twin in interop/python/torch_models.py), or an ONNX graph (the MLP and CNN classifiers:
    /// burn-onnx 0.22 refuses the LSTM and the GAN generators).
    Export(ExportArgs),
    /// Make a run folder from PyTorch weights: a state_dict (.pt, .pth or .safetensors) of the
    /// network a recipe describes. `zoo eval`, `predict`, `sample` and `zoo train --init-from`
    /// then take the folder like any run's.
    Import(ImportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// The run folder (finished, or imported).
    run_dir: PathBuf,
    /// safetensors (PyTorch names and layouts) or onnx.
    #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
    format: ExportFormat,
    /// The file to write; default RUN_DIR/model.<format> (generator.<format> for a GAN run).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ImportArgs {
    /// A PyTorch state_dict: torch.save(model.state_dict(), FILE) or safetensors'
    /// save_file(model.state_dict(), FILE). A whole pickled module (torch.save(model)) is refused.
    file: PathBuf,
    /// The recipe whose network the weights belong to: a built-in name (see `zoo list`) or a
    /// recipe .toml file.
    #[arg(long)]
    recipe: String,
    /// The run folder to write (refused if it already holds a run).
    #[arg(long, value_name = "RUN_DIR")]
    out: PathBuf,
    /// Override any recipe key (repeatable), e.g. --set data.dataset=mnist-mini.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Args)]
struct BenchArgs {
    /// Built-in recipe names or recipe .toml files.
    #[arg(required = true)]
    recipes: Vec<String>,
    /// Comma-separated backends; those not compiled in or without a device are skipped with
    /// the reason.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "flex,ndarray,wgpu,cuda"
    )]
    backends: Vec<Backend>,
    /// Timed batches per measurement.
    #[arg(long, default_value_t = 50)]
    batches: usize,
    /// Untimed warm-up batches before them.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Batch size instead of each recipe's own.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Folder for bench.json.
    #[arg(long, value_name = "DIR", default_value = "bench")]
    out: PathBuf,
    /// Override any key of every recipe (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Folder with the datasets; defaults to $ZOO_DATA_DIR, then the user cache.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct RunsArgs {
    /// The folder to list (run folders at any depth: search trials and study runs too).
    #[arg(default_value = "runs")]
    dir: PathBuf,
    /// Sort by date (default, newest last), name, recipe, task, figure, time or speed.
    #[arg(long, value_name = "KEY", default_value = "date")]
    sort: String,
    /// Keep only runs whose recipe, task, backend or state equals VALUE (repeatable).
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// One JSON array for scripts instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// The run folder of a language model (e.g. from `zoo train lstm-shakespeare`).
    run_dir: PathBuf,
    /// Text to start from; every character must be in the model's vocabulary.
    #[arg(long, default_value = "ROMEO:")]
    prompt: String,
    /// Characters to generate after the prompt.
    #[arg(long, default_value_t = 300)]
    length: usize,
    /// Sampling temperature: lower is more conservative, higher more varied (> 0).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed of the sampling: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

#[derive(Subcommand)]
enum StudyCommand {
    /// Train the recipe once per regularizer (and seed) with the same budget, then compare:
    /// results.csv, report.md (mean ± std, the reading) and curves.png in the study folder.
    /// Finished runs are kept: running the same command again continues an interrupted study.
    Regularization(RegularizationArgs),
    /// The old spelling of `zoo search show`.
    #[command(hide = true)]
    Show(ShowArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct SearchCommand {
    #[command(subcommand)]
    show: Option<SearchSubcommand>,
    #[command(flatten)]
    args: SearchArgs,
}

#[derive(Subcommand)]
enum SearchSubcommand {
    /// Print the leaderboard of a stored search.
    Show(ShowArgs),
}

#[derive(Args)]
struct ShowArgs {
    /// The study name given to `zoo search --study`.
    name: String,
    /// Where the study is stored: sqlite:PATH or postgresql://USER@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite:studies.db")]
    storage: String,
}

#[derive(Args)]
struct SearchArgs {
    /// A built-in recipe name or a recipe .toml file with a [search] table.
    #[arg(required = true)]
    recipe: Option<String>,
    /// How trials are proposed (and pruned: halving, hyperband prune by epochs).
    #[arg(long, value_enum, required = true)]
    strategy: Option<Strategy>,
    /// Number of finished trials (complete, pruned or failed) to reach.
    #[arg(long, required = true)]
    trials: Option<usize>,
    /// Study name in the storage; default <recipe>-<strategy>.
    #[arg(long)]
    study: Option<String>,
    /// Where trials are stored: sqlite:PATH (a file: workers on this machine), or
    /// postgresql://USER@HOST:PORT/DB (a PostgreSQL server: workers on any machine; a dropped
    /// connection is retried for 60 s, `?retry_seconds=N` for another bound).
    #[arg(long, default_value = "sqlite:studies.db")]
    storage: String,
    /// Trials trained at once: this process and WORKERS-1 more `zoo search` processes on the
    /// same study (each trial runs alone in its process, so its figures do not depend on what
    /// ran beside it). Processes on other machines join the same way, given the same --study
    /// and --storage.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The figure to optimize: valid_accuracy (default) or valid_loss for classifiers,
    /// valid_loss (default) or valid_accuracy for language models, valid_loss for forecasters,
    /// mnist_score (default) or frechet_distance for GANs.
    #[arg(long)]
    metric: Option<String>,
    /// max or min; only to state the metric's own direction (a contradicting one is refused).
    #[arg(long)]
    direction: Option<String>,
    /// Seconds a running trial may stay silent (no heartbeat) before another worker re-runs it.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_GRACE_SECONDS)]
    heartbeat_grace: f64,
    /// Run trials only: no reports at the end (the workers `--workers` starts).
    #[arg(long, hide = true)]
    worker_only: bool,
    /// Seed of the proposals (one worker and the same seed give the same configurations).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of a trial that is never pruned (default: the recipe's training.epochs).
    #[arg(long)]
    epochs_max: Option<usize>,
    /// Folder of the searches: each study gets its own folder in it, OUT/<study>, with its
    /// trials' runs, best.toml, leaderboard.txt and the plots.
    #[arg(long, value_name = "DIR", default_value = "searches")]
    out: PathBuf,
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
    /// Where to compute: flex (CPU, default), ndarray (CPU), cpu (CubeCL CPU, needs the `cpu`
    /// feature), wgpu (GPU), cuda (GPU, needs the `cuda` feature).
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Folder with the datasets (`mnist/...`); defaults to $ZOO_DATA_DIR, then the user cache.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct TrainArgs {
    /// A built-in recipe name (see `zoo list`) or a path to a recipe .toml file. Not with
    /// --resume, which takes the run's own recipe.
    #[arg(conflicts_with = "resume")]
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
    /// Continue an interrupted run from its last complete checkpoint, with the run's own recipe.
    /// Only training.epochs (to train further: --epochs N), description, gan.quality_samples and
    /// gan.quality_classifier may change; any other --set or flag that changes the recipe is
    /// refused, naming the key.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// Start from the weights of this run folder (a finished or imported run) instead of random
    /// ones: fine-tuning, in a new run. Its recipe must describe the same [model] (only dropout
    /// rates may differ).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// Plain progress lines instead of the full-screen dashboard, even in a terminal.
    #[arg(long)]
    plain: bool,
}

/// Parses the command line, runs it, prints any error on one line; the `zoo` binary's `main`.
pub fn main() -> ExitCode {
    explain_runtime_panics();
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

/// Turns the panics a GPU runtime is known to raise for this build
/// ([`explain_runtime_panic`](zoo_train::backend::explain_runtime_panic)) into one `error:` line
/// and exit status 1; every other panic keeps Rust's report.
fn explain_runtime_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        match zoo_train::backend::explain_runtime_panic(message) {
            Some(line) => {
                eprintln!("error: {line}");
                std::process::exit(1);
            }
            None => report(info),
        }
    }));
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
                println!("{name:<22} {}", recipe.description);
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
        Command::Study(StudyCommand::Show(args)) => show_command(args),
        Command::Search(SearchCommand {
            show: Some(SearchSubcommand::Show(args)),
            ..
        }) => show_command(args),
        Command::Search(SearchCommand { show: None, args }) => search_command(args),
        Command::Eval { run_dir, common } => eval_command(&run_dir, common),
        Command::Sample {
            run_dir,
            n,
            seed,
            out,
            backend,
        } => {
            let device = backend.device()?;
            let out = out.unwrap_or_else(|| run_dir.join(format!("sample-seed{seed}.png")));
            sample_grid(&run_dir, n, seed, &out, &device)?;
            println!("{}", out.display());
            Ok(())
        }
        Command::Predict {
            run_dir,
            input,
            backend,
        } => predict_command(&run_dir, &input, backend),
        Command::Generate(args) => {
            let device = args.backend.device()?;
            let text = generate(
                &args.run_dir,
                &args.prompt,
                args.length,
                args.temperature,
                args.seed,
                &device,
            )?;
            println!("{text}");
            Ok(())
        }
        Command::Bench(args) => bench_command(args),
        Command::Runs(args) => runs_command(args),
        Command::Export(args) => {
            let exported = export_run(&args.run_dir, args.format, args.out.as_deref())?;
            println!(
                "wrote {} ({} tensors, {} values)",
                exported.path.display(),
                exported.tensors,
                exported.values
            );
            Ok(())
        }
        Command::Import(args) => {
            let recipe = Recipe::load(&args.recipe, &args.set)?;
            let imported = import_run(&args.file, &recipe, &args.out)?;
            println!(
                "imported {} tensors ({} values) from {} into {}",
                imported.tensors,
                imported.values,
                args.file.display(),
                imported.run_dir.display()
            );
            Ok(())
        }
    }
}

fn runs_command(args: RunsArgs) -> Result<()> {
    let mut runs = list_runs(&args.dir);
    for filter in &args.filter {
        let (key, value) = filter.split_once('=').with_context(|| {
            format!("--filter '{filter}': expected KEY=VALUE, e.g. recipe=cnn-mnist")
        })?;
        let field = |run: &RunEntry| -> Option<String> {
            match key {
                "recipe" => run.recipe.clone(),
                "task" => run.task.clone(),
                "backend" => run.backend.clone(),
                "state" => serde_json::to_value(&run.state)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from)),
                _ => None,
            }
        };
        if !matches!(key, "recipe" | "task" | "backend" | "state") {
            bail!("--filter '{filter}': KEY is one of recipe, task, backend, state");
        }
        runs.retain(|run| field(run).as_deref() == Some(value));
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<f64>| v.unwrap_or(f64::NAN);
    match args.sort.as_str() {
        "date" => runs.sort_by_key(|r| text(&r.date)),
        "name" => runs.sort_by(|a, b| a.name.cmp(&b.name)),
        "recipe" => runs.sort_by_key(|r| text(&r.recipe)),
        "task" => runs.sort_by_key(|r| text(&r.task)),
        "figure" => runs.sort_by(|a, b| number(a.figure).total_cmp(&number(b.figure))),
        "time" => runs.sort_by(|a, b| number(a.train_seconds).total_cmp(&number(b.train_seconds))),
        "speed" => runs
            .sort_by(|a, b| number(a.samples_per_second).total_cmp(&number(b.samples_per_second))),
        other => bail!("--sort {other}: one of date, name, recipe, task, figure, time, speed"),
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    if runs.is_empty() {
        println!("no run folders under '{}'", args.dir.display());
        return Ok(());
    }
    println!(
        "{:<36} {:<22} {:<14} {:<7} {:>6}  {:<22} {:>8} {:>10}  {:<19}  state",
        "run", "recipe", "task", "backend", "epochs", "figure", "time (s)", "samples/s", "date"
    );
    for run in &runs {
        let epochs = match (run.epochs, run.epochs_planned) {
            (Some(done), Some(planned)) => format!("{done}/{planned}"),
            (Some(done), None) => done.to_string(),
            _ => "-".to_string(),
        };
        let state = match run.state {
            RunState::Finished => "finished".to_string(),
            RunState::Unfinished => format!("unfinished: {}", run.note),
            RunState::Corrupt => format!("corrupt: {}", run.note),
        };
        println!(
            "{:<36} {:<22} {:<14} {:<7} {:>6}  {:<22} {:>8} {:>10}  {:<19}  {state}",
            run.name,
            text(&run.recipe),
            text(&run.task),
            text(&run.backend),
            epochs,
            figure_text(run),
            run.train_seconds.map_or("-".into(), |s| format!("{s:.1}")),
            run.samples_per_second
                .map_or("-".into(), |s| format!("{s:.0}")),
            text(&run.date).chars().take(19).collect::<String>(),
        );
    }
    Ok(())
}

/// A run's headline figure in its unit.
fn figure_text(run: &RunEntry) -> String {
    let (Some(name), Some(value)) = (run.figure_name.as_deref(), run.figure) else {
        return "-".to_string();
    };
    match name {
        "test_accuracy" => format!("test {:.2}%", 100.0 * value),
        "valid_accuracy" => format!("valid {:.2}%", 100.0 * value),
        "test_loss" => format!("test {value:.3} nats/char"),
        "test_mse" => format!("test MSE {value:.5}"),
        "mnist_score" => format!("MNIST score {value:.2}"),
        other => format!("{other} {value:.4}"),
    }
}

fn show_command(args: ShowArgs) -> Result<()> {
    let storage = open_storage(&args.storage)?;
    let (id, spec) = storage.study(&args.name)?;
    println!(
        "study '{}': {} search, {} {}",
        args.name, spec.strategy, spec.direction, spec.metric
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

fn bench_command(args: BenchArgs) -> Result<()> {
    let recipes = args
        .recipes
        .iter()
        .map(|r| Recipe::load(r, &args.set))
        .collect::<Result<Vec<_>>>()?;
    let options = BenchOptions {
        backends: args.backends,
        batches: args.batches,
        warmup: args.warmup,
        batch_size: args.batch_size,
        data_dir: args.data_dir,
    };
    let rows = bench(&recipes, &options)?;
    if rows.is_empty() {
        bail!("no backend could run here");
    }
    let path = write_report(&args.out, &rows)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn eval_command(run_dir: &Path, common: CommonArgs) -> Result<()> {
    let name = RunFolder::open(run_dir)?.read_recipe()?.name;
    println!("{name}: {}", test_figures(run_dir, &common)?);
    Ok(())
}

/// The test figures of a finished run, read from the test set now, as one line: accuracy for a
/// classifier, nats per character for a language model, MSE for a forecaster; a GAN's sample
/// quality from its summary.
fn test_figures(run_dir: &Path, common: &CommonArgs) -> Result<String> {
    let device = common.backend.device()?;
    let folder = RunFolder::open(run_dir)?;
    let recipe = folder.read_recipe()?;
    let data_dir = common.data_dir.as_deref();
    Ok(match recipe.task() {
        Task::ImageClassification => {
            let (recipe, model) = load_classifier(run_dir, &device)?;
            let test = load_image_sets(recipe.data.dataset, data_dir)?.test;
            let kind = recipe
                .data
                .dataset
                .image_kind()
                .context("an image dataset")?;
            let result = evaluate(&model, &test, kind, 256, &device);
            format!(
                "test accuracy {:.2}% ({} images), test loss {:.4}",
                100.0 * result.accuracy,
                test.len(),
                result.loss
            )
        }
        Task::CharLm => {
            let (recipe, model, _) = load_language_model(run_dir, &device)?;
            let corpus = load_corpus(&recipe.data, data_dir)?;
            let window = recipe.data.text_window();
            let result = evaluate_text(&model, corpus.test.clone(), window, 256, &device);
            format!(
                "test loss {:.4} nats/char ({:.4} bits/char, perplexity {:.2}, {} characters), next-character accuracy {:.2}%",
                result.loss,
                result.loss / std::f64::consts::LN_2,
                result.loss.exp(),
                corpus.test.len(),
                100.0 * result.accuracy
            )
        }
        Task::Forecast => {
            let (recipe, model) = load_forecaster(run_dir, &device)?;
            let [_, _, test] = load_series(&recipe.data, recipe.training.seed);
            let shape = recipe.data.series_window();
            let result = evaluate_series(&model, test, shape, 256, &device);
            format!(
                "test MSE {:.5}, MAE {:.4} (last-value baseline MSE {:.5})",
                result.mse, result.mae, result.baseline_mse
            )
        }
        Task::Gan => {
            let m = folder.read_summary()?.metrics;
            match (m.mnist_score, m.frechet_distance) {
                (Some(score), Some(fd)) => format!(
                    "a GAN run has no test set to score; its samples: MNIST score {score:.2}, Fréchet distance {fd:.2} (summary.json)"
                ),
                _ => bail!(
                    "'{}' holds a GAN run: there is no test set to score; see its summary.json, or draw samples with `zoo sample`",
                    run_dir.display()
                ),
            }
        }
    })
}

fn predict_command(run_dir: &Path, input: &Path, backend: Backend) -> Result<()> {
    let device = backend.device()?;
    match RunFolder::open(run_dir)?.read_recipe()?.task() {
        Task::Forecast => {
            let (recipe, model) = load_forecaster(run_dir, &device)?;
            let (window, _) = recipe.data.series_window();
            let history = load_series_csv(input, window)?;
            let values = forecast::forecast(&model, &history, &device);
            println!(
                "next {} values after the last {window} of {}:",
                values.len(),
                input.display()
            );
            for (step, value) in values.iter().enumerate() {
                println!("  t+{:<3} {value:.5}", step + 1);
            }
            Ok(())
        }
        _ => {
            let (recipe, model) = load_classifier(run_dir, &device)?;
            let kind = recipe
                .data
                .dataset
                .image_kind()
                .context("an image dataset")?;
            let shape = recipe
                .data
                .dataset
                .image_shape()
                .context("an image dataset")?;
            let input = load_image(input, shape, kind, &device)?;
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
            let path = run_dir.join(zoo_train::run::folder::files::RECIPE);
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
        init_from: args.init_from,
        dry_run: args.dry_run,
        plain_progress: args.plain,
        ..Default::default()
    };
    let mut summary = train(&recipe, &options)?;
    if recipe.task() == Task::Gan {
        summary = score_run(&summary.run_dir, &options)?;
    }
    print_summary(&summary);
    Ok(())
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
    let (Some(recipe), Some(strategy), Some(trials)) = (&args.recipe, args.strategy, args.trials)
    else {
        bail!("zoo search needs a recipe, --strategy and --trials (see `zoo search --help`)");
    };
    if args.workers == 0 {
        bail!("--workers must be >= 1");
    }
    let base = Recipe::load(recipe, &args.set)?;
    let metric = metric_for(base.task(), args.metric.as_deref())?;
    match args.direction.as_deref() {
        None => {}
        Some(d @ ("max" | "min")) if (d == "max") != metric.maximize => bail!(
            "--direction {d}: {} is {} when better",
            metric.name,
            if metric.maximize { "higher" } else { "lower" }
        ),
        Some("max" | "min") => {}
        Some(other) => bail!("--direction must be max or min, got '{other}'"),
    }
    let study = args
        .study
        .clone()
        .unwrap_or_else(|| format!("{}-{}", base.name, strategy.name()));
    let out = args.out.join(&study);
    let storage = open_storage(&args.storage)?;
    let options = SearchOptions {
        strategy,
        trials,
        study: study.clone(),
        storage: storage.clone(),
        metric,
        seed: args.seed,
        epochs_max: args.epochs_max,
        grace_seconds: args.heartbeat_grace,
        out: out.clone(),
        run: RunOptions {
            backend: args.common.backend,
            data_dir: args.common.data_dir.clone(),
            ..Default::default()
        },
    };
    let workers = Workers::spawn(args.workers - 1)?;
    let space = search(&base, &options)?;
    workers.wait()?;
    if args.worker_only {
        return Ok(());
    }
    let (id, _) = storage.study(&study)?;
    let trials = storage.trials(id)?;
    print!(
        "{}",
        write_reports(&out, &base, &space, &trials, metric.name, metric.maximize)?
    );
    if let Some(best) = ranked(&trials, metric.maximize).first() {
        // Only now, once, is the test set read: for the best trial's model.
        let figures = test_figures(&trial_dir(&out, best.number), &args.common)?;
        println!(
            "best trial {}: {} {:.4}; {figures}",
            best.number,
            metric.name,
            best.value.unwrap_or(f64::NAN)
        );
    }
    println!(
        "search folder: {} (best.toml, leaderboard.txt, history.png, params.png)",
        out.display()
    );
    Ok(())
}

/// The extra `zoo search` processes of `--workers`: the same command line, one worker each.
struct Workers(Vec<std::process::Child>);

impl Workers {
    fn spawn(n: usize) -> Result<Self> {
        if n == 0 {
            return Ok(Self(Vec::new()));
        }
        let exe = std::env::current_exe().context("cannot find the zoo executable")?;
        let mut args: Vec<String> = Vec::new();
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            if arg == "--workers" {
                given.next();
            } else if !arg.starts_with("--workers=") {
                args.push(arg);
            }
        }
        args.extend(["--workers".into(), "1".into(), "--worker-only".into()]);
        let children = (0..n)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args(&args)
                    .spawn()
                    .context("cannot start a search worker process")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self(children))
    }

    /// Waits for every worker; one that failed is an error.
    fn wait(mut self) -> Result<()> {
        let mut failed = 0;
        for child in &mut self.0 {
            if !child.wait().map(|s| s.success()).unwrap_or(false) {
                failed += 1;
            }
        }
        self.0.clear();
        if failed > 0 {
            bail!("{failed} search worker process(es) failed (see their messages above)");
        }
        Ok(())
    }
}

impl Drop for Workers {
    /// This process failed before its workers finished: stop them with it.
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn print_summary(s: &Summary) {
    let m = &s.metrics;
    let pct = |v: Option<f64>| 100.0 * v.unwrap_or(f64::NAN);
    let figures = if let Some(score) = m.mnist_score {
        format!(
            "MNIST score {score:.2} (real images {:.2}), Fréchet distance {:.2} (real images {:.2})",
            m.real_mnist_score.unwrap_or(f64::NAN),
            m.frechet_distance.unwrap_or(f64::NAN),
            m.real_frechet_distance.unwrap_or(f64::NAN)
        )
    } else if let Some(d_loss) = m.final_d_loss {
        format!(
            "d_loss {d_loss:.4}, g_loss {:.4}, quality not scored (gan.quality_samples = 0)",
            m.final_g_loss.unwrap_or(f64::NAN)
        )
    } else if let Some(bpc) = m.valid_bits_per_char {
        format!(
            "valid loss {:.3} nats/char ({bpc:.3} bits/char, perplexity {:.2}), test loss {:.3}",
            m.valid_loss.unwrap_or(f64::NAN),
            m.valid_perplexity.unwrap_or(f64::NAN),
            m.test_loss.unwrap_or(f64::NAN)
        )
    } else if let Some(baseline) = m.baseline_mse {
        let mse = m.test_mse.unwrap_or(f64::NAN);
        format!(
            "test MSE {mse:.5} (MAE {:.4}; last-value baseline {baseline:.5}, {:.1}x lower)",
            m.test_mae.unwrap_or(f64::NAN),
            baseline / mse
        )
    } else if m.valid_accuracy.is_some() {
        format!(
            "test accuracy {:.2}% (valid {:.2}%, train {:.2}%)",
            pct(m.test_accuracy),
            pct(m.valid_accuracy),
            pct(m.train_accuracy)
        )
    } else {
        format!("valid loss {:.5}", m.valid_loss.unwrap_or(f64::NAN))
    };
    println!(
        "{} on {}: {figures}, best epoch {} of {}, {:.1} s, {:.0} train examples/s",
        s.recipe,
        s.backend,
        s.best_epoch,
        s.epochs_run,
        s.train_seconds,
        s.train_samples_per_second
    );
    if s.task == Task::Gan.name() {
        println!(
            "run folder: {} (sample grids in {}/)",
            s.run_dir.display(),
            s.run_dir.join(gan_files::SAMPLES).display()
        );
    } else {
        println!("run folder: {}", s.run_dir.display());
    }
}
