//! End-to-end tests of GAN training through the `zoo` binary, on the embedded mini MNIST (no
//! network, no data folder). Every run points `ZOO_CACHE_DIR` at a temporary folder, so the
//! quality classifier trained on first use never leaks into the user's cache.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// `zoo` with the quality-classifier cache in `cache`, and no data folder (an empty
/// `ZOO_DATA_DIR` counts as unset).
fn zoo(args: &[&str], cache: &Path) -> Output {
    zoo_with_env(
        args,
        &[
            ("ZOO_CACHE_DIR", cache.to_str().unwrap()),
            ("ZOO_DATA_DIR", ""),
        ],
    )
}

/// The pixel size of a grid of `n` 28x28 images: `ceil(sqrt(n))` columns, 2-pixel gaps and
/// border.
fn grid_size(n: u32) -> (u32, u32) {
    let columns = (n as f64).sqrt().ceil() as u32;
    let rows = n.div_ceil(columns);
    (columns * 30 + 2, rows * 30 + 2)
}

fn check_grid(path: &Path, n: u32) {
    let image = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .into_luma8();
    assert_eq!(image.dimensions(), grid_size(n), "{}", path.display());
}

/// The `metrics.csv` rows as cells, header first.
fn metrics(run_dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(run_dir.join("metrics.csv"))
        .expect("metrics.csv written")
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn check_quality(run_dir: &Path, classes: f64) {
    let s = summary(run_dir);
    for key in [
        "mnist_score",
        "frechet_distance",
        "real_mnist_score",
        "real_frechet_distance",
    ] {
        let v = s["metrics"][key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite() && v >= -1e-6, "{key} = {v} in {s}");
    }
    for key in ["mnist_score", "real_mnist_score"] {
        let v = s["metrics"][key].as_f64().unwrap();
        assert!((1.0 - 1e-9..=classes + 1e-9).contains(&v), "{key} = {v}");
    }
    assert!(s["train_samples_per_second"].as_f64().unwrap() > 0.0);
}

/// Every GAN recipe (its own networks and loss) trains a few batches of the embedded set, writes
/// its grid, metrics and scored summary, on flex and on wgpu when an adapter exists.
#[test]
fn every_gan_recipe_trains_a_few_batches_on_flex_and_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut wgpu_available = true;
    // The least-squares loss and the conditional MLP GAN have no recipe of their own: the
    // mini recipe runs them too.
    for (recipe, grid, loss, conditional) in [
        ("gan-mnist", 64, "bce", false),
        ("dcgan-mnist", 100, "bce", true),
        ("wgan-gp-mnist", 64, "wgan-gp", false),
        ("dcgan-fashion", 64, "bce", false),
        ("gan-mnist-mini", 16, "bce", false),
        ("gan-mnist-mini", 16, "least-squares", true),
    ] {
        for backend in ["flex", "wgpu"] {
            if backend == "wgpu" && !wgpu_available {
                continue;
            }
            let run = dir
                .path()
                .join(format!("{recipe}-{loss}-{conditional}-{backend}"));
            let loss_key = format!("gan.loss={loss}");
            let conditional_key = format!("model.conditional={conditional}");
            let output = zoo(
                &[
                    "train",
                    recipe,
                    "--plain",
                    "--dry-run",
                    "--backend",
                    backend,
                    "--set",
                    "data.dataset=mnist-mini",
                    "--set",
                    "gan.quality_samples=64",
                    "--set",
                    "gan.quality_classifier=mlp-mnist-mini",
                    "--set",
                    &loss_key,
                    "--set",
                    &conditional_key,
                    "--out",
                    run.to_str().unwrap(),
                ],
                &cache,
            );
            // Only a backend that cannot start at all is skipped; a failure after training
            // started (e.g. in the quality step) is a failure.
            let err = stderr(&output);
            if err.contains("no usable GPU adapter") && !err.contains("quality classifier") {
                skip(&format!("wgpu: {}", stderr(&output).trim()));
                wgpu_available = false;
                continue;
            }
            assert_ok(&output);
            let out = stdout(&output);
            assert!(
                out.contains("MNIST score") && out.contains("run folder"),
                "{out}"
            );
            let s = summary(&run);
            assert_eq!(s["backend"], backend);
            assert_eq!(s["epochs_run"], 1);
            assert_eq!(s["task"], "gan");
            let recipe = std::fs::read_to_string(run.join("recipe.toml")).unwrap();
            assert!(recipe.contains(&format!("loss = \"{loss}\"")), "{recipe}");
            check_quality(&run, 10.0);
            check_grid(&run.join("samples/epoch-001.png"), grid);
            let rows = metrics(&run);
            let wgan = loss == "wgan-gp";
            let header = if wgan {
                "epoch,d_loss,g_loss,seconds,wasserstein"
            } else {
                "epoch,d_loss,g_loss,seconds"
            };
            assert_eq!(rows[0].join(","), header, "{recipe}");
            assert_eq!(rows.len(), 2, "{recipe}: one epoch row");
            assert!(rows[1][1].parse::<f64>().unwrap().is_finite());
            for file in [
                "recipe.toml",
                "generator.bpk",
                "discriminator.bpk",
                "curves.png",
            ] {
                assert!(run.join(file).is_file(), "{recipe}: {file} missing");
            }
            // A dry run trains its classifier for a few batches inside the run folder, never
            // into the cache.
            assert!(!cache.join("classifiers/mlp-mnist-mini").exists());
        }
    }
}

