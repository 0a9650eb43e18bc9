//! Sample quality of a generator, judged by a classifier trained by one of the zoo's own recipes:
//! the MNIST score (the Inception score with an MNIST classifier) and the Fréchet distance between
//! the classifier's penultimate-layer features of real and generated images (FID with that
//! classifier instead of Inception).
//!
//! The classifier is trained on first use into `<cache_dir>/classifiers/<recipe>-<hash>/` (keyed
//! by the content of the recipe, so an edited recipe trains a new one) and reused
//! afterwards; every figure is computed in `f64`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use zoo_datasets::{DataSource, ImageBatcher, ImageDatasetKind, ImageItem, ImageSet};
use zoo_gan::Generator;

use zoo_train::recipe::{Recipe, Task};
use zoo_train::run::folder::{files, RunFolder};
use zoo_train::tasks::classify::{load_classifier, Classifier, ImageData};
use zoo_train::tasks::gan::condition::{normal_latents, Conditioning};
use zoo_train::tasks::gan::sample::load_generator;
use zoo_train::{train, QualityScores, RunOptions, Summary};

/// Images pushed through a network at once when scoring.
const BATCH: usize = 500;

/// Class probabilities and penultimate features of a set of images.
struct Judged {
    probabilities: Vec<Vec<f64>>,
    features: Vec<Vec<f64>>,
}

/// What to score and with what.
pub struct Scoring<'a> {
    /// Generated images to score.
    pub samples: usize,
    /// Seed of their latents and of the choice of real images.
    pub seed: u64,
    /// The classifier recipe (trained first if not in the cache).
    pub classifier: &'a str,
    /// The run's options: backend and data folder for the classifier; with `dry_run`, a missing
    /// classifier is trained for a few batches into `run_dir` instead of the cache, so a dry
    /// run stays quick and leaves no half-trained classifier behind.
    pub options: &'a RunOptions,
    /// The GAN's run folder.
    pub run_dir: &'a Path,
}

/// Scores the generator of the finished GAN run in `run_dir` as its recipe's `[gan]` table says
/// (`quality_samples` samples, judged by `quality_classifier`), adds the figures to its
/// `summary.json` and returns the summary. With `quality_samples = 0` the summary is returned
/// unchanged. `options` gives the backend and data folder; with `dry_run`, at most two batches
/// of samples are scored.
pub fn score_run(run_dir: &Path, options: &RunOptions) -> Result<Summary> {
    let folder = RunFolder::open(run_dir)?;
    let summary = folder.read_summary()?;
    let device = options.backend.device()?;
    let (recipe, conditioning, generator) = load_generator(run_dir, &device)?;
    let gan = recipe.gan.clone().unwrap_or_default();
    if gan.quality_samples == 0 {
        return Ok(summary);
    }
    let data = ImageData::for_run(&recipe, options)?;
    let samples = if options.dry_run {
        gan.quality_samples.min(2 * recipe.training.batch_size)
    } else {
        gan.quality_samples
    };
    let scoring = Scoring {
        samples,
        seed: recipe.training.seed,
        classifier: &gan.quality_classifier,
        options,
        run_dir,
    };
    let scores = score(&generator, conditioning, &data, &scoring, &device)?;
    let summary = Summary {
        metrics: summary.metrics.with_quality(scores),
        ..summary
    };
    folder.write_summary(&summary)?;
    Ok(summary)
}

