//! `zoo study regularization`: the same recipe trained under each regularizer, with the same
//! budget and seeds, compared side by side. Every run goes through [`zoo_train::train`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use zoo_datasets::AugmentConfig;

use zoo_datasets::write_atomically;
use zoo_train::plot::{self, Panel, Series};
use zoo_train::recipe::{ConvBlockSpec, ModelSpec, Monitor, Recipe, RegularizationSpec, Task};
use zoo_train::run::folder::{RunFolder, SUPERVISED_CHECKPOINT};
use zoo_train::run::history::History;
use zoo_train::run::supervised::SupervisedEpoch;
use zoo_train::{train, RunOptions, Summary};

/// The regularizers a study compares. Each starts from `none`: the recipe with every
/// regularizer removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// No regularization at all.
    None,
    /// L1 penalty 1e-5 on the weights.
    L1,
    /// Explicit L2 penalty 1e-4 on the weights.
    L2,
    /// Decoupled weight decay 1e-2 (AdamW).
    WeightDecay,
    /// Dropout: 0.2 on the inputs and 0.5 on hidden units (MLP), 0.5 in the dense head (CNN).
    Dropout,
    /// Max-norm 3 on every unit's incoming weights.
    MaxNorm,
    /// Early stopping: patience 3 on validation accuracy, best weights kept.
    EarlyStop,
    /// Random shifts of up to 2 pixels and rotations of up to 10 degrees.
    Augment,
    /// Label smoothing 0.1.
    LabelSmoothing,
    /// Dropout and max-norm together (the dropout paper's best MNIST MLP).
    DropoutMaxNorm,
}

impl Variant {
    /// Every variant, in the order of the report.
    pub const ALL: [Variant; 10] = [
        Variant::None,
        Variant::L1,
        Variant::L2,
        Variant::WeightDecay,
        Variant::Dropout,
        Variant::MaxNorm,
        Variant::EarlyStop,
        Variant::Augment,
        Variant::LabelSmoothing,
        Variant::DropoutMaxNorm,
    ];

    /// The variants run when none are named.
    pub const DEFAULT: [Variant; 8] = [
        Variant::None,
        Variant::L1,
        Variant::L2,
        Variant::Dropout,
        Variant::MaxNorm,
        Variant::EarlyStop,
        Variant::Augment,
        Variant::DropoutMaxNorm,
    ];

    /// The name used on the command line and in the results.
    pub fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::L1 => "l1",
            Variant::L2 => "l2",
            Variant::WeightDecay => "weight-decay",
            Variant::Dropout => "dropout",
            Variant::MaxNorm => "maxnorm",
            Variant::EarlyStop => "early-stop",
            Variant::Augment => "augment",
            Variant::LabelSmoothing => "label-smoothing",
            Variant::DropoutMaxNorm => "dropout+maxnorm",
        }
    }

    /// Parses a comma-separated list of variant names.
    pub fn parse_list(list: &str) -> Result<Vec<Variant>> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                Variant::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .with_context(|| {
                        let known: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
                        format!("unknown variant '{name}' (known: {})", known.join(", "))
                    })
            })
            .collect()
    }

    /// `base` with every regularizer removed, then this variant's added.
    pub fn apply(self, base: &Recipe) -> Recipe {
        let mut recipe = base.clone();
        strip_regularization(&mut recipe);
        let reg = &mut recipe.regularization;
        match self {
            Variant::None => {}
            Variant::L1 => reg.l1 = 1e-5,
            Variant::L2 => reg.l2 = 1e-4,
            Variant::WeightDecay => {
                recipe.optimizer.kind = zoo_train::recipe::OptimizerKind::Adamw;
                recipe.optimizer.weight_decay = 1e-2;
            }
            Variant::Dropout => set_dropout(&mut recipe.model),
            Variant::MaxNorm => reg.max_norm = Some(3.0),
            Variant::EarlyStop => {
                recipe.training.early_stopping_patience = Some(3);
                recipe.training.monitor = Monitor::ValidAccuracy;
            }
            Variant::Augment => {
                recipe.data.augment = AugmentConfig {
                    translate: 2,
                    rotate_degrees: 10.0,
                    ..Default::default()
                };
            }
            Variant::LabelSmoothing => reg.label_smoothing = 0.1,
            Variant::DropoutMaxNorm => {
                reg.max_norm = Some(3.0);
                set_dropout(&mut recipe.model);
            }
        }
        recipe
    }
}

