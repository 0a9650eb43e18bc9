use thiserror::Error;

/// A configuration value that `init` cannot build: which field, and why.
///
/// Returned by every `validate()` of this crate; `init` panics with the same message. The
/// message reads `field: reason`, the field named as in the configuration, with the path
/// through nested configurations and list indices (`lstm.hidden_size`, `hidden[1]`).
///
/// ```
/// use zoo_cnn::ConfigError;
///
/// let error = ConfigError::new("hidden[1]", "widths must be >= 1");
/// assert_eq!(error.field(), "hidden[1]");
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
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The offending field, e.g. `hidden[1]` or `lstm.dropout`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it, without the field name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error seen from a configuration that holds this one in its field `parent`:
    /// the field becomes `parent.field`.
    pub fn within(self, parent: &str) -> Self {
        Self {
            field: format!("{parent}.{}", self.field),
            ..self
        }
    }
}

/// Checks that a size or count is at least 1.
pub(crate) fn positive(field: &str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be >= 1"));
    }
    Ok(())
}

/// Checks that `value` is a dropout probability: in `[0, 1)`.
pub(crate) fn probability(field: &str, value: f64) -> Result<(), ConfigError> {
    if !(0.0..1.0).contains(&value) {
        return Err(ConfigError::new(
            field,
            format!("must be in [0, 1), got {value}"),
        ));
    }
    Ok(())
}

/// Checks that every width of a list is at least 1; the error names the first that is not.
pub(crate) fn widths(field: &str, values: &[usize]) -> Result<(), ConfigError> {
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
        for bad in [1.0, -0.1, f64::NAN] {
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
}
