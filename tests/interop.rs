//! Weights in and out, checked against PyTorch and onnxruntime themselves: the PyTorch twins of
//! `interop/python/torch_models.py` trained by PyTorch and imported with `zoo import`, zoo runs
//! exported with `zoo export` and loaded into the twins or run in onnxruntime, and the files a
//! user may hand `zoo import` by mistake.
//!
//! Everything trains for one epoch on the embedded mini MNIST (`datasets/data/mnist-mini`, which
//! PyTorch reads from the same IDX files). Logits are compared on the first 100 test images,
//! computed on the zoo's side through the library (`zoo_interop::RunModel`) from the zoo's own
//! data pipeline, and must agree within 1e-4; test accuracies must be equal.
//!
//! Python comes from `ZOO_TORCH_PYTHON`, else `~/.cache/torch-venv/bin/python` when it exists,
//! else `python3`, and runs with `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` unset. Without
//! `torch`, `safetensors`, `onnxruntime` or `numpy` the tests say so and stop, unless
//! `ZOO_REQUIRE_TORCH=1` (set by `.ci/run`) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use common::*;
use serde_json::Value;
use zoo_datasets::{embedded_mini_mnist, ImageBatcher, ImageDatasetKind};
use zoo_interop::{read_state_dict, RunModel};

/// Logits (and generated pixels) must agree this closely.
const TOLERANCE: f32 = 1e-4;

/// Test images whose logits are compared.
const IMAGES: usize = 100;

const MINI_MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/data/mnist-mini");
const TWINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/python");

/// The Python with PyTorch, safetensors, onnxruntime and numpy, or `None` (with the reason
/// printed) when there is none; probed once per test binary.
fn torch_python() -> Option<&'static str> {
    static PYTHON: OnceLock<Result<String, String>> = OnceLock::new();
    let probed = PYTHON.get_or_init(|| {
        let python = std::env::var("ZOO_TORCH_PYTHON")
            .ok()
            .filter(|p| !p.is_empty())
            .or_else(|| {
                let venv = Path::new(&std::env::var("HOME").ok()?).join(".cache/torch-venv/bin/python");
                venv.exists().then(|| venv.display().to_string())
            })
            .unwrap_or_else(|| "python3".to_string());
        let probe = python_command(&python)
            .args(["-c", "import torch, safetensors, onnxruntime, numpy"])
            .output();
        match probe {
            Ok(out) if out.status.success() => Ok(python),
            Ok(out) => Err(format!(
                "{python} cannot import torch, safetensors, onnxruntime and numpy ({}); set ZOO_TORCH_PYTHON",
                String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("")
            )),
            Err(e) => Err(format!("cannot run {python}: {e}; set ZOO_TORCH_PYTHON")),
        }
    });
    match probed {
        Ok(python) => Some(python),
        Err(reason) => {
            assert!(
                std::env::var("ZOO_REQUIRE_TORCH").as_deref() != Ok("1"),
                "ZOO_REQUIRE_TORCH=1 but {reason}"
            );
            skip(reason);
            None
        }
    }
}

/// `python` with OpenBLAS left to find its own settings.
fn python_command(python: &str) -> Command {
    let mut command = Command::new(python);
    command
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE");
    command
}

/// Runs `script` (a file of `interop/python`, or `-c CODE`) and returns the JSON object it
/// prints last.
fn python(interpreter: &str, script: &str, args: &[&str]) -> Value {
    let mut command = python_command(interpreter);
    if script == "-c" {
        command.arg("-c");
    } else {
        command.arg(Path::new(TWINS).join(script));
    }
    let output = command.args(args).output().expect("python runs");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{out}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{script}: not JSON ({e}): {out}"))
}

