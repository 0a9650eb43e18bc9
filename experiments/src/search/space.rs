//! Search spaces: the `[search]` table of a recipe, parsed into one distribution per dotted
//! recipe key, enumerated as a grid or sampled at random.
//!
//! ```toml
//! [search]
//! "optimizer.lr" = { log_uniform = [1e-4, 1e-1] }
//! "training.batch_size" = { choice = [32, 64, 128] }
//! "model.dropout" = { uniform = [0.0, 0.6] }
//! "model.hidden" = { choice = [[128], [256, 128]] }
//! "training.epochs" = { int = [2, 10], step = 2 }   # 2, 4, 6, 8, 10
//!
//! [search.regularization]                          # nested tables work too:
//! l2 = { log_uniform = [1e-6, 1e-3] }              # key "regularization.l2"
//! ```

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use rand::Rng;

/// One point of a search space: dotted recipe key -> the value to set there.
pub type Assignment = BTreeMap<String, toml::Value>;

/// The most points [`SearchSpace::grid`] builds; a larger grid is an error.
pub const MAX_GRID_POINTS: usize = 1_000_000;

/// The distribution forms a `[search]` entry can use, as written in TOML.
pub const FORMS: &[&str] = &["log_uniform", "uniform", "int", "choice"];

/// The distribution of one searched key.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// `{ log_uniform = [low, high] }`: a float whose logarithm is uniform; `0 < low < high`.
    LogUniform {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
    },
    /// `{ uniform = [low, high] }`: a float uniform in `[low, high]`; `low < high`.
    Uniform {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
    },
    /// `{ int = [low, high], step = s }`: the integers `low, low + s, ...` up to `high`
    /// (inclusive when `high - low` is a multiple of `s`); `step` defaults to 1.
    Int {
        /// First value.
        low: i64,
        /// Upper bound (the last value is the largest `low + k * step <= high`).
        high: i64,
        /// Distance between values, > 0.
        step: i64,
    },
    /// `{ choice = [a, b, ...] }`: one of the listed TOML values (numbers, strings, arrays...).
    Choice(Vec<toml::Value>),
}

impl Param {
    /// The TOML name of this distribution form (`log_uniform`, `uniform`, `int`, `choice`).
    pub fn form(&self) -> &'static str {
        match self {
            Param::LogUniform { .. } => "log_uniform",
            Param::Uniform { .. } => "uniform",
            Param::Int { .. } => "int",
            Param::Choice(_) => "choice",
        }
    }

    /// How many distinct values the parameter takes: `Some` for `choice` and `int`
    /// (saturating at `usize::MAX`), `None` for the continuous forms.
    pub fn n_values(&self) -> Option<usize> {
        match self {
            Param::Choice(values) => Some(values.len()),
            Param::Int { low, high, step } => {
                let count = (*high as i128 - *low as i128) / *step as i128 + 1;
                Some(usize::try_from(count).unwrap_or(usize::MAX))
            }
            Param::LogUniform { .. } | Param::Uniform { .. } => None,
        }
    }

    /// The `index`-th value of a `choice` or `int` parameter (`low + index * step` for
    /// `int`); `None` for continuous forms or an index past the end.
    pub fn value_at(&self, index: usize) -> Option<toml::Value> {
        match self {
            Param::Choice(values) => values.get(index).cloned(),
            Param::Int { low, step, .. } => {
                if index >= self.n_values()? {
                    return None;
                }
                let value = *low as i128 + index as i128 * *step as i128;
                Some(toml::Value::Integer(value as i64))
            }
            Param::LogUniform { .. } | Param::Uniform { .. } => None,
        }
    }

    /// One uniform draw: log-uniform for `log_uniform`, uniform over the step points for
    /// `int`, uniform over the values for `choice`.
    pub fn sample(&self, rng: &mut impl Rng) -> toml::Value {
        match self {
            Param::LogUniform { low, high } => {
                let x = rng.random_range(low.ln()..high.ln()).exp();
                toml::Value::Float(x.clamp(*low, *high))
            }
            Param::Uniform { low, high } => toml::Value::Float(rng.random_range(*low..*high)),
            Param::Int { .. } | Param::Choice(_) => {
                let count = self.n_values().expect("discrete parameter");
                let index = rng.random_range(0..count);
                self.value_at(index).expect("index in range")
            }
        }
    }
}

