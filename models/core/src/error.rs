use thiserror::Error;

/// A configuration value that `init` cannot build: which field, and why.
///
/// Returned by every `validate()` of the zoo's model crates; their `init` panics with the same
/// message. The message reads `field: reason`, the field named as in the configuration, with
/// the path through nested configurations and list indices (`lstm.hidden_size`, `hidden[1]`).
///
/// ```
/// use zoo_model_core::ConfigError;
///
/// let error = ConfigError::new("hidden[1]", "widths must be >= 1");
/// assert_eq!(error.field(), "hidden[1]");
/// assert_eq!(error.message(), "widths must be >= 1");
/// assert_eq!(error.to_string(), "hidden[1]: widths must be >= 1");
/// assert_eq!(error.within("head").field(), "head.hidden[1]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    field: String,
    message: String,
}

impl ConfigError {
    /// An error about `field` (its name in the configuration), saying what is wrong.
    ///
    /// ```
    /// use zoo_model_core::ConfigError;
    ///
    /// let error = ConfigError::new("image", "height and width must divide by 4");
    /// assert_eq!(error.to_string(), "image: height and width must divide by 4");
    /// ```
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The offending field, e.g. `hidden[1]` or `lstm.dropout`.
    ///
    /// ```
    /// use zoo_model_core::ConfigError;
    ///
    /// assert_eq!(ConfigError::new("lstm.dropout", "must be in [0, 1)").field(), "lstm.dropout");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it, without the field name.
    ///
    /// ```
    /// use zoo_model_core::ConfigError;
    ///
    /// assert_eq!(ConfigError::new("stride", "must be >= 1").message(), "must be >= 1");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error seen from a configuration that holds this one in its field `parent`:
    /// the field becomes `parent.field`.
    ///
    /// ```
    /// use zoo_model_core::ConfigError;
    ///
    /// let inner = ConfigError::new("hidden_size", "must be >= 1");
    /// assert_eq!(inner.within("lstm").to_string(), "lstm.hidden_size: must be >= 1");
    /// ```
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            ..self
        }
    }
}

/// Checks that a size or count is at least 1; the error names `field`.
///
/// ```
/// use zoo_model_core::positive;
///
/// assert_eq!(positive("num_layers", 2), Ok(()));
/// assert_eq!(positive("num_layers", 0).unwrap_err().to_string(), "num_layers: must be >= 1");
/// ```
pub fn positive(field: &str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be >= 1"));
    }
    Ok(())
}

/// Checks that `value` is a dropout probability: in `[0, 1)` (NaN is refused); the error
/// names `field` and the value.
///
/// ```
/// use zoo_model_core::probability;
///
/// assert_eq!(probability("dropout", 0.5), Ok(()));
/// assert_eq!(
///     probability("dropout", 1.0).unwrap_err().to_string(),
///     "dropout: must be in [0, 1), got 1"
/// );
/// ```
pub fn probability(field: &str, value: f64) -> Result<(), ConfigError> {
    if !(0.0..1.0).contains(&value) {
        return Err(ConfigError::new(
            field,
            format!("must be in [0, 1), got {value}"),
        ));
    }
    Ok(())
}

/// Checks that every width of a list is at least 1; the error names the first that is not,
/// as `field[index]`. An empty list passes.
///
/// ```
/// use zoo_model_core::widths;
///
/// assert_eq!(widths("hidden", &[256, 128]), Ok(()));
/// assert_eq!(
///     widths("hidden", &[256, 0]).unwrap_err().to_string(),
///     "hidden[1]: widths must be >= 1"
/// );
/// ```
pub fn widths(field: &str, values: &[usize]) -> Result<(), ConfigError> {
    match values.iter().position(|&w| w == 0) {
        Some(i) => Err(ConfigError::new(
            format!("{field}[{i}]"),
            "widths must be >= 1",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_field() {
        assert_eq!(positive("a", 1), Ok(()));
        assert_eq!(positive("a", 0).unwrap_err().to_string(), "a: must be >= 1");
        assert_eq!(probability("p", 0.0), Ok(()));
        assert_eq!(probability("p", 0.99), Ok(()));
        for bad in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            let error = probability("p", bad).unwrap_err();
            assert_eq!(error.field(), "p");
            assert!(error.message().starts_with("must be in [0, 1)"), "{error}");
        }
        assert_eq!(widths("w", &[]), Ok(()));
        assert_eq!(
            widths("w", &[3, 0, 0]).unwrap_err().to_string(),
            "w[1]: widths must be >= 1"
        );
    }

    #[test]
    fn within_nests_the_field_path() {
        let error = widths("hidden", &[0])
            .unwrap_err()
            .within("head")
            .within("model");
        assert_eq!(error.field(), "model.head.hidden[0]");
        assert_eq!(error.message(), "widths must be >= 1");
        assert_eq!(
            error.to_string(),
            "model.head.hidden[0]: widths must be >= 1"
        );
    }
}