fn run_zoo(args: &[&str]) -> String {
    let output = zoo(args);
    assert_ok(&output);
    stdout(&output)
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The first `n` test images of the embedded mini MNIST, as the zoo's data loader feeds them:
/// `[n, 1, 28, 28]`, normalized with MNIST's statistics.
fn mini_test_images(n: usize) -> Tensor<4> {
    let test = embedded_mini_mnist().unwrap().test;
    let batcher = ImageBatcher::new(ImageDatasetKind::Mnist);
    let pixels: Vec<f32> = (0..n)
        .flat_map(|i| test.image(i).iter().map(|&x| batcher.normalize(x)))
        .collect();
    Tensor::from_data(TensorData::new(pixels, [n, 1, 28, 28]), &Device::flex())
}

/// What the run's network computes: logits of `mini_test_images(IMAGES)` for a classifier,
/// images of `latents` for a generator.
fn zoo_outputs(run: &Path, latents: Option<Tensor<2>>) -> TensorData {
    let (_, model) = RunModel::load(run, &Device::flex()).unwrap();
    match (model, latents) {
        (RunModel::Classifier(model), None) => model.forward(mini_test_images(IMAGES)).into_data(),
        (RunModel::Generator(generator, _), Some(latents)) => {
            generator.forward(latents).into_data()
        }
        (model, _) => panic!("unexpected model in {}: {model:?}", run.display()),
    }
}

/// A float32 `.npy` file (C order, as numpy writes it by default): shape and values.
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: not .npy", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{}: {header}",
        path.display()
    );
    let dims = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = dims
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(
        values.len(),
        shape.iter().product::<usize>(),
        "{}",
        path.display()
    );
    (shape, values)
}