/// A parsed `[search]` table: one [`Param`] per dotted recipe key, sorted by key.
///
/// ```
/// use zoo_experiments::search::space::{to_overrides, SearchSpace};
///
/// let table: toml::Table = toml::from_str(r#"
///     "optimizer.lr" = { log_uniform = [1e-4, 1e-1] }
///     "training.batch_size" = { choice = [32, 64] }
/// "#).unwrap();
/// let space = SearchSpace::parse(&table).unwrap();
/// assert_eq!(space.grid_size(), None); // lr is continuous
/// let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
/// let point = space.sample(&mut rng);
/// let overrides = to_overrides(&point); // ["optimizer.lr=0.00...", "training.batch_size=.."]
/// assert!(overrides[0].starts_with("optimizer.lr=0."));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpace {
    /// `(dotted key, distribution)`, sorted by key.
    pub params: Vec<(String, Param)>,
}

impl SearchSpace {
    /// Parses a recipe's `[search]` table. Keys are dotted recipe keys, quoted
    /// (`"optimizer.lr" = {..}`) or as nested tables (`[search.optimizer] lr = {..}`): a
    /// table whose values are all tables is a level of nesting, any other table is a
    /// distribution (`log_uniform`, `uniform`, `int` with an optional `step`, `choice`).
    ///
    /// Every error is one line and names the key: not a table, unknown or several
    /// distribution forms, extra keys, bounds that are not two numbers (two integers for
    /// `int`), `low >= high`, `log_uniform` with `low <= 0`, `step <= 0`, an empty or
    /// duplicated `choice`, a key given twice. An `int` range whose width is not a multiple of
    /// `step` is fine: its last point is the largest one `<= high`.
    pub fn parse(table: &toml::Table) -> Result<Self> {
        let mut params = Vec::new();
        collect(table, "", &mut params)?;
        params.sort_by(|a, b| a.0.cmp(&b.0));
        for pair in params.windows(2) {
            if pair[0].0 == pair[1].0 {
                bail!("search key '{}': given twice", pair[0].0);
            }
        }
        Ok(SearchSpace { params })
    }

    /// Every combination of the parameters' values, first key varying slowest (the order of
    /// nested loops over the keys in sorted order). Needs every parameter to be `choice` or
    /// `int`: a continuous one is an error naming its key, as is a grid of more than
    /// [`MAX_GRID_POINTS`] points. An empty space gives one empty assignment.
    pub fn grid(&self) -> Result<Vec<Assignment>> {
        for (key, param) in &self.params {
            if param.n_values().is_none() {
                bail!(
                    "search key '{key}': grid search needs choice or int, got {}",
                    param.form()
                );
            }
        }
        let size = self.grid_size().expect("every parameter is discrete");
        if size > MAX_GRID_POINTS {
            bail!("search grid has {size} points, more than the {MAX_GRID_POINTS} allowed");
        }
        let mut grid = Vec::with_capacity(size);
        for mut flat in 0..size {
            // Mixed-radix digits of `flat`, last key fastest.
            let mut point = Assignment::new();
            for (key, param) in self.params.iter().rev() {
                let count = param.n_values().expect("discrete");
                let value = param.value_at(flat % count).expect("index in range");
                point.insert(key.clone(), value);
                flat /= count;
            }
            grid.push(point);
        }
        Ok(grid)
    }

    /// The number of grid points, without building them: `None` if a parameter is continuous
    /// (`uniform`, `log_uniform`); saturates at `usize::MAX`.
    pub fn grid_size(&self) -> Option<usize> {
        self.params.iter().try_fold(1usize, |size, (_, param)| {
            Some(size.saturating_mul(param.n_values()?))
        })
    }

    /// One uniform draw of every parameter (see [`Param::sample`]), keys in sorted order.
    pub fn sample(&self, rng: &mut impl Rng) -> Assignment {
        self.params
            .iter()
            .map(|(key, param)| (key.clone(), param.sample(rng)))
            .collect()
    }

