//! How a Burn parameter path becomes a PyTorch `state_dict` key.
//!
//! burn-store's [`BurnToPyTorchAdapter`](burn::store::BurnToPyTorchAdapter) does the per-tensor
//! part (a `Linear` weight transposed to `[out, in]`, a batch norm's `gamma`/`beta` renamed
//! `weight`/`bias`), and collecting with `skip_enum_variants` drops the enum variant names
//! (`layers.0.Forward.` becomes `layers.0.`). What is left is the one place where the two
//! frameworks disagree about *which tensors exist*: PyTorch's `nn.LSTM` fuses the four gates of a
//! layer into `weight_ih_l{k}` / `weight_hh_l{k}` / `bias_ih_l{k}` / `bias_hh_l{k}` (rows in the
//! gate order i, f, g, o), while Burn keeps one `Linear` per gate and input. [`lstm_slot`] maps a
//! gate's tensor to its fused key and row block, by name: the Burn struct declares its gates in
//! the order input, forget, *output*, *cell*, so position would be wrong.
//!
//! ```
//! use zoo_interop::names::{lstm_slot, LstmSlot};
//!
//! let slot = lstm_slot("lstm.layers.0.cell_gate.input_transform.weight").unwrap();
//! assert_eq!(slot, LstmSlot { key: "lstm.weight_ih_l0".into(), gate: 2 });
//! assert_eq!(lstm_slot("head.output.weight"), None);
//! ```

/// The PyTorch gate order of `nn.LSTM`'s fused tensors (`i, f, g, o`), by Burn field name.
pub const GATES: [&str; 4] = ["input_gate", "forget_gate", "cell_gate", "output_gate"];

/// Where one Burn LSTM gate tensor lives in a PyTorch state_dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LstmSlot {
    /// The fused PyTorch key, e.g. `lstm.weight_ih_l0` or `lstm.bias_hh_l1_reverse`.
    pub key: String,
    /// The block of rows it fills: 0 (input), 1 (forget), 2 (cell, PyTorch's `g`), 3 (output).
    pub gate: usize,
}

/// The fused `nn.LSTM` key and gate block of a Burn LSTM gate tensor named as burn-store collects
/// it without enum variants (`<owner>.layers.<k>.<gate>.<input|hidden>_transform.<weight|bias>`,
/// or with `.forward` / `.reverse` after `<k>` for a `BiLstm`), or `None` for any other tensor.
pub fn lstm_slot(path: &str) -> Option<LstmSlot> {
    let parts: Vec<&str> = path.split('.').collect();
    let n = parts.len();
    if n < 6 {
        return None;
    }
    let (param, transform, gate) = (parts[n - 1], parts[n - 2], parts[n - 3]);
    let gate = GATES.iter().position(|g| *g == gate)?;
    let kind = match (param, transform) {
        ("weight", "input_transform") => "weight_ih",
        ("weight", "hidden_transform") => "weight_hh",
        ("bias", "input_transform") => "bias_ih",
        ("bias", "hidden_transform") => "bias_hh",
        _ => return None,
    };
    // `<owner>.layers.<k>` or `<owner>.layers.<k>.<forward|reverse>` before the gate.
    let (layer_at, suffix) = match parts[n - 4] {
        "forward" => (n - 5, ""),
        "reverse" => (n - 5, "_reverse"),
        _ => (n - 4, ""),
    };
    let layer: usize = parts[layer_at].parse().ok()?;
    if layer_at < 1 || parts[layer_at - 1] != "layers" {
        return None;
    }
    let owner = parts[..layer_at - 1].join(".");
    let key = if owner.is_empty() {
        format!("{kind}_l{layer}{suffix}")
    } else {
        format!("{owner}.{kind}_l{layer}{suffix}")
    };
    Some(LstmSlot { key, gate })
}

/// Whether a PyTorch key is a batch norm's `num_batches_tracked` counter, which Burn does not
/// keep (PyTorch's `load_state_dict` accepts it missing); `running_var_keys` says which batch
/// norms the model has.
pub fn is_batch_counter(key: &str, has_running_var: impl Fn(&str) -> bool) -> bool {
    key.strip_suffix(".num_batches_tracked")
        .is_some_and(|owner| has_running_var(&format!("{owner}.running_var")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lstm_gates_map_to_fused_keys_in_pytorch_order() {
        let slot = |p: &str| lstm_slot(p).map(|s| (s.key, s.gate));
        assert_eq!(
            slot("lstm.layers.0.input_gate.input_transform.weight"),
            Some(("lstm.weight_ih_l0".into(), 0))
        );
        assert_eq!(
            slot("lstm.layers.3.output_gate.hidden_transform.bias"),
            Some(("lstm.bias_hh_l3".into(), 3))
        );
        assert_eq!(
            slot("rnn.layers.1.reverse.forget_gate.hidden_transform.weight"),
            Some(("rnn.weight_hh_l1_reverse".into(), 1))
        );
        assert_eq!(
            slot("a.b.layers.2.forward.cell_gate.input_transform.bias"),
            Some(("a.b.bias_ih_l2".into(), 2))
        );
    }

    #[test]
    fn other_tensors_are_not_lstm_gates() {
        for path in [
            "output.weight",
            "hidden.0.linear.weight",
            "lstm.layers.x.input_gate.input_transform.weight",
            "lstm.blocks.0.input_gate.input_transform.weight",
            "lstm.layers.0.input_gate.other.weight",
        ] {
            assert_eq!(lstm_slot(path), None, "{path}");
        }
    }

    #[test]
    fn batch_counters_are_recognized_only_beside_a_batch_norm() {
        let has = |k: &str| k == "hidden.0.norm.running_var";
        assert!(is_batch_counter("hidden.0.norm.num_batches_tracked", has));
        assert!(!is_batch_counter("hidden.1.norm.num_batches_tracked", has));
        assert!(!is_batch_counter("hidden.0.norm.running_var", has));
    }
}
