//! Property tests: whatever a user or a crash leaves in a recipe, an override or a run folder,
//! the loaders answer with a value or an error, never a panic.
//!
//! 10,000 cases per property in `cargo test`; `PROPTEST_CASES=100000 cargo test --release -p
//! zoo-train --test loaders_never_panic` runs the longer search.

use std::sync::OnceLock;

use burn::tensor::Device;
use proptest::prelude::*;
use zoo_train::recipe::{Recipe, BUILTIN_RECIPES};
use zoo_train::run::epoch_row::EpochRow;
use zoo_train::run::folder::{load_module_file, module_bytes};
use zoo_train::run::supervised::SupervisedEpoch;
use zoo_train::tasks::forecast::parse_series;
use zoo_train::tasks::gan::epoch::GanEpoch;
use zoo_train::Summary;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A recipe's text with a slice replaced by other text: mostly-valid TOML that breaks in
/// every way a hand edit can.
fn edited_recipe() -> impl Strategy<Value = String> {
    (
        0..BUILTIN_RECIPES.len(),
        any::<usize>(),
        0usize..40,
        "[ -~\n]{0,40}",
    )
        .prop_map(|(which, at, len, insert)| {
            let text = BUILTIN_RECIPES[which].1;
            let mut start = at % (text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{insert}{}", &text[..start], &text[end..])
        })
}

/// `--set` strings: real and made-up dotted keys, any value text.
fn overrides() -> impl Strategy<Value = Vec<String>> {
    let key = prop_oneof![
        Just("training.epochs".to_string()),
        Just("model.hidden".to_string()),
        Just("model".to_string()),
        Just("data.dataset".to_string()),
        Just("optimizer.lr".to_string()),
        Just("data.augment.translate".to_string()),
        Just("gan.loss".to_string()),
        "[a-z_.\\[\\]0-9]{0,24}",
    ];
    let value = prop_oneof![
        Just("[]".to_string()),
        Just("[0]".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("{ }".to_string()),
        "[ -~]{0,20}",
    ];
    proptest::collection::vec(
        (key, any::<bool>(), value).prop_map(|(k, eq, v)| {
            if eq {
                format!("{k}={v}")
            } else {
                format!("{k}{v}")
            }
        }),
        0..4,
    )
}

/// The bytes of a real model record, to damage.
fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mlp = zoo_mlp::MlpConfig::new()
            .with_hidden(vec![4])
            .with_input_size(6)
            .with_output_size(3)
            .init(&Device::flex());
        module_bytes(&mlp).expect("a record").to_vec()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_recipe_text_and_overrides_load_or_fail_cleanly(
        text in prop_oneof![edited_recipe(), "[ -~\n]{0,200}"],
        sets in overrides(),
    ) {
        if let Err(e) = Recipe::parse("fuzz", &text, &sets) {
            let message = format!("{e:#}");
            prop_assert!(message.contains("fuzz"), "{}", message);
            prop_assert!(!message.contains('\n'), "one line: {}", message);
        }
    }

    #[test]
    fn a_damaged_model_record_is_an_error(
        cut in any::<usize>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        garbage in proptest::collection::vec(any::<u8>(), 0..64),
        replace in any::<bool>(),
    ) {
        let mut bytes = if replace { garbage } else { model_bytes().to_vec() };
        for (at, value) in flips {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = value;
            }
        }
        let keep = cut % (bytes.len() + 1);
        bytes.truncate(keep);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.bpk");
        std::fs::write(&path, &bytes).unwrap();
        let mlp = zoo_mlp::MlpConfig::new()
            .with_hidden(vec![4])
            .with_input_size(6)
            .with_output_size(3)
            .init(&Device::flex());
        // Loads (an undamaged file, or a flip inside a weight) or fails naming the file.
        if let Err(e) = load_module_file(&path, mlp) {
            let message = format!("{e:#}");
            prop_assert!(message.contains("model.bpk"), "{}", message);
        }
    }

    #[test]
    fn any_metrics_csv_parses_or_fails_cleanly(text in prop_oneof![
        "[ -~\n]{0,300}",
        "epoch,split,loss,accuracy,seconds\n([0-9]{1,2},(train|valid),[-0-9.eNa]{0,8},[-0-9.e]{0,8},[0-9.]{0,5}\n){0,6}",
        "epoch,d_loss,g_loss,seconds(,wasserstein)?\n([-0-9]{1,2},[-0-9.e]{0,8},[0-9.]{0,8},[0-9.]{0,5}(,[0-9.]{0,4})?\n){0,6}",
    ]) {
        let _ = SupervisedEpoch::parse_csv(&text);
        let _ = GanEpoch::parse_csv(&text);
    }

    #[test]
    fn any_summary_json_parses_or_fails_cleanly(text in prop_oneof![
        "[ -~\n]{0,200}",
        "\\{\"recipe\": \"[a-z]{0,5}\", \"epochs_run\": -?[0-9]{0,3}, \"metrics\": \\{[ -~]{0,40}\\}\\}",
    ]) {
        let _ = serde_json::from_str::<Summary>(&text);
    }

    #[test]
    fn any_series_text_parses_or_names_the_line(
        text in prop_oneof!["[ -~\n\t]{0,200}", "([-0-9.e,]{0,10}\n){0,20}"],
        window in 0usize..12,
    ) {
        match parse_series(&text, window) {
            Ok(values) => {
                prop_assert_eq!(values.len(), window);
                prop_assert!(values.iter().all(|v| v.is_finite()));
            }
            Err(e) => prop_assert!(e.contains("line") || e.contains("values")),
        }
    }
}