    /// The parameter of a key, if the space has it.
    pub fn get(&self, key: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, param)| param)
    }
}

/// The `key=value` override strings of an assignment, for [`zoo_train::Recipe::load`]: values are
/// written as TOML (`model.hidden=[256, 128]`, `data.dataset="mnist"`), floats always with a
/// decimal point or an exponent so they read back as floats, integers as integers.
pub fn to_overrides(assignment: &Assignment) -> Vec<String> {
    assignment
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// Walks a (nested) `[search]` table, pushing `(dotted key, param)`.
fn collect(table: &toml::Table, prefix: &str, out: &mut Vec<(String, Param)>) -> Result<()> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let toml::Value::Table(inner) = value else {
            bail!(
                "search key '{key}': expected a distribution table such as \
                 {{ choice = [..] }} or {{ uniform = [low, high] }}, got {}",
                describe(value)
            );
        };
        if inner.is_empty() {
            bail!(
                "search key '{key}': empty table (expected one of {})",
                FORMS.join(", ")
            );
        }
        if inner.values().all(toml::Value::is_table) {
            collect(inner, &key, out)?;
        } else {
            out.push((key.clone(), parse_param(&key, inner)?));
        }
    }
    Ok(())
}

/// Parses one distribution table such as `{ int = [2, 10], step = 2 }`.
fn parse_param(key: &str, table: &toml::Table) -> Result<Param> {
    let forms: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|name| FORMS.contains(name))
        .collect();
    let form = match forms.as_slice() {
        [form] => *form,
        [] => {
            let names: Vec<&str> = table.keys().map(String::as_str).collect();
            bail!(
                "search key '{key}': unknown distribution form '{}' (expected one of {})",
                names.join(", "),
                FORMS.join(", ")
            );
        }
        several => bail!(
            "search key '{key}': more than one distribution form ({})",
            several.join(", ")
        ),
    };
    let allowed: &[&str] = if form == "int" {
        &["int", "step"]
    } else {
        &[form]
    };
    if let Some(extra) = table.keys().find(|name| !allowed.contains(&name.as_str())) {
        bail!(
            "search key '{key}': unexpected '{extra}' in a {form} table (allowed: {})",
            allowed.join(", ")
        );
    }
    let body = &table[form];
    match form {
        "log_uniform" | "uniform" => {
            let (low, high) = float_bounds(key, form, body)?;
            if low >= high {
                bail!("search key '{key}': {form} needs low < high, got [{low}, {high}]");
            }
            if form == "log_uniform" {
                if low <= 0.0 {
                    bail!("search key '{key}': log_uniform needs low > 0, got {low}");
                }
                Ok(Param::LogUniform { low, high })
            } else {
                Ok(Param::Uniform { low, high })
            }
        }
        "int" => {
            let (low, high) = int_bounds(key, body)?;
            if low >= high {
                bail!("search key '{key}': int needs low < high, got [{low}, {high}]");
            }
            let step = match table.get("step") {
                None => 1,
                Some(toml::Value::Integer(step)) => *step,
                Some(other) => bail!(
                    "search key '{key}': step must be an integer, got {}",
                    describe(other)
                ),
            };
            if step <= 0 {
                bail!("search key '{key}': step must be > 0, got {step}");
            }
            Ok(Param::Int { low, high, step })
        }
        "choice" => {
            let toml::Value::Array(values) = body else {
                bail!(
                    "search key '{key}': choice needs an array of values, got {}",
                    describe(body)
                );
            };
            if values.is_empty() {
                bail!("search key '{key}': choice needs at least one value");
            }
            for (i, value) in values.iter().enumerate() {
                if values[..i].contains(value) {
                    bail!(
                        "search key '{key}': choice lists {} twice",
                        one_line(&value.to_string())
                    );
                }
            }
            Ok(Param::Choice(values.clone()))
        }
        _ => unreachable!("form is one of FORMS"),
    }
}