/// Writes `data` (float32) as a version 1 `.npy` file.
fn write_npy(path: &Path, data: &TensorData) {
    let dims: Vec<String> = data.shape().iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in data.clone().convert::<f32>().try_to_vec::<f32>().unwrap() {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// Asserts that `ours` and the `.npy` at `theirs` hold the same shape and values within
/// [`TOLERANCE`], and that the values are not all alike (a broken pipeline that outputs a
/// constant would otherwise compare well against another one).
fn assert_close(what: &str, ours: &TensorData, theirs: &Path) {
    let (shape, expected) = read_npy(theirs);
    assert_eq!(ours.shape().to_vec(), shape, "{what}: shapes");
    let actual = ours.clone().convert::<f32>().try_to_vec::<f32>().unwrap();
    let worst = actual
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= TOLERANCE,
        "{what}: max |zoo - other| = {worst:e} > {TOLERANCE:e}"
    );
    let spread = expected.iter().fold(f32::MIN, |m, &v| m.max(v))
        - expected.iter().fold(f32::MAX, |m, &v| m.min(v));
    assert!(spread > 0.5, "{what}: the outputs hardly vary ({spread})");
    eprintln!(
        "{what}: max |zoo - other| = {worst:.2e} over {} values",
        actual.len()
    );
}

/// `zoo eval RUN`'s test accuracy, as printed (`80.60%`), and the number of images.
fn eval_accuracy(run: &Path) -> (String, usize) {
    let out = run_zoo(&["eval", arg(run)]);
    let after = out
        .split("test accuracy ")
        .nth(1)
        .unwrap_or_else(|| panic!("no test accuracy in: {out}"));
    let percent = after.split_whitespace().next().unwrap().to_string();
    let images = after
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no image count in: {out}"));
    (percent, images)
}

/// `correct / total` as `zoo eval` prints it.
fn percent(report: &Value) -> (String, usize) {
    let correct = report["test_correct"].as_u64().unwrap() as f64;
    let total = report["test_images"].as_u64().unwrap() as usize;
    (format!("{:.2}%", 100.0 * correct / total as f64), total)
}

/// PyTorch trains the twin `network` for one epoch on the mini MNIST and saves it as `.pt` and
/// `.safetensors`; each file is imported with `recipe` (and `sets`): `zoo eval` must print
/// PyTorch's test accuracy, the imported network must compute PyTorch's logits, and exporting
/// the imported run must give back PyTorch's tensors bit for bit. Returns the imported run.
fn pytorch_to_zoo(dir: &Path, network: &str, recipe: &str, sets: &[&str]) -> Option<PathBuf> {
    let py = torch_python()?;
    let (pt, st, logits) = (
        dir.join(format!("{network}.pt")),
        dir.join(format!("{network}.safetensors")),
        dir.join(format!("{network}.logits.npy")),
    );
    let report = python(
        py,
        "train_twin.py",
        &[
            network,
            "--data",
            MINI_MNIST,
            "--epochs",
            "1",
            "--out",
            arg(&pt),
            arg(&st),
            "--logits-out",
            arg(&logits),
        ],
    );
    let (pytorch_accuracy, images) = percent(&report);
    assert_eq!(images, 500);
    let mut runs = Vec::new();
    for file in [&pt, &st] {
        let run = dir.join(format!(
            "run-{}",
            file.extension().unwrap().to_str().unwrap()
        ));
        let mut args = vec!["import", arg(file), "--recipe", recipe, "--out", arg(&run)];
        for set in sets {
            args.extend(["--set", set]);
        }
        let out = run_zoo(&args);
        assert!(out.starts_with("imported "), "{out}");
        assert_eq!(
            eval_accuracy(&run),
            (pytorch_accuracy.clone(), images),
            "{network} from {}: zoo eval vs PyTorch",
            file.display()
        );
        assert_close(
            &format!(
                "{network} logits, PyTorch vs zoo import of {}",
                file.display()
            ),
            &zoo_outputs(&run, None),
            &logits,
        );
        let back = dir.join(format!("{network}.back.safetensors"));
        run_zoo(&["export", arg(&run), "--out", arg(&back)]);
        assert_eq!(
            read_state_dict(&back).unwrap(),
            read_state_dict(&st).unwrap()
        );
        runs.push(run);
    }
    Some(runs.remove(0))
}

#[test]
fn a_pytorch_trained_mlp_imports_with_its_accuracy_and_logits_and_fine_tunes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(run) = pytorch_to_zoo(dir.path(), "mlp", "mlp-mnist-mini", &[]) else {
        return;
    };
    // `zoo train --init-from` starts from the imported weights: a step too small to move them
    // keeps PyTorch's test accuracy.
    let tuned = dir.path().join("tuned");
    let out = run_zoo(&[
        "train",
        "mlp-mnist-mini",
        "--init-from",
        arg(&run),
        "--epochs",
        "1",
        "--lr",
        "1e-12",
        "--plain",
        "--out",
        arg(&tuned),
    ]);
    assert!(
        out.contains(&format!("test accuracy {}", eval_accuracy(&run).0)),
        "{out}"
    );
}

#[test]
fn a_pytorch_trained_classic_cnn_imports_with_its_accuracy_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    pytorch_to_zoo(dir.path(), "cnn", "cnn-mnist-mini", &[]);
}

#[test]
fn a_pytorch_trained_lstm_classifier_imports_with_its_accuracy_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    // The twin is lstm-seqmnist's network (hidden 128), on the mini MNIST.
    pytorch_to_zoo(
        dir.path(),
        "lstm",
        "lstm-seqmnist",
        &["data.dataset=mnist-mini"],
    );
}