/// Removes every regularizer: penalties, weight decay, max-norm, label smoothing, early
/// stopping, augmentation and every dropout (a CNN preset's per-block dropout included). Batch
/// normalization stays: it is part of the architecture.
fn strip_regularization(recipe: &mut Recipe) {
    recipe.regularization = RegularizationSpec::default();
    recipe.optimizer.weight_decay = 0.0;
    recipe.training.early_stopping_patience = None;
    recipe.data.augment = AugmentConfig::default();
    let shape = recipe.data.dataset.image_shape();
    let cnn_blocks = shape.and_then(|shape| recipe.model.cnn_config(shape));
    match &mut recipe.model {
        ModelSpec::Mlp {
            dropout,
            input_dropout,
            ..
        } => {
            *dropout = 0.0;
            *input_dropout = 0.0;
        }
        ModelSpec::Cnn {
            blocks,
            dense_dropout,
            ..
        } => {
            // A preset's blocks are written out, so their dropout can be set to 0.
            *blocks = cnn_blocks.map(|config| {
                config
                    .blocks
                    .iter()
                    .map(|block| ConvBlockSpec {
                        dropout: 0.0,
                        ..ConvBlockSpec::from_config(block)
                    })
                    .collect()
            });
            *dense_dropout = Some(0.0);
        }
        ModelSpec::Lstm { dropout, .. }
        | ModelSpec::CharLstm { dropout, .. }
        | ModelSpec::LstmForecaster { dropout, .. } => *dropout = 0.0,
        ModelSpec::Gan { .. } => {}
    }
}

fn set_dropout(model: &mut ModelSpec) {
    match model {
        ModelSpec::Mlp {
            dropout,
            input_dropout,
            ..
        } => {
            *dropout = 0.5;
            *input_dropout = 0.2;
        }
        ModelSpec::Cnn { dense_dropout, .. } => *dense_dropout = Some(0.5),
        ModelSpec::Lstm { dropout, .. }
        | ModelSpec::CharLstm { dropout, .. }
        | ModelSpec::LstmForecaster { dropout, .. } => *dropout = 0.5,
        ModelSpec::Gan { .. } => {}
    }
}

/// How to run a study.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// The variants, in order.
    pub variants: Vec<Variant>,
    /// Seeds per variant: the recipe's seed, +1, +2, ...
    pub seeds: usize,
    /// The study folder: one run folder per variant and seed, plus the three reports.
    pub out: PathBuf,
    /// Backend, data folder and progress display of every run (`run_dir` and `resume` are
    /// set per run).
    pub run: RunOptions,
}

/// One finished run of a study.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudyRow {
    /// Variant name.
    pub variant: String,
    /// Seed of the run.
    pub seed: u64,
    /// Accuracy on the training split (inference mode).
    pub train_accuracy: f64,
    /// Accuracy on the validation split.
    pub valid_accuracy: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
    /// Train minus test accuracy.
    pub generalization_gap: f64,
    /// Epoch with the best validation accuracy.
    pub best_epoch: usize,
    /// Epochs actually trained.
    pub epochs_run: usize,
    /// Training seconds.
    pub seconds: f64,
}

impl StudyRow {
    fn new(variant: Variant, summary: &Summary) -> Self {
        let m = &summary.metrics;
        Self {
            variant: variant.name().to_string(),
            seed: summary.seed,
            train_accuracy: m.train_accuracy.unwrap_or(f64::NAN),
            valid_accuracy: m.valid_accuracy.unwrap_or(f64::NAN),
            test_accuracy: m.test_accuracy.unwrap_or(f64::NAN),
            generalization_gap: m.train_accuracy.unwrap_or(f64::NAN)
                - m.test_accuracy.unwrap_or(f64::NAN),
            best_epoch: summary.best_epoch,
            epochs_run: summary.epochs_run,
            seconds: summary.train_seconds,
        }
    }
}