/// `[low, high]` as two finite numbers (integers are accepted).
fn float_bounds(key: &str, form: &str, body: &toml::Value) -> Result<(f64, f64)> {
    let as_number = |value: &toml::Value| match value {
        toml::Value::Float(x) if x.is_finite() => Some(*x),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    };
    if let toml::Value::Array(items) = body {
        if let [low, high] = items.as_slice() {
            if let (Some(low), Some(high)) = (as_number(low), as_number(high)) {
                return Ok((low, high));
            }
        }
    }
    bail!(
        "search key '{key}': {form} needs [low, high], two finite numbers, got {}",
        one_line(&body.to_string())
    )
}

/// `[low, high]` as two integers.
fn int_bounds(key: &str, body: &toml::Value) -> Result<(i64, i64)> {
    if let toml::Value::Array(items) = body {
        if let [toml::Value::Integer(low), toml::Value::Integer(high)] = items.as_slice() {
            return Ok((*low, *high));
        }
    }
    bail!(
        "search key '{key}': int needs [low, high], two integers, got {}",
        one_line(&body.to_string())
    )
}

/// A short description of a TOML value for error messages.
fn describe(value: &toml::Value) -> String {
    format!("{} {}", value.type_str(), one_line(&value.to_string()))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn space(text: &str) -> Result<SearchSpace> {
        let table: toml::Table = toml::from_str(text).expect("valid TOML");
        SearchSpace::parse(&table)
    }

    fn error(text: &str) -> String {
        format!("{:#}", space(text).unwrap_err())
    }

    const EXAMPLE: &str = r#"
        "optimizer.lr" = { log_uniform = [1e-4, 1e-1] }
        "training.batch_size" = { choice = [32, 64, 128] }
        "model.dropout" = { uniform = [0.0, 0.6] }
        "model.hidden" = { choice = [[128], [256, 128]] }
        "training.epochs" = { int = [2, 10], step = 2 }
    "#;

    #[test]
    fn parses_every_form_sorted_by_key() {
        let space = space(EXAMPLE).unwrap();
        let keys: Vec<&str> = space.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "model.dropout",
                "model.hidden",
                "optimizer.lr",
                "training.batch_size",
                "training.epochs"
            ]
        );
        assert_eq!(
            space.get("optimizer.lr"),
            Some(&Param::LogUniform {
                low: 1e-4,
                high: 1e-1
            })
        );
        assert_eq!(
            space.get("model.dropout"),
            Some(&Param::Uniform {
                low: 0.0,
                high: 0.6
            })
        );
        assert_eq!(
            space.get("training.epochs"),
            Some(&Param::Int {
                low: 2,
                high: 10,
                step: 2
            })
        );
        let hidden = toml::Value::Array(vec![256.into(), 128.into()]);
        assert_eq!(
            space.get("model.hidden"),
            Some(&Param::Choice(vec![
                toml::Value::Array(vec![128.into()]),
                hidden
            ]))
        );
        assert_eq!(
            space.get("training.batch_size"),
            Some(&Param::Choice(vec![32.into(), 64.into(), 128.into()]))
        );
        // Integer bounds are fine for the float forms, step defaults to 1.
        let space = super::tests::space(
            r#"
            a = { uniform = [0, 1] }
            b = { int = [1, 3] }
            "#,
        )
        .unwrap();
        assert_eq!(
            space.get("a"),
            Some(&Param::Uniform {
                low: 0.0,
                high: 1.0
            })
        );
        assert_eq!(
            space.get("b"),
            Some(&Param::Int {
                low: 1,
                high: 3,
                step: 1
            })
        );
    }

    #[test]
    fn nested_tables_give_dotted_keys() {
        let nested = space(
            r#"
            "training.epochs" = { int = [2, 10], step = 2 }
            [optimizer]
            lr = { log_uniform = [1e-4, 1e-1] }
            [model.head]
            dropout = { uniform = [0.0, 0.5] }
            "#,
        )
        .unwrap();
        let keys: Vec<&str> = nested.params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["model.head.dropout", "optimizer.lr", "training.epochs"]
        );
        // The same key written both ways is an error.
        let err = error(
            r#"
            "optimizer.lr" = { uniform = [0.1, 0.2] }
            [optimizer]
            lr = { uniform = [0.1, 0.2] }
            "#,
        );
        assert!(
            err.contains("'optimizer.lr'") && err.contains("twice"),
            "{err}"
        );
    }

    #[test]
    fn every_error_is_one_line_and_names_the_key() {
        for (text, key, words) in [
            ("k = { normal = [0, 1] }", "k", "unknown distribution form"),
            ("k = [1, 2]", "k", "distribution table"),
            ("k = 3", "k", "distribution table"),
            ("[a]\nk = {}", "a.k", "empty"),
            ("a.k = { uniform = [1, 1] }", "a.k", "low < high"),
            ("k = { uniform = [2.0, 1.0] }", "k", "low < high"),
            ("k = { log_uniform = [0.0, 1.0] }", "k", "low > 0"),
            ("k = { log_uniform = [-1.0, 1.0] }", "k", "low > 0"),
            ("k = { int = [5, 5] }", "k", "low < high"),
            ("k = { choice = [] }", "k", "at least one"),
            ("k = { choice = 3 }", "k", "array"),
            ("k = { choice = [1, 2, 1] }", "k", "twice"),
            ("k = { int = [0, 10], step = 0 }", "k", "step must be > 0"),
            ("k = { int = [0, 10], step = -2 }", "k", "step must be > 0"),
            (
                "k = { int = [0, 10], step = 1.5 }",
                "k",
                "step must be an integer",
            ),
            ("k = { int = [0.0, 10] }", "k", "two integers"),
            ("k = { uniform = [\"a\", 1] }", "k", "two finite numbers"),
            ("k = { uniform = [0.0] }", "k", "two finite numbers"),
            (
                "k = { uniform = [0.0, 1.0, 2.0] }",
                "k",
                "two finite numbers",
            ),
            ("k = { uniform = [0.0, inf] }", "k", "two finite numbers"),
            (
                "k = { uniform = [0.0, 1.0], step = 2 }",
                "k",
                "unexpected 'step'",
            ),
            ("k = { choice = [1], foo = 1 }", "k", "unexpected 'foo'"),
            (
                "k = { choice = [1], uniform = [0, 1] }",
                "k",
                "more than one",
            ),
        ] {
            let err = error(text);
            assert!(
                err.contains(&format!("'{key}'")) && err.contains(words) && !err.contains('\n'),
                "{text}: {err}"
            );
        }
        // A range that is not a multiple of the step is fine: the last point is <= high.
        let space = space("k = { int = [0, 10], step = 3 }").unwrap();
        let values: Vec<toml::Value> = space
            .grid()
            .unwrap()
            .into_iter()
            .map(|a| a["k"].clone())
            .collect();
        assert_eq!(values, [0.into(), 3.into(), 6.into(), 9.into()]);
    }

    #[test]
    fn grid_enumerates_first_key_slowest() {
        let space = space(
            r#"
            a = { choice = ["x", "y"] }
            b = { int = [1, 5], step = 2 }
            "#,
        )
        .unwrap();
        assert_eq!(space.grid_size(), Some(6));
        let grid = space.grid().unwrap();
        let pairs: Vec<(String, i64)> = grid
            .iter()
            .map(|p| {
                (
                    p["a"].as_str().unwrap().to_string(),
                    p["b"].as_integer().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(String, i64)> =
            [("x", 1), ("x", 3), ("x", 5), ("y", 1), ("y", 3), ("y", 5)]
                .iter()
                .map(|(a, b)| (a.to_string(), *b))
                .collect();
        assert_eq!(pairs, expected);
        assert!(grid.iter().all(|p| p.len() == 2));
        // An empty space is one empty point.
        let empty = SearchSpace { params: vec![] };
        assert_eq!(empty.grid_size(), Some(1));
        assert_eq!(empty.grid().unwrap(), vec![Assignment::new()]);
    }

    #[test]
    fn grid_rejects_continuous_params_by_name() {
        let space = space(EXAMPLE).unwrap();
        assert_eq!(space.grid_size(), None);
        let err = format!("{:#}", space.grid().unwrap_err());
        assert!(
            err.contains("'model.dropout'") && err.contains("grid search needs choice or int"),
            "{err}"
        );
        let huge = super::tests::space("a = { int = [0, 999999] }\nb = { int = [0, 9] }").unwrap();
        assert_eq!(huge.grid_size(), Some(10_000_000));
        assert!(huge.grid().is_err());
    }

    #[test]
    fn samples_stay_in_bounds_and_on_the_step_grid() {
        let space = space(EXAMPLE).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen_epochs = std::collections::BTreeSet::new();
        let mut seen_hidden = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let point = space.sample(&mut rng);
            assert_eq!(point.len(), 5);
            let lr = point["optimizer.lr"].as_float().unwrap();
            assert!((1e-4..=1e-1).contains(&lr), "{lr}");
            let dropout = point["model.dropout"].as_float().unwrap();
            assert!((0.0..=0.6).contains(&dropout), "{dropout}");
            let epochs = point["training.epochs"].as_integer().unwrap();
            assert!((2..=10).contains(&epochs) && epochs % 2 == 0, "{epochs}");
            seen_epochs.insert(epochs);
            let batch = point["training.batch_size"].as_integer().unwrap();
            assert!([32, 64, 128].contains(&batch));
            seen_hidden.insert(point["model.hidden"].to_string());
        }
        assert_eq!(
            seen_epochs.into_iter().collect::<Vec<_>>(),
            [2, 4, 6, 8, 10]
        );
        assert_eq!(seen_hidden.len(), 2);
    }

    #[test]
    fn log_uniform_spreads_over_decades() {
        let space = space("lr = { log_uniform = [1e-4, 1e-1] }").unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let mut per_decade = [0usize; 3];
        for _ in 0..3000 {
            let lr = space.sample(&mut rng)["lr"].as_float().unwrap();
            let decade = ((lr.log10() + 4.0).floor() as usize).min(2);
            per_decade[decade] += 1;
        }
        // 1000 expected per decade; binomial sd ~26, allow ~5 sd.
        for count in per_decade {
            assert!((870..=1130).contains(&count), "{per_decade:?}");
        }
    }

    #[test]
    fn sampling_is_deterministic_for_a_seed() {
        let space = space(EXAMPLE).unwrap();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..20).map(|_| space.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }

    #[test]
    fn overrides_are_toml_that_reads_back() {
        let mut point = Assignment::new();
        point.insert("model.dropout".into(), toml::Value::Float(0.0));
        point.insert("optimizer.lr".into(), toml::Value::Float(1e-4));
        point.insert("a.big".into(), toml::Value::Float(1e20));
        point.insert("a.whole".into(), toml::Value::Float(3.0));
        point.insert("training.epochs".into(), toml::Value::Integer(4));
        point.insert(
            "model.hidden".into(),
            toml::Value::Array(vec![256.into(), 128.into()]),
        );
        point.insert("data.dataset".into(), toml::Value::String("mnist".into()));
        let overrides = to_overrides(&point);
        assert_eq!(
            overrides,
            [
                "a.big=100000000000000000000.0",
                "a.whole=3.0",
                "data.dataset=\"mnist\"",
                "model.dropout=0.0",
                "model.hidden=[256, 128]",
                "optimizer.lr=0.0001",
                "training.epochs=4",
            ]
        );
        // Every override parses back, as TOML, to the value it came from.
        for (line, (key, value)) in overrides.iter().zip(&point) {
            let (k, raw) = line.split_once('=').unwrap();
            assert_eq!(k, key);
            let back: toml::Table = toml::from_str(&format!("v = {raw}")).unwrap();
            assert_eq!(&back["v"], value, "{line}");
        }
        // Sampled floats read back exactly, as floats.
        let space = space(EXAMPLE).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let point = space.sample(&mut rng);
            for (line, value) in to_overrides(&point).iter().zip(point.values()) {
                let raw = line.split_once('=').unwrap().1;
                let back: toml::Table = toml::from_str(&format!("v = {raw}")).unwrap();
                assert_eq!(&back["v"], value, "{line}");
            }
        }
    }
}