#[test]
fn a_pytorch_trained_gan_generator_imports_and_draws_its_images() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (st, images) = (dir.path().join("g.safetensors"), dir.path().join("g.npy"));
    let report = python(
        py,
        "train_twin.py",
        &[
            "gan",
            "--data",
            MINI_MNIST,
            "--epochs",
            "1",
            "--out",
            arg(&st),
            "--logits-out",
            arg(&images),
            "--logits-images",
            "16",
        ],
    );
    let latents_file = PathBuf::from(report["latents_out"].as_str().unwrap());
    let run = dir.path().join("run");
    run_zoo(&[
        "import",
        arg(&st),
        "--recipe",
        "gan-mnist",
        "--set",
        "data.dataset=mnist-mini",
        "--out",
        arg(&run),
    ]);
    let (shape, latents) = read_npy(&latents_file);
    assert_eq!(shape, [16, 100]);
    let latents = Tensor::from_data(TensorData::new(latents, shape), &Device::flex());
    assert_close(
        "GAN generator images, PyTorch vs zoo import",
        &zoo_outputs(&run, Some(latents)),
        &images,
    );
    // The imported run is a GAN run like any other: `zoo sample` draws from it.
    let grid = dir.path().join("grid.png");
    run_zoo(&["sample", arg(&run), "--n", "16", "--out", arg(&grid)]);
    assert!(std::fs::metadata(&grid).unwrap().len() > 100);
}

/// `zoo train RECIPE --epochs 1`, then `zoo export` as safetensors (and as ONNX when `onnx`):
/// the PyTorch twin built from the file's header must compute the zoo's logits and classify the
/// test set as `zoo eval` does, and so must onnxruntime.
fn zoo_to_pytorch(recipe: &str, onnx: bool) {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    run_zoo(&[
        "train",
        recipe,
        "--epochs",
        "1",
        "--plain",
        "--out",
        arg(&run),
    ]);
    let zoo_logits = zoo_outputs(&run, None);
    let zoo_accuracy = eval_accuracy(&run);
    let st = dir.path().join("model.safetensors");
    let out = run_zoo(&[
        "export",
        arg(&run),
        "--format",
        "safetensors",
        "--out",
        arg(&st),
    ]);
    assert!(out.starts_with(&format!("wrote {}", st.display())), "{out}");
    let mut formats = vec![("PyTorch twin", st)];
    if onnx {
        let graph = run.join("model.onnx");
        run_zoo(&["export", arg(&run), "--format", "onnx"]);
        assert!(
            graph.is_file(),
            "the default ONNX path is RUN_DIR/model.onnx"
        );
        formats.push(("onnxruntime", graph));
    } else {
        let output = zoo(&["export", arg(&run), "--format", "onnx"]);
        let refused = format!("cannot export recipe '{recipe}' as ONNX");
        assert_user_error(&output, &[&refused, "--format safetensors"]);
    }
    for (runtime, file) in formats {
        let logits = dir.path().join(format!("{runtime}.npy"));
        let report = python(
            py,
            "run_twin.py",
            &[arg(&file), "--data", MINI_MNIST, "--out", arg(&logits)],
        );
        assert_close(&format!("{recipe}: zoo vs {runtime}"), &zoo_logits, &logits);
        assert_eq!(
            percent(&report),
            zoo_accuracy,
            "{recipe}: {runtime} vs zoo eval"
        );
    }
}

#[test]
fn a_zoo_trained_mlp_runs_in_pytorch_and_onnxruntime() {
    zoo_to_pytorch("mlp-mnist-mini", true);
}

#[test]
fn a_zoo_trained_classic_cnn_runs_in_pytorch_and_onnxruntime() {
    zoo_to_pytorch("cnn-mnist-mini", true);
}

#[test]
fn a_zoo_trained_lstm_classifier_runs_in_pytorch() {
    zoo_to_pytorch("lstm-seqmnist-mini", false);
}

#[test]
fn a_zoo_trained_gan_generator_runs_in_pytorch() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    run_zoo(&[
        "train",
        "gan-mnist-mini",
        "--epochs",
        "1",
        "--plain",
        "--out",
        arg(&run),
    ]);
    run_zoo(&["export", arg(&run)]);
    let output = zoo(&["export", arg(&run), "--format", "onnx"]);
    assert_user_error(&output, &["cannot export recipe 'gan-mnist-mini' as ONNX"]);
    let latents = Tensor::<2>::random([16, 32], Distribution::Normal(0.0, 1.0), &Device::flex());
    let latents_file = dir.path().join("latents.npy");
    write_npy(&latents_file, &latents.clone().into_data());
    let images = dir.path().join("images.npy");
    let report = python(
        py,
        "run_twin.py",
        &[
            arg(&run.join("generator.safetensors")),
            "--latents",
            arg(&latents_file),
            "--out",
            arg(&images),
        ],
    );
    assert_eq!(report["twin"], "MlpGenerator");
    assert_close(
        "gan-mnist-mini generator: zoo vs PyTorch twin",
        &zoo_outputs(&run, Some(latents)),
        &images,
    );
}

