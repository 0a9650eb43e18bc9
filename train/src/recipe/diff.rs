//! Which keys differ between two recipes, named as a user writes them (`model.hidden`,
//! `training.epochs`): what `--resume`, studies and run loads report when a recipe changed.

use std::fmt;

/// One key whose value differs between two recipes.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyDifference {
    /// The dotted key, e.g. `model.hidden` or `data.augment.translate`.
    pub key: String,
    /// Its value in the first recipe, as TOML (`absent` when it has none).
    pub before: String,
    /// Its value in the second recipe, as TOML (`absent` when it has none).
    pub after: String,
}

impl fmt::Display for KeyDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key '{}' ({} -> {})", self.key, self.before, self.after)
    }
}

/// The keys whose values differ between `before` and `after` (any serializable recipe tables),
/// in key order. Arrays are compared whole (`model.hidden = [128]` against `[64]` is one
/// difference).
///
/// ```
/// use zoo_train::recipe::{differing_keys, Recipe};
///
/// let a = Recipe::load("mlp-mnist-mini", &[])?;
/// let b = Recipe::load("mlp-mnist-mini", &["model.hidden=[64]".into(), "training.epochs=3".into()])?;
/// let keys: Vec<String> = differing_keys(&a, &b).into_iter().map(|d| d.key).collect();
/// assert_eq!(keys, ["model.hidden", "training.epochs"]);
/// # anyhow::Ok(())
/// ```
pub fn differing_keys<T: serde::Serialize>(before: &T, after: &T) -> Vec<KeyDifference> {
    let flat = |value: &T| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(value) = toml::Value::try_from(value) {
            flatten("", &value, &mut out);
        }
        out
    };
    let (a, b) = (flat(before), flat(after));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| KeyDifference {
            key: k.clone(),
            before: a.get(k).map_or("absent".to_string(), |v| v.to_string()),
            after: b.get(k).map_or("absent".to_string(), |v| v.to_string()),
        })
        .collect()
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut std::collections::BTreeMap<String, toml::Value>,
) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::Recipe;

    fn load(overrides: &[&str]) -> Recipe {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Recipe::load("cnn-mnist-mini", &overrides).unwrap()
    }

    #[test]
    fn equal_recipes_have_no_difference() {
        assert!(differing_keys(&load(&[]), &load(&[])).is_empty());
    }

    #[test]
    fn nested_added_and_changed_keys_are_named() {
        let before = load(&[]);
        let after = load(&["optimizer.grad_clip=2.0", "optimizer.lr=0.01"]);
        let found = differing_keys(&before, &after);
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["optimizer.grad_clip", "optimizer.lr"]);
        assert_eq!(found[0].before, "absent");
        assert_eq!(found[0].after, "2.0");
        assert_eq!(
            found[1].to_string(),
            format!("key 'optimizer.lr' ({} -> 0.01)", before.optimizer.lr)
        );
    }
}