/// Runs every variant with every seed (a run already finished in `out` is reused, so an
/// interrupted study continues where it stopped), then writes `results.csv`, `report.md` and
/// `curves.png` into `out`. Returns the rows.
pub fn regularization_study(base: &Recipe, options: &StudyOptions) -> Result<Vec<StudyRow>> {
    if options.variants.is_empty() || options.seeds == 0 {
        bail!("a study needs at least one variant and one seed");
    }
    if base.model.task() != Task::ImageClassification {
        bail!(
            "the regularization study compares image classifiers; '{}' is a {} recipe",
            base.name,
            base.model.kind_name()
        );
    }
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create study folder '{}'", options.out.display()))?;
    let mut rows = Vec::new();
    let mut histories = Vec::new();
    let total = options.variants.len() * options.seeds;
    for (v, &variant) in options.variants.iter().enumerate() {
        for s in 0..options.seeds {
            let mut recipe = variant.apply(base);
            recipe.training.seed = base.training.seed + s as u64;
            let recipe = Recipe::parse(
                &format!("{} ({} variant)", base.name, variant.name()),
                &recipe.to_toml(),
                &[],
            )?;
            let run_dir = options
                .out
                .join(variant.name())
                .join(format!("seed-{}", recipe.training.seed));
            println!(
                "study run {}/{total}: {} seed {}",
                v * options.seeds + s + 1,
                variant.name(),
                recipe.training.seed
            );
            let summary = study_run(&recipe, &run_dir, &options.run)
                .with_context(|| format!("variant '{}'", variant.name()))?;
            rows.push(StudyRow::new(variant, &summary));
            histories.push((
                variant,
                History::<SupervisedEpoch>::load(&RunFolder::open(&run_dir)?, None, None)?,
            ));
            write_results(&options.out.join("results.csv"), &rows)?;
        }
    }
    write_atomically(
        &options.out.join("report.md"),
        report(base, options, &rows).as_bytes(),
    )?;
    study_curves(
        &options.out.join("curves.png"),
        &options.variants,
        &histories,
    )?;
    Ok(rows)
}

/// What a study does with the folder of one of its runs, by content: a run of exactly `recipe`
/// that finished is reused; one that did not finish resumes from its last checkpoint; anything
/// else (another recipe: other epochs, another variant strength, a changed base) is cleared and
/// trained again.
fn study_run(recipe: &Recipe, run_dir: &Path, options: &RunOptions) -> Result<Summary> {
    let folder = RunFolder::open(run_dir).ok();
    let same_recipe = folder
        .as_ref()
        .and_then(|f| f.read_trained_recipe().ok())
        .is_some_and(|trained| &trained == recipe);
    if same_recipe {
        let folder = folder.expect("a run folder");
        if let Ok(summary) = folder.read_summary() {
            println!("  reusing the finished run in {}", run_dir.display());
            return Ok(summary);
        }
        if folder
            .last_complete_checkpoint(&SUPERVISED_CHECKPOINT, usize::MAX)
            .is_ok()
        {
            println!("  resuming the unfinished run in {}", run_dir.display());
            let resume = RunOptions {
                run_dir: Some(run_dir.to_path_buf()),
                resume: true,
                ..options.clone()
            };
            return train(recipe, &resume);
        }
    }
    if run_dir.exists() {
        std::fs::remove_dir_all(run_dir)
            .with_context(|| format!("cannot clear the stale run '{}'", run_dir.display()))?;
    }
    let fresh = RunOptions {
        run_dir: Some(run_dir.to_path_buf()),
        resume: false,
        ..options.clone()
    };
    train(recipe, &fresh)
}