#[test]
fn bad_files_are_one_line_errors_naming_the_problem() {
    let Some(py) = torch_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A LeNet-5 and a narrower MLP (wrong architectures), whole pickled modules (ZIP and
    // legacy formats), and an MLP's state_dict in both formats, to truncate.
    const MAKE: &str = r#"
import json, os, sys
import torch
from safetensors.torch import save_file
sys.path.insert(0, sys.argv[1])
import torch_models as tm
d = sys.argv[2]
torch.save(tm.LeNet5().state_dict(), os.path.join(d, "lenet5.pt"))
save_file(tm.Mlp(hidden=[64]).state_dict(), os.path.join(d, "mlp64.safetensors"))
torch.save(tm.Mlp(), os.path.join(d, "whole.pt"))
torch.save(tm.Mlp(), os.path.join(d, "whole-legacy.pt"), _use_new_zipfile_serialization=False)
state = tm.Mlp().state_dict()
torch.save(state, os.path.join(d, "mlp.pt"))
save_file(state, os.path.join(d, "mlp.safetensors"))
print(json.dumps({"torch": torch.__version__}))
"#;
    python(py, "-c", &[MAKE, TWINS, arg(d)]);
    for name in ["mlp.pt", "mlp.safetensors"] {
        let bytes = std::fs::read(d.join(name)).unwrap();
        // The whole file imports; the same file cut short does not.
        run_zoo(&[
            "import",
            arg(&d.join(name)),
            "--recipe",
            "mlp-mnist-mini",
            "--out",
            arg(&d.join(format!("ok-{name}"))),
        ]);
        std::fs::write(d.join(format!("cut-{name}")), &bytes[..bytes.len() * 2 / 3]).unwrap();
    }
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "lenet5.pt",
            "cnn-mnist-mini",
            &[
                "lenet5.pt",
                "tensor 'blocks.0.conv.bias' is [6] in the file but [32] in the model",
                "'blocks.0.conv.weight' [6, 1, 5, 5] vs [32, 1, 3, 3]",
            ],
        ),
        (
            "mlp64.safetensors",
            "mlp-mnist-mini",
            &[
                "mlp64.safetensors",
                "tensor 'hidden.0.linear.bias' is [64] in the file but [128] in the model",
                "'hidden.0.linear.weight' [64, 784] vs [128, 784]",
            ],
        ),
        ("cut-mlp.pt", "mlp-mnist-mini", &["cut-mlp.pt", "truncated"]),
        (
            "cut-mlp.safetensors",
            "mlp-mnist-mini",
            &["cut-mlp.safetensors", "truncated"],
        ),
        (
            "whole.pt",
            "mlp-mnist-mini",
            &[
                "whole.pt",
                "holds a whole pickled module",
                "torch.save(model.state_dict(), path)",
            ],
        ),
        (
            "whole-legacy.pt",
            "mlp-mnist-mini",
            &["whole-legacy.pt", "holds a whole pickled module"],
        ),
    ];
    for (file, recipe, expected) in cases {
        let out = d.join(format!("run-{file}"));
        let output = zoo(&[
            "import",
            arg(&d.join(file)),
            "--recipe",
            recipe,
            "--out",
            arg(&out),
        ]);
        assert_user_error(&output, expected);
        assert!(!out.exists(), "{file}: nothing is written");
    }
}
