//! Validation failures of a decoded config, each naming the field path and the rule.

use std::fmt;

/// One rule a config value broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field (`size_gb`, `network.cidr`, `rules[2].port`).
    pub path: String,
    /// What the rule wants and what it got (`must be at most 10000, got 20000`).
    pub message: String,
}

impl ConfigError {
    /// A failure at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All the rules a config broke, in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records a failure.
    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// `Ok(())` when empty, else `Err(self)`.
    ///
    /// # Errors
    ///
    /// `self`, when it holds any failure.
    pub fn into_result(self) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}