/// The mini recipe as shipped: two epochs, scored by its cnn-mnist-mini classifier, which is
/// trained into the cache on first use and reused by the next run.
#[test]
fn the_quality_classifier_is_trained_once_then_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = dir.path().join("first");
    let output = zoo(
        &[
            "train",
            "gan-mnist-mini",
            "--plain",
            "--out",
            run.to_str().unwrap(),
        ],
        &cache,
    );
    assert_ok(&output);
    assert!(
        stdout(&output).contains("training the quality classifier 'cnn-mnist-mini'"),
        "{}",
        stdout(&output)
    );
    let cached: Vec<_> = std::fs::read_dir(cache.join("classifiers"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("cnn-mnist-mini-")
        })
        .collect();
    assert_eq!(cached.len(), 1, "one classifier folder, keyed by content");
    assert!(cached[0].path().join("model.bpk").is_file());
    check_quality(&run, 10.0);
    let s = summary(&run);
    assert_eq!(s["epochs_run"], 2);
    assert_eq!(s["metrics"]["quality"]["samples"], 500);
    assert_eq!(s["metrics"]["quality"]["classifier"], "cnn-mnist-mini");
    // Real test images judged by a 90%+ classifier score far above a barely trained GAN.
    assert!(
        s["metrics"]["real_mnist_score"].as_f64().unwrap() > 5.0,
        "{s}"
    );
    assert_eq!(metrics(&run).len(), 3);
    check_grid(&run.join("samples/epoch-002.png"), 16);

    let again = dir.path().join("second");
    let output = zoo(
        &[
            "train",
            "gan-mnist-mini",
            "--plain",
            "--out",
            again.to_str().unwrap(),
        ],
        &cache,
    );
    assert_ok(&output);
    assert!(
        !stdout(&output).contains("training the quality classifier"),
        "{}",
        stdout(&output)
    );
    // Same seed, same CPU backend: the same figures.
    let (a, b) = (summary(&run), summary(&again));
    for key in [
        "final_d_loss",
        "final_g_loss",
        "mnist_score",
        "frechet_distance",
    ] {
        assert_eq!(a["metrics"][key], b["metrics"][key], "{key}");
    }
}

/// `zoo train gan-mnist-mini` without scoring, into `run` (or resuming it), plus `extra`.
fn train_mini(run: &Path, cache: &Path, resume: bool, extra: &[&str]) -> Output {
    let run = run.to_str().unwrap();
    let mut args = vec!["train", "--plain", "--set", "gan.quality_samples=0"];
    if resume {
        args.extend(["--resume", run]);
    } else {
        args.extend(["gan-mnist-mini", "--out", run]);
    }
    args.extend_from_slice(extra);
    zoo(&args, cache)
}

/// Train one epoch, resume to two: epoch 1's row is kept as it was, and epoch 2 is what an
/// uninterrupted two-epoch run computes (the shuffle and latents are seeded per epoch, the
/// optimizer states are checkpointed).
#[test]
fn resume_continues_from_the_last_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &cache, false, &["--epochs", "1"]));
    let first = metrics(&run);
    assert_eq!(first.len(), 2);

    // Nothing more to do at the same budget; a folder with a run is not overwritten.
    assert_user_error(
        &train_mini(&run, &cache, true, &[]),
        &["already has 1 epochs", "--epochs"],
    );
    assert_user_error(
        &train_mini(&run, &cache, false, &["--epochs", "1"]),
        &["already holds a run", "--resume"],
    );

    let output = train_mini(&run, &cache, true, &["--epochs", "2"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains("resuming after epoch 1"),
        "{}",
        stdout(&output)
    );
    let resumed = metrics(&run);
    assert_eq!(resumed.len(), 3, "{resumed:?}");
    assert_eq!(resumed[1], first[1], "epoch 1's row is unchanged");
    assert_eq!(summary(&run)["epochs_run"], 2);
    check_grid(&run.join("samples/epoch-002.png"), 16);

    let straight = dir.path().join("straight");
    assert_ok(&train_mini(&straight, &cache, false, &["--epochs", "2"]));
    let straight = metrics(&straight);
    assert_eq!(resumed[2][..3], straight[2][..3], "epoch 2: same losses");

    // Resuming a folder without a finished epoch is an error, not a fresh start.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_user_error(&train_mini(&empty, &cache, true, &[]), &["empty"]);
}

