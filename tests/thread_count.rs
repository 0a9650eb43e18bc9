//! The thread count changes the speed, never the numbers: the flex kernels split their work
//! into parts of a fixed size and add partial gradients in a fixed order, so the same recipe
//! and seed give bit-identical metrics at any `RAYON_NUM_THREADS`.

mod common;

use common::{assert_ok, summary, zoo_with_env};

/// Trains `recipe` for `epochs` on `threads` threads into `dir/<threads>` and returns the
/// metrics of its `summary.json`.
fn metrics_at(
    dir: &std::path::Path,
    recipe: &str,
    epochs: &str,
    threads: &str,
) -> serde_json::Value {
    let run = dir.join(threads);
    let output = zoo_with_env(
        &[
            "train",
            recipe,
            "--epochs",
            epochs,
            "--out",
            run.to_str().unwrap(),
        ],
        &[("RAYON_NUM_THREADS", threads)],
    );
    assert_ok(&output);
    summary(&run)["metrics"].clone()
}

/// One recipe of every network kind: the convolution and pooling kernels, the fused LSTM, the
/// dense layers and the fused Adam step, and the GAN's two networks.
#[test]
fn one_two_and_five_threads_give_identical_metrics() {
    let recipes = [
        ("cnn-mnist-mini", "2"),
        ("lstm-seqmnist-mini", "2"),
        ("mlp-mnist-mini", "3"),
        ("gan-mnist-mini", "2"),
        ("lstm-sine-mini", "2"),
    ];
    for (recipe, epochs) in recipes {
        let dir = tempfile::tempdir().unwrap();
        let one = metrics_at(dir.path(), recipe, epochs, "1");
        assert!(
            one.as_object().is_some_and(|m| !m.is_empty()),
            "{recipe}: no metrics in {one}"
        );
        for threads in ["2", "5"] {
            assert_eq!(
                metrics_at(dir.path(), recipe, epochs, threads),
                one,
                "{recipe}: {threads} threads against 1"
            );
        }
    }
}