/// Scores `scoring.samples` images of `generator` against the real images of `data`.
pub fn score(
    generator: &Generator,
    conditioning: Conditioning,
    data: &ImageData,
    scoring: &Scoring,
    device: &Device,
) -> Result<QualityScores> {
    let (samples, seed, classifier_name) = (scoring.samples, scoring.seed, scoring.classifier);
    // The classifier always judges in inference mode (no dropout, running batch-norm statistics),
    // whatever mode the generator runs in.
    let generator_device = device;
    let device = &device.clone().without_autodiff();
    let (recipe, classifier) = classifier(
        classifier_name,
        data.kind,
        scoring.options,
        scoring.run_dir,
        device,
    )?;
    let kind = recipe
        .data
        .dataset
        .image_kind()
        .context("the classifier reads images")?;
    let real_images = samples.min(data.test.len()).min(data.train.len());
    if real_images < 2 {
        bail!("quality scores need at least 2 real test and training images");
    }
    println!(
        "scoring {samples} samples with classifier '{classifier_name}' ({real_images} real images for reference)"
    );
    let mut rng = StdRng::seed_from_u64(seed ^ 0x51ab_1e5c_0de5_eed5);
    let test = pick(&data.test, real_images, &mut rng);
    let train_set = pick(&data.train, real_images, &mut rng);

    let real_test = judge_set(&classifier, &test, kind, device);
    let real_train = judge_set(&classifier, &train_set, kind, device);
    let generated = judge_samples(
        &classifier,
        generator,
        conditioning,
        samples,
        &mut rng,
        kind,
        generator_device,
    );

    let (mu_test, cov_test) = mean_covariance(&real_test.features);
    let (mu_train, cov_train) = mean_covariance(&real_train.features);
    let (mu_gen, cov_gen) = mean_covariance(&generated.features);
    Ok(QualityScores {
        mnist_score: mnist_score(&generated.probabilities),
        frechet_distance: frechet_distance(&mu_test, &cov_test, &mu_gen, &cov_gen),
        real_mnist_score: mnist_score(&real_test.probabilities),
        real_frechet_distance: frechet_distance(&mu_test, &cov_test, &mu_train, &cov_train),
        samples,
        real_images,
        classifier: classifier_name.to_string(),
    })
}

/// `n` images of `set`, chosen at random without replacement (all of them, in order, when
/// `n == set.len()`).
fn pick(set: &ImageSet, n: usize, rng: &mut StdRng) -> ImageSet {
    if n >= set.len() {
        return set.clone();
    }
    let mut indices = sample(rng, set.len(), n).into_vec();
    indices.sort_unstable();
    set.select(&indices)
}

/// The classifier named `name`: loaded from the cache, or trained into it first.
fn classifier(
    name: &str,
    gan_data: ImageDatasetKind,
    options: &RunOptions,
    run_dir: &Path,
    device: &Device,
) -> Result<(Recipe, Classifier)> {
    let recipe = Recipe::load(name, &[])
        .with_context(|| format!("key 'gan.quality_classifier': cannot load recipe '{name}'"))?;
    let shape = recipe.data.dataset.image_shape();
    if recipe.model.task() != Task::ImageClassification
        || shape.is_none_or(|shape| {
            recipe.model.mlp_config(shape).is_none() && recipe.model.cnn_config(shape).is_none()
        })
    {
        bail!(
            "key 'gan.quality_classifier': '{name}' is not an MLP or CNN image classifier recipe"
        );
    }
    if recipe.data.dataset.image_kind() != Some(gan_data) {
        bail!(
            "key 'gan.quality_classifier': '{name}' classifies {}, but the GAN generates {} images",
            recipe.data.dataset,
            gan_data.name()
        );
    }
    let cached = cache_dir(&recipe);
    if cached.join(files::MODEL).is_file() {
        return load_classifier(&cached, device)
            .with_context(|| format!("cannot load the cached classifier in {}", cached.display()));
    }
    let (target, dry_run) = if options.dry_run {
        (run_dir.join("quality-classifier-dry-run"), true)
    } else {
        (cached.clone(), false)
    };
    println!(
        "training the quality classifier '{name}' into {}{}",
        target.display(),
        if dry_run {
            " (dry run: a few batches, not cached)"
        } else {
            " (once; reused afterwards)"
        }
    );
    // Train into a private folder, then move it into place, so that two runs training the same
    // classifier at once never see each other's half-written folder.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let scratch = target.with_file_name(format!(
        ".{}-{}-{stamp}",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("classifier"),
        std::process::id()
    ));
    if let Some(parent) = scratch.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let classifier_options = RunOptions {
        backend: options.backend,
        data_dir: options.data_dir.clone(),
        run_dir: Some(scratch.clone()),
        dry_run,
        plain_progress: true,
        ..Default::default()
    };
    let summary = train(&recipe, &classifier_options)
        .with_context(|| format!("training the quality classifier '{name}'"))?;
    println!(
        "quality classifier '{name}': test accuracy {:.2}%",
        100.0 * summary.metrics.test_accuracy.unwrap_or(f64::NAN)
    );
    if std::fs::rename(&scratch, &target).is_err() {
        // Another run got there first: use its classifier and drop ours.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    load_classifier(&target, device)
}