fn write_results(path: &Path, rows: &[StudyRow]) -> Result<()> {
    let mut text = String::from(
        "variant,seed,train_accuracy,valid_accuracy,test_accuracy,generalization_gap,best_epoch,epochs_run,seconds\n",
    );
    for r in rows {
        let _ = writeln!(
            text,
            "{},{},{:.6},{:.6},{:.6},{:.6},{},{},{:.2}",
            r.variant,
            r.seed,
            r.train_accuracy,
            r.valid_accuracy,
            r.test_accuracy,
            r.generalization_gap,
            r.best_epoch,
            r.epochs_run,
            r.seconds
        );
    }
    Ok(write_atomically(path, text.as_bytes())?)
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Per-variant aggregates, sorted by mean test accuracy (best first).
struct VariantStats {
    name: String,
    test: (f64, f64),
    train: (f64, f64),
    gap: (f64, f64),
    best_epoch: f64,
    seconds: f64,
}

fn stats(rows: &[StudyRow]) -> Vec<VariantStats> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.variant.as_str()) {
            names.push(&r.variant);
        }
    }
    let mut out: Vec<VariantStats> = names
        .into_iter()
        .map(|name| {
            let of = |f: fn(&StudyRow) -> f64| -> Vec<f64> {
                rows.iter().filter(|r| r.variant == name).map(f).collect()
            };
            VariantStats {
                name: name.to_string(),
                test: mean_std(&of(|r| r.test_accuracy)),
                train: mean_std(&of(|r| r.train_accuracy)),
                gap: mean_std(&of(|r| r.generalization_gap)),
                best_epoch: mean_std(&of(|r| r.best_epoch as f64)).0,
                seconds: mean_std(&of(|r| r.seconds)).0,
            }
        })
        .collect();
    out.sort_by(|a, b| b.test.0.total_cmp(&a.test.0));
    out
}

fn report(base: &Recipe, options: &StudyOptions, rows: &[StudyRow]) -> String {
    let stats = stats(rows);
    let pct = |(m, s): (f64, f64)| format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s);
    let mut md = String::new();
    let _ = writeln!(md, "# Regularization study: {}\n", base.name);
    let subset = base
        .data
        .train_subset
        .map_or("all".to_string(), |n| n.to_string());
    let _ = writeln!(
        md,
        "{} epochs per run, {} seed(s) per variant (seeds {}..{}), training images: {subset}, backend {}.\n",
        base.training.epochs,
        options.seeds,
        base.training.seed,
        base.training.seed + options.seeds as u64 - 1,
        options.run.backend
    );
    md.push_str("| variant | test accuracy (%) | train accuracy (%) | gap train − test (points) | best epoch | seconds |\n");
    md.push_str("|---|---|---|---|---|---|\n");
    for s in &stats {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1} | {:.1} |",
            s.name,
            pct(s.test),
            pct(s.train),
            pct(s.gap),
            s.best_epoch,
            s.seconds
        );
    }
    md.push_str("\n## Reading\n\n");
    if let (Some(best), Some(none)) = (stats.first(), stats.iter().find(|s| s.name == "none")) {
        let lift = 100.0 * (best.test.0 - none.test.0);
        let noise = 100.0 * stats.iter().map(|s| s.test.1).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "- Best test accuracy: **{}** ({}%), {:+.2} points over no regularization ({}%).",
            best.name,
            pct(best.test),
            lift,
            pct(none.test)
        );
        let narrowest = stats
            .iter()
            .min_by(|a, b| a.gap.0.total_cmp(&b.gap.0))
            .expect("stats");
        let _ = writeln!(
            md,
            "- Smallest generalization gap: **{}** ({} points, against {} without regularization).",
            narrowest.name,
            pct(narrowest.gap),
            pct(none.gap)
        );
        if options.seeds > 1 {
            let _ = writeln!(
                md,
                "- Seed-to-seed spread reaches {noise:.2} points: differences between variants smaller than about twice that are not evidence of a real effect."
            );
        } else {
            md.push_str("- One seed per variant: differences of a few tenths of a point may be noise; rerun with `--seeds 3` or more before drawing conclusions.\n");
        }
    }
    md.push_str("\n`results.csv` has one row per run (train accuracy there is measured after training, in inference mode); `curves.png` shows validation accuracy and the train − valid gap per epoch, mean over seeds, where the train figure is the running average during the epoch with dropout active.\n");
    md
}