#[test]
fn sample_draws_a_grid_of_n_images_and_the_same_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = dir.path().join("run");
    assert_ok(&train_mini(&run, &cache, false, &["--epochs", "1"]));
    let r = run.to_str().unwrap();
    let sample = |n: &str, seed: &str, out: &Path| {
        let output = zoo(
            &[
                "sample",
                r,
                "--n",
                n,
                "--seed",
                seed,
                "--out",
                out.to_str().unwrap(),
            ],
            &cache,
        );
        assert_ok(&output);
        assert_eq!(stdout(&output).trim(), out.display().to_string());
        std::fs::read(out).unwrap()
    };
    let a = sample("10", "3", &dir.path().join("a.png"));
    check_grid(&dir.path().join("a.png"), 10);
    let b = sample("10", "3", &dir.path().join("b.png"));
    assert_eq!(a, b, "same seed, same grid");
    let c = sample("10", "4", &dir.path().join("c.png"));
    assert_ne!(a, c, "another seed, other images");
    sample("64", "0", &dir.path().join("d.png"));
    check_grid(&dir.path().join("d.png"), 64);

    // Default output: inside the run folder.
    let output = zoo(&["sample", r, "--n", "4"], &cache);
    assert_ok(&output);
    assert!(run.join("sample-seed0.png").is_file());
}

#[test]
fn gan_mistakes_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let gan = dir.path().join("gan");
    assert_ok(&train_mini(&gan, &cache, false, &["--epochs", "1"]));
    let g = gan.to_str().unwrap();
    // A GAN run has no classifier: eval and predict say so.
    assert_user_error(&zoo(&["eval", g], &cache), &["GAN run", "zoo sample"]);
    let png = dir.path().join("digit.png");
    image::GrayImage::new(28, 28).save(&png).unwrap();
    assert_user_error(
        &zoo(&["predict", g, png.to_str().unwrap()], &cache),
        &["GAN run"],
    );
    // zoo sample on a classifier run, or on no run at all.
    let classifier = dir.path().join("classifier");
    let output = zoo(
        &[
            "train",
            "mlp-mnist-mini",
            "--plain",
            "--dry-run",
            "--out",
            classifier.to_str().unwrap(),
        ],
        &cache,
    );
    assert_ok(&output);
    assert_user_error(
        &zoo(&["sample", classifier.to_str().unwrap()], &cache),
        &["not a GAN run", "mlp-mnist-mini", "mlp model"],
    );
    assert_user_error(
        &zoo(
            &["sample", dir.path().join("nothing").to_str().unwrap()],
            &cache,
        ),
        &["not a run folder"],
    );
    assert_user_error(&zoo(&["sample", g, "--n", "0"], &cache), &["--n"]);
    // WGAN-GP needs a critic without batch norm; GAN training is Adam only.
    assert_user_error(
        &zoo(
            &[
                "train",
                "wgan-gp-mnist",
                "--set",
                "model.discriminator_batch_norm=true",
            ],
            &cache,
        ),
        &["discriminator_batch_norm"],
    );
    assert_user_error(
        &zoo(
            &["train", "dcgan-mnist", "--set", "optimizer.kind=sgd"],
            &cache,
        ),
        &["optimizer.kind"],
    );
    // The gradient penalty is not defined across the class planes of a conditional critic.
    assert_user_error(
        &zoo(
            &["train", "wgan-gp-mnist", "--set", "model.conditional=true"],
            &cache,
        ),
        &["model.conditional", "wgan-gp"],
    );
    // A recipe.toml edited after training no longer fits the saved generator.
    let recipe = std::fs::read_to_string(gan.join("recipe.toml")).unwrap();
    assert!(recipe.contains("generator_hidden = [128]"), "{recipe}");
    let edited = recipe.replace("generator_hidden = [128]", "generator_hidden = [64]");
    std::fs::write(gan.join("recipe.toml"), edited).unwrap();
    assert_user_error(
        &zoo(&["sample", g], &cache),
        &["recipe.toml", "model.generator_hidden", "[128]"],
    );
    // A diverging run stops with one line.
    let nan = dir.path().join("nan");
    let output = train_mini(&nan, &cache, false, &["--lr", "1e30", "--epochs", "1"]);
    assert_user_error(&output, &["diverged"]);
}