/// `<cache_dir>/classifiers/<recipe>-<hash>`: where the classifier of a recipe is kept, keyed by
/// the recipe's content (the first 16 hex digits of the SHA-256 of its resolved TOML), so a
/// changed recipe trains a new classifier instead of reusing a stale one.
pub fn cache_dir(recipe: &Recipe) -> PathBuf {
    let digest = Sha256::digest(recipe.to_toml().as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    DataSource::from_env(None)
        .cache_dir
        .join("classifiers")
        .join(format!("{}-{hash}", recipe.name))
}

/// Probabilities and features of every image of `set`, normalized as the classifier was trained.
fn judge_set(
    classifier: &Classifier,
    set: &ImageSet,
    kind: ImageDatasetKind,
    device: &Device,
) -> Judged {
    let batcher = ImageBatcher::new(kind);
    let mut judged = Judged {
        probabilities: Vec::with_capacity(set.len()),
        features: Vec::with_capacity(set.len()),
    };
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(BATCH) {
        let items: Vec<ImageItem> = chunk.iter().map(|&i| set.item(i)).collect();
        judge_batch(classifier, batcher.batch(items, device).images, &mut judged);
    }
    judged
}

/// Probabilities and features of `n` fresh samples of `generator` (whose device is `device`);
/// a conditional generator draws classes uniformly at random.
fn judge_samples(
    classifier: &Classifier,
    generator: &Generator,
    conditioning: Conditioning,
    n: usize,
    rng: &mut StdRng,
    kind: ImageDatasetKind,
    device: &Device,
) -> Judged {
    let mut judged = Judged {
        probabilities: Vec::with_capacity(n),
        features: Vec::with_capacity(n),
    };
    let mut done = 0;
    while done < n {
        let batch = BATCH.min(n - done);
        let latents = normal_latents(rng, batch, conditioning.latent_size);
        let labels = conditioning.random_labels(batch, rng);
        let input = conditioning.generator_input(&latents, &labels, device);
        let images = generator.forward(input).without_autodiff(); // [batch, c, h, w] in [-1, 1]
        judge_batch(classifier, classifier_input(images, kind), &mut judged);
        done += batch;
    }
    judged
}

/// Generated images in `[-1, 1]` as the classifier's input: `(x + 1) / 2` is the pixel in
/// `[0, 1]`, then the dataset's mean and standard deviation, exactly as [`ImageBatcher`] does.
/// Pixels are rounded to the 256 levels of a real image first, so samples and real images are
/// judged on the same footing.
pub fn classifier_input(images: Tensor<4>, kind: ImageDatasetKind) -> Tensor<4> {
    let pixels = images
        .add_scalar(1.0)
        .div_scalar(2.0)
        .clamp(0.0, 1.0)
        .mul_scalar(255.0)
        .round()
        .div_scalar(255.0); // [batch, c, h, w] in [0, 1]
    pixels
        .sub_scalar(kind.mean() as f64)
        .div_scalar(kind.std() as f64)
}

fn judge_batch(classifier: &Classifier, images: Tensor<4>, judged: &mut Judged) {
    let features = classifier.features(images); // [batch, features]
    let logits = classifier.logits_of_features(features.clone()); // [batch, classes]
    let probabilities = softmax(logits, 1);
    judged.probabilities.extend(rows(probabilities));
    judged.features.extend(rows(features));
}

/// The rows of a `[n, k]` tensor, as `f64`.
fn rows(tensor: Tensor<2>) -> Vec<Vec<f64>> {
    let [_, k] = tensor.dims();
    let values: Vec<f32> = tensor.into_data().try_to_vec::<f32>().unwrap_or_default();
    values
        .chunks(k.max(1))
        .map(|row| row.iter().map(|&v| v as f64).collect())
        .collect()
}

/// The MNIST (Inception) score `exp(E_x[KL(p(y|x) || p(y))])` of per-image class probabilities,
/// with `p(y)` their mean. It lies between 1 (every image gets the same distribution) and the
/// number of classes (confident, balanced predictions).
pub fn mnist_score(probabilities: &[Vec<f64>]) -> f64 {
    let n = probabilities.len();
    if n == 0 {
        return f64::NAN;
    }
    let classes = probabilities[0].len();
    let mut marginal = vec![0.0; classes];
    for p in probabilities {
        for (m, &v) in marginal.iter_mut().zip(p) {
            *m += v / n as f64;
        }
    }
    // KL(p || q) = sum p log(p / q); terms with p = 0 contribute 0. A tiny floor keeps log
    // finite for probabilities that underflowed in f32.
    let kl_mean = probabilities
        .iter()
        .map(|p| {
            p.iter()
                .zip(&marginal)
                .filter(|(&v, _)| v > 0.0)
                .map(|(&v, &m)| v * (v.ln() - m.max(1e-300).ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    kl_mean.exp()
}

/// A square matrix, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Rows and columns.
    pub n: usize,
    /// `n * n` values, row by row.
    pub values: Vec<f64>,
}

impl Matrix {
    fn zeros(n: usize) -> Self {
        Self {
            n,
            values: vec![0.0; n * n],
        }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.values[i * self.n + j]
    }

    fn set(&mut self, i: usize, j: usize, v: f64) {
        self.values[i * self.n + j] = v;
    }

    fn trace(&self) -> f64 {
        (0..self.n).map(|i| self.at(i, i)).sum()
    }

    fn mul(&self, other: &Matrix) -> Matrix {
        let n = self.n;
        let mut out = Matrix::zeros(n);
        for i in 0..n {
            for k in 0..n {
                let a = self.at(i, k);
                if a == 0.0 {
                    continue;
                }
                let row = &other.values[k * n..(k + 1) * n];
                let dst = &mut out.values[i * n..(i + 1) * n];
                for (d, &b) in dst.iter_mut().zip(row) {
                    *d += a * b;
                }
            }
        }
        out
    }
}

/// Mean vector and covariance matrix (unbiased, `n - 1`) of feature rows.
pub fn mean_covariance(rows: &[Vec<f64>]) -> (Vec<f64>, Matrix) {
    let n = rows.len();
    let k = rows.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; k];
    for row in rows {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = Matrix::zeros(k);
    let mut centered = vec![0.0; k];
    for row in rows {
        for ((c, &v), &m) in centered.iter_mut().zip(row).zip(&mean) {
            *c = v - m;
        }
        for i in 0..k {
            let ci = centered[i];
            if ci == 0.0 {
                continue;
            }
            let dst = &mut cov.values[i * k..(i + 1) * k];
            for (d, &cj) in dst.iter_mut().zip(&centered) {
                *d += ci * cj;
            }
        }
    }
    let denominator = (n.max(2) - 1) as f64;
    cov.values.iter_mut().for_each(|v| *v /= denominator);
    (mean, cov)
}

/// The Fréchet distance between two Gaussians:
/// `||mu1 - mu2||² + Tr(C1 + C2 - 2 (C1^½ C2 C1^½)^½)`.
///
/// `C1^½` comes from a symmetric eigen-decomposition (negative round-off eigenvalues are
/// clamped to 0); the trace of `(C1^½ C2 C1^½)^½` is the sum of the square roots of that
/// symmetric matrix's eigenvalues.
pub fn frechet_distance(mu1: &[f64], c1: &Matrix, mu2: &[f64], c2: &Matrix) -> f64 {
    let mean_term: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b).powi(2)).sum();
    let root1 = sqrt_psd(c1);
    let mut middle = root1.mul(c2).mul(&root1);
    symmetrize(&mut middle);
    let (eigenvalues, _) = symmetric_eigen(&middle);
    let cross: f64 = eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    mean_term + c1.trace() + c2.trace() - 2.0 * cross
}

fn symmetrize(m: &mut Matrix) {
    for i in 0..m.n {
        for j in i + 1..m.n {
            let v = 0.5 * (m.at(i, j) + m.at(j, i));
            m.set(i, j, v);
            m.set(j, i, v);
        }
    }
}

/// The square root of a symmetric positive semi-definite matrix: `V diag(sqrt(max(l, 0))) Vᵀ`.
pub fn sqrt_psd(m: &Matrix) -> Matrix {
    let (eigenvalues, vectors) = symmetric_eigen(m);
    let n = m.n;
    let roots: Vec<f64> = eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = Matrix::zeros(n);
    for i in 0..n {
        for j in 0..n {
            let v = (0..n)
                .map(|k| vectors.at(i, k) * roots[k] * vectors.at(j, k))
                .sum();
            out.set(i, j, v);
        }
    }
    out
}

/// Eigenvalues and eigenvectors (the columns of the returned matrix) of a symmetric matrix, by
/// cyclic Jacobi rotations until the off-diagonal mass is negligible.
pub fn symmetric_eigen(m: &Matrix) -> (Vec<f64>, Matrix) {
    let n = m.n;
    let mut a = m.clone();
    let mut v = Matrix::zeros(n);
    for i in 0..n {
        v.set(i, i, 1.0);
    }
    let total: f64 = a.values.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a.at(i, j).powi(2))
            .sum();
        if off <= 1e-30 * total.max(1e-300) || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a.at(p, q);
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a.at(p, p), a.at(q, q));
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- Jᵀ A J on rows and columns p and q.
                for k in 0..n {
                    let (akp, akq) = (a.at(k, p), a.at(k, q));
                    a.set(k, p, c * akp - s * akq);
                    a.set(k, q, s * akp + c * akq);
                }
                for k in 0..n {
                    let (apk, aqk) = (a.at(p, k), a.at(q, k));
                    a.set(p, k, c * apk - s * aqk);
                    a.set(q, k, s * apk + c * aqk);
                }
                for k in 0..n {
                    let (vkp, vkq) = (v.at(k, p), v.at(k, q));
                    v.set(k, p, c * vkp - s * vkq);
                    v.set(k, q, s * vkp + c * vkq);
                }
            }
        }
    }
    ((0..n).map(|i| a.at(i, i)).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f64]]) -> Matrix {
        Matrix {
            n: rows.len(),
            values: rows.iter().flat_map(|r| r.iter().copied()).collect(),
        }
    }

    #[test]
    fn confident_balanced_predictions_score_the_number_of_classes() {
        let classes = 10;
        let probabilities: Vec<Vec<f64>> = (0..1000)
            .map(|i| {
                let mut p = vec![0.0; classes];
                p[i % classes] = 1.0;
                p
            })
            .collect();
        assert!((mnist_score(&probabilities) - classes as f64).abs() < 1e-9);
    }

    #[test]
    fn identical_predictions_score_one() {
        let same = vec![vec![0.1, 0.7, 0.2]; 50];
        assert!((mnist_score(&same) - 1.0).abs() < 1e-12);
        let one_class = vec![vec![0.0, 1.0, 0.0]; 50];
        assert!((mnist_score(&one_class) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn two_balanced_classes_of_half_confidence_match_the_closed_form() {
        // p(y|x) = (0.75, 0.25) or (0.25, 0.75) in equal numbers, p(y) = (0.5, 0.5):
        // KL = 0.75 ln 1.5 + 0.25 ln 0.5 for every image.
        let probabilities: Vec<Vec<f64>> = (0..10)
            .map(|i| {
                if i % 2 == 0 {
                    vec![0.75, 0.25]
                } else {
                    vec![0.25, 0.75]
                }
            })
            .collect();
        let expected = (0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln()).exp();
        assert!((mnist_score(&probabilities) - expected).abs() < 1e-12);
    }

    #[test]
    fn jacobi_diagonalizes_a_symmetric_matrix() {
        let m = matrix(&[&[4.0, 1.0, 2.0], &[1.0, 3.0, 0.5], &[2.0, 0.5, 5.0]]);
        let (values, vectors) = symmetric_eigen(&m);
        for (k, &l) in values.iter().enumerate() {
            for i in 0..3 {
                let mv: f64 = (0..3).map(|j| m.at(i, j) * vectors.at(j, k)).sum();
                assert!((mv - l * vectors.at(i, k)).abs() < 1e-10, "M v = l v");
            }
        }
        assert!((values.iter().sum::<f64>() - m.trace()).abs() < 1e-10);
        let root = sqrt_psd(&m);
        let square = root.mul(&root);
        for (a, b) in square.values.iter().zip(&m.values) {
            assert!((a - b).abs() < 1e-10, "sqrt(M)² = M");
        }
    }

    #[test]
    fn covariance_of_known_rows() {
        let rows = vec![vec![1.0, 2.0], vec![3.0, 6.0], vec![5.0, 10.0]];
        let (mean, cov) = mean_covariance(&rows);
        assert_eq!(mean, vec![3.0, 6.0]);
        // Variances 4 and 16, covariance 8 (unbiased).
        assert_eq!(cov.values, vec![4.0, 8.0, 8.0, 16.0]);
    }

    /// Deterministic pseudo-random features: a fixed linear mix of uniform noise.
    fn features(n: usize, k: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        (0..n)
            .map(|_| {
                let noise: Vec<f64> = (0..k).map(|_| next()).collect();
                (0..k)
                    .map(|i| noise[i] + 0.5 * noise[(i + 1) % k] + i as f64 * 0.1)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let rows = features(500, 16, 3);
        let (mu, cov) = mean_covariance(&rows);
        let d = frechet_distance(&mu, &cov, &mu, &cov);
        assert!(d.abs() < 1e-9, "{d}");
    }

    #[test]
    fn distance_between_gaussians_matches_the_closed_form() {
        // Diagonal covariances: FD = |mu1 - mu2|² + sum (sqrt(a_i) - sqrt(b_i))².
        let mu1 = [0.0, 1.0, -2.0];
        let mu2 = [1.0, 1.0, 0.0];
        let a = [1.0, 4.0, 9.0];
        let b = [4.0, 1.0, 9.0];
        let diag = |d: &[f64; 3]| {
            let mut m = Matrix::zeros(3);
            for (i, &v) in d.iter().enumerate() {
                m.set(i, i, v);
            }
            m
        };
        let expected = 1.0 + 4.0 + (1.0 - 2.0f64).powi(2) + (2.0 - 1.0f64).powi(2);
        let d = frechet_distance(&mu1, &diag(&a), &mu2, &diag(&b));
        assert!((d - expected).abs() < 1e-10, "{d} vs {expected}");

        // Commuting full covariances: C and 4C (same eigenvectors) give
        // Tr(C + 4C - 2 * 2C) = Tr(C), whatever the rotation.
        let c = matrix(&[&[2.0, 0.6, 0.1], &[0.6, 1.0, 0.3], &[0.1, 0.3, 1.5]]);
        let four_c = Matrix {
            n: 3,
            values: c.values.iter().map(|v| 4.0 * v).collect(),
        };
        let d = frechet_distance(&mu1, &c, &mu1, &four_c);
        assert!((d - c.trace()).abs() < 1e-9, "{d} vs {}", c.trace());
    }

    #[test]
    fn distance_grows_with_a_shift_of_the_mean() {
        let rows = features(400, 8, 5);
        let shifted: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r.iter().map(|v| v + 0.5).collect())
            .collect();
        let (mu1, c1) = mean_covariance(&rows);
        let (mu2, c2) = mean_covariance(&shifted);
        let d = frechet_distance(&mu1, &c1, &mu2, &c2);
        assert!((d - 8.0 * 0.25).abs() < 1e-8, "{d}");
    }
}