/// `curves.png`: validation accuracy and the train − valid accuracy gap per epoch, one line per
/// variant, averaged over seeds.
fn study_curves(
    path: &Path,
    variants: &[Variant],
    histories: &[(Variant, History<SupervisedEpoch>)],
) -> Result<()> {
    let mean_per_epoch = |variant: Variant,
                          f: &dyn Fn(&SupervisedEpoch) -> f64|
     -> Vec<(f64, f64)> {
        let runs: Vec<&History<SupervisedEpoch>> = histories
            .iter()
            .filter(|(v, _)| *v == variant)
            .map(|(_, h)| h)
            .collect();
        let epochs = runs.iter().map(|h| h.rows().len()).max().unwrap_or(0);
        (0..epochs)
            .filter_map(|i| {
                let values: Vec<f64> = runs.iter().filter_map(|h| h.rows().get(i)).map(f).collect();
                (!values.is_empty()).then(|| ((i + 1) as f64, mean_std(&values).0))
            })
            .collect()
    };
    let series = |f: &dyn Fn(&SupervisedEpoch) -> f64| -> Vec<Series> {
        variants
            .iter()
            .map(|&v| Series {
                label: v.name(),
                points: mean_per_epoch(v, f),
                line: true,
            })
            .collect()
    };
    plot::panels(
        path,
        &[
            Panel {
                x_categories: Vec::new(),
                title: "validation accuracy",
                x_label: "epoch",
                y_label: "accuracy (%)",
                series: series(&|r| 100.0 * r.valid.accuracy),
            },
            Panel {
                x_categories: Vec::new(),
                title: "train - valid gap",
                x_label: "epoch",
                y_label: "accuracy points",
                series: series(&|r| 100.0 * (r.train.accuracy - r.valid.accuracy)),
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_start_from_a_bare_recipe() {
        let base = Recipe::load("mlp-mnist", &[]).unwrap(); // has dropout 0.2
        let none = Variant::None.apply(&base);
        let ModelSpec::Mlp { dropout, .. } = none.model else {
            panic!("mlp")
        };
        assert_eq!(dropout, 0.0);
        assert!(none.regularization.is_off() && none.data.augment.is_off());
        let both = Variant::DropoutMaxNorm.apply(&base);
        assert_eq!(both.regularization.max_norm, Some(3.0));
        let ModelSpec::Mlp {
            dropout,
            input_dropout,
            ..
        } = both.model
        else {
            panic!("mlp")
        };
        assert_eq!((dropout, input_dropout), (0.5, 0.2));
        assert_eq!(
            Variant::EarlyStop
                .apply(&base)
                .training
                .early_stopping_patience,
            Some(3)
        );
        assert!(!Variant::Augment.apply(&base).data.augment.is_off());
    }

    #[test]
    fn the_none_variant_removes_every_dropout_of_a_cnn_preset() {
        // The classic net drops 0.25 after its conv blocks and 0.5 in its dense head.
        let base = Recipe::load("cnn-mnist", &[]).unwrap();
        let shape = base.data.dataset.image_shape().unwrap();
        let preset = base.model.cnn_config(shape).unwrap();
        assert!(preset.blocks.iter().any(|b| b.dropout > 0.0));
        let none = Variant::None.apply(&base);
        let config = none.model.cnn_config(shape).unwrap();
        assert!(config.blocks.iter().all(|b| b.dropout == 0.0), "{config:?}");
        assert_eq!(config.dense_dropout, 0.0);
        // The architecture is otherwise the preset's.
        assert_eq!(config.blocks.len(), preset.blocks.len());
        assert!(config.blocks.iter().zip(&preset.blocks).all(|(a, b)| (
            a.channels,
            a.kernel_size,
            a.pool,
            a.batch_norm
        ) == (
            b.channels,
            b.kernel_size,
            b.pool,
            b.batch_norm
        )));
        let dropout = Variant::Dropout
            .apply(&base)
            .model
            .cnn_config(shape)
            .unwrap();
        assert_eq!(dropout.dense_dropout, 0.5);
    }

    #[test]
    fn variant_lists_parse_and_unknown_names_are_named() {
        assert_eq!(
            Variant::parse_list("none, l1,dropout+maxnorm").unwrap(),
            vec![Variant::None, Variant::L1, Variant::DropoutMaxNorm]
        );
        let err = Variant::parse_list("none,l3").unwrap_err().to_string();
        assert!(err.contains("l3") && err.contains("maxnorm"), "{err}");
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(mean_std(&[4.0]), (4.0, 0.0));
    }
}
